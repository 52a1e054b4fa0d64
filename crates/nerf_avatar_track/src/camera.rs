//! The dataset's camera and poses: one pinhole camera for the whole video, the square crop
//! that frames the head, and camera-to-head poses in the project's conventions (metres,
//! OpenGL camera; the head is still and the camera moves).
//!
//! The focal length cannot be recovered from a monocular talking head, so it is chosen: a
//! vertical field of view (default [`DEFAULT_FOV_Y_DEGREES`]) over the source frame's height,
//! or a focal length in source pixels given by the user. The same camera is used to lift
//! the landmarks to 3D ([`crate::geometry`]), so poses and intrinsics agree.

use nalgebra::{Matrix3, Vector3};
use nerf_avatar::config::HeadBox;
use nerf_avatar::{Intrinsics, Pose};

use crate::geometry::Similarity;

/// Default vertical field of view of the source camera, in degrees: a camera framing a head
/// and shoulders from about a metre.
pub const DEFAULT_FOV_Y_DEGREES: f64 = 30.0;

/// The head box in the canonical face's frame (metres): the face spans x ±0.077, y −0.094
/// (chin) to 0.083 (forehead) and z −0.024 to 0.076 (nose tip); the cube reaches 0.15 m
/// behind the nose tip for the back of the head and 0.145 m above the face centre for the
/// hair.
pub const HEAD_BOX: HeadBox = HeadBox {
    center: [0.0, 0.015, -0.02],
    half_extent: 0.13,
};

/// The camera of the source video.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceCamera {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Focal length in pixels.
    pub focal: f64,
}

impl SourceCamera {
    /// A camera with the given vertical field of view.
    pub fn from_fov(width: u32, height: u32, fov_y_degrees: f64) -> Self {
        Self {
            width,
            height,
            focal: f64::from(height) / 2.0 / (fov_y_degrees.to_radians() / 2.0).tan(),
        }
    }

    /// The vertical field of view in degrees.
    pub fn fov_y_degrees(&self) -> f64 {
        (2.0 * (f64::from(self.height) / 2.0 / self.focal).atan()).to_degrees()
    }
}

/// The square crop of the source frames that the dataset keeps, and its output size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    /// Left edge in source pixels.
    pub x0: u32,
    /// Top edge in source pixels.
    pub y0: u32,
    /// Side in source pixels.
    pub side: u32,
    /// Side of the dataset's images in pixels.
    pub size: u32,
}

impl Crop {
    /// The largest square of the frame, centred as close to `center` (source pixels) as
    /// the frame allows.
    pub fn around(center: [f32; 2], width: u32, height: u32, size: u32) -> Self {
        let side = width.min(height);
        let place = |c: f32, extent: u32| {
            let start = (c - side as f32 / 2.0).round().max(0.0) as u32;
            start.min(extent - side)
        };
        Self {
            x0: place(center[0], width),
            y0: place(center[1], height),
            side,
            size,
        }
    }

    /// Source pixels per dataset pixel.
    pub fn scale(&self) -> f32 {
        self.size as f32 / self.side as f32
    }

    /// A source point (MediaPipe's coordinates, pixel centres on integers) in dataset
    /// pixels (pixel centres at half-integers).
    pub fn to_dataset(&self, point: [f32; 2]) -> [f32; 2] {
        [
            (point[0] + 0.5 - self.x0 as f32) * self.scale(),
            (point[1] + 0.5 - self.y0 as f32) * self.scale(),
        ]
    }

    /// The dataset camera: the source camera, its centre moved by the crop and everything
    /// scaled to the output size.
    pub fn intrinsics(&self, camera: &SourceCamera) -> Intrinsics {
        let scale = self.scale();
        let focal = camera.focal as f32 * scale;
        Intrinsics {
            width: self.size,
            height: self.size,
            fx: focal,
            fy: focal,
            cx: (camera.width as f32 / 2.0 - self.x0 as f32) * scale,
            cy: (camera.height as f32 / 2.0 - self.y0 as f32) * scale,
        }
    }
}

/// The camera-to-head pose of a face-to-camera fit (centimetres, OpenGL camera): the
/// inverse rigid transform, in metres. The fit's scale is dropped: the head is taken to be
/// the canonical face's size, and the camera distance carries the rest.
pub fn camera_to_head(face_to_camera: &Similarity) -> Pose {
    let rotation: Matrix3<f64> = face_to_camera.rotation.transpose();
    let centre: Vector3<f64> = -(rotation * face_to_camera.translation) / 100.0;
    let mut m = [[0.0f32; 4]; 4];
    for (i, row) in m.iter_mut().take(3).enumerate() {
        for (j, value) in row.iter_mut().take(3).enumerate() {
            *value = rotation[(i, j)] as f32;
        }
        row[3] = centre[i] as f32;
    }
    m[3][3] = 1.0;
    Pose(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    #[test]
    fn the_crop_is_the_largest_square_kept_inside_the_frame() {
        let crop = Crop::around([340.0, 100.0], 360, 288, 256);
        assert_eq!((crop.x0, crop.y0, crop.side), (72, 0, 288));
        let intrinsics = crop.intrinsics(&SourceCamera::from_fov(360, 288, 30.0));
        assert!((intrinsics.cx - (180.0 - 72.0) * 256.0 / 288.0).abs() < 1e-4);
        let camera = SourceCamera::from_fov(360, 288, 30.0);
        assert!((camera.fov_y_degrees() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn camera_to_head_inverts_the_face_pose() {
        let fit = Similarity {
            scale: 1.02,
            rotation: *Rotation3::from_euler_angles(0.1, 0.3, -0.05).matrix(),
            translation: Vector3::new(2.0, -1.0, -60.0),
        };
        let pose = camera_to_head(&fit);
        // The camera centre maps back to the camera origin.
        let centre = Vector3::from(pose.origin().map(f64::from)) * 100.0;
        let back = fit.rotation * centre + fit.translation;
        assert!(back.norm() < 1e-3, "{back}");
        assert!(pose.is_rigid(1e-5));
    }
}
