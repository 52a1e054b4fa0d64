//! `nerf-avatar reenact`: drives an avatar with another performance (a video, tracked on the
//! fly; a tracked dataset; a CSV of ARKit coefficients; or Live Link Face, live: [`live`])
//! and writes the frames as a video or PNGs, rendered on the best backend available.

mod live;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use image::RgbImage;
use image::imageops::{self, FilterType};
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::Pose;
use nerf_avatar::clip::ExpressionClip;
use nerf_avatar::portrait::PortraitView;
use nerf_avatar::render::Background;
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar::retarget::{ExpressionRetarget, PoseRetarget};
use nerf_avatar_data::Dataset;
use nerf_avatar_track::camera::DEFAULT_FOV_Y_DEGREES;
use nerf_avatar_track::{Focal, TrackOptions, track_to_dataset};

use crate::backend::{Backend, choose_renderer, open_renderer};
use crate::frame_sink::FrameSink;
use crate::render::{parse_background, parse_size};

/// Where the avatar's head poses come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PoseSource {
    /// The driver's head motion around its mean, applied around the avatar's own view.
    Driver,
    /// The avatar's own view (the mean of its training views) for every frame.
    Avatar,
    /// A front view framing the head box for every frame.
    Fixed,
}

/// Arguments of `nerf-avatar reenact`.
#[derive(Args)]
pub struct ReenactArgs {
    /// The avatar file.
    avatar: PathBuf,
    /// The performance: a video (tracked into a dataset beside the output, `OUT.driver`), a
    /// dataset folder (from `track` or `synth`), a CSV file of ARKit coefficients with a
    /// header row (face-capture exports), or `livelink://HOST:PORT` to listen there for the
    /// iPhone app Live Link Face (default port 11111).
    #[arg(long)]
    driver: PathBuf,
    /// A video file (.mp4, .mkv, .mov, .webm; needs ffmpeg) or a folder for PNG frames.
    #[arg(long)]
    out: PathBuf,
    /// Where head poses come from.
    #[arg(long, value_enum, default_value_t = PoseSource::Driver)]
    poses: PoseSource,
    /// Put the driver's frame beside the avatar's (dataset drivers).
    #[arg(long)]
    side_by_side: bool,
    /// Frames per second of the driver and of the video (a CSV with a time column is
    /// resampled at this rate).
    #[arg(long, default_value_t = 25.0)]
    fps: f32,
    /// Size of the avatar's frames, WIDTHxHEIGHT (default: the training size, else 256x256).
    #[arg(long, value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// `white`, `black` or a hex colour such as `#336699`.
    #[arg(long, default_value = "white")]
    background: String,
    /// Reenact only the first N frames of the driver.
    #[arg(long)]
    max_frames: Option<usize>,
    /// `auto` (CUDA, else a hardware GPU through wgpu, else the CPU), `cpu`, `cuda` or `wgpu`.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    #[command(flatten)]
    live: live::LiveArgs,
}

/// The performance driving the avatar.
struct Driver {
    clip: ExpressionClip,
    /// The dataset, for side-by-side frames.
    dataset: Option<Dataset>,
}

