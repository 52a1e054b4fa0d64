//! GPU benchmarks beside the CPU reference, in one run: the device's rooflines (its copy
//! bandwidth and its tensor cores' rate), the table blend (against the copy bandwidth), whole
//! frames of the benchmark scene ([`BenchScene`]) at 512×512 and 1920×1080,
//! end to end into a host RGBA8 buffer, with the fp32 field kernels and with the fused fp16
//! one (against the CPU's `render_image` at 512×512), the field alone, and the field's
//! training pass (forward and backward) with the MLPs in fp32 and in half precision.

use std::sync::Arc;

use cudarc::driver::CudaSlice;
use cudarc::driver::sys::CUdevice_attribute;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::bench::roofline::best_seconds;
use crate::bench::suite::mlp_flop;
use crate::bench::{BenchLine, BenchOptions, Goal};
use nerf_avatar::field::Model;
use nerf_avatar::params::Params;
use nerf_avatar::render::{Background, render_image};
use nerf_avatar::scene::BenchScene;
use nerf_avatar_cuda::CudaError;
use nerf_avatar_cuda::device::CudaDevice;
use nerf_avatar_cuda::field::{DeviceFieldTape, field_backward, field_forward};
use nerf_avatar_cuda::fused::{FusedField, SampleCount, field_forward_fused};
use nerf_avatar_cuda::half_mlp::MlpPrecision;
use nerf_avatar_cuda::ops::{self, DeviceGrid, blend_tables};
use nerf_avatar_cuda::render::{CudaRenderer, FieldPrecision};

/// Seed of the field benchmarks' samples.
const SEED: u64 = 2022;
/// A 512×512 frame should take at most this long end to end on one H100 (issue goal).
const FRAME_GOAL_MS: f64 = 5.0;
/// Samples of the field-alone lines.
const FIELD_SAMPLES: usize = 1 << 20;
/// Samples of the training-pass lines (a training batch holds about 85k).
const TRAINING_SAMPLES: usize = 1 << 17;
/// Rounds of four products per warp of the tensor-rate kernel.
const TENSOR_RATE_ROUNDS: u32 = 1024;
/// Blocks per multiprocessor, and warps per block, of the tensor-rate kernel.
const TENSOR_RATE_BLOCKS_PER_SM: u32 = 8;
const TENSOR_RATE_WARPS: u32 = 4;

