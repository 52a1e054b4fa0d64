//! MediaPipe's short-range face detector: letterboxed 128×128 input in [−1, 1], box and
//! keypoint decoding against the SSD anchors, weighted non-maximum suppression, and the
//! region of interest for the landmark model (box rotated by the eye line, scaled 1.5×).

use image::RgbImage;

use crate::anchors::{Anchor, DETECTOR_INPUT, face_detector_anchors};
use crate::error::TrackError;
use crate::model::OnnxModel;
use crate::roi::{Border, Roi};

const MODEL: &[u8] = include_bytes!("../../../assets/face/face_detector.onnx");
const KEYPOINTS: usize = 6;
const COORDS: usize = 4 + 2 * KEYPOINTS;
const SCORE_CLIP: f32 = 100.0;
/// Lowest detection score kept (MediaPipe's `min_detection_confidence` default).
pub const MIN_SCORE: f32 = 0.5;
/// IoU above which detections are merged (MediaPipe's `min_suppression_threshold`).
pub const MIN_SUPPRESSION: f32 = 0.3;
/// How much the detection box is grown into the landmark model's region.
pub const ROI_SCALE: f32 = 1.5;

/// A face detection in image pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Box x0, y0, x1, y1.
    pub bounds: [f32; 4],
    /// The six keypoints (eyes, nose tip, mouth, ear tragions).
    pub keypoints: [[f32; 2]; KEYPOINTS],
    /// Score in [0, 1].
    pub score: f32,
}

impl Detection {
    /// The landmark model's region: the box, rotated so that the eyes are level, grown 1.5×.
    pub fn roi(&self) -> Roi {
        Roi::from_box_and_eyes(self.bounds, self.keypoints[0], self.keypoints[1])
            .transformed(ROI_SCALE, false)
    }
}

/// The face detector.
#[derive(Debug)]
pub struct FaceDetector {
    model: OnnxModel,
    anchors: Vec<Anchor>,
}

impl FaceDetector {
    /// Loads the embedded model.
    pub fn new() -> Result<Self, TrackError> {
        let side = DETECTOR_INPUT as usize;
        Ok(Self {
            model: OnnxModel::load("face_detector", MODEL, &[1, side, side, 3])?,
            anchors: face_detector_anchors(),
        })
    }

    /// The best face of `image`, if any scores at least [`MIN_SCORE`].
    pub fn detect(&self, image: &RgbImage) -> Result<Option<Detection>, TrackError> {
        let letterbox = letterbox_roi(image.width(), image.height());
        let pixels = letterbox.crop(image, DETECTOR_INPUT, DETECTOR_INPUT, Border::Zero);
        let input = pixels.iter().map(|&v| f32::from(v) / 127.5 - 1.0).collect();
        let outputs = self.model.run(input)?;
        let [boxes, scores] = outputs.as_slice() else {
            return Err(TrackError::Model {
                model: "face_detector",
                message: format!("expected 2 outputs, got {}", outputs.len()),
            });
        };
        let candidates = decode(boxes, scores, &self.anchors);
        Ok(weighted_nms(candidates).map(|d| to_image(&d, &letterbox)))
    }
}

/// The square region, centred on the image, that letterboxes it (its long side).
fn letterbox_roi(width: u32, height: u32) -> Roi {
    let side = width.max(height) as f32;
    Roi {
        center: [width as f32 / 2.0, height as f32 / 2.0],
        size: [side, side],
        rotation: 0.0,
    }
}

/// Detections above [`MIN_SCORE`], in the detector's normalised square.
fn decode(boxes: &[f32], scores: &[f32], anchors: &[Anchor]) -> Vec<Detection> {
    let scale = DETECTOR_INPUT as f32;
    anchors
        .iter()
        .zip(boxes.chunks_exact(COORDS))
        .zip(scores)
        .filter_map(|((anchor, raw), &logit)| {
            let score = 1.0 / (1.0 + (-logit.clamp(-SCORE_CLIP, SCORE_CLIP)).exp());
            if score < MIN_SCORE {
                return None;
            }
            let cx = raw[0] / scale + anchor.x;
            let cy = raw[1] / scale + anchor.y;
            let (w, h) = (raw[2] / scale, raw[3] / scale);
            let keypoints = std::array::from_fn(|k| {
                [
                    raw[4 + 2 * k] / scale + anchor.x,
                    raw[5 + 2 * k] / scale + anchor.y,
                ]
            });
            Some(Detection {
                bounds: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                keypoints,
                score,
            })
        })
        .collect()
}

/// MediaPipe's weighted non-maximum suppression, first cluster only (one face): the best
/// detection's box and keypoints become the score-weighted mean over every detection that
/// overlaps it by more than [`MIN_SUPPRESSION`] IoU; the score stays the best one's.
fn weighted_nms(mut candidates: Vec<Detection>) -> Option<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let best = candidates.first()?.clone();
    let mut total = 0.0;
    let mut bounds = [0.0f32; 4];
    let mut keypoints = [[0.0f32; 2]; KEYPOINTS];
    for candidate in candidates
        .iter()
        .filter(|c| iou(&c.bounds, &best.bounds) > MIN_SUPPRESSION)
    {
        total += candidate.score;
        for (b, c) in bounds.iter_mut().zip(candidate.bounds) {
            *b += candidate.score * c;
        }
        for (k, c) in keypoints.iter_mut().zip(candidate.keypoints) {
            k[0] += candidate.score * c[0];
            k[1] += candidate.score * c[1];
        }
    }
    Some(Detection {
        bounds: bounds.map(|b| b / total),
        keypoints: keypoints.map(|[x, y]| [x / total, y / total]),
        score: best.score,
    })
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let overlap = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    let intersection = area(&overlap);
    let union = area(a) + area(b) - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

/// Maps a detection from the letterboxed square to image pixels.
fn to_image(detection: &Detection, letterbox: &Roi) -> Detection {
    let map = |[x, y]: [f32; 2]| letterbox.project(x, y);
    let [x0, y0] = map([detection.bounds[0], detection.bounds[1]]);
    let [x1, y1] = map([detection.bounds[2], detection.bounds[3]]);
    Detection {
        bounds: [x0, y0, x1, y1],
        keypoints: detection.keypoints.map(map),
        score: detection.score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(bounds: [f32; 4], score: f32) -> Detection {
        Detection {
            bounds,
            keypoints: [[bounds[0], bounds[1]]; KEYPOINTS],
            score,
        }
    }

    #[test]
    fn weighted_nms_averages_the_overlapping_cluster_only() {
        let merged = weighted_nms(vec![
            detection([0.0, 0.0, 1.0, 1.0], 0.6),
            detection([0.1, 0.0, 1.1, 1.0], 0.9),
            detection([5.0, 5.0, 6.0, 6.0], 0.8),
        ])
        .expect("a detection");
        assert!((merged.score - 0.9).abs() < 1e-6);
        let x0 = (0.6 * 0.0 + 0.9 * 0.1) / 1.5;
        assert!((merged.bounds[0] - x0).abs() < 1e-6);
        assert!((merged.keypoints[0][0] - x0).abs() < 1e-6);
        assert!(weighted_nms(Vec::new()).is_none());
    }

    #[test]
    fn letterbox_maps_the_square_back_to_pixels() {
        let letterbox = letterbox_roi(360, 288);
        assert_eq!(letterbox.project(0.0, 0.0), [0.0, -36.0]);
        assert_eq!(letterbox.project(1.0, 1.0), [360.0, 324.0]);
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
    }
}
