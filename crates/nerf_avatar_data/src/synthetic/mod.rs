//! A procedural, textured, volumetric talking head rendered exactly on the CPU: the ground
//! truth that tests, demos and benchmarks train and measure against.
//!
//! The head is a signed distance field (module `face`) turned into density by a soft step,
//! `σ(p) = σ_max · smoothstep(w, −w, sdf(p))` with [`DENSITY_MAX`] and half-width
//! [`SURFACE_HALF_WIDTH`], coloured by procedural textures under a light fixed to the head.
//! [`SyntheticHead::render`] composites it like the NeRF does (docs/METHOD.md §2): sphere tracing
//! skips empty space, and within [`BAND`] (2 mm) of the surface the ray is integrated in
//! steps of [`STEP`] (0.3 mm) with `α = 1 − exp(−σ δ)` and transmittance products, until
//! the transmittance falls below [`MIN_TRANSMITTANCE`]. [`motion`] makes a seeded
//! talking-head video (poses, expressions, train/test split) and [`backdrop`] its static
//! background.

pub mod backdrop;
mod face;
pub mod motion;
mod noise;
mod sdf;

use image::{GrayImage, Luma, RgbImage};
use rayon::prelude::*;

use face::{Controls, FieldPoint, LIPSCHITZ, albedo, field};
use nerf_avatar::camera::{Intrinsics, Pose, Ray};
use nerf_avatar::config::HeadBox;
use sdf::{Vec3, dot, normalize, smoothstep, sub};

/// Density deep inside the head, per metre.
pub const DENSITY_MAX: f32 = 4000.0;
/// Half-width of the density's soft step around the surface, in metres.
pub const SURFACE_HALF_WIDTH: f32 = 0.00075;
/// Distance from the surface within which rays are integrated densely, in metres.
pub const BAND: f32 = 0.002;
/// Integration step inside the band, in metres.
pub const STEP: f32 = 0.0003;
/// Transmittance below which a ray stops.
pub const MIN_TRANSMITTANCE: f32 = 1e-4;

/// Direction towards the key light, fixed to the head.
const LIGHT_DIRECTION: Vec3 = [0.38, 0.55, 0.74];

/// Errors of the synthetic renderer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyntheticError {
    /// The background image does not have the camera's size.
    #[error("background is {found_width}×{found_height} but the camera is {width}×{height}")]
    BackgroundSize {
        /// Camera width.
        width: u32,
        /// Camera height.
        height: u32,
        /// Background width.
        found_width: u32,
        /// Background height.
        found_height: u32,
    },
}

/// A rendered frame: colour over the background, and the head's alpha.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticFrame {
    /// The head composited over the background.
    pub rgb: RgbImage,
    /// `1 − T_end` per pixel, row-major.
    pub alpha: Vec<f32>,
}

impl SyntheticFrame {
    /// The alpha as an 8-bit mask (0 background, 255 head).
    pub fn mask(&self) -> GrayImage {
        let (width, height) = self.rgb.dimensions();
        GrayImage::from_fn(width, height, |u, v| {
            let a = self.alpha[(v * width + u) as usize];
            Luma([(a * 255.0).round().clamp(0.0, 255.0) as u8])
        })
    }
}

/// The procedural talking head.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyntheticHead {
    head_box: HeadBox,
}

