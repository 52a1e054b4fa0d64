//! Helpers of the kernel tests (`cuda_conformance.rs` on a GPU, `cuda_emulated.rs` and
//! `kernels_on_cpu.rs` on the CPU): random inputs, a model with weights of the right scale,
//! the comparison with a CPU twin, the cases the test files share, and the kernels' C++
//! build ([`cxx`]).
#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different subset of it"
)]

pub mod cxx;

use nerf_avatar::camera::Ray;
use nerf_avatar::composite::{composite, composite_backward};
use nerf_avatar::config::ModelConfig;
use nerf_avatar::field::{FieldOutput, Model};
use nerf_avatar::march::{MarchSettings, RaySamples};
use nerf_avatar::occupancy::OccupancyGrid;
use nerf_avatar::params::{LayerShape, Params};
use nerf_avatar::scene::{front_camera, head_occupancy, random_rays};
use nerf_avatar_eval::metrics::lpips::patch::{self, ConvGeometry, Extent, PoolGeometry};
use rand::Rng;
use rand_pcg::Pcg64;

/// `n` values uniform in `lo..hi`.
pub fn random(rng: &mut Pcg64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Asserts that a kernel's output `kernel` matches its CPU twin's `cpu` within
/// `abs + rel·|cpu|` everywhere, with no NaN.
#[track_caller]
pub fn assert_close(what: &str, kernel: &[f32], cpu: &[f32], abs: f32, rel: f32) {
    assert_eq!(kernel.len(), cpu.len(), "{what}: lengths differ");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, c)) in kernel.iter().zip(cpu).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] is {g} (CPU {c})");
        let excess = (g - c).abs() - (abs + rel * c.abs());
        if excess > worst.0 {
            worst = (excess, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 0.0,
        "{what}[{i}]: kernel {} vs CPU {} (tolerance {abs} + {rel}·|cpu|)",
        kernel[i],
        cpu[i]
    );
}

/// Whether a kernel's depth map agrees with the CPU's, given each one's opacity: within `rel`
/// of the CPU's where both opacities are at least 1e-3 (below, the depth divides by a
/// vanishing opacity), infinite at the same pixels unless both opacities are below 1e-3
/// (where `1 − e^{−σδ}` may round to 0 on one side only).
pub fn assert_depth_close(
    what: &str,
    (kernel, kernel_alpha): (&[f32], &[f32]),
    (cpu, cpu_alpha): (&[f32], &[f32]),
    rel: f32,
) {
    assert_eq!(kernel.len(), cpu.len(), "{what}: lengths differ");
    for (i, (g, c)) in kernel.iter().zip(cpu).enumerate() {
        let alpha = kernel_alpha[i].min(cpu_alpha[i]);
        assert!(!g.is_nan(), "{what}[{i}] is NaN (CPU {c})");
        if kernel_alpha[i].max(cpu_alpha[i]) >= 1e-3 || kernel_alpha[i] == cpu_alpha[i] {
            assert_eq!(
                g.is_finite(),
                c.is_finite(),
                "{what}[{i}]: kernel {g} vs CPU {c}"
            );
        }
        if alpha >= 1e-3 {
            assert!(
                (g - c).abs() <= rel * c.abs(),
                "{what}[{i}]: kernel {g} vs CPU {c} (opacity {alpha}, tolerance {rel}·|cpu|)"
            );
        }
    }
}

/// A model of `config` with two blendshapes, tables in [-1, 1] and MLP weights drawn like
/// He initialisation (uniform, ±√(6 / inputs)), so that activations are of order 1 and the
/// half-precision rounding is exercised at full scale.
pub fn he_model(config: ModelConfig, rng: &mut Pcg64) -> (Model, Params<f32>) {
    let config = config.with_blendshapes(vec!["jawOpen".into(), "eyeBlinkLeft".into()]);
    let model = Model::new(&config);
    let mut params = Params::<f32>::init(&config, rng);
    for v in &mut params.data[params.layout.tables()] {
        *v = rng.random_range(-1.0..1.0);
    }
    let layout = &params.layout;
    let layers: Vec<LayerShape> = layout
        .density_layers
        .iter()
        .chain(&layout.color_layers)
        .copied()
        .collect();
    for layer in layers {
        let bound = (6.0 / layer.inputs as f32).sqrt();
        for v in &mut params.data[layer.range()] {
            *v = rng.random_range(-bound..bound);
        }
    }
    (model, params)
}

/// Rays of 0 to 59 samples to composite, with the gradients to take back.
pub struct CompositeCase {
    /// Ray r owns samples `offsets[r]..offsets[r + 1]`.
    pub offsets: Vec<u32>,
    pub sigma: Vec<f32>,
    pub rgb: Vec<f32>,
    pub dt: Vec<f32>,
    pub backgrounds: Vec<f32>,
    pub d_color: Vec<f32>,
    pub d_alpha: Vec<f32>,
    pub threshold: f32,
}

