//! The training loop every backend shares: the steps and their random choices, the stages and
//! their loss weights, progress, the curve, checkpoints and the end of a run. What a step
//! computes, and where, is a [`StepBackend`]: the CPU reference ([`super::cpu`]) or the GPU
//! (`cuda::train`). A backend keeps a step's losses until the loop asks for them all at once
//! ([`StepBackend::step_outcome`]), so that the GPU's are read in one wait per step.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::Rng;
use rand_pcg::Pcg64;

use super::adam::Adam;
use super::checkpoint::{CheckpointState, CheckpointWriter};
use super::data::{RayTargets, TrainingData};
use super::loss::{RayLoss, RayLossWeights};
use super::{
    CURVE_EVERY, Progress, RecentLoss, Stage, TrainControl, TrainError, TrainOptions, TrainOutcome,
    Work, check_options, fraction, push_curve_point, start_run, step_rng, summary,
};
use nerf_avatar::asset::Avatar;
use nerf_avatar::config::ModelConfig;
use nerf_avatar_data::{Dataset, Split};

/// One batch of rays of a step.
pub struct RayJob<'a> {
    /// The rays and what they should show.
    pub targets: &'a RayTargets,
    /// The weights of the ray losses.
    pub weights: RayLossWeights,
    /// The factor of the batch's losses.
    pub scale: f32,
    /// In the perceptual stage, the side of the square patch the rays form: LPIPS on it
    /// joins the losses, weighted like its L1.
    pub patch_side: Option<u32>,
    /// Which of a frame's batches it is (0: the frame's rays, 1: the patch), for backends
    /// that keep buffers per batch.
    pub index: usize,
}

/// A batch's losses as the loop records them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchLoss {
    /// The weighted loss.
    pub value: f64,
    /// Sum of squared colour errors (for PSNR).
    pub squared_error: f64,
    /// Colour values compared.
    pub compared: usize,
}

impl From<&RayLoss> for BatchLoss {
    fn from(loss: &RayLoss) -> Self {
        Self {
            value: loss.value,
            squared_error: loss.squared_error,
            compared: loss.compared,
        }
    }
}

/// What a step's work gave, read when the step's batches and sparsity term have been run.
pub struct StepOutcome {
    /// Each batch's losses, in the order the batches ran.
    pub batches: Vec<BatchLoss>,
    /// The sparsity term's loss.
    pub sparsity: f64,
    /// A gradient value that is NaN or infinite (NaN where the backend does not say which),
    /// if any.
    pub nonfinite_gradient: Option<f64>,
}

/// The work of a training step on one backend. The loop calls, per step:
/// [`clear_gradients`](Self::clear_gradients), then for each frame [`blend`](Self::blend),
/// [`rays`](Self::rays) per batch and [`blend_backward`](Self::blend_backward); then
/// [`sparsity`](Self::sparsity), [`step_outcome`](Self::step_outcome) and
/// [`adam_step`](Self::adam_step).
pub trait StepBackend {
    /// The backend's name in the training summary.
    const NAME: &'static str;

    /// Zeroes the parameter gradients.
    fn clear_gradients(&mut self) -> Result<(), TrainError>;

    /// Blends the table of the frame's (clamped) coefficients `weights` and zeroes the
    /// blended table's gradient.
    fn blend(&mut self, avatar: &Avatar, weights: &[f32]) -> Result<(), TrainError>;

    /// Renders a batch of rays, applies its losses (kept for
    /// [`step_outcome`](Self::step_outcome)) and back-propagates them into the MLP gradients
    /// and the blended table's gradient; returns the samples marched.
    fn rays(
        &mut self,
        avatar: &Avatar,
        job: RayJob<'_>,
        rng: &mut Pcg64,
    ) -> Result<usize, TrainError>;

    /// Adds the blended table's gradient to the gradients of the tables it was blended from.
    fn blend_backward(&mut self, weights: &[f32]) -> Result<(), TrainError>;

    /// Adds the gradient of the mean|h_i| term over the blendshape tables (its loss kept for
    /// [`step_outcome`](Self::step_outcome)).
    fn sparsity(&mut self, avatar: &Avatar, weight: f32) -> Result<(), TrainError>;

    /// The step's losses since the last call, and whether a gradient is not finite.
    fn step_outcome(&mut self) -> Result<StepOutcome, TrainError>;

    /// One Adam step of every parameter.
    fn adam_step(
        &mut self,
        avatar: &mut Avatar,
        adam: &mut Adam,
        learning_rate: f32,
    ) -> Result<(), TrainError>;

    /// Updates the avatar's occupancy grid (and whatever the backend marches with).
    fn update_occupancy(
        &mut self,
        avatar: &mut Avatar,
        max_weights: &[f32],
        seed: u64,
    ) -> Result<(), TrainError>;

