//! The side-by-side comparison grid: one row per frame, with the ground truth, the render
//! and an error heat map.
//!
//! The heat map shows the mean absolute error over the three channels of each pixel on a
//! black → purple → orange → yellow ramp, saturating at [`HEAT_MAP_MAX_ERROR`].

use std::path::Path;

use image::RgbImage;

use super::{ReportError, write_png};
use crate::metrics::image::ImageRef;
use nerf_avatar::pixels::to_rgb8;

/// Mean absolute error drawn with the brightest colour of the heat map.
pub const HEAT_MAP_MAX_ERROR: f32 = 0.25;

/// Stops of the heat map ramp, from error 0 to [`HEAT_MAP_MAX_ERROR`], evenly spaced.
const HEAT_MAP_STOPS: [[f32; 3]; 5] = [
    [0.0, 0.0, 0.0],
    [0.30, 0.05, 0.45],
    [0.75, 0.20, 0.35],
    [0.98, 0.55, 0.05],
    [1.0, 1.0, 0.65],
];

/// A grid of `truth | render | error` rows being filled, with at most a fixed number of
/// rows.
#[derive(Clone, Debug)]
pub struct ComparisonGrid {
    image: RgbImage,
    width: usize,
    height: usize,
    rows: usize,
    max_rows: usize,
}

impl ComparisonGrid {
    /// An empty grid for images of `width × height` pixels, with room for `max_rows` rows.
    pub fn new(width: usize, height: usize, max_rows: usize) -> Self {
        Self {
            image: RgbImage::new((3 * width) as u32, (max_rows * height) as u32),
            width,
            height,
            rows: 0,
            max_rows,
        }
    }

    /// Whether every row is filled.
    pub fn is_full(&self) -> bool {
        self.rows == self.max_rows
    }

    /// Rows filled so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends a row for one frame; does nothing when the grid [is full](Self::is_full).
    pub fn push_row(
        &mut self,
        truth: ImageRef<'_>,
        render: ImageRef<'_>,
    ) -> Result<(), ReportError> {
        for image in [truth, render] {
            if (image.width(), image.height()) != (self.width, self.height) {
                return Err(ReportError::ImageSize {
                    width: self.width,
                    height: self.height,
                    found_width: image.width(),
                    found_height: image.height(),
                });
            }
        }
        if self.is_full() {
            return Ok(());
        }
        let top = self.rows * self.height;
        let pixels = truth.pixels().iter().zip(render.pixels());
        for (i, (t, r)) in pixels.enumerate() {
            let (u, v) = (i % self.width, top + i / self.width);
            let error = (0..3).map(|c| (t[c] - r[c]).abs()).sum::<f32>() / 3.0;
            for (panel, colour) in [*t, *r, heat_colour(error)].into_iter().enumerate() {
                let x = (panel * self.width + u) as u32;
                self.image.put_pixel(x, v as u32, to_rgb8(colour));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The grid image, cut to the rows filled.
    pub fn into_image(self) -> RgbImage {
        let (width, height) = (self.image.width(), (self.rows * self.height) as u32);
        image::imageops::crop_imm(&self.image, 0, 0, width, height).to_image()
    }

    /// Writes the grid (cut to the rows filled) as PNG.
    pub fn write(self, png: &Path) -> Result<(), ReportError> {
        write_png(&self.into_image(), png)
    }
}

/// The heat map colour of a mean absolute error.
pub fn heat_colour(error: f32) -> [f32; 3] {
    let segments = (HEAT_MAP_STOPS.len() - 1) as f32;
    let position = (error / HEAT_MAP_MAX_ERROR).clamp(0.0, 1.0) * segments;
    let lower = (position.floor() as usize).min(HEAT_MAP_STOPS.len() - 2);
    let t = position - lower as f32;
    let (a, b) = (HEAT_MAP_STOPS[lower], HEAT_MAP_STOPS[lower + 1]);
    [0, 1, 2].map(|c| a[c] + t * (b[c] - a[c]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_three_panels_per_row_and_stops_at_the_limit() {
        let truth = vec![[0.2, 0.4, 0.6]; 6 * 4];
        let render = vec![[0.2, 0.4, 1.0]; 6 * 4];
        let (t, r) = (
            ImageRef::new(&truth, 6, 4).unwrap(),
            ImageRef::new(&render, 6, 4).unwrap(),
        );
        let mut grid = ComparisonGrid::new(6, 4, 2);
        for _ in 0..3 {
            grid.push_row(t, r).unwrap();
        }
        assert!(grid.is_full());
        let image = grid.into_image();
        assert_eq!(image.dimensions(), (18, 8));
        assert_eq!(image.get_pixel(1, 1).0, [51, 102, 153]);
        assert_eq!(image.get_pixel(7, 5).0, [51, 102, 255]);
        assert_eq!(image.get_pixel(13, 5), &to_rgb8(heat_colour(0.4 / 3.0)));
    }

    #[test]
    fn partly_filled_grid_is_cut_and_wrong_sizes_are_refused() {
        let pixels = vec![[0.5; 3]; 6 * 4];
        let image = ImageRef::new(&pixels, 6, 4).unwrap();
        let mut grid = ComparisonGrid::new(6, 4, 5);
        grid.push_row(image, image).unwrap();
        let other = ImageRef::new(&pixels, 4, 6).unwrap();
        assert!(matches!(
            grid.push_row(image, other),
            Err(ReportError::ImageSize { .. })
        ));
        assert_eq!(grid.rows(), 1);
        assert_eq!(grid.into_image().dimensions(), (18, 4));
    }

    #[test]
    fn heat_map_runs_from_black_to_the_last_stop() {
        assert_eq!(heat_colour(0.0), [0.0; 3]);
        assert_eq!(heat_colour(HEAT_MAP_MAX_ERROR), HEAT_MAP_STOPS[4]);
        assert_eq!(heat_colour(2.0), HEAT_MAP_STOPS[4]);
        assert_eq!(heat_colour(HEAT_MAP_MAX_ERROR / 4.0), HEAT_MAP_STOPS[1]);
    }
}
