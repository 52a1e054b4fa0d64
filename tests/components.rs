//! The avatar components in a headless `App` (MinimalPlugins): expressions resolve against
//! the avatar and report unknown names once; the render worker's frames arrive without the
//! schedule waiting, match a direct CPU render of the same request, and follow changes.

use std::time::{Duration, Instant};

use bevy::asset::{AssetPlugin, Assets};
use bevy::image::{Image, ImagePlugin};
use bevy::prelude::*;
use bevy_nerf_avatar::render::display::AvatarDisplay;
use bevy_nerf_avatar::{
    AvatarFrameStatus, Expression, NerfAvatar, NerfAvatarAsset, NerfAvatarPlugin, NerfAvatarViewer,
    RenderSettings, ReportedUnknownNames,
};
use nerf_avatar::asset::{Avatar, Precision};
use nerf_avatar::config::ModelConfig;
use nerf_avatar::render::Background;
use nerf_avatar::renderer::{CpuRenderer, FrameRequest, Renderer};

fn small_avatar() -> Avatar {
    let mut config =
        ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into(), "browInnerUp".into()]);
    config.occupancy_resolution = 16;
    Avatar::new(config, 11).unwrap()
}

fn app_with_avatar_file(dir: &std::path::Path) -> App {
    small_avatar()
        .write(dir.join("head.avatar.safetensors"), Precision::F32)
        .unwrap();
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        TransformPlugin,
        AssetPlugin {
            file_path: dir.to_string_lossy().into_owned(),
            ..default()
        },
        ImagePlugin::default(),
        NerfAvatarPlugin,
    ));
    app
}

/// Updates until `done` holds (or panics after a generous deadline).
fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(app) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn expression_set_get_iterate_and_resolve() {
    let mut expression = Expression::default();
    expression.set("jawOpen", 0.7);
    expression.set("eyeBlinkLeft", 1.0);
    expression.set("jawOpen", 0.5);
    assert_eq!(expression.get("jawOpen"), 0.5);
    assert_eq!(expression.get("mouthPucker"), 0.0);
    let all: Vec<_> = expression.iter().collect();
    assert_eq!(all, [("jawOpen", 0.5), ("eyeBlinkLeft", 1.0)]);
    let names = ["browInnerUp".to_owned(), "jawOpen".to_owned()];
    let resolved = expression.resolve(&names);
    assert_eq!(resolved.weights, [0.0, 0.5]);
    assert_eq!(resolved.unknown, ["eyeBlinkLeft"]);
    expression.clear();
    assert_eq!(expression.get("jawOpen"), 0.0);
}

#[test]
fn unknown_names_are_reported_once_and_frames_follow_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_avatar_file(dir.path());
    let handle = app
        .world()
        .resource::<AssetServer>()
        .load("head.avatar.safetensors");
    let settings = RenderSettings {
        resolution: 24,
        ..default()
    };
    let avatar = app
        .world_mut()
        .spawn((
            NerfAvatar::new(handle).with_settings(settings),
            Expression::from_weights([("jawOpen", 0.4), ("notABlendshape", 1.0)]),
        ))
        .id();
    app.world_mut().spawn((
        NerfAvatarViewer,
        Transform::from_xyz(0.1, 0.05, 0.8).looking_at(Vec3::ZERO, Vec3::Y),
    ));

    update_until(&mut app, "the first frame", |app| {
        let status = app.world().get::<AvatarFrameStatus>(avatar).unwrap();
        status.frames_shown >= 1 && status.current
    });
    for _ in 0..5 {
        app.update();
    }
    let reported = app.world().resource::<ReportedUnknownNames>();
    assert!(reported.contains(avatar, "notABlendshape"));
    assert_eq!(reported.len(), 1, "each unknown name is reported once");

    // The shown image is exactly the CPU render of the shown view and expression.
    let world = app.world();
    let status = world.get::<AvatarFrameStatus>(avatar).unwrap();
    let view = status.shown_view.unwrap();
    let asset = world
        .resource::<Assets<NerfAvatarAsset>>()
        .get(&world.get::<NerfAvatar>(avatar).unwrap().avatar)
        .unwrap();
    let expected = CpuRenderer::new(asset.avatar.clone())
        .render(&FrameRequest {
            weights: &[0.4, 0.0],
            intrinsics: view.intrinsics,
            pose: view.pose,
            background: Background::Solid([0.0; 3]),
        })
        .unwrap();
    assert_eq!(expected.width, 24);
    let display = world.get::<AvatarDisplay>(avatar).unwrap();
    let image = world
        .resource::<Assets<Image>>()
        .get(&display.image)
        .unwrap();
    assert_eq!(
        image.data,
        Some(expected.to_linear_premultiplied_rgba8_bytes())
    );
    assert_eq!(
        status.frames_shown, 1,
        "an unchanged avatar is not re-rendered"
    );

    // A new expression makes the frame stale until the next one arrives.
    app.world_mut()
        .get_mut::<Expression>(avatar)
        .unwrap()
        .set("jawOpen", 0.9);
    app.update();
    update_until(&mut app, "the second frame", |app| {
        let status = app.world().get::<AvatarFrameStatus>(avatar).unwrap();
        status.frames_shown >= 2 && status.current
    });
}

