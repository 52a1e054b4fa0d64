//! Reading an avatar from untrusted safetensors bytes.
//!
//! The checks run in an order that keeps every allocation bounded: header size, tensor
//! extents against the buffer, metadata checksum, format and version, configuration limits,
//! metadata consistency, then each tensor's dtype, shape and checksum, and only then the
//! copies of the values.

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use super::metadata::{AssetMetadata, FormatTag, METADATA_CRC_KEY, METADATA_KEY, crc_text};
use super::tensors::{self, OCCUPANCY_BITFIELD, OCCUPANCY_DENSITY};
use super::{AssetError, Avatar, FORMAT_NAME, FORMAT_VERSION, MAX_HEADER_BYTES, Precision};
use crate::occupancy::OccupancyGrid;
use crate::params::{ParamLayout, Params};

/// Length of the safetensors header-length prefix.
const PREFIX_LEN: usize = 8;

/// Decodes and validates an asset.
pub(super) fn decode(bytes: &[u8]) -> Result<(Avatar, Precision), AssetError> {
    check_extents(bytes)?;
    let (header_len, header) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
    let data = PREFIX_LEN
        .checked_add(header_len)
        .and_then(|start| bytes.get(start..))
        .ok_or_else(|| AssetError::NotSafetensors("the header runs past the end".into()))?;
    let metadata = read_metadata(&header)?;
    metadata.config.validate()?;
    check_metadata(&metadata)?;
    let file = StoredTensors {
        header: &header,
        data,
        checksums: &metadata.checksums,
    };
    let (params, precision) = read_params(&file, &metadata)?;
    let occupancy = read_occupancy(&file, &metadata)?;
    check_tensor_names(&header, &metadata, occupancy.density.is_some())?;
    let avatar = Avatar {
        params,
        occupancy,
        expression_min: metadata.expression_min,
        expression_max: metadata.expression_max,
        intrinsics: metadata.intrinsics,
        view: metadata.view,
        training: metadata.training,
        config: metadata.config,
    };
    avatar.validate()?;
    let fraction = avatar.occupancy.occupied_fraction();
    if (fraction - metadata.occupancy.occupied_fraction).abs() > 1e-9 {
        return Err(AssetError::InconsistentMetadata(format!(
            "occupied fraction {} is stored, the bitfield has {fraction}",
            metadata.occupancy.occupied_fraction
        )));
    }
    Ok((avatar, precision))
}

fn not_safetensors(error: safetensors::SafeTensorError) -> AssetError {
    AssetError::NotSafetensors(error.to_string())
}

/// Refuses oversized headers and tensors claiming bytes beyond the buffer, before the
/// safetensors parser adds offsets (which could overflow on hostile values).
fn check_extents(bytes: &[u8]) -> Result<(), AssetError> {
    let Some((prefix, rest)) = bytes.split_first_chunk::<PREFIX_LEN>() else {
        return Err(AssetError::NotSafetensors(format!(
            "{} bytes, fewer than the 8-byte header length",
            bytes.len()
        )));
    };
    let header_len = u64::from_le_bytes(*prefix);
    if header_len > MAX_HEADER_BYTES {
        return Err(AssetError::HeaderTooLarge {
            size: header_len,
            limit: MAX_HEADER_BYTES,
        });
    }
    let header_len = header_len as usize;
    let Some(header) = rest.get(..header_len) else {
        return Err(AssetError::NotSafetensors(format!(
            "the header of {header_len} bytes runs past the end of the file"
        )));
    };
    let data_len = (rest.len() - header_len) as u64;
    // A header that is not a JSON object is left to the safetensors parser to report.
    let Ok(entries) = serde_json::from_slice::<HashMap<String, serde_json::Value>>(header) else {
        return Ok(());
    };
    for (name, entry) in &entries {
        let offsets = entry.get("data_offsets").and_then(|o| o.as_array());
        for offset in offsets.into_iter().flatten().filter_map(|o| o.as_u64()) {
            if offset > data_len {
                return Err(AssetError::NotSafetensors(format!(
                    "tensor `{name}` claims bytes up to {offset}, the file holds {data_len}"
                )));
            }
        }
    }
    Ok(())
}