/// Measures `scene` on `device` (and the CPU where stated); `cpu_frames` adds the CPU's
/// 512×512 frame beside the GPU's.
pub fn run_cuda_suite(
    device: Arc<CudaDevice>,
    scene: &BenchScene,
    options: &BenchOptions,
    cpu_frames: bool,
) -> Result<Vec<BenchLine>, CudaError> {
    let repeats = options.repeats();
    let judge = scene.judged();
    let mut rng = Pcg64::seed_from_u64(SEED);
    let model = Model::new(scene.config());
    let (params, weights, occupancy) = (
        &scene.avatar.params,
        &scene.weights,
        &scene.avatar.occupancy,
    );
    let mut lines = Vec::new();

    // Copy bandwidth: one device-to-device copy of all tables reads and writes each byte.
    let tables = device.upload(params.tables())?;
    let mut copy = device.zeros::<f32>(tables.len())?;
    let bytes = (tables.len() * 4) as f64;
    let stream = device.stream();
    let mut failure = None;
    let copy_seconds = best_seconds(repeats, || {
        let result = stream
            .memcpy_dtod(&tables, &mut copy)
            .map_err(nerf_avatar_cuda::device::driver_error("copying on the GPU"))
            .and_then(|()| device.synchronize());
        failure = failure.take().or(result.err());
    });
    let bandwidth = 2.0 * bytes / copy_seconds;
    lines.push(BenchLine::plain(
        &format!("GPU copy bandwidth ({})", device.name()),
        bandwidth / 1e9,
        "GB/s",
    ));

    lines.extend(tensor_rate_line(&device, repeats)?);

    // The blend reads K + 1 tables and writes one.
    let device_weights = device.upload(weights)?;
    let mut table = device.zeros::<f32>(model.layout.table_len)?;
    let blend_seconds = best_seconds(repeats, || {
        let result = blend_tables(&device, &tables, &device_weights, weights.len(), &mut table)
            .and_then(|()| device.synchronize());
        failure = failure.take().or(result.err());
    });
    let blend_bytes = ((weights.len() + 2) * model.layout.table_len * 4) as f64;
    lines.push(BenchLine {
        compared_to: "blend bytes / copy bandwidth".into(),
        ratio: Some(blend_seconds / (blend_bytes / bandwidth)),
        ratio_meaning: "blend time / roofline time".into(),
        ..BenchLine::plain(
            &format!("GPU blend, K = {}", weights.len()),
            blend_seconds * 1e3,
            "ms",
        )
    });

    let mut renderer = CudaRenderer::new(Arc::clone(&device), &model, params, occupancy)?;
    let precisions = [FieldPrecision::F32, FieldPrecision::F16];
    for (precision, (width, height)) in precisions
        .into_iter()
        .flat_map(|p| [(p, (512u32, 512u32)), (p, (1920, 1080))])
    {
        // A GPU before sm_80 has no fused field: its lines are left out.
        if renderer.set_precision(precision).is_err() {
            continue;
        }
        let (intrinsics, pose) = scene.camera(width, height);
        let mut frame = vec![0u8; 4 * (width * height) as usize];
        let mut samples = 0;
        let seconds = best_seconds(repeats, || {
            let result = renderer.render_rgba8(
                weights,
                &intrinsics,
                &pose,
                Background::Solid([1.0; 3]),
                &mut frame,
            );
            match result {
                Ok(n) => samples = n,
                Err(e) => failure = failure.take().or(Some(e)),
            }
        });
        let is_goal_size = width == 512 && precision == FieldPrecision::F16;
        lines.push(BenchLine {
            compared_to: format!("{samples} samples"),
            ratio: Some(samples as f64 / seconds / 1e6),
            ratio_meaning: "million samples per second".into(),
            goal: (judge && is_goal_size).then(|| Goal {
                target: format!("≤ {FRAME_GOAL_MS} ms"),
                met: seconds * 1e3 <= FRAME_GOAL_MS,
            }),
            ..BenchLine::plain(
                &format!("GPU frame {width}×{height}, {precision:?} field, end to end into RGBA8"),
                seconds * 1e3,
                "ms",
            )
        });
    }
    let samples = FieldSamples::new(&device, &model, params, &mut rng)?;
    lines.extend(field_lines(
        &device, &model, params, &samples, &table, repeats,
    )?);
    lines.extend(training_field_lines(
        &device, &model, &samples, &table, &mut rng, repeats,
    )?);
    if cpu_frames {
        let (intrinsics, pose) = scene.camera(512, 512);
        let seconds = best_seconds(repeats.min(2), || {
            render_image(
                &model,
                params,
                weights,
                occupancy,
                &intrinsics,
                &pose,
                Background::Solid([1.0; 3]),
            );
        });
        lines.push(BenchLine::plain(
            "CPU frame 512×512 (same scene)",
            seconds * 1e3,
            "ms",
        ));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(lines),
    }
}

