//! Conformance of every CUDA kernel with its CPU twin on random inputs: the same values within
//! the precision used (f32; sums in another order where atomics or tiling reorder them), no
//! NaN, every output written. The tests run through the host code of `nerf_avatar_cuda`, on
//! the device the including test binary opens (`crate::device`): a GPU (`cuda_conformance.rs`)
//! or the CPU emulator behind a stand-in driver (`cuda_emulated.rs`).

use std::sync::Arc;

use cudarc::driver::CudaSlice;
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::config::{HashGridConfig, ModelConfig};
use nerf_avatar::field::Model;
use nerf_avatar::hashgrid::{HashGridLayout, blend_tables, blend_tables_backward};
use nerf_avatar::mlp::{MlpActivations, mlp_backward, mlp_forward};
use nerf_avatar::occupancy::{OccupancyGrid, max_pool_2};
use nerf_avatar::params::{LayerShape, Params};
use nerf_avatar::pixels::to_byte;
use nerf_avatar::render::{Background, RenderedImage, render_image};
use nerf_avatar::scene::{front_camera, head_occupancy};
use nerf_avatar::sh::sh_encode;
use nerf_avatar_cuda::device::CudaDevice;
use nerf_avatar_cuda::field::{DeviceFieldTape, field_backward, field_forward};
use nerf_avatar_cuda::fused::{FusedField, SampleCount, field_forward_fused};
use nerf_avatar_cuda::half_mlp::{FUSED_MAX_WIDTH, MlpPrecision};
use nerf_avatar_cuda::lpips::{self as cuda_lpips, CudaLpips};
use nerf_avatar_cuda::mlp::{self, MlpTape};
use nerf_avatar_cuda::occupancy::merge_densities;
use nerf_avatar_cuda::ops::{self, CompositeBuffers, DeviceGrid, MarchConfig, RayLossGradients};
use nerf_avatar_cuda::render::{CudaRenderer, FieldPrecision};
use nerf_avatar_eval::metrics::lpips::patch::{ConvGeometry, Extent, PatchLpips, PoolGeometry};
use nerf_avatar_eval::metrics::lpips::{Backbone, LpipsError};
use nerf_avatar_simd::f16_pairs::pack_f16_pairs;
use nerf_avatar_train::adam::{Adam, AdamSettings};
use nerf_avatar_train::data::RayTargets;
use nerf_avatar_train::loss::{RayLossWeights, ray_loss};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use test_requirements::Requirement;

use crate::kernel_support::{
    CompositeCase, CompositeResult, LpipsKernels, MarchCase, assert_close, assert_depth_close,
    check_fused_field, check_lpips_kernels, he_model, random,
};

/// The device of the including test binary, or `None` (with the reason printed).
fn gpu() -> Option<Arc<CudaDevice>> {
    crate::device()
}

fn download(device: &CudaDevice, slice: &CudaSlice<f32>, len: usize) -> Vec<f32> {
    device.download(slice, len).unwrap()
}

/// Dense and hashed levels, F = 2.
fn small_grid() -> HashGridConfig {
    HashGridConfig {
        levels: 6,
        log2_table_size: 10,
        features_per_level: 2,
        base_resolution: 3,
        finest_resolution: 60,
    }
}

/// Random points, some on and outside the faces of the unit cube.
fn points(rng: &mut Pcg64, n: usize) -> Vec<f32> {
    let mut p = random(rng, 3 * n, -0.1, 1.1);
    p.extend([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.5]);
    p
}

fn as_triples(flat: &[f32]) -> Vec<[f32; 3]> {
    flat.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

#[test]
fn blend_tables_matches_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(1);
    let (k, len) = (5, 3001);
    let tables = random(&mut rng, (k + 1) * len, -1.0, 1.0);
    let mut weights = random(&mut rng, k, -0.5, 1.5);
    weights[2] = 0.0;
    let mut cpu = vec![0.0; len];
    blend_tables(&tables, &weights, &mut cpu);
    let d_tables = device.upload(&tables).unwrap();
    let d_weights = device.upload(&weights).unwrap();
    let mut out = device.zeros::<f32>(len).unwrap();
    ops::blend_tables(&device, &d_tables, &d_weights, k, &mut out).unwrap();
    assert_close("blend", &download(&device, &out, len), &cpu, 1e-6, 1e-6);

    let d_blended = random(&mut rng, len, -1.0, 1.0);
    let start = random(&mut rng, (k + 1) * len, -1.0, 1.0);
    let mut cpu_grad = start.clone();
    blend_tables_backward(&d_blended, &weights, &mut cpu_grad);
    let mut grad = device.upload(&start).unwrap();
    let blended = device.upload(&d_blended).unwrap();
    ops::blend_tables_backward(&device, &blended, &d_weights, k, &mut grad).unwrap();
    let gpu_grad = download(&device, &grad, (k + 1) * len);
    assert_close("blend backward", &gpu_grad, &cpu_grad, 1e-6, 1e-6);
}

