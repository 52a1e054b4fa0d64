//! MediaPipe's blendshape model: 146 of the 478 landmarks, in pixels, to the 52 ARKit
//! scores (`_neutral` first).

use crate::error::TrackError;
use crate::landmarks::FaceLandmarks;
use crate::model::OnnxModel;

const MODEL: &[u8] = include_bytes!("../../../assets/face/face_blendshapes.onnx");

/// The landmarks the model reads, in its input order (MediaPipe's `kLandmarksSubsetIdxs`).
pub const BLENDSHAPE_LANDMARKS: [usize; 146] = [
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65,
    66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136,
    144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172,
    173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283,
    284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385,
    386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472,
    473, 474, 475, 476, 477,
];

/// The model's 52 output names: `_neutral`, then the 51 ARKit names in
/// [`nerf_avatar::blendshapes::ARKIT_BLENDSHAPES`] order.
pub const MODEL_OUTPUTS: usize = 52;

/// The blendshape model.
#[derive(Debug)]
pub struct BlendshapeModel {
    model: OnnxModel,
}

impl BlendshapeModel {
    /// Loads the embedded model.
    pub fn new() -> Result<Self, TrackError> {
        Ok(Self {
            model: OnnxModel::load(
                "face_blendshapes",
                MODEL,
                &[1, BLENDSHAPE_LANDMARKS.len(), 2],
            )?,
        })
    }

    /// The 52 scores of a face (index 0 is `_neutral`).
    pub fn run(&self, landmarks: &FaceLandmarks) -> Result<[f32; MODEL_OUTPUTS], TrackError> {
        let input = BLENDSHAPE_LANDMARKS
            .iter()
            .flat_map(|&i| [landmarks.points[i][0], landmarks.points[i][1]])
            .collect();
        let outputs = self.model.run(input)?;
        outputs
            .first()
            .and_then(|scores| <[f32; MODEL_OUTPUTS]>::try_from(scores.as_slice()).ok())
            .ok_or_else(|| TrackError::Model {
                model: "face_blendshapes",
                message: format!("expected {MODEL_OUTPUTS} scores"),
            })
    }
}
