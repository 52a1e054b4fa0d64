//! The CUDA conformance tests (`conformance/`) on a GPU. They run where a GPU works and skip
//! with a printed reason where there is no driver or no device, unless `NERF_AVATAR_REQUIRE`
//! names `gpu` (then that fails). Any other failure (a kernel that does not compile or load,
//! out of memory) fails.

use std::sync::Arc;

use nerf_avatar_cuda::device::CudaDevice;
use nerf_avatar_cuda::{CudaError, open_default_device};
use test_requirements::Requirement;

mod conformance;
mod kernel_support;

/// The GPU, or `None` (with the reason printed) where none can be used.
fn device() -> Option<Arc<CudaDevice>> {
    match open_default_device() {
        Ok(device) => Some(device),
        Err(e @ (CudaError::NoDriver | CudaError::NoDevice(_))) => {
            test_requirements::missing(Requirement::Gpu, e);
            None
        }
        Err(e) => panic!("the GPU cannot be used: {e}"),
    }
}
