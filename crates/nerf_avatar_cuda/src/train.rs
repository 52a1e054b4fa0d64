//! Training on the GPU: [`nerf_avatar_train::train`]'s loop (the same sampling, schedule,
//! losses, checkpoints and resume, the same random choices for the same seed) with every
//! step on the device: blend, marching, field forward, compositing, ray losses, their
//! backward passes, patch LPIPS in the perceptual stage ([`super::lpips`]), the sparsity term,
//! the finiteness check, Adam and the occupancy update. Parameters and Adam's moments stay on
//! the device and come to the host for checkpoints and at the end. Within a step, the host
//! waits for the GPU once per batch (for its sample count, to size the batch's buffers) and
//! once at the end (for the step's losses and the finiteness check, read together).

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::CudaSlice;
use rand::Rng;
use rand_pcg::Pcg64;

use super::device::CudaDevice;
use super::field::{DeviceFieldTape, field_backward, field_forward};
use super::half_mlp::MlpPrecision;
use super::lpips::CudaLpips;
use super::occupancy::update_occupancy;
use super::ops::{
    self, CompositeBuffers, DeviceGrid, DeviceSum, MarchConfig, RayLossGradients, count_nonfinite,
};
use nerf_avatar::asset::Avatar;
use nerf_avatar::config::ModelConfig;
use nerf_avatar::field::Model;
use nerf_avatar::march::MarchSettings;
use nerf_avatar_data::Dataset;
use nerf_avatar_eval::metrics::lpips::Backbone;
use nerf_avatar_eval::metrics::lpips::patch::PatchLpips;
use nerf_avatar_train::adam::Adam;
use nerf_avatar_train::run::{self, BatchLoss, RayJob, RunStart, StepBackend, StepOutcome};
use nerf_avatar_train::{TrainControl, TrainError, TrainOptions, TrainOutcome};

/// [`nerf_avatar_train::train`] on `device`, the MLPs' products in `precision`.
pub fn train_cuda(
    device: Arc<CudaDevice>,
    dataset: &Dataset,
    dataset_label: &str,
    options: &TrainOptions,
    control: TrainControl<'_>,
    precision: MlpPrecision,
) -> Result<TrainOutcome, TrainError> {
    precision.check(device.arch())?;
    run::run(dataset, dataset_label, options, control, |start| {
        DeviceSteps::new(device, start, precision)
    })
}

/// The model, its trainable state and the step's buffers on the device.
struct DeviceSteps {
    device: Arc<CudaDevice>,
    config: ModelConfig,
    model: Model,
    grid: DeviceGrid,
    settings: MarchSettings,
    march: MarchConfig,
    lpips: Option<CudaLpips>,
    params: CudaSlice<f32>,
    grads: CudaSlice<f32>,
    m: CudaSlice<f32>,
    v: CudaSlice<f32>,
    occupancy: CudaSlice<u8>,
    table: CudaSlice<f32>,
    d_table: CudaSlice<f32>,
    weights: CudaSlice<f32>,
    tape: DeviceFieldTape,
    /// The blendshape tables' range of the parameters (the sparsity term's).
    deltas: Range<usize>,
    /// The losses of the step's batches so far, still on the device.
    losses: Vec<DeviceBatchLoss>,
    /// The step's sparsity loss, still on the device (`None`: zero).
    sparsity: Option<DeviceSum<f64>>,
}

/// A batch's losses on the device, read with the rest of the step's.
struct DeviceBatchLoss {
    value: DeviceSum<f32>,
    squared_error: DeviceSum<f32>,
    compared: usize,
    /// In the perceptual stage, the patch's LPIPS distance and its weight in the loss.
    perceptual: Option<(DeviceSum<f32>, f32)>,
}

impl DeviceBatchLoss {
    /// The losses as [`nerf_avatar_train::run::run`] records them (waits for the stream).
    fn read(&self, device: &CudaDevice) -> Result<BatchLoss, TrainError> {
        let mut value = self.value.read(device)?;
        if let Some((distance, weight)) = &self.perceptual {
            value += f64::from(weight * distance.read(device)? as f32);
        }
        Ok(BatchLoss {
            value,
            squared_error: self.squared_error.read(device)?,
            compared: self.compared,
        })
    }
}

