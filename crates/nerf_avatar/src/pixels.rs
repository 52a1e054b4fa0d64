//! Rendered frames as 8-bit pixels: one rounding rule (the CUDA `pack_rgba8` twin) for every
//! PNG, video frame and texture upload.

use crate::render::RenderedImage;

/// One channel value as a byte: `round(clamp(v, 0, 1) · 255)`.
pub fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// An f32 colour in [0, 1] as an 8-bit RGB pixel.
pub fn to_rgb8(colour: [f32; 3]) -> image::Rgb<u8> {
    image::Rgb(colour.map(to_byte))
}

impl RenderedImage {
    /// The frame as 8-bit RGB (its colour over its background).
    pub fn to_rgb8(&self) -> image::RgbImage {
        image::RgbImage::from_fn(self.width, self.height, |x, y| {
            to_rgb8(self.rgb[(y * self.width + x) as usize])
        })
    }

    /// The frame as RGBA8 bytes, colour as rendered (premultiplied when rendered over black).
    pub fn to_rgba8_bytes(&self) -> Vec<u8> {
        self.rgb
            .iter()
            .zip(&self.alpha)
            .flat_map(|(c, a)| [c[0], c[1], c[2], *a].map(to_byte))
            .collect()
    }

    /// The frame, rendered over black, as an image with straight (not premultiplied) alpha.
    pub fn to_straight_rgba8(&self) -> image::RgbaImage {
        image::RgbaImage::from_fn(self.width, self.height, |x, y| {
            let p = (y * self.width + x) as usize;
            let alpha = self.alpha[p];
            let straight = |v: f32| if alpha > 0.0 { v / alpha } else { 0.0 };
            let [r, g, b] = self.rgb[p];
            image::Rgba([straight(r), straight(g), straight(b), alpha].map(to_byte))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> RenderedImage {
        RenderedImage {
            width: 2,
            height: 1,
            rgb: vec![[0.25, 0.5, 2.0], [0.0, -1.0, 0.1]],
            alpha: vec![0.5, 0.0],
            depth: vec![3.0, f32::INFINITY],
            samples: 0,
        }
    }

    #[test]
    fn bytes_round_and_clamp() {
        assert_eq!(to_byte(0.5), 128);
        assert_eq!(to_byte(-0.1), 0);
        assert_eq!(to_byte(f32::INFINITY), 255);
        assert_eq!(frame().to_rgba8_bytes(), [64, 128, 255, 128, 0, 0, 26, 0]);
        assert_eq!(frame().to_rgb8().as_raw(), &[64, 128, 255, 0, 0, 26]);
    }

    #[test]
    fn straight_alpha_undoes_premultiplication() {
        let image = frame().to_straight_rgba8();
        assert_eq!(image.get_pixel(0, 0).0, [128, 255, 255, 128]);
        assert_eq!(image.get_pixel(1, 0).0, [0, 0, 0, 0]);
    }
}
