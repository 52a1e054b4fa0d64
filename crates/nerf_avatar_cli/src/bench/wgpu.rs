//! The WGSL renderer beside the CPU reference in the same run: ms per frame at 256² and
//! 512² of the benchmark scene ([`nerf_avatar::scene::BenchScene`]), both backends rendering the
//! same frames, the WGSL renderer with f32 and with f16 storage.

use super::roofline::best_seconds;
use super::{BenchLine, BenchOptions};
use nerf_avatar::field::Model;
use nerf_avatar::render::{Background, render_image};
use nerf_avatar::renderer::FrameRequest;
use nerf_avatar::scene::BenchScene;
use nerf_avatar_wgpu::{FrameTarget, StoragePrecision, WgpuDevice, WgpuError, WgpuRenderer};

/// Image sides measured.
pub const WGPU_RENDER_SIZES: [u32; 2] = [256, 512];

/// Renders `scene` at each of [`WGPU_RENDER_SIZES`] with the CPU reference and with the WGSL
/// renderer on `gpu` (tables and weights stored in f32, then in f16), and returns ms per
/// frame of each and their ratio to the CPU. A GPU frame is recorded, submitted and waited
/// for (no copy to the host), as the Bevy plugin renders straight into its texture; shaders
/// are compiled (and, on lavapipe, JIT-compiled by a first frame) before timing. Each time
/// is the best of 3 frames (`quick`: of 1, for software adapters, where a 512² frame takes
/// minutes).
pub fn run_wgpu_render_suite(
    scene: &BenchScene,
    options: &BenchOptions,
    gpu: &WgpuDevice,
) -> Result<Vec<BenchLine>, WgpuError> {
    let repeats = if options.quick { 1 } else { 3 };
    let (avatar, weights) = (&scene.avatar, &scene.weights);
    let model = Model::new(&avatar.config);
    let renderer = WgpuRenderer::new(&gpu.device)?;
    let precisions = [StoragePrecision::F32, StoragePrecision::F16];
    let mut uploads = Vec::new();
    for precision in precisions {
        uploads.push(renderer.upload_with_precision(&gpu.device, avatar, precision)?);
    }
    let adapter = gpu.describe();
    let mut lines = Vec::new();
    for size in WGPU_RENDER_SIZES {
        let (intrinsics, pose) = scene.camera(size, size);
        let cpu = best_seconds(repeats, || {
            render_image(
                &model,
                &avatar.params,
                weights,
                &avatar.occupancy,
                &intrinsics,
                &pose,
                Background::Solid([1.0; 3]),
            );
        });
        lines.push(ms_line(
            format!("render {size}×{size} cpu (render_image)"),
            cpu,
            None,
        ));
        for (precision, gpu_avatar) in precisions.iter().zip(&uploads) {
            let frame = renderer.create_frame(
                &gpu.device,
                gpu_avatar,
                FrameTarget::Buffer {
                    width: size,
                    height: size,
                },
            )?;
            let request = FrameRequest {
                weights,
                intrinsics,
                pose,
                background: Background::Solid([1.0; 3]),
            };
            let render = || -> Result<(), WgpuError> {
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                renderer.encode_frame(&gpu.queue, &mut encoder, gpu_avatar, &frame, &request)?;
                gpu.queue.submit([encoder.finish()]);
                gpu.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|error| WgpuError::Device(error.to_string()))?;
                Ok(())
            };
            // lavapipe compiles a pipeline's machine code at its first dispatch.
            render()?;
            let mut failure = None;
            let wgpu_seconds = best_seconds(repeats, || {
                if let Err(error) = render() {
                    failure = Some(error);
                }
            });
            if let Some(error) = failure {
                return Err(error);
            }
            let storage = match precision {
                StoragePrecision::F32 => "f32",
                StoragePrecision::F16 => "f16",
            };
            lines.push(ms_line(
                format!("render {size}×{size} wgpu {storage} storage ({adapter})"),
                wgpu_seconds,
                Some(cpu / wgpu_seconds),
            ));
        }
    }
    Ok(lines)
}

fn ms_line(name: String, seconds: f64, speedup: Option<f64>) -> BenchLine {
    BenchLine {
        name,
        value: seconds * 1e3,
        unit: "ms/frame".into(),
        compared_to: if speedup.is_some() {
            "the CPU render of the same frame in this run".into()
        } else {
            String::new()
        },
        ratio: speedup,
        ratio_meaning: if speedup.is_some() {
            "CPU time / wgpu time".into()
        } else {
            String::new()
        },
        goal: None,
    }
}
