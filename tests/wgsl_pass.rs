//! The WGSL path of the plugin on lavapipe (Mesa's CPU Vulkan driver, where no GPU exists):
//! the sample avatar with `BackendPreference::Wgpu`, rendered by the render world's WGSL pass
//! straight into its billboard's texture, seen by a small camera, compared with the core
//! crate's CPU render of the same avatar, expression and view. Inside the avatar (pixels the
//! CPU render covers with opacity ≥ 0.98) the two must agree within [`MIN_PSNR_DB`] (the
//! billboard resamples the frame once, bilinear, and blending happens in linear space;
//! measured on lavapipe: 21.7 dB, the same as the worker path's frame in this scene).
//! The avatar must have taken the WGSL path and sent no frame request to a worker thread, and
//! its image must hold no host pixels. Small sizes: lavapipe runs the shaders on the CPU.
//! Skips, saying why, when no Vulkan adapter exists, unless `NERF_AVATAR_REQUIRE` names
//! `vulkan` (CI).

use std::time::Instant;

use bevy::camera::RenderTarget;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::render_resource::TextureFormat;
use bevy_nerf_avatar::render::display::AvatarDisplay;
use bevy_nerf_avatar::{
    AvatarFrameStatus, BackendPreference, Expression, FramePath, NerfAvatar, RenderSettings,
};
use nerf_avatar::camera::Intrinsics;
use test_requirements::{Requirement, available};

mod common;
use common::{
    avatar_region_psnr, capture, cpu_reference, headless_app, update_until, vulkan_adapter,
};

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
    if available(Requirement::Vulkan, vulkan_adapter()).is_none() {
        return;
    }
    // Every pipeline is ready when first used (`headless_app`), so the billboard is drawn in
    // the update its frame is rendered.
    let mut app = headless_app();
    app.add_systems(Startup, setup);
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
    let target = app.world().resource::<Target>().0.clone();
    let screenshot = capture(&mut app, target);

    // The frame came from the WGSL pass: no worker request, no host pixels.
    let world = app.world_mut();
    let mut avatars = world.query::<(&AvatarFrameStatus, &AvatarDisplay)>();
    let (status, display) = avatars.single(world).unwrap();
    assert_eq!(status.path, Some(FramePath::Wgsl));
    assert_eq!(status.worker_requests, 0);
    let shown_pose = status.shown_view.unwrap().pose;
    let image = world
        .resource::<Assets<Image>>()
        .get(&display.image)
        .unwrap();
    assert!(image.data.is_none(), "the billboard image has host pixels");
    assert_eq!(image.width(), FRAME);

    // The CPU render of the same avatar, expression and view.
    let intrinsics = Intrinsics::from_fov(SIDE, SIDE, FOV_DEGREES);
    let (reference, view) = cpu_reference(world, &intrinsics, FRAME);
    assert_eq!(shown_pose, view.pose);
    let (psnr, pixels) = avatar_region_psnr(&screenshot, &reference, "wgsl_pass");
    assert!(
        pixels > 800,
        "the avatar covers only {pixels} pixels of the view"
    );
    assert!(psnr >= MIN_PSNR_DB, "PSNR {psnr:.2} dB < {MIN_PSNR_DB} dB");
}
