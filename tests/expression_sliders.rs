//! The expression sliders in a headless `App` (no window, no GPU): a panel gets one labelled
//! slider per blendshape of the avatar, in its order and over its training ranges; moving a
//! slider through the widget's own `SetSliderValue` sets the weight on the avatar's
//! `Expression` (clamped to the range); weights set elsewhere move the slider, its thumb and
//! its readout; the Reset button sets the neutral face.

use std::time::{Duration, Instant};

use bevy::asset::AssetPlugin;
use bevy::prelude::*;
use bevy::ui_widgets::{
    Activate, ButtonPlugin, SetSliderValue, SliderPlugin, SliderRange, SliderValue,
    SliderValueChange,
};
use bevy_nerf_avatar::{
    Expression, ExpressionPlugin, ExpressionSlider, ExpressionSliders, ExpressionSlidersPlugin,
    NerfAvatar, NerfAvatarAssetPlugin, ResetExpressionButton,
};
use nerf_avatar::asset::{Avatar, Precision};
use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;
use nerf_avatar::config::ModelConfig;

/// A small avatar with these blendshapes and training maxima (minima 0), written to `dir`.
fn write_avatar(dir: &std::path::Path, names: &[&str], maxima: &[f32]) {
    let mut config =
        ModelConfig::tiny().with_blendshapes(names.iter().map(|&n| n.to_owned()).collect());
    config.grid.levels = 2;
    config.grid.log2_table_size = 6;
    config.occupancy_resolution = 8;
    let mut avatar = Avatar::new(config, 3).unwrap();
    avatar.expression_max = maxima.to_vec();
    avatar
        .write(dir.join("head.avatar.safetensors"), Precision::F32)
        .unwrap();
}

/// An app with the avatar of `dir` spawned with `expression`, and a slider panel for it.
fn editor_app(dir: &std::path::Path, expression: Expression) -> (App, Entity) {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: dir.to_string_lossy().into_owned(),
            ..default()
        },
        NerfAvatarAssetPlugin,
        ExpressionPlugin,
        SliderPlugin,
        ButtonPlugin,
        ExpressionSlidersPlugin,
    ));
    let handle = app
        .world()
        .resource::<AssetServer>()
        .load("head.avatar.safetensors");
    let avatar = app
        .world_mut()
        .spawn((NerfAvatar::new(handle), expression))
        .id();
    app.world_mut()
        .spawn((Node::default(), ExpressionSliders { avatar }));
    (app, avatar)
}

/// The sliders in the order the panel shows them (depth first from the panel).
fn sliders_in_order(app: &mut App) -> Vec<(Entity, ExpressionSlider)> {
    let world = app.world_mut();
    let panel = world
        .query_filtered::<Entity, With<ExpressionSliders>>()
        .single(world)
        .unwrap();
    let mut sliders = Vec::new();
    let mut stack = vec![panel];
    while let Some(entity) = stack.pop() {
        if let Some(slider) = world.get::<ExpressionSlider>(entity) {
            sliders.push((entity, slider.clone()));
        }
        if let Some(children) = world.get::<Children>(entity) {
            stack.extend(children.iter().rev());
        }
    }
    sliders
}

/// Updates until the panel has its sliders (the avatar file loads asynchronously).
fn wait_for_sliders(app: &mut App) -> Vec<(Entity, ExpressionSlider)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        app.update();
        let sliders = sliders_in_order(app);
        if !sliders.is_empty() {
            return sliders;
        }
        assert!(Instant::now() < deadline, "the panel got no sliders");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The texts of the row a slider sits in: its name and its readout.
fn row_texts(app: &App, slider: Entity) -> Vec<String> {
    let world = app.world();
    let row = world.get::<ChildOf>(slider).unwrap().parent();
    world
        .get::<Children>(row)
        .unwrap()
        .iter()
        .filter_map(|child| world.get::<Text>(child).map(|text| text.0.clone()))
        .collect()
}

fn slider_value(app: &App, slider: Entity) -> f32 {
    app.world().get::<SliderValue>(slider).unwrap().0
}

fn weight(app: &App, avatar: Entity, name: &str) -> f32 {
    app.world().get::<Expression>(avatar).unwrap().get(name)
}

