//! The renderer of one device: its pipelines (blend, start and finish the rays into a buffer
//! or a texture; each avatar compiles its own marching pipeline) and the per-frame work:
//! write the frame's weights and camera, blend the tables, render every pixel.

use nerf_avatar::asset::Avatar;
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::FrameRequest;

use super::WgpuError;
use super::avatar::WgpuAvatar;
use super::bindings::{FIELD_WGSL, checked, model_layout, pipeline, shader, storage, uniform};
use super::field_source::WeightBinding;
use super::frame::{DEPTH_BYTES, FrameTarget, PIXEL_BYTES, WgpuFrame};
use super::layout::{WgpuFrameInfo, max_samples_per_ray};
use super::precision::StoragePrecision;
use super::readback::{floats, read_buffer};

const BLEND_WGSL: &str = include_str!("../../../shaders/blend.wgsl");
const TABLE_F32_WGSL: &str = include_str!("../../../shaders/table_f32.wgsl");
const TABLE_F16_WGSL: &str = include_str!("../../../shaders/table_f16.wgsl");
/// Source of render.wgsl (rays and pixels), appended to field.wgsl.
pub(super) const RENDER_WGSL: &str = include_str!("../../../shaders/render.wgsl");
/// Source of march.wgsl, appended to an avatar's field and render.wgsl.
pub(super) const MARCH_WGSL: &str = include_str!("../../../shaders/march.wgsl");
/// blend.wgsl's workgroup size.
const BLEND_WORKGROUP: u32 = 256;
/// render.wgsl's workgroup edge (8 × 8 pixels).
const RENDER_TILE: u32 = 8;
/// Most workgroups along one dispatch dimension (WebGPU's guaranteed minimum).
const MAX_WORKGROUPS: u32 = 65_535;

/// The GPU renderer of one device. Create it once per device; upload avatars with
/// [`WgpuAvatar::upload`], make one [`WgpuFrame`] per instance and target, and record frames
/// with [`WgpuRenderer::encode_frame`] (or render to host memory with
/// [`WgpuRenderer::render_image`]).
#[derive(Debug)]
pub struct WgpuRenderer {
    pub(super) blend_tables_layout: wgpu::BindGroupLayout,
    pub(super) blend_frame_layout: wgpu::BindGroupLayout,
    pub(super) model_layout: wgpu::BindGroupLayout,
    pub(super) buffer_target_layout: wgpu::BindGroupLayout,
    pub(super) texture_target_layout: wgpu::BindGroupLayout,
    /// Group 1 of `march_rays`: the blended table, the frame and the ray states.
    pub(super) march_layout: wgpu::BindGroupLayout,
    /// Group 2 of the field: MLP weights in a uniform buffer.
    weights_uniform_layout: wgpu::BindGroupLayout,
    /// Group 2 of the field: MLP weights in a storage buffer.
    weights_storage_layout: wgpu::BindGroupLayout,
    blend_pipeline: wgpu::ComputePipeline,
    blend_f16_pipeline: wgpu::ComputePipeline,
    buffer_pipelines: RayPipelines,
    texture_pipelines: RayPipelines,
}

/// The first and last stages of rendering into one kind of target (the marching between
/// them is compiled for each avatar).
#[derive(Debug)]
struct RayPipelines {
    begin: wgpu::ComputePipeline,
    finish: wgpu::ComputePipeline,
}

impl RayPipelines {
    fn new(
        device: &wgpu::Device,
        module: &wgpu::ShaderModule,
        groups: &[&wgpu::BindGroupLayout],
        finish: &str,
    ) -> Self {
        Self {
            begin: pipeline(device, module, "begin_rays", groups),
            finish: pipeline(device, module, finish, groups),
        }
    }
}

