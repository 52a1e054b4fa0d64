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

/// A Live Link Face packet with the jaw open by `jaw` and the head turned by `yaw`.
fn live_link_packet(frame: i32, jaw: f32, yaw: f32) -> Vec<u8> {
    use nerf_avatar_live::livelink::{LIVE_LINK_BLENDSHAPES, encode};
    let mut blendshapes = [0.0; 52];
    let jaw_open = LIVE_LINK_BLENDSHAPES.iter().position(|n| *n == "jawOpen");
    blendshapes[jaw_open.unwrap()] = jaw;
    let mut pose = nerf_avatar_live::HeadPose::default();
    pose.head.yaw = yaw;
    encode(&nerf_avatar_live::Packet {
        device_id: "test-phone".into(),
        subject_name: "performer".into(),
        frame_time: nerf_avatar_live::FrameTime {
            frame,
            sub_frame: 0.0,
            rate_numerator: 60,
            rate_denominator: 1,
        },
        blendshapes,
        pose,
    })
}

#[test]
fn live_link_packets_drive_the_expression_and_the_head_and_garbage_is_dropped() {
    use bevy_nerf_avatar::{LiveLinkDriven, LiveLinkSource};
    use nerf_avatar_live::{OneEuroSettings, ReceiverSettings};

    let mut app = app();
    let settings = ReceiverSettings {
        bind_address: "127.0.0.1:0".parse().unwrap(),
        ..ReceiverSettings::default()
    };
    let source = LiveLinkSource::bind(settings, OneEuroSettings::default()).unwrap();
    let address = source.local_addr();
    let source = app.world_mut().spawn(source).id();
    let rest = Quat::from_rotation_y(0.3);
    let head = app
        .world_mut()
        .spawn((
            Expression::default(),
            Transform::from_rotation(rest),
            LiveLinkDriven::expression_and_head(source, rest),
        ))
        .id();
    let face_only = app
        .world_mut()
        .spawn((
            Expression::default(),
            Transform::default(),
            LiveLinkDriven::expression(source),
        ))
        .id();

    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"\x06garbage", address).unwrap();
    let packet = live_link_packet(500, 0.7, 0.5);
    sender.send_to(&packet[..40], address).unwrap();
    sender.send_to(&packet, address).unwrap();
    // The receiver's thread takes the packets while the app updates.
    let started = std::time::Instant::now();
    while app.world().get::<Expression>(head).unwrap().get("jawOpen") == 0.0 {
        assert!(
            started.elapsed().as_secs() < 10,
            "no packet reached the avatar"
        );
        std::thread::sleep(Duration::from_millis(5));
        app.update();
    }
    // The one-euro filter passes its first sample unchanged.
    for avatar in [head, face_only] {
        let jaw = app
            .world()
            .get::<Expression>(avatar)
            .unwrap()
            .get("jawOpen");
        assert!(near(jaw, 0.7), "jawOpen {jaw}");
    }
    let turned = app.world().get::<Transform>(head).unwrap().rotation;
    let expected = rest * Quat::from_rotation_y(std::f32::consts::FRAC_PI_4);
    assert!(turned.angle_between(expected) < 1e-4, "{turned:?}");
    let still = app.world().get::<Transform>(face_only).unwrap().rotation;
    assert_eq!(still, Quat::IDENTITY);
    let stats = app.world().get::<LiveLinkSource>(source).unwrap().stats();
    assert_eq!((stats.accepted, stats.malformed), (1, 2), "{stats:?}");
}
