//! Pinhole cameras, camera-to-head poses, rays through pixels and their intersection with
//! the head box.
//!
//! Conventions (shared with the dataset format): head coordinates are metres with +x to the
//! subject's left, +y up and +z out of the face; a pose is the 4×4 camera-to-head matrix,
//! row-major, in the OpenGL/NeRF camera convention (camera +x right, +y up, looking along
//! −z). Pixel (u, v) counts from the top-left corner and its centre is at (u + 0.5, v + 0.5).

use serde::{Deserialize, Serialize};

use crate::config::HeadBox;

/// A pinhole camera in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
}

impl Intrinsics {
    /// A centred camera with the given vertical field of view.
    pub fn from_fov(width: u32, height: u32, fov_y_degrees: f32) -> Self {
        let f = 0.5 * height as f32 / (0.5 * fov_y_degrees.to_radians()).tan();
        Self {
            width,
            height,
            fx: f,
            fy: f,
            cx: 0.5 * width as f32,
            cy: 0.5 * height as f32,
        }
    }

    /// The same camera for an image of another size (focal lengths and centre scale along).
    pub fn resized(&self, width: u32, height: u32) -> Self {
        let sx = width as f32 / self.width as f32;
        let sy = height as f32 / self.height as f32;
        Self {
            width,
            height,
            fx: self.fx * sx,
            fy: self.fy * sy,
            cx: self.cx * sx,
            cy: self.cy * sy,
        }
    }

    /// Whether every value is finite and positive where it must be.
    pub fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && [self.fx, self.fy].iter().all(|f| f.is_finite() && *f > 0.0)
            && self.cx.is_finite()
            && self.cy.is_finite()
    }
}

/// A camera-to-head rigid transform (row-major 4×4; the last row is 0 0 0 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose(pub [[f32; 4]; 4]);

impl Pose {
    /// The camera at `eye`, looking at `target`, with `up` pointing up in the image.
    pub fn look_at(eye: [f32; 3], target: [f32; 3], up: [f32; 3]) -> Self {
        let back = normalize(sub(eye, target));
        let right = normalize(cross(up, back));
        let true_up = cross(back, right);
        let mut m = [[0.0; 4]; 4];
        for r in 0..3 {
            m[r] = [right[r], true_up[r], back[r], eye[r]];
        }
        m[3] = [0.0, 0.0, 0.0, 1.0];
        Self(m)
    }

    /// A camera `distance` away from `target`, turned by `yaw` degrees around the vertical
    /// axis (positive: the camera moves to the subject's left) and `pitch` degrees up.
    pub fn orbit(target: [f32; 3], distance: f32, yaw_degrees: f32, pitch_degrees: f32) -> Self {
        let (yaw, pitch) = (yaw_degrees.to_radians(), pitch_degrees.to_radians());
        let eye = [
            target[0] + distance * pitch.cos() * yaw.sin(),
            target[1] + distance * pitch.sin(),
            target[2] + distance * pitch.cos() * yaw.cos(),
        ];
        Self::look_at(eye, target, [0.0, 1.0, 0.0])
    }

    /// The camera centre in head coordinates.
    pub fn origin(&self) -> [f32; 3] {
        [self.0[0][3], self.0[1][3], self.0[2][3]]
    }

    /// Rotates a camera-space direction into head coordinates.
    pub fn rotate(&self, d: [f32; 3]) -> [f32; 3] {
        let m = &self.0;
        [0, 1, 2].map(|r| m[r][0] * d[0] + m[r][1] * d[1] + m[r][2] * d[2])
    }

    /// The inverse rigid transform (head-to-camera for a camera-to-head pose).
    pub fn inverse(&self) -> Self {
        let m = &self.0;
        let mut inverse = [[0.0; 4]; 4];
        for r in 0..3 {
            for c in 0..3 {
                inverse[r][c] = m[c][r];
            }
            inverse[r][3] = -(0..3).map(|k| m[k][r] * m[k][3]).sum::<f32>();
        }
        inverse[3] = [0.0, 0.0, 0.0, 1.0];
        Self(inverse)
    }

    /// The transform `self · other`: first `other`, then `self`.
    pub fn then_apply(&self, other: &Pose) -> Self {
        let (a, b) = (&self.0, &other.0);
        Self(std::array::from_fn(|r| {
            std::array::from_fn(|c| (0..4).map(|k| a[r][k] * b[k][c]).sum())
        }))
    }

