//! The CUDA kernels run on the CPU and compared with their CPU twins, where no GPU is.
//!
//! `kernels/*.cu` are compiled as C++ by the system's compiler (`$CXX`, else `c++`) behind
//! `tests/cuda_on_cpu/cuda_on_cpu.h`, and each grid is run by `tests/cuda_on_cpu/emulator.cpp`:
//! blocks one after the other, each block's threads as coroutines switched at `__syncthreads`
//! and the warp-wide operations (votes, shuffles, `__syncwarp`, the tensor cores'
//! `mma.m16n8k16`, done for the whole warp with the PTX fragment layouts), so barriers, shared
//! memory, reductions and warp-level products keep their CUDA meaning.
//!
//! Each kernel is checked along one path. The host-code suite (`conformance/`, run through the
//! emulated driver by `cuda_emulated.rs` on every CI run and on a GPU by `cuda_conformance.rs`)
//! reaches most kernels; this file holds only what it does not: the f16 blend's padded last
//! pair, the loss reductions (`sparsity_loss`, `count_nonfinite`), the tensor-rate probe, the
//! fused field's sample count read on the device, the half-precision products' loss scaling
//! (per warp, at the paper's widths, fused equal to chained) and the renderer's kernels over
//! several batches per round with early termination.
//!
//! Skips with a printed reason where no C++ compiler runs, unless
//! `NERF_AVATAR_REQUIRE` names `cxx` (CI), which makes that a failure.

use std::ffi::c_void;
use std::sync::OnceLock;

use cudarc::driver::LaunchConfig;
use libloading::Library;
use nerf_avatar::config::ModelConfig;
use nerf_avatar::scene::{front_camera, head_occupancy};
use nerf_avatar_cuda::device::grid_1d;
use nerf_avatar_cuda::fused::{FusedLayers, launch_config, pack_mlps};
use nerf_avatar_cuda::half_mlp::{FusedMlp, ProductShape, loss_scale};
use nerf_avatar_cuda::ops::{CameraParams, MarchConfig, pack_levels};

use nerf_avatar::field::{FieldOutput, FieldTape};
use nerf_avatar::hashgrid::blend_tables;
use nerf_avatar::march::MarchSettings;
use nerf_avatar::mlp::{MlpActivations, mlp_backward, mlp_forward};
use nerf_avatar::params::LayerShape;
use nerf_avatar::render::{Background, RenderedImage, render_image};
use nerf_avatar_simd::f16_pairs::pack_f16_pairs;
use nerf_avatar_train::loss::sparsity_loss;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

mod kernel_support;
use kernel_support::{assert_close, assert_depth_close, check_fused_field, cxx, he_model, random};

/// The kernels compiled into a library, with the emulator.
struct Emulator {
    library: Library,
}

/// `emulate_grid` of emulator.cpp.
type EmulateGrid =
    unsafe extern "C" fn(*const u32, *const u32, extern "C" fn(*mut c_void), *mut c_void) -> i32;

/// Calls the closure `data` points to.
extern "C" fn call_body<F: Fn()>(data: *mut c_void) {
    // SAFETY: `run` passes a pointer to an `F` that outlives the grid.
    let body = unsafe { &*(data as *const F) };
    body();
}

impl Emulator {
    /// Runs `body` (which calls one kernel) on every thread of the launch `config` (the host
    /// side's own).
    fn run<F: Fn()>(&self, config: LaunchConfig, body: F) {
        let grid = [config.grid_dim.0, config.grid_dim.1, config.grid_dim.2];
        let block = [config.block_dim.0, config.block_dim.1, config.block_dim.2];
        // SAFETY: emulate_grid's signature in emulator.cpp; `body` lives across the call.
        let deadlocked = unsafe {
            let emulate = self.library.get::<EmulateGrid>(b"emulate_grid").unwrap();
            emulate(
                grid.as_ptr(),
                block.as_ptr(),
                call_body::<F>,
                &body as *const F as *mut c_void,
            )
        };
        assert_eq!(deadlocked, 0, "a block never reached its barrier");
    }

    /// A one-dimensional launch over `n` threads ([`grid_1d`]).
    fn run_1d<F: Fn()>(&self, n: usize, body: F) {
        self.run(grid_1d(n), body);
    }

