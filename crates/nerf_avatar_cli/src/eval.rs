//! `nerf-avatar eval`: renders the frames of a dataset split with an avatar and compares
//! them with the ground truth.
//!
//! Every frame is rendered with the dataset's camera and pose, the frame's expression
//! (mapped to the avatar's blendshapes by name, then clamped to the avatar's training
//! range) and the dataset's background image behind the head. PSNR, MSE, L1 and SSIM
//! (`nerf_avatar_eval::metrics::image`) are computed on the full frame and inside the frame's
//! head mask (mask value ≥ 128). LPIPS v0.1 with the AlexNet and VGG16 backbones
//! (`nerf_avatar_eval::metrics::lpips`) is computed on the full frame and, for the head, on both
//! images with the pixels outside the head mask replaced by the dataset's background (a
//! perceptual network needs whole images, not a set of pixels); `--no-lpips` skips it and
//! leaves its keys `null`. With `--report DIR` the command writes `metrics.json`,
//! `comparison.png`, `training_curve.png` (when the avatar records a curve) and
//! `report.md`.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::Avatar;
use nerf_avatar::blendshapes::{BlendshapeMap, names_at};
use nerf_avatar::render::Background;
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar_data::{Dataset, DatasetFrame, Split};
use nerf_avatar_eval::metrics::image::{ImageRef, ImageScores, PSNR_CAP_DB};
use nerf_avatar_eval::metrics::lpips::{Backbone, Lpips};

use crate::backend::{Backend, choose_renderer, open_renderer};
use nerf_avatar_eval::report::{ComparisonGrid, MeanStd, MetricRow, Report, write_training_curve};
use serde_json::{Value, json};

/// Frames shown in the comparison grid (the first ones evaluated).
const GRID_ROWS: usize = 8;
/// Mask values at or above this count as head.
const HEAD_MASK_THRESHOLD: u8 = 128;
/// File names inside the report folder.
const METRICS_FILE: &str = "metrics.json";
const GRID_FILE: &str = "comparison.png";
const CURVE_FILE: &str = "training_curve.png";
const REPORT_FILE: &str = "report.md";

/// Which frames of the dataset to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    /// The held-out frames.
    Test,
    /// The training frames.
    Train,
    /// Every frame.
    All,
}

impl SplitChoice {
    fn includes(self, split: Split) -> bool {
        match self {
            SplitChoice::Test => split == Split::Test,
            SplitChoice::Train => split == Split::Train,
            SplitChoice::All => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            SplitChoice::Test => "test",
            SplitChoice::Train => "train",
            SplitChoice::All => "all",
        }
    }
}

/// Arguments of `nerf-avatar eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// The dataset folder.
    dataset: PathBuf,
    /// Which frames to evaluate.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    split: SplitChoice,
    /// Folder for metrics.json, comparison.png, training_curve.png and report.md (created
    /// if missing).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Evaluate at most N frames of the split, evenly spaced.
    #[arg(long, value_name = "N")]
    frames: Option<usize>,
    /// Skip LPIPS (its values are then null). LPIPS (AlexNet and VGG16) needs the VGG
    /// weights that `scripts/setup.sh` fetches; head LPIPS compares both images with the
    /// pixels outside the head mask replaced by the dataset's background.
    #[arg(long)]
    no_lpips: bool,
    /// Compute backend of the rendering.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

/// How the dataset's coefficients feed the avatar's blendshapes, and the names either side
/// lacks (for the warnings and the report).
#[derive(Debug, PartialEq)]
struct ExpressionMap {
    /// The dataset's names matched with the avatar's.
    names: BlendshapeMap,
    /// Avatar blendshapes the dataset lacks (kept at 0, the neutral face).
    missing: Vec<String>,
    /// Dataset coefficients the avatar lacks (ignored).
    extra: Vec<String>,
}

impl ExpressionMap {
    /// Matches the names; fails when the avatar has blendshapes and none is in the dataset.
    fn new(avatar: &[String], dataset: &[String]) -> anyhow::Result<Self> {
        let names = BlendshapeMap::new(dataset, avatar);
        if names.is_disjoint() {
            bail!(
                "none of the avatar's blendshapes ({}) is in the dataset ({})",
                avatar.join(", "),
                dataset.join(", ")
            );
        }
        Ok(Self {
            missing: names_at(avatar, names.missing()),
            extra: names_at(dataset, names.unused().iter().copied()),
            names,
        })
    }

