//! Writing an avatar as safetensors bytes.

use std::collections::HashMap;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::metadata::{AssetMetadata, METADATA_CRC_KEY, METADATA_KEY, OccupancySummary, crc_text};
use super::tensors::{self, OCCUPANCY_BITFIELD, OCCUPANCY_DENSITY};
use super::{AssetError, Avatar, FORMAT_NAME, FORMAT_VERSION, MAX_HEADER_BYTES, Precision};

/// One tensor ready to be written.
struct EncodedTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Validates `avatar` and encodes it (see the format in the parent module).
pub(super) fn encode(avatar: &Avatar, precision: Precision) -> Result<Vec<u8>, AssetError> {
    avatar.validate()?;
    let encoded = encode_tensors(avatar, precision)?;
    let metadata = AssetMetadata {
        format: FORMAT_NAME.to_owned(),
        version: u64::from(FORMAT_VERSION),
        config: avatar.config.clone(),
        blendshapes: avatar.config.blendshapes.clone(),
        expression_min: avatar.expression_min.clone(),
        expression_max: avatar.expression_max.clone(),
        intrinsics: avatar.intrinsics,
        view: avatar.view,
        head_box: avatar.config.head_box,
        occupancy: OccupancySummary {
            resolution: avatar.occupancy.resolution,
            occupied_fraction: avatar.occupancy.occupied_fraction(),
        },
        training: avatar.training.clone(),
        checksums: encoded
            .iter()
            .map(|tensor| (tensor.name.clone(), crc32fast::hash(&tensor.bytes)))
            .collect(),
    };
    let json = serde_json::to_string(&metadata)
        .map_err(|error| AssetError::BadMetadata(error.to_string()))?;
    let header = HashMap::from([
        (METADATA_CRC_KEY.to_owned(), crc_text(&json)),
        (METADATA_KEY.to_owned(), json),
    ]);
    let views = encoded
        .iter()
        .map(|tensor| {
            TensorView::new(tensor.dtype, tensor.shape.clone(), &tensor.bytes)
                .map(|view| (tensor.name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AssetError::NotSafetensors(error.to_string()))?;
    let bytes = safetensors::serialize(views, Some(header))
        .map_err(|error| AssetError::NotSafetensors(error.to_string()))?;
    let header_len = bytes
        .first_chunk::<8>()
        .map_or(u64::MAX, |prefix| u64::from_le_bytes(*prefix));
    if header_len > MAX_HEADER_BYTES {
        return Err(AssetError::HeaderTooLarge {
            size: header_len,
            limit: MAX_HEADER_BYTES,
        });
    }
    Ok(bytes)
}

fn encode_tensors(avatar: &Avatar, precision: Precision) -> Result<Vec<EncodedTensor>, AssetError> {
    let features = avatar.config.grid.features_per_level as usize;
    let mut encoded = Vec::new();
    for tensor in tensors::param_tensors(&avatar.params.layout, features) {
        let values = &avatar.params.data[tensor.range];
        let (dtype, bytes) = match precision {
            Precision::F32 => (Dtype::F32, f32_bytes(values)),
            Precision::F16 => (Dtype::F16, f16_bytes(&tensor.name, values)?),
        };
        encoded.push(EncodedTensor {
            name: tensor.name,
            dtype,
            shape: tensor.shape,
            bytes,
        });
    }
    let grid = &avatar.occupancy;
    encoded.push(EncodedTensor {
        name: OCCUPANCY_BITFIELD.to_owned(),
        dtype: Dtype::U8,
        shape: tensors::bitfield_shape(grid.resolution),
        bytes: grid.bitfield.clone(),
    });
    if let Some(density) = &grid.density {
        encoded.push(EncodedTensor {
            name: OCCUPANCY_DENSITY.to_owned(),
            dtype: Dtype::F32,
            shape: tensors::density_shape(grid.resolution),
            bytes: f32_bytes(density),
        });
    }
    Ok(encoded)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The values as little-endian f16; an error names the first value out of f16's range.
fn f16_bytes(tensor: &str, values: &[f32]) -> Result<Vec<u8>, AssetError> {
    let mut bytes = Vec::with_capacity(values.len() * 2);
    for (index, &value) in values.iter().enumerate() {
        let half = half::f16::from_f32(value);
        if !half.is_finite() {
            return Err(AssetError::NonFinite {
                tensor: format!("{tensor} (as f16)"),
                index,
            });
        }
        bytes.extend(half.to_le_bytes());
    }
    Ok(bytes)
}
