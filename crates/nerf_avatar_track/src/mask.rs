//! Head masks (face and hair; no neck, no torso) from a person segmentation, colour keying
//! and the landmarks.
//!
//! 1. The face oval of the landmarks is always head.
//! 2. Elsewhere the foreground signal is the person probability of the selfie segmentation
//!    model ([`crate::segmentation`]). Where the backdrop is uniform
//!    ([`Backdrop::estimate`]), a pixel is foreground when its colour is far from the
//!    backdrop's ("colour keying", which draws the fine edge of the hair) and the model gives
//!    it at least [`KEYED_MIN_PROBABILITY`] (which drops whatever is not the person: props,
//!    the backdrop's stains); otherwise when the model gives it at least
//!    [`MIN_PROBABILITY`].
//! 3. Foreground counts as head only inside the head region: above the jaw line (the lower
//!    face oval, continued sideways at the height of the jaw's corners, so that the neck and
//!    shoulders are cut), at most 0.9 face heights above the face and 0.4 face widths
//!    beside it; and only when connected to the face.

use image::{GrayImage, Luma, RgbImage};

use crate::boxes::FACE_OVAL;
use crate::segmentation::PersonProbability;

/// Colour distance (RGB, 0–255 per channel, Euclidean) above which a pixel is not backdrop.
pub const KEY_DISTANCE: f32 = 60.0;
/// Least person probability of a foreground pixel where the backdrop is not uniform.
pub const MIN_PROBABILITY: f32 = 0.5;
/// Least person probability of a colour-keyed foreground pixel (uniform backdrop).
pub const KEYED_MIN_PROBABILITY: f32 = 0.1;
/// Largest median distance of border pixels from their median colour for a uniform
/// backdrop.
const UNIFORM_SPREAD: f32 = 20.0;
/// Jaw-corner landmarks where the cut line continues sideways.
const JAW_CORNERS: (usize, usize) = (172, 397);

/// The backdrop colour, when the backdrop is uniform enough to key on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backdrop {
    /// Median RGB of the frames' border.
    pub color: [f32; 3],
    /// Whether keying is used.
    pub uniform: bool,
}

impl Backdrop {
    /// Estimates the backdrop from the top rows and the side columns (upper half) of frames.
    pub fn estimate(frames: &[&RgbImage]) -> Self {
        let mut samples: Vec<[f32; 3]> = Vec::new();
        for frame in frames {
            let (w, h) = frame.dimensions();
            let band = (w.min(h) / 20).max(1);
            for (x, y, p) in frame.enumerate_pixels() {
                let border = y < band || ((x < band || x >= w - band) && y < h / 2);
                if border && (x + y).is_multiple_of(3) {
                    samples.push(p.0.map(f32::from));
                }
            }
        }
        if samples.is_empty() {
            return Self {
                color: [0.0; 3],
                uniform: false,
            };
        }
        let color: [f32; 3] =
            std::array::from_fn(|c| median(samples.iter().map(|s| s[c]).collect()));
        let spread = median(samples.iter().map(|s| distance(*s, color)).collect());
        Self {
            color,
            uniform: spread < UNIFORM_SPREAD,
        }
    }
}

/// The head mask of a frame, 0 or 255, from its landmarks (pixels) and the person
/// probability of its pixels.
///
/// # Panics
/// When `person` and `frame` differ in size.
pub fn head_mask(
    frame: &RgbImage,
    landmarks: &[[f32; 2]],
    backdrop: &Backdrop,
    person: &PersonProbability,
) -> GrayImage {
    let (w, h) = frame.dimensions();
    assert_eq!(
        person.dimensions(),
        (w, h),
        "the person probability must have the frame's size"
    );
    let oval: Vec<[f32; 2]> = FACE_OVAL.iter().map(|&i| landmarks[i]).collect();
    let [x0, y0, x1, y1] = crate::boxes::bounding_box(oval.iter().copied(), 0.0, w, h);
    let (face_w, face_h) = (x1 - x0, y1 - y0);
    let jaw = JawLine::new(&oval, landmarks[JAW_CORNERS.0], landmarks[JAW_CORNERS.1]);
    let region = [x0 - 0.4 * face_w, y0 - 0.9 * face_h, x1 + 0.4 * face_w, y1];
    let mut candidate = GrayImage::new(w, h);
    for ((x, y, p), probability) in frame.enumerate_pixels().zip(person.pixels()) {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        // The region holds the oval's box: outside it nothing is head, and only inside the
        // box is the polygon test needed.
        let in_region = px >= region[0] && px <= region[2] && py >= region[1] && py <= region[3];
        if !in_region {
            continue;
        }
        let in_oval = px >= x0 && px <= x1 && py >= y0 && py <= y1 && inside_polygon(&oval, px, py);
        let foreground = || {
            let probability = probability.0[0];
            if backdrop.uniform {
                probability >= KEYED_MIN_PROBABILITY
                    && distance(p.0.map(f32::from), backdrop.color) > KEY_DISTANCE
            } else {
                probability >= MIN_PROBABILITY
            }
        };
        let head = in_oval || (foreground() && !jaw.is_below(px, py));
        if head {
            candidate.put_pixel(x, y, Luma([255]));
        }
    }
    let centre = [((x0 + x1) / 2.0) as u32, ((y0 + y1) / 2.0) as u32];
    connected_to(&candidate, centre)
}