impl WgpuRenderer {
    /// Compiles the shaders for `device` (any device: the command line's own, or the one a
    /// game engine renders with).
    pub fn new(device: &wgpu::Device) -> Result<Self, WgpuError> {
        checked(device, || {
            let layout = |label: &str, entries: &[wgpu::BindGroupLayoutEntry]| {
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(label),
                    entries,
                })
            };
            let blend_tables_layout =
                layout("nerf-avatar table group", &[uniform(0), storage(1, true)]);
            let blend_frame_layout = layout(
                "nerf-avatar blend frame",
                &[storage(0, true), storage(1, false)],
            );
            let model_layout = model_layout(device);
            let buffer_target_layout = layout(
                "nerf-avatar buffer target",
                &[
                    storage(0, true),
                    uniform(1),
                    storage(2, false),
                    storage(4, false),
                    storage(5, false),
                    storage(6, false),
                ],
            );
            let texture = wgpu::BindGroupLayoutEntry {
                binding: 3,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::StorageTexture {
                    access: wgpu::StorageTextureAccess::WriteOnly,
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    view_dimension: wgpu::TextureViewDimension::D2,
                },
                count: None,
            };
            let texture_target_layout = layout(
                "nerf-avatar texture target",
                &[
                    storage(0, true),
                    uniform(1),
                    texture,
                    storage(4, false),
                    storage(5, false),
                ],
            );
            let march_layout = layout(
                "nerf-avatar march",
                &[storage(0, true), uniform(1), storage(5, false)],
            );
            let weights_uniform_layout = layout("nerf-avatar mlp", &[uniform(0)]);
            let weights_storage_layout = layout("nerf-avatar mlp", &[storage(0, true)]);
            let blend = shader(device, "blend.wgsl (f32)", &[TABLE_F32_WGSL, BLEND_WGSL]);
            let blend_f16 = shader(device, "blend.wgsl (f16)", &[TABLE_F16_WGSL, BLEND_WGSL]);
            let render = shader(device, "render.wgsl", &[FIELD_WGSL, RENDER_WGSL]);
            let blend_groups = [&blend_tables_layout, &blend_frame_layout];
            let blend_pipeline = pipeline(device, &blend, "blend_tables", &blend_groups);
            let blend_f16_pipeline = pipeline(device, &blend_f16, "blend_tables", &blend_groups);
            let buffer_pipelines = RayPipelines::new(
                device,
                &render,
                &[&model_layout, &buffer_target_layout],
                "finish_rays",
            );
            let texture_pipelines = RayPipelines::new(
                device,
                &render,
                &[&model_layout, &texture_target_layout],
                "finish_texture",
            );
            Self {
                blend_tables_layout,
                blend_frame_layout,
                model_layout,
                buffer_target_layout,
                texture_target_layout,
                march_layout,
                weights_uniform_layout,
                weights_storage_layout,
                blend_pipeline,
                blend_f16_pipeline,
                buffer_pipelines,
                texture_pipelines,
            }
        })
    }

    /// Uploads an avatar (see [`WgpuAvatar::upload`]).
    pub fn upload(&self, device: &wgpu::Device, avatar: &Avatar) -> Result<WgpuAvatar, WgpuError> {
        WgpuAvatar::upload(self, device, avatar)
    }

    /// Uploads an avatar stored in `precision` (see [`WgpuAvatar::upload_with_precision`]).
    pub fn upload_with_precision(
        &self,
        device: &wgpu::Device,
        avatar: &Avatar,
        precision: StoragePrecision,
    ) -> Result<WgpuAvatar, WgpuError> {
        WgpuAvatar::upload_with_precision(self, device, avatar, precision)
    }

    /// The layout of the field's group 2 for weights bound as `binding`.
    pub(super) fn weights_layout(&self, binding: WeightBinding) -> &wgpu::BindGroupLayout {
        match binding {
            WeightBinding::Uniform => &self.weights_uniform_layout,
            WeightBinding::Storage => &self.weights_storage_layout,
        }
    }

    /// Creates one instance's frame state (see [`WgpuFrame::new`]).
    pub fn create_frame(
        &self,
        device: &wgpu::Device,
        avatar: &WgpuAvatar,
        target: FrameTarget<'_>,
    ) -> Result<WgpuFrame, WgpuError> {
        WgpuFrame::new(self, device, avatar, target)
    }

    /// Records one frame of `avatar` into `encoder`: writes the request's weights and camera
    /// (through `queue`, so they take effect when the encoder is submitted: use one
    /// [`WgpuFrame`] per instance rendered in the same submission), blends the tables and
    /// renders every pixel of `frame`'s target, marching the rays in as many rounds as the
    /// longest ray of this camera can need. No host round trip. A request that does not fit
    /// the avatar ([`FrameRequest::check`]) or the target, or whose background is not one
    /// colour, is refused before anything is written.
    pub fn encode_frame(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        avatar: &WgpuAvatar,
        frame: &WgpuFrame,
        request: &FrameRequest<'_>,
    ) -> Result<(), WgpuError> {
        request
            .check(avatar.blendshape_count())
            .map_err(|error| WgpuError::BadFrame(error.to_string()))?;
        let k = &request.intrinsics;
        if (k.width, k.height) != (frame.width, frame.height) {
            return Err(WgpuError::BadFrame(format!(
                "a camera of {}×{} for a {}×{} target",
                k.width, k.height, frame.width, frame.height
            )));
        }
        let Background::Solid(background) = request.background else {
            return Err(WgpuError::BadFrame(
                "the WGSL renderer draws over one colour; `WgpuAvatarRenderer` adds an image \
                 background on the host"
                    .into(),
            ));
        };
        let weights = avatar.table_weights(request.weights);
        let samples_per_round = avatar.layout.samples_per_round;
        let rounds =
            max_samples_per_ray(&avatar.model.config, &request.pose).div_ceil(samples_per_round);
        let info = WgpuFrameInfo::new(
            &avatar.model.config,
            samples_per_round,
            &request.intrinsics,
            &request.pose,
            background,
        );
        queue.write_buffer(&frame.weights, 0, bytemuck::cast_slice(&weights));
        queue.write_buffer(&frame.info, 0, bytemuck::bytes_of(&info));
        queue.write_buffer(&frame.sample_count, 0, &[0; 4]);

        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("nerf-avatar frame"),
            timestamp_writes: None,
        });
        let blend_workgroups = avatar
            .table_elements
            .div_ceil(BLEND_WORKGROUP)
            .clamp(1, MAX_WORKGROUPS);
        pass.set_pipeline(match avatar.precision {
            StoragePrecision::F32 => &self.blend_pipeline,
            StoragePrecision::F16 => &self.blend_f16_pipeline,
        });
        pass.set_bind_group(1, &frame.blend_group, &[]);
        for group in &avatar.table_groups {
            pass.set_bind_group(0, &group.bind_group, &[]);
            pass.dispatch_workgroups(blend_workgroups, 1, 1);
        }
        let pipelines = if frame.output.is_some() {
            &self.buffer_pipelines
        } else {
            &self.texture_pipelines
        };
        let (x, y) = (
            frame.width.div_ceil(RENDER_TILE),
            frame.height.div_ceil(RENDER_TILE),
        );
        pass.set_bind_group(0, &avatar.model_group, &[]);
        pass.set_bind_group(1, &frame.render_group, &[]);
        pass.set_pipeline(&pipelines.begin);
        pass.dispatch_workgroups(x, y, 1);
        pass.set_pipeline(&avatar.march_pipeline);
        pass.set_bind_group(1, &frame.march_group, &[]);
        pass.set_bind_group(2, &avatar.weights_group, &[]);
        for _ in 0..rounds {
            pass.dispatch_workgroups(x, y, 1);
        }
        pass.set_bind_group(1, &frame.render_group, &[]);
        pass.set_pipeline(&pipelines.finish);
        pass.dispatch_workgroups(x, y, 1);
        Ok(())
    }

    /// Renders one frame into a buffer target and copies it to host memory: the GPU twin of
    /// [`nerf_avatar::render::render_image`] with a solid background. The target is first filled
    /// with NaN, so that a pixel the render did not write is reported as an error.
    pub fn render_image(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        avatar: &WgpuAvatar,
        request: &FrameRequest<'_>,
    ) -> Result<RenderedImage, WgpuError> {
        let (width, height) = (request.intrinsics.width, request.intrinsics.height);
        let frame = self.create_frame(device, avatar, FrameTarget::Buffer { width, height })?;
        self.render_frame(device, queue, avatar, &frame, request)
    }

    /// [`Self::render_image`] into an existing buffer target (see [`Self::create_frame`]).
    pub fn render_frame(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        avatar: &WgpuAvatar,
        frame: &WgpuFrame,
        request: &FrameRequest<'_>,
    ) -> Result<RenderedImage, WgpuError> {
        let Some(output) = &frame.output else {
            return Err(WgpuError::BadFrame(
                "render_frame reads back a buffer target, not a texture".into(),
            ));
        };
        let pixel_count = u64::from(frame.width) * u64::from(frame.height);
        let unwritten = vec![f32::NAN; pixel_count as usize * 4];
        queue.write_buffer(&output.pixels, 0, bytemuck::cast_slice(&unwritten));
        let unwritten = &unwritten[..pixel_count as usize];
        queue.write_buffer(&output.depth, 0, bytemuck::cast_slice(unwritten));
        let mut encoder = device.create_command_encoder(&Default::default());
        self.encode_frame(queue, &mut encoder, avatar, frame, request)?;
        let finished = checked(device, || queue.submit([encoder.finish()]));
        finished?;
        let pixels = read_buffer(device, queue, &output.pixels, pixel_count * PIXEL_BYTES)?;
        let depth = read_buffer(device, queue, &output.depth, pixel_count * DEPTH_BYTES)?;
        let count = read_buffer(device, queue, &frame.sample_count, 4)?;
        let values: Vec<[f32; 4]> = floats(&pixels)
            .chunks_exact(4)
            .map(|v| [v[0], v[1], v[2], v[3]])
            .collect();
        let depth: Vec<f32> = floats(&depth)
            .into_iter()
            .map(|d| if d == f32::MAX { f32::INFINITY } else { d })
            .collect();
        let unwritten = values
            .iter()
            .zip(&depth)
            .position(|(v, d)| v.iter().any(|c| !c.is_finite()) || d.is_nan());
        if let Some(i) = unwritten {
            let i = i as u32;
            return Err(WgpuError::UnwrittenPixel {
                x: i % frame.width,
                y: i / frame.width,
            });
        }
        Ok(RenderedImage {
            width: frame.width,
            height: frame.height,
            rgb: values.iter().map(|v| [v[0], v[1], v[2]]).collect(),
            alpha: values.iter().map(|v| v[3]).collect(),
            depth,
            samples: count.first_chunk().map_or(0, |b| u32::from_le_bytes(*b)) as usize,
        })
    }
}