    /// The kernel `name`, as a function of type `T`.
    fn kernel<T: Copy>(&self, name: &str) -> T {
        // SAFETY: the caller names the kernel's C signature as `T`.
        unsafe { *self.library.get::<T>(name.as_bytes()).unwrap() }
    }
}

/// The kernels built once per test run, or `None` (with the reason printed) where no C++
/// compiler runs.
fn emulator() -> Option<&'static Emulator> {
    static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();
    let built = EMULATOR.get_or_init(|| {
        let library = cxx::kernel_library()?;
        // SAFETY: the library was just built from the project's sources.
        let library = unsafe { Library::new(&library) }.map_err(|e| e.to_string())?;
        Ok(Emulator { library })
    });
    cxx::built_or_skip(built)
}

#[test]
fn f16_blend_kernel_pads_its_last_pair_and_rounds_as_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(1);
    // An odd length: the f16 blend pads its last pair.
    let (k, len) = (4, 1001);
    let tables = random(&mut rng, (k + 1) * len, -1.0, 1.0);
    let mut weights = random(&mut rng, k, -0.5, 1.5);
    weights[1] = 0.0;
    let mut cpu = vec![0.0; len];
    blend_tables(&tables, &weights, &mut cpu);
    let mut half = vec![u32::MAX; len.div_ceil(2)];
    type BlendF16 = unsafe extern "C" fn(*const f32, *const f32, u32, u64, *mut u32);
    let kernel: BlendF16 = emulator.kernel("blend_tables_f16");
    let half_out = half.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(half.len(), || unsafe {
        kernel(
            tables.as_ptr(),
            weights.as_ptr(),
            k as u32,
            len as u64,
            half_out,
        )
    });
    assert_eq!(half, pack_f16_pairs(&cpu), "blend_tables_f16");
}

/// `loss.cu`'s block reduction (shared memory between barriers, one atomic per block) and
/// its warp vote.
#[test]
fn loss_reductions_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(3);
    let n = 1000;
    let tables = random(&mut rng, n, -1.0, 1.0);
    let start = random(&mut rng, n, -1.0, 1.0);
    let weight = 0.3;
    let mut cpu_grads = start.clone();
    let cpu_loss = sparsity_loss(&tables, &mut cpu_grads, weight);
    let mut grads = start.clone();
    let mut total = [0.0f64];
    type Sparsity = unsafe extern "C" fn(*const f32, u64, f32, *mut f32, *mut f64);
    let kernel: Sparsity = emulator.kernel("sparsity_loss");
    let grads_out = grads.as_mut_ptr();
    let total_out = total.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(tables.as_ptr(), n as u64, weight, grads_out, total_out)
    });
    let loss = f64::from(weight) * total[0] / n as f64;
    assert!(
        (loss - cpu_loss).abs() <= 1e-9 * cpu_loss.abs(),
        "sparsity loss {loss} vs CPU {cpu_loss}"
    );
    assert_close("sparsity_loss gradients", &grads, &cpu_grads, 1e-7, 1e-6);

    let mut values = random(&mut rng, 700, -1.0, 1.0);
    for (i, bad) in [
        (3, f32::NAN),
        (31, f32::INFINITY),
        (32, f32::NEG_INFINITY),
        (699, f32::NAN),
    ] {
        values[i] = bad;
    }
    let mut count = [0u32];
    type Count = unsafe extern "C" fn(*const f32, u64, *mut u32);
    let kernel: Count = emulator.kernel("count_nonfinite");
    let count_out = count.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(values.len(), || unsafe {
        kernel(values.as_ptr(), values.len() as u64, count_out)
    });
    assert_eq!(count[0], 4);
}

