//! Head pose from landmarks, as MediaPipe's face geometry pipeline computes it: the screen
//! landmarks are lifted to metric 3D under a perspective camera (two rounds of scale
//! estimation), then a weighted Procrustes fit (rotation, uniform scale, translation) maps
//! the canonical face onto them. The result is the face-to-camera transform, in the
//! canonical face's centimetres, with an OpenGL camera (x right, y up, looking along −z).

use nalgebra::{Matrix3, Matrix4, Vector3};
use serde::Deserialize;

use crate::error::TrackError;

const CANONICAL: &str = include_str!("../../../assets/face/canonical_face.json");
/// Near plane of MediaPipe's virtual camera (centimetres).
const NEAR: f64 = 1.0;
/// MediaPipe's default vertical field of view (degrees), used by its Face Landmarker.
pub const MEDIAPIPE_FOV_Y_DEGREES: f64 = 63.0;

/// MediaPipe's canonical face: 468 vertices (centimetres; +x to the subject's left, +y up,
/// +z out of the face), its triangles and the Procrustes weights of 33 landmarks.
#[derive(Clone, Debug, Deserialize)]
pub struct CanonicalFace {
    /// The vertices.
    pub vertices: Vec<[f64; 3]>,
    /// Triangles (vertex indices).
    pub triangles: Vec<[u32; 3]>,
    /// (landmark, weight) pairs of the Procrustes fit.
    pub procrustes_weights: Vec<(usize, f64)>,
}

/// A similarity transform: `p ↦ scale · rotation · p + translation`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    /// Uniform scale.
    pub scale: f64,
    /// Rotation.
    pub rotation: Matrix3<f64>,
    /// Translation.
    pub translation: Vector3<f64>,
}

impl Similarity {
    /// The 4×4 matrix.
    pub fn matrix(&self) -> Matrix4<f64> {
        let mut m = Matrix4::identity();
        m.fixed_view_mut::<3, 3>(0, 0)
            .copy_from(&(self.rotation * self.scale));
        m.fixed_view_mut::<3, 1>(0, 3).copy_from(&self.translation);
        m
    }
}

impl CanonicalFace {
    /// The canonical face shipped in `assets/face/canonical_face.json`.
    pub fn mediapipe() -> Result<Self, TrackError> {
        let face: Self = serde_json::from_str(CANONICAL)
            .map_err(|e| TrackError::CanonicalFace(e.to_string()))?;
        let bad_weight = face
            .procrustes_weights
            .iter()
            .any(|&(i, w)| i >= face.vertices.len() || !w.is_finite() || w < 0.0);
        if face.vertices.len() != 468 || bad_weight || face.procrustes_weights.is_empty() {
            return Err(TrackError::CanonicalFace(format!(
                "expected 468 vertices and valid weights, found {} vertices",
                face.vertices.len()
            )));
        }
        Ok(face)
    }

    /// The face-to-camera transform of landmarks given in pixels (x, y, and z at the scale
    /// of x) of a `width`×`height` image seen by a camera of vertical field of view
    /// `fov_y_degrees`. Only the first 468 landmarks (the mesh) are used.
    pub fn face_pose(
        &self,
        landmarks: &[[f32; 3]],
        width: u32,
        height: u32,
        fov_y_degrees: f64,
    ) -> Similarity {
        let height_at_near = 2.0 * NEAR * (fov_y_degrees.to_radians() / 2.0).tan();
        let width_at_near = f64::from(width) * height_at_near / f64::from(height);
        // ProjectXY: normalised screen coordinates onto the near plane (y up), z scaled as x.
        let screen: Vec<Vector3<f64>> = landmarks
            .iter()
            .take(self.vertices.len())
            .map(|p| {
                let x = f64::from(p[0]) / f64::from(width);
                let y = f64::from(p[1]) / f64::from(height);
                let z = f64::from(p[2]) / f64::from(width);
                Vector3::new(
                    x * width_at_near - width_at_near / 2.0,
                    (1.0 - y) * height_at_near - height_at_near / 2.0,
                    z * width_at_near,
                )
            })
            .collect();
        let depth_offset = screen.iter().map(|p| p.z).sum::<f64>() / screen.len() as f64;
        let flipped: Vec<_> = screen
            .iter()
            .map(|p| Vector3::new(p.x, p.y, -p.z))
            .collect();
        let first_scale = self.fit(&flipped).scale;
        let second = self.lift(&screen, depth_offset, first_scale);
        let second_scale = self.fit(&second).scale;
        let metric = self.lift(&screen, depth_offset, first_scale * second_scale);
        self.fit(&metric)
    }