/// Checks the metadata's CRC, format and version, then parses it.
fn read_metadata(header: &Metadata) -> Result<AssetMetadata, AssetError> {
    let entries = header.metadata().as_ref();
    let entry = |key: &str| entries.and_then(|map| map.get(key));
    let Some(json) = entry(METADATA_KEY) else {
        return Err(AssetError::UnknownFormat(format!(
            "no `{METADATA_KEY}` entry in the safetensors metadata"
        )));
    };
    let Some(stored) = entry(METADATA_CRC_KEY) else {
        return Err(AssetError::BadMetadata(format!(
            "no `{METADATA_CRC_KEY}` entry"
        )));
    };
    let computed = crc_text(json);
    if *stored != computed {
        return Err(AssetError::ChecksumMismatch {
            part: "the metadata".into(),
            stored: stored.clone(),
            computed,
        });
    }
    let bad = |error: serde_json::Error| AssetError::BadMetadata(error.to_string());
    let tag: FormatTag = serde_json::from_str(json).map_err(bad)?;
    if tag.format != FORMAT_NAME {
        return Err(AssetError::UnknownFormat(format!(
            "format `{}`, expected `{FORMAT_NAME}`",
            tag.format
        )));
    }
    if tag.version != u64::from(FORMAT_VERSION) {
        return Err(AssetError::UnsupportedVersion {
            found: tag.version,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_str(json).map_err(bad)
}

/// Checks that the metadata's copies agree with the (validated) configuration.
fn check_metadata(metadata: &AssetMetadata) -> Result<(), AssetError> {
    let config = &metadata.config;
    let inconsistent = |message: &str| Err(AssetError::InconsistentMetadata(message.into()));
    if metadata.blendshapes != config.blendshapes {
        return inconsistent("the blendshape names differ from the config's");
    }
    if metadata.head_box != config.head_box {
        return inconsistent("the head box differs from the config's");
    }
    if metadata.occupancy.resolution != config.occupancy_resolution {
        return inconsistent("the occupancy resolution differs from the config's");
    }
    Ok(())
}

/// The tensors of a parsed file, with the checksums the metadata stores for them.
struct StoredTensors<'a> {
    header: &'a Metadata,
    data: &'a [u8],
    checksums: &'a std::collections::BTreeMap<String, u32>,
}

impl<'a> StoredTensors<'a> {
    /// The bytes and dtype of tensor `name`, once its dtype is one of `dtypes`, its shape is
    /// `shape` and its checksum matches.
    fn get(
        &self,
        name: &str,
        dtypes: &[Dtype],
        shape: &[usize],
    ) -> Result<(&'a [u8], Dtype), AssetError> {
        let info: &TensorInfo = self
            .header
            .info(name)
            .ok_or_else(|| AssetError::MissingTensor(name.to_owned()))?;
        if !dtypes.contains(&info.dtype) {
            let expected: Vec<String> = dtypes.iter().map(ToString::to_string).collect();
            return Err(AssetError::WrongDtype {
                tensor: name.to_owned(),
                expected: expected.join(" or "),
                found: info.dtype.to_string(),
            });
        }
        if info.shape != shape {
            return Err(AssetError::WrongShape {
                tensor: name.to_owned(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let (start, end) = info.data_offsets;
        let bytes = self.data.get(start..end).ok_or_else(|| {
            AssetError::NotSafetensors(format!("tensor `{name}` runs past the end"))
        })?;
        let Some(&stored) = self.checksums.get(name) else {
            return Err(AssetError::InconsistentMetadata(format!(
                "no checksum for tensor `{name}`"
            )));
        };
        let computed = crc32fast::hash(bytes);
        if stored != computed {
            return Err(AssetError::ChecksumMismatch {
                part: format!("tensor `{name}`"),
                stored: format!("{stored:08x}"),
                computed: format!("{computed:08x}"),
            });
        }
        Ok((bytes, info.dtype))
    }
}

/// Reads the hash tables and MLP weights; all of them must share one float dtype.
fn read_params(
    file: &StoredTensors<'_>,
    metadata: &AssetMetadata,
) -> Result<(Params<f32>, Precision), AssetError> {
    let layout = ParamLayout::new(&metadata.config);
    let features = metadata.config.grid.features_per_level as usize;
    let specs = tensors::param_tensors(&layout, features);
    let mut stored = Vec::with_capacity(specs.len());
    let mut dtypes = vec![Dtype::F32, Dtype::F16];
    for spec in &specs {
        let (bytes, dtype) = file.get(&spec.name, &dtypes, &spec.shape)?;
        dtypes = vec![dtype];
        stored.push(bytes);
    }
    let precision = match dtypes.as_slice() {
        [Dtype::F16] => Precision::F16,
        _ => Precision::F32,
    };
    // Every tensor now has the shape the validated config implies, and the parser has
    // matched each shape with its byte length: the buffer's size is backed by the file.
    let mut params = Params::zeros(layout);
    for (spec, bytes) in specs.iter().zip(stored) {
        let values = &mut params.data[spec.range.clone()];
        match precision {
            Precision::F32 => copy_f32(bytes, values),
            Precision::F16 => copy_f16(bytes, values),
        }
    }
    Ok((params, precision))
}

fn read_occupancy(
    file: &StoredTensors<'_>,
    metadata: &AssetMetadata,
) -> Result<OccupancyGrid, AssetError> {
    let resolution = metadata.config.occupancy_resolution;
    let bitfield_shape = tensors::bitfield_shape(resolution);
    let (bitfield, _) = file.get(OCCUPANCY_BITFIELD, &[Dtype::U8], &bitfield_shape)?;
    let density = match file.header.info(OCCUPANCY_DENSITY) {
        None => None,
        Some(_) => {
            let shape = tensors::density_shape(resolution);
            let (bytes, _) = file.get(OCCUPANCY_DENSITY, &[Dtype::F32], &shape)?;
            let mut values = vec![0.0; OccupancyGrid::cell_count(resolution)];
            copy_f32(bytes, &mut values);
            Some(values)
        }
    };
    Ok(OccupancyGrid {
        resolution,
        density,
        bitfield: bitfield.to_vec(),
    })
}

/// Refuses tensors that the format does not define, and checksums of absent tensors.
fn check_tensor_names(
    header: &Metadata,
    metadata: &AssetMetadata,
    has_density: bool,
) -> Result<(), AssetError> {
    let layout = ParamLayout::new(&metadata.config);
    let features = metadata.config.grid.features_per_level as usize;
    let mut expected: Vec<String> = tensors::param_tensors(&layout, features)
        .into_iter()
        .map(|tensor| tensor.name)
        .collect();
    expected.push(OCCUPANCY_BITFIELD.to_owned());
    if has_density {
        expected.push(OCCUPANCY_DENSITY.to_owned());
    }
    if let Some(name) = header
        .offset_keys()
        .into_iter()
        .find(|n| !expected.contains(n))
    {
        return Err(AssetError::UnexpectedTensor(name));
    }
    if let Some(name) = metadata.checksums.keys().find(|n| !expected.contains(n)) {
        return Err(AssetError::InconsistentMetadata(format!(
            "a checksum for the absent tensor `{name}`"
        )));
    }
    Ok(())
}

fn copy_f32(bytes: &[u8], values: &mut [f32]) {
    let (chunks, _) = bytes.as_chunks::<4>();
    for (value, chunk) in values.iter_mut().zip(chunks) {
        *value = f32::from_le_bytes(*chunk);
    }
}

fn copy_f16(bytes: &[u8], values: &mut [f32]) {
    let (chunks, _) = bytes.as_chunks::<2>();
    for (value, chunk) in values.iter_mut().zip(chunks) {
        *value = half::f16::from_le_bytes(*chunk).to_f32();
    }
}
