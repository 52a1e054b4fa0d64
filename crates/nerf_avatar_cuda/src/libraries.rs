//! Finding the CUDA libraries that cudarc loads at run time, so that a missing library is a
//! clear error and never a panic.
//!
//! NVRTC (`libnvrtc.so.13`) is looked for, in order, at `$NERF_AVATAR_NVRTC` (the library file
//! or its folder), in the copy that `scripts/setup.sh` installs from the PyPI wheel
//! `nvidia-cuda-nvrtc==13.0.88` into the cache directory
//! (`<cache>/nvrtc-13.0.88/nvidia/cu13/lib/`), and then by the dynamic loader's usual search
//! (`LD_LIBRARY_PATH`, the system's CUDA). A library found by path is loaded once and kept
//! loaded, with the `libnvrtc-builtins.so.13.0` beside it: cudarc's later `dlopen` of
//! `libnvrtc.so.13`, and NVRTC's of its builtins, then find them by their sonames.
//! The driver (`libcuda.so`) comes with the NVIDIA driver and is only searched for.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::CudaError;

/// The NVRTC wheel that `scripts/setup.sh` installs (CUDA 13.0, as the GPU machines' driver).
pub const NVRTC_WHEEL_DIR: &str = "nvrtc-13.0.88";
/// The library's file name inside the wheel.
const NVRTC_FILE: &str = "libnvrtc.so.13";
/// NVRTC's builtins, which it loads by name; expected beside it.
const NVRTC_BUILTINS_FILE: &str = "libnvrtc-builtins.so.13.0";
/// The variable naming the NVRTC library (or its folder) explicitly.
pub const NVRTC_ENV: &str = "NERF_AVATAR_NVRTC";

/// The project's cache directory: `$NERF_AVATAR_CACHE`, else `$XDG_CACHE_HOME/nerf-avatar`,
/// else `~/.cache/nerf-avatar` (the same rule as `scripts/setup.sh`).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("NERF_AVATAR_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("nerf-avatar"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("nerf-avatar"))
}

/// Where NVRTC may be, in the order tried (files that exist or not).
pub fn nvrtc_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(explicit) = std::env::var_os(NVRTC_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(explicit);
        candidates.push(if path.is_dir() {
            path.join(NVRTC_FILE)
        } else {
            path
        });
    }
    if let Some(cache) = cache_dir() {
        candidates.push(
            cache
                .join(NVRTC_WHEEL_DIR)
                .join("nvidia/cu13/lib")
                .join(NVRTC_FILE),
        );
    }
    candidates
}

/// Loads NVRTC once (see the module docs); the error lists every place searched.
pub fn load_nvrtc() -> Result<(), CudaError> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let candidates = nvrtc_candidates();
            if let Some(path) = candidates.iter().find(|p| p.is_file()) {
                // NVRTC opens its builtins library by name when it compiles: load the one
                // beside it first, so that the loader finds it by soname too.
                let builtins = path.with_file_name(NVRTC_BUILTINS_FILE);
                for library in [builtins.as_path(), path.as_path()] {
                    // SAFETY: loading NVRTC runs its initialisers, which have no
                    // preconditions; the library stays loaded for the life of the process.
                    match unsafe { libloading::Library::new(library) } {
                        Ok(loaded) => std::mem::forget(loaded),
                        Err(e) => {
                            return Err(format!("{} could not be loaded: {e}", library.display()));
                        }
                    }
                }
                return Ok(());
            }
            // SAFETY: only tries to dlopen the library by its usual names.
            if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                return Ok(());
            }
            let searched: Vec<String> =
                candidates.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "NVRTC (libnvrtc.so.13) not found: searched {searched:?} and the loader's path \
                 (LD_LIBRARY_PATH); run scripts/setup.sh or set {NVRTC_ENV}"
            ))
        })
        .clone()
        .map_err(CudaError::NvrtcMissing)
}

/// Whether the NVIDIA driver library (`libcuda.so`) can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}
