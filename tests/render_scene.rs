//! The `avatar_scene` example's scene rendered by Bevy (on lavapipe, Mesa's CPU Vulkan driver,
//! where no GPU exists) into an image, compared with the core crate's CPU render of the same
//! avatar, expression and view. Inside the avatar (pixels the CPU render covers with
//! opacity ≥ 0.98) the two must agree within [`MIN_PSNR_DB`]: the billboard resamples the
//! frame once (bilinear), and blending happens in linear space, so they are close but not
//! bit-equal (measured on lavapipe: 25.1 dB; the Bevy image is slightly darker, which is the
//! main difference and not yet explained). Skips, saying why, when no Vulkan adapter exists.

#[path = "../examples/avatar_scene.rs"]
#[expect(
    dead_code,
    reason = "the test runs the example's scene in its own app, not its main"
)]
mod avatar_scene;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avatar_scene::AvatarScenePlugin;
use bevy::camera::RenderTarget;
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use bevy_nerf_avatar::render::billboard_view;
use bevy_nerf_avatar::{
    AvatarFrameStatus, Expression, NerfAvatar, NerfAvatarAsset, NerfAvatarPlugin,
};
use nerf_avatar::camera::Intrinsics;
use nerf_avatar::render::{Background, render_image};

/// The bound on the avatar region's PSNR between the Bevy screenshot and the CPU render.
const MIN_PSNR_DB: f64 = 22.0;
/// Size of the rendered image.
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
/// The scene camera's vertical field of view (as `avatar_scene` sets it).
const FOV_DEGREES: f32 = 30.0;

fn vulkan_adapter_exists() -> bool {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    !bevy::tasks::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN)).is_empty()
}

fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done(app) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        app.update();
    }
}

/// Points every camera at an image of the test's size.
fn render_into_image(
    mut commands: Commands,
    cameras: Query<Entity, With<Camera3d>>,
    mut images: ResMut<Assets<Image>>,
) {
    let image = images.add(Image::new_target_texture(
        WIDTH,
        HEIGHT,
        TextureFormat::Rgba8UnormSrgb,
        None,
    ));
    commands.insert_resource(Target(image.clone()));
    for camera in &cameras {
        commands
            .entity(camera)
            .insert(RenderTarget::Image(image.clone().into()));
    }
}

#[derive(Resource)]
struct Target(Handle<Image>);

#[test]
fn avatar_scene_matches_the_cpu_render() {
    if !vulkan_adapter_exists() {
        eprintln!(
            "skipped: no Vulkan adapter (install mesa-vulkan-drivers for lavapipe, see .ci/run)"
        );
        return;
    }
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
            .disable::<WinitPlugin>(),
        NerfAvatarPlugin,
        AvatarScenePlugin,
    ))
    .add_systems(PostStartup, render_into_image);
    app.finish();
    app.cleanup();

    // Let the scene run and animate, then stop time and wait for the avatar's frame.
    for _ in 0..10 {
        app.update();
    }
    app.world_mut().resource_mut::<Time<Virtual>>().pause();
    update_until(&mut app, "the avatar's frame", |app| {
        let mut query = app.world_mut().query::<&AvatarFrameStatus>();
        query
            .iter(app.world())
            .all(|status| status.frames_shown > 0 && status.current)
    });
    // A few more frames, for pipelines compiled in the background.
    for _ in 0..10 {
        app.update();
    }
    let captured: Arc<Mutex<Option<Image>>> = Arc::default();
    let slot = Arc::clone(&captured);
    let target = app.world().resource::<Target>().0.clone();
    app.world_mut().spawn(Screenshot::image(target)).observe(
        move |screenshot: On<ScreenshotCaptured>| {
            *slot.lock().unwrap() = Some(screenshot.image.clone());
        },
    );
    update_until(&mut app, "the screenshot", |_| {
        captured.lock().unwrap().is_some()
    });
    let screenshot = captured.lock().unwrap().take().unwrap();
    let screenshot = screenshot.try_into_dynamic().unwrap().to_rgb8();

    // The CPU render of the same avatar, expression and view.
    let world = app.world_mut();
    let mut avatars = world.query::<(
        &NerfAvatar,
        &Expression,
        &GlobalTransform,
        &AvatarFrameStatus,
    )>();
    let mut cameras = world.query_filtered::<&GlobalTransform, With<Camera3d>>();
    let camera_transform = *cameras.single(world).unwrap();
    let (avatar, expression, avatar_transform, status) = avatars.single(world).unwrap();
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
        8,
    )
    .unwrap();
    assert_eq!(status.shown_view.unwrap().pose, view.pose);
    let mut weights = expression.resolve(asset.avatar.blendshapes()).weights;
    asset.avatar.clamp_expression(&mut weights);
    let intrinsics = Intrinsics::from_fov(WIDTH, HEIGHT, FOV_DEGREES);
    let reference = render_image(
        &asset.model,
        &asset.avatar.params,
        &weights,
        &asset.avatar.occupancy,
        &intrinsics,
        &view.pose,
        Background::Solid([0.0; 3]),
    );

    let mut squared_error = 0.0;
    let mut pixels = 0usize;
    let mut reference_png = image::RgbImage::new(WIDTH, HEIGHT);
    for (i, (rgb, alpha)) in reference.rgb.iter().zip(&reference.alpha).enumerate() {
        let (x, y) = (i as u32 % WIDTH, i as u32 / WIDTH);
        let expected = rgb.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8);
        reference_png.put_pixel(x, y, image::Rgb(expected));
        if *alpha < 0.98 {
            continue;
        }
        let shown = screenshot.get_pixel(x, y).0;
        for c in 0..3 {
            let difference = f64::from(shown[c]) - f64::from(expected[c]);
            squared_error += difference * difference;
        }
        pixels += 1;
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    screenshot.save(out.join("avatar_scene_bevy.png")).unwrap();
    reference_png
        .save(out.join("avatar_scene_cpu.png"))
        .unwrap();
    assert!(
        pixels > 2000,
        "the avatar covers only {pixels} pixels of the view"
    );
    let mse = squared_error / (3 * pixels) as f64;
    let psnr = 10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10();
    eprintln!(
        "avatar region: {pixels} pixels, PSNR {psnr:.2} dB (images in {})",
        out.display()
    );
    assert!(psnr >= MIN_PSNR_DB, "PSNR {psnr:.2} dB < {MIN_PSNR_DB} dB");
}
