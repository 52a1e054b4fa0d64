//! The kernels of `kernels/` compiled as C++ for the CPU (`tests/cuda_on_cpu/`): into a
//! library of the kernels and the emulator (`kernels_on_cpu.rs` calls the kernels by name),
//! or into a stand-in `libcuda.so` that runs them for the backend's own host code
//! (`cuda_emulated.rs`, and the CLI's `cuda_backend.rs` for a training run). Where no C++
//! compiler runs, the tests skip with a printed reason, unless `NERF_AVATAR_REQUIRE` names
//! `cxx` (CI), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use nerf_avatar_cuda::device::KERNEL_FUNCTIONS;
use nerf_avatar_cuda::kernels::KERNEL_SOURCES;
use test_requirements::Requirement;

/// What a test does with a build that failed: `None` (the reason printed) where that may be
/// skipped, else a panic with the reason ([`test_requirements::missing`]).
pub fn built_or_skip<T>(built: &Result<T, String>) -> Option<&T> {
    test_requirements::available(Requirement::Cxx, built.as_ref())
}

/// The CUDA crate's folder, from the tests of any crate of the workspace (the CLI's include
/// this file too).
fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nerf_avatar_cuda")
}

fn out_dir() -> Result<PathBuf, String> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kernels_on_cpu");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    Ok(out)
}

/// Compiles `sources` (C++, the kernels' headers on the include path, `cuda_on_cpu.h`
/// included first) with the emulator into the shared library `library` under the test
/// target's directory, with `extra` arguments; returns its path.
fn compile(library: &str, sources: &[PathBuf], extra: &[&str]) -> Result<PathBuf, String> {
    let support = crate_dir().join("tests/cuda_on_cpu");
    let library = out_dir()?.join(library);
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let output = Command::new(&compiler)
        .args(["-std=c++17", "-O1", "-fPIC", "-shared", "-ffp-contract=off"])
        .arg("-I")
        .arg(crate_dir().join("../../kernels"))
        .arg("-I")
        .arg(&support)
        .arg("-include")
        .arg(support.join("cuda_on_cpu.h"))
        .args(extra)
        .arg("-o")
        .arg(&library)
        .arg(support.join("emulator.cpp"))
        .args(["-x", "c++"])
        .args(sources)
        .output()
        .map_err(|e| format!("no C++ compiler (`{compiler}`: {e})"))?;
    if !output.status.success() {
        return Err(format!(
            "`{compiler}` failed on the kernels:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(library)
}

/// Every kernel file and the emulator, as one library whose kernels are called by name.
pub fn kernel_library() -> Result<PathBuf, String> {
    let kernels = crate_dir().join("../../kernels");
    let sources: Vec<PathBuf> = KERNEL_SOURCES
        .iter()
        .map(|source| kernels.join(format!("{}.cu", source.name)))
        .collect();
    compile(&format!("kernels-{}.so", std::process::id()), &sources, &[])
}

/// The stand-in driver (`driver.cpp`) with every kernel the backend launches registered
/// under its name: a library whose soname is `libcuda.so`, so that cudarc's own loading of
/// the driver finds it once it is loaded.
pub fn emulated_driver() -> Result<PathBuf, String> {
    let out = out_dir()?;
    let mut sources = vec![crate_dir().join("tests/cuda_on_cpu/driver.cpp")];
    for source in KERNEL_SOURCES {
        let mut wrapper = format!("#include \"{}.cu\"\n#include \"launcher.h\"\n", source.name);
        for (_, function) in KERNEL_FUNCTIONS
            .iter()
            .filter(|(file, _)| *file == source.name)
        {
            wrapper.push_str(&format!("REGISTER_KERNEL({function})\n"));
        }
        let path = out.join(format!("{}-{}.cpp", source.name, std::process::id()));
        std::fs::write(&path, wrapper)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        sources.push(path);
    }
    compile(
        &format!("libcuda-{}.so", std::process::id()),
        &sources,
        &["-Wl,-soname,libcuda.so"],
    )
}
