//! The avatar asset: a trained (or freshly initialised) model in one safetensors file.
//!
//! # Format (version 1)
//! Tensors, little-endian and row-major:
//! - `tables`: `[K + 1, entries, F]`, the neutral table h0 then one table per blendshape,
//!   F32 or F16;
//! - `density_mlp.<i>` and `color_mlp.<i>`: `[outputs, inputs]`, input layer first, in the
//!   same dtype as `tables`;
//! - `occupancy.bitfield`: U8 `[ceil(R³ / 8)]`, the cell layout of [`crate::occupancy`];
//! - `occupancy.density`: F32 `[R, R, R]`, only when the grid keeps densities.
//!
//! The safetensors `__metadata__` map holds two keys: `nerf_avatar`, one JSON document
//! `{format: "nerf-avatar", version: 1, config, blendshapes, expression_min, expression_max,
//! intrinsics, head_box, occupancy: {resolution, occupied_fraction}, training, checksums}`
//! where `checksums` maps every tensor name to the CRC-32 of its bytes; and
//! `nerf_avatar.crc32`, the CRC-32 of that JSON text as 8 lowercase hex digits. Any change
//! to the file is therefore detected.
//!
//! # Untrusted input
//! Loading never panics and never allocates from numbers it has not checked: the file size
//! is capped at [`MAX_FILE_BYTES`] and the header at [`MAX_HEADER_BYTES`], the configuration
//! must pass [`ModelConfig::validate`] (whose limits bound every size) and every tensor must
//! have exactly the shape the configuration implies before its values are copied.

mod decode;
mod encode;
mod error;
mod metadata;
mod tensors;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use error::AssetError;

use crate::camera::{Intrinsics, Pose};
use crate::config::ModelConfig;
use crate::occupancy::OccupancyGrid;
use crate::params::{ParamLayout, Params};

/// The format name stored in every asset.
pub const FORMAT_NAME: &str = "nerf-avatar";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Largest asset file that [`Avatar::read`] accepts: 4 GiB (the paper model is ~200 MB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// Largest safetensors JSON header accepted: 1 MiB (an asset's is a few KiB).
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// How far from a rotation the stored view's 3×3 part may be.
const VIEW_TOLERANCE: f32 = 1e-3;

/// Element type of the hash tables and MLP weights in a file (the occupancy grid is always
/// stored as U8 bits and F32 densities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: exact.
    F32,
    /// 16-bit floats: half the size, about 3 significant digits.
    F16,
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

/// How an avatar was trained. Every field is optional so that partial records stay readable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSummary {
    /// Optimiser steps taken.
    pub steps: Option<u64>,
    /// Wall-clock training time in seconds.
    pub seconds: Option<f64>,
    /// The backend that trained it ("cpu", "cuda", ...).
    pub backend: Option<String>,
    /// Name of the dataset.
    pub dataset_name: Option<String>,
    /// Path of the dataset folder, as given to the trainer.
    pub dataset_path: Option<String>,
    /// Loss at the last step.
    pub final_loss: Option<f64>,
    /// PSNR (dB) at the last evaluation.
    pub final_psnr: Option<f64>,
    /// When training finished, as an ISO 8601 date-time string.
    pub date: Option<String>,
    /// The training curve (at most a few thousand points, oldest first).
    pub curve: Vec<CurvePoint>,
}

/// One point of a training curve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Optimiser step.
    pub step: u64,
    /// Wall-clock seconds since training started.
    pub seconds: f64,
    /// Training loss (mean over the recent steps).
    pub loss: f64,
    /// PSNR (dB) of the training rays' colour over the recent steps.
    pub psnr: f64,
}

/// A file that belongs with an avatar file: `NAME.avatar.safetensors` (or `NAME.safetensors`,
/// or any `NAME`) gives `NAME.<suffix>` in the same folder.
pub fn beside_avatar(avatar_path: &Path, suffix: &str) -> PathBuf {
    let name = avatar_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".avatar.safetensors")
        .or_else(|| name.strip_suffix(".safetensors"))
        .unwrap_or(&name);
    avatar_path.with_file_name(format!("{stem}.{suffix}"))
}

