//! `--backend auto|cpu|cuda`: which backend runs, and why. `cuda` fails with the reason when
//! no usable GPU is found; `auto` uses the GPU when one works and otherwise says why it runs
//! on the CPU.

use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;
use nerf_avatar::asset::Avatar;
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::cuda::device::CudaDevice;
use nerf_avatar::cuda::open_default_device;
use nerf_avatar::cuda::render::CudaRenderer;
use nerf_avatar::field::Model;
use nerf_avatar::render::{Background, RenderedImage, render_image};

/// The compute backend asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// CUDA when a GPU works, else the CPU (saying why).
    Auto,
    /// The CPU reference backend.
    Cpu,
    /// NVIDIA GPUs through CUDA (an error when none works).
    Cuda,
}

/// The backend that runs.
pub enum Chosen {
    /// The CPU reference backend.
    Cpu,
    /// A GPU with the kernels loaded.
    Cuda(Arc<CudaDevice>),
}

/// Opens the backend asked for and prints which one runs and why.
pub fn choose(requested: Backend) -> anyhow::Result<Chosen> {
    match requested {
        Backend::Cpu => {
            eprintln!("backend: cpu");
            Ok(Chosen::Cpu)
        }
        Backend::Cuda => {
            let device =
                open_default_device().context("--backend cuda (--backend cpu runs on the CPU)")?;
            eprintln!("backend: cuda ({}, {})", device.name(), device.arch());
            Ok(Chosen::Cuda(device))
        }
        Backend::Auto => match open_default_device() {
            Ok(device) => {
                eprintln!(
                    "backend: cuda ({}, {}; chosen by --backend auto)",
                    device.name(),
                    device.arch()
                );
                Ok(Chosen::Cuda(device))
            }
            Err(reason) => {
                eprintln!("backend: cpu (--backend auto: the GPU is not usable: {reason})");
                Ok(Chosen::Cpu)
            }
        },
    }
}

/// Renders frames of one avatar on the chosen backend.
pub enum FrameRenderer<'a> {
    /// [`render_image`] on the CPU.
    Cpu {
        /// The avatar's model.
        model: Box<Model>,
        /// The avatar.
        avatar: &'a Avatar,
    },
    /// [`CudaRenderer`] on a GPU.
    Cuda(Box<CudaRenderer>),
}

impl<'a> FrameRenderer<'a> {
    /// Prepares `avatar` for rendering on `backend`.
    pub fn new(backend: &Chosen, avatar: &'a Avatar) -> anyhow::Result<Self> {
        let model = Box::new(Model::new(&avatar.config));
        Ok(match backend {
            Chosen::Cpu => Self::Cpu { model, avatar },
            Chosen::Cuda(device) => Self::Cuda(Box::new(
                CudaRenderer::new(
                    Arc::clone(device),
                    &model,
                    &avatar.params,
                    &avatar.occupancy,
                )
                .context("uploading the avatar to the GPU")?,
            )),
        })
    }

    /// One frame for expression `weights` (already clamped).
    pub fn render(
        &mut self,
        weights: &[f32],
        intrinsics: &Intrinsics,
        pose: &Pose,
        background: Background<'_>,
    ) -> anyhow::Result<RenderedImage> {
        match self {
            Self::Cpu { model, avatar } => Ok(render_image(
                model,
                &avatar.params,
                weights,
                &avatar.occupancy,
                intrinsics,
                pose,
                background,
            )),
            Self::Cuda(renderer) => renderer
                .render_image(weights, intrinsics, pose, background)
                .context("rendering on the GPU"),
        }
    }
}
