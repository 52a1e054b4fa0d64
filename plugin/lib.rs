//! `bevy_nerf_avatar`: NeRFBlendShape head avatars in Bevy.
//!
//! Add [`NerfAvatarPlugin`] to an app, load an avatar file (`*.avatar.safetensors`, made by
//! the `nerf-avatar` command) and spawn an entity with [`NerfAvatar`]: its `Transform` places
//! the head in the world, its [`Expression`] holds the blendshape weights by ARKit name, and
//! the plugin renders it from the scene camera onto a billboard at its place. Expressions can
//! be set from gameplay systems, animated with curves on an [`ExpressionWeight`], bridged from
//! glTF morph weights ([`MorphWeightsBridge`]), played from recorded clips
//! ([`ExpressionClipPlayer`]), driven live by Live Link Face ([`LiveLinkSource`]), or edited
//! with UI sliders ([`ExpressionSliders`], feature `ui`, on by default). The model itself
//! lives in the engine-agnostic `nerf_avatar` crate; this crate wires it into Bevy.

mod asset;
mod avatar;
pub mod capture;
pub mod drive;
mod expression;
pub mod render;
#[cfg(feature = "ui")]
pub mod sliders;

pub use asset::{NerfAvatarAsset, NerfAvatarAssetPlugin, NerfAvatarLoadError, NerfAvatarLoader};
pub use avatar::{BackendPreference, NerfAvatar, Quality, RenderSettings};
use bevy::app::{App, Plugin};
pub use drive::animation::ExpressionWeight;
pub use drive::clip::{ClipError, ExpressionClip};
pub use drive::live_link::{LiveLinkDriven, LiveLinkSource, LiveLinkSourceError};
pub use drive::morph::MorphWeightsBridge;
pub use drive::player::{ClipLayer, ExpressionClipPlayer};
pub use expression::{Expression, ExpressionPlugin, ReportedUnknownNames, ResolvedExpression};
pub use render::{AvatarFrameStatus, FramePath, NerfAvatarViewer, WgslSupport};
#[cfg(feature = "ui")]
pub use sliders::{
    ExpressionSlider, ExpressionSliders, ExpressionSlidersPlugin, ResetExpressionButton,
};

/// Everything the avatar integration needs, as one plugin made of a plugin per concern:
/// assets, expressions, expression drivers, and the render bridge with its display.
pub struct NerfAvatarPlugin;

impl Plugin for NerfAvatarPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            NerfAvatarAssetPlugin,
            ExpressionPlugin,
            drive::ExpressionDrivePlugin,
            render::NerfAvatarRenderPlugin,
        ));
    }
}

/// The README's code samples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
