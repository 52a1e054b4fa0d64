//! `nerf-avatar train`: a dataset into an avatar asset, with progress, Ctrl-C, time limits,
//! checkpoints and resume.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nerf_avatar::asset::{Precision, beside_avatar};
use nerf_avatar::config::ModelConfig;
use nerf_avatar_cuda::half_mlp::MlpPrecision;
use nerf_avatar_cuda::train::train_cuda;
use nerf_avatar_data::Dataset;
use nerf_avatar_eval::report::write_training_curve;
use nerf_avatar_train::checkpoint::checkpoint_path;
use nerf_avatar_train::{Progress, RunLength, TrainControl, TrainOptions, train};

use crate::backend::{Backend, Trainer, choose_trainer};

/// Arguments of `nerf-avatar train`.
#[derive(Args)]
pub struct TrainArgs {
    /// The dataset folder (the project's format or the authors' released one).
    dataset: PathBuf,
    /// Where to write the avatar (`NAME.avatar.safetensors`).
    #[arg(long)]
    out: PathBuf,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "auto")]
    backend: Backend,
    /// Model preset: tiny, fast or paper.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Steps to train (reproducible; the default when neither --steps nor --minutes is given
    /// is 2000).
    #[arg(long, conflicts_with = "minutes")]
    steps: Option<u64>,
    /// Minutes to train (the schedule follows the clock).
    #[arg(long)]
    minutes: Option<f64>,
    /// Continue from the checkpoint beside --out.
    #[arg(long)]
    resume: bool,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Rays per frame.
    #[arg(long, default_value_t = 1024)]
    rays: usize,
    /// Frames per step.
    #[arg(long, default_value_t = 2)]
    frames_per_step: usize,
    /// Base learning rate (default: the paper's 1e-3 for `paper`, instant-ngp's 1e-2 for the
    /// small presets, which train in far fewer steps).
    #[arg(long)]
    lr: Option<f32>,
    /// Cells per axis of the occupancy grid (default: the preset's).
    #[arg(long)]
    occupancy_resolution: Option<u32>,
    /// Skip LPIPS (VGG) on patches in the last stage (L1 only); it needs the VGG weights
    /// that `scripts/setup.sh` fetches.
    #[arg(long)]
    no_lpips: bool,
    /// Store the weights in 16-bit floats.
    #[arg(long)]
    f16: bool,
    /// How the CUDA backend computes the MLPs' products: fp32 tiles, or f16 on the tensor
    /// cores with fp32 sums and loss scaling (sm_80 and later).
    #[arg(long, value_enum, default_value = "fp32")]
    gpu_mlp: GpuMlp,
}

/// `--gpu-mlp`: the precision of the CUDA backend's MLP products.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum GpuMlp {
    Fp32,
    Fp16,
}

impl From<GpuMlp> for MlpPrecision {
    fn from(value: GpuMlp) -> Self {
        match value {
            GpuMlp::Fp32 => MlpPrecision::Fp32,
            GpuMlp::Fp16 => MlpPrecision::Fp16,
        }
    }
}

/// Trains and writes the avatar.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let backend = choose_trainer(args.backend)?;
    let length = match (args.steps, args.minutes) {
        (_, Some(m)) if !(m.is_finite() && m > 0.0) => bail!("--minutes must be a positive number"),
        (_, Some(m)) => RunLength::Time(Duration::from_secs_f64(m * 60.0)),
        (Some(n), None) => RunLength::Steps(n),
        (None, None) => RunLength::Steps(2000),
    };
    let dataset = Dataset::load(&args.dataset)?;
    // The avatar, its checkpoints and pictures go beside --out: make its folder now rather
    // than fail at the first write after minutes of training.
    if let Some(folder) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}, the folder of --out", folder.display()))?;
    }
    let transforms = &dataset.transforms;
    let mut config =
        ModelConfig::preset(&args.preset)?.with_blendshapes(transforms.blendshapes.clone());
    config.head_box = transforms.head_box;
    if let Some(resolution) = args.occupancy_resolution {
        config.occupancy_resolution = resolution;
    }
    let mut options = TrainOptions::new(config, length);
    options.seed = args.seed;
    options.rays_per_frame = args.rays;
    options.frames_per_step = args.frames_per_step;
    options.checkpoint = Some(checkpoint_path(&args.out));
    options.checkpoint_every = args.checkpoint_every;
    options.resume = args.resume;
    options.perceptual_loss = !args.no_lpips;
    let lr = args
        .lr
        .unwrap_or(if args.preset == "paper" { 1e-3 } else { 1e-2 });
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be a positive number");
    }
    options.schedule.learning_rate = lr;

    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_flag.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;

    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {percent:>3}% {msg} [{elapsed_precise} < {eta_precise}]",
        )
        .context("progress bar template")?,
    );
    let mut last = None;
    let mut on_progress = |p: &Progress| {
        bar.set_position((p.fraction * 1000.0) as u64);
        bar.set_message(format!(
            "step {} loss {:.4} PSNR {:.2} dB {:.2} steps/s {:?}",
            p.step, p.loss, p.psnr, p.steps_per_second, p.stage
        ));
        last = Some(p.clone());
    };
    let label = args
        .dataset
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let control = TrainControl {
        stop: &stop,
        on_progress: &mut on_progress,
    };
    let outcome = match backend {
        Trainer::Cpu => {
            if args.gpu_mlp != GpuMlp::Fp32 {
                eprintln!("note: --gpu-mlp applies to the CUDA backend; the CPU trains in fp32");
            }
            train(&dataset, &label, &options, control).map_err(anyhow::Error::from)
        }
        Trainer::Cuda(device) => {
            let precision = args.gpu_mlp.into();
            train_cuda(device, &dataset, &label, &options, control, precision)
                .context("training on the GPU (--backend cpu trains on the CPU)")
        }
    };
    bar.finish();
    let outcome = outcome?;
    if let Some(p) = last {
        eprintln!(
            "speed: {:.2} steps/s, {:.0} rays/s, {:.0} samples/s",
            p.steps_per_second, p.rays_per_second, p.samples_per_second
        );
    }
    let precision = if args.f16 {
        Precision::F16
    } else {
        Precision::F32
    };
    outcome.avatar.write(&args.out, precision)?;
    let summary = outcome.avatar.training.clone().unwrap_or_default();
    let curve_png = beside_avatar(&args.out, "curve.png");
    if !summary.curve.is_empty() {
        write_training_curve(&summary.curve, &curve_png)?;
        eprintln!("training curve: {}", curve_png.display());
    }
    eprintln!(
        "{} after {} steps in {:.0} s (last PSNR {:.2} dB): wrote {}",
        if outcome.interrupted {
            "stopped"
        } else {
            "trained"
        },
        summary.steps.unwrap_or(0),
        summary.seconds.unwrap_or(0.0),
        summary.final_psnr.unwrap_or(f64::NAN),
        args.out.display()
    );
    Ok(())
}
