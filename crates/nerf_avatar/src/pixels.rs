//! Rendered frames as 8-bit pixels: one rounding rule (the CUDA `pack_rgba8` twin) for every
//! PNG, video frame and texture upload, and the sRGB transfer functions for frames shown in
//! a scene that blends in linear space.

use crate::render::RenderedImage;

/// One channel value as a byte: `round(clamp(v, 0, 1) · 255)`.
pub fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// An sRGB-encoded value (the model's colours: it learnt from sRGB images) in linear light.
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// A value in linear light, sRGB-encoded.
pub fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
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

    /// The frame, rendered over black, as RGBA8 bytes for an sRGB texture blended with
    /// premultiplied alpha in linear space (as GPUs blend): each pixel's own colour
    /// (`rgb / α`) premultiplied by its opacity in linear light, then sRGB-encoded. A colour
    /// premultiplied in sRGB space instead would decode darker than `α · colour` wherever
    /// the head is not opaque (soft edges, hair).
    pub fn to_linear_premultiplied_rgba8_bytes(&self) -> Vec<u8> {
        self.rgb
            .iter()
            .zip(&self.alpha)
            .flat_map(|(c, &alpha)| {
                let own = |v: f32| {
                    if alpha > 0.0 {
                        (v / alpha).clamp(0.0, 1.0)
                    } else {
                        0.0
                    }
                };
                let premultiplied = |v: f32| linear_to_srgb(alpha * srgb_to_linear(own(v)));
                [c[0], c[1], c[2]]
                    .map(premultiplied)
                    .into_iter()
                    .chain([alpha])
                    .map(to_byte)
            })
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
    fn premultiplication_in_linear_light_keeps_opaque_pixels_and_brightens_soft_ones() {
        let bytes = frame().to_linear_premultiplied_rgba8_bytes();
        // Own colour (0.5, 1, 1) at opacity 0.5: 0.5 · 0.214 = 0.107 and 0.5 linear, 0.361
        // and 0.735 encoded (not 0.25 and 0.5, as premultiplied in sRGB space).
        assert_eq!(bytes[..4], [92, 188, 188, 128]);
        assert_eq!(bytes[4..], [0, 0, 0, 0]);
        let opaque = RenderedImage {
            alpha: vec![1.0, 1.0],
            ..frame()
        };
        assert_eq!(
            opaque.to_linear_premultiplied_rgba8_bytes(),
            opaque.to_rgba8_bytes()
        );
        for v in [0.0, 0.02, 0.3, 0.9, 1.0] {
            assert!((linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-6);
        }
    }

    #[test]
    fn straight_alpha_undoes_premultiplication() {
        let image = frame().to_straight_rgba8();
        assert_eq!(image.get_pixel(0, 0).0, [128, 255, 255, 128]);
        assert_eq!(image.get_pixel(1, 0).0, [0, 0, 0, 0]);
    }
}
