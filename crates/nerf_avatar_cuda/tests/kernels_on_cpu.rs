//! The CUDA kernels run on the CPU and compared with their CPU twins, where no GPU is.
//!
//! `kernels/*.cu` are compiled as C++ by the system's compiler (`$CXX`, else `c++`) behind
//! `tests/cuda_on_cpu/cuda_on_cpu.h`, and each grid is run by `tests/cuda_on_cpu/emulator.cpp`:
//! blocks one after the other, each block's threads as coroutines switched at `__syncthreads`
//! and the warp-wide operations (votes, shuffles, `__syncwarp`, the tensor cores'
//! `mma.m16n8k16`, done for the whole warp with the PTX fragment layouts), so barriers, shared
//! memory, reductions and warp-level products keep their CUDA meaning. This checks what the kernels compute
//! (indexing, tiling, barriers, reductions, fragments) on every CI run; `cuda_conformance.rs`
//! checks the same kernels on a GPU, through the host code, in the GPU's arithmetic.
//!
//! Skips with a printed reason where no C++ compiler runs, unless
//! `NERF_AVATAR_REQUIRE` names `cxx` (CI), which makes that a failure.

use std::ffi::c_void;
use std::sync::OnceLock;

use cudarc::driver::LaunchConfig;
use libloading::Library;
use nerf_avatar::composite::Composited;
use nerf_avatar::config::{HashGridConfig, ModelConfig};
use nerf_avatar::scene::{front_camera, head_occupancy};
use nerf_avatar_cuda::device::grid_1d;
use nerf_avatar_cuda::fused::{FusedLayers, launch_config, pack_mlps};
use nerf_avatar_cuda::half_mlp::{FusedMlp, ProductShape, loss_scale};
use nerf_avatar_cuda::lpips::LayerGeometry;
use nerf_avatar_cuda::mlp::tile_grid;
use nerf_avatar_cuda::ops::{CameraParams, MarchConfig, pack_levels};

use nerf_avatar::field::{FieldOutput, FieldTape};
use nerf_avatar::hashgrid::{HashGridLayout, blend_tables, blend_tables_backward};
use nerf_avatar::march::MarchSettings;
use nerf_avatar::mlp::{MlpActivations, mlp_backward, mlp_forward};
use nerf_avatar::occupancy::{DENSITY_DECAY, OCCUPANCY_THRESHOLD, OccupancyGrid, max_pool_2};
use nerf_avatar::params::LayerShape;
use nerf_avatar::render::{Background, RenderedImage, render_image};
use nerf_avatar::sh::sh_encode;
use nerf_avatar_eval::metrics::lpips::patch::{ConvGeometry, Extent, PoolGeometry};
use nerf_avatar_simd::f16_pairs::pack_f16_pairs;
use nerf_avatar_simd::tiles::dense_layer;
use nerf_avatar_train::adam::{Adam, AdamSettings};
use nerf_avatar_train::data::RayTargets;
use nerf_avatar_train::loss::{RayLossWeights, ray_loss, sparsity_loss};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

mod kernel_support;
use kernel_support::{
    CompositeCase, CompositeResult, LpipsKernels, MarchCase, assert_close, check_fused_field,
    check_lpips_kernels, cxx, he_model, random,
};

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
fn blend_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(1);
    // An odd length: the f16 blend pads its last pair.
    let (k, len) = (4, 1001);
    let tables = random(&mut rng, (k + 1) * len, -1.0, 1.0);
    let mut weights = random(&mut rng, k, -0.5, 1.5);
    weights[1] = 0.0;
    let mut cpu = vec![0.0; len];
    blend_tables(&tables, &weights, &mut cpu);
    let mut blended = vec![f32::NAN; len];
    type Blend = unsafe extern "C" fn(*const f32, *const f32, u32, u64, *mut f32);
    let kernel: Blend = emulator.kernel("blend_tables");
    let blended_out = blended.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(len, || unsafe {
        kernel(
            tables.as_ptr(),
            weights.as_ptr(),
            k as u32,
            len as u64,
            blended_out,
        )
    });
    assert_close("blend_tables", &blended, &cpu, 0.0, 0.0);

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

    let d_blended = random(&mut rng, len, -1.0, 1.0);
    let start = random(&mut rng, (k + 1) * len, -1.0, 1.0);
    let mut cpu_grad = start.clone();
    blend_tables_backward(&d_blended, &weights, &mut cpu_grad);
    let mut grad = start.clone();
    let kernel: Blend = emulator.kernel("blend_tables_backward");
    let grad_out = grad.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(len, || unsafe {
        kernel(
            d_blended.as_ptr(),
            weights.as_ptr(),
            k as u32,
            len as u64,
            grad_out,
        )
    });
    assert_close("blend_tables_backward", &grad, &cpu_grad, 0.0, 0.0);
}