/// `field_fp16.cu`, the whole field on the tensor cores, against the CPU's field within
/// half precision (the bounds of `cuda_conformance`'s test of it on a GPU, where it passes):
/// this checks the emulated products' fragment layouts as much as the kernel.
#[test]
fn fused_fp16_field_matches_the_cpu_within_half_precision() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(5);
    for config in [ModelConfig::fast(), ModelConfig::tiny()] {
        let (model, params) = he_model(config, &mut rng);
        let table = params.table(0).to_vec();
        // Not a multiple of the 16 samples a warp takes.
        let n = 301;
        let positions: Vec<[f32; 3]> = (0..n)
            .map(|_| std::array::from_fn(|_| rng.random_range(-0.1..1.1)))
            .collect();
        let directions: Vec<[f32; 3]> = (0..n)
            .map(|_| {
                let d: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
                let norm = d.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-3);
                d.map(|x| x / norm)
            })
            .collect();
        let (cpu, _) = model.field_forward(&params.data, &table, &positions, &directions);
        // The table as `blend_tables_f16` leaves it (checked against this packing above).
        let half_table = pack_f16_pairs(&table);
        let (fragments, layers) = pack_mlps(&model, &params.data).unwrap();
        let levels = pack_levels(&model.grid);
        type Fused = unsafe extern "C" fn(
            *const u32,
            *const u32,
            u32,
            u32,
            *const u32,
            FusedLayers,
            *const f32,
            *const f32,
            u32,
            *const u32,
            *mut f32,
            *mut f32,
        );
        let kernel: Fused = emulator.kernel("field_forward_fused");
        // σ and RGB of a launch over the n samples (NaN where the kernel wrote nothing), the
        // count read on the device where it is given.
        let run = |count: Option<&u32>| {
            let (mut sigma, mut rgb) = (vec![f32::NAN; n], vec![f32::NAN; 3 * n]);
            let (sigma_out, rgb_out) = (sigma.as_mut_ptr(), rgb.as_mut_ptr());
            let count = count.map_or(std::ptr::null(), std::ptr::from_ref);
            // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
            // host buffer sized for the grid's whole index range.
            emulator.run(launch_config(n), || unsafe {
                kernel(
                    half_table.as_ptr(),
                    levels.as_ptr(),
                    model.grid.levels.len() as u32,
                    model.grid.features as u32,
                    fragments.as_ptr(),
                    layers,
                    positions.as_ptr().cast(),
                    directions.as_ptr().cast(),
                    n as u32,
                    count,
                    sigma_out,
                    rgb_out,
                )
            });
            (sigma, rgb)
        };
        let (sigma, rgb) = run(None);
        check_fused_field(&format!("{:?}", model.config.grid), &sigma, &rgb, &cpu);

        // With the count on the device (the renderer's batches): the first `counted` samples
        // of a launch over n, the others untouched.
        let counted = 250u32;
        let (sigma, rgb) = run(Some(&counted));
        let m = counted as usize;
        let cpu_counted = FieldOutput {
            sigma: cpu.sigma[..m].to_vec(),
            rgb: cpu.rgb[..m].to_vec(),
        };
        check_fused_field("counted", &sigma[..m], &rgb[..3 * m], &cpu_counted);
        assert!(sigma[m..].iter().chain(&rgb[3 * m..]).all(|v| v.is_nan()));
    }
}

/// Runs one `mlp_layer_fp16` product of `shape` into `c`, loss-scaled by the largest |A|
/// in `largest` (the bits `max_abs` wrote) when given.
fn product_fp16(
    emulator: &Emulator,
    (a, b): (&[f32], &[f32]),
    shape: &ProductShape,
    largest: Option<&u32>,
    c: &mut [f32],
) {
    type Product = unsafe extern "C" fn(*const f32, *const f32, ProductShape, *const u32, *mut f32);
    let kernel: Product = emulator.kernel("mlp_layer_fp16");
    let c_out = c.as_mut_ptr();
    let largest = largest.map_or(std::ptr::null(), |l| l as *const u32);
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run(shape.launch_config(), || unsafe {
        kernel(a.as_ptr(), b.as_ptr(), *shape, largest, c_out)
    });
}

/// The bits of the largest |value| by `max_abs`.
fn max_abs(emulator: &Emulator, values: &[f32]) -> u32 {
    type MaxAbs = unsafe extern "C" fn(*const f32, u64, *mut u32);
    let kernel: MaxAbs = emulator.kernel("max_abs");
    let mut result = [0u32];
    let result_out = result.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(values.len(), || unsafe {
        kernel(values.as_ptr(), values.len() as u64, result_out)
    });
    result[0]
}