/// What a compositing kernel pair gave for a [`CompositeCase`].
pub struct CompositeResult<'a> {
    pub color: &'a [f32],
    pub alpha: &'a [f32],
    pub used: &'a [u32],
    pub d_sigma: &'a [f32],
    pub d_rgb: &'a [f32],
}

impl CompositeCase {
    /// `rays` random rays.
    pub fn random(rng: &mut Pcg64, rays: usize) -> Self {
        let mut offsets = vec![0u32];
        for r in 0..rays {
            offsets.push(offsets[r] + rng.random_range(0..60));
        }
        let samples = offsets[rays] as usize;
        Self {
            sigma: random(rng, samples, 0.0, 40.0),
            rgb: random(rng, 3 * samples, 0.0, 1.0),
            dt: random(rng, samples, 0.001, 0.01),
            backgrounds: random(rng, 3 * rays, 0.0, 1.0),
            d_color: random(rng, 3 * rays, -1.0, 1.0),
            d_alpha: random(rng, rays, -1.0, 1.0),
            threshold: 1e-4,
            offsets,
        }
    }

    /// Rays.
    pub fn rays(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Samples of all rays.
    pub fn samples(&self) -> usize {
        self.offsets[self.rays()] as usize
    }

    /// Asserts that `result` is the CPU's compositing and its backward, ray by ray.
    #[track_caller]
    pub fn check(&self, result: &CompositeResult<'_>) {
        let triples = |v: &[f32]| -> Vec<[f32; 3]> {
            v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
        };
        for r in 0..self.rays() {
            let span = self.offsets[r] as usize..self.offsets[r + 1] as usize;
            let rgb = triples(&self.rgb[3 * span.start..3 * span.end]);
            let b = &self.backgrounds[3 * r..3 * r + 3];
            let (sigma, dt) = (&self.sigma[span.clone()], &self.dt[span.clone()]);
            // The training kernel composites no depth: the distances do not matter here.
            let distance = vec![0.0; span.len()];
            let background = [b[0], b[1], b[2]];
            let cpu = composite(sigma, &rgb, dt, &distance, background, self.threshold);
            let colour = &result.color[3 * r..3 * r + 3];
            assert_close(&format!("ray {r} colour"), colour, &cpu.color, 1e-5, 1e-4);
            let alpha = &result.alpha[r..r + 1];
            assert_close(&format!("ray {r} alpha"), alpha, &[cpu.alpha], 1e-5, 1e-4);
            assert_eq!(result.used[r] as usize, cpu.used, "ray {r}: samples used");
            let mut d_sigma = vec![0.0; span.len()];
            let mut d_rgb = vec![[0.0; 3]; span.len()];
            let dc = &self.d_color[3 * r..3 * r + 3];
            let d_alpha = self.d_alpha[r];
            let gradients = (&mut d_sigma, &mut d_rgb);
            composite_backward(
                sigma,
                &rgb,
                dt,
                &cpu,
                [dc[0], dc[1], dc[2]],
                d_alpha,
                gradients.0,
                gradients.1,
            );
            let kernel_d_sigma = &result.d_sigma[span.clone()];
            assert_close(&format!("ray {r} dσ"), kernel_d_sigma, &d_sigma, 1e-5, 1e-3);
            let d_rgb: Vec<f32> = d_rgb.into_iter().flatten().collect();
            let kernel_d_rgb = &result.d_rgb[3 * span.start..3 * span.end];
            assert_close(&format!("ray {r} drgb"), kernel_d_rgb, &d_rgb, 1e-6, 1e-4);
        }
    }
}

/// Asserts that the fused fp16 field's σ and RGB are the CPU's `cpu` within half precision:
/// fp16 keeps 11 significant bits (relative rounding 2^-11 ≈ 4.9e-4) at each of up to six
/// layers of sums over 64 inputs; σ = softplus has slope ≤ 1, RGB = sigmoid ≤ 1/4.
#[track_caller]
pub fn check_fused_field(what: &str, sigma: &[f32], rgb: &[f32], cpu: &FieldOutput<f32>) {
    let cpu_rgb: Vec<f32> = cpu.rgb.iter().flatten().copied().collect();
    assert_close(&format!("{what} σ"), sigma, &cpu.sigma, 3e-2, 2e-2);
    assert_close(&format!("{what} rgb"), rgb, &cpu_rgb, 1e-2, 0.0);
    let mean_error = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    };
    let (sigma_error, rgb_error) = (mean_error(sigma, &cpu.sigma), mean_error(rgb, &cpu_rgb));
    eprintln!("{what}: mean |kernel − CPU|: σ {sigma_error:.2e}, rgb {rgb_error:.2e}");
    assert!(sigma_error < 4e-3 && rgb_error < 1e-3);
}

