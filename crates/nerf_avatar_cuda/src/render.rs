//! Inference rendering on the GPU ([`nerf_avatar::render::render_image`]): the frame's table is
//! blended on the device, every pixel's ray is marched in rounds (`per_round` samples per live
//! ray), the round's samples are evaluated as one batch, composited, and rays that became
//! opaque (T < 1e-2) or left the box drop out of the live list. The image comes back as
//! [`RenderedImage`] or as RGBA8 written into the caller's buffer (for a wgpu texture).
//!
//! The field is evaluated by the fully fused half-precision kernel ([`super::fused`]) where
//! the GPU and the model allow it ([`FieldPrecision::F16`], the default there), else by the
//! fp32 kernels of [`super::field`], whose frames equal the CPU's within f32 rounding. The
//! kernels read the live rays' and the samples' counts on the device, so the host launches a
//! frame's rounds without stopping the GPU between them (the fp32 field alone waits for each
//! batch's sample count, to size its launches).

use std::sync::Arc;

use cudarc::driver::{CudaSlice, PinnedHostSlice};

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::field::{DeviceFieldTape, field_forward};
use super::fused::{FusedField, SampleCount, field_forward_fused};
use super::ops::{CameraParams, DeviceGrid, MarchConfig, as_u32, blend_tables};
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::field::Model;
use nerf_avatar::march::MarchSettings;
use nerf_avatar::occupancy::OccupancyGrid;
use nerf_avatar::params::Params;
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::{FrameRequest, RenderError, Renderer};

/// Samples a live ray takes per round by default (fewer rounds, so fewer host syncs, than the
/// CPU's 8; the image is the same, only samples past early termination differ).
const SAMPLES_PER_ROUND: u32 = 16;
/// Most samples per round (the size of `render_march`'s local arrays).
const MAX_SAMPLES_PER_ROUND: usize = 32;
/// Samples evaluated together at most (bounds the MLP activations' memory).
const SAMPLE_CAPACITY: usize = 1 << 20;

/// Per-pixel state of a frame of one size.
struct FrameBuffers {
    pixels: usize,
    marchers: CudaSlice<u32>,
    color: CudaSlice<f32>,
    /// Σ weight · distance per pixel.
    distance: CudaSlice<f32>,
    transmittance: CudaSlice<f32>,
    live: [CudaSlice<u32>; 2],
    live_count: [CudaSlice<u32>; 2],
    /// The live counts as copied to the host, each read a round after its copy.
    live_count_host: [PinnedHostSlice<u32>; 2],
    sample_base: CudaSlice<u32>,
    sample_taken: CudaSlice<u32>,
    /// Samples marched (and evaluated) in the frame, counted on the device.
    evaluated: CudaSlice<u32>,
    rgba: CudaSlice<f32>,
    depth: CudaSlice<f32>,
    rgba8: CudaSlice<u8>,
}

impl FrameBuffers {
    fn new(device: &CudaDevice, pixels: usize) -> Result<Self, CudaError> {
        Ok(Self {
            pixels,
            marchers: device.zeros(9 * pixels)?,
            color: device.zeros(3 * pixels)?,
            distance: device.zeros(pixels)?,
            transmittance: device.zeros(pixels)?,
            live: [device.zeros(pixels)?, device.zeros(pixels)?],
            live_count: [device.zeros(1)?, device.zeros(1)?],
            live_count_host: [device.pinned_zeros(1)?, device.pinned_zeros(1)?],
            sample_base: device.zeros(pixels)?,
            sample_taken: device.zeros(pixels)?,
            evaluated: device.zeros(1)?,
            rgba: device.zeros(4 * pixels)?,
            depth: device.zeros(pixels)?,
            rgba8: device.zeros(4 * pixels)?,
        })
    }
}

/// Element `this` of a pair, to read, and the other one, to write.
fn this_and_other<T>(pair: &mut [T; 2], this: usize) -> (&T, &mut T) {
    let [first, second] = pair;
    if this == 0 {
        (first, second)
    } else {
        (second, first)
    }
}

/// One round's samples.
struct SampleBuffers {
    positions: CudaSlice<f32>,
    directions: CudaSlice<f32>,
    dt: CudaSlice<f32>,
    /// Distance of each sample along its ray.
    distance: CudaSlice<f32>,
    sigma: CudaSlice<f32>,
    rgb: CudaSlice<f32>,
    count: CudaSlice<u32>,
}

/// How a renderer evaluates the radiance field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldPrecision {
    /// The fp32 kernels, one launch per layer: the CPU's values within f32 rounding.
    F32,
    /// The fully fused kernel: fp16 weights and activations on the tensor cores, fp32 sums.
    F16,
}

