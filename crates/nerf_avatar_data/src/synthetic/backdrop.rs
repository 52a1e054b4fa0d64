//! The static background of the synthetic video: a vertical gradient with soft blobs and a
//! faint texture, so that background pixels carry structure (like a real room) without
//! depending on the camera.

use image::{Rgb, RgbImage};

use super::noise::value_noise;
use super::sdf::{mix, smoothstep};

/// Soft discs of the backdrop: centre and radius as fractions of the image height, colour.
const BLOBS: [([f32; 2], f32, [f32; 3]); 4] = [
    ([0.18, 0.25], 0.22, [0.55, 0.66, 0.78]),
    ([0.85, 0.7], 0.3, [0.74, 0.7, 0.58]),
    ([0.6, 0.12], 0.12, [0.82, 0.8, 0.76]),
    ([0.1, 0.9], 0.2, [0.46, 0.55, 0.5]),
];

/// The backdrop image at the given size (deterministic; the pattern scales with the size).
pub fn backdrop(width: u32, height: u32) -> RgbImage {
    let scale = height.max(1) as f32;
    RgbImage::from_fn(width, height, |u, v| {
        let (x, y) = ((u as f32 + 0.5) / scale, (v as f32 + 0.5) / scale);
        let mut color = mix([0.62, 0.68, 0.74], [0.36, 0.4, 0.46], y);
        for (center, radius, blob) in BLOBS {
            let r = ((x - center[0]).powi(2) + (y - center[1]).powi(2)).sqrt();
            color = mix(color, blob, 0.6 * smoothstep(radius, 0.6 * radius, r));
        }
        let grain = value_noise([x * 40.0, y * 40.0, 0.5], 51) - 0.5;
        Rgb(color.map(|c| {
            ((c * (1.0 + 0.1 * grain)) * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8
        }))
    })
}
