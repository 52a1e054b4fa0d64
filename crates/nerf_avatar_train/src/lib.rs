//! Training: a dataset into an avatar (docs/METHOD.md §4).
//!
//! Each step draws `frames_per_step` training frames; for each, the frame's coefficients
//! blend one table, `rays_per_frame` rays (mouth-biased) are rendered with the training
//! marcher and the losses of the current [`Stage`] back-propagate into every table and
//! both MLPs; the mean|h_i| sparsity term joins, and Adam updates all parameters. The
//! expression-aware occupancy grid is refreshed on the schedule. Everything random comes
//! from a generator seeded by (seed, step), so a run, and a run resumed from a checkpoint,
//! give the same parameters for the same seed, data and thread count.

pub mod adam;
pub mod checkpoint;
mod cpu;
pub mod data;
pub mod loss;
pub mod run;
pub mod schedule;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64;

use adam::{Adam, AdamSettings};
use checkpoint::{CheckpointState, read_checkpoint};
use cpu::CpuSteps;
use data::{SamplingShares, TrainingData};
use nerf_avatar::asset::{AssetError, Avatar, CurvePoint, TrainingSummary};
use nerf_avatar::camera::Pose;
use nerf_avatar::config::{ConfigError, ModelConfig};
use nerf_avatar_data::{Dataset, DatasetError};
use nerf_avatar_eval::metrics::lpips::LpipsError;
pub use schedule::{Schedule, Stage};

/// Most points kept in the training curve (older points are thinned out).
const MAX_CURVE_POINTS: usize = 2000;

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RunLength {
    /// A fixed number of steps (reproducible).
    Steps(u64),
    /// A wall-clock budget; the schedule follows the time spent.
    Time(Duration),
}

/// Everything that shapes a run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The model to train; its blendshapes and head box must be the dataset's.
    pub config: ModelConfig,
    /// Frames per step (each with its own blended table).
    pub frames_per_step: usize,
    /// Rays rendered per frame.
    pub rays_per_frame: usize,
    /// Shares of rays drawn in the mouth and face boxes.
    pub sampling: SamplingShares,
    /// LPIPS (VGG) on patches in the perceptual stage (else L1 only on the patches).
    pub perceptual_loss: bool,
    /// Side of the square patches of the perceptual stage.
    pub patch_size: u32,
    /// How long to train.
    pub length: RunLength,
    /// Seed of every random choice.
    pub seed: u64,
    /// Loss weights, learning rate and milestones.
    pub schedule: Schedule,
    /// Where checkpoints go (none when `None`).
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Continue from the checkpoint when one exists.
    pub resume: bool,
}

impl TrainOptions {
    /// The released code's batch (2 frames × 1024 rays) for `config`, `steps` long.
    pub fn new(config: ModelConfig, length: RunLength) -> Self {
        Self {
            config,
            frames_per_step: 2,
            rays_per_frame: 1024,
            sampling: SamplingShares::default(),
            perceptual_loss: true,
            patch_size: 32,
            length,
            seed: 0,
            schedule: Schedule::default(),
            checkpoint: None,
            checkpoint_every: 500,
            resume: false,
        }
    }
}

/// What the caller sees of a running training.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Steps completed.
    pub step: u64,
    /// Fraction of the run done, in [0, 1].
    pub fraction: f64,
    /// Current stage.
    pub stage: Stage,
    /// Mean loss over the recent steps.
    pub loss: f64,
    /// PSNR of the recent steps' ray colours, in dB.
    pub psnr: f64,
    /// Steps per second since the start (or the resume).
    pub steps_per_second: f64,
    /// Rays rendered per second since the start (or the resume).
    pub rays_per_second: f64,
    /// Samples evaluated (forward and backward) per second since the start (or the resume).
    pub samples_per_second: f64,
    /// Seconds spent training (including before a resume).
    pub seconds: f64,
}