#[test]
fn hash_encoding_and_its_backward_match_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(2);
    for features in [2, 3, 4] {
        let config = HashGridConfig {
            features_per_level: features,
            ..small_grid()
        };
        let layout = HashGridLayout::new(&config);
        assert!(layout.levels.iter().any(|l| l.hashed) && layout.levels.iter().any(|l| !l.hashed));
        let table = random(&mut rng, layout.table_len(), -1.0, 1.0);
        let flat = points(&mut rng, 2000);
        let n = flat.len() / 3;
        let width = layout.output_width();
        let mut cpu = vec![0.0; n * width];
        layout.encode_points(&table, &as_triples(&flat), &mut cpu);
        let grid = DeviceGrid::new(&device, &layout).unwrap();
        let d_table = device.upload(&table).unwrap();
        let d_points = device.upload(&flat).unwrap();
        let mut out = device.zeros::<f32>(n * width).unwrap();
        ops::encode_points(&device, &grid, &d_table, &d_points, n, &mut out).unwrap();
        // Same corners, weights and summation order as the CPU: equal up to the last bit.
        assert_close(
            "encoding",
            &download(&device, &out, n * width),
            &cpu,
            1e-6,
            1e-6,
        );

        let d_out = random(&mut rng, n * width, -1.0, 1.0);
        let mut cpu_grad = vec![0.0; layout.table_len()];
        layout.encode_backward_points(&as_triples(&flat), &d_out, &mut cpu_grad);
        let mut grad = device.zeros::<f32>(layout.table_len()).unwrap();
        let gradients = device.upload(&d_out).unwrap();
        ops::encode_backward_points(&device, &grid, &d_points, &gradients, n, &mut grad).unwrap();
        // Atomics sum in another order.
        let gpu_grad = download(&device, &grad, layout.table_len());
        assert_close("encoding backward", &gpu_grad, &cpu_grad, 1e-4, 1e-4);
    }
}

#[test]
fn sh_encoding_matches_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(3);
    let n = 1000;
    let dirs: Vec<f32> = (0..n)
        .flat_map(|_| {
            let v = [0; 3].map(|_| rng.random_range(-1.0f32..1.0));
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-3);
            v.map(|c| c / norm)
        })
        .collect();
    let cpu: Vec<f32> = as_triples(&dirs).into_iter().flat_map(sh_encode).collect();
    let d_dirs = device.upload(&dirs).unwrap();
    let mut out = device.zeros::<f32>(16 * n).unwrap();
    ops::sh_encode(&device, &d_dirs, n, &mut out).unwrap();
    assert_close("sh", &download(&device, &out, 16 * n), &cpu, 1e-6, 1e-5);
}

#[test]
fn mlp_forward_and_backward_match_the_cpu() {
    let Some(device) = gpu() else { return };
    check_mlp(
        &device,
        &[37, 64, 48, 5],
        MlpPrecision::Fp32,
        [1e-4, 1e-4],
        [1e-3, 1e-3],
        [1e-4, 1e-3],
    );
}

/// The MLPs on the tensor cores (`mlp_fp16.cu`): f16 inputs, fp32 sums, the gradients
/// loss-scaled; layers of at most 80 in the fused kernels, a wider network one product per
/// layer.
#[test]
fn half_precision_mlp_matches_the_cpu() {
    let Some(device) = gpu_with_fp16_mma() else {
        return;
    };
    for widths in [[37, 64, 48, 5], [37, 96, 48, 5]] {
        let fused = widths.iter().all(|&w| w <= FUSED_MAX_WIDTH);
        eprintln!("widths {widths:?}, fused kernels: {fused}");
        check_mlp(
            &device,
            &widths,
            MlpPrecision::Fp16,
            [3e-2, 2e-2],
            [1e-1, 2e-2],
            [3e-2, 2e-2],
        );
    }
}

/// An MLP's forward and backward in `precision` against the CPU's, within (absolute,
/// relative) tolerances for the activations, the weight gradients and the input gradient.
/// `widths` are the network's input, hidden and output widths.
fn check_mlp(
    device: &CudaDevice,
    widths: &[usize],
    precision: MlpPrecision,
    [layer_abs, layer_rel]: [f32; 2],
    [weight_abs, weight_rel]: [f32; 2],
    [input_abs, input_rel]: [f32; 2],
) {
    let mut rng = Pcg64::seed_from_u64(4);
    // A row count that is not a multiple of the tiles.
    let mut offset = 3;
    let layers: Vec<LayerShape> = widths
        .windows(2)
        .map(|w| {
            let layer = LayerShape {
                inputs: w[0],
                outputs: w[1],
                offset,
            };
            offset += w[0] * w[1];
            layer
        })
        .collect();
    let params = random(&mut rng, offset + 2, -0.3, 0.3);
    let n = 1111;
    let input = random(&mut rng, n * widths[0], -1.0, 1.0);
    let cpu = mlp_forward(&layers, &params, &input, n);
    let d_params_dev = device.upload(&params).unwrap();
    let d_input = device.upload(&input).unwrap();
    let mut tape = MlpTape::default();
    mlp::mlp_forward(
        device,
        &layers,
        &d_params_dev,
        &d_input,
        n,
        &mut tape,
        precision,
    )
    .unwrap();
    let kept = MlpActivations {
        layers: (0..layers.len())
            .map(|i| device.download_view(&tape.layer(i).unwrap()).unwrap())
            .collect(),
    };
    for (i, (gpu, cpu)) in kept.layers.iter().zip(&cpu.layers).enumerate() {
        assert_close(&format!("layer {i}"), gpu, cpu, layer_abs, layer_rel);
    }

    // The CPU's backward through the GPU's own activations: where an activation is near
    // zero, rounding may put it on the other side of the ReLU than the CPU's forward did,
    // and this compares the backward pass alone.
    let d_output = random(&mut rng, n * widths[widths.len() - 1], -1.0, 1.0);
    let mut cpu_grads = vec![0.0; params.len()];
    let cpu_input_grad = mlp_backward(
        &layers,
        &params,
        &input,
        n,
        &kept,
        d_output.clone(),
        &mut cpu_grads,
        true,
    )
    .unwrap();
    let mut grads = device.zeros::<f32>(params.len()).unwrap();
    let gpu_input_grad = mlp::mlp_backward(
        device,
        &layers,
        &d_params_dev,
        &d_input,
        n,
        (&tape, &mut MlpTape::default()),
        device.upload(&d_output).unwrap(),
        &mut grads,
        true,
        precision,
    )
    .unwrap()
    .unwrap();
    let gpu_grads = download(device, &grads, params.len());
    assert_close(
        "weight gradients",
        &gpu_grads,
        &cpu_grads,
        weight_abs,
        weight_rel,
    );
    assert_eq!(gpu_grads[..3], [0.0; 3], "outside the layers untouched");
    let gpu_input = download(device, &gpu_input_grad, n * widths[0]);
    assert_close(
        "input gradients",
        &gpu_input,
        &cpu_input_grad,
        input_abs,
        input_rel,
    );
}

