//! Reenactment: plays a recorded expression track on an avatar, in a loop. The track is a
//! CSV clip with ARKit column names (as face-capture apps export; default: the shipped
//! `clips/talk.expression.csv`, an asset path) or the coefficient track of a dataset folder
//! (`--dataset DIR`, e.g. one made by `nerf-avatar synth`), played with an
//! `ExpressionClipPlayer`.
//!
//! ```sh
//! cargo run --release --example reenact
//! cargo run --release --example reenact -- --dataset out/synthetic
//! cargo run --release --example reenact -- --csv clips/talk.expression.csv --frames 30 --screenshot reenact.png
//! ```

use std::path::PathBuf;

use anyhow::Context;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
use bevy_nerf_avatar::{ExpressionClip, ExpressionClipPlayer, NerfAvatar, NerfAvatarPlugin};
use nerf_avatar_data::Dataset;
use nerf_avatar_data::synthetic::motion::FRAME_RATE;

/// Where the expression track comes from.
#[derive(Resource, Clone)]
enum Track {
    /// A CSV clip, by asset path.
    Csv(String),
    /// A dataset's coefficient track, already read.
    Dataset(Box<ExpressionClip>),
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let capture = CaptureSettings::from_args_or_env(&args)?;
    let value_of = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|i| args.get(i + 1))
    };
    let track = match value_of("--dataset") {
        Some(folder) => {
            let dataset = Dataset::load(&PathBuf::from(folder))
                .with_context(|| format!("reading the dataset {folder}"))?;
            let clip = dataset
                .expression_clip(FRAME_RATE)
                .with_context(|| format!("the expression track of {folder}"))?;
            Track::Dataset(Box::new(clip.into()))
        }
        None => Track::Csv(
            value_of("--csv")
                .cloned()
                .unwrap_or_else(|| "clips/talk.expression.csv".into()),
        ),
    };
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(AssetPlugin {
            // The project's assets wherever the binary is started from.
            file_path: concat!(env!("CARGO_MANIFEST_DIR"), "/assets").into(),
            ..default()
        }),
        NerfAvatarPlugin,
    ))
    .insert_resource(track)
    .add_systems(Startup, setup);
    if let Some(capture) = capture {
        app.add_plugins(CapturePlugin(capture));
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => anyhow::bail!("the app exited with status {code}"),
    }
}

fn setup(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    track: Res<Track>,
    mut clips: ResMut<Assets<ExpressionClip>>,
) {
    let clip = match &*track {
        Track::Csv(path) => asset_server.load(path.clone()),
        Track::Dataset(clip) => clips.add(ExpressionClip::clone(clip)),
    };
    commands.spawn((
        NerfAvatar::new(asset_server.load("sample.avatar.safetensors")),
        ExpressionClipPlayer::play(clip),
    ));
    commands.spawn((
        Camera3d::default(),
        Tonemapping::None,
        Transform::from_xyz(0.0, 0.0, 0.8).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}
