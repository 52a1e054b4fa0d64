//! Training: a dataset into an avatar (METHOD.md §4).
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
pub mod data;
pub mod loss;
pub mod schedule;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::asset::{AssetError, Avatar, CurvePoint, TrainingSummary};
use crate::camera::Pose;
use crate::config::{ConfigError, ModelConfig};
use crate::dataset::{Dataset, DatasetError, Split};
use crate::field::Model;
use crate::hashgrid::{blend_tables, blend_tables_backward};
use crate::march::MarchSettings;
use crate::metrics::lpips::patch::PatchLpips;
use crate::metrics::lpips::{Backbone, LpipsError};
use crate::params::Params;
use crate::render::RayBatch;
use adam::{Adam, AdamSettings};
use checkpoint::{CheckpointState, read_checkpoint, write_checkpoint};
use data::{RayTargets, SamplingShares, TrainingData};
use loss::{RayLossWeights, ray_loss, sparsity_loss};
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
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The perceptual loss could not be loaded or evaluated.
    #[error("LPIPS: {0}")]
    Perceptual(#[from] LpipsError),
    /// The configuration does not describe a model.
    #[error("invalid model config: {0}")]
    Config(#[from] ConfigError),
    /// The avatar could not be built or encoded.
    #[error("{0}")]
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
    /// The GPU failed (CUDA backend).
    #[cfg(feature = "cuda")]
    #[error("CUDA backend: {0}")]
    Cuda(#[from] crate::cuda::CudaError),
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

/// Trains `dataset` into an avatar. `dataset_label` is recorded in the training summary.
pub fn train(
    dataset: &Dataset,
    dataset_label: &str,
    options: &TrainOptions,
    control: TrainControl<'_>,
) -> Result<TrainOutcome, TrainError> {
    let config = check_options(dataset, options)?;
    let data = TrainingData::load(dataset, Split::Train)?;
    if data.frames.is_empty() {
        return Err(TrainError::Mismatch(
            "the dataset has no training frames".into(),
        ));
    }
    let transforms = &dataset.transforms;
    let (mut avatar, mut adam, start) = start_run(dataset, options, &config, &data)?;

    let lpips = if options.perceptual_loss {
        Some(PatchLpips::load_default(Backbone::Vgg)?)
    } else {
        None
    };
    let model = Model::new(&config);
    let settings = MarchSettings::training(&config);
    let mut curve = avatar.training.take().map(|t| t.curve).unwrap_or_default();
    let mut recent = RecentLoss::default();
    let started = Instant::now();
    let mut step = start.step;
    let mut interrupted = false;
    let mut grads = Params::<f32>::zeros(avatar.params.layout.clone());
    let mut table = vec![0.0f32; model.layout.table_len];
    let mut ray_batches: [RayBatch<f32>; 2] = Default::default();
    let max_weights = transforms.expression_max.clone();
    let seconds = |started: &Instant| start.seconds + started.elapsed().as_secs_f64();
    let elapsed = |started: &Instant| started.elapsed().as_secs_f64().max(1e-9);
    let mut work = Work::default();

    loop {
        let fraction_before = fraction(options.length, step, seconds(&started));
        if fraction_before >= 1.0 {
            break;
        }
        if control.stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let stage = options.schedule.stage(fraction_before);
        let mut rng = step_rng(options.seed, step);
        grads.data.fill(0.0);
        let mut step_loss = 0.0;
        let scale = 1.0 / options.frames_per_step as f32;
        for _ in 0..options.frames_per_step {
            let frame = &data.frames[rng.random_range(0..data.frames.len())];
            let mut weights = frame.weights.clone();
            avatar.clamp_expression(&mut weights);
            blend_tables(avatar.params.tables(), &weights, &mut table);
            let targets =
                data.sample_rays(frame, options.rays_per_frame, options.sampling, &mut rng);
            let ray_weights = RayLossWeights {
                color: 1.0,
                mask: if stage == Stage::ColorAndMask {
                    1.0
                } else {
                    0.0
                },
                entropy: options.schedule.entropy_weight,
            };
            let frame_scale = if stage == Stage::Perceptual {
                0.5 * scale
            } else {
                scale
            };
            let mut batches = vec![(targets, ray_weights, frame_scale, None)];
            if stage == Stage::Perceptual {
                let patch = data.sample_patch(frame, options.patch_size, &mut rng);
                let patch_weights = RayLossWeights {
                    color: options.schedule.patch_weight,
                    ..ray_weights
                };
                let perceptual = lpips.as_ref().map(|l| (l, options.patch_size));
                batches.push((patch, patch_weights, 0.5 * scale, perceptual));
            }
            let mut d_table = vec![0.0f32; model.layout.table_len];
            for ((targets, weights, batch_scale, perceptual), batch) in
                batches.into_iter().zip(&mut ray_batches)
            {
                let (loss, d) = rays_step(
                    &model,
                    &avatar,
                    &settings,
                    &table,
                    &targets,
                    weights,
                    batch_scale,
                    perceptual,
                    &mut rng,
                    batch,
                    &mut grads.data,
                )?;
                step_loss += loss.value;
                recent.add_colour_error(&loss);
                work.rays += targets.rays.len() as u64;
                work.samples += batch.samples.samples.len() as u64;
                for (g, v) in d_table.iter_mut().zip(d) {
                    *g += v;
                }
            }
            let tables = grads.layout.tables();
            blend_tables_backward(&d_table, &weights, &mut grads.data[tables]);
        }
        let deltas = avatar.params.layout.table(1).start..avatar.params.layout.tables().end;
        step_loss += sparsity_loss(
            &avatar.params.data[deltas.clone()],
            &mut grads.data[deltas],
            options.schedule.sparsity_weight,
        );
        recent.add_step_loss(step_loss);
        if !step_loss.is_finite() {
            return Err(TrainError::NonFinite {
                quantity: "loss",
                step,
                value: step_loss,
            });
        }
        if let Some(bad) = grads.data.iter().find(|g| !g.is_finite()) {
            return Err(TrainError::NonFinite {
                quantity: "gradient",
                step,
                value: f64::from(*bad),
            });
        }
        adam.step(
            &mut avatar.params.data,
            &grads.data,
            options.schedule.learning_rate(fraction_before),
        );
        step += 1;

        let fraction_after = fraction(options.length, step, seconds(&started));
        if options
            .schedule
            .occupancy_update_due(fraction_before, fraction_after)
        {
            avatar
                .occupancy
                .update(&model, &avatar.params, &max_weights, options.seed ^ step);
        }
        if step % CURVE_EVERY == 0 || fraction_after >= 1.0 {
            let progress = Progress {
                step,
                fraction: fraction_after.min(1.0),
                stage,
                loss: recent.mean_loss(),
                psnr: recent.psnr(),
                steps_per_second: (step - start.step) as f64 / elapsed(&started),
                rays_per_second: work.rays as f64 / elapsed(&started),
                samples_per_second: work.samples as f64 / elapsed(&started),
                seconds: seconds(&started),
            };
            push_curve_point(&mut curve, &progress);
            (control.on_progress)(&progress);
            recent = RecentLoss::default();
        }
        if let Some(path) = &options.checkpoint
            && step % options.checkpoint_every.max(1) == 0
        {
            avatar.training = Some(summary(
                "cpu",
                dataset,
                dataset_label,
                step,
                seconds(&started),
                &curve,
            ));
            let state = CheckpointState {
                step,
                seconds: seconds(&started),
                ..start.clone()
            };
            write_checkpoint(path, &avatar, &adam, &state)?;
        }
    }
    avatar.training = Some(summary(
        "cpu",
        dataset,
        dataset_label,
        step,
        seconds(&started),
        &curve,
    ));
    Ok(TrainOutcome {
        avatar,
        interrupted,
    })
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

/// Renders one batch of rays (reusing `batch`'s buffers), applies its losses — with
/// `perceptual = Some((lpips, side))`, also LPIPS of the `side`×`side` patch the rays form,
/// weighted like its L1 — and back-propagates: MLP gradients land in `grads`, the blended
/// table's gradient is returned.
#[expect(
    clippy::too_many_arguments,
    reason = "one step's model state, batch and outputs"
)]
fn rays_step(
    model: &Model,
    avatar: &Avatar,
    settings: &MarchSettings,
    table: &[f32],
    targets: &RayTargets,
    weights: RayLossWeights,
    scale: f32,
    perceptual: Option<(&PatchLpips, u32)>,
    rng: &mut Pcg64,
    batch: &mut RayBatch<f32>,
    grads: &mut [f32],
) -> Result<(loss::RayLoss, Vec<f32>), TrainError> {
    let jitters: Vec<f32> = (0..targets.rays.len())
        .map(|_| rng.random::<f32>())
        .collect();
    batch.forward_in_place(
        model,
        &avatar.params.data,
        table,
        &avatar.occupancy,
        settings,
        &targets.rays,
        &jitters,
        &targets.background,
    );
    let mut loss = ray_loss(&batch.rays, targets, weights, scale);
    if let Some((lpips, side)) = perceptual
        && batch.rays.len() == (side * side) as usize
    {
        let rendered: Vec<f32> = batch.rays.iter().flat_map(|r| r.color).collect();
        let truth: Vec<f32> = targets.color.iter().flatten().copied().collect();
        let side = side as usize;
        let (distance, gradient) =
            lpips.distance_and_gradient(&[&rendered], &[&truth], side, side)?;
        let weight = scale * weights.color;
        loss.value += f64::from(weight * distance);
        for (d, g) in loss.d_color.iter_mut().zip(gradient[0].chunks_exact(3)) {
            for c in 0..3 {
                d[c] += weight * g[c];
            }
        }
    }
    let d_table = batch.backward(
        model,
        &avatar.params.data,
        &loss.d_color,
        &loss.d_alpha,
        grads,
    );
    Ok((loss, d_table))
}

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

    pub(crate) fn add_colour_error(&mut self, loss: &loss::RayLoss) {
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