/// `mlp.cu`'s tiled layers (shared-memory tiles between barriers) on sizes that are not
/// multiples of the tiles.
#[test]
fn mlp_layer_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(2);
    let (n, inputs, outputs) = (37usize, 21usize, 19usize);
    let x = random(&mut rng, n * inputs, -1.0, 1.0);
    let w = random(&mut rng, outputs * inputs, -1.0, 1.0);

    let mut cpu_y = vec![0.0; n * outputs];
    dense_layer(&x, &w, [n, inputs, outputs], true, &mut cpu_y);
    let mut y = vec![f32::NAN; n * outputs];
    type Forward = unsafe extern "C" fn(*const f32, *const f32, u32, u32, u32, u32, *mut f32);
    let forward: Forward = emulator.kernel("mlp_forward_layer");
    let y_out = y.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run(tile_grid(n, outputs, 1).unwrap(), || unsafe {
        forward(
            x.as_ptr(),
            w.as_ptr(),
            n as u32,
            inputs as u32,
            outputs as u32,
            1,
            y_out,
        )
    });
    assert_close("mlp_forward_layer", &y, &cpu_y, 1e-5, 1e-5);

    let mut d_y = random(&mut rng, n * outputs, -1.0, 1.0);
    let mut masked = d_y.clone();
    type Relu = unsafe extern "C" fn(*mut f32, *const f32, u64);
    let relu: Relu = emulator.kernel("relu_backward");
    let masked_out = masked.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(d_y.len(), || unsafe {
        relu(masked_out, y.as_ptr(), (n * outputs) as u64)
    });
    for (d, &y) in d_y.iter_mut().zip(&y) {
        *d = if y > 0.0 { *d } else { 0.0 };
    }
    assert_close("relu_backward", &masked, &d_y, 0.0, 0.0);

    let cpu_d_x: Vec<f32> = (0..n * inputs)
        .map(|at| {
            (0..outputs)
                .map(|o| d_y[at / inputs * outputs + o] * w[o * inputs + at % inputs])
                .sum()
        })
        .collect();
    let mut d_x = vec![f32::NAN; n * inputs];
    type Input = unsafe extern "C" fn(*const f32, *const f32, u32, u32, u32, *mut f32);
    let input: Input = emulator.kernel("mlp_backward_layer_input");
    let d_x_out = d_x.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run(tile_grid(n, inputs, 1).unwrap(), || unsafe {
        input(
            d_y.as_ptr(),
            w.as_ptr(),
            n as u32,
            inputs as u32,
            outputs as u32,
            d_x_out,
        )
    });
    assert_close("mlp_backward_layer_input", &d_x, &cpu_d_x, 1e-5, 1e-5);

    let start = random(&mut rng, outputs * inputs, -1.0, 1.0);
    let cpu_d_w: Vec<f32> = (0..outputs * inputs)
        .map(|at| {
            start[at]
                + (0..n)
                    .map(|r| d_y[r * outputs + at / inputs] * x[r * inputs + at % inputs])
                    .sum::<f32>()
        })
        .collect();
    let mut d_w = start.clone();
    type Weights = unsafe extern "C" fn(*const f32, *const f32, u32, u32, u32, u32, *mut f32);
    let weights: Weights = emulator.kernel("mlp_backward_layer_weights");
    let rows_per_slice = 16u32;
    let slices = (n as u32).div_ceil(rows_per_slice);
    let d_w_out = d_w.as_mut_ptr();
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run(tile_grid(inputs, outputs, slices).unwrap(), || unsafe {
        weights(
            d_y.as_ptr(),
            x.as_ptr(),
            n as u32,
            inputs as u32,
            outputs as u32,
            rows_per_slice,
            d_w_out,
        )
    });
    assert_close("mlp_backward_layer_weights", &d_w, &cpu_d_w, 1e-4, 1e-5);
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

/// `kernels/lpips.cu` in the emulator.
struct EmulatedLpips<'a>(&'a Emulator);

type Columns = unsafe extern "C" fn(*const f32, LayerGeometry, *mut f32);

