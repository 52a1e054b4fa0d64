//! The radiance field of one frame: blended hash encoding → density MLP (σ = softplus of the
//! first output, the rest is the geometry feature) → colour MLP on SH(view) ++ geometry
//! feature (RGB = sigmoid). Forward for a chunk of samples and its hand-written backward.

use crate::config::ModelConfig;
use crate::hashgrid::HashGridLayout;
use std::ops::Range;

use crate::mlp::{MlpActivations, mlp_backward, mlp_forward, mlp_forward_into};
use crate::params::{LayerShape, ParamLayout};
use crate::real::Real;
use crate::sh::{SH_COEFFICIENTS, sh_encode};
pub use nerf_avatar_simd::tiles::sigmoid;

/// A configuration made ready to evaluate: grid levels and parameter layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The configuration it was made from.
    pub config: ModelConfig,
    /// The hash grid's levels.
    pub grid: HashGridLayout,
    /// Where the parameters live.
    pub layout: ParamLayout,
    /// Both MLPs' weights in the flat buffer (right after the tables).
    pub mlp_params: Range<usize>,
    /// The density MLP's layers, offsets relative to `mlp_params.start`.
    density_layers: Vec<LayerShape>,
    /// The colour MLP's layers, offsets relative to `mlp_params.start`.
    color_layers: Vec<LayerShape>,
}

/// What the backward pass of a chunk of samples needs from its forward pass.
#[derive(Clone, Debug, Default)]
pub struct FieldTape<R> {
    /// Sample positions in the unit cube.
    pub positions: Vec<[R; 3]>,
    /// Hash encodings (`n × L·F`).
    pub encoding: Vec<R>,
    /// Density MLP activations.
    pub density: MlpActivations<R>,
    /// Colour MLP input (`n × (16 + geometry features)`).
    pub color_input: Vec<R>,
    /// Colour MLP activations.
    pub color: MlpActivations<R>,
}

/// Densities and colours of a chunk of samples.
#[derive(Clone, Debug, Default)]
pub struct FieldOutput<R> {
    /// σ ≥ 0 per sample.
    pub sigma: Vec<R>,
    /// RGB in (0, 1) per sample.
    pub rgb: Vec<[R; 3]>,
}

impl Model {
    /// Prepares a configuration (which should be valid).
    pub fn new(config: &ModelConfig) -> Self {
        let layout = ParamLayout::new(config);
        let mlp_params = layout.density().start..layout.color().end;
        let relative = |layers: &[LayerShape]| -> Vec<LayerShape> {
            layers
                .iter()
                .map(|l| LayerShape {
                    offset: l.offset - mlp_params.start,
                    ..*l
                })
                .collect()
        };
        Self {
            config: config.clone(),
            grid: HashGridLayout::new(&config.grid),
            density_layers: relative(&layout.density_layers),
            color_layers: relative(&layout.color_layers),
            mlp_params,
            layout,
        }
    }

    /// Densities only (no colour network), for the occupancy grid.
    pub fn density<R: Real>(&self, params: &[R], table: &[R], positions: &[[R; 3]]) -> Vec<R> {
        let n = positions.len();
        let encoding = self.encode(table, positions);
        let acts = mlp_forward(&self.density_layers, self.mlp(params), &encoding, n);
        let width = self.config.density_output_width();
        acts.output()
            .chunks_exact(width)
            .map(|row| softplus(row[0]))
            .collect()
    }

    /// Evaluates σ and RGB for `positions` (unit cube) seen along unit `directions`;
    /// `params` is the whole flat buffer, `table` the frame's blended table.
    pub fn field_forward<R: Real>(
        &self,
        params: &[R],
        table: &[R],
        positions: &[[R; 3]],
        directions: &[[R; 3]],
    ) -> (FieldOutput<R>, FieldTape<R>) {
        let n = positions.len();
        let mut output = FieldOutput {
            sigma: vec![R::zero(); n],
            rgb: vec![[R::zero(); 3]; n],
        };
        let mut tape = FieldTape::default();
        self.field_forward_into(
            params,
            table,
            positions,
            directions,
            (&mut output.sigma, &mut output.rgb),
            &mut tape,
        );
        (output, tape)
    }