impl DeviceSteps {
    /// Uploads the run's starting state (and the LPIPS weights when the run uses them).
    fn new(
        device: Arc<CudaDevice>,
        start: RunStart<'_>,
        precision: MlpPrecision,
    ) -> Result<Self, TrainError> {
        let (config, avatar, adam) = (start.config, start.avatar, start.adam);
        let lpips = if start.options.perceptual_loss {
            let weights = PatchLpips::load_default(Backbone::Vgg)?;
            Some(CudaLpips::new(&device, &weights)?)
        } else {
            None
        };
        let model = Model::new(config);
        let settings = MarchSettings::training(config);
        let layout = &avatar.params.layout;
        let table_len = model.layout.table_len;
        Ok(Self {
            grid: DeviceGrid::new(&device, &model.grid)?,
            march: MarchConfig::new(config, &settings, avatar.occupancy.resolution),
            lpips,
            params: device.upload(&avatar.params.data)?,
            grads: device.zeros(avatar.params.data.len())?,
            m: device.upload(&adam.m)?,
            v: device.upload(&adam.v)?,
            occupancy: device.upload(&avatar.occupancy.bitfield)?,
            table: device.zeros(table_len)?,
            d_table: device.zeros(table_len)?,
            weights: device.zeros(config.blendshape_count().max(1))?,
            tape: DeviceFieldTape {
                precision,
                ..DeviceFieldTape::default()
            },
            deltas: layout.table(1).start..layout.tables().end,
            losses: Vec::new(),
            sparsity: None,
            config: config.clone(),
            model,
            settings,
            device,
        })
    }
}

impl StepBackend for DeviceSteps {
    const NAME: &'static str = "cuda";

    fn clear_gradients(&mut self) -> Result<(), TrainError> {
        Ok(self.device.clear(&mut self.grads)?)
    }

    fn blend(&mut self, _avatar: &Avatar, weights: &[f32]) -> Result<(), TrainError> {
        let k = self.config.blendshape_count();
        if k > 0 {
            self.device.write(weights, &mut self.weights)?;
        }
        ops::blend_tables(
            &self.device,
            &self.params,
            &self.weights,
            k,
            &mut self.table,
        )?;
        Ok(self.device.clear(&mut self.d_table)?)
    }

    fn blend_backward(&mut self, _weights: &[f32]) -> Result<(), TrainError> {
        let k = self.config.blendshape_count();
        ops::blend_tables_backward(
            &self.device,
            &self.d_table,
            &self.weights,
            k,
            &mut self.grads,
        )?;
        Ok(())
    }

    fn sparsity(&mut self, _avatar: &Avatar, weight: f32) -> Result<(), TrainError> {
        let deltas = self.deltas.clone();
        self.sparsity =
            ops::sparsity_loss(&self.device, &self.params, &mut self.grads, deltas, weight)?;
        Ok(())
    }

    /// Counts the non-finite gradients, then reads everything in one wait for the GPU.
    fn step_outcome(&mut self) -> Result<StepOutcome, TrainError> {
        let device = self.device.as_ref();
        let nonfinite = count_nonfinite(device, &self.grads, self.params.len())?;
        let batches = self
            .losses
            .drain(..)
            .map(|loss| loss.read(device))
            .collect::<Result<_, _>>()?;
        let sparsity = match self.sparsity.take() {
            Some(sparsity) => sparsity.read(device)?,
            None => 0.0,
        };
        Ok(StepOutcome {
            batches,
            sparsity,
            nonfinite_gradient: (nonfinite.read(device)? > 0.0).then_some(f64::NAN),
        })
    }

    fn adam_step(
        &mut self,
        _avatar: &mut Avatar,
        adam: &mut Adam,
        learning_rate: f32,
    ) -> Result<(), TrainError> {
        adam.steps += 1;
        ops::adam_step(
            &self.device,
            &mut self.params,
            &self.grads,
            &mut self.m,
            &mut self.v,
            &adam.settings,
            adam.steps,
            learning_rate,
            adam.decay_range.clone(),
        )?;
        Ok(())
    }

