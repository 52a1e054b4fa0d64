//! Helpers shared by the CLI's tests: running the built `nerf-avatar` binary, and finding
//! ffmpeg and franck.mp4 (skipping, with a printed reason, where they are missing).
#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different subset of it"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

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

/// Whether ffmpeg is installed (says so when it is not).
pub fn has_ffmpeg() -> bool {
    let found = Command::new("ffmpeg").arg("-version").output().is_ok();
    if !found {
        eprintln!("skipping: ffmpeg is not installed");
    }
    found
}

/// franck.mp4 (`$NERF_AVATAR_FRANCK`, else where scripts/setup.sh puts it in the cache:
/// `$NERF_AVATAR_CACHE`, `$XDG_CACHE_HOME/nerf-avatar` or `~/.cache/nerf-avatar`), when it
/// and ffmpeg are there.
pub fn franck() -> Option<PathBuf> {
    let cache = std::env::var_os("NERF_AVATAR_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("nerf-avatar"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nerf-avatar")));
    let path = std::env::var_os("NERF_AVATAR_FRANCK")
        .map(PathBuf::from)
        .or_else(|| cache.map(|c| c.join("franck/franck.mp4")))?;
    if path.is_file() && has_ffmpeg() {
        Some(path)
    } else {
        eprintln!(
            "skipping: franck.mp4 not found at {} (run scripts/setup.sh)",
            path.display()
        );
        None
    }
}