impl LpipsKernels for EmulatedLpips<'_> {
    fn scale_input(&self, rgb: &[f32]) -> Vec<f32> {
        let mut scaled = vec![f32::NAN; rgb.len()];
        let out = scaled.as_mut_ptr();
        type Scale = unsafe extern "C" fn(*const f32, u64, *mut f32);
        let kernel: Scale = self.0.kernel("lpips_scale_input");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        self.0.run_1d(rgb.len(), || unsafe {
            kernel(rgb.as_ptr(), rgb.len() as u64, out)
        });
        scaled
    }

    fn scale_input_backward(&self, d_scaled: &[f32], weight: f32, d_images: &[f32]) -> Vec<f32> {
        let mut d = d_images.to_vec();
        let out = d.as_mut_ptr();
        type Backward = unsafe extern "C" fn(*const f32, u64, f32, *mut f32);
        let kernel: Backward = self.0.kernel("lpips_scale_input_backward");
        let n = d_scaled.len();
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        self.0.run_1d(n, || unsafe {
            kernel(d_scaled.as_ptr(), n as u64, weight, out)
        });
        d
    }

    fn im2col(
        &self,
        input: &[f32],
        images: usize,
        extent: Extent,
        conv: &ConvGeometry,
    ) -> Vec<f32> {
        let geometry = LayerGeometry::conv(images, extent, conv).unwrap();
        let output = conv.output(extent);
        let mut cols = vec![f32::NAN; images * output[0] * output[1] * conv.columns()];
        let (len, out) = (cols.len(), cols.as_mut_ptr());
        let kernel: Columns = self.0.kernel("lpips_im2col");
        self.0
            // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
            // host buffer sized for the grid's whole index range.
            .run_1d(len, || unsafe { kernel(input.as_ptr(), geometry, out) });
        cols
    }

    fn col2im(
        &self,
        d_cols: &[f32],
        images: usize,
        extent: Extent,
        conv: &ConvGeometry,
    ) -> Vec<f32> {
        let geometry = LayerGeometry::conv(images, extent, conv).unwrap();
        let mut d_input = vec![f32::NAN; images * extent.iter().product::<usize>()];
        let (len, out) = (d_input.len(), d_input.as_mut_ptr());
        let kernel: Columns = self.0.kernel("lpips_col2im");
        self.0
            // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
            // host buffer sized for the grid's whole index range.
            .run_1d(len, || unsafe { kernel(d_cols.as_ptr(), geometry, out) });
        d_input
    }

    fn max_pool(
        &self,
        input: &[f32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> (Vec<f32>, Vec<u32>) {
        let geometry = LayerGeometry::pool(images, extent, pool).unwrap();
        let len = images * pool.output(extent).iter().product::<usize>();
        let (mut out, mut argmax) = (vec![f32::NAN; len], vec![u32::MAX; len]);
        let (out_ptr, argmax_ptr) = (out.as_mut_ptr(), argmax.as_mut_ptr());
        type Pool = unsafe extern "C" fn(*const f32, LayerGeometry, *mut f32, *mut u32);
        let kernel: Pool = self.0.kernel("lpips_max_pool");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        self.0.run_1d(len, || unsafe {
            kernel(input.as_ptr(), geometry, out_ptr, argmax_ptr)
        });
        (out, argmax)
    }

    fn max_pool_backward(
        &self,
        d_out: &[f32],
        argmax: &[u32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> Vec<f32> {
        let geometry = LayerGeometry::pool(images, extent, pool).unwrap();
        let mut d_input = vec![f32::NAN; images * extent.iter().product::<usize>()];
        let (len, out) = (d_input.len(), d_input.as_mut_ptr());
        type Backward = unsafe extern "C" fn(*const f32, *const u32, LayerGeometry, *mut f32);
        let kernel: Backward = self.0.kernel("lpips_max_pool_backward");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        self.0.run_1d(len, || unsafe {
            kernel(d_out.as_ptr(), argmax.as_ptr(), geometry, out)
        });
        d_input
    }

    fn compare_features(
        &self,
        features: &[f32],
        (pairs, extent): (usize, Extent),
        head: &[f32],
        d_a: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let pixels = extent[0] * extent[1];
        let mut distances = vec![f32::NAN; pairs * pixels];
        let mut d = d_a.to_vec();
        let (distances_out, d_out) = (distances.as_mut_ptr(), d.as_mut_ptr());
        let scale = 1.0 / (pairs * pixels) as f32;
        type Compare =
            unsafe extern "C" fn(*const f32, u32, u32, u32, *const f32, f32, *mut f32, *mut f32);
        let kernel: Compare = self.0.kernel("lpips_compare");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        self.0.run_1d(pairs * pixels, || unsafe {
            kernel(
                features.as_ptr(),
                pairs as u32,
                pixels as u32,
                extent[2] as u32,
                head.as_ptr(),
                scale,
                distances_out,
                d_out,
            )
        });
        (distances, d)
    }
}

#[test]
fn lpips_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    check_lpips_kernels(&EmulatedLpips(emulator), &mut Pcg64::seed_from_u64(4));
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

/// Random points in and around the unit cube, some on its faces.
fn points(rng: &mut Pcg64, n: usize) -> Vec<[f32; 3]> {
    let mut points: Vec<[f32; 3]> = (0..n)
        .map(|_| std::array::from_fn(|_| rng.random_range(-0.1..1.1)))
        .collect();
    points.extend([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.5]]);
    points
}

/// The hash encoding (one thread per point and level) and its backward pass (atomics into
/// the table's gradient), on dense and hashed levels.
#[test]
fn hash_encoding_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(6);
    for features in [2, 3, 4] {
        let config = HashGridConfig {
            levels: 6,
            log2_table_size: 10,
            features_per_level: features,
            base_resolution: 3,
            finest_resolution: 60,
        };
        let layout = HashGridLayout::new(&config);
        assert!(layout.levels.iter().any(|l| l.hashed) && layout.levels.iter().any(|l| !l.hashed));
        let table = random(&mut rng, layout.table_len(), -1.0, 1.0);
        let points = points(&mut rng, 500);
        let n = points.len();
        let width = layout.output_width();
        let mut cpu = vec![0.0; n * width];
        layout.encode_points(&table, &points, &mut cpu);
        let levels = pack_levels(&layout);
        let level_count = layout.levels.len() as u32;
        let mut encoding = vec![f32::NAN; n * width];
        let encoding_out = encoding.as_mut_ptr();
        type Encode =
            unsafe extern "C" fn(*const f32, *const f32, u32, *const u32, u32, u32, *mut f32);
        let kernel: Encode = emulator.kernel("encode_points");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(n * layout.levels.len(), || unsafe {
            kernel(
                table.as_ptr(),
                points.as_ptr().cast(),
                n as u32,
                levels.as_ptr(),
                level_count,
                features,
                encoding_out,
            )
        });
        // The same corners, weights and order of sums as the CPU.
        assert_close("encode_points", &encoding, &cpu, 0.0, 0.0);

        let d_encoding = random(&mut rng, n * width, -1.0, 1.0);
        let mut cpu_grad = vec![0.0; layout.table_len()];
        layout.encode_backward_points(&points, &d_encoding, &mut cpu_grad);
        let mut grad = vec![0.0; layout.table_len()];
        let grad_out = grad.as_mut_ptr();
        type Backward =
            unsafe extern "C" fn(*const f32, *const f32, u32, *const u32, u32, u32, *mut f32);
        let kernel: Backward = emulator.kernel("encode_backward_points");
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(n * layout.levels.len(), || unsafe {
            kernel(
                points.as_ptr().cast(),
                d_encoding.as_ptr(),
                n as u32,
                levels.as_ptr(),
                level_count,
                features,
                grad_out,
            )
        });
        // The atomics add in another order than the CPU's loop.
        assert_close("encode_backward_points", &grad, &cpu_grad, 1e-5, 1e-5);
    }
}

#[test]
fn sh_and_adam_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(7);
    let n = 300;
    let directions: Vec<[f32; 3]> = (0..n)
        .map(|_| {
            let v: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let norm = v.iter().map(|c| c * c).sum::<f32>().sqrt().max(1e-3);
            v.map(|c| c / norm)
        })
        .collect();
    let cpu: Vec<f32> = directions.iter().copied().flat_map(sh_encode).collect();
    let mut sh = vec![f32::NAN; 16 * n];
    let sh_out = sh.as_mut_ptr();
    type Sh = unsafe extern "C" fn(*const f32, u32, *mut f32);
    let kernel: Sh = emulator.kernel("sh_encode");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(directions.as_ptr().cast(), n as u32, sh_out)
    });
    assert_close("sh_encode", &sh, &cpu, 1e-6, 1e-6);

    let n = 1001;
    let settings = AdamSettings {
        weight_decay: 1e-2,
        ..AdamSettings::default()
    };
    let decay = 400..900;
    let mut adam = Adam::new(settings.clone(), n, decay.clone());
    let mut cpu_params = random(&mut rng, n, -1.0, 1.0);
    let mut params = cpu_params.clone();
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    let (params_out, m_out, v_out) = (params.as_mut_ptr(), m.as_mut_ptr(), v.as_mut_ptr());
    type AdamStep = unsafe extern "C" fn(
        *mut f32,
        *const f32,
        *mut f32,
        *mut f32,
        u64,
        f32,
        f32,
        f32,
        f32,
        f32,
        u64,
        u64,
        f32,
        f32,
    );
    let kernel: AdamStep = emulator.kernel("adam_step");
    for step in 1..=3 {
        let grads = random(&mut rng, n, -2.0, 2.0);
        adam.step(&mut cpu_params, &grads, 1e-2);
        let correction1 = 1.0 - settings.beta1.powi(step);
        let correction2 = 1.0 - settings.beta2.powi(step);
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(n, || unsafe {
            kernel(
                params_out,
                grads.as_ptr(),
                m_out,
                v_out,
                n as u64,
                1e-2,
                settings.beta1,
                settings.beta2,
                settings.epsilon,
                settings.weight_decay,
                decay.start as u64,
                decay.end as u64,
                correction1,
                correction2,
            )
        });
    }
    assert_close("adam_step parameters", &params, &cpu_params, 1e-6, 1e-5);
    assert_close("adam_step m", &m, &adam.m, 1e-6, 1e-5);
    assert_close("adam_step v", &v, &adam.v, 1e-6, 1e-5);
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

