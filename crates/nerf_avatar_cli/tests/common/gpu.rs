//! Where a test runs the binary's CUDA backend: the machine's GPU, or the emulated driver
//! (the core crate's stand-in `libcuda.so`, every kernel on the CPU emulator) for machines
//! without one.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use test_requirements::{Requirement, available};

use super::{nerf_avatar, nerf_avatar_with_env};

#[path = "../../../nerf_avatar_cuda/tests/kernel_support/cxx.rs"]
#[allow(dead_code, reason = "the CLI's tests use only the emulated driver")]
mod cxx;

/// Where the CUDA backend runs.
#[derive(Clone, Copy)]
pub enum Gpu<'a> {
    /// The machine's GPU (the run skips without one).
    Real,
    /// The stand-in driver of the core crate's `cuda_emulated` tests: the backend's host
    /// code, every kernel on the CPU emulator. The folder holds it as `libcuda.so`.
    Emulated(&'a Path),
    /// The emulated driver with a device of this many bytes.
    EmulatedWithMemory(&'a Path, u64),
}

impl Gpu<'_> {
    /// Runs the binary with `args` on this GPU.
    pub fn run(self, args: &[&str]) -> Output {
        let (driver, memory) = match self {
            Gpu::Real => return nerf_avatar(args),
            Gpu::Emulated(driver) => (driver, None),
            Gpu::EmulatedWithMemory(driver, bytes) => (driver, Some(bytes.to_string())),
        };
        let mut variables = vec![("LD_LIBRARY_PATH", driver.as_os_str())];
        if let Some(bytes) = &memory {
            variables.push(("NERF_AVATAR_EMULATED_GPU_BYTES", OsStr::new(bytes)));
        }
        nerf_avatar_with_env(args, &variables)
    }
}

/// A folder holding the emulated driver as `libcuda.so`, for a child process's
/// `LD_LIBRARY_PATH`, built once per test run; `None` (the reason printed) where it cannot
/// be built, or where NVRTC, which compiles the kernels the backend loads, is missing.
pub fn emulated_driver() -> Option<PathBuf> {
    static DRIVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = DRIVER.get_or_init(|| {
        let library = cxx::emulated_driver()?;
        let dir = library.with_extension("driver");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(&library, dir.join("libcuda.so")).map_err(|e| e.to_string())?;
        Ok(dir)
    });
    let driver = cxx::built_or_skip(built)?;
    available(
        Requirement::Nvrtc,
        nerf_avatar_cuda::libraries::load_nvrtc(),
    )?;
    Some(driver.clone())
}
