//! The tensors of an asset: their names, and the shapes and parameter ranges that a
//! configuration implies.

use std::ops::Range;

use crate::occupancy::OccupancyGrid;
use crate::params::ParamLayout;

/// Name of the stacked hash tables, `[K + 1, entries, F]` (h0 first).
pub(crate) const TABLES: &str = "tables";
/// Name of the occupancy bitfield, `U8 [ceil(R³ / 8)]`.
pub(crate) const OCCUPANCY_BITFIELD: &str = "occupancy.bitfield";
/// Name of the optional occupancy densities, `F32 [R, R, R]`.
pub(crate) const OCCUPANCY_DENSITY: &str = "occupancy.density";

/// A tensor holding a slice of the flat parameter buffer.
pub(crate) struct ParamTensor {
    /// Its name in the file.
    pub name: String,
    /// Its shape in the file.
    pub shape: Vec<usize>,
    /// The values it holds in the flat buffer.
    pub range: Range<usize>,
}

/// The parameter tensors of a layout: `tables`, then `density_mlp.<i>` and `color_mlp.<i>`
/// as `[outputs, inputs]` matrices, input layer first.
pub(crate) fn param_tensors(layout: &ParamLayout, features: usize) -> Vec<ParamTensor> {
    let tables = ParamTensor {
        name: TABLES.to_owned(),
        shape: vec![
            layout.table_count,
            layout.table_len / features.max(1),
            features,
        ],
        range: layout.tables(),
    };
    let layers = |prefix: &str, shapes: &[crate::params::LayerShape]| {
        shapes
            .iter()
            .enumerate()
            .map(|(i, layer)| ParamTensor {
                name: format!("{prefix}.{i}"),
                shape: vec![layer.outputs, layer.inputs],
                range: layer.range(),
            })
            .collect::<Vec<_>>()
    };
    let mut tensors = vec![tables];
    tensors.extend(layers("density_mlp", &layout.density_layers));
    tensors.extend(layers("color_mlp", &layout.color_layers));
    tensors
}

/// Shape of the occupancy bitfield of a grid of `resolution` cells per axis.
pub(crate) fn bitfield_shape(resolution: u32) -> Vec<usize> {
    vec![OccupancyGrid::cell_count(resolution).div_ceil(8)]
}

/// Shape of the occupancy densities of a grid of `resolution` cells per axis.
pub(crate) fn density_shape(resolution: u32) -> Vec<usize> {
    vec![resolution as usize; 3]
}