/// A tiny model with tables large enough to matter, and its parameters.
fn tiny_model(rng: &mut Pcg64) -> (Model, Params<f32>) {
    let config =
        ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into(), "eyeBlinkLeft".into()]);
    let model = Model::new(&config);
    let mut params = Params::<f32>::init(&config, rng);
    for v in &mut params.data[params.layout.tables()] {
        *v = rng.random_range(-1.0..1.0);
    }
    (model, params)
}

#[test]
fn field_forward_and_backward_match_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(5);
    let (model, params) = tiny_model(&mut rng);
    let table = params.table(0).to_vec();
    let flat = points(&mut rng, 3000);
    let n = flat.len() / 3;
    let dirs: Vec<f32> = (0..n)
        .flat_map(|i| {
            let a = i as f32 * 0.37;
            [a.cos() * 0.6, 0.8, a.sin() * 0.6]
        })
        .collect();
    let (cpu, tape) =
        model.field_forward(&params.data, &table, &as_triples(&flat), &as_triples(&dirs));

    let grid = DeviceGrid::new(&device, &model.grid).unwrap();
    let d_params = device.upload(&params.data).unwrap();
    let d_table = device.upload(&table).unwrap();
    let (d_points, d_dirs) = (device.upload(&flat).unwrap(), device.upload(&dirs).unwrap());
    let mut sigma = device.zeros::<f32>(n).unwrap();
    let mut rgb = device.zeros::<f32>(3 * n).unwrap();
    let mut device_tape = DeviceFieldTape::default();
    field_forward(
        &device,
        &model,
        &grid,
        &d_params,
        &d_table,
        &d_points,
        &d_dirs,
        n,
        (&mut sigma, &mut rgb),
        &mut device_tape,
    )
    .unwrap();
    assert_close("σ", &download(&device, &sigma, n), &cpu.sigma, 1e-4, 1e-4);
    let cpu_rgb: Vec<f32> = cpu.rgb.iter().flatten().copied().collect();
    assert_close("rgb", &download(&device, &rgb, 3 * n), &cpu_rgb, 1e-5, 1e-4);

    let d_sigma = random(&mut rng, n, -1.0, 1.0);
    let d_rgb = random(&mut rng, 3 * n, -1.0, 1.0);
    let mut cpu_mlp = vec![0.0; model.mlp_params.len()];
    let mut cpu_table = vec![0.0; model.layout.table_len];
    model.field_backward(
        &params.data,
        &tape,
        &d_sigma,
        &as_triples(&d_rgb),
        &mut cpu_mlp,
        &mut cpu_table,
    );
    let mut grads = device.zeros::<f32>(params.data.len()).unwrap();
    let mut table_grad = device.zeros::<f32>(model.layout.table_len).unwrap();
    field_backward(
        &device,
        &model,
        &grid,
        &d_params,
        &d_points,
        n,
        &mut device_tape,
        &device.upload(&d_sigma).unwrap(),
        &device.upload(&d_rgb).unwrap(),
        &mut grads,
        &mut table_grad,
    )
    .unwrap();
    let gpu_grads = download(&device, &grads, params.data.len());
    assert_close(
        "MLP gradients",
        &gpu_grads[model.mlp_params.clone()],
        &cpu_mlp,
        1e-3,
        1e-3,
    );
    let gpu_table = download(&device, &table_grad, model.layout.table_len);
    assert_close("table gradient", &gpu_table, &cpu_table, 1e-3, 1e-3);
}

#[test]
fn ray_offsets_that_decrease_or_overrun_the_samples_are_refused() {
    let Some(device) = gpu() else { return };
    for bad in [vec![0, 5, 3], vec![1, 2], vec![]] {
        assert!(
            ops::RayOffsets::upload(&device, bad.clone()).is_err(),
            "{bad:?} was accepted"
        );
    }
    // Two rays of 4 and 6 samples, but per-sample buffers of 5: refused before any launch.
    let offsets = ops::RayOffsets::upload(&device, vec![0, 4, 10]).unwrap();
    assert_eq!((offsets.rays(), offsets.total()), (2, 10));
    let short = device.zeros::<f32>(5).unwrap();
    let rgb = device.zeros::<f32>(30).unwrap();
    let mut out = CompositeBuffers {
        color: device.zeros(6).unwrap(),
        alpha: device.zeros(2).unwrap(),
        used: device.zeros(2).unwrap(),
    };
    let backgrounds = device.zeros::<f32>(6).unwrap();
    let error = ops::composite(
        &device,
        &short,
        &rgb,
        &short,
        &offsets,
        &backgrounds,
        1e-4,
        &mut out,
    )
    .unwrap_err();
    assert!(error.to_string().contains("sigma"), "{error}");
}