/// Why training stopped early or could not start.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so no
/// variant exposes a `source` that an error report would print a second time.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The perceptual loss could not be loaded or evaluated.
    #[error("LPIPS: {0}")]
    Perceptual(LpipsError),
    /// The configuration does not describe a model.
    #[error("invalid model config: {0}")]
    Config(ConfigError),
    /// The avatar could not be built or encoded.
    #[error(transparent)]
    Asset(#[from] AssetError),
    /// The dataset and the options disagree.
    #[error("dataset and model disagree: {0}")]
    Mismatch(String),
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {problem}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The step backend failed (the GPU of the CUDA backend, say).
    #[error("{backend} backend: {error}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What went wrong.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The loss or a gradient stopped being a finite number.
    #[error(
        "the {quantity} became {value} at step {step}; training stopped (the last good checkpoint, if any, is kept)"
    )]
    NonFinite {
        /// What diverged: "loss" or "gradient".
        quantity: &'static str,
        /// The step at which it happened.
        step: u64,
        /// The value.
        value: f64,
    },
}

impl From<LpipsError> for TrainError {
    fn from(error: LpipsError) -> Self {
        Self::Perceptual(error)
    }
}

impl From<ConfigError> for TrainError {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// The trained avatar.
    pub avatar: Avatar,
    /// Whether it was stopped before its planned length.
    pub interrupted: bool,
}

/// Outside control of a run: a stop flag (Ctrl-C) and a progress callback.
pub struct TrainControl<'a> {
    /// Set to stop after the current step.
    pub stop: &'a AtomicBool,
    /// Called every few steps.
    pub on_progress: &'a mut dyn FnMut(&Progress),
}

/// A fresh optimiser for an avatar's parameters: weight decay on the MLPs only.
pub fn new_optimizer(avatar: &Avatar) -> Adam {
    let layout = &avatar.params.layout;
    Adam::new(
        AdamSettings::default(),
        avatar.params.data.len(),
        layout.density().start..layout.color().end,
    )
}

/// Trains `dataset` into an avatar on the CPU. `dataset_label` is recorded in the training
/// summary.
pub fn train(
    dataset: &Dataset,
    dataset_label: &str,
    options: &TrainOptions,
    control: TrainControl<'_>,
) -> Result<TrainOutcome, TrainError> {
    run::run(dataset, dataset_label, options, control, CpuSteps::new)
}

/// The avatar, optimiser and run state a run starts from: fresh, or read from the checkpoint
/// when `options.resume` is set and one exists (it must have the same configuration and seed).
pub(crate) fn start_run(
    dataset: &Dataset,
    options: &TrainOptions,
    config: &ModelConfig,
    data: &TrainingData,
) -> Result<(Avatar, Adam, CheckpointState), TrainError> {
    let transforms = &dataset.transforms;
    let fresh = || -> Result<(Avatar, Adam, CheckpointState), TrainError> {
        let mut avatar = Avatar::new(config.clone(), options.seed)?;
        avatar.expression_min = transforms.expression_min.clone();
        avatar.expression_max = transforms.expression_max.clone();
        avatar.intrinsics = Some(data.intrinsics);
        let poses: Vec<Pose> = data.frames.iter().map(|frame| frame.pose).collect();
        avatar.view = Pose::mean(&poses);
        let adam = new_optimizer(&avatar);
        let state = CheckpointState {
            version: 1,
            step: 0,
            seed: options.seed,
            planned_steps: planned_steps(options.length),
            seconds: 0.0,
        };
        Ok((avatar, adam, state))
    };
    match &options.checkpoint {
        Some(path) if options.resume && path.exists() => {
            let checkpoint = read_checkpoint(path)?;
            if checkpoint.avatar.config != *config || checkpoint.state.seed != options.seed {
                return Err(TrainError::Checkpoint {
                    path: path.clone(),
                    problem: "it was made with another model configuration or seed".into(),
                });
            }
            Ok((checkpoint.avatar, checkpoint.adam, checkpoint.state))
        }
        _ => fresh(),
    }
}