    /// [`Self::field_forward`] into `sigma` and `rgb` (one value per sample) and into the
    /// buffers of an earlier tape, which are resized and overwritten: a loop that reuses its
    /// tapes touches no fresh memory.
    pub fn field_forward_into<R: Real>(
        &self,
        params: &[R],
        table: &[R],
        positions: &[[R; 3]],
        directions: &[[R; 3]],
        (sigma, rgb): (&mut [R], &mut [[R; 3]]),
        tape: &mut FieldTape<R>,
    ) {
        let n = positions.len();
        assert!(
            directions.len() == n && sigma.len() == n && rgb.len() == n,
            "one direction, σ and colour per sample"
        );
        tape.positions.clear();
        tape.positions.extend_from_slice(positions);
        tape.encoding
            .resize(n * self.grid.output_width(), R::zero());
        self.grid
            .encode_points(table, positions, &mut tape.encoding);
        let mlp = self.mlp(params);
        mlp_forward_into(
            &self.density_layers,
            mlp,
            &tape.encoding,
            n,
            &mut tape.density,
        );
        let density_width = self.config.density_output_width();
        let color_width = self.config.color_input_width();
        tape.color_input.resize(n * color_width, R::zero());
        for (((row, out), dir), s) in tape
            .color_input
            .chunks_exact_mut(color_width)
            .zip(tape.density.output().chunks_exact(density_width))
            .zip(directions)
            .zip(sigma.iter_mut())
        {
            *s = softplus(out[0]);
            row[..SH_COEFFICIENTS].copy_from_slice(&sh_encode(*dir));
            row[SH_COEFFICIENTS..].copy_from_slice(&out[1..]);
        }
        mlp_forward_into(
            &self.color_layers,
            mlp,
            &tape.color_input,
            n,
            &mut tape.color,
        );
        for (c, out) in tape.color.output().chunks_exact(3).zip(rgb.iter_mut()) {
            *out = [sigmoid(c[0]), sigmoid(c[1]), sigmoid(c[2])];
        }
    }

    /// Back-propagates `d_sigma` and `d_rgb` through the field: adds the MLP weight gradients
    /// to `d_mlp` (the `mlp_params` part of the flat layout) and the blended table's gradient
    /// to `d_table`.
    pub fn field_backward<R: Real>(
        &self,
        params: &[R],
        tape: &FieldTape<R>,
        d_sigma: &[R],
        d_rgb: &[[R; 3]],
        d_mlp: &mut [R],
        d_table: &mut [R],
    ) {
        let n = tape.positions.len();
        let mlp = self.mlp(params);
        let d_color_out: Vec<R> = tape
            .color
            .output()
            .chunks_exact(3)
            .zip(d_rgb)
            .flat_map(|(raw, d)| {
                std::array::from_fn::<R, 3, _>(|c| {
                    let s = sigmoid(raw[c]);
                    d[c] * s * (R::one() - s)
                })
            })
            .collect();
        let d_color_input = mlp_backward(
            &self.color_layers,
            mlp,
            &tape.color_input,
            n,
            &tape.color,
            d_color_out,
            d_mlp,
            true,
        )
        .unwrap_or_default();

        let density_width = self.config.density_output_width();
        let color_width = self.config.color_input_width();
        let mut d_density_out = vec![R::zero(); n * density_width];
        for (((d_out, raw), d_in), d_s) in d_density_out
            .chunks_exact_mut(density_width)
            .zip(tape.density.output().chunks_exact(density_width))
            .zip(d_color_input.chunks_exact(color_width))
            .zip(d_sigma)
        {
            d_out[0] = *d_s * sigmoid(raw[0]);
            d_out[1..].copy_from_slice(&d_in[SH_COEFFICIENTS..]);
        }
        let d_encoding = mlp_backward(
            &self.density_layers,
            mlp,
            &tape.encoding,
            n,
            &tape.density,
            d_density_out,
            d_mlp,
            true,
        )
        .unwrap_or_default();
        self.grid
            .encode_backward_points(&tape.positions, &d_encoding, d_table);
    }

    fn mlp<'a, R>(&self, params: &'a [R]) -> &'a [R] {
        &params[self.mlp_params.clone()]
    }

    fn encode<R: Real>(&self, table: &[R], positions: &[[R; 3]]) -> Vec<R> {
        let width = self.grid.output_width();
        let mut encoding = vec![R::zero(); positions.len() * width];
        self.grid.encode_points(table, positions, &mut encoding);
        encoding
    }
}

/// `ln(1 + e^x)`, computed without overflow.
pub fn softplus<R: Real>(x: R) -> R {
    x.max(R::zero()) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_are_stable_at_extremes() {
        assert_eq!(softplus(1000.0f32), 1000.0);
        assert!(softplus(-1000.0f32) >= 0.0);
        assert!((softplus(0.0f64) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(sigmoid(-1000.0f32), 0.0);
        assert_eq!(sigmoid(1000.0f32), 1.0);
    }
}