#[test]
fn composite_and_its_backward_match_the_cpu() {
    let Some(device) = gpu() else { return };
    let case = CompositeCase::random(&mut Pcg64::seed_from_u64(6), 500);
    let (rays, samples) = (case.rays(), case.samples());
    let upload = |v: &[f32]| device.upload(v).unwrap();
    let (g_sigma, g_rgb, g_dt) = (upload(&case.sigma), upload(&case.rgb), upload(&case.dt));
    let g_offsets = ops::RayOffsets::upload(&device, case.offsets.clone()).unwrap();
    let mut out = CompositeBuffers {
        color: device.zeros(3 * rays).unwrap(),
        alpha: device.zeros(rays).unwrap(),
        used: device.zeros(rays).unwrap(),
    };
    ops::composite(
        &device,
        &g_sigma,
        &g_rgb,
        &g_dt,
        &g_offsets,
        &upload(&case.backgrounds),
        case.threshold,
        &mut out,
    )
    .unwrap();
    let mut g_d_sigma = device.zeros::<f32>(samples).unwrap();
    let mut g_d_rgb = device.zeros::<f32>(3 * samples).unwrap();
    ops::composite_backward(
        &device,
        &g_sigma,
        &g_rgb,
        &g_dt,
        &g_offsets,
        &out,
        &upload(&case.d_color),
        &upload(&case.d_alpha),
        &mut g_d_sigma,
        &mut g_d_rgb,
    )
    .unwrap();
    case.check(&CompositeResult {
        color: &download(&device, &out.color, 3 * rays),
        alpha: &download(&device, &out.alpha, rays),
        used: &device.download(&out.used, rays).unwrap(),
        d_sigma: &download(&device, &g_d_sigma, samples),
        d_rgb: &download(&device, &g_d_rgb, 3 * samples),
    });
}

#[test]
fn training_march_matches_the_cpu() {
    let Some(device) = gpu() else { return };
    let case = MarchCase::random(&mut Pcg64::seed_from_u64(7), 128, 700);
    let march = MarchConfig::new(&case.config, &case.settings, case.occupancy.resolution);
    let samples = ops::march_rays(
        &device,
        &march,
        &device.upload(&case.occupancy.bitfield).unwrap(),
        &device.upload(&case.origins()).unwrap(),
        &device.upload(&case.directions()).unwrap(),
        &device.upload(&case.jitters).unwrap(),
        case.rays.len(),
    )
    .unwrap();
    let n = samples.len();
    case.check(
        samples.offsets.host(),
        &download(&device, &samples.positions, 3 * n),
        &download(&device, &samples.dt, n),
        &download(&device, &samples.directions, 3 * n),
    );
}

/// One frame of an avatar, as `render_image` and `CudaRenderer` both take it.
struct Frame<'a> {
    model: &'a Model,
    params: &'a Params<f32>,
    weights: &'a [f32],
    occupancy: &'a OccupancyGrid,
    view: (&'a Intrinsics, &'a Pose),
    background: Background<'a>,
}

impl Frame<'_> {
    /// The frame from the CPU's `render_image` and from `renderer`.
    fn render(&self, renderer: &mut CudaRenderer) -> (RenderedImage, RenderedImage) {
        let (intrinsics, pose) = self.view;
        let cpu = render_image(
            self.model,
            self.params,
            self.weights,
            self.occupancy,
            intrinsics,
            pose,
            self.background,
        );
        let gpu = renderer
            .render_image(self.weights, intrinsics, pose, self.background)
            .unwrap();
        (cpu, gpu)
    }
}

/// An image's colours, flat.
fn flat_rgb(image: &RenderedImage) -> Vec<f32> {
    image.rgb.iter().flatten().copied().collect()
}