/// Compositing (a ray per thread, early termination) and its backward pass.
#[test]
fn composite_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let case = CompositeCase::random(&mut Pcg64::seed_from_u64(9), 200);
    let (rays, samples) = (case.rays(), case.samples());
    let (mut color, mut alpha, mut used) = (
        vec![f32::NAN; 3 * rays],
        vec![f32::NAN; rays],
        vec![u32::MAX; rays],
    );
    let (color_out, alpha_out, used_out) =
        (color.as_mut_ptr(), alpha.as_mut_ptr(), used.as_mut_ptr());
    type Composite = unsafe extern "C" fn(
        *const f32,
        *const f32,
        *const f32,
        *const u32,
        u32,
        *const f32,
        f32,
        *mut f32,
        *mut f32,
        *mut u32,
    );
    let kernel: Composite = emulator.kernel("composite");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(rays, || unsafe {
        kernel(
            case.sigma.as_ptr(),
            case.rgb.as_ptr(),
            case.dt.as_ptr(),
            case.offsets.as_ptr(),
            rays as u32,
            case.backgrounds.as_ptr(),
            case.threshold,
            color_out,
            alpha_out,
            used_out,
        )
    });
    let (mut d_sigma, mut d_rgb) = (vec![f32::NAN; samples], vec![f32::NAN; 3 * samples]);
    let (d_sigma_out, d_rgb_out) = (d_sigma.as_mut_ptr(), d_rgb.as_mut_ptr());
    type Backward = unsafe extern "C" fn(
        *const f32,
        *const f32,
        *const f32,
        *const u32,
        u32,
        *const f32,
        *const f32,
        *const u32,
        *const f32,
        *const f32,
        *mut f32,
        *mut f32,
    );
    let kernel: Backward = emulator.kernel("composite_backward");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(rays, || unsafe {
        kernel(
            case.sigma.as_ptr(),
            case.rgb.as_ptr(),
            case.dt.as_ptr(),
            case.offsets.as_ptr(),
            rays as u32,
            color.as_ptr(),
            alpha.as_ptr(),
            used.as_ptr(),
            case.d_color.as_ptr(),
            case.d_alpha.as_ptr(),
            d_sigma_out,
            d_rgb_out,
        )
    });
    case.check(&CompositeResult {
        color: &color,
        alpha: &alpha,
        used: &used,
        d_sigma: &d_sigma,
        d_rgb: &d_rgb,
    });
}

