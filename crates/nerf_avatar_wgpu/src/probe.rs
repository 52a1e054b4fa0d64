//! Stage kernels for conformance tests: run the blend, the hash encoding or the whole field
//! of the shaders on given inputs and read the results back, to compare each stage with its
//! CPU twin (hashgrid.rs: `blend_tables`, `encode_points`; field.rs: `Model::field_forward`).

use wgpu::util::DeviceExt;

use super::WgpuError;
use super::avatar::WgpuAvatar;
use super::bindings::{FIELD_WGSL, bind_buffers, checked, pipeline, shader, storage, uniform};
use super::field_source::WeightBinding;
use super::frame::WgpuFrame;
use super::layout::WgpuProbeInfo;
use super::precision::StoragePrecision;
use super::readback::{floats, read_buffer};
use super::renderer::WgpuRenderer;
use nerf_avatar_simd::f16_pairs::unpack_f16_pairs;

const PROBE_WGSL: &str = include_str!("../../../shaders/probe.wgsl");
/// probe.wgsl's workgroup size.
const PROBE_WORKGROUP: u32 = 64;

/// The stage kernels of one device (compiled for each avatar's field when run).
#[derive(Debug)]
pub struct WgpuProbe {
    points_layout: wgpu::BindGroupLayout,
    model_layout: wgpu::BindGroupLayout,
    weights_layouts: [wgpu::BindGroupLayout; 2],
}

impl WgpuProbe {
    /// Prepares the stage kernels for `device`.
    pub fn new(renderer: &WgpuRenderer, device: &wgpu::Device) -> Result<Self, WgpuError> {
        checked(device, || {
            let points_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("nerf-avatar probe"),
                entries: &[
                    storage(0, true),
                    uniform(1),
                    storage(2, true),
                    storage(3, true),
                    storage(4, false),
                ],
            });
            Self {
                points_layout,
                model_layout: renderer.model_layout.clone(),
                weights_layouts: [WeightBinding::Uniform, WeightBinding::Storage]
                    .map(|binding| renderer.weights_layout(binding).clone()),
            }
        })
    }

    /// The blended table of `frame`'s last encoded frame (see [`WgpuRenderer::encode_frame`]).
    pub fn blended_table(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frame: &WgpuFrame,
    ) -> Result<Vec<f32>, WgpuError> {
        let bytes = frame.blended.size();
        let data = read_buffer(device, queue, &frame.blended, bytes)?;
        let mut values = match frame.precision {
            StoragePrecision::F32 => floats(&data),
            StoragePrecision::F16 => {
                let words: Vec<u32> = bytemuck::pod_collect_to_vec(&data);
                unpack_f16_pairs(&words)
            }
        };
        values.truncate(frame.table_len);
        Ok(values)
    }

    /// The hash encodings (rows of L · F values) of `points` with `frame`'s blended table.
    pub fn encode_points(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        avatar: &WgpuAvatar,
        frame: &WgpuFrame,
        points: &[[f32; 3]],
    ) -> Result<Vec<f32>, WgpuError> {
        let width = avatar.model.grid.output_width();
        let directions = vec![[0.0, 0.0, 1.0]; points.len()];
        self.run(
            device,
            queue,
            avatar,
            frame,
            "encode_points",
            points,
            &directions,
            width,
        )
    }

    /// σ and RGB as rows of (r, g, b, σ) at `points` seen along unit `directions`, with
    /// `frame`'s blended table.
    pub fn field_points(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        avatar: &WgpuAvatar,
        frame: &WgpuFrame,
        points: &[[f32; 3]],
        directions: &[[f32; 3]],
    ) -> Result<Vec<f32>, WgpuError> {
        self.run(
            device,
            queue,
            avatar,
            frame,
            "field_points",
            points,
            directions,
            4,
        )
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "device, avatar, frame, kernel and its inputs"
    )]
    fn run(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        avatar: &WgpuAvatar,
        frame: &WgpuFrame,
        kernel: &str,
        points: &[[f32; 3]],
        directions: &[[f32; 3]],
        out_width: usize,
    ) -> Result<Vec<f32>, WgpuError> {
        if points.is_empty() || points.len() != directions.len() {
            return Err(WgpuError::BadFrame(format!(
                "{} points and {} directions",
                points.len(),
                directions.len()
            )));
        }
        let padded = |v: &[[f32; 3]]| -> Vec<[f32; 4]> {
            v.iter().map(|p| [p[0], p[1], p[2], 0.0]).collect()
        };
        let out_bytes = (points.len() * out_width * 4) as u64;
        let count = points.len() as u32;
        let (encoder, out) = checked(device, || {
            let init = |label: &str, contents: &[u8], usage| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
            };
            let info = WgpuProbeInfo {
                count,
                out_width: out_width as u32,
            };
            let info = init(
                "probe info",
                bytemuck::bytes_of(&info),
                wgpu::BufferUsages::UNIFORM,
            );
            let storage = wgpu::BufferUsages::STORAGE;
            let points = init(
                "probe points",
                bytemuck::cast_slice(&padded(points)),
                storage,
            );
            let directions = init(
                "probe dirs",
                bytemuck::cast_slice(&padded(directions)),
                storage,
            );
            let out = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("probe out"),
                size: out_bytes,
                usage: storage | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let group = bind_buffers(
                device,
                "probe",
                &self.points_layout,
                &[
                    (0, &frame.blended),
                    (1, &info),
                    (2, &points),
                    (3, &directions),
                    (4, &out),
                ],
            );
            let module = shader(
                device,
                "probe.wgsl",
                &[FIELD_WGSL, &avatar.field_wgsl, PROBE_WGSL],
            );
            let weights_layout = match avatar.weight_binding {
                WeightBinding::Uniform => &self.weights_layouts[0],
                WeightBinding::Storage => &self.weights_layouts[1],
            };
            let groups = [&self.model_layout, &self.points_layout, weights_layout];
            let kernel = pipeline(device, &module, kernel, &groups);
            let mut encoder = device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&kernel);
                pass.set_bind_group(0, &avatar.model_group, &[]);
                pass.set_bind_group(1, &group, &[]);
                pass.set_bind_group(2, &avatar.weights_group, &[]);
                pass.dispatch_workgroups(count.div_ceil(PROBE_WORKGROUP), 1, 1);
            }
            (encoder, out)
        })?;
        queue.submit([encoder.finish()]);
        Ok(floats(&read_buffer(device, queue, &out, out_bytes)?))
    }
}
