//! MediaPipe's selfie segmentation model (the general, square variant; converted to ONNX,
//! see `assets/face/README.md`): which pixels of a frame show a person.
//!
//! As MediaPipe's selfie segmentation does, the whole frame is resized (not letterboxed) to
//! the model's 256×256 input, RGB in [0, 1]; the model's 256×256 person probabilities are
//! interpolated bilinearly back onto the frame's pixels.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Luma, RgbImage};

use crate::error::TrackError;
use crate::model::OnnxModel;

const MODEL: &[u8] = include_bytes!("../../../assets/face/selfie_segmentation.onnx");
const MODEL_NAME: &str = "selfie_segmentation";
/// Side of the model's square input and output, in pixels.
pub const SEGMENTATION_INPUT: u32 = 256;

/// A person probability in [0, 1] per pixel of a frame.
pub type PersonProbability = ImageBuffer<Luma<f32>, Vec<f32>>;

/// The selfie segmentation model.
#[derive(Debug)]
pub struct SegmentationModel {
    model: OnnxModel,
}

impl SegmentationModel {
    /// Loads the embedded model.
    pub fn new() -> Result<Self, TrackError> {
        let side = SEGMENTATION_INPUT as usize;
        Ok(Self {
            model: OnnxModel::load(MODEL_NAME, MODEL, &[1, side, side, 3])?,
        })
    }

    /// The person probability of every pixel of `frame`.
    pub fn person_probability(&self, frame: &RgbImage) -> Result<PersonProbability, TrackError> {
        let input = imageops::resize(
            frame,
            SEGMENTATION_INPUT,
            SEGMENTATION_INPUT,
            FilterType::Triangle,
        );
        let values = input
            .as_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
        let outputs = self.model.run(values)?;
        let side = SEGMENTATION_INPUT as usize;
        let output = match outputs.as_slice() {
            [output] if output.len() == side * side => output,
            _ => {
                return Err(TrackError::Model {
                    model: MODEL_NAME,
                    message: format!(
                        "expected one output of {side}×{side} values, got sizes {:?}",
                        outputs.iter().map(Vec::len).collect::<Vec<_>>()
                    ),
                });
            }
        };
        let (width, height) = frame.dimensions();
        Ok(resample(output, side, width, height))
    }
}

/// Bilinear interpolation of a `side`×`side` map (row-major) at the pixel centres of a
/// `width`×`height` image (edges clamped).
fn resample(map: &[f32], side: usize, width: u32, height: u32) -> PersonProbability {
    let axis = |i: u32, n: u32| {
        let t = ((i as f32 + 0.5) * side as f32 / n as f32 - 0.5).clamp(0.0, (side - 1) as f32);
        let low = (t as usize).min(side - 2);
        (low, t - low as f32)
    };
    PersonProbability::from_fn(width, height, |x, y| {
        let ((x0, fx), (y0, fy)) = (axis(x, width), axis(y, height));
        let at = |dx: usize, dy: usize| map[(y0 + dy) * side + x0 + dx];
        let top = at(0, 0) + fx * (at(1, 0) - at(0, 0));
        let bottom = at(0, 1) + fx * (at(1, 1) - at(0, 1));
        Luma([top + fy * (bottom - top)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_at_the_same_size_is_the_identity() {
        let map: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let same = resample(&map, 4, 4, 4);
        assert_eq!(same.as_raw(), &map);
    }

    #[test]
    fn resampling_interpolates_between_pixel_centres_and_clamps_at_edges() {
        // A horizontal ramp 0, 1, 2, 3 sampled at 8 columns: centres at 0.5/8·4 − 0.5 …
        let map: Vec<f32> = (0..16).map(|i| (i % 4) as f32).collect();
        let wide = resample(&map, 4, 8, 2);
        let row: Vec<f32> = (0..8).map(|x| wide.get_pixel(x, 0).0[0]).collect();
        assert_eq!(row, [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
        assert_eq!(wide.get_pixel(3, 1).0[0], 1.25);
    }
}
