//! The expression sheet: every named control of an avatar at a glance. One tile per
//! control, each showing the avatar with all coefficients at 0 (left) and with that control
//! alone at the maximum it reached in training (right), under a label with the control's
//! name and that maximum.

use image::RgbImage;
use plotters::prelude::*;

use super::font::{FONT_FAMILY, register_font};
use super::{ReportError, plot_error};
use nerf_avatar::asset::Avatar;
use nerf_avatar::pixels::to_rgb8;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::{FrameRequest, Renderer};

/// Height of the label strip above each tile, in pixels.
pub const LABEL_HEIGHT: u32 = 18;
/// Space between tiles, in pixels.
pub const GAP: u32 = 8;
/// Colour behind the head and between the tiles.
const BACKGROUND: [f32; 3] = [1.0, 1.0, 1.0];

/// Where one control's tile lies in the sheet.
#[derive(Clone, Debug, PartialEq)]
pub struct SheetTile {
    /// The control's name.
    pub name: String,
    /// The coefficient of the right-hand render (the control's training maximum).
    pub value: f32,
    /// Left edge of the tile (label strip included) in pixels.
    pub x: u32,
    /// Top edge of the tile (label strip included) in pixels.
    pub y: u32,
}

/// A rendered sheet with the place of every tile.
#[derive(Clone, Debug)]
pub struct ExpressionSheet {
    /// The sheet.
    pub image: RgbImage,
    /// Width of a tile: two renders side by side.
    pub tile_width: u32,
    /// Height of a tile: the label strip and a render.
    pub tile_height: u32,
    /// One tile per control, in the avatar's order.
    pub tiles: Vec<SheetTile>,
}

/// Renders the sheet of `avatar` with `renderer` (of the same avatar, on any backend) from
/// `view` (the size of one render). `progress` is called with (renders done, renders in all)
/// after every render.
pub fn expression_sheet(
    avatar: &Avatar,
    renderer: &mut dyn Renderer,
    view: &PortraitView,
    mut progress: impl FnMut(usize, usize),
) -> Result<ExpressionSheet, ReportError> {
    let names = avatar.blendshapes();
    if names.is_empty() {
        return Err(ReportError::NoControls);
    }
    register_font()?;
    let (intrinsics, pose) = view.camera(avatar)?;
    let mut render = |weights: &mut Vec<f32>| {
        avatar.clamp_expression(weights);
        renderer.render(&FrameRequest {
            weights,
            intrinsics,
            pose,
            background: Background::Solid(BACKGROUND),
        })
    };
    let total = names.len() + 1;
    let neutral = render(&mut vec![0.0; names.len()])?;
    progress(1, total);

    let (width, height) = (view.width, view.height);
    let (tile_width, tile_height) = (2 * width, LABEL_HEIGHT + height);
    let columns = ((names.len() as f64 / 2.0).sqrt().ceil() as u32).max(1);
    let rows = (names.len() as u32).div_ceil(columns);
    let sheet_width = GAP + columns * (tile_width + GAP);
    let sheet_height = GAP + rows * (tile_height + GAP);
    let mut image = RgbImage::from_pixel(sheet_width, sheet_height, to_rgb8(BACKGROUND));
    let mut tiles = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let mut weights = vec![0.0; names.len()];
        weights[i] = avatar.expression_max[i];
        let posed = render(&mut weights)?;
        progress(i + 2, total);
        let (column, row) = (i as u32 % columns, i as u32 / columns);
        let (x, y) = (
            GAP + column * (tile_width + GAP),
            GAP + row * (tile_height + GAP),
        );
        paste(&mut image, &neutral, x, y + LABEL_HEIGHT);
        paste(&mut image, &posed, x + width, y + LABEL_HEIGHT);
        tiles.push(SheetTile {
            name: name.clone(),
            value: weights[i],
            x,
            y,
        });
    }
    draw_labels(&mut image, &tiles)?;
    Ok(ExpressionSheet {
        image,
        tile_width,
        tile_height,
        tiles,
    })
}

