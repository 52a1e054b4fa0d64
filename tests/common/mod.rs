//! Helpers shared by the plugin's render tests on lavapipe: whether a Vulkan adapter exists,
//! a headless app with the plugin, running an app until something happens, capturing a
//! camera's image, and comparing it with the core crate's CPU render of the same avatar,
//! expression and view.
#![allow(
    dead_code,
    reason = "each test binary includes this module and uses a different subset of it"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use bevy_nerf_avatar::render::{BillboardView, billboard_view};
use bevy_nerf_avatar::{Expression, NerfAvatar, NerfAvatarAsset, NerfAvatarPlugin};
use nerf_avatar::camera::Intrinsics;
use nerf_avatar::pixels::{linear_to_srgb, srgb_to_linear};
use nerf_avatar::render::{Background, RenderedImage};
use nerf_avatar::renderer::{CpuRenderer, FrameRequest, Renderer};

/// Whether a Vulkan adapter (lavapipe where no GPU exists) is there; the reason where not.
pub fn vulkan_adapter() -> Result<(), String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapters = bevy::tasks::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
    if adapters.is_empty() {
        Err("no Vulkan adapter".into())
    } else {
        Ok(())
    }
}

/// A windowless app with Bevy's default plugins (assets from the repository's `assets`) and
/// [`NerfAvatarPlugin`]. Every render pipeline is compiled before it is first used, so what is
/// spawned is drawn in the update it is ready in, however busy the machine (compiled in the
/// background, a pipeline could miss the frames a test captures).
pub fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                close_when_requested: false,
                ..default()
            })
            .set(AssetPlugin {
                file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
                ..default()
            })
            .set(RenderPlugin {
                synchronous_pipeline_compilation: true,
                ..default()
            })
            .disable::<WinitPlugin>(),
        NerfAvatarPlugin,
    ));
    app
}

/// Updates `app` until `done`, failing after five minutes.
pub fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done(app) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        app.update();
    }
}

/// Takes a screenshot of the render-target image `target`.
pub fn capture(app: &mut App, target: Handle<Image>) -> image::RgbImage {
    let captured: Arc<Mutex<Option<Image>>> = Arc::default();
    let slot = Arc::clone(&captured);
    app.world_mut().spawn(Screenshot::image(target)).observe(
        move |screenshot: On<ScreenshotCaptured>| {
            *slot.lock().unwrap() = Some(screenshot.image.clone());
        },
    );
    update_until(app, "the screenshot", |_| {
        captured.lock().unwrap().is_some()
    });
    let screenshot = captured.lock().unwrap().take().unwrap();
    screenshot.try_into_dynamic().unwrap().to_rgb8()
}

/// The CPU render, over black, of the avatar as `world` shows it from its only 3D camera
/// (`intrinsics` being that camera's), and the billboard view it is seen at, with frames of
/// `resolution` pixels.
pub fn cpu_reference(
    world: &mut World,
    intrinsics: &Intrinsics,
    resolution: u32,
) -> (RenderedImage, BillboardView) {
    let mut avatars = world.query::<(&NerfAvatar, &Expression, &GlobalTransform)>();
    let mut cameras = world.query_filtered::<&GlobalTransform, With<Camera3d>>();
    let camera_transform = *cameras.single(world).unwrap();
    let (avatar, expression, avatar_transform) = avatars.single(world).unwrap();
    let asset = world
        .resource::<Assets<NerfAvatarAsset>>()
        .get(&avatar.avatar)
        .unwrap();
    let config = &asset.avatar.config;
    let view = billboard_view(
        &avatar_transform.affine(),
        &camera_transform.affine(),
        &config.head_box,
        config.near_distance,
        resolution,
    )
    .unwrap();
    let mut weights = expression.resolve(asset.avatar.blendshapes()).weights;
    asset.avatar.clamp_expression(&mut weights);
    let image = CpuRenderer::new(Arc::clone(&asset.avatar))
        .render(&FrameRequest {
            weights: &weights,
            intrinsics: *intrinsics,
            pose: view.pose,
            background: Background::Solid([0.0; 3]),
        })
        .unwrap();
    (image, view)
}

/// The head's soft edges as the scene shows them: over the pixels `reference` (rendered over
/// black) covers with an opacity in (0.05, 0.95), the mean signed difference in 8-bit levels
/// between `shown` and the head's own colour blended over `behind` (the same view without
/// the avatar) in linear space, `α · colour + (1 − α) · behind`, and how many pixels that is.
/// A negative difference is an edge darker than it should be.
pub fn soft_edge_bias(
    shown: &image::RgbImage,
    behind: &image::RgbImage,
    reference: &RenderedImage,
) -> (f64, usize) {
    let mut sum = 0.0;
    let mut pixels = 0usize;
    for (i, &alpha) in reference.alpha.iter().enumerate() {
        if !(0.05..0.95).contains(&alpha) {
            continue;
        }
        let (x, y) = (i as u32 % reference.width, i as u32 / reference.width);
        let (got, scene) = (shown.get_pixel(x, y).0, behind.get_pixel(x, y).0);
        for c in 0..3 {
            let own = (reference.rgb[i][c] / alpha).clamp(0.0, 1.0);
            let under = srgb_to_linear(f32::from(scene[c]) / 255.0);
            let blended = alpha * srgb_to_linear(own) + (1.0 - alpha) * under;
            let expected = linear_to_srgb(blended) * 255.0;
            sum += f64::from(got[c]) - f64::from(expected);
        }
        pixels += 1;
    }
    (sum / (3 * pixels.max(1)) as f64, pixels)
}

/// PSNR in dB between `shown` and `reference` inside the avatar (pixels the reference covers
/// with opacity ≥ 0.98), and how many pixels that is. Saves both images as `NAME_bevy.png`
/// and `NAME_cpu.png` in the test's temporary folder.
pub fn avatar_region_psnr(
    shown: &image::RgbImage,
    reference: &RenderedImage,
    name: &str,
) -> (f64, usize) {
    let reference_png = reference.to_rgb8();
    let mut squared_error = 0.0;
    let mut pixels = 0usize;
    for (i, alpha) in reference.alpha.iter().enumerate() {
        if *alpha < 0.98 {
            continue;
        }
        let (x, y) = (i as u32 % reference.width, i as u32 / reference.width);
        let (got, expected) = (shown.get_pixel(x, y).0, reference_png.get_pixel(x, y).0);
        for c in 0..3 {
            let difference = f64::from(got[c]) - f64::from(expected[c]);
            squared_error += difference * difference;
        }
        pixels += 1;
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    shown.save(out.join(format!("{name}_bevy.png"))).unwrap();
    reference_png
        .save(out.join(format!("{name}_cpu.png")))
        .unwrap();
    let mse = squared_error / (3 * pixels.max(1)) as f64;
    let psnr = 10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10();
    eprintln!(
        "avatar region: {pixels} pixels, PSNR {psnr:.2} dB (images in {})",
        out.display()
    );
    (psnr, pixels)
}
