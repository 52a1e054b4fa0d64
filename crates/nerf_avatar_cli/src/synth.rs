//! `nerf-avatar synth`: renders the procedural talking head into a dataset folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::Intrinsics;
use nerf_avatar_data::synthetic::SyntheticHead;
use nerf_avatar_data::synthetic::backdrop::backdrop;
use nerf_avatar_data::synthetic::motion::talking_head_video;
use nerf_avatar_data::{DatasetHeader, DatasetWriter, FrameRecord};

/// Vertical field of view of the synthetic camera, in degrees.
const FIELD_OF_VIEW_DEGREES: f32 = 20.0;

/// Options of `synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Folder to write the dataset into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of frames (25 fps; the last tenth is the test split).
    #[arg(long, default_value_t = 300)]
    frames: usize,
    /// Width and height of the frames in pixels.
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Seed of the motion and expressions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Renders the synthetic video and writes it as a dataset.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    ensure!(
        args.frames >= 2,
        "--frames must be at least 2 (one training and one test frame)"
    );
    ensure!(
        (16..=4096).contains(&args.size),
        "--size must be between 16 and 4096 pixels"
    );
    let started = Instant::now();
    let head = SyntheticHead::new();
    let intrinsics = Intrinsics::from_fov(args.size, args.size, FIELD_OF_VIEW_DEGREES);
    let background = backdrop(args.size, args.size);
    let header = DatasetHeader {
        intrinsics,
        blendshapes: SyntheticHead::CONTROLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        head_box: head.head_box(),
    };
    let mut writer = DatasetWriter::create(&args.out, header, &background)?;
    let video = talking_head_video(args.frames, args.seed);
    let progress = ProgressBar::new(video.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} frames, {eta} left")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    progress.set_message("rendering");
    for (index, frame) in video.into_iter().enumerate() {
        let rendered = head.render(&intrinsics, &frame.pose, &frame.expression, &background)?;
        let record = FrameRecord {
            source_frame: index as u64,
            pose: frame.pose,
            face_box: head.face_box(&intrinsics, &frame.pose, &frame.expression),
            mouth_box: head.mouth_box(&intrinsics, &frame.pose, &frame.expression),
            expression: frame.expression,
            split: frame.split,
        };
        writer.add_frame(record, &rendered.rgb, &rendered.mask())?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let file = writer.finish()?;
    println!(
        "wrote {} frames of {}×{} to {} in {:.1} s",
        args.frames,
        args.size,
        args.size,
        file.display(),
        started.elapsed().as_secs_f32()
    );
    Ok(())
}