/// The occupancy update's 2³ max pooling, the merge with the old grid (with its block sum of
/// the densities) and the bitfield, against `OccupancyGrid::set_density`.
#[test]
fn occupancy_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(10);
    let resolution = 12u32;
    let cells = OccupancyGrid::cell_count(resolution);
    let old = random(&mut rng, cells, 0.0, 30.0);
    let fresh = random(&mut rng, cells, 0.0, 20.0);

    let cpu_pooled = max_pool_2(&fresh, resolution as usize);
    let mut pooled = vec![f32::NAN; cells];
    let pooled_out = pooled.as_mut_ptr();
    type Pool = unsafe extern "C" fn(*const f32, u32, *mut f32);
    let kernel: Pool = emulator.kernel("max_pool_2");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(cells, || unsafe {
        kernel(fresh.as_ptr(), resolution, pooled_out)
    });
    assert_close("max_pool_2", &pooled, &cpu_pooled, 0.0, 0.0);

    let decay = DENSITY_DECAY;
    let merged: Vec<f32> = old
        .iter()
        .zip(&cpu_pooled)
        .map(|(o, n)| (decay * o).max(*n))
        .collect();
    let mut sum = [0.0f64];
    let (pooled_out, sum_out) = (pooled.as_mut_ptr(), sum.as_mut_ptr());
    type Merge = unsafe extern "C" fn(*const f32, u32, f32, *mut f32, *mut f64);
    let kernel: Merge = emulator.kernel("occupancy_merge");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(cells, || unsafe {
        kernel(old.as_ptr(), cells as u32, decay, pooled_out, sum_out)
    });
    assert_close("occupancy_merge", &pooled, &merged, 0.0, 0.0);
    let cpu_sum: f64 = merged.iter().map(|&d| f64::from(d)).sum();
    assert!(
        (sum[0] - cpu_sum).abs() <= 1e-9 * cpu_sum,
        "sum {} vs CPU {cpu_sum}",
        sum[0]
    );

    let mut cpu = OccupancyGrid::full(resolution);
    cpu.set_density(merged);
    let threshold = OCCUPANCY_THRESHOLD.min((sum[0] / cells as f64) as f32);
    let mut bits = vec![0xaau8; cells.div_ceil(8)];
    let bits_out = bits.as_mut_ptr();
    type Bitfield = unsafe extern "C" fn(*const f32, u32, f32, *mut u8);
    let kernel: Bitfield = emulator.kernel("occupancy_bitfield");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(bits.len(), || unsafe {
        kernel(pooled.as_ptr(), cells as u32, threshold, bits_out)
    });
    assert_eq!(bits, cpu.bitfield);
}

