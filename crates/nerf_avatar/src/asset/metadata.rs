//! The JSON document stored under the safetensors `__metadata__` key `nerf_avatar`, and its
//! CRC-32 stored under `nerf_avatar.crc32`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TrainingSummary;
use crate::camera::{Intrinsics, Pose};
use crate::config::{HeadBox, ModelConfig};

/// `__metadata__` key of the JSON document.
pub(crate) const METADATA_KEY: &str = "nerf_avatar";
/// `__metadata__` key of the document's CRC-32, as 8 lowercase hex digits.
pub(crate) const METADATA_CRC_KEY: &str = "nerf_avatar.crc32";

/// The two fields read before anything else, so that another format or version is named as
/// such rather than as malformed JSON.
#[derive(Deserialize)]
pub(crate) struct FormatTag {
    /// Must be [`super::FORMAT_NAME`].
    pub format: String,
    /// Must be [`super::FORMAT_VERSION`].
    pub version: u64,
}

/// The occupancy grid's summary (its cells are in tensors).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OccupancySummary {
    /// Cells per axis.
    pub resolution: u32,
    /// Fraction of occupied cells.
    pub occupied_fraction: f64,
}

/// The whole metadata document.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AssetMetadata {
    /// Always [`super::FORMAT_NAME`].
    pub format: String,
    /// Always [`super::FORMAT_VERSION`].
    pub version: u64,
    /// The model configuration.
    pub config: ModelConfig,
    /// The blendshape names (repeated from the config for readers that skip it).
    pub blendshapes: Vec<String>,
    /// Per-blendshape lower bound of the coefficients.
    pub expression_min: Vec<f32>,
    /// Per-blendshape upper bound of the coefficients.
    pub expression_max: Vec<f32>,
    /// The training camera, when known.
    pub intrinsics: Option<Intrinsics>,
    /// The mean training view (absent in files written before it was recorded).
    #[serde(default)]
    pub view: Option<Pose>,
    /// The head box (repeated from the config).
    pub head_box: HeadBox,
    /// The occupancy grid's summary.
    pub occupancy: OccupancySummary,
    /// How the avatar was trained, when it was.
    pub training: Option<TrainingSummary>,
    /// CRC-32 of every tensor's bytes, by tensor name.
    pub checksums: BTreeMap<String, u32>,
}

/// The CRC-32 of `text` as stored under [`METADATA_CRC_KEY`].
pub(crate) fn crc_text(text: &str) -> String {
    format!("{:08x}", crc32fast::hash(text.as_bytes()))
}
