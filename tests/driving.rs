//! Expression drivers in a headless `App` with a fixed time step: animation curves on named
//! weights through `AnimationPlayer`, the glTF `MorphWeights` bridge, and recorded clips
//! with looping and cross-fades.

use std::time::Duration;

use bevy::animation::animation_curves::{AnimatableCurve, AnimatableKeyframeCurve};
use bevy::animation::{AnimatedBy, AnimationClip, AnimationPlugin, AnimationTargetId};
use bevy::asset::AssetPlugin;
use bevy::mesh::morph::MorphWeights;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_nerf_avatar::{
    Expression, ExpressionClip, ExpressionClipPlayer, ExpressionWeight, MorphWeightsBridge,
    NerfAvatarPlugin,
};

/// Seconds each update advances.
const STEP: f32 = 0.1;

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        AnimationPlugin,
        NerfAvatarPlugin,
    ))
    .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs_f32(
        STEP,
    )));
    app
}

fn near(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4
}

#[test]
fn animation_curves_drive_named_weights() {
    let mut app = app();
    let name = Name::new("head");
    let target = AnimationTargetId::from_name(&name);
    let mut clip = AnimationClip::default();
    let ramp = AnimatableKeyframeCurve::new([(0.0, 0.0), (1.0, 1.0)]).unwrap();
    clip.add_curve_to_target(
        target,
        AnimatableCurve::new(ExpressionWeight::new("jawOpen"), ramp),
    );
    let blink = AnimatableKeyframeCurve::new([(0.0, 1.0), (1.0, 0.0)]).unwrap();
    clip.add_curve_to_target(
        target,
        AnimatableCurve::new(ExpressionWeight::new("eyeBlinkLeft"), blink),
    );
    let clip = app
        .world_mut()
        .resource_mut::<Assets<AnimationClip>>()
        .add(clip);
    let (graph, node) = AnimationGraph::from_clip(clip);
    let graph = app
        .world_mut()
        .resource_mut::<Assets<AnimationGraph>>()
        .add(graph);
    let mut player = AnimationPlayer::default();
    player.play(node);
    let entity = app
        .world_mut()
        .spawn((
            name,
            Expression::default(),
            player,
            AnimationGraphHandle(graph),
            target,
        ))
        .id();
    app.world_mut()
        .entity_mut(entity)
        .insert(AnimatedBy(entity));

    // The first update has no elapsed time; then each advances STEP.
    for _ in 0..6 {
        app.update();
    }
    let expression = app.world().get::<Expression>(entity).unwrap();
    let seconds = app
        .world()
        .get::<AnimationPlayer>(entity)
        .unwrap()
        .animation(node)
        .unwrap()
        .seek_time();
    assert!(seconds > 0.2 && seconds < 0.8, "{seconds}");
    assert!(near(expression.get("jawOpen"), seconds), "{expression:?}");
    assert!(near(expression.get("eyeBlinkLeft"), 1.0 - seconds));
}

#[test]
fn morph_weights_bridge_maps_target_names() {
    let mut app = app();
    let source = app
        .world_mut()
        .spawn(MorphWeights::new(vec![0.25, 0.5, 0.75], None).unwrap())
        .id();
    let bridge =
        MorphWeightsBridge::from_target_names(source, &["blendShape1.JawOpen", "Smile", "brow"])
            .map(2, "browInnerUp");
    assert_eq!(bridge.targets[1], None);
    let avatar = app.world_mut().spawn((Expression::default(), bridge)).id();
    app.update();
    let expression = app.world().get::<Expression>(avatar).unwrap();
    assert_eq!(
        expression.iter().collect::<Vec<_>>(),
        [("jawOpen", 0.25), ("browInnerUp", 0.75)]
    );
    app.world_mut()
        .get_mut::<MorphWeights>(source)
        .unwrap()
        .weights_mut()[0] = 0.9;
    app.update();
    assert_eq!(
        app.world()
            .get::<Expression>(avatar)
            .unwrap()
            .get("jawOpen"),
        0.9
    );
}

fn ramp_clip(name: &str, from: f32, to: f32) -> ExpressionClip {
    ExpressionClip::from_csv(&format!("time,{name}\n0,{from}\n1,{to}\n"), "ramp", 60.0).unwrap()
}

#[test]
fn clips_play_loop_and_crossfade() {
    let mut app = app();
    let (up, flat) = {
        let mut clips = app.world_mut().resource_mut::<Assets<ExpressionClip>>();
        (
            clips.add(ramp_clip("jawOpen", 0.0, 1.0)),
            clips.add(ramp_clip("jawOpen", 0.5, 0.5)),
        )
    };
    let avatar = app
        .world_mut()
        .spawn((Expression::default(), ExpressionClipPlayer::play(up)))
        .id();
    let jaw = |app: &App| {
        app.world()
            .get::<Expression>(avatar)
            .unwrap()
            .get("jawOpen")
    };
    // Updates sample the clip at the layer's time, then advance it by the update's delta:
    // the first update has no delta, so after n updates the sample is at (n - 2) * STEP.
    for _ in 0..5 {
        app.update();
    }
    assert!(near(jaw(&app), 0.3), "{}", jaw(&app));
    // The clip lasts 1 s and loops: 1.2 s in is 0.2 s in.
    for _ in 0..9 {
        app.update();
    }
    assert!(near(jaw(&app), 0.2), "{}", jaw(&app));

    // Cross-fading over 1 s to a flat 0.5: halfway through, both count half.
    let time_now = app
        .world()
        .get::<ExpressionClipPlayer>(avatar)
        .unwrap()
        .layers[0]
        .time;
    app.world_mut()
        .get_mut::<ExpressionClipPlayer>(avatar)
        .unwrap()
        .crossfade_to(flat, 1.0);
    for _ in 0..6 {
        app.update();
    }
    let player = app.world().get::<ExpressionClipPlayer>(avatar).unwrap();
    assert_eq!(player.layers.len(), 2);
    let (old, new) = (&player.layers[0], &player.layers[1]);
    assert!(near(old.weight + new.weight, 1.0));
    assert!(near(new.weight, 0.6), "{}", new.weight);
    let old_sample_time = (time_now + 0.5).rem_euclid(1.0);
    assert!(
        near(jaw(&app), 0.5 * 0.5 + 0.5 * old_sample_time),
        "{}",
        jaw(&app)
    );
    for _ in 0..10 {
        app.update();
    }
    let player = app.world().get::<ExpressionClipPlayer>(avatar).unwrap();
    assert_eq!(player.layers.len(), 1, "the faded-out layer is dropped");
    assert!(near(jaw(&app), 0.5));
}
