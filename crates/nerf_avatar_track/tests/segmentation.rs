//! The converted selfie segmentation model on tract against the original TensorFlow.js model:
//! on the fixed synthetic input of `tools/convert_segmentation.py` (rebuilt here from the same
//! integer arithmetic), every sampled person probability (every 8th pixel in each direction)
//! within 1e-3 of TensorFlow.js 4.22.0's, the mean over all 256×256 within 1e-4, and the
//! fraction above 0.5 within 0.002. onnxruntime on the same ONNX file differs from TensorFlow.js
//! by up to 4e-4 (recorded in the reference file), tract by up to about 2.3e-4 on the
//! samples: float rounding, which the sigmoid's steep middle magnifies at edge pixels.

use image::RgbImage;
use nerf_avatar_track::segmentation::{SEGMENTATION_INPUT, SegmentationModel};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    stride: u32,
    offset: u32,
    mean: f32,
    person_fraction: f32,
    samples: Vec<Vec<f32>>,
}

/// `pattern_pixel` of tools/convert_segmentation.py: a head and shoulders over a
/// checkerboard with a colour ramp.
fn pattern_pixel(x: i64, y: i64) -> [u8; 3] {
    let in_ellipse = |cx: i64, cy: i64, a: i64, b: i64| {
        let (dx, dy) = (x - cx, y - cy);
        dx * dx * b * b + dy * dy * a * a <= a * a * b * b
    };
    if in_ellipse(128, 112, 42, 56) {
        return [224, 172, 140];
    }
    if in_ellipse(128, 100, 52, 66) && y < 120 {
        return [70, 45, 25];
    }
    if 160 <= y && (x - 128).abs() < 20 {
        return [210, 160, 130];
    }
    if 200 <= y && (x - 128).abs() < 40 + 2 * (y - 200) {
        return [50, 70, 130];
    }
    let ramp = ((x + y) % 32) as u8;
    if (x / 16 + y / 16) % 2 == 0 {
        [200 - ramp, 190, 90 + ramp]
    } else {
        [90 + ramp, 160, 200 - ramp]
    }
}

#[test]
fn matches_tensorflow_js_on_the_fixed_input() {
    let reference: Reference =
        serde_json::from_str(include_str!("data/segmentation_reference.json"))
            .expect("the reference file parses");
    let side = SEGMENTATION_INPUT;
    let input = RgbImage::from_fn(side, side, |x, y| {
        image::Rgb(pattern_pixel(i64::from(x), i64::from(y)))
    });
    let model = SegmentationModel::new().expect("the embedded model loads");
    let person = model.person_probability(&input).expect("the model runs");
    assert_eq!(person.dimensions(), (side, side));

    let mut largest = 0.0f32;
    for (row, expected_row) in reference.samples.iter().enumerate() {
        for (column, &expected) in expected_row.iter().enumerate() {
            let x = reference.offset + column as u32 * reference.stride;
            let y = reference.offset + row as u32 * reference.stride;
            largest = largest.max((person.get_pixel(x, y).0[0] - expected).abs());
        }
    }
    let count = (side * side) as f32;
    let mean = person.pixels().map(|p| p.0[0]).sum::<f32>() / count;
    let fraction = person.pixels().filter(|p| p.0[0] > 0.5).count() as f32 / count;
    println!(
        "largest sampled difference {largest:.2e}; mean {mean:.6} (reference {:.6}); \
         fraction above 0.5 {fraction:.5} (reference {:.5})",
        reference.mean, reference.person_fraction
    );
    assert_eq!(reference.samples.len(), 32);
    assert!(
        reference.person_fraction > 0.1 && reference.person_fraction < 0.5,
        "the fixed input shows a person and a backdrop"
    );
    assert!(largest <= 1e-3, "sampled probabilities differ by {largest}");
    assert!((mean - reference.mean).abs() <= 1e-4, "mean {mean}");
    assert!(
        (fraction - reference.person_fraction).abs() <= 0.002,
        "fraction {fraction}"
    );
}