/// Reenacts the driver and writes the frames.
pub fn run(args: ReenactArgs) -> anyhow::Result<()> {
    if !(args.fps.is_finite() && args.fps > 0.0) {
        bail!("--fps must be a positive number, got {}", args.fps);
    }
    if let Some(address) = args
        .driver
        .to_str()
        .and_then(|d| d.strip_prefix(live::SCHEME))
    {
        return live::run(&args, address);
    }
    let avatar = Arc::new(Avatar::read(&args.avatar)?);
    let driver = load_driver(&args, args.fps)?;
    let (background, transparent) = parse_background(&args.background)?;
    if transparent {
        bail!("--background transparent is not available for reenactment videos");
    }
    if args.side_by_side && driver.dataset.is_none() {
        bail!(
            "--side-by-side needs a driver with frames; {} has only coefficients",
            args.driver.display()
        );
    }
    let expressions = ExpressionRetarget::new(&driver.clip, &avatar);
    report_names(&driver.clip, &expressions);

    let (width, height) = args.size.unwrap_or(match avatar.intrinsics {
        Some(k) => (k.width, k.height),
        None => (256, 256),
    });
    let (intrinsics, front) = PortraitView::front(width, height).camera(&avatar)?;
    let own_view = avatar.view.unwrap_or(front);
    // A dataset plays frame by frame (its images go beside the avatar's); a CSV is resampled
    // at the video's rate.
    let rows: Vec<Vec<f32>> = if driver.dataset.is_some() {
        driver.clip.frames.clone()
    } else {
        let count = (driver.clip.duration() * args.fps).floor() as usize + 1;
        (0..count)
            .map(|k| driver.clip.sample(k as f32 / args.fps))
            .collect()
    };
    let poses: Vec<Pose> = match (args.poses, &driver.clip.poses) {
        (PoseSource::Driver, Some(track)) => {
            let map = PoseRetarget::new(track, own_view, avatar.config.head_box.center);
            track.poses.iter().map(|pose| map.apply(pose)).collect()
        }
        (PoseSource::Driver, None) => {
            eprintln!(
                "warning: {} has no head poses; using the avatar's own view",
                args.driver.display()
            );
            vec![own_view; rows.len()]
        }
        (PoseSource::Avatar, _) => vec![own_view; rows.len()],
        (PoseSource::Fixed, _) => vec![front; rows.len()],
    };

    let frame_count = args.max_frames.unwrap_or(usize::MAX).min(rows.len());
    let side_width = |dataset: &Dataset| {
        let t = &dataset.transforms;
        (u64::from(t.width) * u64::from(height) / u64::from(t.height).max(1)) as u32
    };
    let left_width = match (&driver.dataset, args.side_by_side) {
        (Some(dataset), true) => side_width(dataset),
        _ => 0,
    };
    let mut sink = FrameSink::open(&args.out, (left_width + width, height), args.fps)?;
    let backend = choose_renderer(args.backend)?;
    let mut renderer = open_renderer(&backend, &avatar, args.backend)?;
    let progress = ProgressBar::new(frame_count as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} frames, {eta} left")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    progress.set_message("reenacting");
    for (index, (row, pose)) in rows.iter().zip(&poses).take(frame_count).enumerate() {
        let weights = expressions.coefficients(row);
        let rendered = renderer.render(&FrameRequest {
            weights: &weights,
            intrinsics,
            pose: *pose,
            background: Background::Solid(background),
        })?;
        let avatar_frame = rendered.to_rgb8();
        let frame = match (&driver.dataset, left_width) {
            (Some(dataset), left) if left > 0 => {
                let source = dataset.read_image(index)?;
                let mut canvas = RgbImage::new(left + width, height);
                let resized = imageops::resize(&source, left, height, FilterType::Triangle);
                imageops::replace(&mut canvas, &resized, 0, 0);
                imageops::replace(&mut canvas, &avatar_frame, i64::from(left), 0);
                canvas
            }
            _ => avatar_frame,
        };
        sink.push(&frame)?;
        progress.inc(1);
    }
    sink.finish()?;
    progress.finish_and_clear();
    eprintln!(
        "reenacted {frame_count} frames of {} → {}",
        args.driver.display(),
        args.out.display()
    );
    Ok(())
}

/// Reads the driver: a dataset folder, a CSV clip, or a video tracked into a dataset.
fn load_driver(args: &ReenactArgs, frame_rate: f32) -> anyhow::Result<Driver> {
    let path = &args.driver;
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        return Ok(Driver {
            clip: ExpressionClip::read_csv(path, frame_rate)?,
            dataset: None,
        });
    }
    if !path.exists() {
        bail!("the driver {} does not exist", path.display());
    }
    let folder = if path.is_dir() {
        path.clone()
    } else {
        track_video(path, &args.out, args.max_frames)?
    };
    let dataset = Dataset::load(&folder)?;
    let clip = dataset.expression_clip(frame_rate)?;
    Ok(Driver {
        clip,
        dataset: Some(dataset),
    })
}

/// Side of the frames a video driver is tracked into.
const TRACKED_SIZE: u32 = 256;

/// Tracks a driver video (as `nerf-avatar track` does, with its default camera) into the
/// dataset folder `OUT.driver` beside the output, and returns the folder.
fn track_video(video: &Path, out: &Path, max_frames: Option<usize>) -> anyhow::Result<PathBuf> {
    let mut folder = out.as_os_str().to_owned();
    folder.push(".driver");
    let folder = PathBuf::from(folder);
    eprintln!("tracking {} into {}", video.display(), folder.display());
    let options = TrackOptions {
        max_frames,
        size: TRACKED_SIZE,
        test_frames: None,
        focal: Focal::FovY(DEFAULT_FOV_Y_DEGREES),
        smoothing: 0,
    };
    let report = track_to_dataset(video, &folder, &options, &mut |_| ())
        .with_context(|| format!("tracking the driver {}", video.display()))?;
    if !report.skipped.is_empty() {
        eprintln!(
            "warning: no face in {} frame(s) of {}; they are left out",
            report.skipped.len(),
            video.display()
        );
    }
    Ok(folder)
}

/// Tells which columns and controls take no part.
fn report_names(clip: &ExpressionClip, map: &ExpressionRetarget) {
    if !clip.ignored_columns.is_empty() {
        eprintln!(
            "note: left out columns that are not blendshapes: {}",
            clip.ignored_columns.join(", ")
        );
    }
    report_unmapped(map);
}

/// Warns of the driver's coefficients the avatar lacks, and of the avatar's the driver lacks.
fn report_unmapped(map: &ExpressionRetarget) {
    if !map.unused.is_empty() {
        eprintln!(
            "warning: the avatar has no control for the driver's {}",
            map.unused.join(", ")
        );
    }
    if !map.missing.is_empty() {
        eprintln!(
            "warning: the driver does not move {} (held neutral)",
            map.missing.join(", ")
        );
    }
}
