//! `nerf-avatar sheet`, run as the built binary.

mod common;
use common::{nerf_avatar, text};

#[test]
fn sheet_has_a_tile_per_control() {
    let dir = tempfile::tempdir().unwrap();
    let avatar = dir.path().join("head.avatar.safetensors");
    let sheet = dir.path().join("sheet.png");
    let (avatar, sheet) = (avatar.to_str().unwrap(), sheet.to_str().unwrap());
    let names = "jawOpen,eyeBlinkLeft,browInnerUp,mouthSmileLeft,mouthSmileRight";
    common::init_tiny_avatar(avatar, names);
    let output = nerf_avatar(&["sheet", avatar, "--out", sheet, "--size", "32x24"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("5 controls"));
    // Five controls make 2 columns × 3 rows of 64 × (18 + 24) tiles with 8-pixel gaps.
    let image = image::open(sheet).unwrap();
    assert_eq!((image.width(), image.height()), (8 + 2 * 72, 8 + 3 * 50));
}

#[test]
fn unreadable_avatar_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.avatar.safetensors");
    let out = dir.path().join("sheet.png");
    let output = nerf_avatar(&[
        "sheet",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("missing.avatar.safetensors"));
    assert!(!out.exists());
}
