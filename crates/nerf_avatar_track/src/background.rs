//! The static background: per pixel, the median colour over sampled frames where the head
//! (grown by a margin) does not cover it; pixels the head covers in every sample take the
//! median of all background samples of the frames.

use image::{GrayImage, RgbImage};

/// Pixels around the head mask that are not trusted as background (hair edges, blur).
const MARGIN: i64 = 4;

/// Estimates the background from frames and their head masks (same sizes).
pub fn estimate_background(frames: &[(RgbImage, GrayImage)]) -> RgbImage {
    let Some((first, _)) = frames.first() else {
        return RgbImage::new(1, 1);
    };
    let (w, h) = first.dimensions();
    let free: Vec<Vec<bool>> = frames.iter().map(|(_, mask)| outside_grown(mask)).collect();
    let mut everywhere: Vec<[u8; 3]> = Vec::new();
    let mut out = RgbImage::new(w, h);
    let mut missing = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let index = (y * w + x) as usize;
            let samples: Vec<[u8; 3]> = frames
                .iter()
                .zip(&free)
                .filter(|(_, f)| f[index])
                .map(|((frame, _), _)| frame.get_pixel(x, y).0)
                .collect();
            if samples.is_empty() {
                missing.push((x, y));
                continue;
            }
            let value = median_rgb(samples);
            if (x + y).is_multiple_of(7) {
                everywhere.push(value);
            }
            out.put_pixel(x, y, image::Rgb(value));
        }
    }
    let fill = if everywhere.is_empty() {
        [0, 0, 0]
    } else {
        median_rgb(everywhere)
    };
    for (x, y) in missing {
        out.put_pixel(x, y, image::Rgb(fill));
    }
    out
}

/// Whether each pixel is farther than [`MARGIN`] from the mask's head pixels.
fn outside_grown(mask: &GrayImage) -> Vec<bool> {
    let (w, h) = (i64::from(mask.width()), i64::from(mask.height()));
    let mut free = vec![true; (w * h) as usize];
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] == 0 {
            continue;
        }
        let (x, y) = (i64::from(x), i64::from(y));
        for ny in (y - MARGIN).max(0)..(y + MARGIN + 1).min(h) {
            for nx in (x - MARGIN).max(0)..(x + MARGIN + 1).min(w) {
                free[(ny * w + nx) as usize] = false;
            }
        }
    }
    free
}

fn median_rgb(samples: Vec<[u8; 3]>) -> [u8; 3] {
    std::array::from_fn(|c| {
        let mut channel: Vec<u8> = samples.iter().map(|s| s[c]).collect();
        channel.sort_unstable();
        channel[channel.len() / 2]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    #[test]
    fn a_moving_head_reveals_the_background_behind_it() {
        let background = RgbImage::from_fn(40, 20, |x, _| Rgb([x as u8 * 5, 100, 200]));
        let frames: Vec<(RgbImage, GrayImage)> = [5u32, 20, 30]
            .iter()
            .map(|&head_x| {
                let inside = |x: u32| x.abs_diff(head_x) < 4;
                let mut frame = background.clone();
                let mut mask = GrayImage::new(40, 20);
                for y in 0..20 {
                    for x in 0..40 {
                        if inside(x) {
                            frame.put_pixel(x, y, Rgb([0, 0, 0]));
                            mask.put_pixel(x, y, Luma([255]));
                        }
                    }
                }
                (frame, mask)
            })
            .collect();
        let estimate = estimate_background(&frames);
        assert_eq!(estimate.get_pixel(5, 10), background.get_pixel(5, 10));
        assert_eq!(estimate.get_pixel(20, 3), background.get_pixel(20, 3));
        assert_eq!(estimate.get_pixel(0, 0), background.get_pixel(0, 0));
    }
}
