//! Bias-free fully connected networks with ReLU hidden layers and a linear output layer, as
//! tiny-cuda-nn's fully fused MLP: forward for a batch of rows and the hand-written backward.
//!
//! Rows are samples (row-major `n × width`); a layer's weights are row-major
//! `outputs × inputs` at [`LayerShape::offset`] in the flat parameter buffer, so a layer is
//! `Y = X · Wᵀ` ([`Real::dense_layer`]: register tiles in `f32`, [`nerf_avatar_simd::tiles`]; a plain
//! matrix product in `f64`).

use crate::params::LayerShape;
use crate::real::Real;

/// Every layer's output for a batch, kept for the backward pass: hidden layers after ReLU,
/// the last layer before any output activation.
#[derive(Clone, Debug, Default)]
pub struct MlpActivations<R> {
    /// `layers[i]` holds `n × layers[i].outputs` values.
    pub layers: Vec<Vec<R>>,
}

impl<R: Real> MlpActivations<R> {
    /// The network's output (`n × outputs` of the last layer).
    pub fn output(&self) -> &[R] {
        self.layers.last().map_or(&[], Vec::as_slice)
    }
}

/// Runs the network on `n` rows of `input` (`n × layers[0].inputs`).
pub fn mlp_forward<R: Real>(
    layers: &[LayerShape],
    params: &[R],
    input: &[R],
    n: usize,
) -> MlpActivations<R> {
    let mut activations = MlpActivations::default();
    mlp_forward_into(layers, params, input, n, &mut activations);
    activations
}

/// [`mlp_forward`] into the buffers of earlier activations, which are resized and
/// overwritten: a loop that reuses them touches no fresh memory.
pub fn mlp_forward_into<R: Real>(
    layers: &[LayerShape],
    params: &[R],
    input: &[R],
    n: usize,
    activations: &mut MlpActivations<R>,
) {
    let outputs = &mut activations.layers;
    outputs.resize_with(layers.len(), Vec::new);
    for (i, layer) in layers.iter().enumerate() {
        let (done, rest) = outputs.split_at_mut(i);
        let x = done.last().map_or(input, Vec::as_slice);
        let y = &mut rest[0];
        y.resize(n * layer.outputs, R::zero());
        let relu = i + 1 < layers.len();
        R::dense_layer(
            x,
            &params[layer.range()],
            [n, layer.inputs, layer.outputs],
            relu,
            y,
        );
    }
}

/// Back-propagates `d_output` (`n × outputs`, the gradient at the last layer's raw output):
/// adds the weight gradients to `d_params` (same flat layout as `params`) and returns the
/// gradient with respect to `input` when `want_input_grad` is set.
#[expect(
    clippy::too_many_arguments,
    reason = "the MLP's tape, its inputs and both gradients"
)]
pub fn mlp_backward<R: Real>(
    layers: &[LayerShape],
    params: &[R],
    input: &[R],
    n: usize,
    activations: &MlpActivations<R>,
    d_output: Vec<R>,
    d_params: &mut [R],
    want_input_grad: bool,
) -> Option<Vec<R>> {
    let mut d_y = d_output;
    for (i, layer) in layers.iter().enumerate().rev() {
        if i + 1 < layers.len() {
            // ReLU: the kept output is zero exactly where the gradient is cut (a select on
            // every element rather than a conditional store, so that the loop vectorises).
            for (d, y) in d_y.iter_mut().zip(&activations.layers[i]) {
                *d = if *y > R::zero() { *d } else { R::zero() };
            }
        }
        let x = if i == 0 {
            input
        } else {
            &activations.layers[i - 1]
        };
        // dW (outputs × inputs) += dYᵀ · X
        R::gemm(
            layer.outputs,
            n,
            layer.inputs,
            R::one(),
            &d_y,
            (1, layer.outputs),
            x,
            (layer.inputs, 1),
            R::one(),
            &mut d_params[layer.range()],
            layer.inputs,
        );
        if i > 0 || want_input_grad {
            // dX (n × inputs) = dY · W: a dense layer whose weights are Wᵀ.
            let w = &params[layer.range()];
            let w_t: Vec<R> = (0..layer.inputs * layer.outputs)
                .map(|j| w[(j % layer.outputs) * layer.inputs + j / layer.outputs])
                .collect();
            let mut d_x = vec![R::zero(); n * layer.inputs];
            R::dense_layer(
                &d_y,
                &w_t,
                [n, layer.outputs, layer.inputs],
                false,
                &mut d_x,
            );
            d_y = d_x;
        }
    }
    want_input_grad.then_some(d_y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Vec<LayerShape> {
        vec![
            LayerShape {
                inputs: 3,
                outputs: 4,
                offset: 0,
            },
            LayerShape {
                inputs: 4,
                outputs: 2,
                offset: 12,
            },
        ]
    }

    #[test]
    fn forward_applies_relu_between_layers() {
        let mut params = vec![0.0f64; 20];
        params[0] = 1.0; // hidden 0 = x0
        params[3 + 1] = -1.0; // hidden 1 = −x1
        params[12] = 2.0; // out 0 = 2·h0
        params[16 + 1] = 3.0; // out 1 = 3·h1
        let acts = mlp_forward(&layers(), &params, &[1.5, 2.0, 0.0, -1.0, -4.0, 0.0], 2);
        assert_eq!(acts.output(), &[3.0, 0.0, 0.0, 12.0]);
    }

    #[test]
    fn forward_into_reused_buffers_equals_a_fresh_forward() {
        let params: Vec<f64> = (0..20).map(|i| ((i * 5 % 9) as f64 - 4.0) * 0.2).collect();
        let mut reused = mlp_forward(&layers(), &params, &[0.5; 9], 3);
        let input = [0.3, -0.2, 0.9, 0.5, 0.1, -0.7];
        mlp_forward_into(&layers(), &params, &input, 2, &mut reused);
        let fresh = mlp_forward(&layers(), &params, &input, 2);
        assert_eq!(reused.layers, fresh.layers);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let params: Vec<f64> = (0..20).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.1).collect();
        let input = [0.3, -0.2, 0.9, 0.5, 0.1, -0.7];
        let loss = |p: &[f64], x: &[f64]| -> f64 {
            let acts = mlp_forward(&layers(), p, x, 2);
            acts.output()
                .iter()
                .enumerate()
                .map(|(i, v)| v * (i as f64 + 1.0))
                .sum()
        };
        let acts = mlp_forward(&layers(), &params, &input, 2);
        let d_out: Vec<f64> = (0..4).map(|i| i as f64 + 1.0).collect();
        let mut d_params = vec![0.0; 20];
        let d_input = mlp_backward(
            &layers(),
            &params,
            &input,
            2,
            &acts,
            d_out,
            &mut d_params,
            true,
        )
        .unwrap();
        let eps = 1e-6;
        for i in 0..20 {
            let (mut plus, mut minus) = (params.clone(), params.clone());
            plus[i] += eps;
            minus[i] -= eps;
            let fd = (loss(&plus, &input) - loss(&minus, &input)) / (2.0 * eps);
            assert!(
                (fd - d_params[i]).abs() < 1e-8,
                "weight {i}: {fd} vs {}",
                d_params[i]
            );
        }
        for i in 0..6 {
            let (mut plus, mut minus) = (input, input);
            plus[i] += eps;
            minus[i] -= eps;
            let fd = (loss(&params, &plus) - loss(&params, &minus)) / (2.0 * eps);
            assert!((fd - d_input[i]).abs() < 1e-8, "input {i}");
        }
    }
}
