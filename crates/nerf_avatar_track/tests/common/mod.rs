//! What the integration tests share: finding franck.mp4 (skipping, with a printed reason,
//! where it or ffmpeg is missing).

use std::path::PathBuf;

/// franck.mp4 as fetched by scripts/setup.sh, or `NERF_AVATAR_FRANCK`.
pub fn franck_video() -> Option<PathBuf> {
    let path = std::env::var_os("NERF_AVATAR_FRANCK")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("NERF_AVATAR_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("nerf-avatar"))
                })
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/nerf-avatar"))
                })?;
            Some(cache.join("franck/franck.mp4"))
        })?;
    let ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok();
    if !path.is_file() || !ffmpeg {
        eprintln!(
            "skipping: needs ffmpeg and franck.mp4 at {} (run scripts/setup.sh)",
            path.display()
        );
        return None;
    }
    Some(path)
}