#[test]
fn rendered_frames_match_the_cpus_render_image() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(8);
    let (model, params) = tiny_model(&mut rng);
    let occupancy = head_occupancy(&model.config);
    let weights = [0.7, 0.2];
    let mut renderer = CudaRenderer::new(Arc::clone(&device), &model, &params, &occupancy).unwrap();
    renderer.set_precision(FieldPrecision::F32).unwrap();
    // The CPU's rounds, so that the same samples are evaluated.
    renderer
        .set_samples_per_round(nerf_avatar::render::SAMPLES_PER_ROUND)
        .unwrap();
    assert!(renderer.set_samples_per_round(33).is_err());
    for (width, height, yaw) in [(64u32, 48u32, 0.0f32), (37, 53, 25.0)] {
        let (intrinsics, _) = front_camera(&model.config, width, height);
        let pose = Pose::orbit(model.config.head_box.center, 0.5, yaw, 10.0);
        let background: Vec<[f32; 3]> = (0..width * height)
            .map(|i| [(i % 7) as f32 / 7.0, 0.5, (i % 3) as f32 / 3.0])
            .collect();
        for bg in [
            Background::Solid([1.0, 0.5, 0.0]),
            Background::Image(&background),
        ] {
            let frame = Frame {
                model: &model,
                params: &params,
                weights: &weights,
                occupancy: &occupancy,
                view: (&intrinsics, &pose),
                background: bg,
            };
            let (cpu, gpu) = frame.render(&mut renderer);
            assert_eq!((gpu.width, gpu.height), (width, height));
            let (cpu_rgb, gpu_rgb) = (flat_rgb(&cpu), flat_rgb(&gpu));
            // MLP sums in another order may move a ray's early termination (T < 1e-2) by a
            // sample, which changes that pixel by at most about 1e-2; on average they agree.
            assert_close("frame colour", &gpu_rgb, &cpu_rgb, 1.5e-2, 0.0);
            assert_close("frame alpha", &gpu.alpha, &cpu.alpha, 1.5e-2, 0.0);
            // A termination moved by a sample moves that pixel's depth by about 1e-2 of the
            // box's depth.
            let (gpu_depth, cpu_depth) = (
                (&gpu.depth[..], &gpu.alpha[..]),
                (&cpu.depth[..], &cpu.alpha[..]),
            );
            assert_depth_close("frame depth", gpu_depth, cpu_depth, 1e-2);
            let mean: f32 = gpu_rgb
                .iter()
                .zip(&cpu_rgb)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / cpu_rgb.len() as f32;
            assert!(mean < 1e-4, "mean colour difference {mean}");
            let ratio = gpu.samples as f64 / cpu.samples.max(1) as f64;
            assert!(
                (0.99..=1.01).contains(&ratio),
                "samples: GPU {} vs CPU {}",
                gpu.samples,
                cpu.samples
            );

            // RGBA8 into the caller's buffer: the same frame, packed as the CLI's PNG writer.
            let mut rgba8 = vec![0u8; 4 * (width * height) as usize];
            renderer
                .render_rgba8(&weights, &intrinsics, &pose, bg, &mut rgba8)
                .unwrap();
            for (p, px) in rgba8.chunks_exact(4).enumerate() {
                let expected =
                    [gpu.rgb[p][0], gpu.rgb[p][1], gpu.rgb[p][2], gpu.alpha[p]].map(to_byte);
                assert_eq!(px, expected, "pixel {p}");
            }
        }
    }
    let mut short = vec![0u8; 10];
    let (intrinsics, pose) = front_camera(&model.config, 8, 8);
    assert!(
        renderer
            .render_rgba8(
                &weights,
                &intrinsics,
                &pose,
                Background::Solid([0.0; 3]),
                &mut short
            )
            .is_err()
    );
    assert!(
        renderer
            .render_image(&[0.5], &intrinsics, &pose, Background::Solid([0.0; 3]))
            .is_err()
    );
}

#[test]
fn adam_steps_match_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(9);
    let n = 10_007;
    let mut cpu_params = random(&mut rng, n, -1.0, 1.0);
    let settings = AdamSettings {
        weight_decay: 1e-2,
        ..AdamSettings::default()
    };
    let mut adam = Adam::new(settings.clone(), n, 4000..9000);
    let mut params = device.upload(&cpu_params).unwrap();
    let mut m = device.zeros::<f32>(n).unwrap();
    let mut v = device.zeros::<f32>(n).unwrap();
    for step in 1..=3u64 {
        let grads = random(&mut rng, n, -2.0, 2.0);
        adam.step(&mut cpu_params, &grads, 1e-2);
        ops::adam_step(
            &device,
            &mut params,
            &device.upload(&grads).unwrap(),
            &mut m,
            &mut v,
            &settings,
            step,
            1e-2,
            4000..9000,
        )
        .unwrap();
    }
    assert_close(
        "parameters",
        &download(&device, &params, n),
        &cpu_params,
        1e-6,
        1e-5,
    );
    assert_close("m", &download(&device, &m, n), &adam.m, 1e-6, 1e-5);
    assert_close("v", &download(&device, &v, n), &adam.v, 1e-6, 1e-5);
}

#[test]
fn ray_losses_match_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(10);
    let rays = 777;
    let color = random(&mut rng, 3 * rays, 0.0, 1.0);
    let alpha = random(&mut rng, rays, 0.0, 1.0);
    let targets = RayTargets {
        rays: vec![],
        color: as_triples(&random(&mut rng, 3 * rays, 0.0, 1.0)),
        mask: (0..rays).map(|i| (i % 2) as f32).collect(),
        background: vec![[1.0; 3]; rays],
    };
    let composited: Vec<_> = (0..rays)
        .map(|r| nerf_avatar::composite::Composited {
            color: [color[3 * r], color[3 * r + 1], color[3 * r + 2]],
            alpha: alpha[r],
            distance: 1.0,
            used: 1,
        })
        .collect();
    let weights = RayLossWeights {
        color: 1.0,
        mask: 0.7,
        entropy: 1e-3,
    };
    let cpu = ray_loss(&composited, &targets, weights, 0.5);
    let target_color: Vec<f32> = targets.color.iter().flatten().copied().collect();
    let mut out = RayLossGradients {
        d_color: device.zeros(3 * rays).unwrap(),
        d_alpha: device.zeros(rays).unwrap(),
    };
    let (value, squared) = ops::ray_loss(
        &device,
        &device.upload(&color).unwrap(),
        &device.upload(&alpha).unwrap(),
        &device.upload(&target_color).unwrap(),
        &device.upload(&targets.mask).unwrap(),
        rays,
        weights,
        0.5,
        &mut out,
    )
    .unwrap();
    let (value, squared) = (value.read(&device).unwrap(), squared.read(&device).unwrap());
    assert!(
        (value - cpu.value).abs() <= 1e-5 * cpu.value.abs().max(1.0),
        "{value} vs {}",
        cpu.value
    );
    assert!((squared - cpu.squared_error).abs() <= 1e-4 * cpu.squared_error.max(1.0));
    let cpu_d_color: Vec<f32> = cpu.d_color.iter().flatten().copied().collect();
    assert_close(
        "dcolour",
        &download(&device, &out.d_color, 3 * rays),
        &cpu_d_color,
        1e-9,
        1e-5,
    );
    assert_close(
        "dalpha",
        &download(&device, &out.d_alpha, rays),
        &cpu.d_alpha,
        1e-9,
        1e-4,
    );
}

