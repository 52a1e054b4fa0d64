//! Regions of interest: rotated rectangles in pixels, MediaPipe's rules for making them from
//! a detection or from landmarks, and the crop of a region into a model's input tensor.
//!
//! Conventions follow MediaPipe's CPU image-to-tensor path (OpenCV `warpPerspective`,
//! bilinear, coordinates where pixel (u, v) has its centre at (u, v)): output pixel (j, i)
//! of a W×H tensor samples the rectangle's local point ((j/W − ½)·width, (i/H − ½)·height),
//! rotated by `rotation` (radians, clockwise in the image, since y points down).

use image::RgbImage;
use rayon::prelude::*;

/// A rotated rectangle in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    /// Centre x, y.
    pub center: [f32; 2],
    /// Width and height before rotation.
    pub size: [f32; 2],
    /// Rotation in radians.
    pub rotation: f32,
}

/// What the crop reads outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// Zeros (the detector's letterbox).
    Zero,
    /// The nearest edge pixel (the landmark model's crops).
    Replicate,
}

impl Roi {
    /// Maps a point of the tensor, normalised to [0, 1]², to image pixels the way
    /// MediaPipe's `LandmarkProjectionCalculator` does: it rotates in normalised units and
    /// then scales x by the width and y by the height (the same as a true rotation when the
    /// region is square, which tracked regions are).
    pub fn project(&self, x: f32, y: f32) -> [f32; 2] {
        let (sin, cos) = self.rotation.sin_cos();
        let (dx, dy) = (x - 0.5, y - 0.5);
        [
            self.center[0] + (cos * dx - sin * dy) * self.size[0],
            self.center[1] + (sin * dx + cos * dy) * self.size[1],
        ]
    }

    /// MediaPipe's `RectTransformationCalculator` without shift: optionally squares the
    /// region on its long side (in pixels), then scales it.
    pub fn transformed(&self, scale: f32, square_long: bool) -> Self {
        let [mut width, mut height] = self.size;
        if square_long {
            let long = width.max(height);
            (width, height) = (long, long);
        }
        Self {
            center: self.center,
            size: [width * scale, height * scale],
            rotation: self.rotation,
        }
    }

    /// The bounding box of `points` (pixels) as a region, rotated so that the line from
    /// `points[start]` to `points[end]` becomes horizontal (MediaPipe's
    /// `DetectionsToRectsCalculator` with a target angle of 0).
    pub fn from_box_and_eyes(bounds: [f32; 4], start: [f32; 2], end: [f32; 2]) -> Self {
        let [x0, y0, x1, y1] = bounds;
        Self {
            center: [(x0 + x1) / 2.0, (y0 + y1) / 2.0],
            size: [x1 - x0, y1 - y0],
            rotation: normalize_radians(-(-(end[1] - start[1])).atan2(end[0] - start[0])),
        }
    }

    /// Samples the region into a `width`×`height` RGB tensor (HWC, bytes), like OpenCV's
    /// bilinear warp: coordinates are rounded to 1/32 pixel and values to whole bytes. Rows
    /// are sampled in parallel on the current rayon pool.
    pub fn crop(&self, image: &RgbImage, width: u32, height: u32, border: Border) -> Vec<u8> {
        let mut out = vec![0; (width * height * 3) as usize];
        if width > 0 {
            out.par_chunks_mut(width as usize * 3)
                .enumerate()
                .for_each(|(i, row)| self.crop_row(image, i as u32, height, border, row));
        }
        out
    }

    /// Row `i` of [`Roi::crop`] of `height` rows, `row.len() / 3` pixels wide.
    fn crop_row(&self, image: &RgbImage, i: u32, height: u32, border: Border, row: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("sse4.1") {
            /// With SSE4.1, `round` and `floor` are instructions rather than library calls
            /// (the same values).
            #[target_feature(enable = "sse4.1")]
            fn compiled(
                roi: &Roi,
                image: &RgbImage,
                i: u32,
                height: u32,
                border: Border,
                row: &mut [u8],
            ) {
                roi.crop_row_generic(image, i, height, border, row);
            }
            // SAFETY: the CPU has SSE4.1, checked just above.
            return unsafe { compiled(self, image, i, height, border, row) };
        }
        self.crop_row_generic(image, i, height, border, row);
    }

    #[inline(always)]
    fn crop_row_generic(
        &self,
        image: &RgbImage,
        i: u32,
        height: u32,
        border: Border,
        row: &mut [u8],
    ) {
        let (sin, cos) = self.rotation.sin_cos();
        let width = row.len() / 3;
        let ly = (i as f32 / height as f32 - 0.5) * self.size[1];
        for (j, pixel) in row.chunks_exact_mut(3).enumerate() {
            let lx = (j as f32 / width as f32 - 0.5) * self.size[0];
            let sx = self.center[0] + cos * lx - sin * ly;
            let sy = self.center[1] + sin * lx + cos * ly;
            pixel.copy_from_slice(&sample_bilinear(image, sx, sy, border));
        }
    }
}

