//! The image metrics against values computed independently with NumPy and scikit-image
//! (`tools/metrics_reference.py` → `tests/data/image_metrics.json`).

use nerf_avatar_eval::metrics::image::{ImageRef, ImageScores};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    width: usize,
    height: usize,
    truth: Vec<u8>,
    render: Vec<u8>,
    mask: Vec<u8>,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    mse: f64,
    l1: f64,
    psnr: f64,
    ssim: f64,
    head: Scores,
}

#[derive(Deserialize)]
struct Scores {
    mse: f64,
    l1: f64,
    psnr: f64,
    ssim: f64,
}

fn pixels(bytes: &[u8]) -> Vec<[f32; 3]> {
    bytes
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]].map(|v| f32::from(v) / 255.0))
        .collect()
}

fn assert_close(name: &str, found: f64, expected: f64) {
    let tolerance = 1e-6 * expected.abs().max(1.0);
    assert!(
        (found - expected).abs() <= tolerance,
        "{name}: found {found}, scikit-image {expected}"
    );
}

fn check(label: &str, found: ImageScores, expected: &Scores) {
    assert_close(&format!("{label} mse"), found.mse, expected.mse);
    assert_close(&format!("{label} l1"), found.l1, expected.l1);
    assert_close(&format!("{label} psnr"), found.psnr, expected.psnr);
    assert_close(&format!("{label} ssim"), found.ssim, expected.ssim);
}

#[test]
fn metrics_match_numpy_and_scikit_image() {
    let text = include_str!("data/image_metrics.json");
    let reference: Reference = serde_json::from_str(text).unwrap();
    assert!(!reference.cases.is_empty());
    for case in &reference.cases {
        let (truth, render) = (pixels(&case.truth), pixels(&case.render));
        let truth = ImageRef::new(&truth, case.width, case.height).unwrap();
        let render = ImageRef::new(&render, case.width, case.height).unwrap();
        let mask: Vec<bool> = case.mask.iter().map(|&m| m != 0).collect();
        let label = format!("{}×{}", case.width, case.height);
        let e = &case.expected;
        let full = Scores {
            mse: e.mse,
            l1: e.l1,
            psnr: e.psnr,
            ssim: e.ssim,
        };
        check(&label, ImageScores::full(truth, render).unwrap(), &full);
        let head = ImageScores::masked(truth, render, &mask).unwrap();
        check(&format!("{label} head"), head, &e.head);
    }
}
