//! `nerf-avatar track`: a video (or a folder of frames) → a dataset folder, with MediaPipe's
//! Face Landmarker models on tract (see `nerf_avatar_track`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar_track::camera::DEFAULT_FOV_Y_DEGREES;
use nerf_avatar_track::{Focal, Progress, TrackOptions, track_to_dataset};

/// Options of `track`.
#[derive(Args)]
pub struct TrackArgs {
    /// A video file (decoded with ffmpeg) or a folder of PNG/JPEG frames (sorted by name).
    input: PathBuf,
    /// Folder to write the dataset into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Read at most this many frames.
    #[arg(long)]
    max_frames: Option<usize>,
    /// Side of the square images written, in pixels (a square crop around the head, resized).
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Frames held out for testing, the last ones [default: 10% of the frames with a face].
    #[arg(long)]
    test_frames: Option<usize>,
    /// Vertical field of view of the source camera, in degrees.
    #[arg(long, default_value_t = DEFAULT_FOV_Y_DEGREES, conflicts_with = "focal")]
    fov_y: f64,
    /// Focal length of the source camera in source pixels (instead of --fov-y).
    #[arg(long)]
    focal: Option<f64>,
    /// Radius in frames of a moving average over poses and coefficients (0: none).
    #[arg(long, default_value_t = 0)]
    smooth: usize,
}

/// Tracks the input and writes the dataset.
pub fn run(args: &TrackArgs) -> anyhow::Result<()> {
    ensure!(
        (16..=4096).contains(&args.size),
        "--size must be between 16 and 4096 pixels"
    );
    ensure!(
        args.fov_y > 1.0 && args.fov_y < 170.0,
        "--fov-y must be between 1 and 170 degrees"
    );
    if let Some(focal) = args.focal {
        ensure!(
            focal.is_finite() && focal > 0.0,
            "--focal must be a positive number of pixels"
        );
    }
    ensure!(
        args.max_frames != Some(0),
        "--max-frames must be at least 1"
    );
    let options = TrackOptions {
        max_frames: args.max_frames,
        size: args.size,
        test_frames: args.test_frames,
        focal: args.focal.map_or(Focal::FovY(args.fov_y), Focal::Pixels),
        smoothing: args.smooth,
    };
    let started = Instant::now();
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .context("progress bar template")?,
    );
    let mut on_progress = |progress: Progress| match progress {
        Progress::Tracked { frames, faces } => {
            bar.set_message(format!(
                "tracking: {frames} frames read, {faces} with a face"
            ));
            bar.tick();
        }
        Progress::Written { written, total } => {
            bar.set_message(format!("writing: {written}/{total} frames"));
            bar.tick();
        }
    };
    let report = track_to_dataset(&args.input, &args.out, &options, &mut on_progress)
        .with_context(|| format!("tracking {}", args.input.display()))?;
    bar.finish_and_clear();
    if !report.skipped.is_empty() {
        let shown: Vec<String> = report.skipped.iter().take(20).map(u64::to_string).collect();
        let more = report.skipped.len().saturating_sub(shown.len());
        eprintln!(
            "warning: no face in {} frame(s), skipped: {}{}",
            report.skipped.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    let tracked = report.train + report.test;
    println!(
        "tracked {tracked} of {} frames in {:.1} s ({:.1} frames/s); wrote {} ({} train, {} test, {}×{} px, vertical field of view {:.1}°, masks {})",
        report.frames_read,
        report.tracking_seconds,
        report.frames_read as f64 / report.tracking_seconds.max(1e-9),
        report.transforms.display(),
        report.train,
        report.test,
        report.crop.size,
        report.crop.size,
        report.camera.fov_y_degrees(),
        if report.keyed {
            "segmented and keyed on a uniform backdrop"
        } else {
            "segmented (the backdrop is not uniform enough to key)"
        },
    );
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
