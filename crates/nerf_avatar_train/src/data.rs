//! The training split held in memory (8-bit, as read) and the sampling of ray batches:
//! uniform over the image, with a share of rays drawn inside the mouth box and the face box
//! ("mouth-biased sampling", docs/METHOD.md §4), and square patches for the perceptual loss.

use rand::Rng;

use nerf_avatar::camera::{Intrinsics, Pose, Ray};
use nerf_avatar_data::{Dataset, DatasetError, Split};

/// One training frame.
#[derive(Clone, Debug)]
pub struct TrainingFrame {
    /// Index of the frame in the dataset.
    pub index: usize,
    /// Camera-to-head pose.
    pub pose: Pose,
    /// Expression coefficients, in the order of the dataset's blendshapes.
    pub weights: Vec<f32>,
    /// RGB, row-major, 3 bytes per pixel.
    pub rgb: Vec<u8>,
    /// Head mask, one byte per pixel.
    pub mask: Vec<u8>,
    /// Face box in pixels (x0, y0, x1, y1).
    pub face_box: [f32; 4],
    /// Mouth box in pixels (x0, y0, x1, y1).
    pub mouth_box: [f32; 4],
}

/// The frames of one split, with the camera and the static background.
#[derive(Clone, Debug)]
pub struct TrainingData {
    /// The camera of every frame.
    pub intrinsics: Intrinsics,
    /// Background RGB per pixel, in [0, 1].
    pub background: Vec<[f32; 3]>,
    /// The frames.
    pub frames: Vec<TrainingFrame>,
}

/// Where a batch's rays come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingShares {
    /// Share of rays drawn inside the mouth box.
    pub mouth: f32,
    /// Share of rays drawn inside the face box.
    pub face: f32,
}

impl Default for SamplingShares {
    /// A quarter in the mouth box, a quarter in the face box, half over the whole image.
    fn default() -> Self {
        Self {
            mouth: 0.25,
            face: 0.25,
        }
    }
}

/// Rays of one frame with their targets.
#[derive(Clone, Debug, Default)]
pub struct RayTargets {
    /// The rays.
    pub rays: Vec<Ray>,
    /// Target colour per ray.
    pub color: Vec<[f32; 3]>,
    /// Target mask per ray.
    pub mask: Vec<f32>,
    /// Background behind each ray.
    pub background: Vec<[f32; 3]>,
}

impl TrainingData {
    /// Reads every frame of `split` into memory.
    pub fn load(dataset: &Dataset, split: Split) -> Result<Self, DatasetError> {
        let t = &dataset.transforms;
        let background = dataset
            .read_background()?
            .pixels()
            .map(|p| p.0.map(|c| f32::from(c) / 255.0))
            .collect();
        let frames = t
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.split == split)
            .map(|(index, f)| {
                Ok(TrainingFrame {
                    index,
                    pose: f.pose(),
                    weights: f.expression.clone(),
                    rgb: dataset.read_image(index)?.into_raw(),
                    mask: dataset.read_mask(index)?.into_raw(),
                    face_box: f.face_box,
                    mouth_box: f.mouth_box,
                })
            })
            .collect::<Result<Vec<_>, DatasetError>>()?;
        Ok(Self {
            intrinsics: t.intrinsics(),
            background,
            frames,
        })
    }

    /// The ray through pixel (`u`, `v`) of `frame` with its targets.
    fn push_pixel(&self, frame: &TrainingFrame, u: u32, v: u32, out: &mut RayTargets) {
        let i = (v * self.intrinsics.width + u) as usize;
        out.rays
            .push(Ray::through_pixel(&self.intrinsics, &frame.pose, u, v));
        out.color.push(std::array::from_fn(|c| {
            f32::from(frame.rgb[3 * i + c]) / 255.0
        }));
        out.mask.push(f32::from(frame.mask[i]) / 255.0);
        out.background.push(self.background[i]);
    }

    /// `count` rays of `frame`: the shares in the mouth and face boxes, the rest anywhere.
    pub fn sample_rays(
        &self,
        frame: &TrainingFrame,
        count: usize,
        shares: SamplingShares,
        rng: &mut impl Rng,
    ) -> RayTargets {
        let (w, h) = (self.intrinsics.width, self.intrinsics.height);
        let whole = [0.0, 0.0, w as f32, h as f32];
        let in_mouth = (count as f32 * shares.mouth).round() as usize;
        let in_face = (count as f32 * shares.face).round() as usize;
        let mut out = RayTargets::default();
        for k in 0..count {
            let area = if k < in_mouth {
                frame.mouth_box
            } else if k < in_mouth + in_face {
                frame.face_box
            } else {
                whole
            };
            let (u, v) = pixel_in(area, w, h, rng);
            self.push_pixel(frame, u, v, &mut out);
        }
        out
    }

    /// A `size`×`size` patch of `frame` (rays row-major), inside the mouth box or the face
    /// box with equal chance, kept inside the image.
    pub fn sample_patch(&self, frame: &TrainingFrame, size: u32, rng: &mut impl Rng) -> RayTargets {
        let (w, h) = (self.intrinsics.width, self.intrinsics.height);
        let area = if rng.random_bool(0.5) {
            frame.mouth_box
        } else {
            frame.face_box
        };
        let (cu, cv) = pixel_in(area, w, h, rng);
        let x0 = cu.saturating_sub(size / 2).min(w.saturating_sub(size));
        let y0 = cv.saturating_sub(size / 2).min(h.saturating_sub(size));
        let mut out = RayTargets::default();
        for v in y0..(y0 + size).min(h) {
            for u in x0..(x0 + size).min(w) {
                self.push_pixel(frame, u, v, &mut out);
            }
        }
        out
    }
}

/// A random pixel inside `area` (x0, y0, x1, y1), clipped to the image; the whole image
/// when the area is empty.
fn pixel_in(area: [f32; 4], w: u32, h: u32, rng: &mut impl Rng) -> (u32, u32) {
    let clip = |lo: f32, hi: f32, size: u32| {
        let lo = (lo.floor().max(0.0) as u32).min(size - 1);
        let hi = (hi.ceil().max(0.0) as u32).min(size);
        if hi > lo { (lo, hi) } else { (0, size) }
    };
    let (x0, x1) = clip(area[0], area[2], w);
    let (y0, y1) = clip(area[1], area[3], h);
    (rng.random_range(x0..x1), rng.random_range(y0..y1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn pixels_stay_inside_their_area_and_the_image() {
        let mut rng = Pcg64::seed_from_u64(1);
        for _ in 0..1000 {
            let (u, v) = pixel_in([10.2, 20.0, 15.9, 22.0], 64, 64, &mut rng);
            assert!((10..16).contains(&u) && (20..22).contains(&v));
            let (u, v) = pixel_in([-5.0, 60.0, 200.0, 90.0], 64, 64, &mut rng);
            assert!(u < 64 && (60..64).contains(&v));
            let (u, v) = pixel_in([30.0, 30.0, 30.0, 30.0], 64, 64, &mut rng);
            assert!(u < 64 && v < 64);
        }
    }
}
