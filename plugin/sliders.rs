//! Expression sliders in Bevy UI: a panel with one labelled slider per blendshape of an
//! avatar (its own names, in its order, over the range the avatar was trained on), the
//! weight shown beside each, and a Reset button back to the neutral face. Dragging a slider
//! sets that weight on the avatar's [`Expression`]; weights set elsewhere (systems, clips, a
//! reset) move the sliders, so the avatar's `Expression` is the one source of truth.
//!
//! The sliders are `bevy_ui_widgets`' headless [`Slider`]s and the button its [`Button`],
//! so the app needs their plugins (part of `DefaultPlugins` with Bevy's `bevy_ui_widgets`
//! feature, which this crate's `ui` feature turns on).

use bevy::app::{App, Plugin, PostUpdate, Update};
use bevy::asset::Assets;
use bevy::color::Color;
use bevy::ecs::prelude::*;
use bevy::text::{TextColor, TextFont};
use bevy::ui::widget::Text;
use bevy::ui::{
    AlignItems, BackgroundColor, BorderRadius, FlexDirection, JustifyContent, Node, Overflow,
    PositionType, UiRect, UiSystems, Val,
};
use bevy::ui_widgets::{
    Activate, Button, ControlOrientation, ScrollArea, Scrollbar, ScrollbarThumb, Slider,
    SliderPrecision, SliderRange, SliderThumb, SliderValue, TrackClick, ValueChange,
};

use crate::asset::NerfAvatarAsset;
use crate::avatar::NerfAvatar;
use crate::expression::Expression;

/// Height of one slider row, in logical pixels.
const ROW_HEIGHT: f32 = 22.0;
/// Width of the blendshape names, in logical pixels.
const NAME_WIDTH: f32 = 150.0;
/// Width of the weight readout, in logical pixels.
const VALUE_WIDTH: f32 = 40.0;
/// Edge of the slider thumb, in logical pixels.
const THUMB_SIZE: f32 = 12.0;
/// Width of the scrollbar beside the rows, in logical pixels.
const SCROLLBAR_WIDTH: f32 = 8.0;
/// Font size of names and readouts, in logical pixels.
const FONT_SIZE: f32 = 13.0;

const TEXT: Color = Color::srgb(0.88, 0.89, 0.91);
const TRACK: Color = Color::srgb(0.22, 0.24, 0.28);
const FILL: Color = Color::srgb(0.30, 0.52, 0.78);
const THUMB: Color = Color::srgb(0.92, 0.93, 0.95);
const BUTTON: Color = Color::srgb(0.28, 0.31, 0.36);
const SCROLLBAR_THUMB: Color = Color::srgb(0.45, 0.48, 0.54);

/// Put on a UI node to fill it, once `avatar`'s file has loaded, with a Reset button and a
/// scrolling list of one slider per blendshape of that avatar. The node's own `Node` (size,
/// place) is left as it is; give it a definite height so that the list scrolls within it.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpressionSliders {
    /// The entity with the `NerfAvatar` and `Expression` that the sliders edit.
    pub avatar: Entity,
}

/// Marks an [`ExpressionSliders`] node that has its rows.
#[derive(Component, Debug)]
struct SlidersBuilt;

/// A slider that edits one blendshape weight of an avatar. Its [`SliderValue`] follows the
/// avatar's `Expression`, and moving it sets the weight there.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct ExpressionSlider {
    /// The entity with the `Expression`.
    pub avatar: Entity,
    /// The blendshape (ARKit) name.
    pub blendshape: String,
}

/// The nodes that show a slider's value: the thumb, the filled part of the track, the text.
#[derive(Component, Clone, Copy, Debug)]
struct SliderParts {
    thumb: Entity,
    fill: Entity,
    readout: Entity,
}

/// A button that sets every weight of the avatar's `Expression` back to 0 (neutral).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetExpressionButton {
    /// The entity with the `Expression`.
    pub avatar: Entity,
}

/// The text `value` is shown as beside a slider.
pub fn format_weight(value: f32) -> String {
    format!("{value:.2}")
}

/// The weight of `blendshape` as a slider shows it: a NaN (which the renderer treats as 0)
/// as 0.
fn shown_weight(expression: &Expression, blendshape: &str) -> f32 {
    let weight = expression.get(blendshape);
    if weight.is_nan() { 0.0 } else { weight }
}