/// `mlp_fp16.cu`: a layer's three products on the tensor cores against f64 sums, within
/// f16's rounding of the inputs (relative 2^-11 per factor), with gradients so small that
/// they would vanish in f16 without the loss scale.
#[test]
fn half_precision_layer_products_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(8);
    let (rows, inputs, outputs) = (100usize, 37usize, 21usize);
    let shape = [rows, inputs, outputs];
    let x = random(&mut rng, rows * inputs, -1.0, 1.0);
    let w = random(&mut rng, outputs * inputs, -0.5, 0.5);
    // Gradients of the size training sees at the MLPs' outputs (1e-7 to 1e-5).
    let d_y: Vec<f32> = random(&mut rng, rows * outputs, -1.0, 1.0)
        .into_iter()
        .map(|g| g * 1e-5)
        .collect();
    let dot = |n: usize, a: &dyn Fn(usize) -> f32, b: &dyn Fn(usize) -> f32| {
        (0..n)
            .map(|k| f64::from(a(k)) * f64::from(b(k)))
            .sum::<f64>() as f32
    };

    let expected: Vec<f32> = (0..rows * outputs)
        .map(|at| {
            let (r, o) = (at / outputs, at % outputs);
            dot(inputs, &|i| x[r * inputs + i], &|i| w[o * inputs + i]).max(0.0)
        })
        .collect();
    let mut y = vec![f32::NAN; rows * outputs];
    let product = ProductShape::forward(shape, true).unwrap();
    product_fp16(emulator, (&x, &w), &product, None, &mut y);
    assert_close("forward", &y, &expected, 4e-3, 2e-3);

    let largest = max_abs(emulator, &d_y);
    let cpu_largest = d_y.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert_eq!(f32::from_bits(largest), cpu_largest);
    let scale = loss_scale(cpu_largest);
    assert!(
        scale > 1e8,
        "loss scale {scale} for gradients below {cpu_largest}"
    );

    let expected: Vec<f32> = (0..rows * inputs)
        .map(|at| {
            let (r, i) = (at / inputs, at % inputs);
            dot(outputs, &|o| d_y[r * outputs + o], &|o| w[o * inputs + i])
        })
        .collect();
    let mut d_x = vec![f32::NAN; rows * inputs];
    let product = ProductShape::input_gradient(shape).unwrap();
    product_fp16(emulator, (&d_y, &w), &product, Some(&largest), &mut d_x);
    assert_close("input gradient", &d_x, &expected, 4e-8, 2e-3);

    let start = random(&mut rng, outputs * inputs, -1e-4, 1e-4);
    let expected: Vec<f32> = (0..outputs * inputs)
        .map(|at| {
            let (o, i) = (at / inputs, at % inputs);
            start[at] + dot(rows, &|r| d_y[r * outputs + o], &|r| x[r * inputs + i])
        })
        .collect();
    let mut d_w = start.clone();
    // Slices of 32 rows: four blocks add into every weight.
    let product = ProductShape::weight_gradient(shape, 32).unwrap();
    product_fp16(emulator, (&d_y, &x), &product, Some(&largest), &mut d_w);
    assert_close("weight gradient", &d_w, &expected, 4e-8, 2e-3);

    // Without the loss scale the same gradients lose their smallest values to f16.
    let mut unscaled = vec![f32::NAN; rows * inputs];
    let product = ProductShape::input_gradient(shape).unwrap();
    product_fp16(emulator, (&d_y, &w), &product, None, &mut unscaled);
    let error = |values: &[f32], expected: &[f32]| {
        values
            .iter()
            .zip(expected)
            .map(|(v, e)| (v - e).abs())
            .sum::<f32>()
    };
    let exact: Vec<f32> = (0..rows * inputs)
        .map(|at| {
            dot(outputs, &|o| d_y[at / inputs * outputs + o], &|o| {
                w[o * inputs + at % inputs]
            })
        })
        .collect();
    assert!(error(&unscaled, &exact) > 10.0 * error(&d_x, &exact));
}

/// Layers of `widths` (input, hidden, output) after three unused parameters, and the
/// parameters: weights drawn like He initialisation (uniform, ±√(6 / inputs)).
fn he_network(rng: &mut Pcg64, widths: &[usize]) -> (Vec<LayerShape>, Vec<f32>) {
    let mut params = vec![0.0f32; 3];
    let layers = widths
        .windows(2)
        .map(|w| {
            let layer = LayerShape {
                inputs: w[0],
                outputs: w[1],
                offset: params.len(),
            };
            let bound = (6.0 / w[0] as f32).sqrt();
            params.extend(random(rng, w[0] * w[1], -bound, bound));
            layer
        })
        .collect();
    (layers, params)
}

