//! An avatar's GPU state, uploaded once: its K + 1 hash tables (split into groups of whole
//! tables that each fit one storage binding), MLP weights (f32 or f16: [`StoragePrecision`]),
//! occupancy bits, and the marching pipeline compiled for the model's shape
//! ([`super::field_source`]).

use wgpu::util::DeviceExt;

use nerf_avatar::asset::Avatar;
use nerf_avatar::field::Model;

use super::WgpuError;
use super::bindings::{FIELD_WGSL, bind_buffers, checked, pipeline, shader};
use super::field_source::{WeightBinding, field_source};
use super::layout::{WgpuBlendGroup, WgpuModelLayout};
use super::precision::StoragePrecision;
use super::renderer::{MARCH_WGSL, RENDER_WGSL, WgpuRenderer};
use nerf_avatar_simd::f16_pairs::pack_f16_pairs;

/// Some of the K + 1 tables in one buffer, with the blend's uniform for them.
#[derive(Debug)]
pub(super) struct TableGroup {
    /// The group's bind group of blend.wgsl (group 0).
    pub bind_group: wgpu::BindGroup,
}

/// One avatar on one device, ready to render any number of frames (through [`super::WgpuFrame`]s).
#[derive(Debug)]
pub struct WgpuAvatar {
    /// The CPU model it was made from (configuration and layouts).
    pub model: Model,
    /// The shaders' view of the model.
    pub layout: WgpuModelLayout,
    pub(super) table_groups: Vec<TableGroup>,
    /// How the tables and MLP weights are stored.
    pub precision: StoragePrecision,
    /// Group 0 of the field shaders.
    pub(super) model_group: wgpu::BindGroup,
    /// Group 2 of the field shaders: the MLP weights.
    pub(super) weights_group: wgpu::BindGroup,
    /// The kind of buffer the weights are bound as.
    #[cfg_attr(
        not(feature = "probe"),
        expect(dead_code, reason = "read only by the probe")
    )]
    pub(super) weight_binding: WeightBinding,
    /// The generated WGSL of the model's field (appended to field.wgsl).
    #[cfg_attr(
        not(feature = "probe"),
        expect(dead_code, reason = "read only by the probe")
    )]
    pub(super) field_wgsl: String,
    /// `march_rays` compiled for this model.
    pub(super) march_pipeline: wgpu::ComputePipeline,
    /// Stored elements of one table (values for f32, words of two values for f16).
    pub(super) table_elements: u32,
    /// Bytes of one blended table.
    pub(super) table_bytes: u64,
}

impl WgpuAvatar {
    /// Uploads `avatar` (which should have passed [`Avatar::validate`]) to `device`, in the
    /// precision [`StoragePrecision::automatic`] chooses.
    pub fn upload(
        renderer: &WgpuRenderer,
        device: &wgpu::Device,
        avatar: &Avatar,
    ) -> Result<Self, WgpuError> {
        Self::upload_with_precision(
            renderer,
            device,
            avatar,
            StoragePrecision::automatic(avatar),
        )
    }

    /// [`Self::upload`] with the tables and MLP weights stored in `precision`.
    pub fn upload_with_precision(
        renderer: &WgpuRenderer,
        device: &wgpu::Device,
        avatar: &Avatar,
        precision: StoragePrecision,
    ) -> Result<Self, WgpuError> {
        let model = Model::new(&avatar.config);
        let layout = WgpuModelLayout::new(&model)?;
        let limits = device.limits();
        let binding_limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let table_len = model.layout.table_len;
        let table_elements = match precision {
            StoragePrecision::F32 => table_len,
            StoragePrecision::F16 => table_len.div_ceil(2),
        };
        let table_bytes = (table_elements * size_of::<u32>()) as u64;
        if table_bytes > binding_limit {
            return Err(WgpuError::TooLarge {
                what: "one hash table",
                bytes: table_bytes,
                limit: binding_limit,
            });
        }
        let quads = layout.padded_weights(&avatar.params.data);
        let mlp_words: Vec<u32> = match precision {
            StoragePrecision::F32 => quads.iter().flatten().map(|v| v.to_bits()).collect(),
            StoragePrecision::F16 => {
                let mut words = pack_f16_pairs(quads.as_flattened());
                words.resize(words.len().next_multiple_of(4), 0);
                words
            }
        };
        let weight_vectors = mlp_words.len() / 4;
        let mlp_bytes = (mlp_words.len() * size_of::<u32>()) as u64;
        let weight_binding = if mlp_bytes <= limits.max_uniform_buffer_binding_size {
            WeightBinding::Uniform
        } else {
            WeightBinding::Storage
        };
        if mlp_bytes > binding_limit {
            return Err(WgpuError::TooLarge {
                what: "the MLP weights",
                bytes: mlp_bytes,
                limit: binding_limit,
            });
        }
        let per_group = (binding_limit / table_bytes).max(1) as usize;
        let tables = avatar.params.tables();
        let field_wgsl = field_source(&model, &layout, precision, weight_binding, weight_vectors);
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
                    let buffer = match precision {
                        StoragePrecision::F32 => {
                            init("nerf-avatar tables", bytemuck::cast_slice(values), storage)
                        }
                        StoragePrecision::F16 => {
                            let words: Vec<u32> =
                                values.chunks(table_len).flat_map(pack_f16_pairs).collect();
                            init("nerf-avatar tables", bytemuck::cast_slice(&words), storage)
                        }
                    };
                    let info = WgpuBlendGroup {
                        table_len: table_elements as u32,
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
            let weight_usage = match weight_binding {
                WeightBinding::Uniform => wgpu::BufferUsages::UNIFORM,
                WeightBinding::Storage => storage,
            };
            let weights = init(
                "nerf-avatar mlp",
                bytemuck::cast_slice(&mlp_words),
                weight_usage,
            );
            let mut bits = avatar.occupancy.bitfield.clone();
            bits.resize(bits.len().next_multiple_of(4), 0);
            let occupancy = init("nerf-avatar occupancy", &bits, storage);
            let model_group = bind_buffers(
                device,
                "nerf-avatar model",
                &renderer.model_layout,
                &[(0, &info), (4, &occupancy)],
            );
            let weights_layout = renderer.weights_layout(weight_binding);
            let weights_group =
                bind_buffers(device, "nerf-avatar mlp", weights_layout, &[(0, &weights)]);
            let module = shader(
                device,
                "march.wgsl",
                &[FIELD_WGSL, &field_wgsl, RENDER_WGSL, MARCH_WGSL],
            );
            let march_pipeline = pipeline(
                device,
                &module,
                "march_rays",
                &[
                    &renderer.model_layout,
                    &renderer.march_layout,
                    weights_layout,
                ],
            );
            Self {
                model,
                layout,
                precision,
                table_groups,
                model_group,
                weights_group,
                weight_binding,
                field_wgsl,
                march_pipeline,
                table_elements: table_elements as u32,
                table_bytes,
            }
        })
    }

    /// Number of blendshape coefficients a frame takes (K).
    pub fn blendshape_count(&self) -> usize {
        self.model.config.blendshape_count()
    }

    /// The K + 1 table weights of a frame: 1 for h0, then `weights` (already checked against
    /// the avatar by `FrameRequest::check`, and clamped, as
    /// [`nerf_avatar::render::render_image`] takes them).
    pub(super) fn table_weights(&self, weights: &[f32]) -> Vec<f32> {
        std::iter::once(1.0)
            .chain(weights.iter().copied())
            .collect()
    }
}