    fn update_occupancy(
        &mut self,
        avatar: &mut Avatar,
        max_weights: &[f32],
        seed: u64,
    ) -> Result<(), TrainError> {
        update_occupancy(
            &self.device,
            &self.model,
            &self.grid,
            &self.params,
            max_weights,
            &mut avatar.occupancy,
            seed,
        )?;
        self.occupancy = self.device.upload(&avatar.occupancy.bitfield)?;
        let resolution = avatar.occupancy.resolution;
        self.march = MarchConfig::new(&self.config, &self.settings, resolution);
        Ok(())
    }

    /// Copies the parameters and Adam's moments to the host.
    fn sync(&mut self, avatar: &mut Avatar, adam: &mut Adam) -> Result<(), TrainError> {
        let len = avatar.params.data.len();
        avatar.params.data = self.device.download(&self.params, len)?;
        adam.m = self.device.download(&self.m, len)?;
        adam.v = self.device.download(&self.v, len)?;
        Ok(())
    }

    /// One batch of rays on the device (the twin of the CPU's): marches, evaluates and
    /// composites the rays, applies the losses (with LPIPS of the patch when the job asks)
    /// and back-propagates: MLP gradients into `grads`, the blended table's gradient into
    /// `d_table`.
    fn rays(
        &mut self,
        _avatar: &Avatar,
        job: RayJob<'_>,
        rng: &mut Pcg64,
    ) -> Result<usize, TrainError> {
        let device = self.device.as_ref();
        let (targets, weights, scale) = (job.targets, job.weights, job.scale);
        let perceptual = job
            .patch_side
            .and_then(|side| self.lpips.as_ref().map(|lpips| (lpips, side)));
        let rays = targets.rays.len();
        let jitters: Vec<f32> = (0..rays).map(|_| rng.random::<f32>()).collect();
        let origins: Vec<f32> = targets.rays.iter().flat_map(|r| r.origin).collect();
        let directions: Vec<f32> = targets.rays.iter().flat_map(|r| r.direction).collect();
        let samples = ops::march_rays(
            device,
            &self.march,
            &self.occupancy,
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
                &self.model,
                &self.grid,
                &self.params,
                &self.table,
                &samples.positions,
                &samples.directions,
                n,
                (&mut sigma, &mut rgb),
                &mut self.tape,
            )?;
        }
        let flat = |v: &[[f32; 3]]| -> Vec<f32> { v.iter().flatten().copied().collect() };
        let mut composited = CompositeBuffers {
            color: device.zeros(3 * rays)?,
            alpha: device.zeros(rays)?,
            used: device.zeros(rays)?,
        };
        let threshold = self.march.transmittance_threshold();
        ops::composite(
            device,
            &sigma,
            &rgb,
            &samples.dt,
            &samples.offsets,
            &device.upload(&flat(&targets.background))?,
            threshold,
            &mut composited,
        )?;
        let mut gradients = RayLossGradients {
            d_color: device.zeros(3 * rays)?,
            d_alpha: device.zeros(rays)?,
        };
        let target_color = device.upload(&flat(&targets.color))?;
        let (value, squared_error) = ops::ray_loss(
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
        let mut loss = DeviceBatchLoss {
            value,
            squared_error,
            compared: 3 * rays,
            perceptual: None,
        };
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
            loss.perceptual = Some((distance, weight));
        }
        self.losses.push(loss);
        if n > 0 {
            let mut d_sigma = device.zeros::<f32>(n)?;
            let mut d_rgb = device.zeros::<f32>(3 * n)?;
            ops::composite_backward(
                device,
                &sigma,
                &rgb,
                &samples.dt,
                &samples.offsets,
                &composited,
                &gradients.d_color,
                &gradients.d_alpha,
                &mut d_sigma,
                &mut d_rgb,
            )?;
            field_backward(
                device,
                &self.model,
                &self.grid,
                &self.params,
                &samples.positions,
                n,
                &mut self.tape,
                &d_sigma,
                &d_rgb,
                &mut self.grads,
                &mut self.d_table,
            )?;
        }
        Ok(n)
    }
}
