//! Finding what several crates' tests look for: ffmpeg, franck.mp4 where `scripts/setup.sh`
//! puts it, the LPIPS VGG16 weights, and a python with `pylivelinkface`. Each says, as its
//! error, what is missing and where it was looked for.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the `ffmpeg` command runs.
pub fn ffmpeg() -> Result<(), String> {
    match Command::new("ffmpeg").arg("-version").output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!("`ffmpeg -version` failed ({})", output.status)),
        Err(error) => Err(format!("ffmpeg is not installed ({error})")),
    }
}

/// franck.mp4, when it and ffmpeg are there: `$NERF_AVATAR_FRANCK`, else where
/// `scripts/setup.sh` puts it in the cache (`$NERF_AVATAR_CACHE`, `$XDG_CACHE_HOME/nerf-avatar`
/// or `~/.cache/nerf-avatar`).
pub fn franck_video() -> Result<PathBuf, String> {
    let path = std::env::var_os("NERF_AVATAR_FRANCK")
        .map(PathBuf::from)
        .or_else(|| cache_dir().map(|cache| cache.join("franck/franck.mp4")))
        .ok_or("no franck.mp4: neither NERF_AVATAR_FRANCK nor HOME is set")?;
    if !path.is_file() {
        return Err(format!("franck.mp4 is not at {}", path.display()));
    }
    ffmpeg()?;
    Ok(path)
}

/// The cache folder of `scripts/setup.sh`.
fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("NERF_AVATAR_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("nerf-avatar"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nerf-avatar")))
}

/// The LPIPS VGG16 weights: `$NERF_AVATAR_LPIPS_DIR/vgg.safetensors`, else the repository's
/// `assets/lpips/vgg.safetensors`.
pub fn vgg_weights() -> Result<PathBuf, String> {
    let dir = std::env::var_os("NERF_AVATAR_LPIPS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/lpips"));
    let path = dir.join("vgg.safetensors");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("no LPIPS VGG16 weights at {}", path.display()))
    }
}

/// A python that imports `pylivelinkface`: `$NERF_AVATAR_PYTHON`, else the environment
/// `scripts/setup.sh` makes in the cache (`livelink-venv`), else `python3`.
pub fn pylivelinkface_python() -> Result<PathBuf, String> {
    let python = std::env::var_os("NERF_AVATAR_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            cache_dir()
                .map(|cache| cache.join("livelink-venv/bin/python"))
                .filter(|python| python.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("python3"));
    match Command::new(&python)
        .args(["-c", "import pylivelinkface"])
        .output()
    {
        Ok(output) if output.status.success() => Ok(python),
        Ok(_) => Err(format!("{} cannot import pylivelinkface", python.display())),
        Err(error) => Err(format!("{} does not run ({error})", python.display())),
    }
}
