//! Training on the GPU: the loop of [`crate::train::train`] (same sampling, schedule, losses,
//! checkpoints and resume, the same random choices for the same seed), with every step's
//! heavy work on the device: blend, marching, field forward, compositing, ray losses, their
//! backward passes, patch LPIPS in the perceptual stage ([`super::lpips`]), the sparsity term,
//! the finiteness check, Adam and the occupancy update. Parameters and Adam's moments stay on
//! the device and come to the host for checkpoints and at the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cudarc::driver::CudaSlice;
use rand::Rng;
use rand_pcg::Pcg64;

use super::CudaError;
use super::device::CudaDevice;
use super::field::{DeviceFieldTape, field_backward, field_forward};
use super::lpips::CudaLpips;
use super::occupancy::update_occupancy;
use super::ops::{
    self, CompositeBuffers, DeviceGrid, MarchConfig, RayLossGradients, count_nonfinite,
};
use crate::dataset::{Dataset, Split};
use crate::field::Model;
use crate::march::MarchSettings;
use crate::metrics::lpips::Backbone;
use crate::metrics::lpips::patch::PatchLpips;
use crate::train::checkpoint::{CheckpointState, write_checkpoint};
use crate::train::data::{RayTargets, TrainingData};
use crate::train::loss::{RayLoss, RayLossWeights};
use crate::train::{
    CURVE_EVERY, Progress, RecentLoss, Stage, TrainControl, TrainError, TrainOptions, TrainOutcome,
    Work, check_options, fraction, push_curve_point, start_run, step_rng, summary,
};

/// The model's trainable state on the device.
struct DeviceState {
    params: CudaSlice<f32>,
    grads: CudaSlice<f32>,
    m: CudaSlice<f32>,
    v: CudaSlice<f32>,
    occupancy: CudaSlice<u8>,
    table: CudaSlice<f32>,
    d_table: CudaSlice<f32>,
    weights: CudaSlice<f32>,
    tape: DeviceFieldTape,
}

/// What one batch of rays gave.
struct BatchResult {
    loss: RayLoss,
    samples: usize,
}

