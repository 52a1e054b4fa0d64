//! Building `AnimationClip`s of blendshape weights: each curve animates one named weight
//! ([`ExpressionWeight`]) of the avatar's `Expression`. Two clips, "talk" and "surprise",
//! sit under a blend node of an `AnimationGraph`; a system shifts the blend between them, so
//! curves on the same weight mix as any Bevy animation does.
//!
//! ```sh
//! cargo run --release --example drive_curves
//! cargo run --release --example drive_curves -- --frames 30 --screenshot curves.png
//! ```

use bevy::animation::animation_curves::{AnimatableCurve, AnimatableKeyframeCurve};
use bevy::animation::{AnimatedBy, AnimationClip, AnimationTargetId};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy_nerf_avatar::capture::{CapturePlugin, CaptureSettings};
use bevy_nerf_avatar::{ExpressionWeight, NerfAvatar, NerfAvatarPlugin};

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let capture = match CaptureSettings::from_args_or_env(&args) {
        Ok(capture) => capture,
        Err(error) => {
            eprintln!("error: {error}");
            return AppExit::error();
        }
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
    .add_systems(Startup, setup)
    .add_systems(Update, shift_blend);
    if let Some(capture) = capture {
        app.add_plugins(CapturePlugin(capture));
    }
    app.run()
}

/// A clip with one keyframe curve per (blendshape, keyframes) pair, all on `target`.
fn weight_clip(target: AnimationTargetId, tracks: &[(&str, &[(f32, f32)])]) -> AnimationClip {
    let mut clip = AnimationClip::default();
    for (name, keys) in tracks {
        match AnimatableKeyframeCurve::new(keys.iter().copied()) {
            Ok(curve) => clip.add_curve_to_target(
                target,
                AnimatableCurve::new(ExpressionWeight::new(name), curve),
            ),
            Err(error) => error!("curve of {name}: {error}"),
        }
    }
    clip
}

/// The graph's two clip nodes, whose weights `shift_blend` moves.
#[derive(Component)]
struct Blend {
    talk: AnimationNodeIndex,
    surprise: AnimationNodeIndex,
}

fn setup(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    mut clips: ResMut<Assets<AnimationClip>>,
    mut graphs: ResMut<Assets<AnimationGraph>>,
) {
    let name = Name::new("head");
    let target = AnimationTargetId::from_name(&name);
    let talk = weight_clip(
        target,
        &[
            (
                "jawOpen",
                &[(0.0, 0.0), (0.2, 0.6), (0.4, 0.1), (0.6, 0.5), (0.8, 0.0)],
            ),
            ("mouthPucker", &[(0.0, 0.0), (0.4, 0.4), (0.8, 0.0)]),
        ],
    );
    let surprise = weight_clip(
        target,
        &[
            ("jawOpen", &[(0.0, 0.3), (1.0, 0.5), (2.0, 0.3)]),
            ("browInnerUp", &[(0.0, 0.4), (1.0, 0.7), (2.0, 0.4)]),
        ],
    );
    let mut graph = AnimationGraph::new();
    let blend = graph.add_blend(1.0, graph.root);
    let talk = graph.add_clip(clips.add(talk), 1.0, blend);
    let surprise = graph.add_clip(clips.add(surprise), 0.0, blend);
    let mut player = AnimationPlayer::default();
    player.play(talk).repeat();
    player.play(surprise).repeat();

    let avatar = commands
        .spawn((
            name,
            NerfAvatar::new(asset_server.load("sample.avatar.safetensors")),
            player,
            AnimationGraphHandle(graphs.add(graph)),
            target,
            Blend { talk, surprise },
        ))
        .id();
    commands.entity(avatar).insert(AnimatedBy(avatar));
    commands.spawn((
        Camera3d::default(),
        Tonemapping::None,
        Transform::from_xyz(0.15, 0.05, 0.8).looking_at(Vec3::ZERO, Vec3::Y),
    ));
}

/// Moves the blend from talking to surprise and back every four seconds.
fn shift_blend(
    time: Res<Time>,
    avatars: Query<(&Blend, &AnimationGraphHandle)>,
    mut graphs: ResMut<Assets<AnimationGraph>>,
) {
    let surprise = 0.5 - 0.5 * (time.elapsed_secs() * std::f32::consts::TAU / 8.0).cos();
    for (blend, handle) in &avatars {
        let Some(mut graph) = graphs.get_mut(&handle.0) else {
            continue;
        };
        if let Some(node) = graph.get_mut(blend.talk) {
            node.weight = 1.0 - surprise;
        }
        if let Some(node) = graph.get_mut(blend.surprise) {
            node.weight = surprise;
        }
    }
}