#[test]
fn occupancy_merge_matches_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(11);
    let resolution = 24;
    let cells = OccupancyGrid::cell_count(resolution);
    let old = random(&mut rng, cells, 0.0, 30.0);
    let fresh = random(&mut rng, cells, 0.0, 20.0);
    let mut cpu = OccupancyGrid::full(resolution);
    cpu.set_density(old.clone());
    let mut gpu = cpu.clone();
    let pooled = max_pool_2(&fresh, resolution as usize);
    let merged: Vec<f32> = old
        .iter()
        .zip(&pooled)
        .map(|(o, n)| (0.9 * o).max(*n))
        .collect();
    cpu.set_density(merged);
    merge_densities(&device, &device.upload(&fresh).unwrap(), &mut gpu).unwrap();
    assert_close(
        "densities",
        gpu.density.as_ref().unwrap(),
        cpu.density.as_ref().unwrap(),
        1e-6,
        1e-6,
    );
    assert_eq!(gpu.bitfield, cpu.bitfield);
}

#[test]
fn the_renderer_interface_gives_the_cuda_renderers_frames_and_refuses_bad_requests() {
    use nerf_avatar::renderer::{FrameRequest, RenderError, Renderer};
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(12);
    let (model, params) = tiny_model(&mut rng);
    let occupancy = head_occupancy(&model.config);
    let mut direct = CudaRenderer::new(Arc::clone(&device), &model, &params, &occupancy).unwrap();
    let mut renderer: Box<dyn Renderer> =
        Box::new(CudaRenderer::new(Arc::clone(&device), &model, &params, &occupancy).unwrap());
    assert_eq!(renderer.backend(), "cuda");
    let (intrinsics, _) = front_camera(&model.config, 40, 30);
    for i in 0..2 {
        let weights = [0.3 * i as f32, 0.1];
        let pose = Pose::orbit(model.config.head_box.center, 0.5, 8.0 * i as f32, 0.0);
        let background = Background::Solid([0.2, 0.4, 0.6]);
        let frame = renderer
            .render(&FrameRequest {
                weights: &weights,
                intrinsics,
                pose,
                background,
            })
            .unwrap();
        let expected = direct
            .render_image(&weights, &intrinsics, &pose, background)
            .unwrap();
        assert_eq!(frame, expected, "frame {i}");
    }
    let too_few = renderer.render(&FrameRequest {
        weights: &[0.5],
        intrinsics,
        pose: Pose::orbit(model.config.head_box.center, 0.5, 0.0, 0.0),
        background: Background::Solid([0.0; 3]),
    });
    assert!(matches!(too_few, Err(RenderError::BadRequest(_))));
}

#[test]
fn occupancy_update_matches_the_cpu() {
    use nerf_avatar_cuda::occupancy::update_occupancy;
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(13);
    let (model, params) = tiny_model(&mut rng);
    let max_weights = [0.8, 0.5];
    let mut cpu = OccupancyGrid::full(24);
    let mut gpu = OccupancyGrid::full(24);
    let grid = DeviceGrid::new(&device, &model.grid).unwrap();
    let d_params = device.upload(&params.data).unwrap();
    // Twice: the second update merges with the first's densities.
    for seed in [7, 8] {
        cpu.update(&model, &params, &max_weights, seed);
        update_occupancy(
            &device,
            &model,
            &grid,
            &d_params,
            &max_weights,
            &mut gpu,
            seed,
        )
        .unwrap();
    }
    let (g, c) = (gpu.density.as_ref().unwrap(), cpu.density.as_ref().unwrap());
    assert_close("densities", g, c, 1e-4, 1e-4);
    // Cells within rounding of the threshold may fall either way.
    let cells = OccupancyGrid::cell_count(24);
    let differing = (0..cells)
        .filter(|&i| gpu.is_occupied(i) != cpu.is_occupied(i))
        .count();
    assert!(
        differing * 1000 <= cells,
        "{differing} of {cells} cells differ"
    );
}

/// The GPU where it has the fused field's `mma.m16n8k16` (sm_80 and later), or `None` (with
/// the reason printed).
fn gpu_with_fp16_mma() -> Option<Arc<CudaDevice>> {
    let device = gpu()?;
    if device.arch().major < 8 {
        let reason = format!("the fused fp16 field needs sm_80 ({:?})", device.arch());
        test_requirements::missing(Requirement::Gpu, reason);
        return None;
    }
    Some(device)
}