/// The field alone on [`FIELD_SAMPLES`] random samples of the head box (blended `table`, in
/// f16 for the fused kernel): the fp32 kernels and the fused fp16 one, in samples per second
/// and MLP TFLOP/s.
fn field_lines(
    device: &CudaDevice,
    model: &Model,
    params: &Params<f32>,
    samples: &FieldSamples,
    table: &CudaSlice<f32>,
    repeats: usize,
) -> Result<Vec<BenchLine>, CudaError> {
    let n = FIELD_SAMPLES;
    let FieldSamples {
        grid,
        positions,
        directions,
        ..
    } = samples;
    let mut sigma = device.zeros::<f32>(n)?;
    let mut rgb = device.zeros::<f32>(3 * n)?;
    let mut tape = DeviceFieldTape::default();
    // A GPU before sm_80 or a model the kernel does not take has no fused line.
    let fused = match FusedField::new(device, model, &params.data) {
        Ok(mut fused) => {
            fused.blend(device, table, &device.zeros(1)?, 0)?;
            Some(fused)
        }
        Err(CudaError::Unsupported(_)) => None,
        Err(e) => return Err(e),
    };
    let flop = mlp_flop(&model.layout.density_layers) + mlp_flop(&model.layout.color_layers);
    let mut failure = None;
    let mut lines = Vec::new();
    for precision in [FieldPrecision::F32, FieldPrecision::F16] {
        if precision == FieldPrecision::F16 && fused.is_none() {
            continue;
        }
        let seconds = best_seconds(repeats, || {
            let result = match &fused {
                Some(fused) if precision == FieldPrecision::F16 => field_forward_fused(
                    device,
                    fused,
                    grid,
                    positions,
                    directions,
                    SampleCount::Exactly(n),
                    (&mut sigma, &mut rgb),
                ),
                _ => samples.field_forward(
                    device,
                    model,
                    table,
                    n,
                    (&mut sigma, &mut rgb),
                    &mut tape,
                ),
            }
            .and_then(|()| device.synchronize());
            failure = failure.take().or(result.err());
        });
        let per_second = n as f64 / seconds;
        lines.push(BenchLine {
            compared_to: format!("{:.1} kFLOP of MLP per sample", flop / 1e3),
            ratio: Some(per_second * flop / 1e12),
            ratio_meaning: "MLP TFLOP/s".into(),
            ..BenchLine::plain(
                &format!("GPU field alone ({n} samples), {precision:?}"),
                per_second / 1e6,
                "Msamples/s",
            )
        });
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(lines),
    }
}

/// The field benchmarks' inputs on the device: the parameters, the grid, and
/// [`FIELD_SAMPLES`] random positions in the unit cube with unit directions.
struct FieldSamples {
    grid: DeviceGrid,
    params: CudaSlice<f32>,
    positions: CudaSlice<f32>,
    directions: CudaSlice<f32>,
}

impl FieldSamples {
    fn new(
        device: &CudaDevice,
        model: &Model,
        params: &Params<f32>,
        rng: &mut Pcg64,
    ) -> Result<Self, CudaError> {
        let n = FIELD_SAMPLES;
        let positions: Vec<f32> = (0..3 * n).map(|_| rng.random_range(0.0..1.0)).collect();
        let directions: Vec<f32> = (0..n)
            .flat_map(|i| {
                let a = i as f32 * 0.001;
                [0.6 * a.cos(), 0.8, 0.6 * a.sin()]
            })
            .collect();
        Ok(Self {
            grid: DeviceGrid::new(device, &model.grid)?,
            params: device.upload(&params.data)?,
            positions: device.upload(&positions)?,
            directions: device.upload(&directions)?,
        })
    }