    /// The mean of rigid poses: the mean translation, and the mean rotation matrix projected
    /// back onto the rotations (its polar factor). `None` for no poses, or when the mean
    /// rotation is degenerate (rotations spread over opposite directions).
    pub fn mean(poses: &[Pose]) -> Option<Pose> {
        if poses.is_empty() {
            return None;
        }
        let n = poses.len() as f64;
        let mut sum = [[0.0f64; 4]; 3];
        for pose in poses {
            for (row, source) in sum.iter_mut().zip(&pose.0) {
                for (total, value) in row.iter_mut().zip(source) {
                    *total += f64::from(*value) / n;
                }
            }
        }
        let rotation = nearest_rotation([0, 1, 2].map(|r| [0, 1, 2].map(|c| sum[r][c])))?;
        let mut mean = [[0.0; 4]; 4];
        for r in 0..3 {
            for c in 0..3 {
                mean[r][c] = rotation[r][c] as f32;
            }
            mean[r][3] = sum[r][3] as f32;
        }
        mean[3] = [0.0, 0.0, 0.0, 1.0];
        Some(Pose(mean))
    }

    /// Whether the matrix is finite, its last row is 0 0 0 1 and its 3×3 part is a
    /// rotation (orthonormal, determinant +1) within `tolerance`.
    pub fn is_rigid(&self, tolerance: f32) -> bool {
        let m = &self.0;
        if m.iter().flatten().any(|v| !v.is_finite()) || m[3] != [0.0, 0.0, 0.0, 1.0] {
            return false;
        }
        let col = |c: usize| [m[0][c], m[1][c], m[2][c]];
        let (x, y, z) = (col(0), col(1), col(2));
        let near = |a: f32, b: f32| (a - b).abs() <= tolerance;
        near(dot(x, x), 1.0)
            && near(dot(y, y), 1.0)
            && near(dot(z, z), 1.0)
            && near(dot(x, y), 0.0)
            && near(dot(y, z), 0.0)
            && near(dot(x, z), 0.0)
            && near(dot(cross(x, y), z), 1.0)
    }
}

/// The rotation nearest to `m` (its polar factor), by Newton's iteration
/// `X ← (X + X⁻ᵀ) / 2`; `None` when `m` is singular or not a proper rotation's neighbour.
fn nearest_rotation(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    const ITERATIONS: usize = 30;
    let mut x = m;
    for _ in 0..ITERATIONS {
        let inverse_transpose = inverse_transpose3(&x)?;
        x = std::array::from_fn(|r| {
            std::array::from_fn(|c| 0.5 * (x[r][c] + inverse_transpose[r][c]))
        });
    }
    let det = determinant3(&x);
    (det.is_finite() && det > 0.0).then_some(x)
}

fn determinant3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// `(m⁻¹)ᵀ`: the cofactor matrix over the determinant.
fn inverse_transpose3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = determinant3(m);
    if !det.is_finite() || det.abs() < 1e-12 {
        return None;
    }
    let cofactor = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
    };
    Some(std::array::from_fn(|r| {
        std::array::from_fn(|c| cofactor(r, c) / det)
    }))
}

/// A ray in head coordinates with a unit direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ray {
    /// Start point (the camera centre).
    pub origin: [f32; 3],
    /// Unit direction.
    pub direction: [f32; 3],
}

impl Ray {
    /// The ray through the centre of pixel (`u`, `v`).
    pub fn through_pixel(intrinsics: &Intrinsics, pose: &Pose, u: u32, v: u32) -> Self {
        Self::through_point(intrinsics, pose, u as f32 + 0.5, v as f32 + 0.5)
    }

    /// The ray through the image point (`x`, `y`) in pixels.
    pub fn through_point(intrinsics: &Intrinsics, pose: &Pose, x: f32, y: f32) -> Self {
        let camera_dir = [
            (x - intrinsics.cx) / intrinsics.fx,
            -(y - intrinsics.cy) / intrinsics.fy,
            -1.0,
        ];
        Self {
            origin: pose.origin(),
            direction: normalize(pose.rotate(camera_dir)),
        }
    }

    /// The point at distance `t`.
    pub fn at(&self, t: f32) -> [f32; 3] {
        [0, 1, 2].map(|i| self.origin[i] + t * self.direction[i])
    }

    /// Entry and exit distances through the head box (slab method), clipped to start no
    /// closer than `near`; `None` when the ray misses the box.
    pub fn intersect_box(&self, head_box: &HeadBox, near: f32) -> Option<(f32, f32)> {
        let (mut t0, mut t1) = (near, f32::INFINITY);
        for i in 0..3 {
            let lo = head_box.center[i] - head_box.half_extent;
            let hi = head_box.center[i] + head_box.half_extent;
            let inv = 1.0 / self.direction[i];
            let (a, b) = ((lo - self.origin[i]) * inv, (hi - self.origin[i]) * inv);
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            if a.is_nan() || b.is_nan() {
                // Parallel to this slab: inside it or missing the box entirely.
                if self.origin[i] < lo || self.origin[i] > hi {
                    return None;
                }
                continue;
            }
            t0 = t0.max(a);
            t1 = t1.min(b);
        }
        (t0 < t1).then_some((t0, t1))
    }
}

