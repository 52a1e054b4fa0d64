//! The `Expression` component: blendshape weights by name (ARKit names such as `jawOpen`),
//! resolved against an avatar's own blendshape list when a frame is rendered. Names the
//! avatar does not know are reported once per entity and otherwise ignored.

use bevy::app::{App, Plugin, PostUpdate};
use bevy::asset::Assets;
use bevy::ecs::prelude::*;
use bevy::log::warn;
use bevy::platform::collections::HashSet;
use nerf_avatar::blendshapes::BlendshapeMap;

use crate::asset::NerfAvatarAsset;
use crate::avatar::NerfAvatar;

/// Blendshape weights by name. Names not set are 0 (the neutral expression).
///
/// ```
/// use bevy_nerf_avatar::Expression;
/// let mut expression = Expression::default();
/// expression.set("jawOpen", 0.7);
/// assert_eq!(expression.get("jawOpen"), 0.7);
/// assert_eq!(expression.get("eyeBlinkLeft"), 0.0);
/// ```
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct Expression {
    weights: Vec<(String, f32)>,
}

/// An expression resolved against an avatar's blendshapes.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedExpression<'a> {
    /// One weight per blendshape of the avatar, in its order (not yet clamped).
    pub weights: Vec<f32>,
    /// Names set on the expression that the avatar does not have.
    pub unknown: Vec<&'a str>,
}

impl Expression {
    /// An expression with the given weights.
    pub fn from_weights<'a>(weights: impl IntoIterator<Item = (&'a str, f32)>) -> Self {
        let mut expression = Self::default();
        for (name, weight) in weights {
            expression.set(name, weight);
        }
        expression
    }

    /// Sets the weight of `name`.
    pub fn set(&mut self, name: &str, weight: f32) {
        *self.weight_mut(name) = weight;
    }

    /// The weight of `name` (0 when it was never set).
    pub fn get(&self, name: &str) -> f32 {
        self.weights
            .iter()
            .find(|(known, _)| known == name)
            .map_or(0.0, |(_, weight)| *weight)
    }

    /// The weight of `name`, added as 0 when it was never set.
    pub fn weight_mut(&mut self, name: &str) -> &mut f32 {
        let index = match self.weights.iter().position(|(known, _)| known == name) {
            Some(index) => index,
            None => {
                self.weights.push((name.to_owned(), 0.0));
                self.weights.len() - 1
            }
        };
        &mut self.weights[index].1
    }

    /// The names and weights set so far, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> {
        self.weights
            .iter()
            .map(|(name, weight)| (name.as_str(), *weight))
    }

    /// Sets every weight back to 0, keeping the names.
    pub fn clear(&mut self) {
        for (_, weight) in &mut self.weights {
            *weight = 0.0;
        }
    }

    /// One weight per name of `blendshapes` (in that order) and the names that are set here
    /// but are not among them.
    pub fn resolve(&self, blendshapes: &[String]) -> ResolvedExpression<'_> {
        let names: Vec<&str> = self.weights.iter().map(|(name, _)| name.as_str()).collect();
        let values: Vec<f32> = self.weights.iter().map(|&(_, weight)| weight).collect();
        let map = BlendshapeMap::new(&names, blendshapes);
        ResolvedExpression {
            weights: map.apply(&values, 0.0),
            unknown: map.unused().iter().map(|&index| names[index]).collect(),
        }
    }
}

impl<'a> FromIterator<(&'a str, f32)> for Expression {
    fn from_iter<I: IntoIterator<Item = (&'a str, f32)>>(iter: I) -> Self {
        Self::from_weights(iter)
    }
}

/// The (entity, name) pairs already reported as unknown to the entity's avatar, so that each
/// is logged once.
#[derive(Resource, Debug, Default)]
pub struct ReportedUnknownNames(HashSet<(Entity, String)>);

impl ReportedUnknownNames {
    /// Whether `name` was reported for `entity`.
    pub fn contains(&self, entity: Entity, name: &str) -> bool {
        self.0.contains(&(entity, name.to_owned()))
    }

    /// How many (entity, name) pairs were reported.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Logs a warning the first time an entity's expression sets a name its avatar lacks.
pub fn report_unknown_expression_names(
    avatars: Query<(Entity, &NerfAvatar, &Expression)>,
    assets: Res<Assets<NerfAvatarAsset>>,
    mut reported: ResMut<ReportedUnknownNames>,
) {
    for (entity, avatar, expression) in &avatars {
        let Some(asset) = assets.get(&avatar.avatar) else {
            continue;
        };
        for name in expression.resolve(asset.avatar.blendshapes()).unknown {
            if reported.0.insert((entity, name.to_owned())) {
                warn!(
                    "avatar entity {entity}: the avatar has no blendshape `{name}`; its weight is ignored (known: {})",
                    asset.avatar.blendshapes().join(", ")
                );
            }
        }
    }
}

/// Registers the unknown-name report.
pub struct ExpressionPlugin;

impl Plugin for ExpressionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ReportedUnknownNames>()
            .add_systems(PostUpdate, report_unknown_expression_names);
    }
}
