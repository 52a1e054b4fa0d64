//! The model's parameters in one flat buffer with views, as tiny-cuda-nn keeps them:
//! the K+1 hash tables (h0, h_1..h_K) back to back, then the density MLP's weight
//! matrices, then the colour MLP's. Gradients use the same layout.

use std::ops::Range;

use rand::Rng;

use crate::config::{MlpConfig, ModelConfig};
use crate::hashgrid::HashGridLayout;
use crate::real::Real;

/// Shape and place of one weight matrix (row-major `outputs × inputs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// Width of the layer's input.
    pub inputs: usize,
    /// Width of the layer's output.
    pub outputs: usize,
    /// Index of the first weight in the flat buffer.
    pub offset: usize,
}

impl LayerShape {
    /// The weights' range in the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.inputs * self.outputs
    }
}

/// Where every parameter group lives in the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    /// Values in one table: entries over all levels × features.
    pub table_len: usize,
    /// K + 1 tables: the neutral table h0 first.
    pub table_count: usize,
    /// The density MLP's matrices, input first.
    pub density_layers: Vec<LayerShape>,
    /// The colour MLP's matrices, input first.
    pub color_layers: Vec<LayerShape>,
}

impl ParamLayout {
    /// The layout of a configuration (which should have passed `validate` if untrusted).
    pub fn new(config: &ModelConfig) -> Self {
        let grid = HashGridLayout::new(&config.grid);
        let table_len = grid.table_len();
        let table_count = config.blendshape_count() + 1;
        let mut offset = table_len.saturating_mul(table_count);
        let density_layers = mlp_layers(
            config.encoding_width(),
            config.density_mlp,
            config.density_output_width(),
            &mut offset,
        );
        let color_layers = mlp_layers(config.color_input_width(), config.color_mlp, 3, &mut offset);
        Self {
            table_len,
            table_count,
            density_layers,
            color_layers,
        }
    }

    /// All tables, h0 first.
    pub fn tables(&self) -> Range<usize> {
        0..self.table_len * self.table_count
    }

    /// Table `i` (0 is h0, i is the i-th blendshape).
    pub fn table(&self, i: usize) -> Range<usize> {
        i * self.table_len..(i + 1) * self.table_len
    }

    /// All weights of the density MLP.
    pub fn density(&self) -> Range<usize> {
        span(&self.density_layers)
    }

    /// All weights of the colour MLP.
    pub fn color(&self) -> Range<usize> {
        span(&self.color_layers)
    }

    /// Number of parameters.
    pub fn total(&self) -> usize {
        self.color().end
    }
}

fn span(layers: &[LayerShape]) -> Range<usize> {
    let first = layers.first().map_or(0, |l| l.offset);
    let last = layers.last().map_or(first, |l| l.range().end);
    first..last
}

fn mlp_layers(
    inputs: usize,
    mlp: MlpConfig,
    outputs: usize,
    offset: &mut usize,
) -> Vec<LayerShape> {
    let hidden = mlp.hidden_width as usize;
    let mut widths = vec![inputs];
    widths.extend(std::iter::repeat_n(hidden, mlp.hidden_layers as usize));
    widths.push(outputs);
    widths
        .windows(2)
        .map(|w| {
            let layer = LayerShape {
                inputs: w[0],
                outputs: w[1],
                offset: *offset,
            };
            *offset = offset.saturating_add(w[0].saturating_mul(w[1]));
            layer
        })
        .collect()
}

/// A model's parameters (or their gradients) in the flat layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Params<R> {
    /// Where each group lives.
    pub layout: ParamLayout,
    /// Every parameter.
    pub data: Vec<R>,
}

impl<R: Real> Params<R> {
    /// All zeros (the start of a gradient).
    pub fn zeros(layout: ParamLayout) -> Self {
        let data = vec![R::zero(); layout.total()];
        Self { layout, data }
    }

    /// A fresh model: tables from U(-1e-4, 1e-4) as in instant-ngp, MLP weights from
    /// tiny-cuda-nn's uniform Xavier initialisation U(±sqrt(6 / (fan_in + fan_out))).
    pub fn init(config: &ModelConfig, rng: &mut impl Rng) -> Self {
        let mut params = Self::zeros(ParamLayout::new(config));
        for v in &mut params.data[params.layout.tables()] {
            *v = R::of(rng.random_range(-1e-4..1e-4));
        }
        let layers: Vec<LayerShape> = params
            .layout
            .density_layers
            .iter()
            .chain(&params.layout.color_layers)
            .copied()
            .collect();
        for layer in layers {
            let s = (6.0 / (layer.inputs + layer.outputs) as f64).sqrt();
            for v in &mut params.data[layer.range()] {
                *v = R::of(rng.random_range(-s..s));
            }
        }
        params
    }

    /// All K + 1 tables.
    pub fn tables(&self) -> &[R] {
        &self.data[self.layout.tables()]
    }

    /// Table `i` (0 is h0).
    pub fn table(&self, i: usize) -> &[R] {
        &self.data[self.layout.table(i)]
    }

    /// The density MLP's weights.
    pub fn density(&self) -> &[R] {
        &self.data[self.layout.density()]
    }

    /// The colour MLP's weights.
    pub fn color(&self) -> &[R] {
        &self.data[self.layout.color()]
    }

    /// Converts every value to another scalar type.
    pub fn cast<S: Real>(&self) -> Params<S> {
        Params {
            layout: self.layout.clone(),
            data: self
                .data
                .iter()
                .map(|v| S::of(v.to_f64().unwrap_or(0.0)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_layout_has_about_51m_parameters() {
        let layout = ParamLayout::new(&ModelConfig::paper());
        assert_eq!(layout.table_len, 244_120 * 4);
        assert_eq!(layout.table_count, 52);
        assert_eq!(layout.density_layers.len(), 5);
        assert_eq!(layout.density_layers[4].outputs, 65);
        assert_eq!(layout.color_layers[0].inputs, 80);
        let total = layout.total();
        assert!((50_000_000..52_000_000).contains(&total), "{total}");
        assert_eq!(layout.density().start, layout.tables().end);
        assert_eq!(layout.color().start, layout.density().end);
    }
}
