//! `--backend auto|cpu|cuda|wgpu`: which backend runs, and why.
//!
//! Rendering may run on the CPU reference, on CUDA (NVIDIA GPUs) or on the WGSL renderer
//! (any GPU wgpu drives, software adapters such as lavapipe included); training runs on the
//! CPU or on CUDA. `auto` takes CUDA when a device works, then (for rendering) a hardware
//! wgpu adapter, and otherwise the CPU, saying why; it also renders on the CPU when the
//! avatar cannot be put on the GPU it took (too little memory). Naming a backend fails with
//! the reason when it cannot run.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::ValueEnum;
use nerf_avatar::asset::Avatar;
use nerf_avatar::field::Model;
use nerf_avatar::renderer::{CpuRenderer, Renderer};
use nerf_avatar_cuda::device::CudaDevice;
use nerf_avatar_cuda::open_default_device;
use nerf_avatar_cuda::render::CudaRenderer;
use nerf_avatar_wgpu::wgpu::DeviceType;
use nerf_avatar_wgpu::{WgpuAvatarRenderer, WgpuDevice};

/// The compute backend asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// CUDA when a GPU works, else (for rendering) a hardware GPU through wgpu, else the CPU.
    Auto,
    /// The CPU reference backend.
    Cpu,
    /// NVIDIA GPUs through CUDA (an error when none works).
    Cuda,
    /// The WGSL renderer on wgpu, any adapter (rendering only).
    Wgpu,
}

/// The backend that runs.
pub enum Chosen {
    /// The CPU reference backend.
    Cpu,
    /// A CUDA device with the kernels loaded.
    Cuda(Arc<CudaDevice>),
    /// A wgpu device for the WGSL renderer.
    Wgpu(Arc<WgpuDevice>),
}

/// Opens the rendering backend asked for and prints which one runs and why.
pub fn choose_renderer(requested: Backend) -> anyhow::Result<Chosen> {
    match requested {
        Backend::Wgpu => {
            let gpu =
                WgpuDevice::open().context("--backend wgpu (--backend cpu runs on the CPU)")?;
            eprintln!("backend: wgpu on {}", gpu.describe());
            Ok(Chosen::Wgpu(Arc::new(gpu)))
        }
        Backend::Auto => match open_default_device() {
            Ok(device) => Ok(Chosen::Cuda(cuda_chosen_by_auto(device))),
            Err(cuda) => match WgpuDevice::open() {
                Ok(gpu) if gpu.info.device_type != DeviceType::Cpu => {
                    eprintln!(
                        "backend: wgpu on {} (chosen by --backend auto; no CUDA: {cuda})",
                        gpu.describe()
                    );
                    Ok(Chosen::Wgpu(Arc::new(gpu)))
                }
                Ok(gpu) => {
                    eprintln!(
                        "backend: cpu (--backend auto: no CUDA ({cuda}), and the only wgpu \
                         adapter, {}, is a software one; --backend wgpu uses it)",
                        gpu.info.name
                    );
                    Ok(Chosen::Cpu)
                }
                Err(wgpu) => {
                    eprintln!("backend: cpu (--backend auto: no CUDA ({cuda}), no wgpu ({wgpu}))");
                    Ok(Chosen::Cpu)
                }
            },
        },
        Backend::Cpu | Backend::Cuda => Ok(match choose_trainer(requested)? {
            Trainer::Cpu => Chosen::Cpu,
            Trainer::Cuda(device) => Chosen::Cuda(device),
        }),
    }
}

/// The backend that trains.
pub enum Trainer {
    /// The CPU reference backend.
    Cpu,
    /// A CUDA device with the kernels loaded.
    Cuda(Arc<CudaDevice>),
}

/// Opens the training backend asked for (CPU or CUDA) and prints which one runs and why.
pub fn choose_trainer(requested: Backend) -> anyhow::Result<Trainer> {
    match requested {
        Backend::Cpu => {
            eprintln!("backend: cpu");
            Ok(Trainer::Cpu)
        }
        Backend::Cuda => {
            let device =
                open_default_device().context("--backend cuda (--backend cpu runs on the CPU)")?;
            eprintln!("backend: cuda ({}, {})", device.name(), device.arch());
            Ok(Trainer::Cuda(device))
        }
        Backend::Auto => match open_default_device() {
            Ok(device) => Ok(Trainer::Cuda(cuda_chosen_by_auto(device))),
            Err(reason) => {
                eprintln!("backend: cpu (--backend auto: the GPU is not usable: {reason})");
                Ok(Trainer::Cpu)
            }
        },
        Backend::Wgpu => {
            bail!("--backend wgpu only renders; train with --backend cpu, cuda or auto")
        }
    }
}

/// Says that `auto` took the CUDA device.
fn cuda_chosen_by_auto(device: Arc<CudaDevice>) -> Arc<CudaDevice> {
    eprintln!(
        "backend: cuda ({}, {}; chosen by --backend auto)",
        device.name(),
        device.arch()
    );
    device
}

/// The renderer of `avatar` on `backend`, which `requested` chose. When `auto` chose a GPU
/// and the avatar cannot be put on it, the CPU renders (and says why).
pub fn open_renderer(
    backend: &Chosen,
    avatar: &Arc<Avatar>,
    requested: Backend,
) -> anyhow::Result<Box<dyn Renderer>> {
    let on_the_gpu: anyhow::Result<Box<dyn Renderer>> = match backend {
        Chosen::Cpu => return Ok(Box::new(CpuRenderer::new(Arc::clone(avatar)))),
        Chosen::Cuda(device) => CudaRenderer::new(
            Arc::clone(device),
            &Model::new(&avatar.config),
            &avatar.params,
            &avatar.occupancy,
        )
        .map(|renderer| Box::new(renderer) as Box<dyn Renderer>)
        .map_err(anyhow::Error::from),
        Chosen::Wgpu(gpu) => WgpuAvatarRenderer::new(Arc::clone(gpu), avatar)
            .map(|renderer| Box::new(renderer) as Box<dyn Renderer>)
            .map_err(anyhow::Error::from),
    };
    match on_the_gpu {
        Err(error) if requested == Backend::Auto => {
            eprintln!(
                "backend: cpu (--backend auto: the avatar could not be put on the GPU: {error:#})"
            );
            Ok(Box::new(CpuRenderer::new(Arc::clone(avatar))))
        }
        result => result.context("uploading the avatar to the GPU"),
    }
}
