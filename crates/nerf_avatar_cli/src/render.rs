//! `nerf-avatar render`: one frame of an avatar for any expression and view, as a PNG.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use nerf_avatar::asset::Avatar;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::FrameRequest;

use crate::backend::{Backend, choose_renderer, open_renderer};

/// Arguments of `nerf-avatar render`.
#[derive(Args)]
pub struct RenderArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
    /// Named coefficients, e.g. `jawOpen=0.8,eyeBlinkLeft=1` (others are 0; values are
    /// clamped to the avatar's training range).
    #[arg(long, default_value = "")]
    expression: String,
    /// Camera turn around the head's vertical axis, in degrees (positive: the subject's left).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    yaw: f32,
    /// Camera elevation, in degrees.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pitch: f32,
    /// Camera distance from the head box centre in metres (default: the box fills the view).
    #[arg(long)]
    distance: Option<f32>,
    /// Image size, WIDTHxHEIGHT.
    #[arg(long, default_value = "256x256", value_parser = parse_size)]
    size: (u32, u32),
    /// `white`, `black`, `transparent` or a hex colour such as `#336699`.
    #[arg(long, default_value = "white")]
    background: String,
    /// `auto` (CUDA, else a hardware GPU through wgpu, else the CPU), `cpu`, `cuda` or `wgpu`.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

/// Renders the frame and writes it.
pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let avatar = Arc::new(Avatar::read(&args.avatar)?);
    let mut weights =
        nerf_avatar::expression::parse_coefficients(&avatar.config.blendshapes, &args.expression)
            .with_context(|| format!("--expression `{}`", args.expression))?;
    avatar.clamp_expression(&mut weights);
    let (width, height) = args.size;
    let view = PortraitView {
        width,
        height,
        yaw_degrees: args.yaw,
        pitch_degrees: args.pitch,
        distance: args.distance,
    };
    let (intrinsics, pose) = view.camera(&avatar)?;
    let (background, transparent) = parse_background(&args.background)?;

    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &avatar, args.backend)?;
    let start = Instant::now();
    let image = renderer.render(&FrameRequest {
        weights: &weights,
        intrinsics,
        pose,
        background: Background::Solid(background),
    })?;
    let elapsed = start.elapsed();
    write_png(&args.out, &image, transparent)?;
    eprintln!(
        "rendered {width}x{height} in {:.1} ms, upload included ({:.1} samples/pixel) → {}",
        elapsed.as_secs_f64() * 1e3,
        image.samples as f64 / f64::from(width * height),
        args.out.display()
    );
    Ok(())
}

fn write_png(
    path: &std::path::Path,
    image: &RenderedImage,
    transparent: bool,
) -> anyhow::Result<()> {
    let saved = if transparent {
        image.to_straight_rgba8().save(path)
    } else {
        image.to_rgb8().save(path)
    };
    saved.with_context(|| format!("writing {}", path.display()))
}

/// A background name or hex colour; `transparent` renders over black and keeps alpha.
pub fn parse_background(text: &str) -> anyhow::Result<([f32; 3], bool)> {
    match text {
        "white" => Ok(([1.0; 3], false)),
        "black" => Ok(([0.0; 3], false)),
        "transparent" => Ok(([0.0; 3], true)),
        hex => {
            let digits = hex.strip_prefix('#').unwrap_or(hex);
            let channel = |i: usize| {
                digits
                    .get(i..i + 2)
                    .and_then(|d| u8::from_str_radix(d, 16).ok())
                    .map(|v| f32::from(v) / 255.0)
            };
            match (digits.len(), channel(0), channel(2), channel(4)) {
                (6, Some(r), Some(g), Some(b)) => Ok(([r, g, b], false)),
                _ => bail!("--background `{text}`: expected white, black, transparent or #rrggbb"),
            }
        }
    }
}

pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (1..=8192).contains(&w) && (1..=8192).contains(&h) => Ok((w, h)),
        _ => Err(format!(
            "`{text}` is not WIDTHxHEIGHT with sides from 1 to 8192"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_backgrounds_parse() {
        assert_eq!(parse_size("320x240"), Ok((320, 240)));
        assert!(parse_size("0x10").is_err() && parse_size("big").is_err());
        assert_eq!(
            parse_background("#ff0000").unwrap(),
            ([1.0, 0.0, 0.0], false)
        );
        assert!(parse_background("#ff00").is_err() && parse_background("mauve").is_err());
    }
}
