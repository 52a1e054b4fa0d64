//! Helpers of the kernel tests (`cuda_conformance.rs` on a GPU, `kernels_on_cpu.rs` on the
//! CPU): random inputs, a model with weights of the right scale, and the comparison with a
//! CPU twin.
#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different subset of it"
)]

use nerf_avatar::config::ModelConfig;
use nerf_avatar::field::Model;
use nerf_avatar::params::{LayerShape, Params};
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