/// An avatar's model on the GPU, ready to render frames.
pub struct CudaRenderer {
    device: Arc<CudaDevice>,
    model: Model,
    grid: DeviceGrid,
    params: CudaSlice<f32>,
    occupancy: CudaSlice<u8>,
    march: MarchConfig,
    table: CudaSlice<f32>,
    weights: CudaSlice<f32>,
    frame: Option<FrameBuffers>,
    samples: SampleBuffers,
    tape: DeviceFieldTape,
    samples_per_round: u32,
    fused: Result<FusedField, String>,
    precision: FieldPrecision,
}

impl CudaRenderer {
    /// Uploads the parameters and the occupancy grid of a model.
    pub fn new(
        device: Arc<CudaDevice>,
        model: &Model,
        params: &Params<f32>,
        occupancy: &OccupancyGrid,
    ) -> Result<Self, CudaError> {
        if params.data.len() != model.layout.total() {
            return Err(CudaError::Unsupported(format!(
                "{} parameters for a model of {}",
                params.data.len(),
                model.layout.total()
            )));
        }
        let cells = OccupancyGrid::cell_count(occupancy.resolution);
        if occupancy.bitfield.len() < cells.div_ceil(8) || occupancy.resolution == 0 {
            return Err(CudaError::Unsupported(
                "occupancy bitfield of the wrong size".into(),
            ));
        }
        let settings = MarchSettings::inference(&model.config);
        let fused = match FusedField::new(&device, model, &params.data) {
            Ok(fused) => Ok(fused),
            Err(CudaError::Unsupported(reason)) => Err(reason),
            Err(e) => return Err(e),
        };
        let precision = if fused.is_ok() {
            FieldPrecision::F16
        } else {
            FieldPrecision::F32
        };
        let capacity = SAMPLE_CAPACITY;
        let samples = SampleBuffers {
            positions: device.zeros(3 * capacity)?,
            directions: device.zeros(3 * capacity)?,
            dt: device.zeros(capacity)?,
            distance: device.zeros(capacity)?,
            sigma: device.zeros(capacity)?,
            rgb: device.zeros(3 * capacity)?,
            count: device.zeros(1)?,
        };
        Ok(Self {
            grid: DeviceGrid::new(&device, &model.grid)?,
            params: device.upload(&params.data)?,
            occupancy: device.upload(&occupancy.bitfield)?,
            march: MarchConfig::new(&model.config, &settings, occupancy.resolution),
            table: device.zeros(model.layout.table_len)?,
            weights: device.zeros(model.config.blendshape_count().max(1))?,
            model: model.clone(),
            frame: None,
            samples,
            tape: DeviceFieldTape::default(),
            samples_per_round: SAMPLES_PER_ROUND,
            fused,
            precision,
            device,
        })
    }

    /// How the field is evaluated.
    pub fn precision(&self) -> FieldPrecision {
        self.precision
    }

    /// Chooses how the field is evaluated; [`FieldPrecision::F16`] fails, with the reason,
    /// where the GPU (before sm_80) or the model (layers wider than the kernel takes, weights
    /// outside f16's range) does not allow it.
    pub fn set_precision(&mut self, precision: FieldPrecision) -> Result<(), CudaError> {
        if let (FieldPrecision::F16, Err(reason)) = (precision, &self.fused) {
            return Err(CudaError::Unsupported(reason.clone()));
        }
        self.precision = precision;
        Ok(())
    }

    /// Sets the samples a live ray takes per round (1 to 32; the CPU's
    /// [`nerf_avatar::render::SAMPLES_PER_ROUND`] evaluates exactly the CPU's samples).
    pub fn set_samples_per_round(&mut self, samples: usize) -> Result<(), CudaError> {
        if !(1..=MAX_SAMPLES_PER_ROUND).contains(&samples) {
            return Err(CudaError::Unsupported(format!(
                "{samples} samples per round (1 to {MAX_SAMPLES_PER_ROUND})"
            )));
        }
        self.samples_per_round = samples as u32;
        Ok(())
    }

    /// The device it renders on.
    pub fn device(&self) -> &CudaDevice {
        &self.device
    }