/// A head avatar: configuration, parameters, occupancy grid and what is known about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Avatar {
    /// The model configuration; fixes the parameter layout.
    pub config: ModelConfig,
    /// Hash tables and MLP weights in the flat layout of [`ParamLayout`].
    pub params: Params<f32>,
    /// The occupancy grid over the head box.
    pub occupancy: OccupancyGrid,
    /// Per-blendshape lower bound of the coefficients (the smallest seen in training).
    pub expression_min: Vec<f32>,
    /// Per-blendshape upper bound of the coefficients (the largest seen in training).
    pub expression_max: Vec<f32>,
    /// The training camera, when known.
    pub intrinsics: Option<Intrinsics>,
    /// The mean camera-to-head pose of the training frames, when known: the avatar's own
    /// typical view.
    pub view: Option<Pose>,
    /// How the avatar was trained, when it was.
    pub training: Option<TrainingSummary>,
}

impl Avatar {
    /// A freshly initialised avatar: parameters from [`Params::init`] with a PCG-64 seeded by
    /// `seed`, every occupancy cell occupied, coefficient ranges [0, 1].
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self, AssetError> {
        config.validate()?;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let params = Params::init(&config, &mut rng);
        let blendshapes = config.blendshape_count();
        Ok(Self {
            occupancy: OccupancyGrid::full(config.occupancy_resolution),
            params,
            expression_min: vec![0.0; blendshapes],
            expression_max: vec![1.0; blendshapes],
            intrinsics: None,
            view: None,
            training: None,
            config,
        })
    }

    /// The blendshape names, in the order of the coefficients.
    pub fn blendshapes(&self) -> &[String] {
        &self.config.blendshapes
    }

    /// Number of parameters (hash tables and MLP weights).
    pub fn parameter_count(&self) -> usize {
        self.params.data.len()
    }

    /// Clamps each coefficient `weights[i]` into `[expression_min[i], expression_max[i]]`,
    /// as the released code does before rendering. A NaN coefficient counts as 0 (the
    /// neutral expression) and is then clamped. Entries beyond K are left alone.
    pub fn clamp_expression(&self, weights: &mut [f32]) {
        let ranges = self.expression_min.iter().zip(&self.expression_max);
        for (weight, (&min, &max)) in weights.iter_mut().zip(ranges) {
            let value = if weight.is_nan() { 0.0 } else { *weight };
            *weight = value.clamp(min, max);
        }
    }

    /// Checks everything that [`Avatar::to_bytes`] and [`Avatar::from_bytes`] require: a
    /// valid configuration, parameters in its layout and finite, K coefficient ranges with
    /// finite `min <= max`, an occupancy grid of the configured resolution, valid intrinsics
    /// and finite training numbers.
    pub fn validate(&self) -> Result<(), AssetError> {
        let inconsistent = |message: String| Err(AssetError::InconsistentMetadata(message));
        self.config.validate()?;
        let layout = ParamLayout::new(&self.config);
        if self.params.layout != layout || self.params.data.len() != layout.total() {
            return inconsistent("the parameters do not follow the configuration's layout".into());
        }
        let features = self.config.grid.features_per_level as usize;
        for tensor in tensors::param_tensors(&layout, features) {
            check_finite(&tensor.name, &self.params.data[tensor.range])?;
        }
        let k = self.config.blendshape_count();
        for (name, range) in [("min", &self.expression_min), ("max", &self.expression_max)] {
            if range.len() != k {
                return inconsistent(format!(
                    "expression_{name} has {} values for {k} blendshapes",
                    range.len()
                ));
            }
            check_finite(&format!("expression_{name}"), range)?;
        }
        let ranges = self.expression_min.iter().zip(&self.expression_max);
        for (name, (min, max)) in self.config.blendshapes.iter().zip(ranges) {
            if min > max {
                return inconsistent(format!("the range of `{name}` is [{min}, {max}]"));
            }
        }
        self.validate_occupancy()?;
        if let Some(intrinsics) = &self.intrinsics
            && !intrinsics.is_valid()
        {
            return inconsistent(format!("invalid intrinsics {intrinsics:?}"));
        }
        if let Some(view) = &self.view
            && !view.is_rigid(VIEW_TOLERANCE)
        {
            return inconsistent(format!("the view {view:?} is not a rigid transform"));
        }
        if let Some(training) = &self.training {
            let numbers = [training.seconds, training.final_loss, training.final_psnr];
            if numbers.iter().flatten().any(|v| !v.is_finite()) {
                return inconsistent("the training summary holds a non-finite number".into());
            }
        }
        Ok(())
    }