    /// Brings the parameters and Adam's moments into `avatar` and `adam` (before a
    /// checkpoint and at the end).
    fn sync(&mut self, avatar: &mut Avatar, adam: &mut Adam) -> Result<(), TrainError>;
}

/// What a backend is started with: the run's model, and the avatar and optimiser it starts
/// from (fresh or resumed).
pub struct RunStart<'a> {
    /// The model configuration.
    pub config: &'a ModelConfig,
    /// The avatar at the first step.
    pub avatar: &'a Avatar,
    /// The optimiser at the first step.
    pub adam: &'a Adam,
    /// The run's options.
    pub options: &'a TrainOptions,
}

/// Trains `dataset` with the backend `start_backend` makes. `dataset_label` is recorded in
/// the training summary.
pub fn run<B: StepBackend>(
    dataset: &Dataset,
    dataset_label: &str,
    options: &TrainOptions,
    control: TrainControl<'_>,
    start_backend: impl FnOnce(RunStart<'_>) -> Result<B, TrainError>,
) -> Result<TrainOutcome, TrainError> {
    let config = check_options(dataset, options)?;
    let data = TrainingData::load(dataset, Split::Train)?;
    if data.frames.is_empty() {
        return Err(TrainError::Mismatch(
            "the dataset has no training frames".into(),
        ));
    }
    let (mut avatar, mut adam, start) = start_run(dataset, options, &config, &data)?;
    let mut backend = start_backend(RunStart {
        config: &config,
        avatar: &avatar,
        adam: &adam,
        options,
    })?;
    let mut curve = avatar.training.take().map(|t| t.curve).unwrap_or_default();
    let mut recent = RecentLoss::default();
    let started = Instant::now();
    let mut step = start.step;
    let mut interrupted = false;
    let max_weights = dataset.transforms.expression_max.clone();
    let seconds = |started: &Instant| start.seconds + started.elapsed().as_secs_f64();
    let elapsed = |started: &Instant| started.elapsed().as_secs_f64().max(1e-9);
    let mut work = Work::default();
    let mut checkpoints = CheckpointWriter::default();

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
        backend.clear_gradients()?;
        let mut step_loss = 0.0;
        let scale = 1.0 / options.frames_per_step as f32;
        for _ in 0..options.frames_per_step {
            let frame = &data.frames[rng.random_range(0..data.frames.len())];
            let mut weights = frame.weights.clone();
            avatar.clamp_expression(&mut weights);
            backend.blend(&avatar, &weights)?;
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
                let side = options.perceptual_loss.then_some(options.patch_size);
                batches.push((patch, patch_weights, 0.5 * scale, side));
            }
            for (index, (targets, weights, batch_scale, patch_side)) in
                batches.into_iter().enumerate()
            {
                let job = RayJob {
                    targets: &targets,
                    weights,
                    scale: batch_scale,
                    patch_side,
                    index,
                };
                work.samples += backend.rays(&avatar, job, &mut rng)? as u64;
                work.rays += targets.rays.len() as u64;
            }
            backend.blend_backward(&weights)?;
        }
        backend.sparsity(&avatar, options.schedule.sparsity_weight)?;
        let outcome = backend.step_outcome()?;
        for loss in &outcome.batches {
            step_loss += loss.value;
            recent.add_colour_error(loss);
        }
        step_loss += outcome.sparsity;
        recent.add_step_loss(step_loss);
        if !step_loss.is_finite() {
            return Err(TrainError::NonFinite {
                quantity: "loss",
                step,
                value: step_loss,
            });
        }
        if let Some(value) = outcome.nonfinite_gradient {
            return Err(TrainError::NonFinite {
                quantity: "gradient",
                step,
                value,
            });
        }
        let learning_rate = options.schedule.learning_rate(fraction_before);
        backend.adam_step(&mut avatar, &mut adam, learning_rate)?;
        step += 1;

        let fraction_after = fraction(options.length, step, seconds(&started));
        if options
            .schedule
            .occupancy_update_due(fraction_before, fraction_after)
        {
            backend.update_occupancy(&mut avatar, &max_weights, options.seed ^ step)?;
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
            backend.sync(&mut avatar, &mut adam)?;
            let time = seconds(&started);
            avatar.training = Some(summary(B::NAME, dataset, dataset_label, step, time, &curve));
            let state = CheckpointState {
                step,
                seconds: time,
                ..start.clone()
            };
            checkpoints.write(path, avatar.clone(), adam.clone(), state)?;
        }
    }
    checkpoints.finish()?;
    backend.sync(&mut avatar, &mut adam)?;
    avatar.training = Some(summary(
        B::NAME,
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
