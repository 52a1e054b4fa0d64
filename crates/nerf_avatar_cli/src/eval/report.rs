//! The outputs of `eval`: the summary printed at the end, `metrics.json` and `report.md`.

use nerf_avatar::Avatar;
use nerf_avatar_data::Dataset;
use nerf_avatar_eval::metrics::image::PSNR_CAP_DB;
use nerf_avatar_eval::report::{MeanStd, MetricRow, Report};
use serde_json::{Value, json};

use super::scores::{
    FrameResult, LPIPS_KEYS, METRIC_KEYS, RegionScores, RegionSummary, Summary, scores_array,
};
use super::{
    CURVE_FILE, EvalArgs, ExpressionMap, GRID_FILE, GRID_ROWS, HEAD_MASK_THRESHOLD, SplitChoice,
};

/// How head LPIPS is computed, for the report notes.
const HEAD_LPIPS_METHOD: &str = "head LPIPS compares both images with the pixels outside \
                                 the head mask replaced by the dataset's background";

/// What the LPIPS values are, for `metrics.json` and the report notes.
fn lpips_status(args: &EvalArgs) -> String {
    if args.no_lpips {
        "skipped (--no-lpips)".to_owned()
    } else {
        format!("v0.1 with the AlexNet and VGG16 backbones; {HEAD_LPIPS_METHOD}")
    }
}

/// `{key: value}` for the four metrics and the LPIPS keys (null when `lpips` is `None`).
fn metrics_object(image: [Value; 4], lpips: Option<[Value; 2]>) -> serde_json::Map<String, Value> {
    let mut object = serde_json::Map::new();
    for (key, value) in METRIC_KEYS.into_iter().zip(image) {
        object.insert(key.to_owned(), value);
    }
    let lpips = lpips.unwrap_or([Value::Null, Value::Null]);
    for (key, value) in LPIPS_KEYS.into_iter().zip(lpips) {
        object.insert(key.to_owned(), value);
    }
    object
}

pub(super) fn metrics_json(
    args: &EvalArgs,
    summary: &Summary,
    results: &[FrameResult],
    map: &ExpressionMap,
) -> Value {
    let mean_std = |s: MeanStd| json!({"mean": s.mean, "std": s.std});
    let stats =
        |s: &RegionSummary| metrics_object(s.image.map(mean_std), s.lpips.map(|l| l.map(mean_std)));
    let values = |r: &RegionScores| {
        metrics_object(
            scores_array(&r.image).map(|v| json!(v)),
            r.lpips.map(|l| l.map(|v| json!(v))),
        )
    };
    let mut document = stats(&summary.full);
    document.insert("head".to_owned(), Value::Object(stats(&summary.head)));
    let frames: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut frame = values(&r.full);
            frame.insert("head".to_owned(), Value::Object(values(&r.head)));
            frame.insert("frame".to_owned(), json!(r.index));
            frame.insert("source_frame".to_owned(), json!(r.source_frame));
            Value::Object(frame)
        })
        .collect();
    document.insert("frames".to_owned(), Value::Array(frames));
    document.insert(
        "evaluation".to_owned(),
        json!({
            "avatar": args.avatar.display().to_string(),
            "dataset": args.dataset.display().to_string(),
            "split": args.split.name(),
            "frame_count": results.len(),
            "background": "the dataset's background image",
            "head_mask_threshold": HEAD_MASK_THRESHOLD,
            "psnr_cap_db": PSNR_CAP_DB,
            "lpips": lpips_status(args),
            "blendshapes_missing_in_dataset": map.missing,
            "dataset_blendshapes_ignored": map.extra,
        }),
    );
    Value::Object(document)
}

/// Rows of the metrics table: name, index in [`METRIC_KEYS`], scale, decimals.
const TABLE_ROWS: [(&str, usize, f64, usize); 4] = [
    ("PSNR (dB) ↑", 0, 1.0, 2),
    ("MSE ×1e-3 ↓", 1, 1e3, 3),
    ("L1 ×1e-2 ↓", 2, 1e2, 3),
    ("SSIM ↑", 3, 1.0, 4),
];