/// The cut below which nothing is head.
struct JawLine {
    /// Lower face-oval points, by increasing x.
    points: Vec<[f32; 2]>,
    left_y: f32,
    right_y: f32,
}

impl JawLine {
    fn new(oval: &[[f32; 2]], corner_a: [f32; 2], corner_b: [f32; 2]) -> Self {
        let mid_y = oval.iter().map(|p| p[1]).sum::<f32>() / oval.len() as f32;
        let mut points: Vec<[f32; 2]> = oval.iter().copied().filter(|p| p[1] >= mid_y).collect();
        points.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let (left, right) = if corner_a[0] < corner_b[0] {
            (corner_a, corner_b)
        } else {
            (corner_b, corner_a)
        };
        Self {
            points,
            left_y: left[1],
            right_y: right[1],
        }
    }

    fn is_below(&self, x: f32, y: f32) -> bool {
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return false;
        };
        let limit = if x <= first[0] {
            self.left_y
        } else if x >= last[0] {
            self.right_y
        } else {
            let k = self.points.partition_point(|p| p[0] < x).max(1);
            let (a, b) = (self.points[k - 1], self.points[k]);
            let t = if b[0] > a[0] {
                (x - a[0]) / (b[0] - a[0])
            } else {
                0.0
            };
            a[1] + t * (b[1] - a[1])
        };
        y > limit
    }
}

