//! The WGSL path of the plugin on lavapipe (Mesa's CPU Vulkan driver, where no GPU exists):
//! the sample avatar with `BackendPreference::Wgpu`, rendered by the render world's WGSL pass
//! straight into its billboard's texture, seen by a small camera, compared with the core
//! crate's CPU render of the same avatar, expression and view. Inside the avatar (pixels the
//! CPU render covers with opacity ≥ 0.98) the two must agree within [`MIN_PSNR_DB`] (the
//! billboard resamples the frame once, bilinear, and blending happens in linear space;
//! measured on lavapipe: 21.7 dB, the same as the worker path's frame in this scene).
//! The avatar must have taken the WGSL path and sent no frame request to a worker thread, and
//! its image must hold no host pixels. Small sizes: lavapipe runs the shaders on the CPU.
//! Skips, saying why, when no Vulkan adapter exists.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::camera::RenderTarget;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::render_resource::TextureFormat;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::ExitCondition;
use bevy::winit::WinitPlugin;
use bevy_nerf_avatar::render::billboard_view;
use bevy_nerf_avatar::render::display::AvatarDisplay;
use bevy_nerf_avatar::{
    AvatarFrameStatus, BackendPreference, Expression, FramePath, NerfAvatar, NerfAvatarAsset,
    NerfAvatarPlugin, RenderSettings,
};
use nerf_avatar::camera::Intrinsics;
use nerf_avatar::render::{Background, render_image};

/// The bound on the avatar region's PSNR between the Bevy screenshot and the CPU render.
const MIN_PSNR_DB: f64 = 20.0;
/// Edge of the camera's square image.
const SIDE: u32 = 96;
/// Edge of the avatar's frame.
const FRAME: u32 = 80;
/// The camera's vertical field of view.
const FOV_DEGREES: f32 = 30.0;
/// Where the head is.
const HEAD: Vec3 = Vec3::new(0.0, 1.6, 0.0);

fn vulkan_adapter_exists() -> bool {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    !bevy::tasks::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN)).is_empty()
}

fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(240);
    while !done(app) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        app.update();
    }
}

#[derive(Resource)]
struct Target(Handle<Image>);

/// A camera looking at the head from the front left, into an image, and the sample avatar
/// with an expression, on the WGSL path.
fn setup(mut commands: Commands, assets: Res<AssetServer>, mut images: ResMut<Assets<Image>>) {
    let image = images.add(Image::new_target_texture(
        SIDE,
        SIDE,
        TextureFormat::Rgba8UnormSrgb,
        None,
    ));
    commands.insert_resource(Target(image.clone()));
    let settings = RenderSettings {
        resolution: FRAME,
        backend: BackendPreference::Wgpu,
        ..default()
    };
    commands.spawn((
        NerfAvatar::new(assets.load("sample.avatar.safetensors")).with_settings(settings),
        Expression::from_weights([("jawOpen", 0.4), ("mouthSmileLeft", 0.3)]),
        Transform::from_translation(HEAD),
    ));
    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: FOV_DEGREES.to_radians(),
            aspect_ratio: 1.0,
            ..default()
        }),
        Tonemapping::None,
        RenderTarget::Image(image.into()),
        Transform::from_translation(HEAD + Vec3::new(-0.3, 0.1, 0.85)).looking_at(HEAD, Vec3::Y),
    ));
}

#[test]
fn wgsl_pass_renders_the_avatar_like_the_cpu() {
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
            // Every pipeline is ready when first used, so the billboard is drawn in the
            // update its frame is rendered.
            .set(RenderPlugin {
                synchronous_pipeline_compilation: true,
                ..default()
            })
            .disable::<WinitPlugin>(),
        NerfAvatarPlugin,
    ))
    .add_systems(Startup, setup);
    app.finish();
    app.cleanup();

    let started = Instant::now();
    update_until(&mut app, "the avatar's frame", |app| {
        let mut query = app.world_mut().query::<&AvatarFrameStatus>();
        query
            .iter(app.world())
            .any(|status| status.frames_shown > 0 && status.current)
    });
    eprintln!(
        "first WGSL frame after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // A few more frames, for pipelines compiled in the background.
    for _ in 0..5 {
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

    let world = app.world_mut();
    let mut avatars = world.query::<(
        &NerfAvatar,
        &Expression,
        &GlobalTransform,
        &AvatarFrameStatus,
        &AvatarDisplay,
    )>();
    let mut cameras = world.query_filtered::<&GlobalTransform, With<Camera3d>>();
    let camera_transform = *cameras.single(world).unwrap();
    let (avatar, expression, avatar_transform, status, display) = avatars.single(world).unwrap();
    // The frame came from the WGSL pass: no worker request, no host pixels.
    assert_eq!(status.path, Some(FramePath::Wgsl));
    assert_eq!(status.worker_requests, 0);
    let image = world
        .resource::<Assets<Image>>()
        .get(&display.image)
        .unwrap();
    assert!(image.data.is_none(), "the billboard image has host pixels");
    assert_eq!(image.width(), FRAME);

    // The CPU render of the same avatar, expression and view.
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
        FRAME,
    )
    .unwrap();
    assert_eq!(status.shown_view.unwrap().pose, view.pose);
    let mut weights = expression.resolve(asset.avatar.blendshapes()).weights;
    asset.avatar.clamp_expression(&mut weights);
    let reference = render_image(
        &asset.model,
        &asset.avatar.params,
        &weights,
        &asset.avatar.occupancy,
        &Intrinsics::from_fov(SIDE, SIDE, FOV_DEGREES),
        &view.pose,
        Background::Solid([0.0; 3]),
    );

    let mut squared_error = 0.0;
    let mut pixels = 0usize;
    let mut reference_png = image::RgbImage::new(SIDE, SIDE);
    for (i, (rgb, alpha)) in reference.rgb.iter().zip(&reference.alpha).enumerate() {
        let (x, y) = (i as u32 % SIDE, i as u32 / SIDE);
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
    screenshot.save(out.join("wgsl_pass_bevy.png")).unwrap();
    reference_png.save(out.join("wgsl_pass_cpu.png")).unwrap();
    assert!(
        pixels > 800,
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