/// `mlp_forward_fused` and `mlp_backward_fused`, then the weight-gradient products the host
/// runs after them (`cuda::mlp`), against the CPU's `mlp_forward` and `mlp_backward`, for the
/// paper's density network (64 → 4 × 64 → 65) and colour network (80 → 64 → 3) on 100 rows
/// (the last warp's 16 rows partly outside). The gradients are as small as training's get
/// (1e-7), but one warp's are 10^11 times larger: each warp's loss scale is its own, so both
/// keep f16's precision (one scale for all would leave the small ones subnormal). The forward pass also equals a chain of `mlp_layer_fp16` products
/// bit for bit (the same products in the same order, without the round trips).
#[test]
fn fused_half_precision_mlps_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    type Forward = unsafe extern "C" fn(*const f32, *const f32, FusedMlp, u32, *mut f32);
    type Backward =
        unsafe extern "C" fn(*const f32, FusedMlp, u32, *const f32, *const f32, *mut f32, *mut f32);
    let forward: Forward = emulator.kernel("mlp_forward_fused");
    let backward: Backward = emulator.kernel("mlp_backward_fused");
    let mut rng = Pcg64::seed_from_u64(9);
    let n = 100usize;
    for widths in [vec![64, 64, 64, 64, 64, 65], vec![80, 64, 3]] {
        let (layers, params) = he_network(&mut rng, &widths);
        let mlp = FusedMlp::new(&layers)
            .unwrap()
            .expect("the layers fit the fused kernels");
        let config = FusedMlp::launch_config(n);
        let input = random(&mut rng, n * widths[0], -1.0, 1.0);
        let starts: Vec<usize> = layers
            .iter()
            .scan(0, |end, layer| {
                let start = *end;
                *end += n * layer.outputs;
                Some(start)
            })
            .collect();
        let tape_len = starts[layers.len() - 1] + n * layers[layers.len() - 1].outputs;
        let mut outputs = vec![f32::NAN; tape_len];
        let outputs_out = outputs.as_mut_ptr();
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run(config, || unsafe {
            forward(input.as_ptr(), params.as_ptr(), mlp, n as u32, outputs_out)
        });
        let cpu = mlp_forward(&layers, &params, &input, n);
        for (l, layer) in layers.iter().enumerate() {
            let fused = &outputs[starts[l]..starts[l] + n * layer.outputs];
            assert_close(
                &format!("{widths:?} layer {l}"),
                fused,
                &cpu.layers[l],
                2e-2,
                2e-2,
            );
            let x = match l {
                0 => &input[..],
                _ => &outputs[starts[l - 1]..starts[l]],
            };
            let shape = [n, layer.inputs, layer.outputs];
            let product = ProductShape::forward(shape, l + 1 < layers.len()).unwrap();
            let mut chained = vec![f32::NAN; n * layer.outputs];
            let w = &params[layer.range()];
            product_fp16(emulator, (x, w), &product, None, &mut chained);
            assert_eq!(
                fused,
                &chained[..],
                "{widths:?} layer {l}: fused and chained differ"
            );
        }

        let out_width = widths[widths.len() - 1];
        let mut d_output = random(&mut rng, n * out_width, -1e-7, 1e-7);
        for g in &mut d_output[16 * out_width..32 * out_width] {
            *g *= 1e11;
        }
        let mut d_outputs = vec![f32::NAN; tape_len];
        let mut d_input = vec![f32::NAN; n * widths[0]];
        let (d_outputs_out, d_input_out) = (d_outputs.as_mut_ptr(), d_input.as_mut_ptr());
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run(config, || unsafe {
            backward(
                params.as_ptr(),
                mlp,
                n as u32,
                outputs.as_ptr(),
                d_output.as_ptr(),
                d_outputs_out,
                d_input_out,
            )
        });
        let mut d_params = vec![0.0f32; params.len()];
        for (l, layer) in layers.iter().enumerate() {
            let d_y = &d_outputs[starts[l]..starts[l] + n * layer.outputs];
            let x = match l {
                0 => &input[..],
                _ => &outputs[starts[l - 1]..starts[l]],
            };
            let largest = max_abs(emulator, d_y);
            let shape = [n, layer.inputs, layer.outputs];
            let product = ProductShape::weight_gradient(shape, 32).unwrap();
            let d_w = &mut d_params[layer.range()];
            product_fp16(emulator, (d_y, x), &product, Some(&largest), d_w);
        }
        // The CPU's backward through the kernel's own activations: where an activation is
        // near zero, f16 may put it on the other side of the ReLU than the CPU's forward did,
        // and the comparison is of the backward pass alone.
        let kept = MlpActivations {
            layers: (0..layers.len())
                .map(|l| outputs[starts[l]..starts[l] + n * layers[l].outputs].to_vec())
                .collect(),
        };
        let mut cpu_params = vec![0.0f32; params.len()];
        let cpu_input = mlp_backward(
            &layers,
            &params,
            &input,
            n,
            &kept,
            d_output.clone(),
            &mut cpu_params,
            true,
        )
        .unwrap();
        // Each warp's rows within f16's precision of that warp's own gradients.
        let row_width = widths[0];
        for (tile, (fused, cpu)) in d_input
            .chunks(16 * row_width)
            .zip(cpu_input.chunks(16 * row_width))
            .enumerate()
        {
            let largest = cpu.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            assert!(
                largest > 0.0,
                "{widths:?}: rows of tile {tile} have no gradient"
            );
            let what = format!("{widths:?} input gradient, rows {}..", 16 * tile);
            assert_close(&what, fused, cpu, 2e-2 * largest, 2e-2);
        }
        for layer in &layers {
            let (fused, cpu) = (&d_params[layer.range()], &cpu_params[layer.range()]);
            let largest = cpu.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let what = format!("{widths:?} weight gradient at {}", layer.offset);
            assert_close(&what, fused, cpu, 2e-2 * largest, 2e-2);
        }
        assert_eq!(d_params[..3], [0.0; 3], "outside the layers untouched");
    }
}

