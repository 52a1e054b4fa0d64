//! The CUDA conformance tests (`conformance/`) where no GPU is: the backend's own host code
//! (device discovery, NVRTC, buffers, launches, the renderer's and the MLPs' loops) drives
//! the kernels as on a GPU, but a stand-in driver (`tests/cuda_on_cpu/driver.cpp`, loaded
//! before cudarc looks for `libcuda.so`) runs each launch on the CPU emulator of
//! `kernels_on_cpu.rs`. The kernels still compile to PTX with NVRTC, which is needed; the
//! driver does not read the PTX. It checks the host code and what the kernels compute, not
//! the GPU's arithmetic or timing (`cuda_conformance.rs` on a GPU does). Skips with a printed
//! reason where no C++ compiler or no NVRTC is found, unless `NERF_AVATAR_REQUIRE` names
//! `cxx` or `nvrtc` (CI).

use std::sync::{Arc, OnceLock};

use libloading::Library;
use nerf_avatar_cuda::device::CudaDevice;
use nerf_avatar_cuda::{CudaError, open_default_device};
use test_requirements::Requirement;

mod conformance;
mod kernel_support;
use kernel_support::cxx;

/// The emulated device, or `None` (with the reason printed) where it cannot be built.
fn device() -> Option<Arc<CudaDevice>> {
    static DRIVER: OnceLock<Result<Library, String>> = OnceLock::new();
    let driver = DRIVER.get_or_init(|| {
        let path = cxx::emulated_driver()?;
        // SAFETY: the library was just built from the project's sources; loaded before
        // cudarc's first `dlopen("libcuda.so")`, which then finds it by its soname.
        unsafe { Library::new(&path) }.map_err(|e| e.to_string())
    });
    cxx::built_or_skip(driver)?;
    match open_default_device() {
        Ok(device) => Some(device),
        Err(e @ CudaError::NvrtcMissing(_)) => {
            test_requirements::missing(Requirement::Nvrtc, e);
            None
        }
        Err(e) => panic!("the emulated device cannot be used: {e}"),
    }
}