    /// The avatar's coefficients for a dataset expression.
    fn weights(&self, expression: &[f32]) -> Vec<f32> {
        self.names.apply(expression, 0.0)
    }
}

/// The LPIPS networks, in the order of [`LPIPS_KEYS`].
struct LpipsNetworks([Lpips; 2]);

impl LpipsNetworks {
    /// Loads the AlexNet and VGG16 weights from the default folder; the error says how to
    /// get missing weights (for VGG16: run `scripts/setup.sh`) or to skip LPIPS.
    fn load() -> anyhow::Result<Self> {
        let load = |backbone| {
            Lpips::load_default(backbone).with_context(|| {
                format!("cannot load the LPIPS {backbone} network (pass --no-lpips to skip LPIPS)")
            })
        };
        Ok(Self([load(Backbone::Alex)?, load(Backbone::Vgg)?]))
    }

    /// Fails when `width × height` images are too small for one of the backbones.
    fn check_size(&self, width: usize, height: usize) -> anyhow::Result<()> {
        for network in &self.0 {
            let backbone = network.backbone();
            let min_side = backbone.min_image_side();
            ensure!(
                width >= min_side && height >= min_side,
                "the dataset's {width}×{height} frames are too small for LPIPS {backbone} \
                 (at least {min_side}×{min_side}); pass --no-lpips to skip LPIPS"
            );
        }
        Ok(())
    }

    /// The LPIPS distances between two `width × height` images, one per network.
    fn distances(
        &self,
        a: &[[f32; 3]],
        b: &[[f32; 3]],
        width: usize,
        height: usize,
    ) -> anyhow::Result<[f64; 2]> {
        let mut distances = [0.0; 2];
        for (distance, network) in distances.iter_mut().zip(&self.0) {
            let value = network
                .distance(a.as_flattened(), b.as_flattened(), width, height)
                .with_context(|| format!("LPIPS {}", network.backbone()))?;
            *distance = f64::from(value);
        }
        Ok(distances)
    }
}

/// `image` with the pixels outside `mask` replaced by `background`'s.
fn outside_mask_replaced(
    image: &[[f32; 3]],
    mask: &[bool],
    background: &[[f32; 3]],
) -> Vec<[f32; 3]> {
    image
        .iter()
        .zip(mask)
        .zip(background)
        .map(|((&pixel, &inside), &behind)| if inside { pixel } else { behind })
        .collect()
}

/// The scores of one frame in one region (the full frame or the head).
struct RegionScores {
    image: ImageScores,
    /// LPIPS in the order of [`LPIPS_KEYS`]; `None` with `--no-lpips`.
    lpips: Option<[f64; 2]>,
}

/// The scores of one frame.
struct FrameResult {
    index: usize,
    source_frame: u64,
    full: RegionScores,
    head: RegionScores,
}