/// Maps a point of the head box to the unit cube [0, 1]^3 that the grids index.
pub fn to_unit_cube(head_box: &HeadBox, p: [f32; 3]) -> [f32; 3] {
    let size = 2.0 * head_box.half_extent;
    [0, 1, 2].map(|i| (p[i] - head_box.center[i] + head_box.half_extent) / size)
}

pub(crate) fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn normalize(a: [f32; 3]) -> [f32; 3] {
    let n = dot(a, a).sqrt();
    [a[0] / n, a[1] / n, a[2] / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_poses_close(a: &Pose, b: &Pose, tolerance: f32) {
        for (x, y) in a.0.iter().flatten().zip(b.0.iter().flatten()) {
            assert!((x - y).abs() < tolerance, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn inverse_undoes_a_pose() {
        let pose = Pose::orbit([0.1, -0.2, 0.3], 0.8, 25.0, -10.0);
        let identity = Pose([
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        assert_poses_close(&pose.inverse().then_apply(&pose), &identity, 1e-6);
        assert_poses_close(&pose.then_apply(&pose.inverse()), &identity, 1e-6);
    }

    #[test]
    fn mean_of_symmetric_turns_is_the_middle_view() {
        let center = [0.0, 0.0, 0.0];
        let poses: Vec<Pose> = [-15.0, 15.0, -5.0, 5.0]
            .iter()
            .map(|&yaw| Pose::orbit(center, 1.0, yaw, 0.0))
            .collect();
        let mean = Pose::mean(&poses).unwrap();
        assert!(mean.is_rigid(1e-5));
        let rotation_of_front = Pose::orbit(center, 1.0, 0.0, 0.0);
        for r in 0..3 {
            for c in 0..3 {
                assert!((mean.0[r][c] - rotation_of_front.0[r][c]).abs() < 1e-5);
            }
        }
        // The mean translation of points on a circle lies inside it.
        assert!(mean.0[2][3] < 1.0 && mean.0[2][3] > 0.9 && mean.0[0][3].abs() < 1e-6);
        assert_eq!(Pose::mean(&[]), None);
        assert_poses_close(&Pose::mean(&poses[..1]).unwrap(), &poses[0], 1e-6);
    }

    #[test]
    fn centre_pixel_looks_at_the_target() {
        let k = Intrinsics::from_fov(64, 64, 30.0);
        let pose = Pose::orbit([0.0, 0.0, 0.0], 1.0, 20.0, -10.0);
        assert!(pose.is_rigid(1e-5));
        let ray = Ray::through_point(&k, &pose, 32.0, 32.0);
        let p = ray.at(1.0);
        assert!(p.iter().all(|c| c.abs() < 1e-5), "{p:?}");
    }

    #[test]
    fn image_up_is_head_up() {
        let k = Intrinsics::from_fov(64, 64, 30.0);
        let pose = Pose::orbit([0.0; 3], 1.0, 0.0, 0.0);
        let top = Ray::through_pixel(&k, &pose, 32, 0);
        let left = Ray::through_pixel(&k, &pose, 0, 32);
        assert!(top.direction[1] > 0.0);
        // Seen from the front, the image's left is the subject's right (−x).
        assert!(left.direction[0] < 0.0);
    }

    #[test]
    fn box_intersection() {
        let hb = HeadBox {
            center: [0.0; 3],
            half_extent: 0.5,
        };
        let ray = Ray {
            origin: [0.0, 0.0, 2.0],
            direction: [0.0, 0.0, -1.0],
        };
        let (t0, t1) = ray.intersect_box(&hb, 0.0).unwrap();
        assert!((t0 - 1.5).abs() < 1e-6 && (t1 - 2.5).abs() < 1e-6);
        let miss = Ray {
            origin: [2.0, 0.0, 2.0],
            direction: [0.0, 0.0, -1.0],
        };
        assert!(miss.intersect_box(&hb, 0.0).is_none());
        let inside = Ray {
            origin: [0.0; 3],
            direction: [1.0, 0.0, 0.0],
        };
        let (t0, t1) = inside.intersect_box(&hb, 0.1).unwrap();
        assert!((t0 - 0.1).abs() < 1e-6 && (t1 - 0.5).abs() < 1e-6);
    }
}
