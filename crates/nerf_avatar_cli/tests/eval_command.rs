//! `nerf-avatar eval`, run as a binary on a tiny synthetic dataset: it writes a complete
//! report with LPIPS (or with null LPIPS under `--no-lpips`), and fails cleanly on a missing
//! dataset, a corrupt avatar or missing LPIPS weights.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use nerf_avatar_data::synthetic::SyntheticHead;

mod common;
use common::nerf_avatar;

fn succeeded(output: &Output) -> bool {
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

/// A 6-frame, 48-pixel synthetic dataset and a tiny avatar for its controls.
fn dataset_and_avatar(root: &Path) -> (String, String) {
    let dataset = root.join("dataset").display().to_string();
    let avatar = root.join("tiny.safetensors").display().to_string();
    let synth = ["synth", "--out", &dataset, "--frames", "6", "--size", "48"];
    assert!(succeeded(&nerf_avatar(&synth)));
    common::init_tiny_avatar(&avatar, &SyntheticHead::CONTROLS.join(","));
    (dataset, avatar)
}

/// Checks the metric keys of a summary (`{mean, std}` values) or a frame (plain values):
/// finite, and for LPIPS non-negative, or null without `lpips`.
fn assert_metric_keys(object: &serde_json::Value, summary: bool, lpips: bool) {
    let numbers = |key: &str| {
        let value = &object[key];
        let numbers = if summary {
            vec![&value["mean"], &value["std"]]
        } else {
            vec![value]
        };
        numbers
            .into_iter()
            .map(|number| number.as_f64().unwrap_or(f64::NAN))
            .collect::<Vec<f64>>()
    };
    for key in ["psnr", "mse", "l1", "ssim"] {
        for number in numbers(key) {
            assert!(number.is_finite(), "{key}: {}", object[key]);
        }
    }
    for key in ["lpips_alex", "lpips_vgg"] {
        if lpips {
            for number in numbers(key) {
                assert!(
                    number.is_finite() && number >= 0.0,
                    "{key}: {}",
                    object[key]
                );
            }
        } else {
            assert!(object[key].is_null(), "{key} is null with --no-lpips");
        }
    }
}

/// Runs `eval` on every frame into `report` and checks every metric of `metrics.json`.
fn eval_and_check_metrics(
    dataset: &str,
    avatar: &str,
    report: &Path,
    lpips: bool,
) -> serde_json::Value {
    let report_arg = report.display().to_string();
    let mut args = vec![
        "eval",
        avatar,
        dataset,
        "--split",
        "all",
        "--report",
        &report_arg,
    ];
    if !lpips {
        args.push("--no-lpips");
    }
    assert!(succeeded(&nerf_avatar(&args)));
    let text = fs::read_to_string(report.join("metrics.json")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_metric_keys(&metrics, true, lpips);
    assert_metric_keys(&metrics["head"], true, lpips);
    let frames = metrics["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    for frame in frames {
        assert_metric_keys(frame, false, lpips);
        assert_metric_keys(&frame["head"], false, lpips);
        assert!(frame["frame"].is_u64() && frame["source_frame"].is_u64());
    }
    metrics
}

#[test]
fn eval_writes_metrics_grid_and_report_with_lpips() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, avatar) = dataset_and_avatar(root.path());
    let report = root.path().join("report");
    let metrics = eval_and_check_metrics(&dataset, &avatar, &report, true);
    let status = metrics["evaluation"]["lpips"].as_str().unwrap();
    assert!(status.contains("background"), "{status}");
    let grid = image::image_dimensions(report.join("comparison.png")).unwrap();
    assert_eq!(grid, (3 * 48, 6 * 48));
    let markdown = fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("| PSNR (dB) ↑ |") && markdown.contains("comparison.png"));
    for row in ["LPIPS (AlexNet) ↓", "LPIPS (VGG) ↓"] {
        let line = markdown
            .lines()
            .find(|line| line.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("no {row} row in\n{markdown}"));
        assert!(!line.contains('–'), "{row} is computed: {line}");
    }
    assert!(
        markdown.contains("head LPIPS compares both images"),
        "{markdown}"
    );
    assert!(!report.join("training_curve.png").exists());
}

#[test]
fn eval_with_no_lpips_leaves_lpips_null() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, avatar) = dataset_and_avatar(root.path());
    let report = root.path().join("report");
    let metrics = eval_and_check_metrics(&dataset, &avatar, &report, false);
    assert_eq!(metrics["evaluation"]["lpips"], "skipped (--no-lpips)");
    let markdown = fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("skipped (--no-lpips)"), "{markdown}");
}

#[test]
fn eval_fails_cleanly_on_bad_inputs() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, avatar) = dataset_and_avatar(root.path());
    let missing = root.path().join("no-such-dataset").display().to_string();
    let corrupt = root.path().join("corrupt.safetensors");
    let mut bytes = fs::read(&avatar).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&corrupt, bytes).unwrap();
    let corrupt = corrupt.display().to_string();
    for args in [
        ["eval", avatar.as_str(), missing.as_str(), "--no-lpips"],
        ["eval", corrupt.as_str(), dataset.as_str(), "--no-lpips"],
    ] {
        let output = nerf_avatar(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn eval_without_vgg_weights_says_to_run_setup() {
    let root = tempfile::tempdir().unwrap();
    let weights = root.path().join("lpips");
    fs::create_dir(&weights).unwrap();
    let alex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/lpips/alex.safetensors");
    fs::copy(alex, weights.join("alex.safetensors")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(["eval", "no-such-avatar.safetensors", "no-such-dataset"])
        .env("NERF_AVATAR_LPIPS_DIR", &weights)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in ["vgg.safetensors", "scripts/setup.sh", "--no-lpips"] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
}
