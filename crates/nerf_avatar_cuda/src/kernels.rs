//! The CUDA C++ sources of `kernels/` (embedded at build time), their preprocessing into
//! self-contained NVRTC programs, compilation to PTX for a given architecture, and the on-disk
//! PTX cache keyed by a hash of the program, the architecture and the NVRTC version.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use cudarc::nvrtc::{CompileError, CompileOptions, compile_ptx_with_opts, result as nvrtc};

use super::CudaError;
use super::libraries::load_nvrtc;

/// A kernel file of `kernels/`: its name (without `.cu`) and its text.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// File stem, e.g. `hashgrid`.
    pub name: &'static str,
    /// The file's text, `#include "…"` lines unresolved.
    pub text: &'static str,
}

macro_rules! kernel_sources {
    ($($name:literal),* $(,)?) => {
        [$(KernelSource {
            name: $name,
            text: include_str!(concat!("../../../kernels/", $name, ".cu")),
        }),*]
    };
}

/// Every kernel file, in dependency-free order (each compiles on its own).
pub const KERNEL_SOURCES: [KernelSource; 15] = kernel_sources!(
    "blend",
    "hashgrid",
    "mlp",
    "sh",
    "field",
    "field_fp16",
    "mlp_fp16",
    "composite",
    "march",
    "render",
    "occupancy",
    "adam",
    "loss",
    "lpips",
    "roofline",
);

/// Headers the kernel files may include, by the name they are included with.
const HEADERS: [(&str, &str); 2] = [
    ("common.cuh", include_str!("../../../kernels/common.cuh")),
    (
        "tensor_cores.cuh",
        include_str!("../../../kernels/tensor_cores.cuh"),
    ),
];

/// The kernel file called `name`.
pub fn kernel_source(name: &str) -> Option<KernelSource> {
    KERNEL_SOURCES.iter().copied().find(|k| k.name == name)
}

/// `source` with each `#include "header"` replaced by the header's text (once per program,
/// headers being `#pragma once`), so that NVRTC needs no include paths and the cache key
/// covers every line compiled.
pub fn preprocess(source: &KernelSource) -> Result<String, CudaError> {
    let mut out = String::with_capacity(source.text.len() * 2);
    let mut included: Vec<&str> = Vec::new();
    for line in source.text.lines() {
        let include = line
            .trim()
            .strip_prefix("#include")
            .map(|rest| rest.trim().trim_matches('"'));
        match include {
            Some(name) => {
                let (_, text) =
                    HEADERS
                        .iter()
                        .find(|(h, _)| *h == name)
                        .ok_or_else(|| CudaError::Compile {
                            kernel: source.name.to_owned(),
                            log: format!("unknown header `{name}` (only {HEADERS:?} are embedded)"),
                        })?;
                if !included.contains(&name) {
                    included.push(name);
                    out.push_str(text);
                    out.push('\n');
                }
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// A PTX architecture, e.g. `compute_90`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Major compute capability.
    pub major: u32,
    /// Minor compute capability.
    pub minor: u32,
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "compute_{}{}", self.major, self.minor)
    }
}

/// The flags every kernel is compiled with for `target` (`compute_XY`: PTX; `sm_XY`: machine
/// code): C++17, and precise division and square root, as the CPU.
fn flags(target: &str) -> Vec<String> {
    vec![
        format!("--gpu-architecture={target}"),
        "--std=c++17".into(),
        "--prec-div=true".into(),
        "--prec-sqrt=true".into(),
    ]
}

/// The options of [`compile_kernel`].
fn options(source: &KernelSource, arch: Arch) -> CompileOptions {
    CompileOptions {
        options: flags(&arch.to_string()),
        name: Some(format!("{}.cu", source.name)),
        ..CompileOptions::default()
    }
}

/// Compiles one kernel file to PTX text for `arch` with NVRTC.
pub fn compile_kernel(source: &KernelSource, arch: Arch) -> Result<String, CudaError> {
    load_nvrtc()?;
    let program = preprocess(source)?;
    match compile_ptx_with_opts(&program, options(source, arch)) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(CompileError::CompileError { log, .. }) => Err(CudaError::Compile {
            kernel: source.name.to_owned(),
            log: log.to_string_lossy().into_owned(),
        }),
        Err(other) => Err(CudaError::Compile {
            kernel: source.name.to_owned(),
            log: format!("{other}"),
        }),
    }
}