    /// MoveAndRescaleZ, UnprojectXY and the change of handedness.
    fn lift(&self, screen: &[Vector3<f64>], depth_offset: f64, scale: f64) -> Vec<Vector3<f64>> {
        screen
            .iter()
            .map(|p| {
                let z = (p.z - depth_offset + NEAR) / scale;
                Vector3::new(p.x * z / NEAR, p.y * z / NEAR, -z)
            })
            .collect()
    }

    /// The weighted Procrustes fit of the canonical face onto `targets`.
    fn fit(&self, targets: &[Vector3<f64>]) -> Similarity {
        let sources: Vec<WeightedPair> = self
            .procrustes_weights
            .iter()
            .map(|&(i, w)| (Vector3::from(self.vertices[i]), targets[i], w))
            .collect();
        weighted_similarity(&sources)
    }
}

/// A source point, its target and its weight.
pub type WeightedPair = (Vector3<f64>, Vector3<f64>, f64);

/// The similarity minimising Σ wᵢ |s·R·srcᵢ + t − tgtᵢ|² over (src, tgt, w) triples, with
/// R a proper rotation (Umeyama's method with weights).
pub fn weighted_similarity(pairs: &[WeightedPair]) -> Similarity {
    let total: f64 = pairs.iter().map(|p| p.2).sum();
    let mean = |pick: fn(&WeightedPair) -> Vector3<f64>| {
        pairs.iter().map(|p| pick(p) * p.2).sum::<Vector3<f64>>() / total
    };
    let source_mean = mean(|p| p.0);
    let target_mean = mean(|p| p.1);
    let mut covariance = Matrix3::zeros();
    let mut source_variance = 0.0;
    for (s, t, w) in pairs {
        let (cs, ct) = (s - source_mean, t - target_mean);
        covariance += ct * cs.transpose() * *w;
        source_variance += cs.norm_squared() * w;
    }
    let svd = covariance.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Similarity {
            scale: 1.0,
            rotation: Matrix3::identity(),
            translation: target_mean - source_mean,
        };
    };
    let mut correction = Matrix3::identity();
    if (u * v_t).determinant() < 0.0 {
        correction[(2, 2)] = -1.0;
    }
    let rotation = u * correction * v_t;
    let explained: f64 = pairs
        .iter()
        .map(|(s, t, w)| (rotation * (s - source_mean)).dot(&(t - target_mean)) * w)
        .sum();
    let scale = explained / source_variance;
    Similarity {
        scale,
        rotation,
        translation: target_mean - rotation * source_mean * scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Rotation3;

    #[test]
    fn the_procrustes_fit_recovers_a_known_similarity() {
        let rotation = *Rotation3::from_euler_angles(0.2, -0.4, 0.1).matrix();
        let translation = Vector3::new(1.0, -2.0, -30.0);
        let pairs: Vec<_> = (0..12)
            .map(|i| {
                let f = f64::from(i);
                let s = Vector3::new(f.sin() * 5.0, (f * 1.7).cos() * 4.0, (f * 0.3).sin() * 3.0);
                (s, rotation * s * 1.3 + translation, 0.5 + f * 0.1)
            })
            .collect();
        let fit = weighted_similarity(&pairs);
        assert!((fit.scale - 1.3).abs() < 1e-9);
        assert!((fit.rotation - rotation).norm() < 1e-9);
        assert!((fit.translation - translation).norm() < 1e-9);
    }

    #[test]
    fn the_canonical_face_loads_and_fits_its_own_projection() {
        let face = CanonicalFace::mediapipe().expect("the shipped canonical face");
        assert_eq!(face.triangles.len(), 898);
        // Project the canonical face, 40 cm in front of a 63° camera, into a 640×480 image;
        // its pose must come back as the identity rotation.
        let (width, height) = (640u32, 480u32);
        let focal = f64::from(height) / 2.0 / (MEDIAPIPE_FOV_Y_DEGREES.to_radians() / 2.0).tan();
        let landmarks: Vec<[f32; 3]> = face
            .vertices
            .iter()
            .map(|v| {
                let depth = 40.0 - v[2];
                [
                    (f64::from(width) / 2.0 + focal * v[0] / depth) as f32,
                    (f64::from(height) / 2.0 - focal * v[1] / depth) as f32,
                    (-v[2] * focal / 40.0) as f32,
                ]
            })
            .collect();
        let pose = face.face_pose(&landmarks, width, height, MEDIAPIPE_FOV_Y_DEGREES);
        let angle = Rotation3::from_matrix(&pose.rotation).angle().to_degrees();
        assert!(angle < 1.0, "rotation of {angle}° for a frontal face");
        assert!(
            pose.translation.z < 0.0,
            "the face is in front of the camera"
        );
    }
}