#[test]
fn fused_fp16_field_matches_the_cpu_within_half_precision() {
    let Some(device) = gpu_with_fp16_mma() else {
        return;
    };
    let mut rng = Pcg64::seed_from_u64(14);
    for config in [
        ModelConfig::paper(),
        ModelConfig::fast(),
        ModelConfig::tiny(),
    ] {
        let (model, params) = he_model(config, &mut rng);
        let table = params.table(0).to_vec();
        // Not a multiple of the 16 samples a warp takes.
        let flat = points(&mut rng, 5001);
        let n = flat.len() / 3;
        let dirs: Vec<f32> = (0..n)
            .flat_map(|_| {
                let d: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
                let norm = d.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-3);
                d.map(|x| x / norm)
            })
            .collect();
        let (cpu, _) =
            model.field_forward(&params.data, &table, &as_triples(&flat), &as_triples(&dirs));

        let grid = DeviceGrid::new(&device, &model.grid).unwrap();
        let mut fused = FusedField::new(&device, &model, &params.data).unwrap();
        // Blended with no blendshapes: the table itself, in f16.
        let d_table = device.upload(&table).unwrap();
        let no_weights = device.zeros::<f32>(1).unwrap();
        fused.blend(&device, &d_table, &no_weights, 0).unwrap();
        let half_table = device.download(fused.table(), fused.table().len()).unwrap();
        assert_eq!(half_table, pack_f16_pairs(&table), "blend_tables_f16");
        let (d_points, d_dirs) = (device.upload(&flat).unwrap(), device.upload(&dirs).unwrap());
        // NaN everywhere first: assert_close then fails on any output left unwritten.
        let mut sigma = device.upload(&vec![f32::NAN; n]).unwrap();
        let mut rgb = device.upload(&vec![f32::NAN; 3 * n]).unwrap();
        field_forward_fused(
            &device,
            &fused,
            &grid,
            &d_points,
            &d_dirs,
            SampleCount::Exactly(n),
            (&mut sigma, &mut rgb),
        )
        .unwrap();
        let gpu_sigma = download(&device, &sigma, n);
        let gpu_rgb = download(&device, &rgb, 3 * n);
        let what = format!("{:?}", model.config.grid);
        check_fused_field(&what, &gpu_sigma, &gpu_rgb, &cpu);
    }
}

#[test]
fn fused_fp16_frames_match_the_cpus_render_image() {
    let Some(device) = gpu_with_fp16_mma() else {
        return;
    };
    let mut rng = Pcg64::seed_from_u64(15);
    for config in [ModelConfig::fast(), ModelConfig::tiny()] {
        let (model, params) = he_model(config, &mut rng);
        let occupancy = head_occupancy(&model.config);
        let weights = [0.6, 0.3];
        let mut renderer =
            CudaRenderer::new(Arc::clone(&device), &model, &params, &occupancy).unwrap();
        assert_eq!(renderer.precision(), FieldPrecision::F16);
        let (intrinsics, _) = front_camera(&model.config, 61, 47);
        let pose = Pose::orbit(model.config.head_box.center, 0.5, 15.0, 5.0);
        let frame = Frame {
            model: &model,
            params: &params,
            weights: &weights,
            occupancy: &occupancy,
            view: (&intrinsics, &pose),
            background: Background::Solid([0.1, 0.6, 0.9]),
        };
        let (cpu, gpu) = frame.render(&mut renderer);
        let (cpu_rgb, gpu_rgb) = (flat_rgb(&cpu), flat_rgb(&gpu));
        let mse = gpu_rgb
            .iter()
            .zip(&cpu_rgb)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            / cpu_rgb.len() as f32;
        let psnr = -10.0 * mse.max(1e-10).log10();
        eprintln!(
            "{:?}: fp16 frame against the CPU: {psnr:.1} dB",
            model.config.grid
        );
        assert!(psnr >= 40.0, "PSNR {psnr} dB");
        assert_close("fp16 frame alpha", &gpu.alpha, &cpu.alpha, 5e-2, 0.0);
        let (gpu_depth, cpu_depth) = (
            (&gpu.depth[..], &gpu.alpha[..]),
            (&cpu.depth[..], &cpu.alpha[..]),
        );
        assert_depth_close("fp16 frame depth", gpu_depth, cpu_depth, 5e-2);

        // The fp32 kernels of the same renderer give the CPU's frame more closely.
        renderer.set_precision(FieldPrecision::F32).unwrap();
        let exact = renderer
            .render_image(&weights, &intrinsics, &pose, frame.background)
            .unwrap();
        assert_close(
            "fp32 frame colour",
            &flat_rgb(&exact),
            &cpu_rgb,
            1.5e-2,
            0.0,
        );
    }
}

/// `kernels/lpips.cu` on the GPU, through the host functions of `cuda::lpips`.
struct GpuLpips<'a>(&'a CudaDevice);

impl GpuLpips<'_> {
    fn upload<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        values: &[T],
    ) -> CudaSlice<T> {
        self.0.upload(values).unwrap()
    }
}