/// `roofline.cu`'s tensor-rate kernel (the bench's roofline) does the products it counts:
/// each lane's sum is 4 chains · 4 results · rounds · 16 · value².
#[test]
fn tensor_rate_kernel_does_the_products_it_counts() {
    let Some(emulator) = emulator() else { return };
    type Rate = unsafe extern "C" fn(u32, f32, *mut f32);
    let kernel: Rate = emulator.kernel("tensor_rate");
    let (rounds, value) = (3u32, 0.75f32);
    let config = LaunchConfig {
        grid_dim: (2, 1, 1),
        block_dim: (64, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut sums = vec![f32::NAN; 128];
    let sums_out = sums.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run(config, || unsafe { kernel(rounds, value, sums_out) });
    let expected = (16 * rounds * 16) as f32 * value * value;
    assert!(
        sums.iter().all(|&s| s == expected),
        "{sums:?}, not {expected}"
    );
}

/// The inference renderer's kernels (`render.cu`) in the loop `CudaRenderer` runs them in,
/// with the CPU's field between marching and compositing, against the CPU's `render_image`:
/// a 40 × 32 frame of a tiny He-initialised avatar and a head-shaped occupancy grid, 4
/// samples per ray and round and 100 rays per batch (so rays go on through several rounds and
/// batches, the live list is compacted between rounds, and batches are launched on an upper
/// bound of its count, as the renderer launches them), over a solid background and a
/// per-pixel one, then packed to RGBA8. Rays stop early (T < 0.01) on both sides.
#[test]
fn render_kernels_match_the_cpus_render_image() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(13);
    let (model, mut params) = he_model(ModelConfig::tiny(), &mut rng);
    // Density logits (the density MLP's output 0) 1000 times larger: dense enough inside the
    // head for rays to become opaque.
    let last = *params.layout.density_layers.last().unwrap();
    for w in &mut params.data[last.offset..last.offset + last.inputs] {
        *w *= 1000.0;
    }
    let config = &model.config;
    let occupancy = head_occupancy(config);
    let (mut intrinsics, pose) = front_camera(config, 40, 32);
    // A wider view than the bench's: the corners miss the head box.
    intrinsics.fx *= 0.4;
    intrinsics.fy *= 0.4;
    let weights = [0.3f32, 0.7];
    let pixels = (intrinsics.width * intrinsics.height) as usize;
    let (per_round, batch_rays) = (4u32, 100usize);
    let camera = CameraParams::new(&intrinsics, &pose);
    let settings = MarchSettings::inference(config);
    let march = MarchConfig::new(config, &settings, occupancy.resolution);
    let mut table = vec![0.0; model.layout.table_len];
    blend_tables(params.tables(), &weights, &mut table);

    let mut marchers = vec![0u32; 9 * pixels];
    let (mut color, mut transmittance) = (vec![f32::NAN; 3 * pixels], vec![f32::NAN; pixels]);
    let mut distance = vec![f32::NAN; pixels];
    let mut live = [vec![u32::MAX; pixels], vec![u32::MAX; pixels]];
    let mut live_count = [0u32; 2];
    type Init = unsafe extern "C" fn(
        CameraParams,
        MarchConfig,
        *mut u32,
        *mut f32,
        *mut f32,
        *mut f32,
        *mut u32,
        *mut u32,
    );
    let init: Init = emulator.kernel("render_init");
    let (marchers_out, color_out, distance_out, transmittance_out) = (
        marchers.as_mut_ptr(),
        color.as_mut_ptr(),
        distance.as_mut_ptr(),
        transmittance.as_mut_ptr(),
    );
    let (live_out, live_count_out) = (live[0].as_mut_ptr(), &mut live_count[0] as *mut u32);
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(pixels, || unsafe {
        init(
            camera,
            march,
            marchers_out,
            color_out,
            distance_out,
            transmittance_out,
            live_out,
            live_count_out,
        )
    });
    assert!(
        live_count[0] > 0 && (live_count[0] as usize) < pixels,
        "some rays, not all, hit the head box: {}",
        live_count[0]
    );

    type March = unsafe extern "C" fn(
        *const u32,
        *const u32,
        u32,
        u32,
        u32,
        MarchConfig,
        *const u8,
        *mut u32,
        *mut f32,
        *mut f32,
        *mut f32,
        *mut f32,
        *mut u32,
        *mut u32,
        *mut u32,
        *mut u32,
    );
    type Composite = unsafe extern "C" fn(
        *const u32,
        *const u32,
        u32,
        u32,
        u32,
        *const u32,
        *const u32,
        *const f32,
        *const f32,
        *const f32,
        *const f32,
        f32,
        *mut f32,
        *mut f32,
        *mut f32,
        *mut u32,
        *mut u32,
    );
    let render_march: March = emulator.kernel("render_march");
    let render_composite: Composite = emulator.kernel("render_composite");
    let capacity = batch_rays * per_round as usize;
    let (mut positions, mut directions) = (vec![0.0f32; 3 * capacity], vec![0.0f32; 3 * capacity]);
    let (mut dts, mut distances) = (vec![0.0f32; capacity], vec![0.0f32; capacity]);
    let (mut sample_base, mut sample_taken) = (vec![0u32; batch_rays], vec![0u32; batch_rays]);
    let (mut sigma, mut rgb) = (vec![0.0f32; capacity], vec![[0.0f32; 3]; capacity]);
    let mut tape = FieldTape::default();
    // As `CudaRenderer` launches them: round r's batches cover an upper bound of its list's
    // count (the count of round r − 1's list), and the kernels read the count itself.
    let mut rounds = 0;
    let mut bound = live_count[0] as usize;
    let (mut evaluated, mut marched) = (0u32, 0u32);
    let evaluated_out = &mut evaluated as *mut u32;
    while bound > 0 {
        let (current, next) = (rounds % 2, 1 - rounds % 2);
        live_count[next] = 0;
        let count_now = &live_count[current] as *const u32;
        for first in (0..bound).step_by(batch_rays) {
            let count = batch_rays.min(bound - first);
            let mut taken_total = 0u32;
            let live_now = live[current].as_ptr();
            let out = (
                marchers.as_mut_ptr(),
                positions.as_mut_ptr(),
                directions.as_mut_ptr(),
                dts.as_mut_ptr(),
                distances.as_mut_ptr(),
                sample_base.as_mut_ptr(),
                sample_taken.as_mut_ptr(),
                &mut taken_total as *mut u32,
            );
            // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
            // host buffer sized for the grid's whole index range.
            emulator.run_1d(count, || unsafe {
                render_march(
                    live_now,
                    count_now,
                    first as u32,
                    count as u32,
                    per_round,
                    march,
                    occupancy.bitfield.as_ptr(),
                    out.0,
                    out.1,
                    out.2,
                    out.3,
                    out.4,
                    out.5,
                    out.6,
                    out.7,
                    evaluated_out,
                )
            });
            let n = taken_total as usize;
            marched += taken_total;
            let as_triples = |flat: &[f32]| -> Vec<[f32; 3]> {
                flat.chunks(3).map(|c| [c[0], c[1], c[2]]).collect()
            };
            model.field_forward_into(
                &params.data,
                &table,
                &as_triples(&positions[..3 * n]),
                &as_triples(&directions[..3 * n]),
                (&mut sigma[..n], &mut rgb[..n]),
                &mut tape,
            );
            let flat_rgb: Vec<f32> = rgb.iter().flatten().copied().collect();
            let (live_next, next_count) =
                (live[next].as_mut_ptr(), &mut live_count[next] as *mut u32);
            let (color_out, distance_out, transmittance_out) = (
                color.as_mut_ptr(),
                distance.as_mut_ptr(),
                transmittance.as_mut_ptr(),
            );
            // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
            // host buffer sized for the grid's whole index range.
            emulator.run_1d(count, || unsafe {
                render_composite(
                    live_now,
                    count_now,
                    first as u32,
                    count as u32,
                    per_round,
                    sample_base.as_ptr(),
                    sample_taken.as_ptr(),
                    sigma.as_ptr(),
                    flat_rgb.as_ptr(),
                    dts.as_ptr(),
                    distances.as_ptr(),
                    march.transmittance_threshold(),
                    color_out,
                    distance_out,
                    transmittance_out,
                    live_next,
                    next_count,
                )
            });
        }
        if rounds > 0 {
            bound = live_count[current] as usize;
        }
        rounds += 1;
    }
    assert!(rounds > 3, "the rays took {rounds} rounds");
    assert_eq!(evaluated, marched, "the frame's count of samples");

    type Finish = unsafe extern "C" fn(
        CameraParams,
        *const u32,
        *const f32,
        *const f32,
        *const f32,
        f32,
        f32,
        f32,
        *const f32,
        *mut f32,
        *mut f32,
    );
    type Pack = unsafe extern "C" fn(*const f32, u32, *mut u32);
    let finish: Finish = emulator.kernel("render_finish");
    let pack: Pack = emulator.kernel("pack_rgba8");
    let solid = [0.2f32, 0.5, 0.9];
    let image: Vec<[f32; 3]> = (0..pixels)
        .map(|_| [0; 3].map(|_| rng.random_range(0.0..1.0)))
        .collect();
    let flat_image: Vec<f32> = image.iter().flatten().copied().collect();
    for (background, image_ptr) in [
        (Background::Solid(solid), std::ptr::null()),
        (Background::Image(&image), flat_image.as_ptr()),
    ] {
        let (mut rgba, mut depth) = (vec![f32::NAN; 4 * pixels], vec![f32::NAN; pixels]);
        let (rgba_out, depth_out) = (rgba.as_mut_ptr(), depth.as_mut_ptr());
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(pixels, || unsafe {
            finish(
                camera,
                marchers.as_ptr(),
                color.as_ptr(),
                distance.as_ptr(),
                transmittance.as_ptr(),
                solid[0],
                solid[1],
                solid[2],
                image_ptr,
                rgba_out,
                depth_out,
            )
        });
        let cpu = render_image(
            &model,
            &params,
            &weights,
            &occupancy,
            &intrinsics,
            &pose,
            background,
        );
        let cpu_rgba: Vec<f32> = cpu
            .rgb
            .iter()
            .zip(&cpu.alpha)
            .flat_map(|(c, a)| [c[0], c[1], c[2], *a])
            .collect();
        assert_close("render_finish", &rgba, &cpu_rgba, 1e-5, 1e-5);
        let alpha: Vec<f32> = rgba.chunks(4).map(|p| p[3]).collect();
        let cpu_depth = (&cpu.depth[..], &cpu.alpha[..]);
        assert_depth_close("render_finish depth", (&depth, &alpha), cpu_depth, 1e-5);
        let opaque = cpu.alpha.iter().filter(|&&a| a > 0.99).count();
        assert!(opaque > 10, "only {opaque} rays became opaque");

        let mut packed = vec![0u32; pixels];
        let packed_out = packed.as_mut_ptr();
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(pixels, || unsafe {
            pack(rgba.as_ptr(), pixels as u32, packed_out)
        });
        let bytes: Vec<u8> = packed.iter().flat_map(|p| p.to_le_bytes()).collect();
        let rgba_image = RenderedImage {
            rgb: rgba.chunks(4).map(|p| [p[0], p[1], p[2]]).collect(),
            alpha: rgba.chunks(4).map(|p| p[3]).collect(),
            depth,
            ..cpu
        };
        assert_eq!(bytes, rgba_image.to_rgba8_bytes(), "pack_rgba8");
    }
}
