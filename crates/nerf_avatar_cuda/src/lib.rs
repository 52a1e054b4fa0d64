//! The CUDA backend: kernels in `kernels/*.cu` (each the twin of a CPU reference function of
//! the same name), compiled at start with NVRTC for the device's architecture and cached on
//! disk, driven through cudarc, which loads the driver and NVRTC at run time, so that every
//! build runs where no GPU exists and says why the GPU is not used.
//!
//! - [`libraries`]: finding libnvrtc and the driver (clear errors, never a panic).
//! - [`kernels`]: the embedded sources, preprocessing, NVRTC compilation, the PTX cache.
//! - [`device`]: a device with the kernels loaded; memory helpers.
//! - [`ops`]: the host side of each kernel, named as its CPU twin.
//! - [`mlp`]: the training MLPs forward and backward, and the dense layer of LPIPS.
//! - [`field`]: the radiance field forward and backward on the device.
//! - [`fused`]: the fully fused half-precision field of inference (tensor cores).
//! - [`half_mlp`]: the training MLPs in half precision, fused or a product per layer (tensor
//!   cores).
//! - [`render`]: inference rendering of whole frames, into a host buffer.
//! - [`occupancy`]: the occupancy grid update.
//! - [`lpips`]: the patch LPIPS of training.
//! - [`train`]: the training loop on the GPU.

pub mod device;
pub mod field;
pub mod fused;
pub mod half_mlp;
pub mod kernels;
pub mod libraries;
pub mod lpips;
pub mod mlp;
pub mod occupancy;
pub mod ops;
pub mod render;
pub mod train;

use std::sync::Arc;

use device::CudaDevice;
use kernels::PtxCache;

/// Opens GPU 0 with the kernels compiled for it (or read from the PTX cache in the cache
/// directory): the device `--backend cuda` and `auto` use.
pub fn open_default_device() -> Result<Arc<CudaDevice>, CudaError> {
    CudaDevice::open(0, &PtxCache::default_location()).map(Arc::new)
}

/// Why the CUDA backend cannot run (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// The NVIDIA driver library is not installed.
    #[error("no NVIDIA driver (libcuda.so could not be loaded)")]
    NoDriver,
    /// The driver works but sees no GPU.
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// NVRTC, needed to compile the kernels, is missing.
    #[error("{0}")]
    NvrtcMissing(String),
    /// A kernel did not compile.
    #[error("kernel `{kernel}.cu` did not compile with NVRTC:\n{log}")]
    Compile {
        /// The kernel file's stem.
        kernel: String,
        /// NVRTC's log.
        log: String,
    },
    /// The GPU ran out of memory.
    #[error("the GPU ran out of memory while {0}")]
    OutOfMemory(String),
    /// Any other driver failure.
    #[error("CUDA driver error while {context}: {message}")]
    Driver {
        /// What was being done.
        context: String,
        /// The driver's error.
        message: String,
    },
    /// Inputs that the GPU path cannot take.
    #[error("{0}")]
    Unsupported(String),
}

impl From<CudaError> for nerf_avatar_train::TrainError {
    fn from(error: CudaError) -> Self {
        Self::Backend {
            backend: "CUDA",
            error: Box::new(error),
        }
    }
}
