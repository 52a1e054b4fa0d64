//! The shaders' view of a model and a frame: plain-old-data structs with the memory layout
//! of the WGSL structs of the same names (field.wgsl, render.wgsl, blend.wgsl), and the
//! padded MLP layout the generated field reads (field_source.rs).

use bytemuck::{Pod, Zeroable};

use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::config::ModelConfig;
use nerf_avatar::field::Model;
use nerf_avatar::march::MarchSettings;
use nerf_avatar::params::LayerShape;

use super::WgpuError;

/// Widest MLP layer the shaders hold (field.wgsl: `MAX_WIDTH`).
pub const MAX_WIDTH: usize = 128;
/// Samples a ray takes per round (dispatch of `march_rays`). llvmpipe stops an invocation's
/// loops after 65535 iterations in all: the generated field has no loops, so a round costs
/// one iteration per sample plus the skipping of empty cells.
const SAMPLES_PER_ROUND: u32 = 16;

/// One MLP layer in the padded upload ([`WgpuModelLayout::padded_weights`]), offset in groups
/// of four from the first MLP weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WgpuLayerShape {
    /// Width of the input.
    pub inputs: u32,
    /// Width of the output.
    pub outputs: u32,
    /// First row, in groups of four weights.
    pub offset: u32,
}

/// field.wgsl: `ModelInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct WgpuModelInfo {
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
pub struct WgpuModelLayout {
    /// The model's constants.
    pub info: WgpuModelInfo,
    /// The density MLP's layers, then the colour MLP's.
    pub layers: Vec<WgpuLayerShape>,
    /// Samples a live ray takes per dispatch of `march_rays`.
    pub samples_per_round: u32,
    /// The CPU layers (offsets in the flat parameter buffer), in the order of `layers`.
    cpu_layers: Vec<LayerShape>,
}

impl WgpuModelLayout {
    /// The layout of `model`; refuses models wider than the shaders hold or with tables
    /// too long for 32-bit indices.
    pub fn new(model: &Model) -> Result<Self, WgpuError> {
        let config: &ModelConfig = &model.config;
        let cpu_layers: Vec<LayerShape> = model
            .layout
            .density_layers
            .iter()
            .chain(&model.layout.color_layers)
            .copied()
            .collect();
        let mut quads = 0;
        let layers: Vec<WgpuLayerShape> = cpu_layers
            .iter()
            .map(|l| {
                let shape = WgpuLayerShape {
                    inputs: l.inputs as u32,
                    outputs: l.outputs as u32,
                    offset: quads as u32,
                };
                quads += l.outputs * l.inputs.div_ceil(4);
                shape
            })
            .collect();
        let density_layer_count = model.layout.density_layers.len() as u32;
        let color_layer_count = model.layout.color_layers.len() as u32;
        let widest = model
            .layout
            .density_layers
            .iter()
            .chain(&model.layout.color_layers)
            .flat_map(|l| [l.inputs, l.outputs])
            .max()
            .unwrap_or(0);
        if widest > MAX_WIDTH {
            return Err(WgpuError::Unsupported(format!(
                "an MLP layer is {widest} wide; the shaders hold at most {MAX_WIDTH}"
            )));
        }
        let table_len = u32::try_from(model.layout.table_len).map_err(|_| {
            WgpuError::Unsupported(format!(
                "a hash table of {} values needs 64-bit indices",
                model.layout.table_len
            ))
        })?;
        let settings = MarchSettings::inference(config);
        let info = WgpuModelInfo {
            level_count: model.grid.levels.len() as u32,
            features: model.grid.features as u32,
            density_layer_count,
            color_layer_count,
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
            samples_per_round: SAMPLES_PER_ROUND,
            layers,
            cpu_layers,
        })
    }

    /// The MLP weights from the flat parameter buffer `params`, each row padded with zeros
    /// to a multiple of four inputs (field.wgsl reads them four at a time).
    pub fn padded_weights(&self, params: &[f32]) -> Vec<[f32; 4]> {
        let mut padded = Vec::new();
        for layer in &self.cpu_layers {
            for row in params[layer.range()].chunks_exact(layer.inputs) {
                for quad in row.chunks(4) {
                    let mut values = [0.0; 4];
                    values[..quad.len()].copy_from_slice(quad);
                    padded.push(values);
                }
            }
        }
        padded
    }
}