impl LpipsKernels for GpuLpips<'_> {
    fn scale_input(&self, rgb: &[f32]) -> Vec<f32> {
        let mut scaled = self.0.zeros::<f32>(rgb.len()).unwrap();
        let rgb_gpu = self.upload(rgb);
        cuda_lpips::scale_input(self.0, &rgb_gpu.slice(..), &mut scaled.slice_mut(..)).unwrap();
        download(self.0, &scaled, rgb.len())
    }

    fn scale_input_backward(&self, d_scaled: &[f32], weight: f32, d_images: &[f32]) -> Vec<f32> {
        let mut d = self.upload(d_images);
        cuda_lpips::scale_input_backward(self.0, &self.upload(d_scaled), weight, &mut d).unwrap();
        download(self.0, &d, d_images.len())
    }

    fn im2col(
        &self,
        input: &[f32],
        images: usize,
        extent: Extent,
        conv: &ConvGeometry,
    ) -> Vec<f32> {
        let output = conv.output(extent);
        let len = images * output[0] * output[1] * conv.columns();
        let mut cols = self.0.zeros::<f32>(len).unwrap();
        cuda_lpips::im2col(self.0, &self.upload(input), images, extent, conv, &mut cols).unwrap();
        download(self.0, &cols, len)
    }

    fn col2im(
        &self,
        d_cols: &[f32],
        images: usize,
        extent: Extent,
        conv: &ConvGeometry,
    ) -> Vec<f32> {
        let len = images * extent.iter().product::<usize>();
        let mut d_input = self.0.zeros::<f32>(len).unwrap();
        cuda_lpips::col2im(
            self.0,
            &self.upload(d_cols),
            images,
            extent,
            conv,
            &mut d_input,
        )
        .unwrap();
        download(self.0, &d_input, len)
    }

    fn max_pool(
        &self,
        input: &[f32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> (Vec<f32>, Vec<u32>) {
        let len = images * pool.output(extent).iter().product::<usize>();
        let (mut out, mut argmax) = (self.0.zeros(len).unwrap(), self.0.zeros(len).unwrap());
        let input = self.upload(input);
        cuda_lpips::max_pool(self.0, &input, images, extent, pool, &mut out, &mut argmax).unwrap();
        (
            download(self.0, &out, len),
            self.0.download(&argmax, len).unwrap(),
        )
    }

    fn max_pool_backward(
        &self,
        d_out: &[f32],
        argmax: &[u32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> Vec<f32> {
        let len = images * extent.iter().product::<usize>();
        let mut d_input = self.0.zeros::<f32>(len).unwrap();
        let (d_out, argmax) = (self.upload(d_out), self.upload(argmax));
        cuda_lpips::max_pool_backward(self.0, &d_out, &argmax, images, extent, pool, &mut d_input)
            .unwrap();
        download(self.0, &d_input, len)
    }

    fn compare_features(
        &self,
        features: &[f32],
        (pairs, extent): (usize, Extent),
        head: &[f32],
        d_a: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let pixels = pairs * extent[0] * extent[1];
        let mut distances = self.0.zeros::<f32>(pixels).unwrap();
        let mut d = self.upload(d_a);
        let features = self.upload(features);
        cuda_lpips::compare_features(
            self.0,
            (&features, pairs, extent),
            &self.upload(head),
            &mut distances.slice_mut(..),
            &mut d,
        )
        .unwrap();
        (
            download(self.0, &distances, pixels),
            download(self.0, &d, d_a.len()),
        )
    }
}

#[test]
fn lpips_layers_match_the_cpu() {
    let Some(device) = gpu() else { return };
    check_lpips_kernels(&GpuLpips(&device), &mut Pcg64::seed_from_u64(21));
}

/// Patches cut from a smooth random picture, so the distances are those of images.
fn lpips_patches(rng: &mut Pcg64, count: usize, [height, width]: [usize; 2]) -> Vec<f32> {
    let waves = random(rng, 12, 0.05, 0.6);
    (0..count * height * width * 3)
        .map(|i| {
            let (c, pixel) = (i % 3, i / 3);
            let image = pixel / (height * width);
            let (y, x) = ((pixel / width) % height, pixel % width);
            let phase =
                waves[(image + c) % 12] * y as f32 + waves[(image + 2 * c + 1) % 12] * x as f32;
            0.5 + 0.45 * phase.sin() * waves[c] + 0.04 * rng.random_range(-1.0f32..1.0)
        })
        .collect()
}

#[test]
fn patch_lpips_matches_the_cpu() {
    let Some(device) = gpu() else { return };
    let mut rng = Pcg64::seed_from_u64(23);
    for (backbone, size) in [(Backbone::Alex, [36, 33]), (Backbone::Vgg, [32, 32])] {
        let cpu = match PatchLpips::load_default(backbone) {
            Ok(cpu) => cpu,
            Err(error @ LpipsError::MissingWeights { .. }) => {
                test_requirements::missing(Requirement::Vgg, format!("LPIPS {backbone}: {error}"));
                continue;
            }
            Err(error) => panic!("{error}"),
        };
        let gpu_lpips = CudaLpips::new(&device, &cpu).unwrap();
        let pairs = 2;
        let [height, width] = size;
        let patch_len = height * width * 3;
        let a = lpips_patches(&mut rng, pairs, size);
        let b = lpips_patches(&mut rng, pairs, size);
        let a_patches: Vec<&[f32]> = a.chunks_exact(patch_len).collect();
        let b_patches: Vec<&[f32]> = b.chunks_exact(patch_len).collect();
        let (cpu_distance, cpu_gradients) = cpu
            .distance_and_gradient(&a_patches, &b_patches, width, height)
            .unwrap();
        let weight = 0.3;
        let start = random(&mut rng, a.len(), -1e-3, 1e-3);
        let mut d_a = device.upload(&start).unwrap();
        let (gpu_a, gpu_b) = (device.upload(&a).unwrap(), device.upload(&b).unwrap());
        let gpu_distance = gpu_lpips
            .add_gradient(&device, &gpu_a, &gpu_b, pairs, size, weight, &mut d_a)
            .and_then(|distance| distance.read(&device))
            .unwrap() as f32;
        let what = format!("LPIPS {backbone}");
        assert!(cpu_distance > 0.0);
        assert_close(&what, &[gpu_distance], &[cpu_distance], 0.0, 1e-4);
        let expected: Vec<f32> = cpu_gradients
            .concat()
            .iter()
            .zip(&start)
            .map(|(g, s)| s + weight * g)
            .collect();
        let largest = expected.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        let gradient = download(&device, &d_a, a.len());
        assert_close(
            &format!("{what} gradient"),
            &gradient,
            &expected,
            1e-3 * largest,
            0.0,
        );
    }
}