fn table(summary: &Summary) -> Vec<MetricRow> {
    let scaled = |v: MeanStd, scale: f64| MeanStd {
        mean: v.mean * scale,
        std: v.std * scale,
    };
    let mut rows: Vec<MetricRow> = TABLE_ROWS
        .iter()
        .map(|&(name, k, scale, decimals)| MetricRow {
            name: name.to_owned(),
            full: Some(scaled(summary.full.image[k], scale)),
            head: Some(scaled(summary.head.image[k], scale)),
            decimals,
        })
        .collect();
    for (k, name) in ["LPIPS (AlexNet) ↓", "LPIPS (VGG) ↓"]
        .into_iter()
        .enumerate()
    {
        rows.push(MetricRow {
            name: name.to_owned(),
            full: summary.full.lpips.map(|l| l[k]),
            head: summary.head.lpips.map(|l| l[k]),
            decimals: 4,
        });
    }
    rows
}

pub(super) fn print_summary(summary: &Summary, frames: usize, split: SplitChoice) {
    println!("{frames} {} frames: mean (std)", split.name());
    println!("{:<20} {:>22} {:>22}", "metric", "full frame", "head");
    for row in table(summary) {
        let cell = |v: Option<MeanStd>| match v {
            Some(v) => format!("{:.*} ({:.*})", row.decimals, v.mean, row.decimals, v.std),
            None => "-".to_owned(),
        };
        println!(
            "{:<20} {:>22} {:>22}",
            row.name,
            cell(row.full),
            cell(row.head)
        );
    }
}

pub(super) fn markdown_report(
    args: &EvalArgs,
    avatar: &Avatar,
    dataset: &Dataset,
    summary: &Summary,
    map: &ExpressionMap,
    frames: usize,
    has_curve: bool,
) -> Report {
    let t = &dataset.transforms;
    let training = avatar.training.as_ref();
    let mut facts = vec![
        ("avatar".to_owned(), format!("`{}`", args.avatar.display())),
        (
            "model".to_owned(),
            format!(
                "{} blendshapes, {} parameters",
                avatar.config.blendshape_count(),
                avatar.parameter_count()
            ),
        ),
        (
            "training".to_owned(),
            match training {
                Some(t) => format!(
                    "{} steps, {} s",
                    t.steps.map_or("?".to_owned(), |s| s.to_string()),
                    t.seconds.map_or("?".to_owned(), |s| format!("{s:.0}"))
                ),
                None => "none recorded".to_owned(),
            },
        ),
        (
            "dataset".to_owned(),
            format!("`{}`", args.dataset.display()),
        ),
        (
            "frames".to_owned(),
            format!(
                "{frames} of the `{}` split ({} frames in all, {}×{} pixels)",
                args.split.name(),
                t.frames.len(),
                t.width,
                t.height
            ),
        ),
        (
            "background".to_owned(),
            "the dataset's background image".to_owned(),
        ),
    ];
    if !map.missing.is_empty() {
        facts.push((
            "blendshapes missing in the dataset (kept at 0)".to_owned(),
            map.missing.join(", "),
        ));
    }
    if !map.extra.is_empty() {
        facts.push((
            "dataset coefficients ignored".to_owned(),
            map.extra.join(", "),
        ));
    }
    let mut images = vec![(
        format!(
            "Ground truth | render | error (first {} frames)",
            GRID_ROWS.min(frames)
        ),
        GRID_FILE.to_owned(),
    )];
    if has_curve {
        images.push(("Training curve".to_owned(), CURVE_FILE.to_owned()));
    }
    Report {
        title: "Avatar evaluation".to_owned(),
        facts,
        metrics: table(summary),
        images,
        notes: vec![
            format!(
                "Head metrics use the pixels whose mask value is at least {HEAD_MASK_THRESHOLD}; \
                 head SSIM is the mean of the SSIM map over those pixels."
            ),
            format!("PSNR is capped at {PSNR_CAP_DB} dB for identical images."),
            "SSIM: 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03, averaged over RGB \
             (scikit-image with gaussian_weights, use_sample_covariance=False)."
                .to_owned(),
            format!("LPIPS: {}.", lpips_status(args)),
            format!(
                "The error heat map shows the mean absolute error per pixel, saturating at {}.",
                nerf_avatar_eval::report::grid::HEAT_MAP_MAX_ERROR
            ),
        ],
    }
}
