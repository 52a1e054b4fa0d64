//! Preview views of an avatar: the camera that `render`, the expression sheet and other
//! previews use when the caller gives only an image size, a turn and a distance.
//!
//! The intrinsics are the training camera's, resized to the image (or a vertical field of
//! view of [`DEFAULT_FOV_DEGREES`] when the avatar records none); the camera orbits the
//! head box centre, by default at the distance where the box's half extent fills half the
//! image height.

use crate::asset::Avatar;
use crate::camera::{Intrinsics, Pose};

/// Vertical field of view used when the avatar records no training camera.
pub const DEFAULT_FOV_DEGREES: f32 = 20.0;

/// Largest image side a preview may ask for.
pub const MAX_SIDE: u32 = 8192;

/// A preview camera request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PortraitView {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Turn around the head's vertical axis in degrees (positive: the subject's left).
    pub yaw_degrees: f32,
    /// Elevation in degrees, strictly between −90 and 90.
    pub pitch_degrees: f32,
    /// Distance from the head box centre in metres; `None` frames the head box.
    pub distance: Option<f32>,
}

/// Why a preview view cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum PortraitError {
    /// The image size is zero or too large.
    #[error("the image size {width}×{height} is not within 1..={MAX_SIDE} on each side")]
    Size {
        /// Width asked for.
        width: u32,
        /// Height asked for.
        height: u32,
    },
    /// The distance is not a positive number.
    #[error("the camera distance must be a positive number of metres, got {0}")]
    Distance(f32),
    /// The turn or elevation is not finite, or the elevation reaches ±90°.
    #[error(
        "yaw must be finite and pitch strictly between -90 and 90 degrees (got {yaw}, {pitch})"
    )]
    Angles {
        /// Yaw asked for.
        yaw: f32,
        /// Pitch asked for.
        pitch: f32,
    },
}

impl PortraitView {
    /// A front view of `width × height` pixels framing the head box.
    pub fn front(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            yaw_degrees: 0.0,
            pitch_degrees: 0.0,
            distance: None,
        }
    }

    /// The intrinsics and camera-to-head pose of this view of `avatar`.
    pub fn camera(&self, avatar: &Avatar) -> Result<(Intrinsics, Pose), PortraitError> {
        let (width, height) = (self.width, self.height);
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(PortraitError::Size { width, height });
        }
        let (yaw, pitch) = (self.yaw_degrees, self.pitch_degrees);
        if !(yaw.is_finite() && pitch.is_finite()) || pitch.abs() >= 90.0 {
            return Err(PortraitError::Angles { yaw, pitch });
        }
        let intrinsics = match avatar.intrinsics {
            Some(trained) => trained.resized(width, height),
            None => Intrinsics::from_fov(width, height, DEFAULT_FOV_DEGREES),
        };
        let head_box = avatar.config.head_box;
        let distance = match self.distance {
            Some(d) if d.is_finite() && d > 0.0 => d,
            Some(d) => return Err(PortraitError::Distance(d)),
            None => {
                let half_fov = (0.5 * height as f32 / intrinsics.fy).atan();
                head_box.half_extent / half_fov.tan()
            }
        };
        Ok((
            intrinsics,
            Pose::orbit(head_box.center, distance, yaw, pitch),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn tiny_avatar() -> Avatar {
        let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".to_owned()]);
        Avatar::new(config, 1).expect("avatar")
    }

    #[test]
    fn front_view_frames_the_head_box() {
        let avatar = tiny_avatar();
        let (intrinsics, pose) = PortraitView::front(64, 48).camera(&avatar).expect("view");
        assert_eq!((intrinsics.width, intrinsics.height), (64, 48));
        let head_box = avatar.config.head_box;
        let eye = pose.origin();
        let offset: Vec<f32> = (0..3).map(|i| eye[i] - head_box.center[i]).collect();
        assert!(offset[0].abs() < 1e-5 && offset[1].abs() < 1e-5 && offset[2] > 0.0);
        // The box's half extent spans half the image height at the centre's depth.
        let projected = intrinsics.fy * head_box.half_extent / offset[2];
        assert!((projected - 24.0).abs() < 1e-3, "{projected}");
    }

    #[test]
    fn bad_views_are_refused() {
        let avatar = tiny_avatar();
        let bad = |view: PortraitView| view.camera(&avatar).unwrap_err();
        let front = PortraitView::front(32, 32);
        assert!(matches!(
            bad(PortraitView { width: 0, ..front }),
            PortraitError::Size { .. }
        ));
        assert!(matches!(
            bad(PortraitView {
                pitch_degrees: 90.0,
                ..front
            }),
            PortraitError::Angles { .. }
        ));
        assert!(matches!(
            bad(PortraitView {
                yaw_degrees: f32::NAN,
                ..front
            }),
            PortraitError::Angles { .. }
        ));
        assert_eq!(
            bad(PortraitView {
                distance: Some(-1.0),
                ..front
            }),
            PortraitError::Distance(-1.0)
        );
    }
}