    /// [`field_forward`] on the first `n` samples.
    fn field_forward(
        &self,
        device: &CudaDevice,
        model: &Model,
        table: &CudaSlice<f32>,
        n: usize,
        outputs: (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
        tape: &mut DeviceFieldTape,
    ) -> Result<(), CudaError> {
        field_forward(
            device,
            model,
            &self.grid,
            &self.params,
            table,
            &self.positions,
            &self.directions,
            n,
            outputs,
            tape,
        )
    }
}

/// A training step's field pass on [`TRAINING_SAMPLES`] random samples: forward, then backward
/// into the parameter and table gradients, with the MLPs in fp32 and in half precision (where
/// the GPU has the tensor cores' product), in samples per second; the half-precision line
/// gives its speed-up over fp32 in the same run (`train --gpu-mlp`).
fn training_field_lines(
    device: &CudaDevice,
    model: &Model,
    samples: &FieldSamples,
    table: &CudaSlice<f32>,
    rng: &mut Pcg64,
    repeats: usize,
) -> Result<Vec<BenchLine>, CudaError> {
    let n = TRAINING_SAMPLES;
    let FieldSamples {
        grid,
        params: device_params,
        positions,
        ..
    } = samples;
    let d_sigma: Vec<f32> = (0..n).map(|_| rng.random_range(-1e-4..1e-4)).collect();
    let d_rgb: Vec<f32> = (0..3 * n).map(|_| rng.random_range(-1e-4..1e-4)).collect();
    let (d_sigma, d_rgb) = (device.upload(&d_sigma)?, device.upload(&d_rgb)?);
    let mut d_params = device.zeros::<f32>(device_params.len())?;
    let mut d_table = device.zeros::<f32>(table.len())?;
    let mut sigma = device.zeros::<f32>(n)?;
    let mut rgb = device.zeros::<f32>(3 * n)?;
    let mut failure = None;
    let mut lines = Vec::new();
    let mut fp32_seconds = None;
    for precision in [MlpPrecision::Fp32, MlpPrecision::Fp16] {
        if precision.check(device.arch()).is_err() {
            continue;
        }
        let mut tape = DeviceFieldTape {
            precision,
            ..DeviceFieldTape::default()
        };
        let seconds = best_seconds(repeats, || {
            let outputs = (&mut sigma, &mut rgb);
            let result = samples
                .field_forward(device, model, table, n, outputs, &mut tape)
                .and_then(|()| {
                    field_backward(
                        device,
                        model,
                        grid,
                        device_params,
                        positions,
                        n,
                        &mut tape,
                        &d_sigma,
                        &d_rgb,
                        &mut d_params,
                        &mut d_table,
                    )
                })
                .and_then(|()| device.synchronize());
            failure = failure.take().or(result.err());
        });
        let name = format!("GPU training field pass ({n} samples), {precision:?} MLPs");
        let speed_up = fp32_seconds.map(|fp32: f64| fp32 / seconds);
        lines.push(BenchLine {
            compared_to: speed_up.map_or(String::new(), |_| "the Fp32 MLPs' line".into()),
            ratio: speed_up,
            ratio_meaning: speed_up.map_or(String::new(), |_| "fp32 time / this time".into()),
            ..BenchLine::plain(&name, n as f64 / seconds / 1e6, "Msamples/s")
        });
        fp32_seconds.get_or_insert(seconds);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(lines),
    }
}

/// The tensor cores' rate (`tensor_rate`): every multiprocessor full of warps doing nothing
/// but independent `mma.m16n8k16` products in f16 with f32 sums, the instruction of the fused
/// kernels; the roofline of their MLP TFLOP/s. None before sm_80.
fn tensor_rate_line(device: &CudaDevice, repeats: usize) -> Result<Option<BenchLine>, CudaError> {
    if MlpPrecision::Fp16.check(device.arch()).is_err() {
        return Ok(None);
    }
    let multiprocessors = device
        .context()
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(nerf_avatar_cuda::device::driver_error(
            "reading the multiprocessor count",
        ))?;
    let blocks = multiprocessors.max(1) as u32 * TENSOR_RATE_BLOCKS_PER_SM;
    let threads = 32 * TENSOR_RATE_WARPS;
    let mut sums = device.zeros::<f32>((blocks * threads) as usize)?;
    let value = 0.5f32;
    let mut failure = None;
    let mut run = || -> Result<(), CudaError> {
        ops::tensor_rate(
            device,
            [blocks, TENSOR_RATE_WARPS],
            TENSOR_RATE_ROUNDS,
            value,
            &mut sums,
        )?;
        device.synchronize()
    };
    let seconds = best_seconds(repeats, || {
        failure = failure.take().or(run().err());
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let expected = (16 * TENSOR_RATE_ROUNDS * 16) as f32 * value * value;
    let first = device.download(&sums, 1)?;
    if first.first() != Some(&expected) {
        return Err(CudaError::Unsupported(format!(
            "the tensor-rate kernel summed {first:?}, not {expected}"
        )));
    }
    let products = f64::from(blocks * TENSOR_RATE_WARPS) * f64::from(TENSOR_RATE_ROUNDS) * 4.0;
    let flop = products * 2.0 * 16.0 * 8.0 * 16.0;
    Ok(Some(BenchLine::plain(
        "GPU tensor-core rate (mma.m16n8k16, f16 inputs, f32 sums)",
        flop / seconds / 1e12,
        "TFLOP/s",
    )))
}