/// Training marching: each ray's samples counted, the counts scanned into offsets (as the
/// host does), the samples written; the same samples as the CPU's marcher, bit for bit.
#[test]
fn training_march_kernels_match_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let case = MarchCase::random(&mut Pcg64::seed_from_u64(11), 64, 150);
    let n = case.rays.len();
    let (origins, directions, jitters) = (case.origins(), case.directions(), &case.jitters);
    let occupancy = &case.occupancy;
    let march = MarchConfig::new(&case.config, &case.settings, occupancy.resolution);

    let mut counts = vec![u32::MAX; n];
    let counts_out = counts.as_mut_ptr();
    type Count = unsafe extern "C" fn(
        *const f32,
        *const f32,
        *const f32,
        u32,
        MarchConfig,
        *const u8,
        *mut u32,
    );
    let kernel: Count = emulator.kernel("march_count");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(
            origins.as_ptr(),
            directions.as_ptr(),
            jitters.as_ptr(),
            n as u32,
            march,
            occupancy.bitfield.as_ptr(),
            counts_out,
        )
    });
    let offsets: Vec<u32> = std::iter::once(0)
        .chain(counts.iter().scan(0, |total, &c| {
            *total += c;
            Some(*total)
        }))
        .collect();

    let samples = offsets[n] as usize;
    let (mut positions, mut dts) = (vec![f32::NAN; 3 * samples], vec![f32::NAN; samples]);
    let mut sample_directions = vec![f32::NAN; 3 * samples];
    let (positions_out, dts_out) = (positions.as_mut_ptr(), dts.as_mut_ptr());
    let sample_directions_out = sample_directions.as_mut_ptr();
    type Write = unsafe extern "C" fn(
        *const f32,
        *const f32,
        *const f32,
        u32,
        MarchConfig,
        *const u8,
        *const u32,
        *mut f32,
        *mut f32,
        *mut f32,
    );
    let kernel: Write = emulator.kernel("march_write");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(
            origins.as_ptr(),
            directions.as_ptr(),
            jitters.as_ptr(),
            n as u32,
            march,
            occupancy.bitfield.as_ptr(),
            offsets.as_ptr(),
            positions_out,
            dts_out,
            sample_directions_out,
        )
    });
    case.check(&offsets, &positions, &dts, &sample_directions);
}

