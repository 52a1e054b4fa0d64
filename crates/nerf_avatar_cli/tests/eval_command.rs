//! `nerf-avatar eval`, run as a binary on a tiny synthetic dataset: it writes a complete
//! report, and fails cleanly on a missing dataset or a corrupt avatar.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use nerf_avatar::synthetic::SyntheticHead;

fn nerf_avatar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(args)
        .output()
        .expect("the binary runs")
}

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
    let controls = SyntheticHead::CONTROLS.join(",");
    let init = [
        "init",
        "--out",
        &avatar,
        "--preset",
        "tiny",
        "--blendshapes",
        &controls,
    ];
    assert!(succeeded(&nerf_avatar(&init)));
    (dataset, avatar)
}

fn assert_metric_keys(object: &serde_json::Value, summary: bool) {
    for key in ["psnr", "mse", "l1", "ssim"] {
        let value = &object[key];
        let numbers = if summary {
            vec![&value["mean"], &value["std"]]
        } else {
            vec![value]
        };
        for number in numbers {
            let number = number.as_f64().unwrap_or(f64::NAN);
            assert!(number.is_finite(), "{key}: {value}");
        }
    }
    for key in ["lpips_alex", "lpips_vgg"] {
        assert!(object[key].is_null(), "{key} is null with --no-lpips");
    }
}

#[test]
fn eval_writes_metrics_grid_and_report() {
    let root = tempfile::tempdir().unwrap();
    let (dataset, avatar) = dataset_and_avatar(root.path());
    let report = root.path().join("report");
    let output = nerf_avatar(&[
        "eval",
        &avatar,
        &dataset,
        "--split",
        "all",
        "--report",
        &report.display().to_string(),
        "--no-lpips",
    ]);
    assert!(succeeded(&output));
    let text = fs::read_to_string(report.join("metrics.json")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_metric_keys(&metrics, true);
    assert_metric_keys(&metrics["head"], true);
    let frames = metrics["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 6);
    for frame in frames {
        assert_metric_keys(frame, false);
        assert_metric_keys(&frame["head"], false);
        assert!(frame["frame"].is_u64() && frame["source_frame"].is_u64());
    }
    let grid = image::image_dimensions(report.join("comparison.png")).unwrap();
    assert_eq!(grid, (3 * 48, 6 * 48));
    let markdown = fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("| PSNR (dB) ↑ |") && markdown.contains("comparison.png"));
    assert!(!report.join("training_curve.png").exists());
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