/// Fills each new [`ExpressionSliders`] node once its avatar's file has loaded.
fn build_expression_sliders(
    mut commands: Commands,
    panels: Query<(Entity, &ExpressionSliders), Without<SlidersBuilt>>,
    avatars: Query<(&NerfAvatar, &Expression)>,
    assets: Res<Assets<NerfAvatarAsset>>,
) {
    for (panel, sliders) in &panels {
        let Ok((avatar, expression)) = avatars.get(sliders.avatar) else {
            continue;
        };
        let Some(asset) = assets.get(&avatar.avatar) else {
            continue;
        };
        let avatar_data = &asset.avatar;
        let list = commands
            .spawn((
                Node {
                    flex_direction: FlexDirection::Column,
                    flex_grow: 1.0,
                    row_gap: Val::Px(2.0),
                    padding: UiRect::right(Val::Px(6.0)),
                    overflow: Overflow::scroll_y(),
                    ..Default::default()
                },
                ScrollArea,
            ))
            .id();
        let ranges = avatar_data
            .expression_min
            .iter()
            .zip(&avatar_data.expression_max);
        for (name, (&min, &max)) in avatar_data.blendshapes().iter().zip(ranges) {
            let value = shown_weight(expression, name);
            let row = spawn_slider_row(&mut commands, sliders.avatar, name, min..=max, value);
            commands.entity(list).add_child(row);
        }
        let scrollbar = commands
            .spawn((
                Node {
                    width: Val::Px(SCROLLBAR_WIDTH),
                    flex_shrink: 0.0,
                    ..Default::default()
                },
                Scrollbar::new(list, ControlOrientation::Vertical, 24.0),
                children![(
                    ScrollbarThumb {
                        border_radius: BorderRadius::all(Val::Px(SCROLLBAR_WIDTH / 2.0)),
                        ..Default::default()
                    },
                    BackgroundColor(SCROLLBAR_THUMB),
                )],
            ))
            .id();
        // The list and its scrollbar share the height left under the Reset button.
        let body = commands
            .spawn(Node {
                flex_direction: FlexDirection::Row,
                flex_grow: 1.0,
                min_height: Val::Px(0.0),
                ..Default::default()
            })
            .add_children(&[list, scrollbar])
            .id();
        let reset = commands.spawn(reset_button(sliders.avatar)).id();
        let content = commands
            .spawn(Node {
                flex_direction: FlexDirection::Column,
                width: Val::Percent(100.0),
                height: Val::Percent(100.0),
                ..Default::default()
            })
            .add_children(&[reset, body])
            .id();
        commands
            .entity(panel)
            .insert(SlidersBuilt)
            .add_child(content);
    }
}

/// The Reset button.
fn reset_button(avatar: Entity) -> impl Bundle {
    (
        Node {
            height: Val::Px(ROW_HEIGHT + 4.0),
            flex_shrink: 0.0,
            margin: UiRect::bottom(Val::Px(8.0)),
            padding: UiRect::horizontal(Val::Px(12.0)),
            align_items: AlignItems::Center,
            justify_content: JustifyContent::Center,
            align_self: bevy::ui::AlignSelf::FlexStart,
            border_radius: BorderRadius::all(Val::Px(4.0)),
            ..Default::default()
        },
        BackgroundColor(BUTTON),
        Button,
        ResetExpressionButton { avatar },
        children![(
            Text::new("Reset (neutral)"),
            TextFont::from_font_size(FONT_SIZE + 1.0),
            TextColor(TEXT),
        )],
    )
}

/// One row: the name, the slider (track, filled part, thumb) and the readout.
fn spawn_slider_row(
    commands: &mut Commands,
    avatar: Entity,
    name: &str,
    range: std::ops::RangeInclusive<f32>,
    value: f32,
) -> Entity {
    let range = SliderRange::from_range(range);
    let position = thumb_fraction(range, value);
    let readout = commands
        .spawn((
            Node {
                width: Val::Px(VALUE_WIDTH),
                justify_content: JustifyContent::FlexEnd,
                ..Default::default()
            },
            Text::new(format_weight(value)),
            TextFont::from_font_size(FONT_SIZE),
            TextColor(TEXT),
        ))
        .id();
    let fill = commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(0.0),
                height: Val::Px(4.0),
                width: Val::Percent(position * 100.0),
                border_radius: BorderRadius::all(Val::Px(2.0)),
                ..Default::default()
            },
            BackgroundColor(FILL),
        ))
        .id();
    let thumb = commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Percent(position * 100.0),
                width: Val::Px(THUMB_SIZE),
                height: Val::Px(THUMB_SIZE),
                border_radius: BorderRadius::MAX,
                ..Default::default()
            },
            BackgroundColor(THUMB),
            SliderThumb,
        ))
        .id();
    // The thumb travels over the track less its own width, as the slider's drag arithmetic
    // assumes, so its `left` is a plain percentage of this inner node.
    let travel = commands
        .spawn(Node {
            position_type: PositionType::Absolute,
            left: Val::Px(0.0),
            right: Val::Px(THUMB_SIZE),
            top: Val::Px(0.0),
            bottom: Val::Px(0.0),
            align_items: AlignItems::Center,
            ..Default::default()
        })
        .add_children(&[fill, thumb])
        .id();
    let track = commands
        .spawn((
            Node {
                width: Val::Percent(100.0),
                height: Val::Px(4.0),
                border_radius: BorderRadius::all(Val::Px(2.0)),
                ..Default::default()
            },
            BackgroundColor(TRACK),
        ))
        .id();
    let slider = commands
        .spawn((
            Node {
                flex_grow: 1.0,
                height: Val::Px(THUMB_SIZE),
                margin: UiRect::horizontal(Val::Px(6.0)),
                align_items: AlignItems::Center,
                ..Default::default()
            },
            Slider {
                track_click: TrackClick::Snap,
                ..Default::default()
            },
            SliderValue(value),
            range,
            SliderPrecision(2),
            ExpressionSlider {
                avatar,
                blendshape: name.to_owned(),
            },
            SliderParts {
                thumb,
                fill,
                readout,
            },
        ))
        .add_children(&[track, travel])
        .id();
    let label = commands
        .spawn((
            Node {
                width: Val::Px(NAME_WIDTH),
                ..Default::default()
            },
            Text::new(name),
            TextFont::from_font_size(FONT_SIZE),
            TextColor(TEXT),
        ))
        .id();
    commands
        .spawn(Node {
            flex_direction: FlexDirection::Row,
            align_items: AlignItems::Center,
            height: Val::Px(ROW_HEIGHT),
            flex_shrink: 0.0,
            ..Default::default()
        })
        .add_children(&[label, slider, readout])
        .id()
}

