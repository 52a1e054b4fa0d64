//! `nerf-avatar init` and `nerf-avatar info`, run as the built binary.

use std::path::Path;

mod common;
use common::{nerf_avatar, text};

fn init_tiny(path: &Path, extra: &[&str]) {
    let path = path.to_str().unwrap();
    let mut args = vec!["init", "--out", path, "--preset", "tiny"];
    args.extend(["--blendshapes", "jawOpen,eyeBlinkLeft", "--seed", "5"]);
    args.extend(extra);
    let output = nerf_avatar(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn init_then_info_describes_the_avatar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar");
    init_tiny(&path, &[]);
    let output = nerf_avatar(&["info", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for expected in [
        "version 1",
        "f32 weights",
        "12 levels, 2^14 entries",
        "64×64×64 cells, 100.0% occupied",
        "jawOpen",
        "eyeBlinkLeft",
        "[0, 1]",
        "not trained",
    ] {
        assert!(
            stdout.contains(expected),
            "`{expected}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn info_json_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar");
    init_tiny(&path, &["--f16"]);
    let output = nerf_avatar(&["info", "--json", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["format"], "nerf-avatar");
    assert_eq!(info["version"], 1);
    assert_eq!(info["precision"], "f16");
    assert_eq!(info["blendshapes"][0]["name"], "jawOpen");
    assert_eq!(info["blendshapes"][1]["max"], 1.0);
    assert_eq!(info["config"]["grid"]["levels"], 12);
    assert_eq!(info["occupancy"]["occupied_fraction"], 1.0);
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(info["file_size"], size);
}

#[test]
fn info_on_a_corrupt_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar");
    init_tiny(&path, &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let output = nerf_avatar(&["info", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("head.avatar") && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    std::fs::write(&path, b"not an avatar at all").unwrap();
    let output = nerf_avatar(&["info", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("head.avatar"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn init_rejects_bad_blendshape_names_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar");
    let output = nerf_avatar(&[
        "init",
        "--out",
        path.to_str().unwrap(),
        "--preset",
        "tiny",
        "--blendshapes",
        "jawOpen,jawOpen",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("jawOpen") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!path.exists());
}