/// `field.cu`, the glue between the field's MLPs, in place of the CPU's own glue: the
/// kernels' σ, colour input and RGB from the CPU's MLP outputs equal the CPU field's, the
/// occupancy query's running maximum is σ's, and a backward pass of the CPU's MLPs and hash
/// encoding joined by the backward kernels gives the CPU field's gradients (the paper's
/// widths on the tiny preset's grid, He-scaled weights).
#[test]
fn field_glue_kernels_match_the_cpu_field() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(14);
    let config = ModelConfig {
        density_mlp: ModelConfig::paper().density_mlp,
        color_mlp: ModelConfig::paper().color_mlp,
        ..ModelConfig::tiny()
    };
    let (model, params) = he_model(config, &mut rng);
    let positions = points(&mut rng, 300);
    let n = positions.len();
    let directions: Vec<[f32; 3]> = (0..n)
        .map(|i| {
            let a = i as f32 * 0.1;
            [0.6 * a.cos(), 0.8, 0.6 * a.sin()]
        })
        .collect();
    let table = random(&mut rng, model.layout.table_len, -1.0, 1.0);
    let (cpu, tape) = model.field_forward(&params.data, &table, &positions, &directions);
    let (density_width, color_width) = (
        model.config.density_output_width() as u32,
        model.config.color_input_width() as u32,
    );
    let density_out = tape.density.output();
    let flat_directions: Vec<f32> = directions.iter().flatten().copied().collect();

    let (mut sigma, mut color_input) = (vec![f32::NAN; n], vec![f32::NAN; tape.color_input.len()]);
    let (sigma_out, color_input_out) = (sigma.as_mut_ptr(), color_input.as_mut_ptr());
    type ColorInput =
        unsafe extern "C" fn(*const f32, *const f32, u32, u32, u32, *mut f32, *mut f32);
    let kernel: ColorInput = emulator.kernel("field_color_input");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(
            density_out.as_ptr(),
            flat_directions.as_ptr(),
            n as u32,
            density_width,
            color_width,
            sigma_out,
            color_input_out,
        )
    });
    assert_close("field_color_input σ", &sigma, &cpu.sigma, 0.0, 0.0);
    assert_close(
        "field_color_input",
        &color_input,
        &tape.color_input,
        0.0,
        0.0,
    );

    let color_out = tape.color.output();
    let mut rgb = vec![f32::NAN; 3 * n];
    let rgb_out = rgb.as_mut_ptr();
    type Rgb = unsafe extern "C" fn(*const f32, u32, *mut f32);
    let kernel: Rgb = emulator.kernel("field_rgb");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(3 * n, || unsafe {
        kernel(color_out.as_ptr(), n as u32, rgb_out)
    });
    let cpu_rgb: Vec<f32> = cpu.rgb.iter().flatten().copied().collect();
    assert_close("field_rgb", &rgb, &cpu_rgb, 0.0, 0.0);

    let start = random(&mut rng, n, 0.0, 2.0);
    let mut fresh = start.clone();
    let fresh_out = fresh.as_mut_ptr();
    type DensityMax = unsafe extern "C" fn(*const f32, u32, u32, *mut f32);
    let kernel: DensityMax = emulator.kernel("density_max");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(density_out.as_ptr(), n as u32, density_width, fresh_out)
    });
    let expected: Vec<f32> = start
        .iter()
        .zip(&cpu.sigma)
        .map(|(f, s)| f.max(*s))
        .collect();
    assert_close("density_max", &fresh, &expected, 0.0, 0.0);

    let d_sigma = random(&mut rng, n, -1.0, 1.0);
    let d_rgb: Vec<[f32; 3]> = (0..n)
        .map(|_| [0; 3].map(|_| rng.random_range(-1.0..1.0)))
        .collect();
    let mlp_params = model.mlp_params.clone();
    let mut cpu_d_mlp = vec![0.0f32; mlp_params.len()];
    let mut cpu_d_table = vec![0.0f32; table.len()];
    let field_params = &params.data;
    model.field_backward(
        field_params,
        &tape,
        &d_sigma,
        &d_rgb,
        &mut cpu_d_mlp,
        &mut cpu_d_table,
    );

    let flat_d_rgb: Vec<f32> = d_rgb.iter().flatten().copied().collect();
    let mut d_color_out = vec![f32::NAN; 3 * n];
    let d_color_out_ptr = d_color_out.as_mut_ptr();
    type RgbBackward = unsafe extern "C" fn(*const f32, *const f32, u32, *mut f32);
    let kernel: RgbBackward = emulator.kernel("field_rgb_backward");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(3 * n, || unsafe {
        kernel(
            color_out.as_ptr(),
            flat_d_rgb.as_ptr(),
            n as u32,
            d_color_out_ptr,
        )
    });
    let layout = &params.layout;
    let mut d_params = vec![0.0f32; field_params.len()];
    let d_color_input = mlp_backward(
        &layout.color_layers,
        field_params,
        &tape.color_input,
        n,
        &tape.color,
        d_color_out,
        &mut d_params,
        true,
    )
    .unwrap();
    let mut d_density_out = vec![f32::NAN; density_out.len()];
    let d_density_out_ptr = d_density_out.as_mut_ptr();
    type DensityBackward =
        unsafe extern "C" fn(*const f32, *const f32, *const f32, u32, u32, u32, *mut f32);
    let kernel: DensityBackward = emulator.kernel("field_density_backward");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(n, || unsafe {
        kernel(
            density_out.as_ptr(),
            d_color_input.as_ptr(),
            d_sigma.as_ptr(),
            n as u32,
            density_width,
            color_width,
            d_density_out_ptr,
        )
    });
    let d_encoding = mlp_backward(
        &layout.density_layers,
        field_params,
        &tape.encoding,
        n,
        &tape.density,
        d_density_out,
        &mut d_params,
        true,
    )
    .unwrap();
    let mut d_table = vec![0.0f32; table.len()];
    model
        .grid
        .encode_backward_points(&positions, &d_encoding, &mut d_table);
    assert_close("MLP gradients", &d_params[mlp_params], &cpu_d_mlp, 0.0, 0.0);
    assert_close("table gradient", &d_table, &cpu_d_table, 0.0, 0.0);
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
    let mut live = [vec![u32::MAX; pixels], vec![u32::MAX; pixels]];
    let mut live_count = [0u32; 2];
    type Init = unsafe extern "C" fn(
        CameraParams,
        MarchConfig,
        *mut u32,
        *mut f32,
        *mut f32,
        *mut u32,
        *mut u32,
    );
    let init: Init = emulator.kernel("render_init");
    let (marchers_out, color_out, transmittance_out) = (
        marchers.as_mut_ptr(),
        color.as_mut_ptr(),
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
        f32,
        *mut f32,
        *mut f32,
        *mut u32,
        *mut u32,
    );
    let render_march: March = emulator.kernel("render_march");
    let render_composite: Composite = emulator.kernel("render_composite");
    let capacity = batch_rays * per_round as usize;
    let (mut positions, mut directions) = (vec![0.0f32; 3 * capacity], vec![0.0f32; 3 * capacity]);
    let mut dts = vec![0.0f32; capacity];
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
            let (color_out, transmittance_out) = (color.as_mut_ptr(), transmittance.as_mut_ptr());
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
                    march.transmittance_threshold(),
                    color_out,
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

    type Finish =
        unsafe extern "C" fn(*const f32, *const f32, u32, f32, f32, f32, *const f32, *mut f32);
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
        let mut rgba = vec![f32::NAN; 4 * pixels];
        let rgba_out = rgba.as_mut_ptr();
        // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
        // host buffer sized for the grid's whole index range.
        emulator.run_1d(pixels, || unsafe {
            finish(
                color.as_ptr(),
                transmittance.as_ptr(),
                pixels as u32,
                solid[0],
                solid[1],
                solid[2],
                image_ptr,
                rgba_out,
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
            ..cpu
        };
        assert_eq!(bytes, rgba_image.to_rgba8_bytes(), "pack_rgba8");
    }
}