/// An upper bound of the samples any ray of a camera at `pose` takes (march.rs): every
/// sample lies at least `t_min` = max(near distance, distance from the camera to the head
/// box) away, where the step is at least `step(t_min)` (the step grows with `t`), and a ray
/// crosses at most the box's diagonal.
pub fn max_samples_per_ray(config: &ModelConfig, pose: &Pose) -> u32 {
    let head_box = &config.head_box;
    let origin = pose.origin();
    let outside: f32 = (0..3)
        .map(|i| {
            let offset = (origin[i] - head_box.center[i]).abs() - head_box.half_extent;
            offset.max(0.0).powi(2)
        })
        .sum();
    let t_min = outside.sqrt().max(config.near_distance);
    let step = MarchSettings::inference(config).step(t_min);
    let diagonal = 2.0 * 3f32.sqrt() * head_box.half_extent;
    let bound = (diagonal / step).ceil() + 2.0;
    let most = nerf_avatar::march::MAX_SAMPLES_PER_RAY as f32;
    if bound.is_finite() {
        bound.min(most) as u32
    } else {
        most as u32
    }
}

/// render.wgsl: `FrameInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct WgpuFrameInfo {
    pose: [[f32; 4]; 3],
    focal_center: [f32; 4],
    size: [u32; 2],
    transmittance_threshold: f32,
    samples_per_round: u32,
    background: [f32; 4],
}

impl WgpuFrameInfo {
    /// A frame of `config`'s model seen through `intrinsics` from `pose`, over `background`,
    /// with the inference stopping rule, marched `samples_per_round` samples at a time.
    pub fn new(
        config: &ModelConfig,
        samples_per_round: u32,
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
            samples_per_round,
            background: [background[0], background[1], background[2], 1.0],
        }
    }
}

/// blend.wgsl: `BlendGroup`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct WgpuBlendGroup {
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
pub struct WgpuProbeInfo {
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
        assert_eq!(size_of::<WgpuModelInfo>(), 64);
        assert_eq!(size_of::<WgpuFrameInfo>(), 96);
        assert_eq!(size_of::<WgpuBlendGroup>(), 16);
    }

    #[test]
    fn weights_are_padded_to_groups_of_four() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let layout = WgpuModelLayout::new(&model).unwrap();
        let params: Vec<f32> = (0..model.layout.total()).map(|i| i as f32).collect();
        let padded = layout.padded_weights(&params);
        let color_input = model.layout.color_layers[0];
        assert_eq!(color_input.inputs, 31);
        let offset = layout.layers[model.layout.density_layers.len()].offset as usize;
        // Row 1 of the colour MLP's first layer: inputs 31..62, then one zero.
        let row = &padded[offset + 8..offset + 16];
        assert_eq!(row[0][0], (color_input.offset + 31) as f32);
        assert_eq!(
            row[7],
            [
                (color_input.offset + 59) as f32,
                (color_input.offset + 60) as f32,
                (color_input.offset + 61) as f32,
                0.0
            ]
        );
    }

    #[test]
    fn sample_bound_holds_for_a_ray_through_the_box() {
        let config = ModelConfig::tiny();
        let pose = Pose::orbit([0.0; 3], 0.6, 0.0, 0.0);
        let bound = max_samples_per_ray(&config, &pose);
        // 0.44 m away the step is the largest, 2·0.16/128: the diagonal takes ≤ 222 steps.
        assert_eq!(bound, 224);
        let inside = Pose::look_at([0.0; 3], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]);
        assert!(max_samples_per_ray(&config, &inside) > 1000);
    }

    #[test]
    fn paper_model_fits_and_a_too_wide_one_is_refused() {
        let layout = WgpuModelLayout::new(&Model::new(&ModelConfig::paper())).unwrap();
        assert_eq!(layout.layers.len(), 7);
        assert_eq!(layout.layers[0].offset, 0);
        assert_eq!(layout.layers[1].offset, 64 * 16);
        assert!((1..=16).contains(&layout.samples_per_round));
        let mut wide = ModelConfig::tiny();
        wide.density_mlp.hidden_width = 256;
        assert!(matches!(
            WgpuModelLayout::new(&Model::new(&wide)),
            Err(WgpuError::Unsupported(_))
        ));
    }
}