/// Evaluates the avatar on the dataset and writes the report.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let lpips = if args.no_lpips {
        None
    } else {
        Some(LpipsNetworks::load()?)
    };
    let avatar = Avatar::read(&args.avatar)
        .map(Arc::new)
        .with_context(|| format!("cannot read the avatar {}", args.avatar.display()))?;
    let dataset = Dataset::load(&args.dataset)
        .with_context(|| format!("cannot load the dataset {}", args.dataset.display()))?;
    let transforms = &dataset.transforms;
    let map = ExpressionMap::new(avatar.blendshapes(), &transforms.blendshapes)?;
    if !map.missing.is_empty() {
        eprintln!(
            "warning: the dataset has no coefficients for {} of the avatar's blendshapes \
             (kept at 0): {}",
            map.missing.len(),
            map.missing.join(", ")
        );
    }
    if !map.extra.is_empty() {
        eprintln!(
            "warning: ignoring {} dataset coefficients the avatar does not have: {}",
            map.extra.len(),
            map.extra.join(", ")
        );
    }
    let frames = select_frames(&transforms.frames, args.split, args.frames)?;

    let intrinsics = transforms.intrinsics();
    let (width, height) = (intrinsics.width as usize, intrinsics.height as usize);
    if let Some(networks) = &lpips {
        networks.check_size(width, height)?;
    }
    let background = to_pixels(&dataset.read_background()?);
    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &avatar, args.backend)?;
    let mut grid = ComparisonGrid::new(width, height, GRID_ROWS.min(frames.len()));
    let progress = ProgressBar::new(frames.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} frames, {eta} left")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    progress.set_message("evaluating");
    let mut results = Vec::with_capacity(frames.len());
    for &index in &frames {
        let frame = &transforms.frames[index];
        let truth = to_pixels(&dataset.read_image(index)?);
        let mask: Vec<bool> = dataset
            .read_mask(index)?
            .pixels()
            .map(|p| p.0[0] >= HEAD_MASK_THRESHOLD)
            .collect();
        let mut weights = map.weights(&frame.expression);
        avatar.clamp_expression(&mut weights);
        let rendered = renderer
            .render(&FrameRequest {
                weights: &weights,
                intrinsics,
                pose: frame.pose(),
                background: Background::Image(&background),
            })
            .with_context(|| format!("frame {index}"))?;
        let (full_lpips, head_lpips) = match &lpips {
            Some(networks) => {
                let full = networks
                    .distances(&truth, &rendered.rgb, width, height)
                    .with_context(|| format!("frame {index}"))?;
                let head = networks
                    .distances(
                        &outside_mask_replaced(&truth, &mask, &background),
                        &outside_mask_replaced(&rendered.rgb, &mask, &background),
                        width,
                        height,
                    )
                    .with_context(|| format!("frame {index}: head metrics"))?;
                (Some(full), Some(head))
            }
            None => (None, None),
        };
        let truth = ImageRef::new(&truth, width, height)?;
        let render = ImageRef::new(&rendered.rgb, width, height)?;
        let full = ImageScores::full(truth, render).with_context(|| format!("frame {index}"))?;
        let head = ImageScores::masked(truth, render, &mask)
            .with_context(|| format!("frame {index}: head metrics"))?;
        grid.push_row(truth, render)?;
        results.push(FrameResult {
            index,
            source_frame: frame.source_frame,
            full: RegionScores {
                image: full,
                lpips: full_lpips,
            },
            head: RegionScores {
                image: head,
                lpips: head_lpips,
            },
        });
        progress.inc(1);
    }
    progress.finish_and_clear();

    let summary = Summary::of(&results);
    print_summary(&summary, results.len(), args.split);
    if let Some(folder) = &args.report {
        fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the report folder {}", folder.display()))?;
        let metrics = metrics_json(&args, &summary, &results, &map);
        let metrics_file = folder.join(METRICS_FILE);
        let text = serde_json::to_string_pretty(&metrics)? + "\n";
        fs::write(&metrics_file, text)
            .with_context(|| format!("cannot write {}", metrics_file.display()))?;
        grid.write(&folder.join(GRID_FILE))?;
        let curve = avatar
            .training
            .as_ref()
            .map(|t| t.curve.as_slice())
            .unwrap_or_default();
        let has_curve = !curve.is_empty();
        if has_curve {
            write_training_curve(curve, &folder.join(CURVE_FILE))?;
        }
        markdown_report(
            &args,
            &avatar,
            &dataset,
            &summary,
            &map,
            results.len(),
            has_curve,
        )
        .write(&folder.join(REPORT_FILE))?;
        println!("report written to {}", folder.display());
    }
    Ok(())
}

/// The indices of the frames to evaluate: the split's, thinned to `limit` evenly spaced.
fn select_frames(
    frames: &[DatasetFrame],
    split: SplitChoice,
    limit: Option<usize>,
) -> anyhow::Result<Vec<usize>> {
    let chosen: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| split.includes(f.split))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        !chosen.is_empty(),
        "the dataset has no frames in the `{}` split",
        split.name()
    );
    Ok(match limit {
        Some(0) => bail!("--frames must be at least 1"),
        Some(n) if n < chosen.len() => (0..n).map(|k| chosen[k * chosen.len() / n]).collect(),
        _ => chosen,
    })
}