fn move_slider(app: &mut App, slider: Entity, value: f32) {
    app.world_mut().trigger(SetSliderValue {
        entity: slider,
        change: SliderValueChange::Absolute(value),
    });
    app.update();
}

#[test]
fn sliders_edit_the_expression_and_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    write_avatar(
        dir.path(),
        &["jawOpen", "browInnerUp", "eyeBlinkLeft"],
        &[0.8, 0.6, 1.0],
    );
    let (mut app, avatar) =
        editor_app(dir.path(), Expression::from_weights([("browInnerUp", 0.3)]));
    let sliders = wait_for_sliders(&mut app);

    let names: Vec<&str> = sliders.iter().map(|(_, s)| s.blendshape.as_str()).collect();
    assert_eq!(names, ["jawOpen", "browInnerUp", "eyeBlinkLeft"]);
    assert!(sliders.iter().all(|(_, s)| s.avatar == avatar));
    let ranges: Vec<(f32, f32)> = sliders
        .iter()
        .map(|(entity, _)| {
            let range = app.world().get::<SliderRange>(*entity).unwrap();
            (range.start(), range.end())
        })
        .collect();
    assert_eq!(ranges, [(0.0, 0.8), (0.0, 0.6), (0.0, 1.0)]);
    let [jaw, brow, blink] = [sliders[0].0, sliders[1].0, sliders[2].0];
    assert_eq!(
        slider_value(&app, brow),
        0.3,
        "sliders start at the set weights"
    );
    assert_eq!(row_texts(&app, brow), ["browInnerUp", "0.30"]);
    assert_eq!(row_texts(&app, jaw), ["jawOpen", "0.00"]);

    // Moving a slider sets the weight, within the avatar's range, and the readout follows.
    move_slider(&mut app, jaw, 0.5);
    assert_eq!(weight(&app, avatar, "jawOpen"), 0.5);
    assert_eq!(slider_value(&app, jaw), 0.5);
    assert_eq!(row_texts(&app, jaw), ["jawOpen", "0.50"]);
    move_slider(&mut app, jaw, 2.0);
    assert_eq!(weight(&app, avatar, "jawOpen"), 0.8);
    assert_eq!(
        weight(&app, avatar, "browInnerUp"),
        0.3,
        "other weights stay"
    );

    // A weight set elsewhere moves its slider and thumb.
    app.world_mut()
        .get_mut::<Expression>(avatar)
        .unwrap()
        .set("eyeBlinkLeft", 0.25);
    app.update();
    assert_eq!(slider_value(&app, blink), 0.25);
    assert_eq!(row_texts(&app, blink), ["eyeBlinkLeft", "0.25"]);
    let world = app.world_mut();
    let thumb_left: Vec<Val> = world
        .query_filtered::<&Node, With<bevy::ui_widgets::SliderThumb>>()
        .iter(world)
        .map(|node| node.left)
        .collect();
    assert!(
        thumb_left.contains(&Val::Percent(25.0)),
        "the blink thumb is a quarter along: {thumb_left:?}"
    );

    // Reset: the neutral face, every slider at 0.
    let world = app.world_mut();
    let reset = world
        .query_filtered::<Entity, With<ResetExpressionButton>>()
        .single(world)
        .unwrap();
    app.world_mut().trigger(Activate { entity: reset });
    app.update();
    let expression = app.world().get::<Expression>(avatar).unwrap();
    assert!(expression.iter().all(|(_, w)| w == 0.0), "{expression:?}");
    for (slider, _) in &sliders {
        assert_eq!(slider_value(&app, *slider), 0.0);
    }
}

#[test]
fn an_avatar_with_all_arkit_blendshapes_gets_51_sliders() {
    let dir = tempfile::tempdir().unwrap();
    write_avatar(dir.path(), &ARKIT_BLENDSHAPES, &[1.0; 51]);
    let (mut app, avatar) = editor_app(dir.path(), Expression::default());
    let sliders = wait_for_sliders(&mut app);
    let names: Vec<&str> = sliders.iter().map(|(_, s)| s.blendshape.as_str()).collect();
    assert_eq!(names, ARKIT_BLENDSHAPES);

    // The last one (below the fold in a window) edits its weight too.
    let (last, slider) = sliders.last().unwrap().clone();
    move_slider(&mut app, last, 0.4);
    assert_eq!(weight(&app, avatar, &slider.blendshape), 0.4);
}