/// Copies a render into the sheet with its top-left corner at (`x`, `y`).
fn paste(sheet: &mut RgbImage, render: &RenderedImage, x: u32, y: u32) {
    for (i, colour) in render.rgb.iter().enumerate() {
        let (u, v) = (i as u32 % render.width, i as u32 / render.width);
        sheet.put_pixel(x + u, y + v, to_rgb8(*colour));
    }
}

/// Writes each tile's label (`name  0 | max`) into its strip.
fn draw_labels(sheet: &mut RgbImage, tiles: &[SheetTile]) -> Result<(), ReportError> {
    let size = sheet.dimensions();
    let style = TextStyle::from((FONT_FAMILY, 14).into_font()).color(&BLACK);
    let root = BitMapBackend::with_buffer(sheet.as_mut(), size).into_drawing_area();
    for tile in tiles {
        let label = format!("{}  0 | {:.2}", tile.name, tile.value);
        root.draw(&Text::new(
            label,
            (tile.x as i32 + 2, tile.y as i32 + 1),
            &style,
        ))
        .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use nerf_avatar::config::ModelConfig;
    use nerf_avatar::renderer::CpuRenderer;

    #[test]
    fn one_tile_per_control_with_both_renders() {
        let names = ["jawOpen", "eyeBlinkLeft", "browInnerUp"]
            .map(str::to_owned)
            .to_vec();
        let config = ModelConfig::tiny().with_blendshapes(names.clone());
        let mut avatar = Avatar::new(config, 3).expect("avatar");
        avatar.expression_max = vec![1.0, 0.5, 0.25];
        let avatar = Arc::new(avatar);
        let mut renderer = CpuRenderer::new(Arc::clone(&avatar));
        let view = PortraitView::front(24, 20);
        let mut calls = Vec::new();
        let sheet = expression_sheet(&avatar, &mut renderer, &view, |done, total| {
            calls.push((done, total))
        })
        .expect("sheet");
        assert_eq!(calls.last(), Some(&(4, 4)));
        assert_eq!(sheet.tiles.len(), names.len());
        assert_eq!(
            (sheet.tile_width, sheet.tile_height),
            (48, 20 + LABEL_HEIGHT)
        );
        for (tile, (name, max)) in sheet.tiles.iter().zip(names.iter().zip([1.0, 0.5, 0.25])) {
            assert_eq!((&tile.name, tile.value), (name, max));
            assert!(tile.x + sheet.tile_width <= sheet.image.width());
            assert!(tile.y + sheet.tile_height <= sheet.image.height());
            // The label strip holds dark text, and the renders are not blank.
            let label_dark = (0..sheet.tile_width)
                .flat_map(|u| (0..LABEL_HEIGHT).map(move |v| (u, v)))
                .any(|(u, v)| sheet.image.get_pixel(tile.x + u, tile.y + v).0[0] < 100);
            assert!(label_dark, "no label text for {name}");
        }
        let overlaps = sheet.tiles.iter().enumerate().any(|(i, a)| {
            sheet.tiles[i + 1..].iter().any(|b| {
                a.x < b.x + sheet.tile_width
                    && b.x < a.x + sheet.tile_width
                    && a.y < b.y + sheet.tile_height
                    && b.y < a.y + sheet.tile_height
            })
        });
        assert!(!overlaps);
    }

    #[test]
    fn an_avatar_without_controls_has_no_sheet() {
        let avatar = Arc::new(
            Avatar::new(ModelConfig::tiny().with_blendshapes(Vec::new()), 1).expect("avatar"),
        );
        let mut renderer = CpuRenderer::new(Arc::clone(&avatar));
        let result = expression_sheet(
            &avatar,
            &mut renderer,
            &PortraitView::front(8, 8),
            |_, _| {},
        );
        assert!(matches!(result, Err(ReportError::NoControls)));
    }
}