fn to_pixels(image: &image::RgbImage) -> Vec<[f32; 3]> {
    image
        .pixels()
        .map(|p| p.0.map(|v| f32::from(v) / 255.0))
        .collect()
}

/// Mean and standard deviation of every metric of one region over the frames.
struct RegionSummary {
    /// In the order of [`METRIC_KEYS`].
    image: [MeanStd; 4],
    /// In the order of [`LPIPS_KEYS`]; `None` with `--no-lpips`.
    lpips: Option<[MeanStd; 2]>,
}

/// Mean and standard deviation of every metric over the frames.
struct Summary {
    full: RegionSummary,
    head: RegionSummary,
}

/// Metric keys in the order of [`RegionSummary::image`] and [`scores_array`].
const METRIC_KEYS: [&str; 4] = ["psnr", "mse", "l1", "ssim"];
/// LPIPS keys, in the order of [`LpipsNetworks`] (null with `--no-lpips`).
const LPIPS_KEYS: [&str; 2] = ["lpips_alex", "lpips_vgg"];
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

fn scores_array(scores: &ImageScores) -> [f64; 4] {
    [scores.psnr, scores.mse, scores.l1, scores.ssim]
}

/// Mean and standard deviation of `values`; NaN when there are none.
fn mean_std(values: &[f64]) -> MeanStd {
    MeanStd::of(values).unwrap_or(MeanStd {
        mean: f64::NAN,
        std: f64::NAN,
    })
}

impl RegionSummary {
    fn of<'a>(regions: impl Iterator<Item = &'a RegionScores> + Clone) -> Self {
        let image = std::array::from_fn(|k| {
            let values: Vec<f64> = regions.clone().map(|r| scores_array(&r.image)[k]).collect();
            mean_std(&values)
        });
        let lpips = regions
            .map(|r| r.lpips)
            .collect::<Option<Vec<[f64; 2]>>>()
            .map(|lpips| {
                std::array::from_fn(|k| mean_std(&lpips.iter().map(|l| l[k]).collect::<Vec<_>>()))
            });
        Self { image, lpips }
    }
}

impl Summary {
    fn of(results: &[FrameResult]) -> Self {
        Self {
            full: RegionSummary::of(results.iter().map(|r| &r.full)),
            head: RegionSummary::of(results.iter().map(|r| &r.head)),
        }
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

fn metrics_json(
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

fn print_summary(summary: &Summary, frames: usize, split: SplitChoice) {
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

fn markdown_report(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn expressions_map_by_name() {
        let map = ExpressionMap::new(&names(&["a", "b", "c"]), &names(&["c", "x", "a"])).unwrap();
        assert_eq!(map.missing, names(&["b"]));
        assert_eq!(map.extra, names(&["x"]));
        assert_eq!(map.weights(&[0.3, 0.9, 0.1]), [0.1, 0.0, 0.3]);
        let error = ExpressionMap::new(&names(&["a"]), &names(&["b"])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("none of the avatar's blendshapes")
        );
    }

    fn frame(split: Split) -> DatasetFrame {
        DatasetFrame {
            source_frame: 0,
            image: String::new(),
            mask: String::new(),
            transform_matrix: [[0.0; 4]; 4],
            expression: Vec::new(),
            split,
            face_box: [0.0; 4],
            mouth_box: [0.0; 4],
        }
    }

    #[test]
    fn frames_are_chosen_by_split_and_thinned_evenly() {
        let frames: Vec<DatasetFrame> = (0..10)
            .map(|i| {
                frame(if i % 2 == 0 {
                    Split::Test
                } else {
                    Split::Train
                })
            })
            .collect();
        let pick = |split, limit| select_frames(&frames, split, limit).unwrap();
        assert_eq!(pick(SplitChoice::Test, None), [0, 2, 4, 6, 8]);
        assert_eq!(pick(SplitChoice::Train, Some(2)), [1, 5]);
        assert_eq!(pick(SplitChoice::All, Some(20)).len(), 10);
        assert!(select_frames(&frames, SplitChoice::All, Some(0)).is_err());
        let training_only = vec![frame(Split::Train)];
        assert!(select_frames(&training_only, SplitChoice::Test, None).is_err());
    }
}
