//! `nerf-avatar sheet`: a contact sheet of an avatar's expression controls, each at 0 and at
//! its training maximum, to see what every semantic control does at a glance.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::asset::Avatar;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar_eval::report::{expression_sheet, write_png};

use crate::backend::{Backend, choose_renderer, open_renderer};
use crate::render::parse_size;

/// Arguments of `nerf-avatar sheet`.
#[derive(Args)]
pub struct SheetArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
    /// Size of each render, WIDTHxHEIGHT (a tile holds two).
    #[arg(long, default_value = "128x128", value_parser = parse_size)]
    size: (u32, u32),
    /// Camera turn around the head's vertical axis, in degrees.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    yaw: f32,
    /// Camera elevation, in degrees.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pitch: f32,
    /// Compute backend of the rendering.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
}

/// Renders the sheet and writes it.
pub fn run(args: SheetArgs) -> anyhow::Result<()> {
    let avatar = Arc::new(Avatar::read(&args.avatar)?);
    let (width, height) = args.size;
    let view = PortraitView {
        width,
        height,
        yaw_degrees: args.yaw,
        pitch_degrees: args.pitch,
        distance: None,
    };
    let progress = ProgressBar::new(avatar.blendshapes().len() as u64 + 1).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} renders, {eta} left")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &avatar, args.backend)?;
    progress.set_message("rendering");
    let sheet = expression_sheet(&avatar, &mut *renderer, &view, |done, _| {
        progress.set_position(done as u64)
    })
    .with_context(|| format!("making the sheet of {}", args.avatar.display()))?;
    progress.finish_and_clear();
    write_png(&sheet.image, &args.out)?;
    eprintln!(
        "{} controls ({} × {} sheet) → {}",
        sheet.tiles.len(),
        sheet.image.width(),
        sheet.image.height(),
        args.out.display()
    );
    Ok(())
}
