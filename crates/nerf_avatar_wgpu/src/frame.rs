//! One avatar instance's per-frame state: its expression weights, blended table, camera and
//! where it renders to (a storage buffer it owns, or the caller's storage texture).

use wgpu::util::DeviceExt;

use super::WgpuError;
use super::avatar::WgpuAvatar;
use super::bindings::{bind_buffers, checked};
use super::precision::StoragePrecision;
use super::renderer::WgpuRenderer;

/// Bytes of one output pixel in a buffer target: `vec4<f32>` (r, g, b, opacity).
pub const PIXEL_BYTES: u64 = 16;
/// Bytes of one pixel's depth in a buffer target: `f32`.
pub const DEPTH_BYTES: u64 = 4;
/// Bytes of one ray's state between rounds (render.wgsl: `RayState`, 36 bytes rounded up to
/// its 16-byte alignment).
const RAY_STATE_BYTES: u64 = 48;

/// Where a frame's pixels go.
#[derive(Clone, Copy, Debug)]
pub enum FrameTarget<'a> {
    /// Storage buffers owned by the frame ([`WgpuFrame::output`]): `width × height` pixels
    /// of `vec4<f32>` (colour over the background, opacity) and of `f32` depth, row-major
    /// from the top-left.
    Buffer {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The caller's 2D texture of format `Rgba8Unorm` with `STORAGE_BINDING` usage (of at
    /// least `width × height`): the head's own colour premultiplied by its opacity in linear
    /// light, sRGB-encoded, and the opacity (the request's background is not used; as
    /// `RenderedImage::to_linear_premultiplied_rgba8_bytes`). Sample it through an
    /// `Rgba8UnormSrgb` view and blend it with premultiplied alpha.
    Texture {
        /// A view of the texture's first mip level.
        view: &'a wgpu::TextureView,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// The buffers of a [`FrameTarget::Buffer`] target (`STORAGE | COPY_SRC | COPY_DST`).
#[derive(Debug)]
pub struct BufferOutput {
    /// Colour over the background and opacity per pixel (`vec4<f32>`).
    pub pixels: wgpu::Buffer,
    /// Depth per pixel (`f32`, as [`nerf_avatar::render::RenderedImage::depth`], with
    /// `f32::MAX` standing for infinity).
    pub depth: wgpu::Buffer,
}

/// Per-instance GPU state of one avatar: render any number of frames into one target.
#[derive(Debug)]
pub struct WgpuFrame {
    /// Width of the target in pixels.
    pub width: u32,
    /// Height of the target in pixels.
    pub height: u32,
    /// The output buffers of a [`FrameTarget::Buffer`] target.
    pub output: Option<BufferOutput>,
    /// Samples evaluated by the last frame (`u32`, `STORAGE | COPY_SRC | COPY_DST`).
    pub sample_count: wgpu::Buffer,
    pub(super) weights: wgpu::Buffer,
    /// The frame's blended table (`STORAGE | COPY_SRC | COPY_DST`).
    #[cfg_attr(
        not(feature = "probe"),
        expect(dead_code, reason = "read only by the probe")
    )]
    pub(super) blended: wgpu::Buffer,
    pub(super) info: wgpu::Buffer,
    pub(super) blend_group: wgpu::BindGroup,
    pub(super) render_group: wgpu::BindGroup,
    /// Group 1 of `march_rays`.
    pub(super) march_group: wgpu::BindGroup,
    /// How the blended table is stored.
    #[cfg_attr(
        not(feature = "probe"),
        expect(dead_code, reason = "read only by the probe")
    )]
    pub(super) precision: StoragePrecision,
    /// Values in the blended table.
    #[cfg_attr(
        not(feature = "probe"),
        expect(dead_code, reason = "read only by the probe")
    )]
    pub(super) table_len: usize,
}

impl WgpuFrame {
    /// Creates the state of one instance of `avatar` rendering into `target`.
    pub fn new(
        renderer: &WgpuRenderer,
        device: &wgpu::Device,
        avatar: &WgpuAvatar,
        target: FrameTarget<'_>,
    ) -> Result<Self, WgpuError> {
        let (width, height) = match target {
            FrameTarget::Buffer { width, height } | FrameTarget::Texture { width, height, .. } => {
                (width, height)
            }
        };
        let limit = device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > limit || height > limit {
            return Err(WgpuError::BadFrame(format!(
                "a {width}×{height} target (sides from 1 to {limit})"
            )));
        }
        let pixel_count = u64::from(width) * u64::from(height);
        let binding_limit = device.limits().max_storage_buffer_binding_size;
        let state_bytes = pixel_count * RAY_STATE_BYTES;
        if state_bytes > binding_limit {
            return Err(WgpuError::TooLarge {
                what: "the ray states of the image",
                bytes: state_bytes,
                limit: binding_limit,
            });
        }
        checked(device, || {
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
            let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            };
            let weight_bytes = (avatar.blendshape_count() as u64 + 1) * 4;
            let weights = buffer("nerf-avatar weights", weight_bytes, storage);
            let blended = buffer(
                "nerf-avatar blended table",
                avatar.table_bytes,
                storage | wgpu::BufferUsages::COPY_SRC,
            );
            let info = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("nerf-avatar frame"),
                contents: &[0; size_of::<super::layout::WgpuFrameInfo>()],
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
            let sample_count = buffer(
                "nerf-avatar sample count",
                4,
                storage | wgpu::BufferUsages::COPY_SRC,
            );
            let ray_states = buffer("nerf-avatar ray states", state_bytes, storage);
            let march_group = bind_buffers(
                device,
                "nerf-avatar march",
                &renderer.march_layout,
                &[(0, &blended), (1, &info), (5, &ray_states)],
            );
            let blend_group = bind_buffers(
                device,
                "nerf-avatar blend frame",
                &renderer.blend_frame_layout,
                &[(0, &weights), (1, &blended)],
            );
            let (output, render_group) = match target {
                FrameTarget::Buffer { .. } => {
                    let output = BufferOutput {
                        pixels: buffer(
                            "nerf-avatar pixels",
                            pixel_count * PIXEL_BYTES,
                            storage | wgpu::BufferUsages::COPY_SRC,
                        ),
                        depth: buffer(
                            "nerf-avatar depth",
                            pixel_count * DEPTH_BYTES,
                            storage | wgpu::BufferUsages::COPY_SRC,
                        ),
                    };
                    let group = bind_buffers(
                        device,
                        "nerf-avatar buffer target",
                        &renderer.buffer_target_layout,
                        &[
                            (0, &blended),
                            (1, &info),
                            (2, &output.pixels),
                            (4, &sample_count),
                            (5, &ray_states),
                            (6, &output.depth),
                        ],
                    );
                    (Some(output), group)
                }
                FrameTarget::Texture { view, .. } => {
                    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("nerf-avatar texture target"),
                        layout: &renderer.texture_target_layout,
                        entries: &[
                            wgpu::BindGroupEntry {
                                binding: 0,
                                resource: blended.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 1,
                                resource: info.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 3,
                                resource: wgpu::BindingResource::TextureView(view),
                            },
                            wgpu::BindGroupEntry {
                                binding: 4,
                                resource: sample_count.as_entire_binding(),
                            },
                            wgpu::BindGroupEntry {
                                binding: 5,
                                resource: ray_states.as_entire_binding(),
                            },
                        ],
                    });
                    (None, group)
                }
            };
            Self {
                width,
                height,
                output,
                sample_count,
                weights,
                blended,
                info,
                blend_group,
                render_group,
                march_group,
                precision: avatar.precision,
                table_len: avatar.model.layout.table_len,
            }
        })
    }
}
