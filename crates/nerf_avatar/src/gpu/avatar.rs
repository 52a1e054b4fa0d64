//! An avatar's GPU state, uploaded once: its K + 1 hash tables (split into groups of whole
//! tables that each fit one storage binding), MLP weights, occupancy bits and the model's
//! shape.

use wgpu::util::DeviceExt;

use crate::asset::Avatar;
use crate::field::Model;

use super::GpuError;
use super::bindings::{bind_buffers, checked};
use super::layout::{GpuBlendGroup, GpuModelLayout};
use super::renderer::GpuRenderer;

/// Some of the K + 1 tables in one buffer, with the blend's uniform for them.
#[derive(Debug)]
pub(super) struct TableGroup {
    /// The group's bind group of blend.wgsl (group 0).
    pub bind_group: wgpu::BindGroup,
}

/// One avatar on one device, ready to render any number of frames (through [`super::GpuFrame`]s).
#[derive(Debug)]
pub struct GpuAvatar {
    /// The CPU model it was made from (configuration and layouts).
    pub model: Model,
    /// The shaders' view of the model.
    pub layout: GpuModelLayout,
    pub(super) table_groups: Vec<TableGroup>,
    /// Group 0 of the field shaders.
    pub(super) model_group: wgpu::BindGroup,
    /// Bytes of one blended table.
    pub(super) table_bytes: u64,
}

impl GpuAvatar {
    /// Uploads `avatar` (which should have passed [`Avatar::validate`]) to `device`.
    pub fn upload(
        renderer: &GpuRenderer,
        device: &wgpu::Device,
        avatar: &Avatar,
    ) -> Result<Self, GpuError> {
        let model = Model::new(&avatar.config);
        let layout = GpuModelLayout::new(&model)?;
        let limits = device.limits();
        let binding_limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let table_len = model.layout.table_len;
        let table_bytes = (table_len * size_of::<f32>()) as u64;
        if table_bytes > binding_limit {
            return Err(GpuError::TooLarge {
                what: "one hash table",
                bytes: table_bytes,
                limit: binding_limit,
            });
        }
        let mlp_weights = layout.padded_weights(&avatar.params.data);
        let mlp_bytes = size_of_val(mlp_weights.as_slice()) as u64;
        if mlp_bytes > binding_limit {
            return Err(GpuError::TooLarge {
                what: "the MLP weights",
                bytes: mlp_bytes,
                limit: binding_limit,
            });
        }
        let per_group = (binding_limit / table_bytes).max(1) as usize;
        let tables = avatar.params.tables();
        checked(device, || {
            let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
            };
            let storage = wgpu::BufferUsages::STORAGE;
            let table_count = model.layout.table_count;
            let table_groups = (0..table_count)
                .step_by(per_group)
                .map(|first| {
                    let count = per_group.min(table_count - first);
                    let values = &tables[first * table_len..(first + count) * table_len];
                    let buffer = init("nerf-avatar tables", bytemuck::cast_slice(values), storage);
                    let info = GpuBlendGroup {
                        table_len: table_len as u32,
                        first_table: first as u32,
                        table_count: count as u32,
                        accumulate: u32::from(first > 0),
                    };
                    let uniform = init(
                        "nerf-avatar table group",
                        bytemuck::bytes_of(&info),
                        wgpu::BufferUsages::UNIFORM,
                    );
                    TableGroup {
                        bind_group: bind_buffers(
                            device,
                            "nerf-avatar table group",
                            &renderer.blend_tables_layout,
                            &[(0, &uniform), (1, &buffer)],
                        ),
                    }
                })
                .collect();
            let info = init(
                "nerf-avatar model info",
                bytemuck::bytes_of(&layout.info),
                wgpu::BufferUsages::UNIFORM,
            );
            let levels = init(
                "nerf-avatar levels",
                bytemuck::cast_slice(&layout.levels),
                storage,
            );
            let layers = init(
                "nerf-avatar layers",
                bytemuck::cast_slice(&layout.layers),
                storage,
            );
            let weights = init(
                "nerf-avatar mlp",
                bytemuck::cast_slice(&mlp_weights),
                storage,
            );
            let mut bits = avatar.occupancy.bitfield.clone();
            bits.resize(bits.len().next_multiple_of(4), 0);
            let occupancy = init("nerf-avatar occupancy", &bits, storage);
            let model_group = bind_buffers(
                device,
                "nerf-avatar model",
                &renderer.model_layout,
                &[
                    (0, &info),
                    (1, &levels),
                    (2, &layers),
                    (3, &weights),
                    (4, &occupancy),
                ],
            );
            Self {
                model,
                layout,
                table_groups,
                model_group,
                table_bytes,
            }
        })
    }

    /// Number of blendshape coefficients a frame takes (K).
    pub fn blendshape_count(&self) -> usize {
        self.model.config.blendshape_count()
    }

    /// The K + 1 table weights of a frame: 1 for h0, then `weights` (already clamped, as
    /// [`crate::render::render_image`] takes them).
    pub(super) fn table_weights(&self, weights: &[f32]) -> Result<Vec<f32>, GpuError> {
        let k = self.blendshape_count();
        if weights.len() != k {
            return Err(GpuError::BadFrame(format!(
                "{} expression weights for an avatar of {k} blendshapes",
                weights.len()
            )));
        }
        if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
            return Err(GpuError::BadFrame(format!(
                "expression weight {i} is {}",
                weights[i]
            )));
        }
        Ok(std::iter::once(1.0)
            .chain(weights.iter().copied())
            .collect())
    }
}
