//! Every kernel file of `kernels/` compiles to PTX with NVRTC, for the H100's architecture
//! (compute_90) and the oldest that CUDA 13 supports (compute_75), and each declares the
//! kernels the host launches; and each assembles (ptxas) into sm_90 machine code, which checks
//! the inline PTX and the resource limits that a GPU's driver would otherwise be the first
//! to meet. Skips with a printed reason where NVRTC is missing, unless `NERF_AVATAR_REQUIRE`
//! names `nvrtc` (as in CI, where `scripts/setup.sh` installs the NVRTC wheel): then a missing
//! NVRTC fails.

use std::collections::BTreeSet;
use std::path::Path;

use nerf_avatar_cuda::device::KERNEL_FUNCTIONS;
use nerf_avatar_cuda::kernels::{
    Arch, KERNEL_SOURCES, PtxCache, assemble_kernel, compile_kernel, nvrtc_version,
};
use test_requirements::{Requirement, available};

const ARCHES: [Arch; 2] = [Arch { major: 9, minor: 0 }, Arch { major: 7, minor: 5 }];

/// NVRTC's version, or `None` where it is unusable (the test then returns: skipped, or a
/// failure where `NERF_AVATAR_REQUIRE` names `nvrtc`).
fn nvrtc() -> Option<(i32, i32)> {
    available(Requirement::Nvrtc, nvrtc_version())
}

#[test]
fn every_kernel_file_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "cu").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    let embedded: BTreeSet<String> = KERNEL_SOURCES.iter().map(|k| k.name.to_owned()).collect();
    assert_eq!(on_disk, embedded, "kernels/*.cu and KERNEL_SOURCES differ");
}

/// Every kernel a file defines is one the device loads (`KERNEL_FUNCTIONS`), in that file: a
/// kernel the host launches but the device did not load fails only when it runs.
#[test]
fn every_defined_kernel_is_loaded() {
    let marker = "extern \"C\" __global__ void ";
    let defined: BTreeSet<(String, String)> = KERNEL_SOURCES
        .iter()
        .flat_map(|source| {
            source.text.match_indices(marker).map(|(at, _)| {
                let rest = &source.text[at + marker.len()..];
                let name = rest.split('(').next().unwrap_or_default().trim();
                (source.name.to_owned(), name.to_owned())
            })
        })
        .collect();
    let loaded: BTreeSet<(String, String)> = KERNEL_FUNCTIONS
        .iter()
        .map(|(file, name)| ((*file).to_owned(), (*name).to_owned()))
        .collect();
    assert_eq!(
        defined, loaded,
        "kernels defined in kernels/*.cu and KERNEL_FUNCTIONS differ"
    );
}

#[test]
fn kernels_compile() {
    let Some(version) = nvrtc() else { return };
    eprintln!("NVRTC {}.{}", version.0, version.1);
    let mut failures = Vec::new();
    for arch in ARCHES {
        for source in KERNEL_SOURCES {
            match compile_kernel(&source, arch) {
                Ok(ptx) => {
                    for (file, function) in KERNEL_FUNCTIONS {
                        if *file == source.name {
                            assert!(
                                ptx.contains(&format!(".entry {function}(")),
                                "{}.cu for {arch} has no kernel `{function}`",
                                source.name
                            );
                        }
                    }
                }
                Err(e) => failures.push(format!("{arch}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every kernel file assembles into sm_90 machine code (`assemble_kernel`): the inline PTX
/// of the tensor-core products and f16 conversions, vector atomics and each kernel's
/// registers and shared memory are checked as a GPU's driver would check them. Prints what
/// ptxas reports per kernel.
#[test]
fn kernels_assemble_for_sm_90() {
    if nvrtc().is_none() {
        return;
    }
    let mut failures = Vec::new();
    for source in KERNEL_SOURCES {
        let log = match assemble_kernel(&source, ARCHES[0]) {
            Ok(log) => log,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        for line in log
            .lines()
            .filter(|l| l.contains("Compiling entry") || l.contains("Used"))
        {
            eprintln!("{}.cu: {}", source.name, line.trim());
        }
        for (file, function) in KERNEL_FUNCTIONS {
            if *file == source.name {
                assert!(
                    log.contains(&format!("Compiling entry function '{function}'")),
                    "ptxas did not assemble `{function}` of {}.cu:\n{log}",
                    source.name
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn compiled_ptx_is_cached_on_disk() {
    if nvrtc().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = PtxCache::new(Some(dir.path().to_path_buf()));
    let source = KERNEL_SOURCES[0];
    let first = cache.ptx(&source, ARCHES[0]).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one cached file");
    let path = files[0].as_ref().unwrap().path();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("blend-compute_90-") && name.ends_with(".ptx"),
        "{name}"
    );
    // A second request reads the file: prove it by changing what is stored.
    std::fs::write(&path, format!("{first}// cached\n")).unwrap();
    assert!(
        cache
            .ptx(&source, ARCHES[0])
            .unwrap()
            .ends_with("// cached\n")
    );
    // Another architecture is another entry.
    cache.ptx(&source, ARCHES[1]).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
