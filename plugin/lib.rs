//! `bevy_nerf_avatar`: NeRFBlendShape head avatars in Bevy.
//!
//! Add [`NerfAvatarPlugin`] to an app to load avatar files (`*.avatar.safetensors`, made by
//! the `nerf-avatar` command) as [`NerfAvatarAsset`]s. The model itself lives in the
//! engine-agnostic `nerf_avatar` crate; this crate wires it into Bevy.

mod asset;

pub use asset::{NerfAvatarAsset, NerfAvatarAssetPlugin, NerfAvatarLoadError, NerfAvatarLoader};
use bevy::app::{App, Plugin};

/// Everything the avatar integration needs, as one plugin made of a plugin per concern.
pub struct NerfAvatarPlugin;

impl Plugin for NerfAvatarPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(NerfAvatarAssetPlugin);
    }
}