/// Wraps an angle into [−π, π).
pub fn normalize_radians(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

/// OpenCV-style bilinear sample at (x, y), pixel centres on integers.
#[inline(always)]
fn sample_bilinear(image: &RgbImage, x: f32, y: f32, border: Border) -> [u8; 3] {
    let ([ix, iy], [ax, ay]) = quantize(x, y);
    let (width, height) = (i64::from(image.width()), i64::from(image.height()));
    if ix >= 0 && iy >= 0 && ix + 1 < width && iy + 1 < height {
        // All four pixels inside: read them straight from the buffer, in the same order and
        // with the same products as below (a zero weight adds exactly zero).
        let stride = width as usize * 3;
        let at = iy as usize * stride + ix as usize * 3;
        let raw = image.as_raw();
        let mut value = [0.0f32; 3];
        for (row, wy) in [(at, 1.0 - ay), (at + stride, ay)] {
            for (pixel, wx) in [(row, 1.0 - ax), (row + 3, ax)] {
                let weight = wx * wy;
                for (v, &p) in value.iter_mut().zip(&raw[pixel..pixel + 3]) {
                    *v += weight * f32::from(p);
                }
            }
        }
        return to_bytes(value);
    }
    sample_bordered(image, [ix, iy], [ax, ay], border)
}

/// OpenCV's bilinear coordinates: (x, y) rounded to 1/32 pixel, split into the top-left pixel
/// of the four it falls between and the fractions towards the others.
#[inline(always)]
fn quantize(x: f32, y: f32) -> ([i64; 2], [f32; 2]) {
    const STEPS: f32 = 32.0;
    let qx = (x * STEPS).round();
    let qy = (y * STEPS).round();
    let (ix, iy) = ((qx / STEPS).floor(), (qy / STEPS).floor());
    let (ax, ay) = ((qx - ix * STEPS) / STEPS, (qy - iy * STEPS) / STEPS);
    ([ix as i64, iy as i64], [ax, ay])
}

/// [`sample_bilinear`] at the pixel pair `ix`, `iy` (top left) with fractions `ax`, `ay`,
/// reading through the border rule.
#[inline(always)]
fn sample_bordered(
    image: &RgbImage,
    [ix, iy]: [i64; 2],
    [ax, ay]: [f32; 2],
    border: Border,
) -> [u8; 3] {
    let mut value = [0.0f32; 3];
    for (dy, wy) in [(0, 1.0 - ay), (1, ay)] {
        for (dx, wx) in [(0, 1.0 - ax), (1, ax)] {
            let weight = wx * wy;
            if weight == 0.0 {
                continue;
            }
            if let Some(pixel) = pixel_at(image, ix + dx, iy + dy, border) {
                for (v, p) in value.iter_mut().zip(pixel) {
                    *v += weight * f32::from(p);
                }
            }
        }
    }
    to_bytes(value)
}

/// A bilinear sum rounded to whole bytes.
#[inline(always)]
fn to_bytes(value: [f32; 3]) -> [u8; 3] {
    value.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

#[inline(always)]
fn pixel_at(image: &RgbImage, x: i64, y: i64, border: Border) -> Option<[u8; 3]> {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let inside = (0..w).contains(&x) && (0..h).contains(&y);
    match (inside, border) {
        (true, _) => Some(image.get_pixel(x as u32, y as u32).0),
        (false, Border::Zero) => None,
        (false, Border::Replicate) => Some(
            image
                .get_pixel(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32)
                .0,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inside_fast_path_gives_the_bordered_path_s_bytes() {
        let image = RgbImage::from_fn(13, 9, |x, y| {
            image::Rgb([
                (x * 37 + y * 11) as u8,
                (x * y * 7) as u8,
                (200 - x * 9) as u8,
            ])
        });
        for step in 0..500 {
            let (x, y) = (
                0.3 + step as f32 * 0.0231,
                0.7 + (step as f32 * 0.61).sin().abs() * 6.5,
            );
            let (pixel, fraction) = quantize(x, y);
            assert!(
                pixel[0] + 1 < 13 && pixel[1] + 1 < 9,
                "({x}, {y}) is inside"
            );
            for border in [Border::Zero, Border::Replicate] {
                assert_eq!(
                    sample_bilinear(&image, x, y, border),
                    sample_bordered(&image, pixel, fraction, border),
                    "at ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn an_unrotated_crop_of_the_whole_image_reproduces_it() {
        let image = RgbImage::from_fn(8, 4, |x, y| image::Rgb([x as u8 * 10, y as u8 * 20, 7]));
        let roi = Roi {
            center: [4.0, 2.0],
            size: [8.0, 4.0],
            rotation: 0.0,
        };
        let crop = roi.crop(&image, 8, 4, Border::Zero);
        assert_eq!(crop, image.as_raw().clone());
    }

    #[test]
    fn projection_inverts_the_crop_mapping_for_square_regions() {
        let roi = Roi {
            center: [100.0, 80.0],
            size: [50.0, 50.0],
            rotation: 0.3,
        };
        let [x, y] = roi.project(0.5, 0.5);
        assert!((x - 100.0).abs() < 1e-4 && (y - 80.0).abs() < 1e-4);
        // The tensor's right edge midpoint lies half a width along the rotated x axis.
        let [x, y] = roi.project(1.0, 0.5);
        assert!((x - (100.0 + 25.0 * 0.3f32.cos())).abs() < 1e-3);
        assert!((y - (80.0 + 25.0 * 0.3f32.sin())).abs() < 1e-3);
    }

    #[test]
    fn eyes_on_a_rising_line_give_a_negative_rotation() {
        // The right end is higher in the image (smaller y): the face is tilted
        // counter-clockwise on screen, so the region rotates by a negative angle.
        let roi = Roi::from_box_and_eyes([0.0, 0.0, 10.0, 10.0], [0.0, 5.0], [10.0, 0.0]);
        assert!((roi.rotation + (0.5f32).atan()).abs() < 1e-5);
        assert!((normalize_radians(3.5) - (3.5 - 2.0 * std::f32::consts::PI)).abs() < 1e-6);
    }
}
