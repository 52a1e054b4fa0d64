//! Which renderer `render` and `bench` use: `--backend auto|cpu|wgpu`.

use clap::ValueEnum;
use nerf_avatar::gpu::GpuDevice;
use nerf_avatar::gpu::wgpu::DeviceType;

/// A rendering backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RenderBackend {
    /// The WGSL renderer on a hardware GPU when there is one, else the CPU.
    Auto,
    /// The CPU reference backend.
    Cpu,
    /// The WGSL renderer on wgpu (any adapter, software ones such as lavapipe included).
    Wgpu,
}

/// The GPU device to render on, or `None` for the CPU; says which and why on stderr.
pub fn choose(backend: RenderBackend) -> anyhow::Result<Option<GpuDevice>> {
    match backend {
        RenderBackend::Cpu => {
            eprintln!("backend: cpu");
            Ok(None)
        }
        RenderBackend::Wgpu => {
            let gpu = GpuDevice::open()?;
            eprintln!("backend: wgpu on {}", gpu.describe());
            Ok(Some(gpu))
        }
        RenderBackend::Auto => match GpuDevice::open() {
            Ok(gpu) if gpu.info.device_type != DeviceType::Cpu => {
                eprintln!("backend: wgpu on {}", gpu.describe());
                Ok(Some(gpu))
            }
            Ok(gpu) => {
                eprintln!(
                    "backend: cpu (the only GPU adapter, {}, is a software one; --backend wgpu uses it)",
                    gpu.info.name
                );
                Ok(None)
            }
            Err(error) => {
                eprintln!("backend: cpu ({error})");
                Ok(None)
            }
        },
    }
}
