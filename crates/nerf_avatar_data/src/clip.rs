//! A dataset's frames as an expression clip (coefficients and camera poses over time), to
//! replay a tracked video on an avatar.

use nerf_avatar::camera::Pose;
use nerf_avatar::clip::{ClipError, ExpressionClip, MAX_CLIP_FRAMES, PoseTrack, check_frame_rate};

use crate::{Dataset, Split};

impl Dataset {
    /// The clip of the dataset's frames, in the file's order: their coefficients and camera
    /// poses, with the training split's range and mean pose. Frames are timed by their
    /// source frame index at `frame_rate` (by their position when the indices do not
    /// increase).
    pub fn expression_clip(&self, frame_rate: f32) -> Result<ExpressionClip, ClipError> {
        check_frame_rate(frame_rate)?;
        let t = &self.transforms;
        if t.frames.is_empty() {
            return Err(ClipError::Empty {
                path: self.root.clone(),
            });
        }
        if t.frames.len() > MAX_CLIP_FRAMES {
            return Err(ClipError::TooLong {
                path: self.root.clone(),
            });
        }
        let sources: Vec<u64> = t.frames.iter().map(|frame| frame.source_frame).collect();
        let times = if sources.windows(2).all(|pair| pair[0] < pair[1]) {
            sources
                .iter()
                .map(|&source| (source - sources[0]) as f32 / frame_rate)
                .collect()
        } else {
            (0..sources.len()).map(|i| i as f32 / frame_rate).collect()
        };
        let poses: Vec<Pose> = t.frames.iter().map(|frame| frame.pose()).collect();
        let training: Vec<Pose> = t
            .frames
            .iter()
            .zip(&poses)
            .filter(|(frame, _)| frame.split == Split::Train)
            .map(|(_, pose)| *pose)
            .collect();
        let mean = Pose::mean(if training.is_empty() {
            &poses
        } else {
            &training
        });
        Ok(ExpressionClip {
            names: t.blendshapes.clone(),
            times,
            frames: t
                .frames
                .iter()
                .map(|frame| frame.expression.clone())
                .collect(),
            poses: mean.map(|mean| PoseTrack {
                poses,
                mean,
                head_center: t.head_box.center,
            }),
            low: t.expression_min.clone(),
            high: t.expression_max.clone(),
            ignored_columns: Vec::new(),
        })
    }
}
