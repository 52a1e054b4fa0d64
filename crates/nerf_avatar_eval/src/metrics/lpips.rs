//! LPIPS v0.1 (Zhang et al. 2018), the learned perceptual image distance, with the AlexNet
//! and VGG16 backbones, on the CPU: the metric with candle, the patch loss of training
//! (docs/METHOD.md §4) layer by layer with its gradient ([`patch`]).
//!
//! Matches the `lpips` package (v0.1 weights, `normalize=True`): images in [0, 1] are mapped
//! to [-1, 1] and through the `ScalingLayer`, run through the backbone up to five ReLU
//! layers, each layer's features are divided by their channel-wise norm (+1e-10), squared
//! differences are weighted by the layer's linear head, averaged over space and summed over
//! layers. Weights are safetensors files made by `tools/convert_lpips_weights.py` (see
//! `assets/lpips/README.md`).

mod convolve;
mod network;
pub mod patch;
mod weights;

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use network::{Network, min_image_side};

/// Environment variable naming the folder that holds `alex.safetensors` and
/// `vgg.safetensors`; defaults to the repository's `assets/lpips`.
pub const WEIGHTS_DIR_ENV: &str = "NERF_AVATAR_LPIPS_DIR";

/// The feature network LPIPS compares activations of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backbone {
    /// AlexNet, layers relu1..relu5 (images of at least 31×31).
    Alex,
    /// VGG16, layers relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (images of at least 16×16).
    Vgg,
}

impl Backbone {
    /// The weights file name in the weights folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Backbone::Alex => "alex.safetensors",
            Backbone::Vgg => "vgg.safetensors",
        }
    }

    /// The smallest image width and height the backbone accepts.
    pub fn min_image_side(self) -> usize {
        min_image_side(self)
    }

    fn missing_weights_hint(self) -> &'static str {
        match self {
            Backbone::Alex => {
                "it is committed in the repository's assets/lpips; point NERF_AVATAR_LPIPS_DIR at the folder that holds it"
            }
            Backbone::Vgg => "run scripts/setup.sh to fetch and convert it",
        }
    }
}

impl fmt::Display for Backbone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Backbone::Alex => "AlexNet",
            Backbone::Vgg => "VGG16",
        })
    }
}

/// Errors of loading LPIPS weights and of computing distances.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum LpipsError {
    /// The default weights file does not exist.
    #[error("LPIPS {backbone} weights not found at {}: {hint}", path.display())]
    MissingWeights {
        backbone: Backbone,
        path: PathBuf,
        hint: &'static str,
    },
    /// The weights file could not be read.
    #[error("cannot read LPIPS weights {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The weights file is not a valid safetensors file.
    #[error("LPIPS weights {} are not a valid safetensors file: {error}", path.display())]
    Format {
        path: PathBuf,
        error: candle_core::Error,
    },
    /// A tensor the backbone needs is absent.
    #[error("LPIPS weights {}: missing tensor `{name}`", path.display())]
    MissingTensor { path: PathBuf, name: String },
    /// A tensor is not f32.
    #[error("LPIPS weights {}: tensor `{name}` is {found:?}, expected f32", path.display())]
    TensorDtype {
        path: PathBuf,
        name: String,
        found: DType,
    },
    /// A tensor has the wrong shape.
    #[error("LPIPS weights {}: tensor `{name}` has shape {found:?}, expected {expected:?}", path.display())]
    TensorShape {
        path: PathBuf,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// The file holds a tensor that is not part of the backbone (e.g. the other backbone's).
    #[error("LPIPS weights {}: unexpected tensor `{name}` for the {backbone} network", path.display())]
    UnexpectedTensor {
        path: PathBuf,
        name: String,
        backbone: Backbone,
    },
    /// An image buffer's length does not match `width × height × 3`.
    #[error("image buffer holds {found} values, expected {expected} for {width}×{height} RGB")]
    ImageLength {
        found: usize,
        expected: usize,
        width: usize,
        height: usize,
    },
    /// The images are smaller than the backbone's receptive structure allows.
    #[error(
        "{width}×{height} images are too small for LPIPS {backbone} (at least {min_side}×{min_side})"
    )]
    ImageTooSmall {
        width: usize,
        height: usize,
        backbone: Backbone,
        min_side: usize,
    },
    /// An image holds NaN or an infinity.
    #[error("image {image} holds a non-finite value at index {index}")]
    NonFinite { image: String, index: usize },
    /// The patch loss got no patches, or different numbers of `a` and `b` patches.
    #[error(
        "expected equally many `a` and `b` patches (at least one), got {a_count} and {b_count}"
    )]
    PatchCount { a_count: usize, b_count: usize },
    /// candle failed while computing.
    #[error("LPIPS computation failed: {0}")]
    Compute(candle_core::Error),
}