impl SyntheticHead {
    /// The ARKit names of the expression controls, in the order of expression vectors.
    pub const CONTROLS: [&'static str; 7] = face::CONTROL_NAMES;

    /// The head inside the default head box.
    pub fn new() -> Self {
        Self {
            head_box: HeadBox::default(),
        }
    }

    /// The box the head lies in (the dataset's head box).
    pub fn head_box(&self) -> HeadBox {
        self.head_box
    }

    /// Density (per metre) and colour (linear [0, 1] RGB, lit) at a point in head
    /// coordinates under an expression in [`Self::CONTROLS`] order (missing values are 0,
    /// values are clamped to [0, 1]).
    pub fn sample(&self, p: [f32; 3], expression: &[f32]) -> (f32, [f32; 3]) {
        let controls = Controls::from_expression(expression);
        let point = field(p, &controls);
        let sigma = density(point.distance);
        (
            sigma,
            shade(&point, p, surface_normal(p, &controls), &controls),
        )
    }

    /// Renders the head from `pose` over `background` (which must have the camera's size).
    pub fn render(
        &self,
        intrinsics: &Intrinsics,
        pose: &Pose,
        expression: &[f32],
        background: &RgbImage,
    ) -> Result<SyntheticFrame, SyntheticError> {
        let (width, height) = (intrinsics.width, intrinsics.height);
        if background.dimensions() != (width, height) {
            return Err(SyntheticError::BackgroundSize {
                width,
                height,
                found_width: background.width(),
                found_height: background.height(),
            });
        }
        let controls = Controls::from_expression(expression);
        let rows: Vec<Vec<([f32; 3], f32)>> = (0..height)
            .into_par_iter()
            .map(|v| {
                (0..width)
                    .map(|u| self.trace(&Ray::through_pixel(intrinsics, pose, u, v), &controls))
                    .collect()
            })
            .collect();
        let mut rgb = RgbImage::new(width, height);
        let mut alpha = Vec::with_capacity((width * height) as usize);
        for (v, row) in rows.into_iter().enumerate() {
            for (u, (color, transmittance)) in row.into_iter().enumerate() {
                let bg = background.get_pixel(u as u32, v as u32).0;
                let pixel = [0, 1, 2].map(|i| {
                    let c = color[i] + transmittance * f32::from(bg[i]) / 255.0;
                    (c * 255.0).round().clamp(0.0, 255.0) as u8
                });
                rgb.put_pixel(u as u32, v as u32, image::Rgb(pixel));
                alpha.push(1.0 - transmittance);
            }
        }
        Ok(SyntheticFrame { rgb, alpha })
    }

    /// The face's bounding box in pixels (x0, y0, x1, y1), clipped to the image.
    pub fn face_box(&self, intrinsics: &Intrinsics, pose: &Pose, expression: &[f32]) -> [f32; 4] {
        let controls = Controls::from_expression(expression);
        project_box(intrinsics, pose, &face::face_outline(&controls))
    }

    /// The mouth's bounding box in pixels (x0, y0, x1, y1), clipped to the image.
    pub fn mouth_box(&self, intrinsics: &Intrinsics, pose: &Pose, expression: &[f32]) -> [f32; 4] {
        let controls = Controls::from_expression(expression);
        project_box(intrinsics, pose, &face::mouth_outline(&controls))
    }

    /// Integrates one ray: premultiplied colour and the final transmittance. The normal that
    /// lights a ray is taken once, at its first sample with density (the samples that
    /// follow lie within a millimetre or two), which makes rendering several times faster
    /// than lighting every sample with its own normal as [`Self::sample`] does.
    fn trace(&self, ray: &Ray, controls: &Controls) -> ([f32; 3], f32) {
        let mut color = [0.0; 3];
        let mut transmittance = 1.0;
        let mut ray_normal = None;
        let Some((mut t, t_end)) = ray.intersect_box(&self.head_box, 0.0) else {
            return (color, transmittance);
        };
        while t < t_end {
            let p = ray.at(t);
            let point = field(p, controls);
            if point.distance >= BAND {
                t += (point.distance - SURFACE_HALF_WIDTH) / LIPSCHITZ;
                continue;
            }
            let sigma = density(point.distance);
            if sigma > 0.0 {
                let alpha = 1.0 - (-sigma * STEP).exp();
                let normal = *ray_normal.get_or_insert_with(|| surface_normal(p, controls));
                let c = shade(&point, p, normal, controls);
                for i in 0..3 {
                    color[i] += transmittance * alpha * c[i];
                }
                transmittance *= 1.0 - alpha;
                if transmittance < MIN_TRANSMITTANCE {
                    break;
                }
            }
            t += STEP;
        }
        (color, transmittance)
    }
}

/// The density of a point at signed distance `distance` from the surface.
fn density(distance: f32) -> f32 {
    DENSITY_MAX * smoothstep(SURFACE_HALF_WIDTH, -SURFACE_HALF_WIDTH, distance)
}

/// The lit colour of a field point with surface normal `normal`: albedo under an ambient
/// term and one head-fixed light.
fn shade(point: &FieldPoint, p: Vec3, normal: Vec3, controls: &Controls) -> Vec3 {
    let light = dot(normal, normalize(LIGHT_DIRECTION)).max(0.0);
    let brightness = 0.5 + 0.6 * light;
    albedo(point, p, controls).map(|v| (v * brightness).clamp(0.0, 1.0))
}

/// The field's normalised gradient by tetrahedral differences over 0.5 mm.
fn surface_normal(p: Vec3, controls: &Controls) -> Vec3 {
    const H: f32 = 0.0005;
    let offsets = [
        [1.0, -1.0, -1.0],
        [-1.0, -1.0, 1.0],
        [-1.0, 1.0, -1.0],
        [1.0, 1.0, 1.0],
    ];
    let mut gradient = [0.0; 3];
    for k in offsets {
        let d = field([0, 1, 2].map(|i| p[i] + H * k[i]), controls).distance;
        for i in 0..3 {
            gradient[i] += k[i] * d;
        }
    }
    normalize(gradient)
}

/// Projects a head point to pixels; `None` behind the camera.
fn project(intrinsics: &Intrinsics, pose: &Pose, p: Vec3) -> Option<[f32; 2]> {
    let m = &pose.0;
    let d = sub(p, pose.origin());
    let camera = [0, 1, 2].map(|c| m[0][c] * d[0] + m[1][c] * d[1] + m[2][c] * d[2]);
    (camera[2] < 0.0).then(|| {
        [
            intrinsics.cx + intrinsics.fx * camera[0] / -camera[2],
            intrinsics.cy - intrinsics.fy * camera[1] / -camera[2],
        ]
    })
}

/// The bounding box of the projected points, clipped to the image.
fn project_box(intrinsics: &Intrinsics, pose: &Pose, points: &[Vec3]) -> [f32; 4] {
    let (w, h) = (intrinsics.width as f32, intrinsics.height as f32);
    let mut b = [
        f32::INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    for xy in points.iter().filter_map(|&p| project(intrinsics, pose, p)) {
        b = [
            b[0].min(xy[0]),
            b[1].min(xy[1]),
            b[2].max(xy[0]),
            b[3].max(xy[1]),
        ];
    }
    if !b.iter().all(|v| v.is_finite()) {
        return [0.0; 4];
    }
    [
        b[0].clamp(0.0, w),
        b[1].clamp(0.0, h),
        b[2].clamp(0.0, w),
        b[3].clamp(0.0, h),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_inverts_the_pixel_ray() {
        let k = Intrinsics::from_fov(64, 48, 20.0);
        let pose = Pose::orbit([0.0; 3], 0.9, 15.0, -5.0);
        let ray = Ray::through_point(&k, &pose, 10.5, 30.25);
        let xy = project(&k, &pose, ray.at(0.8)).unwrap();
        assert!(
            (xy[0] - 10.5).abs() < 1e-3 && (xy[1] - 30.25).abs() < 1e-3,
            "{xy:?}"
        );
    }

    #[test]
    fn density_is_a_soft_step() {
        assert_eq!(density(SURFACE_HALF_WIDTH), 0.0);
        assert_eq!(density(-SURFACE_HALF_WIDTH), DENSITY_MAX);
        assert_eq!(density(0.0), 0.5 * DENSITY_MAX);
    }
}
