//! Recorded expression clips as Bevy assets: [`ExpressionClip`] is the core's
//! [`nerf_avatar::clip::ExpressionClip`] (blendshape weights over time, from a dataset's
//! coefficient track or from a face-capture CSV with ARKit column names), and
//! [`ExpressionClipLoader`] reads `*.expression.csv` files as untrusted input with the core's
//! parser.

use std::ops::Deref;
use std::path::Path;

use bevy::asset::io::Reader;
use bevy::asset::{Asset, AssetLoader, LoadContext};
use bevy::reflect::TypePath;
pub use nerf_avatar::clip::ClipError;
use serde::{Deserialize, Serialize};

/// Frame rate assumed for CSV files without a time column (Live Link Face records at 60).
pub const DEFAULT_CSV_FRAME_RATE: f32 = 60.0;

/// A recorded expression clip: blendshape weights over time (see
/// [`nerf_avatar::clip::ExpressionClip`], which it dereferences to).
#[derive(Asset, TypePath, Clone, Debug, PartialEq)]
pub struct ExpressionClip(pub nerf_avatar::clip::ExpressionClip);

impl ExpressionClip {
    /// Parses CSV text (a header of ARKit names, optionally a `time` column); rows without a
    /// time column are `frame_rate` apart. `source` names the text in errors.
    pub fn from_csv(text: &str, source: &str, frame_rate: f32) -> Result<Self, ClipError> {
        nerf_avatar::clip::ExpressionClip::parse_csv(text, Path::new(source), frame_rate).map(Self)
    }
}

impl From<nerf_avatar::clip::ExpressionClip> for ExpressionClip {
    fn from(clip: nerf_avatar::clip::ExpressionClip) -> Self {
        Self(clip)
    }
}

impl Deref for ExpressionClip {
    type Target = nerf_avatar::clip::ExpressionClip;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// How a CSV clip is read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipLoaderSettings {
    /// Frames per second when the file has no time column.
    pub frame_rate: f32,
}

impl Default for ClipLoaderSettings {
    fn default() -> Self {
        Self {
            frame_rate: DEFAULT_CSV_FRAME_RATE,
        }
    }
}

/// Why a clip file did not load.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ClipLoadError {
    /// The bytes could not be read.
    #[error("could not read expression clip {path}: {error}")]
    Io {
        /// The asset path.
        path: String,
        /// The reader's error.
        error: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("expression clip {path} is not UTF-8 text")]
    NotText {
        /// The asset path.
        path: String,
    },
    /// The file is not a valid clip (the error names the file).
    #[error("expression clip {0}")]
    Invalid(ClipError),
}

/// Reads CSV expression clips (`.expression.csv`).
#[derive(Default, TypePath)]
pub struct ExpressionClipLoader;

impl AssetLoader for ExpressionClipLoader {
    type Asset = ExpressionClip;
    type Settings = ClipLoaderSettings;
    type Error = ClipLoadError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        settings: &ClipLoaderSettings,
        load_context: &mut LoadContext<'_>,
    ) -> Result<ExpressionClip, ClipLoadError> {
        let path = load_context.path().to_string();
        let mut bytes = Vec::new();
        if let Err(error) = reader.read_to_end(&mut bytes).await {
            return Err(ClipLoadError::Io { path, error });
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(ClipLoadError::NotText { path });
        };
        ExpressionClip::from_csv(&text, &path, settings.frame_rate).map_err(ClipLoadError::Invalid)
    }

    fn extensions(&self) -> &[&str] {
        &["expression.csv"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_becomes_the_core_clip() {
        let text = "Timecode,EyeBlinkLeft,JawOpen\n0,0.1,0.0\n1,0.3,0.5\n";
        let clip = ExpressionClip::from_csv(text, "talk.expression.csv", 50.0).unwrap();
        assert_eq!(clip.names, ["eyeBlinkLeft", "jawOpen"]);
        assert_eq!(clip.sample(5.0), [0.3, 0.5]);
        let error = ExpressionClip::from_csv("jawOpen\noops\n", "bad.expression.csv", 60.0);
        let message = error.unwrap_err().to_string();
        assert!(message.contains("bad.expression.csv") && message.contains("oops"));
    }
}