/// Training rays through the tiny preset's head box, with the occupancy grid of a head.
pub struct MarchCase {
    pub config: ModelConfig,
    pub occupancy: OccupancyGrid,
    pub settings: MarchSettings,
    /// Random camera rays, one parallel to an axis and one that misses the box.
    pub rays: Vec<Ray>,
    pub jitters: Vec<f32>,
}

impl MarchCase {
    /// `count` random rays of a `side` × `side` camera, and the two special ones.
    pub fn random(rng: &mut Pcg64, side: u32, count: usize) -> Self {
        let config = ModelConfig::tiny();
        let (intrinsics, pose) = front_camera(&config, side, side);
        let mut rays: Vec<Ray> = random_rays(&intrinsics, &pose, count, rng);
        rays.push(Ray {
            origin: [0.0, 0.0, 0.5],
            direction: [0.0, 0.0, -1.0],
        });
        rays.push(Ray {
            origin: [0.0, 0.5, 0.5],
            direction: [0.0, 0.0, -1.0],
        });
        Self {
            occupancy: head_occupancy(&config),
            settings: MarchSettings::training(&config),
            jitters: random(rng, rays.len(), 0.0, 1.0),
            rays,
            config,
        }
    }

    /// Ray origins, flat.
    pub fn origins(&self) -> Vec<f32> {
        self.rays.iter().flat_map(|r| r.origin).collect()
    }

    /// Ray directions, flat.
    pub fn directions(&self) -> Vec<f32> {
        self.rays.iter().flat_map(|r| r.direction).collect()
    }

    /// Asserts that the kernels' offsets, positions and steps are the CPU marcher's, bit for
    /// bit (both use explicitly rounded arithmetic).
    #[track_caller]
    pub fn check(&self, offsets: &[u32], positions: &[f32], dt: &[f32], directions: &[f32]) {
        let cpu = RaySamples::march(
            &self.config,
            &self.settings,
            &self.occupancy,
            &self.rays,
            &self.jitters,
        );
        let cpu_offsets: Vec<u32> = cpu.offsets.iter().map(|&o| o as u32).collect();
        assert_eq!(offsets, cpu_offsets);
        let cpu_positions: Vec<f32> = cpu.samples.iter().flat_map(|s| s.position).collect();
        let cpu_dt: Vec<f32> = cpu.samples.iter().map(|s| s.dt).collect();
        assert_close("positions", positions, &cpu_positions, 0.0, 0.0);
        assert_close("dt", dt, &cpu_dt, 0.0, 0.0);
        let ray_directions: Vec<f32> = (0..self.rays.len())
            .flat_map(|r| vec![self.rays[r].direction; cpu.offsets[r + 1] - cpu.offsets[r]])
            .flatten()
            .collect();
        assert_close("directions", directions, &ray_directions, 0.0, 0.0);
    }
}