/// Assembles one kernel file into machine code for `arch` (`sm_XY`) with the flags of
/// [`compile_kernel`]: NVRTC then runs ptxas, which checks the inline PTX and each kernel's
/// registers and shared memory, as a GPU's driver does when it loads PTX. Returns ptxas's
/// report of each kernel.
pub fn assemble_kernel(source: &KernelSource, arch: Arch) -> Result<String, CudaError> {
    load_nvrtc()?;
    let failed = |log: String| CudaError::Compile {
        kernel: source.name.to_owned(),
        log,
    };
    let program = CString::new(preprocess(source)?).map_err(|e| failed(e.to_string()))?;
    let name = CString::new(format!("{}.cu", source.name)).map_err(|e| failed(e.to_string()))?;
    let mut options = flags(&format!("sm_{}{}", arch.major, arch.minor));
    options.push("--ptxas-options=-v".into());
    let handle =
        nvrtc::create_program(&program, Some(&name)).map_err(|e| failed(format!("{e:?}")))?;
    // SAFETY: `handle` was just created (`program` and `name` outlive it), and it is
    // destroyed once, after its last use.
    let (compiled, log) = unsafe {
        let compiled = nvrtc::compile_program(handle, &options);
        let log = nvrtc::get_program_log(handle);
        // Destroying only frees NVRTC's memory; its failure would change nothing here.
        let _ = nvrtc::destroy_program(handle);
        (compiled, log)
    };
    let log: Vec<u8> = log
        .map_err(|e| failed(format!("{e:?}")))?
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let log = String::from_utf8_lossy(&log).into_owned();
    match compiled {
        Ok(()) if !log.contains("error") => Ok(log),
        _ => Err(failed(log)),
    }
}

/// The NVRTC version as (major, minor).
pub fn nvrtc_version() -> Result<(i32, i32), CudaError> {
    load_nvrtc()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked above) and writes two ints through valid pointers.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    status
        .result()
        .map_err(|e| CudaError::NvrtcMissing(format!("nvrtcVersion failed: {e:?}")))?;
    Ok((major, minor))
}

/// 64-bit FNV-1a: the cache key of a program (no security role).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// PTX files compiled earlier, in a folder (default: `ptx/` in the cache directory).
#[derive(Clone, Debug)]
pub struct PtxCache {
    dir: Option<PathBuf>,
}

impl PtxCache {
    /// A cache in `dir`; `None` compiles every time.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The cache in `ptx/` of [`super::libraries::cache_dir`].
    pub fn default_location() -> Self {
        Self::new(super::libraries::cache_dir().map(|d| d.join("ptx")))
    }

    /// The PTX of `source` for `arch`: read from the cache when its key matches, otherwise
    /// compiled and written to the cache (a cache that cannot be written is skipped).
    pub fn ptx(&self, source: &KernelSource, arch: Arch) -> Result<String, CudaError> {
        let program = preprocess(source)?;
        let (major, minor) = nvrtc_version()?;
        let key = fnv1a(&[
            program.as_bytes(),
            arch.to_string().as_bytes(),
            format!("{major}.{minor} {:?}", options(source, arch).options).as_bytes(),
        ]);
        let file = self
            .dir
            .as_ref()
            .map(|d| d.join(format!("{}-{arch}-{key:016x}.ptx", source.name)));
        if let Some(file) = &file
            && let Ok(ptx) = std::fs::read_to_string(file)
        {
            return Ok(ptx);
        }
        let ptx = compile_kernel(source, arch)?;
        if let Some(file) = &file {
            write_atomically(file, &ptx);
        }
        Ok(ptx)
    }
}

/// Writes through a temporary file and a rename; failures only cost a recompile next time.
fn write_atomically(file: &Path, text: &str) {
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let temp = file.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&temp, text).is_ok() && std::fs::rename(&temp, file).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_resolved_once() {
        let program = preprocess(&kernel_source("hashgrid").unwrap()).unwrap();
        assert!(!program.lines().any(|l| l.trim().starts_with("#include")));
        assert_eq!(program.matches("struct Level {").count(), 1);
        let bad = KernelSource {
            name: "bad",
            text: "#include \"missing.cuh\"\n",
        };
        assert!(matches!(preprocess(&bad), Err(CudaError::Compile { .. })));
    }

    #[test]
    fn cache_keys_differ_with_the_program_and_the_arch() {
        assert_ne!(fnv1a(&[b"a", b"bc"]), fnv1a(&[b"ab", b"c"]));
        assert_ne!(fnv1a(&[b"x", b"compute_90"]), fnv1a(&[b"x", b"compute_75"]));
    }
}