/// [`crate::train::train`] on `device`.
pub fn train_cuda(
    device: Arc<CudaDevice>,
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
    let (mut avatar, mut adam, start) = start_run(dataset, options, &config, &data)?;
    let lpips = if options.perceptual_loss {
        let weights = PatchLpips::load_default(Backbone::Vgg)?;
        Some(CudaLpips::new(&device, &weights)?)
    } else {
        None
    };
    let model = Model::new(&config);
    let grid = DeviceGrid::new(&device, &model.grid)?;
    let settings = MarchSettings::training(&config);
    let k = config.blendshape_count();
    let mut state = DeviceState {
        params: device.upload(&avatar.params.data)?,
        grads: device.zeros(avatar.params.data.len())?,
        m: device.upload(&adam.m)?,
        v: device.upload(&adam.v)?,
        occupancy: device.upload(&avatar.occupancy.bitfield)?,
        table: device.zeros(model.layout.table_len)?,
        d_table: device.zeros(model.layout.table_len)?,
        weights: device.zeros(k.max(1))?,
        tape: DeviceFieldTape::default(),
    };
    let mut march = MarchConfig::new(&config, &settings, avatar.occupancy.resolution);
    let mut curve = avatar.training.take().map(|t| t.curve).unwrap_or_default();
    let mut recent = RecentLoss::default();
    let started = Instant::now();
    let mut step = start.step;
    let mut interrupted = false;
    let max_weights = dataset.transforms.expression_max.clone();
    let seconds = |started: &Instant| start.seconds + started.elapsed().as_secs_f64();
    let elapsed = |started: &Instant| started.elapsed().as_secs_f64().max(1e-9);
    let mut work = Work::default();
    let deltas = avatar.params.layout.table(1).start..avatar.params.layout.tables().end;
    let decay = adam.decay_range.clone();

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
        device.clear(&mut state.grads)?;
        let mut step_loss = 0.0;
        let scale = 1.0 / options.frames_per_step as f32;
        for _ in 0..options.frames_per_step {
            let frame = &data.frames[rng.random_range(0..data.frames.len())];
            let mut weights = frame.weights.clone();
            avatar.clamp_expression(&mut weights);
            if k > 0 {
                device.write(&weights, &mut state.weights)?;
            }
            ops::blend_tables(&device, &state.params, &state.weights, k, &mut state.table)?;
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
            device.clear(&mut state.d_table)?;
            for (targets, weights, batch_scale, perceptual) in batches {
                let result = rays_step(
                    &device,
                    &model,
                    &grid,
                    &march,
                    &mut state,
                    &targets,
                    weights,
                    batch_scale,
                    perceptual,
                    &mut rng,
                )?;
                step_loss += result.loss.value;
                recent.add_colour_error(&result.loss);
                work.rays += targets.rays.len() as u64;
                work.samples += result.samples as u64;
            }
            ops::blend_tables_backward(
                &device,
                &state.d_table,
                &state.weights,
                k,
                &mut state.grads,
            )?;
        }
        step_loss += ops::sparsity_loss(
            &device,
            &state.params,
            &mut state.grads,
            deltas.clone(),
            options.schedule.sparsity_weight,
        )?;
        recent.add_step_loss(step_loss);
        if !step_loss.is_finite() {
            return Err(TrainError::NonFinite {
                quantity: "loss",
                step,
                value: step_loss,
            });
        }
        let bad = count_nonfinite(&device, &state.grads, avatar.params.data.len())?;
        if bad > 0 {
            return Err(TrainError::NonFinite {
                quantity: "gradient",
                step,
                value: f64::NAN,
            });
        }
        adam.steps += 1;
        ops::adam_step(
            &device,
            &mut state.params,
            &state.grads,
            &mut state.m,
            &mut state.v,
            &adam.settings,
            adam.steps,
            options.schedule.learning_rate(fraction_before),
            decay.clone(),
        )?;
        step += 1;

        let fraction_after = fraction(options.length, step, seconds(&started));
        if options
            .schedule
            .occupancy_update_due(fraction_before, fraction_after)
        {
            update_occupancy(
                &device,
                &model,
                &grid,
                &state.params,
                &max_weights,
                &mut avatar.occupancy,
                options.seed ^ step,
            )?;
            state.occupancy = device.upload(&avatar.occupancy.bitfield)?;
            march = MarchConfig::new(&config, &settings, avatar.occupancy.resolution);
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
            download_state(&device, &state, &mut avatar.params.data, &mut adam)?;
            avatar.training = Some(summary(
                "cuda",
                dataset,
                dataset_label,
                step,
                seconds(&started),
                &curve,
            ));
            let checkpoint_state = CheckpointState {
                step,
                seconds: seconds(&started),
                ..start.clone()
            };
            write_checkpoint(path, &avatar, &adam, &checkpoint_state)?;
        }
    }
    download_state(&device, &state, &mut avatar.params.data, &mut adam)?;
    avatar.training = Some(summary(
        "cuda",
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

/// Copies the parameters and Adam's moments to the host.
fn download_state(
    device: &CudaDevice,
    state: &DeviceState,
    params: &mut Vec<f32>,
    adam: &mut crate::train::adam::Adam,
) -> Result<(), CudaError> {
    let len = params.len();
    *params = device.download(&state.params, len)?;
    adam.m = device.download(&state.m, len)?;
    adam.v = device.download(&state.v, len)?;
    Ok(())
}

/// One batch of rays on the device (the twin of the CPU loop's `rays_step`): marches,
/// evaluates and composites the rays, applies the losses (with LPIPS of the patch when
/// `perceptual` is set) and back-propagates: MLP gradients into `state.grads`, the blended
/// table's gradient into `state.d_table`.
#[expect(
    clippy::too_many_arguments,
    reason = "one step's model state, batch and outputs"
)]
fn rays_step(
    device: &CudaDevice,
    model: &Model,
    grid: &DeviceGrid,
    march: &MarchConfig,
    state: &mut DeviceState,
    targets: &RayTargets,
    weights: RayLossWeights,
    scale: f32,
    perceptual: Option<(&CudaLpips, u32)>,
    rng: &mut Pcg64,
) -> Result<BatchResult, TrainError> {
    let rays = targets.rays.len();
    let jitters: Vec<f32> = (0..rays).map(|_| rng.random::<f32>()).collect();
    let origins: Vec<f32> = targets.rays.iter().flat_map(|r| r.origin).collect();
    let directions: Vec<f32> = targets.rays.iter().flat_map(|r| r.direction).collect();
    let samples = ops::march_rays(
        device,
        march,
        &state.occupancy,
        &device.upload(&origins)?,
        &device.upload(&directions)?,
        &device.upload(&jitters)?,
        rays,
    )?;
    let n = samples.len();
    let mut sigma = device.zeros::<f32>(n)?;
    let mut rgb = device.zeros::<f32>(3 * n)?;
    if n > 0 {
        field_forward(
            device,
            model,
            grid,
            &state.params,
            &state.table,
            &samples.positions,
            &samples.directions,
            n,
            (&mut sigma, &mut rgb),
            &mut state.tape,
        )?;
    }
    let flat = |v: &[[f32; 3]]| -> Vec<f32> { v.iter().flatten().copied().collect() };
    let mut composited = CompositeBuffers {
        color: device.zeros(3 * rays)?,
        alpha: device.zeros(rays)?,
        used: device.zeros(rays)?,
    };
    let threshold = march.transmittance_threshold();
    ops::composite(
        device,
        &sigma,
        &rgb,
        &samples.dt,
        &samples.device_offsets,
        rays,
        &device.upload(&flat(&targets.background))?,
        threshold,
        &mut composited,
    )?;
    let mut gradients = RayLossGradients {
        d_color: device.zeros(3 * rays)?,
        d_alpha: device.zeros(rays)?,
    };
    let target_color = device.upload(&flat(&targets.color))?;
    let (mut value, squared_error) = ops::ray_loss(
        device,
        &composited.color,
        &composited.alpha,
        &target_color,
        &device.upload(&targets.mask)?,
        rays,
        weights,
        scale,
        &mut gradients,
    )?;
    if let Some((lpips, side)) = perceptual
        && rays == (side * side) as usize
    {
        let side = side as usize;
        let weight = scale * weights.color;
        let distance = lpips.add_gradient(
            device,
            &composited.color,
            &target_color,
            1,
            [side, side],
            weight,
            &mut gradients.d_color,
        )?;
        value += f64::from(weight * distance);
    }
    if n > 0 {
        let mut d_sigma = device.zeros::<f32>(n)?;
        let mut d_rgb = device.zeros::<f32>(3 * n)?;
        ops::composite_backward(
            device,
            &sigma,
            &rgb,
            &samples.dt,
            &samples.device_offsets,
            rays,
            &composited,
            &gradients.d_color,
            &gradients.d_alpha,
            &mut d_sigma,
            &mut d_rgb,
        )?;
        field_backward(
            device,
            model,
            grid,
            &state.params,
            &samples.positions,
            n,
            &state.tape,
            &d_sigma,
            &d_rgb,
            &mut state.grads,
            &mut state.d_table,
        )?;
    }
    Ok(BatchResult {
        loss: RayLoss {
            value,
            squared_error,
            compared: 3 * rays,
            ..RayLoss::default()
        },
        samples: n,
    })
}
