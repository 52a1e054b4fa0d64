//! Ways to drive an avatar's [`Expression`](crate::Expression) besides setting it from
//! gameplay systems: Bevy animation curves ([`animation`]), glTF morph weights ([`morph`]),
//! recorded clips ([`clip`], played by [`player`]) and Live Link Face, live ([`live_link`]).

pub mod animation;
pub mod clip;
pub mod live_link;
pub mod morph;
pub mod player;

use bevy::app::{AnimationSystems, App, Plugin, PostUpdate};
use bevy::asset::AssetApp;
use bevy::ecs::prelude::*;

use crate::render::AvatarRenderSystems;

/// Drivers run after animation and before frames are requested.
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpressionDriveSystems;

/// Registers expression clips and the drivers' systems.
pub struct ExpressionDrivePlugin;

impl Plugin for ExpressionDrivePlugin {
    fn build(&self, app: &mut App) {
        app.init_asset::<clip::ExpressionClip>()
            .init_asset_loader::<clip::ExpressionClipLoader>()
            .configure_sets(
                PostUpdate,
                ExpressionDriveSystems
                    .after(AnimationSystems)
                    .before(AvatarRenderSystems::Exchange),
            )
            .add_systems(
                PostUpdate,
                (
                    player::play_expression_clips,
                    morph::apply_morph_weights,
                    live_link::receive_live_link,
                    live_link::apply_live_link,
                )
                    .chain()
                    .in_set(ExpressionDriveSystems),
            );
    }
}