/// The LPIPS layer kernels (`kernels/lpips.cu`) as a test runs them, on a GPU or in the
/// emulator: host data in, the kernel's output back.
pub trait LpipsKernels {
    /// `lpips_scale_input`.
    fn scale_input(&self, rgb: &[f32]) -> Vec<f32>;
    /// `lpips_scale_input_backward`: `d_images` after the kernel added to it.
    fn scale_input_backward(&self, d_scaled: &[f32], weight: f32, d_images: &[f32]) -> Vec<f32>;
    /// `lpips_im2col`.
    fn im2col(&self, input: &[f32], images: usize, extent: Extent, conv: &ConvGeometry)
    -> Vec<f32>;
    /// `lpips_col2im`.
    fn col2im(
        &self,
        d_cols: &[f32],
        images: usize,
        extent: Extent,
        conv: &ConvGeometry,
    ) -> Vec<f32>;
    /// `lpips_max_pool`: the pooled values and their maxima's pixels.
    fn max_pool(
        &self,
        input: &[f32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> (Vec<f32>, Vec<u32>);
    /// `lpips_max_pool_backward`.
    fn max_pool_backward(
        &self,
        d_out: &[f32],
        argmax: &[u32],
        images: usize,
        extent: Extent,
        pool: &PoolGeometry,
    ) -> Vec<f32>;
    /// `lpips_compare` of a layer of `(pairs, extent)`: the per-pixel distances, and `d_a`
    /// after the kernel added to it.
    fn compare_features(
        &self,
        features: &[f32],
        layer: (usize, Extent),
        head: &[f32],
        d_a: &[f32],
    ) -> (Vec<f32>, Vec<f32>);
}

/// Checks every LPIPS layer kernel of `kernels` against its CPU twin (`metrics::lpips::patch`)
/// on random inputs: AlexNet's 11×11 / 4, VGG's 3×3 and an unpadded 2×2 / 2 convolution,
/// both poolings (VGG's 2 / 2, AlexNet's overlapping 3 / 2), and the comparison of ReLU
/// features with all-zero pixels. Exact where the CPU's arithmetic is the kernel's.
pub fn check_lpips_kernels(kernels: &impl LpipsKernels, rng: &mut Pcg64) {
    let (images, extent) = (3, [19, 17, 5]);
    let input = random(rng, images * extent.iter().product::<usize>(), -1.0, 1.0);

    let rgb = random(rng, 3 * 40, 0.0, 1.0);
    let mut cpu_scaled = vec![0.0; rgb.len()];
    patch::scale_input(&rgb, &mut cpu_scaled);
    assert_close(
        "scale_input",
        &kernels.scale_input(&rgb),
        &cpu_scaled,
        0.0,
        0.0,
    );
    let start = random(rng, rgb.len(), -1.0, 1.0);
    let mut cpu_d_rgb = start.clone();
    patch::scale_input_backward(&cpu_scaled, 0.7, &mut cpu_d_rgb);
    let d_rgb = kernels.scale_input_backward(&cpu_scaled, 0.7, &start);
    assert_close("scale_input_backward", &d_rgb, &cpu_d_rgb, 1e-6, 1e-6);

    for (kernel, stride, padding) in [(11, 4, 2), (3, 1, 1), (2, 2, 0)] {
        let conv = ConvGeometry {
            in_channels: extent[2],
            out_channels: 4,
            kernel,
            stride,
            padding,
        };
        let what = format!("{kernel}×{kernel} / {stride}, padding {padding}");
        let output = conv.output(extent);
        let len = images * output[0] * output[1] * conv.columns();
        let mut cpu_cols = vec![0.0; len];
        patch::im2col(&input, images, extent, &conv, &mut cpu_cols);
        let cols = kernels.im2col(&input, images, extent, &conv);
        assert_close(&format!("im2col {what}"), &cols, &cpu_cols, 0.0, 0.0);

        let d_cols = random(rng, len, -1.0, 1.0);
        let mut cpu_d_input = vec![0.0; input.len()];
        patch::col2im(&d_cols, images, extent, &conv, &mut cpu_d_input);
        let d_input = kernels.col2im(&d_cols, images, extent, &conv);
        assert_close(
            &format!("col2im {what}"),
            &d_input,
            &cpu_d_input,
            1e-6,
            1e-6,
        );
    }

    for (size, stride) in [(2, 2), (3, 2)] {
        let pool = PoolGeometry { size, stride };
        let len = images * pool.output(extent).iter().product::<usize>();
        let (mut cpu_out, mut cpu_argmax) = (vec![0.0; len], vec![0u32; len]);
        patch::max_pool(&input, images, extent, &pool, &mut cpu_out, &mut cpu_argmax);
        let (out, argmax) = kernels.max_pool(&input, images, extent, &pool);
        let what = format!("max_pool {size} / {stride}");
        assert_close(&what, &out, &cpu_out, 0.0, 0.0);
        assert_eq!(argmax, cpu_argmax, "{what}");

        let d_out = random(rng, len, -1.0, 1.0);
        let mut cpu_d_input = vec![0.0; input.len()];
        patch::max_pool_backward(&d_out, &cpu_argmax, images, extent, &pool, &mut cpu_d_input);
        let d_input = kernels.max_pool_backward(&d_out, &argmax, images, extent, &pool);
        assert_close(
            &format!("{what} backward"),
            &d_input,
            &cpu_d_input,
            1e-6,
            1e-6,
        );
    }

    for (pairs, extent) in [(1, [8, 8, 64]), (2, [2, 3, 512]), (3, [5, 4, 3])] {
        let len = pairs * extent.iter().product::<usize>();
        // ReLU features: non-negative, some pixels all zero.
        let mut features = random(rng, 2 * len, -0.5, 1.0);
        features.iter_mut().for_each(|f| *f = f.max(0.0));
        features[..extent[2]].fill(0.0);
        let head = random(rng, extent[2], 0.0, 0.2);
        let start = random(rng, len, -1.0, 1.0);
        let mut cpu_d_a = start.clone();
        let cpu_distance = patch::compare_features(&features, pairs, extent, &head, &mut cpu_d_a);
        let (distances, d_a) = kernels.compare_features(&features, (pairs, extent), &head, &start);
        let what = format!("compare {pairs} × {extent:?}");
        let distance: f32 = distances.iter().sum();
        assert_close(&what, &[distance], &[cpu_distance], 1e-7, 1e-5);
        assert_close(&format!("{what} d_a"), &d_a, &cpu_d_a, 1e-6, 1e-4);
    }
}
