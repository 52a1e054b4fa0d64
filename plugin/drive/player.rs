//! Playing recorded expression clips on an avatar: an [`ExpressionClipPlayer`] holds layers
//! (a clip, its play time, speed, looping and weight); each update every layer advances and
//! the avatar's weights for the clips' blendshapes become the weighted sum of the layers'
//! samples. A cross-fade moves the weight from the playing layers to a new one over a given
//! time, so the sum stays 1; a total weight below 1 blends toward the neutral expression.

use bevy::asset::{Assets, Handle};
use bevy::ecs::prelude::*;
use bevy::time::Time;

use crate::drive::clip::ExpressionClip;
use crate::expression::Expression;

/// A clip being played.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipLayer {
    /// The clip.
    pub clip: Handle<ExpressionClip>,
    /// Seconds into the clip.
    pub time: f32,
    /// Play speed (1: as recorded).
    pub speed: f32,
    /// Whether the clip starts over at its end (otherwise its last frame holds).
    pub looping: bool,
    /// The layer's share of the result.
    pub weight: f32,
    /// Weight change per second while fading (0: not fading).
    pub fade_rate: f32,
    /// The weight a fade ends at.
    pub fade_target: f32,
}

impl ClipLayer {
    /// A looping layer of full weight at the clip's start.
    pub fn new(clip: Handle<ExpressionClip>) -> Self {
        Self {
            clip,
            time: 0.0,
            speed: 1.0,
            looping: true,
            weight: 1.0,
            fade_rate: 0.0,
            fade_target: 1.0,
        }
    }

    fn advance(&mut self, seconds: f32, duration: f32) {
        self.time += seconds * self.speed;
        if self.looping && duration > 0.0 {
            self.time = self.time.rem_euclid(duration);
        } else {
            self.time = self.time.clamp(0.0, duration);
        }
        if self.fade_rate != 0.0 && seconds > 0.0 {
            let step = self.fade_rate * seconds;
            let remaining = self.fade_target - self.weight;
            if remaining.abs() <= step.abs() {
                self.weight = self.fade_target;
                self.fade_rate = 0.0;
            } else {
                self.weight += step.abs() * remaining.signum();
            }
        }
    }
}

/// Plays expression clips on the entity's [`Expression`].
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct ExpressionClipPlayer {
    /// The layers, oldest first.
    pub layers: Vec<ClipLayer>,
}

impl ExpressionClipPlayer {
    /// Plays `clip` in a loop.
    pub fn play(clip: Handle<ExpressionClip>) -> Self {
        Self {
            layers: vec![ClipLayer::new(clip)],
        }
    }

    /// Plays `clip` once; its last frame holds at the end.
    pub fn play_once(clip: Handle<ExpressionClip>) -> Self {
        let mut layer = ClipLayer::new(clip);
        layer.looping = false;
        Self {
            layers: vec![layer],
        }
    }

    /// Starts `clip` (looping) at weight 0 and fades it in to 1 over `seconds` while every
    /// other layer fades out; faded-out layers are dropped.
    pub fn crossfade_to(&mut self, clip: Handle<ExpressionClip>, seconds: f32) {
        let rate = if seconds > 0.0 {
            1.0 / seconds
        } else {
            f32::INFINITY
        };
        for layer in &mut self.layers {
            layer.fade_target = 0.0;
            layer.fade_rate = rate;
        }
        let mut layer = ClipLayer::new(clip);
        layer.weight = 0.0;
        layer.fade_target = 1.0;
        layer.fade_rate = rate;
        self.layers.push(layer);
    }
}

/// Advances every player and writes the blended weights into its expression.
pub fn play_expression_clips(
    time: Res<Time>,
    clips: Res<Assets<ExpressionClip>>,
    mut players: Query<(&mut ExpressionClipPlayer, &mut Expression)>,
) {
    let seconds = time.delta_secs();
    for (mut player, mut expression) in &mut players {
        let mut blended: Vec<(String, f32)> = Vec::new();
        for layer in &mut player.layers {
            let Some(clip) = clips.get(&layer.clip) else {
                continue;
            };
            for (name, value) in clip.names.iter().zip(clip.sample(layer.time)) {
                match blended.iter_mut().find(|(known, _)| known == name) {
                    Some((_, sum)) => *sum += layer.weight * value,
                    None => blended.push((name.clone(), layer.weight * value)),
                }
            }
            layer.advance(seconds, clip.duration());
        }
        player
            .layers
            .retain(|layer| layer.weight > 0.0 || layer.fade_target > 0.0);
        for (name, weight) in blended {
            if expression.get(&name) != weight {
                expression.set(&name, weight);
            }
        }
    }
}