/// Steps between progress reports and curve points.
pub(crate) const CURVE_EVERY: u64 = 10;

/// The model configuration a run trains, checked against the dataset.
pub(crate) fn check_options(
    dataset: &Dataset,
    options: &TrainOptions,
) -> Result<ModelConfig, TrainError> {
    let t = &dataset.transforms;
    if options.config.blendshapes != t.blendshapes {
        return Err(TrainError::Mismatch(format!(
            "the model's blendshapes {:?} are not the dataset's {:?}",
            options.config.blendshapes, t.blendshapes
        )));
    }
    if options.config.head_box != t.head_box {
        return Err(TrainError::Mismatch(
            "the model's head box is not the dataset's".into(),
        ));
    }
    if options.frames_per_step == 0 || options.rays_per_frame == 0 || options.patch_size == 0 {
        return Err(TrainError::Mismatch(
            "frames per step, rays per frame and patch size must be positive".into(),
        ));
    }
    options.config.validate()?;
    Ok(options.config.clone())
}

/// The generator of step `step`: independent of what came before, so resuming is exact.
pub(crate) fn step_rng(seed: u64, step: u64) -> Pcg64 {
    Pcg64::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ step)
}

pub(crate) fn planned_steps(length: RunLength) -> Option<u64> {
    match length {
        RunLength::Steps(n) => Some(n),
        RunLength::Time(_) => None,
    }
}

pub(crate) fn fraction(length: RunLength, step: u64, seconds: f64) -> f64 {
    match length {
        RunLength::Steps(0) => 1.0,
        RunLength::Steps(n) => step as f64 / n as f64,
        RunLength::Time(budget) => seconds / budget.as_secs_f64().max(1e-9),
    }
}

pub(crate) fn summary(
    backend: &str,
    dataset: &Dataset,
    label: &str,
    steps: u64,
    seconds: f64,
    curve: &[CurvePoint],
) -> TrainingSummary {
    let last = curve.last();
    TrainingSummary {
        steps: Some(steps),
        seconds: Some(seconds),
        backend: Some(backend.into()),
        dataset_name: Some(label.to_owned()),
        dataset_path: Some(dataset.root.display().to_string()),
        final_loss: last.map(|p| p.loss),
        final_psnr: last.map(|p| p.psnr),
        date: None,
        curve: curve.to_vec(),
    }
}

pub(crate) fn push_curve_point(curve: &mut Vec<CurvePoint>, progress: &Progress) {
    curve.push(CurvePoint {
        step: progress.step,
        seconds: progress.seconds,
        loss: progress.loss,
        psnr: progress.psnr,
    });
    if curve.len() > MAX_CURVE_POINTS {
        let last = curve.pop();
        let mut i = 0;
        curve.retain(|_| {
            i += 1;
            i % 2 == 1
        });
        curve.extend(last);
    }
}

/// Rays and samples rendered since the start (or the resume).
#[derive(Default)]
pub(crate) struct Work {
    pub(crate) rays: u64,
    pub(crate) samples: u64,
}

/// Loss and colour error summed over the steps since the last report.
#[derive(Default)]
pub(crate) struct RecentLoss {
    loss: f64,
    steps: u64,
    squared_error: f64,
    compared: usize,
}

impl RecentLoss {
    pub(crate) fn add_step_loss(&mut self, loss: f64) {
        self.loss += loss;
        self.steps += 1;
    }

    pub(crate) fn add_colour_error(&mut self, loss: &run::BatchLoss) {
        self.squared_error += loss.squared_error;
        self.compared += loss.compared;
    }

    pub(crate) fn mean_loss(&self) -> f64 {
        self.loss / self.steps.max(1) as f64
    }

    pub(crate) fn psnr(&self) -> f64 {
        let mse = self.squared_error / self.compared.max(1) as f64;
        -10.0 * mse.max(1e-10).log10()
    }
}