impl From<candle_core::Error> for LpipsError {
    fn from(error: candle_core::Error) -> Self {
        Self::Compute(error)
    }
}

/// An LPIPS v0.1 metric with loaded weights.
pub struct Lpips {
    network: Network,
}

impl Lpips {
    /// Loads the weights of `backbone` from a safetensors file, checking every tensor's name,
    /// dtype and shape.
    pub fn load(backbone: Backbone, path: &Path) -> Result<Self, LpipsError> {
        Ok(Self {
            network: weights::load_network(backbone, path)?,
        })
    }

    /// Loads `alex.safetensors` or `vgg.safetensors` from the folder named by
    /// `NERF_AVATAR_LPIPS_DIR`, or else from the repository's `assets/lpips`.
    pub fn load_default(backbone: Backbone) -> Result<Self, LpipsError> {
        Self::load_from_dir(backbone, &default_weights_dir())
    }

    /// Loads the backbone's file (`alex.safetensors`, `vgg.safetensors`) from `dir`; a
    /// missing file is a [`LpipsError::MissingWeights`] that says how to get it.
    fn load_from_dir(backbone: Backbone, dir: &Path) -> Result<Self, LpipsError> {
        let path = dir.join(backbone.file_name());
        if !path.is_file() {
            return Err(LpipsError::MissingWeights {
                backbone,
                path,
                hint: backbone.missing_weights_hint(),
            });
        }
        Self::load(backbone, &path)
    }

    /// The backbone these weights are for.
    pub fn backbone(&self) -> Backbone {
        self.network.backbone
    }

    /// The LPIPS distance between two `width × height` images (row-major HWC RGB, values in
    /// [0, 1]).
    pub fn distance(
        &self,
        a: &[f32],
        b: &[f32],
        width: usize,
        height: usize,
    ) -> Result<f32, LpipsError> {
        check_size(self.network.backbone, width, height)?;
        let batch_a = image_batch(&[a], "a", width, height)?;
        let batch_b = image_batch(&[b], "b", width, height)?;
        let distances = self.network.distances(&batch_a, &batch_b)?;
        Ok(distances.to_vec1::<f32>()?[0])
    }
}

/// Fails unless `width × height` images fit `backbone`.
fn check_size(backbone: Backbone, width: usize, height: usize) -> Result<(), LpipsError> {
    let min_side = backbone.min_image_side();
    if width < min_side || height < min_side {
        return Err(LpipsError::ImageTooSmall {
            width,
            height,
            backbone,
            min_side,
        });
    }
    Ok(())
}

/// The weights folder: `NERF_AVATAR_LPIPS_DIR`, or the repository's `assets/lpips`.
fn default_weights_dir() -> PathBuf {
    match std::env::var_os(WEIGHTS_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/lpips"),
    }
}

/// Checks that each image holds `width × height × 3` finite values. `name` names the
/// argument in errors (`a`, `b`); with several images the index is appended.
fn check_images(
    images: &[&[f32]],
    name: &str,
    width: usize,
    height: usize,
) -> Result<(), LpipsError> {
    let expected = width * height * 3;
    for (position, image) in images.iter().enumerate() {
        if image.len() != expected {
            return Err(LpipsError::ImageLength {
                found: image.len(),
                expected,
                width,
                height,
            });
        }
        if let Some(index) = image.iter().position(|value| !value.is_finite()) {
            let image = if images.len() == 1 {
                format!("`{name}`")
            } else {
                format!("`{name}[{position}]`")
            };
            return Err(LpipsError::NonFinite { image, index });
        }
    }
    Ok(())
}

/// Checks the images ([`check_images`]) and stacks them into an `[N, H, W, 3]` tensor.
fn image_batch(
    images: &[&[f32]],
    name: &str,
    width: usize,
    height: usize,
) -> Result<Tensor, LpipsError> {
    check_images(images, name, width, height)?;
    let values = images
        .iter()
        .flat_map(|image| image.iter())
        .copied()
        .collect();
    Ok(Tensor::from_vec(
        values,
        (images.len(), height, width, 3),
        &Device::Cpu,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_vgg_weights_say_to_run_setup() {
        let empty = tempfile::tempdir().unwrap();
        let error = Lpips::load_from_dir(Backbone::Vgg, empty.path())
            .err()
            .expect("no weights in an empty folder");
        let message = error.to_string();
        assert!(
            matches!(error, LpipsError::MissingWeights { .. }),
            "{message}"
        );
        assert!(message.contains("scripts/setup.sh"), "{message}");
        assert!(message.contains("vgg.safetensors"), "{message}");
    }
}