fn inside_polygon(polygon: &[[f32; 2]], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The 4-connected component of `mask` that contains `seed` (empty if the seed is off).
fn connected_to(mask: &GrayImage, seed: [u32; 2]) -> GrayImage {
    let (w, h) = mask.dimensions();
    let mut out = GrayImage::new(w, h);
    if seed[0] >= w || seed[1] >= h || mask.get_pixel(seed[0], seed[1]).0[0] == 0 {
        return out;
    }
    let mut stack = vec![seed];
    out.put_pixel(seed[0], seed[1], Luma([255]));
    while let Some([x, y]) = stack.pop() {
        let neighbours = [
            (x.wrapping_sub(1), y),
            (x + 1, y),
            (x, y.wrapping_sub(1)),
            (x, y + 1),
        ];
        for (nx, ny) in neighbours {
            if nx < w
                && ny < h
                && mask.get_pixel(nx, ny).0[0] > 0
                && out.get_pixel(nx, ny).0[0] == 0
            {
                out.put_pixel(nx, ny, Luma([255]));
                stack.push([nx, ny]);
            }
        }
    }
    out
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: image::Rgb<u8> = image::Rgb([30, 60, 200]);

    /// A skin-coloured disc (the face), a brown cap (hair) above it, a skin-coloured neck and
    /// grey shoulders below, drawn over `backdrop`; landmarks on a circle around the disc.
    fn scene(backdrop: impl Fn(u32, u32) -> image::Rgb<u8>) -> (RgbImage, Vec<[f32; 2]>) {
        let frame = RgbImage::from_fn(100, 100, |x, y| {
            let (dx, dy) = (x as f32 - 50.0, y as f32 - 50.0);
            if dx * dx + dy * dy < 400.0 {
                image::Rgb([220, 170, 140])
            } else if dx * dx + dy * dy < 700.0 && dy < 0.0 {
                image::Rgb([90, 60, 30])
            } else if y >= 70 && dx.abs() < 8.0 {
                image::Rgb([210, 160, 130])
            } else if y >= 85 {
                image::Rgb([120, 120, 120])
            } else {
                backdrop(x, y)
            }
        });
        let mut landmarks = vec![[50.0, 50.0]; 478];
        for (k, &i) in FACE_OVAL.iter().enumerate() {
            // FACE_OVAL starts at the top and runs clockwise on screen.
            let angle = k as f32 / FACE_OVAL.len() as f32 * std::f32::consts::TAU;
            landmarks[i] = [50.0 + 20.0 * angle.sin(), 50.0 - 20.0 * angle.cos()];
        }
        landmarks[172] = [36.0, 64.0];
        landmarks[397] = [64.0, 64.0];
        (frame, landmarks)
    }

    /// What a segmentation model says of [`scene`]: `inside` on the person (face, hair,
    /// neck, shoulders), `outside` elsewhere.
    fn person(inside: f32, outside: f32) -> PersonProbability {
        let (on_person, _) = scene(|_, _| image::Rgb([0, 0, 0]));
        let (off_person, _) = scene(|_, _| image::Rgb([1, 1, 1]));
        PersonProbability::from_fn(100, 100, |x, y| {
            let on = on_person.get_pixel(x, y) == off_person.get_pixel(x, y);
            Luma([if on { inside } else { outside }])
        })
    }

    #[test]
    fn the_mask_keeps_face_and_hair_and_cuts_neck_and_shoulders() {
        let (frame, landmarks) = scene(|_, _| BLUE);
        let backdrop = Backdrop::estimate(&[&frame]);
        assert!(backdrop.uniform);
        let mask = head_mask(&frame, &landmarks, &backdrop, &person(0.9, 0.0));
        let on = |x, y| mask.get_pixel(x, y).0[0] == 255;
        assert!(on(50, 50), "face");
        assert!(on(50, 27), "hair above the face");
        assert!(!on(50, 80), "neck");
        assert!(!on(20, 95), "shoulder");
        assert!(!on(5, 5), "backdrop");
    }

    #[test]
    fn on_a_uniform_backdrop_keying_draws_the_edge_and_the_model_drops_props() {
        // A grey prop touching the hair on the left; the model's person ends 2 pixels short
        // of the hair's keyed edge (its probability is low but not zero there).
        let (frame, landmarks) = scene(|x, y| {
            if (18..32).contains(&x) && (30..40).contains(&y) {
                image::Rgb([128, 128, 128])
            } else {
                BLUE
            }
        });
        let backdrop = Backdrop::estimate(&[&frame]);
        assert!(backdrop.uniform);
        let blurred = PersonProbability::from_fn(100, 100, |x, y| {
            let (dx, dy) = (x as f32 - 50.0, y as f32 - 50.0);
            let r = (dx * dx + dy * dy).sqrt();
            Luma([if r < 24.0 || (y >= 70 && dx.abs() < 8.0) {
                0.9
            } else if r < 30.0 {
                0.2
            } else {
                0.0
            }])
        });
        let mask = head_mask(&frame, &landmarks, &backdrop, &blurred);
        let on = |x, y| mask.get_pixel(x, y).0[0] == 255;
        assert!(on(50, 24), "keyed hair where the model is unsure");
        assert!(!on(50, 21), "backdrop where the model is unsure");
        assert!(!on(20, 35), "prop the model does not see as the person");
    }

    #[test]
    fn on_a_busy_backdrop_the_segmentation_gives_the_head() {
        let busy = |x: u32, y: u32| {
            image::Rgb([
                (x * 37 % 256) as u8,
                (y * 91 % 256) as u8,
                ((x * y) % 256) as u8,
            ])
        };
        let (frame, landmarks) = scene(busy);
        let backdrop = Backdrop::estimate(&[&frame]);
        assert!(!backdrop.uniform);
        let mask = head_mask(&frame, &landmarks, &backdrop, &person(0.8, 0.3));
        let on = |x, y| mask.get_pixel(x, y).0[0] == 255;
        assert!(on(50, 50), "face");
        assert!(on(50, 24) && on(33, 32), "hair, also beyond the face oval");
        assert!(
            !on(74, 50) && !on(50, 22),
            "backdrop beside and above the head"
        );
        assert!(!on(50, 80), "neck");
        assert!(!on(20, 95), "shoulder");
    }

    #[test]
    #[should_panic(expected = "the frame's size")]
    fn a_probability_of_another_size_is_refused() {
        let (frame, landmarks) = scene(|_, _| BLUE);
        let backdrop = Backdrop::estimate(&[&frame]);
        head_mask(
            &frame,
            &landmarks,
            &backdrop,
            &PersonProbability::new(50, 50),
        );
    }
}