/// The ray losses (L1 colour and mask, α entropy) and their gradients, per ray; the host
/// sums the values in f64 as the CPU does.
#[test]
fn ray_loss_kernel_matches_the_cpu() {
    let Some(emulator) = emulator() else { return };
    let mut rng = Pcg64::seed_from_u64(12);
    let rays = 300;
    let color = random(&mut rng, 3 * rays, 0.0, 1.0);
    let alpha = random(&mut rng, rays, 0.0, 1.0);
    let target_color = random(&mut rng, 3 * rays, 0.0, 1.0);
    let targets = RayTargets {
        rays: vec![],
        color: target_color
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect(),
        mask: (0..rays).map(|i| (i % 2) as f32).collect(),
        background: vec![[1.0; 3]; rays],
    };
    let composited: Vec<Composited<f32>> = (0..rays)
        .map(|r| Composited {
            color: [color[3 * r], color[3 * r + 1], color[3 * r + 2]],
            alpha: alpha[r],
            used: 1,
        })
        .collect();
    let weights = RayLossWeights {
        color: 1.0,
        mask: 0.7,
        entropy: 1e-3,
    };
    let scale = 0.5;
    let cpu = ray_loss(&composited, &targets, weights, scale);

    let mut d_color = vec![f32::NAN; 3 * rays];
    let mut d_alpha = vec![f32::NAN; rays];
    let mut values = vec![f32::NAN; rays];
    let mut squared = vec![f32::NAN; rays];
    let outs = (
        d_color.as_mut_ptr(),
        d_alpha.as_mut_ptr(),
        values.as_mut_ptr(),
        squared.as_mut_ptr(),
    );
    type Loss = unsafe extern "C" fn(
        *const f32,
        *const f32,
        *const f32,
        *const f32,
        u32,
        f32,
        f32,
        f32,
        f32,
        *mut f32,
        *mut f32,
        *mut f32,
        *mut f32,
    );
    let kernel: Loss = emulator.kernel("ray_loss");
    // SAFETY: the kernel's C signature is the type named above, and every pointer is to a
    // host buffer sized for the grid's whole index range.
    emulator.run_1d(rays, || unsafe {
        kernel(
            color.as_ptr(),
            alpha.as_ptr(),
            target_color.as_ptr(),
            targets.mask.as_ptr(),
            rays as u32,
            weights.color,
            weights.mask,
            weights.entropy,
            scale,
            outs.0,
            outs.1,
            outs.2,
            outs.3,
        )
    });
    let value: f64 = values.iter().map(|&v| f64::from(v)).sum();
    assert!(
        (value - cpu.value).abs() <= 1e-5 * cpu.value.abs().max(1.0),
        "{value} vs {}",
        cpu.value
    );
    let squared_error: f64 = squared.iter().map(|&v| f64::from(v)).sum();
    assert!((squared_error - cpu.squared_error).abs() <= 1e-4 * cpu.squared_error.max(1.0));
    let cpu_d_color: Vec<f32> = cpu.d_color.iter().flatten().copied().collect();
    assert_close("ray_loss d_colour", &d_color, &cpu_d_color, 1e-9, 1e-5);
    assert_close("ray_loss d_alpha", &d_alpha, &cpu.d_alpha, 1e-9, 1e-4);
}
