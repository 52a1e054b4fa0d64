//! The shaders' view of a model and a frame: plain-old-data structs with the memory layout
//! of the WGSL structs of the same names (field.wgsl, render.wgsl, blend.wgsl).

use bytemuck::{Pod, Zeroable};

use crate::camera::{Intrinsics, Pose};
use crate::config::ModelConfig;
use crate::field::Model;
use crate::hashgrid::GridLevel;
use crate::march::MarchSettings;
use crate::params::LayerShape;

use super::GpuError;

/// Widest MLP layer the shaders hold (field.wgsl: `MAX_WIDTH`).
pub const MAX_WIDTH: usize = 128;

/// field.wgsl: `GridLevel`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct GpuGridLevel {
    scale: f32,
    resolution: u32,
    size: u32,
    offset: u32,
    hashed: u32,
}

impl From<&GridLevel> for GpuGridLevel {
    fn from(level: &GridLevel) -> Self {
        Self {
            // The CPU encodes with the f64 scale rounded to f32, as here.
            scale: level.scale as f32,
            resolution: level.resolution,
            size: level.size,
            offset: level.offset,
            hashed: u32::from(level.hashed),
        }
    }
}

/// field.wgsl: `LayerShape`, offset relative to the first MLP weight.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct GpuLayerShape {
    inputs: u32,
    outputs: u32,
    offset: u32,
}

/// field.wgsl: `ModelInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct GpuModelInfo {
    level_count: u32,
    features: u32,
    density_layer_count: u32,
    color_layer_count: u32,
    geometry_features: u32,
    occupancy_resolution: u32,
    table_len: u32,
    pad: u32,
    head_center: [f32; 3],
    half_extent: f32,
    near_distance: f32,
    dt_gamma: f32,
    dt_min: f32,
    dt_max: f32,
}

/// Everything the shaders need to know about a model's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuModelLayout {
    /// The model's constants.
    pub info: GpuModelInfo,
    /// The hash grid's levels.
    pub levels: Vec<GpuGridLevel>,
    /// The density MLP's layers, then the colour MLP's.
    pub layers: Vec<GpuLayerShape>,
}

impl GpuModelLayout {
    /// The layout of `model`; refuses models wider than the shaders hold or with tables
    /// too long for 32-bit indices.
    pub fn new(model: &Model) -> Result<Self, GpuError> {
        let config: &ModelConfig = &model.config;
        let mlp_start = model.mlp_params.start;
        let shapes = |layers: &[LayerShape]| -> Vec<GpuLayerShape> {
            layers
                .iter()
                .map(|l| GpuLayerShape {
                    inputs: l.inputs as u32,
                    outputs: l.outputs as u32,
                    offset: (l.offset - mlp_start) as u32,
                })
                .collect()
        };
        let density = shapes(&model.layout.density_layers);
        let color = shapes(&model.layout.color_layers);
        let widest = model
            .layout
            .density_layers
            .iter()
            .chain(&model.layout.color_layers)
            .flat_map(|l| [l.inputs, l.outputs])
            .max()
            .unwrap_or(0);
        if widest > MAX_WIDTH {
            return Err(GpuError::Unsupported(format!(
                "an MLP layer is {widest} wide; the shaders hold at most {MAX_WIDTH}"
            )));
        }
        let table_len = u32::try_from(model.layout.table_len).map_err(|_| {
            GpuError::Unsupported(format!(
                "a hash table of {} values needs 64-bit indices",
                model.layout.table_len
            ))
        })?;
        let settings = MarchSettings::inference(config);
        let info = GpuModelInfo {
            level_count: model.grid.levels.len() as u32,
            features: model.grid.features as u32,
            density_layer_count: density.len() as u32,
            color_layer_count: color.len() as u32,
            geometry_features: config.geometry_features,
            occupancy_resolution: config.occupancy_resolution,
            table_len,
            pad: 0,
            head_center: config.head_box.center,
            half_extent: config.head_box.half_extent,
            near_distance: config.near_distance,
            dt_gamma: settings.dt_gamma,
            dt_min: settings.dt_min,
            dt_max: settings.dt_max,
        };
        Ok(Self {
            info,
            levels: model.grid.levels.iter().map(GpuGridLevel::from).collect(),
            layers: density.into_iter().chain(color).collect(),
        })
    }
}

/// render.wgsl: `FrameInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct GpuFrameInfo {
    pose: [[f32; 4]; 3],
    focal_center: [f32; 4],
    size: [u32; 2],
    transmittance_threshold: f32,
    pad: f32,
    background: [f32; 4],
}

impl GpuFrameInfo {
    /// A frame of `config`'s model seen through `intrinsics` from `pose`, over `background`,
    /// with the inference stopping rule.
    pub fn new(
        config: &ModelConfig,
        intrinsics: &Intrinsics,
        pose: &Pose,
        background: [f32; 3],
    ) -> Self {
        let m = &pose.0;
        Self {
            pose: [m[0], m[1], m[2]],
            focal_center: [intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy],
            size: [intrinsics.width, intrinsics.height],
            transmittance_threshold: MarchSettings::inference(config).transmittance_threshold,
            pad: 0.0,
            background: [background[0], background[1], background[2], 1.0],
        }
    }
}

/// blend.wgsl: `BlendGroup`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct GpuBlendGroup {
    /// Values in one table.
    pub table_len: u32,
    /// Index of the group's first table (0 is h0).
    pub first_table: u32,
    /// Tables in the group.
    pub table_count: u32,
    /// 0 for the first group, 1 for the others.
    pub accumulate: u32,
}

/// probe.wgsl: `ProbeInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct GpuProbeInfo {
    /// Points to evaluate.
    pub count: u32,
    /// Values per point in the output.
    pub out_width: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_have_the_wgsl_sizes() {
        assert_eq!(size_of::<GpuGridLevel>(), 20);
        assert_eq!(size_of::<GpuLayerShape>(), 12);
        assert_eq!(size_of::<GpuModelInfo>(), 64);
        assert_eq!(size_of::<GpuFrameInfo>(), 96);
        assert_eq!(size_of::<GpuBlendGroup>(), 16);
    }

    #[test]
    fn paper_model_fits_and_a_too_wide_one_is_refused() {
        let layout = GpuModelLayout::new(&Model::new(&ModelConfig::paper())).unwrap();
        assert_eq!(layout.layers.len(), 7);
        assert_eq!(layout.layers[0].offset, 0);
        let mut wide = ModelConfig::tiny();
        wide.density_mlp.hidden_width = 256;
        assert!(matches!(
            GpuModelLayout::new(&Model::new(&wide)),
            Err(GpuError::Unsupported(_))
        ));
    }
}
