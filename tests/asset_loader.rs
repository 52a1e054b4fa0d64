//! The asset loader in a headless `App`: a valid avatar file loads with its blendshapes, a
//! corrupt one fails with an error naming the file, and the app keeps running.

use std::time::{Duration, Instant};

use bevy::asset::{AssetPlugin, AssetServer, Assets, Handle, LoadState};
use bevy::prelude::*;
use bevy_nerf_avatar::{NerfAvatarAsset, NerfAvatarPlugin};
use nerf_avatar::asset::{Avatar, Precision};
use nerf_avatar::config::ModelConfig;

fn app_reading(dir: &std::path::Path) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: dir.to_string_lossy().into_owned(),
            ..default()
        },
        NerfAvatarPlugin,
    ));
    app
}

fn settle(app: &mut App, handle: &Handle<NerfAvatarAsset>) -> LoadState {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        app.update();
        let state = app
            .world()
            .resource::<AssetServer>()
            .load_state(handle.id());
        if !matches!(state, LoadState::Loading | LoadState::NotLoaded) || Instant::now() > deadline
        {
            return state;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn valid_file_loads_and_corrupt_file_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into(), "browInnerUp".into()]);
    let avatar = Avatar::new(config, 5).unwrap();
    avatar
        .write(dir.path().join("good.avatar.safetensors"), Precision::F16)
        .unwrap();
    let mut bytes = avatar.to_bytes(Precision::F32).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(dir.path().join("bad.avatar.safetensors"), bytes).unwrap();

    let mut app = app_reading(dir.path());
    let server = app.world().resource::<AssetServer>().clone();
    let good: Handle<NerfAvatarAsset> = server.load("good.avatar.safetensors");
    let bad: Handle<NerfAvatarAsset> = server.load("bad.avatar.safetensors");

    assert!(matches!(settle(&mut app, &good), LoadState::Loaded));
    let assets = app.world().resource::<Assets<NerfAvatarAsset>>();
    let loaded = &assets.get(&good).unwrap().avatar;
    assert_eq!(loaded.config.blendshapes, ["jawOpen", "browInnerUp"]);

    match settle(&mut app, &bad) {
        LoadState::Failed(error) => {
            let message = error.to_string();
            assert!(message.contains("bad.avatar.safetensors"), "{message}");
        }
        other => panic!("corrupt avatar should fail to load, got {other:?}"),
    }
    app.update();
}

#[test]
fn a_changed_file_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar.safetensors");
    let first = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into()]);
    Avatar::new(first, 1)
        .unwrap()
        .write(&path, Precision::F16)
        .unwrap();
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: dir.path().to_string_lossy().into_owned(),
            watch_for_changes_override: Some(true),
            ..default()
        },
        NerfAvatarPlugin,
    ));
    let server = app.world().resource::<AssetServer>().clone();
    let handle: Handle<NerfAvatarAsset> = server.load("head.avatar.safetensors");
    assert!(matches!(settle(&mut app, &handle), LoadState::Loaded));
    let blendshapes = |app: &App| {
        let assets = app.world().resource::<Assets<NerfAvatarAsset>>();
        assets.get(&handle).unwrap().avatar.config.blendshapes.len()
    };
    assert_eq!(blendshapes(&app), 1);

    // Give the watcher a moment to start, then replace the file.
    std::thread::sleep(Duration::from_millis(300));
    let second = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into(), "browInnerUp".into()]);
    let bytes = Avatar::new(second, 2)
        .unwrap()
        .to_bytes(Precision::F16)
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while blendshapes(&app) != 2 {
        assert!(
            Instant::now() < deadline,
            "the changed file was not reloaded"
        );
        app.update();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_corrupt_expression_clip_fails_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("talk.expression.csv"),
        "time,jawOpen\n0,0.1\n0.1,oops\n",
    )
    .unwrap();
    let mut app = app_reading(dir.path());
    let server = app.world().resource::<AssetServer>().clone();
    let clip: Handle<bevy_nerf_avatar::ExpressionClip> = server.load("talk.expression.csv");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        app.update();
        match server.load_state(clip.id()) {
            LoadState::Failed(error) => {
                let message = error.to_string();
                assert!(message.contains("talk.expression.csv"), "{message}");
                assert!(message.contains("oops"), "{message}");
                break;
            }
            LoadState::Loaded => panic!("a corrupt clip loaded"),
            _ => assert!(Instant::now() < deadline, "the clip never finished loading"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    app.update();
}
