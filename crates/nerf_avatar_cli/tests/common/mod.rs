//! Helpers shared by the CLI's tests: running the built `nerf-avatar` binary, and finding
//! ffmpeg and franck.mp4 (skipping, with a printed reason, where they are missing, unless
//! `NERF_AVATAR_REQUIRE` names them).
#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different subset of it"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use test_requirements::{Requirement, available};

pub mod gpu;

/// Runs the binary with `args`.
pub fn nerf_avatar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the binary with `args`, with the environment variables `variables` set.
pub fn nerf_avatar_with_env(args: &[&str], variables: &[(&str, &std::ffi::OsStr)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerf-avatar"))
        .args(args)
        .envs(variables.iter().copied())
        .output()
        .expect("the binary runs")
}

/// Bytes of a process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary, asserts that it succeeded and returns its stderr.
pub fn succeed(args: &[&str]) -> String {
    let output = nerf_avatar(args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    stderr
}

/// Runs the binary, asserts that it failed and returns its stderr.
pub fn fail(args: &[&str]) -> String {
    let output = nerf_avatar(args);
    assert!(!output.status.success(), "{args:?} succeeded");
    text(&output.stderr)
}

/// Writes a fresh avatar of the `tiny` preset with `blendshapes` (comma-separated) to `path`.
pub fn init_tiny_avatar(path: &str, blendshapes: &str) {
    succeed(&[
        "init",
        "--out",
        path,
        "--preset",
        "tiny",
        "--blendshapes",
        blendshapes,
    ]);
}

/// Whether ffmpeg runs; where it does not, the test skips (the reason printed), or fails
/// where `NERF_AVATAR_REQUIRE` names `ffmpeg`.
pub fn has_ffmpeg() -> bool {
    available(Requirement::Ffmpeg, test_requirements::ffmpeg()).is_some()
}

/// franck.mp4 (`$NERF_AVATAR_FRANCK`, else where scripts/setup.sh puts it), when it and
/// ffmpeg are there; else `None` (skipped, or a failure where `NERF_AVATAR_REQUIRE` names
/// `franck`).
pub fn franck() -> Option<PathBuf> {
    available(Requirement::Franck, test_requirements::franck_video())
}