    /// Replaces the parameters (same layout), e.g. after training steps.
    pub fn set_params(&mut self, params: &Params<f32>) -> Result<(), CudaError> {
        if params.data.len() != self.params.len() {
            return Err(CudaError::Unsupported(
                "parameters of another layout".into(),
            ));
        }
        self.device.write(&params.data, &mut self.params)?;
        if let Ok(fused) = &mut self.fused {
            match fused.update(&self.device, &self.model, &params.data) {
                Ok(()) => {}
                Err(CudaError::Unsupported(reason)) => {
                    self.fused = Err(reason);
                    self.precision = FieldPrecision::F32;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Renders a frame (expression `weights` already clamped) as [`RenderedImage`], the same
    /// values as [`nerf_avatar::render::render_image`] within f32 rounding.
    pub fn render_image(
        &mut self,
        weights: &[f32],
        intrinsics: &Intrinsics,
        pose: &Pose,
        background: Background<'_>,
    ) -> Result<RenderedImage, CudaError> {
        let samples = self.render(weights, intrinsics, pose, background)?;
        let frame = self.frame_buffers()?;
        let pixels = frame.pixels;
        let rgba = self.device.download(&frame.rgba, 4 * pixels)?;
        Ok(RenderedImage {
            width: intrinsics.width,
            height: intrinsics.height,
            rgb: rgba.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect(),
            alpha: rgba.chunks_exact(4).map(|p| p[3]).collect(),
            depth: self.device.download(&frame.depth, pixels)?,
            samples,
        })
    }

    /// Renders a frame into `out` as RGBA8 (row-major, R first: a wgpu `Rgba8Unorm`
    /// texture's layout; colour over `background`, alpha = the head's opacity). Returns the
    /// number of samples evaluated.
    pub fn render_rgba8(
        &mut self,
        weights: &[f32],
        intrinsics: &Intrinsics,
        pose: &Pose,
        background: Background<'_>,
        out: &mut [u8],
    ) -> Result<usize, CudaError> {
        let pixels = (intrinsics.width as usize) * (intrinsics.height as usize);
        if out.len() != 4 * pixels {
            return Err(CudaError::Unsupported(format!(
                "an RGBA8 buffer of {} bytes for {}×{} pixels (needs {})",
                out.len(),
                intrinsics.width,
                intrinsics.height,
                4 * pixels
            )));
        }
        let samples = self.render(weights, intrinsics, pose, background)?;
        let device = Arc::clone(&self.device);
        let frame = self
            .frame
            .as_mut()
            .ok_or(CudaError::Unsupported("no frame".into()))?;
        let pixels32 = as_u32("pixels", pixels)?;
        launch!(
            &device,
            "pack_rgba8",
            grid_1d(pixels),
            &frame.rgba,
            &pixels32,
            &mut frame.rgba8
        )?;
        device
            .stream()
            .memcpy_dtoh(&frame.rgba8, out)
            .map_err(super::device::driver_error(
                "copying the frame from the GPU",
            ))?;
        Ok(samples)
    }

    fn frame_buffers(&self) -> Result<&FrameBuffers, CudaError> {
        self.frame
            .as_ref()
            .ok_or(CudaError::Unsupported("no frame rendered yet".into()))
    }

    /// Renders into the frame buffers' RGBA f32 image; returns the samples evaluated.
    fn render(
        &mut self,
        weights: &[f32],
        intrinsics: &Intrinsics,
        pose: &Pose,
        background: Background<'_>,
    ) -> Result<usize, CudaError> {
        let k = self.model.config.blendshape_count();
        if weights.len() != k {
            return Err(CudaError::Unsupported(format!(
                "{} expression weights for an avatar of {k} blendshapes",
                weights.len()
            )));
        }
        if !intrinsics.is_valid() {
            return Err(CudaError::Unsupported(format!(
                "invalid camera {intrinsics:?}"
            )));
        }
        let pixels = (intrinsics.width as usize) * (intrinsics.height as usize);
        let background_image = match background {
            Background::Image(image) if image.len() != pixels => {
                return Err(CudaError::Unsupported(format!(
                    "a background of {} pixels for an image of {pixels}",
                    image.len()
                )));
            }
            Background::Image(image) => {
                let flat: Vec<f32> = image.iter().flatten().copied().collect();
                Some(self.device.upload(&flat)?)
            }
            Background::Solid(_) => None,
        };
        let solid = match background {
            Background::Solid(c) => c,
            Background::Image(_) => [0.0; 3],
        };
        let device = Arc::clone(&self.device);
        if self.frame.as_ref().is_none_or(|f| f.pixels != pixels) {
            self.frame = None;
            self.frame = Some(FrameBuffers::new(&device, pixels)?);
        }
        if k > 0 {
            device.write(weights, &mut self.weights)?;
        }
        // The tables come first in the flat buffer: the blend reads its first (K+1)·len.
        match (&mut self.fused, self.precision) {
            (Ok(fused), FieldPrecision::F16) => {
                fused.blend(&device, &self.params, &self.weights, k)?;
            }
            _ => blend_tables(&device, &self.params, &self.weights, k, &mut self.table)?,
        }
        let frame = self
            .frame
            .as_mut()
            .ok_or(CudaError::Unsupported("no frame".into()))?;
        let camera = CameraParams::new(intrinsics, pose);
        device.clear(&mut frame.live_count[0])?;
        launch!(
            &device,
            "render_init",
            grid_1d(pixels),
            &camera,
            &self.march,
            &mut frame.marchers,
            &mut frame.color,
            &mut frame.distance,
            &mut frame.transmittance,
            &mut frame.live[0],
            &mut frame.live_count[0]
        )?;
        let read_count = |slice: &CudaSlice<u32>| -> Result<usize, CudaError> {
            Ok(device.download(slice, 1)?.first().copied().unwrap_or(0) as usize)
        };
        // Round r marches list r % 2 and writes the rays still going into the other. Its
        // batches are launched on an upper bound of the list's count (they read the count on
        // the device), so the host need not wait for the round before: a list is never longer
        // than the one before it. The first list's count is read here; each later one is
        // copied to the host after the round that wrote it and read a round later, while the
        // GPU runs the round launched meanwhile. The loop ends at the first empty list: one
        // round of empty launches too many.
        let mut live = read_count(&frame.live_count[0])?;
        let mut round = 0;
        device.clear(&mut frame.evaluated)?;
        let per_round = self.samples_per_round;
        let batch_rays = SAMPLE_CAPACITY / per_round as usize;
        let threshold = self.march.transmittance_threshold();
        while live > 0 {
            let (current, next) = (round % 2, 1 - round % 2);
            device.clear(&mut frame.live_count[next])?;
            let (live_now, live_next) = this_and_other(&mut frame.live, current);
            let (count_now, next_count) = this_and_other(&mut frame.live_count, current);
            for first in (0..live).step_by(batch_rays) {
                let count = batch_rays.min(live - first);
                let (first32, count32) = (as_u32("ray", first)?, as_u32("rays", count)?);
                let s = &mut self.samples;
                device.clear(&mut s.count)?;
                launch!(
                    &device,
                    "render_march",
                    grid_1d(count),
                    live_now,
                    count_now,
                    &first32,
                    &count32,
                    &per_round,
                    &self.march,
                    &self.occupancy,
                    &mut frame.marchers,
                    &mut s.positions,
                    &mut s.directions,
                    &mut s.dt,
                    &mut s.distance,
                    &mut frame.sample_base,
                    &mut frame.sample_taken,
                    &mut s.count,
                    &mut frame.evaluated
                )?;
                // The fused field reads the batch's sample count on the device: no wait
                // for it here. The fp32 kernels size their launches by it.
                match (&self.fused, self.precision) {
                    (Ok(fused), FieldPrecision::F16) => {
                        let samples = SampleCount::OnDevice {
                            at_most: count * per_round as usize,
                            count: &s.count,
                        };
                        let out = (&mut s.sigma, &mut s.rgb);
                        let (positions, directions) = (&s.positions, &s.directions);
                        field_forward_fused(
                            &device, fused, &self.grid, positions, directions, samples, out,
                        )?;
                    }
                    _ => {
                        let taken = read_count(&s.count)?;
                        if taken > 0 {
                            field_forward(
                                &device,
                                &self.model,
                                &self.grid,
                                &self.params,
                                &self.table,
                                &s.positions,
                                &s.directions,
                                taken,
                                (&mut s.sigma, &mut s.rgb),
                                &mut self.tape,
                            )?;
                        }
                    }
                }
                launch!(
                    &device,
                    "render_composite",
                    grid_1d(count),
                    live_now,
                    count_now,
                    &first32,
                    &count32,
                    &per_round,
                    &frame.sample_base,
                    &frame.sample_taken,
                    &s.sigma,
                    &s.rgb,
                    &s.dt,
                    &s.distance,
                    &threshold,
                    &mut frame.color,
                    &mut frame.distance,
                    &mut frame.transmittance,
                    &mut *live_next,
                    &mut *next_count
                )?;
            }
            device
                .stream()
                .memcpy_dtoh(&*next_count, &mut frame.live_count_host[next])
                .map_err(super::device::driver_error("copying the live count"))?;
            if round > 0 {
                let host = frame.live_count_host[current]
                    .as_slice()
                    .map_err(super::device::driver_error("reading the live count"))?;
                live = host.first().copied().unwrap_or(0) as usize;
            }
            round += 1;
        }
        let [r, g, b] = solid;
        let background_image = device.nullable(background_image.as_ref());
        launch!(
            &device,
            "render_finish",
            grid_1d(pixels),
            &camera,
            &frame.marchers,
            &frame.color,
            &frame.distance,
            &frame.transmittance,
            &r,
            &g,
            &b,
            &background_image.address,
            &mut frame.rgba,
            &mut frame.depth
        )?;
        read_count(&frame.evaluated)
    }
}

impl Renderer for CudaRenderer {
    fn backend(&self) -> &'static str {
        "cuda"
    }

    fn render(&mut self, request: &FrameRequest<'_>) -> Result<RenderedImage, RenderError> {
        request.check(self.model.config.blendshape_count())?;
        self.render_image(
            request.weights,
            &request.intrinsics,
            &request.pose,
            request.background,
        )
        .map_err(|error| RenderError::Backend {
            backend: "cuda",
            error: Box::new(error),
        })
    }
}
