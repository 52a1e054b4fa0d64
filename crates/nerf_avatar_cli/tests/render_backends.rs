//! `nerf-avatar render --backend cpu` and `--backend wgpu` write the same image (PSNR ≥ 40 dB
//! between the PNGs). Skips, saying why, where no GPU adapter exists, unless
//! `NERF_AVATAR_REQUIRE` names `vulkan` (CI).

use std::path::Path;

use nerf_avatar_eval::metrics::image::{ImageRef, psnr};
use nerf_avatar_wgpu::WgpuDevice;
use test_requirements::{Requirement, available};

mod common;
use common::succeed;

fn pixels(path: &Path) -> Vec<[f32; 3]> {
    let image = image::open(path).unwrap().to_rgb8();
    image
        .pixels()
        .map(|p| p.0.map(|v| f32::from(v) / 255.0))
        .collect()
}

#[test]
fn cpu_and_wgpu_backends_render_the_same_png() {
    if available(Requirement::Vulkan, WgpuDevice::open()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let avatar = dir.path().join("head.avatar.safetensors");
    let avatar = avatar.to_str().unwrap();
    common::init_tiny_avatar(avatar, "jawOpen,smileLeft");
    let mut images = Vec::new();
    for backend in ["cpu", "wgpu"] {
        let png = dir.path().join(format!("{backend}.png"));
        let stderr = succeed(&[
            "render",
            avatar,
            "--out",
            png.to_str().unwrap(),
            "--size",
            "24x24",
            "--expression",
            "jawOpen=0.6",
            "--yaw",
            "25",
            "--background",
            "#336699",
            "--backend",
            backend,
        ]);
        assert!(stderr.contains(&format!("backend: {backend}")), "{stderr}");
        images.push(pixels(&png));
    }
    let image = |i: usize| ImageRef::new(&images[i], 24, 24).unwrap();
    let db = psnr(image(0), image(1)).unwrap();
    assert!(db >= 40.0, "{db} dB");
}