#[test]
fn a_failed_avatar_shows_nothing_and_the_app_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_avatar_file(dir.path());
    std::fs::write(
        dir.path().join("broken.avatar.safetensors"),
        b"not an avatar",
    )
    .unwrap();
    let handle = app
        .world()
        .resource::<AssetServer>()
        .load("broken.avatar.safetensors");
    let avatar = app.world_mut().spawn(NerfAvatar::new(handle.clone())).id();
    app.world_mut()
        .spawn((NerfAvatarViewer, Transform::from_xyz(0.0, 0.0, 0.8)));
    update_until(&mut app, "the load to fail", |app| {
        app.world()
            .resource::<AssetServer>()
            .load_state(handle.id())
            .is_failed()
    });
    for _ in 0..10 {
        app.update();
    }
    let status = app.world().get::<AvatarFrameStatus>(avatar).unwrap();
    assert_eq!(status.frames_shown, 0);
    assert!(app.world().get::<AvatarDisplay>(avatar).is_none());
}

#[test]
fn without_a_viewer_the_3d_camera_is_used_not_a_hud_camera_of_higher_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_avatar_file(dir.path());
    let handle = app
        .world()
        .resource::<AssetServer>()
        .load("head.avatar.safetensors");
    let settings = RenderSettings {
        resolution: 16,
        ..default()
    };
    let avatar = app
        .world_mut()
        .spawn(NerfAvatar::new(handle).with_settings(settings))
        .id();
    let scene_camera = Transform::from_xyz(0.1, 0.05, 0.8).looking_at(Vec3::ZERO, Vec3::Y);
    app.world_mut().spawn((Camera3d::default(), scene_camera));
    app.world_mut().spawn((
        Camera2d,
        Camera {
            order: 1,
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, 5.0),
    ));
    update_until(&mut app, "the first frame", |app| {
        let status = app.world().get::<AvatarFrameStatus>(avatar).unwrap();
        status.frames_shown >= 1 && status.current
    });
    let status = app.world().get::<AvatarFrameStatus>(avatar).unwrap();
    let view = status.shown_view.unwrap();
    let camera_position = view.pose.origin();
    let expected = scene_camera.translation;
    for (got, want) in camera_position.iter().zip(expected.to_array()) {
        assert!(
            (got - want).abs() < 1e-4,
            "{camera_position:?} vs {expected}"
        );
    }
}

#[test]
fn a_capture_whose_avatar_fails_to_load_exits_with_an_error() {
    use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_avatar_file(dir.path());
    app.add_plugins(CapturePlugin(CaptureSettings {
        frames: 1_000_000,
        screenshot: dir.path().join("never.png"),
    }));
    let handle = app
        .world()
        .resource::<AssetServer>()
        .load("missing.avatar.safetensors");
    app.world_mut().spawn(NerfAvatar::new(handle));
    let started = Instant::now();
    let exit = loop {
        app.update();
        if let Some(exit) = app.should_exit() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the app kept running"
        );
    };
    assert!(exit.is_error(), "{exit:?}");
}
