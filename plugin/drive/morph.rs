//! Driving an avatar from glTF morph-weight animation: a [`MorphWeightsBridge`] on the avatar
//! names an entity with `MorphWeights` (say a rigged face playing its glTF animation) and
//! which morph target feeds which blendshape; each update copies the weights over.

use bevy::ecs::prelude::*;
use bevy::mesh::morph::MorphWeights;
use nerf_avatar::blendshapes::ARKIT_BLENDSHAPES;

use crate::expression::Expression;

/// Copies the morph weights of `source` into the avatar's [`Expression`].
#[derive(Component, Clone, Debug, PartialEq)]
pub struct MorphWeightsBridge {
    /// The entity with the `MorphWeights`.
    pub source: Entity,
    /// For each morph target index, the blendshape it drives (`None`: ignored).
    pub targets: Vec<Option<String>>,
}

impl MorphWeightsBridge {
    /// A bridge from morph targets with the given names (as `Mesh::morph_target_names`
    /// gives them): names that match an ARKit name up to letter case (`JawOpen`, `jawopen`)
    /// or with a `blendShape.`-style prefix drive that blendshape; others are ignored until
    /// mapped with [`MorphWeightsBridge::map`].
    pub fn from_target_names<S: AsRef<str>>(source: Entity, names: &[S]) -> Self {
        let targets = names
            .iter()
            .map(|name| arkit_name_of(name.as_ref()))
            .collect();
        Self { source, targets }
    }

    /// Makes morph target `index` drive `blendshape`.
    pub fn map(mut self, index: usize, blendshape: &str) -> Self {
        if self.targets.len() <= index {
            self.targets.resize(index + 1, None);
        }
        self.targets[index] = Some(blendshape.to_owned());
        self
    }
}

/// The ARKit name a morph target name stands for, ignoring letter case and any prefix up to
/// the last `.` (glTF exporters write `blendShape1.jawOpen` or `JawOpen`).
pub fn arkit_name_of(target: &str) -> Option<String> {
    let bare = target.rsplit('.').next().unwrap_or(target);
    ARKIT_BLENDSHAPES
        .iter()
        .find(|name| name.eq_ignore_ascii_case(bare))
        .map(|name| (*name).to_owned())
}

/// Copies morph weights into the expressions of bridged avatars.
pub fn apply_morph_weights(
    mut avatars: Query<(&MorphWeightsBridge, &mut Expression)>,
    sources: Query<&MorphWeights>,
) {
    for (bridge, mut expression) in &mut avatars {
        let Ok(morph) = sources.get(bridge.source) else {
            continue;
        };
        for (target, weight) in bridge.targets.iter().zip(morph.weights()) {
            if let Some(name) = target
                && expression.get(name) != *weight
            {
                expression.set(name, *weight);
            }
        }
    }
}
