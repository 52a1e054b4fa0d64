//! The avatar file as a Bevy asset: a loader that reads it as untrusted input, so a bad file
//! fails to load with a clear error (logged by the asset server) and the app keeps running.

use std::sync::Arc;

use bevy::app::{App, Plugin};
use bevy::asset::io::Reader;
use bevy::asset::{Asset, AssetApp, AssetLoader, LoadContext};
use bevy::reflect::TypePath;
use nerf_avatar::asset::{AssetError, Avatar};

/// A loaded avatar: the model, its occupancy grid and its expression ranges, shared with the
/// render worker and the render world, which read it on their own threads.
#[derive(Asset, TypePath, Debug)]
pub struct NerfAvatarAsset {
    /// The avatar as the core crate holds it.
    pub avatar: Arc<Avatar>,
}

impl NerfAvatarAsset {
    /// Wraps an avatar.
    pub fn new(avatar: Avatar) -> Self {
        Self {
            avatar: Arc::new(avatar),
        }
    }
}

/// Reads avatar files (`.avatar.safetensors`).
#[derive(Default, TypePath)]
pub struct NerfAvatarLoader;

/// Why an avatar file did not load.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum NerfAvatarLoadError {
    /// The bytes could not be read.
    #[error("could not read avatar {path}: {error}")]
    Io {
        /// The asset path.
        path: String,
        /// The reader's error.
        error: std::io::Error,
    },
    /// The file is not a valid avatar.
    #[error("avatar {path} is not valid: {error}")]
    Invalid {
        /// The asset path.
        path: String,
        /// What is wrong with it.
        error: AssetError,
    },
}

impl AssetLoader for NerfAvatarLoader {
    type Asset = NerfAvatarAsset;
    type Settings = ();
    type Error = NerfAvatarLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<NerfAvatarAsset, NerfAvatarLoadError> {
        let path = load_context.path().to_string();
        let mut bytes = Vec::new();
        if let Err(error) = reader.read_to_end(&mut bytes).await {
            return Err(NerfAvatarLoadError::Io { path, error });
        }
        match Avatar::from_bytes(&bytes) {
            Ok(avatar) => Ok(NerfAvatarAsset::new(avatar)),
            Err(error) => Err(NerfAvatarLoadError::Invalid { path, error }),
        }
    }

    fn extensions(&self) -> &[&str] {
        &["avatar.safetensors"]
    }
}

/// Registers [`NerfAvatarAsset`] and its loader.
pub struct NerfAvatarAssetPlugin;

impl Plugin for NerfAvatarAssetPlugin {
    fn build(&self, app: &mut App) {
        app.init_asset::<NerfAvatarAsset>()
            .init_asset_loader::<NerfAvatarLoader>();
    }
}
