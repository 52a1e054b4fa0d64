//! `PatchLpips`, the layer-by-layer LPIPS of the training loss, against candle's `Lpips` and
//! the `lpips` package.
//!
//! - Distances and gradients of batches of patch pairs agree with candle's autograd (the
//!   distance within 1e-5 relative, every gradient component within 1e-4 of the gradient's
//!   largest component), for both backbones, square and oblong patches.
//! - The gradient of the reference 32×32 pair agrees with torch's within 1e-3 of the gradient
//!   norm per component.
//! - Bad inputs are the same typed errors as candle's.

use std::path::{Path, PathBuf};

use nerf_avatar::metrics::lpips::patch::PatchLpips;
use nerf_avatar::metrics::lpips::{Backbone, Lpips, LpipsError};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lpips")
}

fn networks(backbone: Backbone) -> (Lpips, PatchLpips) {
    let lpips = Lpips::load_default(backbone).unwrap_or_else(|error| panic!("{error}"));
    let patch = PatchLpips::new(&lpips).unwrap();
    (lpips, patch)
}

fn load_png(name: &str) -> (Vec<f32>, usize, usize) {
    let image = image::open(data_dir().join(name)).unwrap().to_rgb8();
    let (width, height) = (image.width() as usize, image.height() as usize);
    let values = image
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    (values, width, height)
}

/// A `width × height` patch cut from the reference picture at `(x, y)`, brightened by `gain`.
fn cut(
    image: &(Vec<f32>, usize, usize),
    x: usize,
    y: usize,
    size: [usize; 2],
    gain: f32,
) -> Vec<f32> {
    let (values, width, _) = image;
    let [w, h] = size;
    (0..h)
        .flat_map(|row| {
            let start = ((y + row) * width + x) * 3;
            values[start..start + w * 3]
                .iter()
                .map(move |v| (v * gain).min(1.0))
        })
        .collect()
}

fn check_against_candle(backbone: Backbone, size: [usize; 2]) {
    let (lpips, patch) = networks(backbone);
    let picture = load_png("base.png");
    let a = [
        cut(&picture, 0, 0, size, 1.0),
        cut(&picture, 7, 3, size, 0.8),
    ];
    let b = [
        cut(&picture, 2, 1, size, 1.1),
        cut(&picture, 5, 4, size, 1.0),
    ];
    let a: Vec<&[f32]> = a.iter().map(Vec::as_slice).collect();
    let b: Vec<&[f32]> = b.iter().map(Vec::as_slice).collect();
    let [width, height] = size;
    let (expected, expected_gradients) =
        lpips.distance_and_gradient(&a, &b, width, height).unwrap();
    let (distance, gradients) = patch.distance_and_gradient(&a, &b, width, height).unwrap();
    assert!(
        (distance - expected).abs() <= 1e-5 * expected,
        "{backbone} {width}×{height}: distance {distance} vs candle {expected}"
    );
    assert_eq!(gradients.len(), 2);
    for (ours, theirs) in gradients.iter().zip(&expected_gradients) {
        let largest = theirs.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(largest > 0.0);
        for (index, (g, e)) in ours.iter().zip(theirs).enumerate() {
            assert!(
                (g - e).abs() <= 1e-4 * largest,
                "{backbone} {width}×{height} component {index}: {g} vs candle {e} (largest {largest})"
            );
        }
    }
}

#[test]
fn vgg_matches_candle() {
    check_against_candle(Backbone::Vgg, [32, 32]);
    check_against_candle(Backbone::Vgg, [20, 27]);
}

#[test]
fn alex_matches_candle() {
    check_against_candle(Backbone::Alex, [32, 32]);
    check_against_candle(Backbone::Alex, [45, 37]);
}

#[test]
fn vgg_gradient_matches_torch() {
    let (_, patch) = networks(Backbone::Vgg);
    let text = std::fs::read_to_string(data_dir().join("reference.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let expected = &reference["gradients"]["vgg"];
    let (a, width, height) = load_png(expected["a"].as_str().unwrap());
    let (b, ..) = load_png(expected["b"].as_str().unwrap());
    let (distance, gradients) = patch
        .distance_and_gradient(&[&a], &[&b], width, height)
        .unwrap();
    let expected_distance = expected["distance"].as_f64().unwrap() as f32;
    assert!(
        (distance - expected_distance).abs() <= 1e-5,
        "{distance} vs {expected_distance}"
    );
    let expected_norm = expected["norm"].as_f64().unwrap() as f32;
    for pixel in expected["pixels"].as_array().unwrap() {
        let row = pixel["row"].as_u64().unwrap() as usize;
        let column = pixel["column"].as_u64().unwrap() as usize;
        for channel in 0..3 {
            let torch = pixel["gradient"][channel].as_f64().unwrap() as f32;
            let ours = gradients[0][(row * width + column) * 3 + channel];
            assert!(
                (ours - torch).abs() <= 1e-3 * expected_norm,
                "pixel ({row}, {column}) channel {channel}: {ours} vs torch {torch}"
            );
        }
    }
}

#[test]
fn identical_patches_have_no_distance_and_no_gradient() {
    let (_, patch) = networks(Backbone::Alex);
    let (image, ..) = load_png("patch_a.png");
    let (distance, gradients) = patch
        .distance_and_gradient(&[&image], &[&image], 32, 32)
        .unwrap();
    assert_eq!(distance, 0.0);
    assert!(gradients[0].iter().all(|&g| g == 0.0));
}

#[test]
fn bad_patches_are_errors() {
    let (_, patch) = networks(Backbone::Alex);
    let image = vec![0.5; 32 * 32 * 3];
    assert!(matches!(
        patch.distance_and_gradient(&[&image], &[], 32, 32),
        Err(LpipsError::PatchCount { .. })
    ));
    assert!(matches!(
        patch.distance_and_gradient(&[&image[..30 * 30 * 3]], &[&image[..30 * 30 * 3]], 30, 30),
        Err(LpipsError::ImageTooSmall { min_side: 31, .. })
    ));
    assert!(matches!(
        patch.distance_and_gradient(&[&image], &[&image[1..]], 32, 32),
        Err(LpipsError::ImageLength { .. })
    ));
    let mut with_nan = image.clone();
    with_nan[7] = f32::NAN;
    let error = patch
        .distance_and_gradient(&[&image, &image], &[&image, &with_nan], 32, 32)
        .unwrap_err();
    assert!(
        matches!(&error, LpipsError::NonFinite { index: 7, image } if image == "`b[1]`"),
        "{error}"
    );
}
