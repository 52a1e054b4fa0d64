//! The avatar file as a Bevy asset: a loader that reads it as untrusted input, so a bad file
//! fails to load with a clear error (logged by the asset server) and the app keeps running.

use bevy::app::{App, Plugin};
use bevy::asset::io::Reader;
use bevy::asset::{Asset, AssetApp, AssetLoader, LoadContext};
use bevy::reflect::TypePath;
use nerf_avatar::asset::{AssetError, Avatar};

/// A loaded avatar: the model, its occupancy grid and its expression ranges.
#[derive(Asset, TypePath, Debug)]
pub struct NerfAvatarAsset {
    /// The avatar as the core crate holds it.
    pub avatar: Avatar,
}

/// Reads avatar files (`.avatar.safetensors`).
#[derive(Default, TypePath)]
pub struct NerfAvatarLoader;

/// Why an avatar file did not load.
#[derive(Debug, thiserror::Error)]
pub enum NerfAvatarLoadError {
    /// The bytes could not be read.
    #[error("could not read avatar {path}: {source}")]
    Io {
        /// The asset path.
        path: String,
        /// The reader's error.
        source: std::io::Error,
    },
    /// The file is not a valid avatar.
    #[error("avatar {path} is not valid: {source}")]
    Invalid {
        /// The asset path.
        path: String,
        /// What is wrong with it.
        source: AssetError,
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
        if let Err(source) = reader.read_to_end(&mut bytes).await {
            return Err(NerfAvatarLoadError::Io { path, source });
        }
        match Avatar::from_bytes(&bytes) {
            Ok(avatar) => Ok(NerfAvatarAsset { avatar }),
            Err(source) => Err(NerfAvatarLoadError::Invalid { path, source }),
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
