//! The CUDA render worker (feature `cuda`): the CUDA crate's renderer on a worker thread, one
//! per avatar, on the first CUDA device. NVIDIA GPUs only; where no driver or device works,
//! the plugin says why and renders as without the feature.

use std::sync::Arc;

use nerf_avatar::field::Model;
use nerf_avatar::renderer::{RenderError, Renderer};
use nerf_avatar_cuda::open_default_device;
use nerf_avatar_cuda::render::CudaRenderer;

use super::RenderWorker;

/// Opens the first CUDA device and starts its render worker, or says why it cannot.
pub fn cuda_worker() -> Result<RenderWorker, String> {
    let device = open_default_device().map_err(|error| error.to_string())?;
    RenderWorker::spawn(
        "cuda",
        Box::new(move |avatar| {
            CudaRenderer::new(
                Arc::clone(&device),
                &Model::new(&avatar.config),
                &avatar.params,
                &avatar.occupancy,
            )
            .map(|renderer| Box::new(renderer) as Box<dyn Renderer>)
            .map_err(|error| RenderError::Backend {
                backend: "cuda",
                error: Box::new(error),
            })
        }),
    )
    .map_err(|error| format!("the worker thread did not start: {error}"))
}
