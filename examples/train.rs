//! Training an avatar through the core library: reads a dataset folder, trains a `tiny`
//! avatar on the CPU for a number of steps with `nerf_avatar_train::train`, writes the asset
//! file, then shows it in a window, where the Bevy asset server loads it like any other.
//!
//! ```sh
//! cargo run --release -p nerf_avatar_cli -- synth --out out/synthetic --frames 60 --size 128
//! cargo run --release --example train -- --dataset out/synthetic --steps 300 --out out/trained
//! cargo run --release --example train -- --dataset out/synthetic --steps 20 --frames 10 --screenshot trained.png
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use bevy::asset::AssetPlugin;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
use bevy_nerf_avatar::{NerfAvatar, NerfAvatarPlugin};
use nerf_avatar::asset::Precision;
use nerf_avatar::config::ModelConfig;
use nerf_avatar_data::Dataset;
use nerf_avatar_train::{Progress, RunLength, TrainControl, TrainOptions, train};

/// The trained avatar's file name inside the output folder.
const AVATAR_FILE: &str = "trained.avatar.safetensors";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let capture = CaptureSettings::from_args_or_env(&args)?;
    let value_of = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|i| args.get(i + 1))
    };
    let Some(folder) = value_of("--dataset") else {
        bail!("give --dataset DIR (make one with `nerf-avatar synth --out DIR`)");
    };
    let steps: u64 = match value_of("--steps") {
        Some(text) => text.parse().context("--steps must be a whole number")?,
        None => 300,
    };
    let out = PathBuf::from(value_of("--out").map_or("out/trained", String::as_str));

    let dataset = Dataset::load(&PathBuf::from(folder))
        .with_context(|| format!("reading the dataset {folder}"))?;
    let mut config = ModelConfig::tiny().with_blendshapes(dataset.transforms.blendshapes.clone());
    config.head_box = dataset.transforms.head_box;
    let mut options = TrainOptions::new(config, RunLength::Steps(steps));
    // LPIPS needs weights fetched by scripts/setup.sh; the example trains on L1 alone.
    options.perceptual_loss = false;
    options.schedule.learning_rate = 1e-2;
    let stop = AtomicBool::new(false);
    let mut report = |progress: &Progress| {
        if progress.step.is_multiple_of(50) {
            println!(
                "step {} loss {:.4} PSNR {:.2} dB",
                progress.step, progress.loss, progress.psnr
            );
        }
    };
    let outcome = train(
        &dataset,
        folder,
        &options,
        TrainControl {
            stop: &stop,
            on_progress: &mut report,
        },
    )?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let file = out.join(AVATAR_FILE);
    outcome.avatar.write(&file, Precision::F16)?;
    println!("wrote {}", file.display());

    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(AssetPlugin {
            file_path: out.to_string_lossy().into_owned(),
            ..default()
        }),
        NerfAvatarPlugin,
    ))
    .add_systems(Startup, show_trained_avatar);
    if let Some(capture) = capture {
        app.add_plugins(CapturePlugin(capture));
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => bail!("the app exited with status {code}"),
    }
}

fn show_trained_avatar(mut commands: Commands, asset_server: Res<AssetServer>) {
    commands.spawn(NerfAvatar::new(asset_server.load(AVATAR_FILE)));
    commands.spawn((
        Camera3d::default(),
        Tonemapping::None,
        Transform::from_xyz(0.0, 0.0, 0.8).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}
