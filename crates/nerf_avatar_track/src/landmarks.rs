//! MediaPipe's face landmark model: a 256×256 crop of a region in [0, 1], 478 landmarks
//! and a face-presence score; and the region of the next frame made from the landmarks.

use image::RgbImage;

use crate::convnet::ConvNet;
use crate::error::TrackError;
use crate::model::on_pool;
use crate::roi::{Border, Roi};

const MODEL: &[u8] = include_bytes!("../../../assets/face/face_landmarks_detector.onnx");
/// Input size of the landmark model in pixels (square).
pub const LANDMARK_INPUT: u32 = 256;
/// Number of landmarks (468 mesh points and 10 iris points).
pub const LANDMARK_COUNT: usize = 478;
/// Lowest presence score of a face (MediaPipe's `min_face_presence_confidence` default).
pub const MIN_PRESENCE: f32 = 0.5;
/// Landmarks whose line levels the tracked region: outer corners of the eyes.
const EYE_CORNERS: (usize, usize) = (33, 263);
/// How much the landmarks' box is grown into the next frame's region.
const TRACK_SCALE: f32 = 1.5;

/// Landmarks of one face: x, y in image pixels, z in pixels at the scale of x (negative
/// towards the camera), as MediaPipe's normalised landmarks times the image width/height.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceLandmarks {
    /// The 478 points.
    pub points: Vec<[f32; 3]>,
    /// Face presence score in [0, 1].
    pub presence: f32,
}

impl FaceLandmarks {
    /// The region that tracks this face into the next frame: the landmarks' box, levelled
    /// on the eye corners, squared on its long side and grown 1.5×.
    pub fn next_roi(&self) -> Roi {
        let mut bounds = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for p in &self.points {
            bounds = [
                bounds[0].min(p[0]),
                bounds[1].min(p[1]),
                bounds[2].max(p[0]),
                bounds[3].max(p[1]),
            ];
        }
        let eye = |i: usize| [self.points[i][0], self.points[i][1]];
        Roi::from_box_and_eyes(bounds, eye(EYE_CORNERS.0), eye(EYE_CORNERS.1))
            .transformed(TRACK_SCALE, true)
    }
}

/// The landmark model, run by [`ConvNet`] (it runs on every frame).
#[derive(Debug)]
pub struct LandmarkModel {
    model: ConvNet,
}

impl LandmarkModel {
    /// Loads the embedded model.
    pub fn new() -> Result<Self, TrackError> {
        let side = LANDMARK_INPUT as usize;
        Ok(Self {
            model: ConvNet::load("face_landmarks_detector", MODEL, [side, side, 3])?,
        })
    }

    /// Runs the model on `roi` of `image`. The landmarks are returned whatever the presence
    /// score; callers compare it with [`MIN_PRESENCE`].
    pub fn run(&self, image: &RgbImage, roi: &Roi) -> Result<FaceLandmarks, TrackError> {
        let input = on_pool(|| {
            let pixels = roi.crop(image, LANDMARK_INPUT, LANDMARK_INPUT, Border::Replicate);
            pixels.iter().map(|&v| f32::from(v) / 255.0).collect()
        });
        let outputs = self.model.run(input)?;
        let (Some(raw), Some(flag)) = (outputs.first(), outputs.get(1)) else {
            return Err(TrackError::Model {
                model: "face_landmarks_detector",
                message: format!("expected at least 2 outputs, got {}", outputs.len()),
            });
        };
        if raw.len() != LANDMARK_COUNT * 3 || flag.is_empty() {
            return Err(TrackError::Model {
                model: "face_landmarks_detector",
                message: format!("unexpected output sizes {} and {}", raw.len(), flag.len()),
            });
        }
        let side = LANDMARK_INPUT as f32;
        let points = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = roi.project(p[0] / side, p[1] / side);
                [x, y, p[2] / side * roi.size[0]]
            })
            .collect();
        Ok(FaceLandmarks {
            points,
            presence: 1.0 / (1.0 + (-flag[0]).exp()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OnnxModel;

    /// Our kernels give tract's outputs on the real model (tract runs the ONNX graph as it
    /// is, NCHW, with its own kernels).
    #[test]
    fn conv_net_matches_tract_on_the_landmark_model() {
        let side = LANDMARK_INPUT as usize;
        let ours = LandmarkModel::new().expect("loads");
        let tract = OnnxModel::load("face_landmarks_detector", MODEL, &[1, side, side, 3])
            .expect("tract loads");
        let mut state = 0x1234_5678_u32;
        let input: Vec<f32> = (0..side * side * 3)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                // A smooth pattern with noise, in [0, 1] like the crops.
                let (y, x) = ((i / 3 / side) as f32, (i / 3 % side) as f32);
                (0.5 + 0.3 * (x / 19.0).sin() * (y / 23.0).cos()
                    + 0.1 * (state as f32 / u32::MAX as f32))
                    .clamp(0.0, 1.0)
            })
            .collect();
        let want = tract.run(input.clone()).expect("tract runs");
        let got = ours.model.run(input).expect("runs");
        assert_eq!(got.len(), want.len());
        for (output, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.len(), w.len(), "output {output}");
            let scale = w.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(a.is_finite(), "output {output}[{i}] is {a}");
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "output {output}[{i}]: {a} vs {b} (scale {scale})"
                );
            }
        }
    }
}