/// Where the thumb sits for `value`, from 0 (start of the range) to 1 (end).
fn thumb_fraction(range: SliderRange, value: f32) -> f32 {
    range.thumb_position(value).clamp(0.0, 1.0)
}

/// Sets the weight a moved slider stands for on its avatar's `Expression`.
fn apply_slider_change(
    change: On<ValueChange<f32>>,
    sliders: Query<&ExpressionSlider>,
    mut expressions: Query<&mut Expression>,
) {
    let Ok(slider) = sliders.get(change.source) else {
        return;
    };
    if let Ok(mut expression) = expressions.get_mut(slider.avatar)
        && expression.get(&slider.blendshape) != change.value
    {
        expression.set(&slider.blendshape, change.value);
    }
}

/// Sets the avatar's expression to neutral when a Reset button is activated.
fn reset_expression(
    activate: On<Activate>,
    buttons: Query<&ResetExpressionButton>,
    mut expressions: Query<&mut Expression>,
) {
    let Ok(button) = buttons.get(activate.entity) else {
        return;
    };
    if let Ok(mut expression) = expressions.get_mut(button.avatar) {
        expression.clear();
    }
}

/// Moves each slider to its avatar's current weight.
fn follow_expression(
    mut commands: Commands,
    sliders: Query<(Entity, &ExpressionSlider, &SliderValue)>,
    expressions: Query<&Expression>,
) {
    for (entity, slider, value) in &sliders {
        let Ok(expression) = expressions.get(slider.avatar) else {
            continue;
        };
        let weight = shown_weight(expression, &slider.blendshape);
        if value.0 != weight {
            commands.entity(entity).insert(SliderValue(weight));
        }
    }
}

/// Places the thumb and the filled track and writes the readout of each slider whose value
/// changed.
fn show_slider_values(
    sliders: Query<(&SliderValue, &SliderRange, &SliderParts), Changed<SliderValue>>,
    mut nodes: Query<&mut Node>,
    mut texts: Query<&mut Text>,
) {
    for (value, range, parts) in &sliders {
        let percent = Val::Percent(thumb_fraction(*range, value.0) * 100.0);
        if let Ok(mut thumb) = nodes.get_mut(parts.thumb) {
            thumb.left = percent;
        }
        if let Ok(mut fill) = nodes.get_mut(parts.fill) {
            fill.width = percent;
        }
        if let Ok(mut readout) = texts.get_mut(parts.readout) {
            readout.0 = format_weight(value.0);
        }
    }
}

/// Builds [`ExpressionSliders`] panels and keeps their sliders and the avatars' expressions in
/// step. Needs the `bevy_ui_widgets` slider and button plugins (in `DefaultPlugins`).
pub struct ExpressionSlidersPlugin;

impl Plugin for ExpressionSlidersPlugin {
    fn build(&self, app: &mut App) {
        app.add_observer(apply_slider_change)
            .add_observer(reset_expression)
            .add_systems(Update, build_expression_sliders)
            .add_systems(
                PostUpdate,
                (follow_expression, show_slider_values)
                    .chain()
                    .before(UiSystems::Layout),
            );
    }
}