    fn validate_occupancy(&self) -> Result<(), AssetError> {
        let grid = &self.occupancy;
        let resolution = self.config.occupancy_resolution;
        if grid.resolution != resolution {
            return Err(AssetError::InconsistentMetadata(format!(
                "the occupancy grid has resolution {}, the config {resolution}",
                grid.resolution
            )));
        }
        let cells = OccupancyGrid::cell_count(resolution);
        let density_len = grid.density.as_ref().map_or(cells, Vec::len);
        if grid.bitfield.len() != cells.div_ceil(8) || density_len != cells {
            return Err(AssetError::InconsistentMetadata(format!(
                "the occupancy grid's buffers do not hold {cells} cells"
            )));
        }
        if let Some(density) = &grid.density {
            check_finite(tensors::OCCUPANCY_DENSITY, density)?;
        }
        Ok(())
    }

    /// Encodes the avatar as an asset file, with tables and MLP weights in `precision`.
    pub fn to_bytes(&self, precision: Precision) -> Result<Vec<u8>, AssetError> {
        encode::encode(self, precision)
    }

    /// Decodes an asset file (untrusted bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AssetError> {
        Self::from_bytes_with_precision(bytes).map(|(avatar, _)| avatar)
    }

    /// Decodes an asset file (untrusted bytes), also returning the precision it was stored in.
    pub fn from_bytes_with_precision(bytes: &[u8]) -> Result<(Self, Precision), AssetError> {
        decode::decode(bytes)
    }

    /// Reads an asset file; refuses files over [`MAX_FILE_BYTES`] before reading them.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, AssetError> {
        Self::read_with_precision(path).map(|(avatar, _)| avatar)
    }

    /// Reads an asset file, also returning the precision it was stored in.
    pub fn read_with_precision(path: impl AsRef<Path>) -> Result<(Self, Precision), AssetError> {
        let path = path.as_ref();
        let io = |action| move |error| io_error(action, path, error);
        let file = File::open(path).map_err(io("open"))?;
        let size = file.metadata().map_err(io("inspect"))?.len();
        let too_large = |size| AssetError::TooLarge {
            size,
            limit: MAX_FILE_BYTES,
        };
        if size > MAX_FILE_BYTES {
            return Err(too_large(size).in_file(path));
        }
        let capacity = usize::try_from(size).map_err(|_| too_large(size).in_file(path))?;
        let mut bytes = Vec::with_capacity(capacity);
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io("read"))?;
        let read = bytes.len() as u64;
        if read > MAX_FILE_BYTES {
            return Err(too_large(read).in_file(path));
        }
        decode::decode(&bytes).map_err(|error| error.in_file(path))
    }

    /// Writes the avatar atomically: to a temporary file in the same directory, synced,
    /// then renamed over `path`, so that readers never see a partial file.
    pub fn write(&self, path: impl AsRef<Path>, precision: Precision) -> Result<(), AssetError> {
        let path = path.as_ref();
        let bytes = self
            .to_bytes(precision)
            .map_err(|error| error.in_file(path))?;
        let temporary = temporary_path(path);
        let written = File::create_new(&temporary)
            .and_then(|mut file| {
                file.write_all(&bytes)?;
                file.sync_all()
            })
            .map_err(|error| io_error("write", &temporary, error))
            .and_then(|()| {
                std::fs::rename(&temporary, path).map_err(|error| io_error("replace", path, error))
            });
        if written.is_err() {
            // Best effort: the temporary file may not exist, and the first error matters.
            let _ = std::fs::remove_file(&temporary);
        }
        written
    }
}

/// A name beside `path` that no other writer uses: `.<name>.<pid>-<nanos>.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let temporary = format!(".{name}.{}-{nanos}.tmp", std::process::id());
    path.with_file_name(temporary)
}

fn io_error(action: &'static str, path: &Path, error: std::io::Error) -> AssetError {
    AssetError::Io {
        action,
        path: path.to_owned(),
        error,
    }
}

fn check_finite(tensor: &str, values: &[f32]) -> Result<(), AssetError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(AssetError::NonFinite {
            tensor: tensor.to_owned(),
            index,
        }),
        None => Ok(()),
    }
}
