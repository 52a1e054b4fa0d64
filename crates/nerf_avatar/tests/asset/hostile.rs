//! Hostile and corrupt files: each must give a typed error, never a panic and never a
//! huge allocation.

use nerf_avatar::Avatar;
use nerf_avatar::asset::{AssetError, MAX_FILE_BYTES, Precision};
use safetensors::Dtype;

use crate::support::{Parts, encode, header_end, join_with_header, sample_avatar, small_config};

/// A predicate on the error a corrupted file must give.
type ErrorCheck = fn(&AssetError) -> bool;

fn small_asset() -> Vec<u8> {
    encode(&sample_avatar(small_config()), Precision::F32)
}

fn decode_error(bytes: &[u8]) -> AssetError {
    match Avatar::from_bytes(bytes) {
        Ok(_) => panic!("a hostile file was accepted"),
        Err(error) => error,
    }
}

#[test]
fn the_small_asset_is_valid() {
    Avatar::from_bytes(&small_asset()).unwrap();
}

#[test]
fn truncation_is_detected_at_every_header_length_and_through_the_data() {
    let bytes = small_asset();
    let end = header_end(&bytes);
    let lengths = (0..end).chain((end..bytes.len()).step_by(7));
    for length in lengths {
        decode_error(&bytes[..length]);
    }
}

#[test]
fn every_bit_flip_in_the_header_is_detected() {
    let mut bytes = small_asset();
    for bit in 0..header_end(&bytes) * 8 {
        bytes[bit / 8] ^= 1 << (bit % 8);
        assert!(
            Avatar::from_bytes(&bytes).is_err(),
            "flipping bit {bit} went unnoticed"
        );
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

#[test]
fn bit_flips_through_the_data_are_detected() {
    let mut bytes = small_asset();
    let start = header_end(&bytes) * 8;
    for bit in (start..bytes.len() * 8).step_by(13) {
        bytes[bit / 8] ^= 1 << (bit % 8);
        let error = decode_error(&bytes);
        assert!(
            matches!(error, AssetError::ChecksumMismatch { .. }),
            "bit {bit}: {error}"
        );
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

#[test]
fn a_header_claiming_a_huge_length_is_refused() {
    let mut bytes = small_asset();
    for length in [u64::MAX, 1 << 40, 200_000_000] {
        bytes[..8].copy_from_slice(&length.to_le_bytes());
        assert!(matches!(
            decode_error(&bytes),
            AssetError::HeaderTooLarge { .. }
        ));
    }
}

#[test]
fn tensors_claiming_bytes_beyond_the_file_are_refused() {
    let near_max = u64::MAX - 16;
    let pieces = [
        format!(r#"{{"a":{{"dtype":"U8","shape":[{near_max}],"data_offsets":[0,{near_max}]}}}}"#),
        r#"{"a":{"dtype":"F32","shape":[4611686018427387903],"data_offsets":[0,18446744073709551612]}}"#.to_owned(),
        r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[2,9223372036854775809]}}"#.to_owned(),
    ];
    for header in pieces {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend([0; 2]);
        let error = decode_error(&bytes);
        assert!(matches!(error, AssetError::NotSafetensors(_)), "{error}");
    }
}

#[test]
fn garbage_is_not_a_safetensors_file() {
    for bytes in [
        &b""[..],
        b"\x02\0\0\0\0\0\0\0{}",
        b"\x04\0\0\0\0\0\0\0null",
        b"PK\x03\x04 not it",
    ] {
        decode_error(bytes);
    }
    let empty = join_with_header(&Default::default(), "{}".into(), "0".into());
    let error = decode_error(&empty);
    assert!(
        matches!(error, AssetError::ChecksumMismatch { .. }),
        "{error}"
    );
}

#[test]
fn plain_safetensors_without_avatar_metadata_is_another_format() {
    let view = safetensors::tensor::TensorView::new(Dtype::U8, vec![1], &[0]).unwrap();
    let bytes = safetensors::serialize([("x", view)], None).unwrap();
    assert!(matches!(decode_error(&bytes), AssetError::UnknownFormat(_)));
}

#[test]
fn enormous_table_sizes_are_rejected_before_allocation() {
    let cases: [(&str, serde_json::Value); 4] = [
        ("/config/grid/log2_table_size", 60.into()),
        ("/config/grid/levels", 4_000_000_000u32.into()),
        ("/config/occupancy_resolution", 100_000.into()),
        ("/config/density_mlp/hidden_width", 1_000_000.into()),
    ];
    for (field, value) in cases {
        let mut parts = Parts::of(&small_asset());
        *parts.metadata.pointer_mut(field).unwrap() = value;
        let error = decode_error(&parts.join());
        assert!(
            matches!(error, AssetError::InvalidConfig(_)),
            "{field}: {error}"
        );
    }
    // Every field within its limit, but 2^24 entries × 8 features × 257 tables in total.
    let mut parts = Parts::of(&small_asset());
    let grid = parts.metadata.pointer_mut("/config/grid").unwrap();
    grid["levels"] = 32.into();
    grid["log2_table_size"] = 24.into();
    grid["features_per_level"] = 8.into();
    grid["finest_resolution"] = 65_536.into();
    let names: Vec<String> = (0..256).map(|i| format!("shape{i}")).collect();
    parts.metadata["config"]["blendshapes"] = names.clone().into();
    parts.metadata["blendshapes"] = names.into();
    let error = decode_error(&parts.join());
    assert!(error.to_string().contains("parameter count"), "{error}");
}

#[test]
fn a_wrong_shape_names_expected_and_found() {
    let mut parts = Parts::of(&small_asset());
    parts.tensor("color_mlp.0").1.reverse();
    let error = decode_error(&parts.join());
    let AssetError::WrongShape {
        tensor,
        expected,
        found,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(tensor, "color_mlp.0");
    assert_eq!(expected, &[found[1], found[0]]);

    let mut parts = Parts::of(&small_asset());
    let (_, shape, bytes) = parts.tensor("tables");
    shape[0] -= 1;
    bytes.truncate(bytes.len() / 3 * 2);
    assert!(matches!(
        decode_error(&parts.join()),
        AssetError::WrongShape { .. }
    ));
}

#[test]
fn a_wrong_dtype_is_reported() {
    let mut parts = Parts::of(&small_asset());
    parts.tensor("density_mlp.1").0 = Dtype::I32;
    let error = decode_error(&parts.join());
    assert!(matches!(error, AssetError::WrongDtype { .. }), "{error}");

    // Tables in f32 but one layer in f16: the precisions must agree.
    let mut parts = Parts::of(&small_asset());
    let (dtype, _, bytes) = parts.tensor("color_mlp.1");
    *dtype = Dtype::F16;
    bytes.truncate(bytes.len() / 2);
    let error = decode_error(&parts.join());
    assert!(matches!(error, AssetError::WrongDtype { .. }), "{error}");

    let mut parts = Parts::of(&small_asset());
    parts.tensor("occupancy.density").0 = Dtype::I32;
    assert!(matches!(
        decode_error(&parts.join()),
        AssetError::WrongDtype { .. }
    ));
}

#[test]
fn missing_and_unexpected_tensors_are_reported() {
    let mut parts = Parts::of(&small_asset());
    parts.tensors.remove("color_mlp.1");
    let error = decode_error(&parts.join());
    assert!(matches!(&error, AssetError::MissingTensor(name) if name == "color_mlp.1"));

    let mut parts = Parts::of(&small_asset());
    parts
        .tensors
        .insert("extra".into(), (Dtype::U8, vec![1], vec![0]));
    let error = decode_error(&parts.join());
    assert!(matches!(&error, AssetError::UnexpectedTensor(name) if name == "extra"));

    // Without densities the grid is still valid; a checksum for them is not.
    let mut parts = Parts::of(&small_asset());
    parts.tensors.remove("occupancy.density");
    let bytes = parts.join();
    assert!(
        Avatar::from_bytes(&bytes)
            .unwrap()
            .occupancy
            .density
            .is_none()
    );
    let mut parts = Parts::of(&bytes);
    parts.metadata["checksums"]["occupancy.density"] = 1.into();
    let error = decode_error(&parts.join_keeping_checksums());
    assert!(
        matches!(error, AssetError::InconsistentMetadata(_)),
        "{error}"
    );
}

#[test]
fn a_changed_tensor_fails_its_checksum() {
    let mut parts = Parts::of(&small_asset());
    parts.tensor("density_mlp.0").2[3] ^= 0x10;
    let error = decode_error(&parts.join_keeping_checksums());
    let AssetError::ChecksumMismatch { part, .. } = &error else {
        panic!("{error}");
    };
    assert!(part.contains("density_mlp.0"));
}

#[test]
fn non_finite_weights_are_rejected() {
    for (tensor, value) in [
        ("density_mlp.0", f32::NAN),
        ("tables", f32::INFINITY),
        ("occupancy.density", f32::NEG_INFINITY),
    ] {
        let mut parts = Parts::of(&small_asset());
        parts.tensor(tensor).2[8..12].copy_from_slice(&value.to_le_bytes());
        let error = decode_error(&parts.join());
        assert!(
            matches!(&error, AssetError::NonFinite { tensor: t, index: 2 } if t == tensor),
            "{error}"
        );
    }
    let mut parts = Parts::of(&encode(&sample_avatar(small_config()), Precision::F16));
    parts.tensor("color_mlp.0").2[0..2].copy_from_slice(&half::f16::NAN.to_le_bytes());
    assert!(matches!(
        decode_error(&parts.join()),
        AssetError::NonFinite { .. }
    ));
}

#[test]
fn wrong_json_is_reported() {
    let parts = Parts::of(&small_asset());
    let error = decode_error(&join_with_header(
        &parts.tensors,
        "{not json".into(),
        "ba1f2511".into(),
    ));
    assert!(
        matches!(error, AssetError::ChecksumMismatch { .. }),
        "{error}"
    );
    let crc = |text: &str| format!("{:08x}", crc32fast::hash(text.as_bytes()));
    for text in ["{not json", "[]", r#"{"format":"nerf-avatar"}"#] {
        let error = decode_error(&join_with_header(&parts.tensors, text.into(), crc(text)));
        assert!(
            matches!(error, AssetError::BadMetadata(_)),
            "{text}: {error}"
        );
    }
    let cases: [(&str, serde_json::Value, ErrorCheck); 5] = [
        ("/format", "gltf".into(), |e| {
            matches!(e, AssetError::UnknownFormat(_))
        }),
        ("/version", 2.into(), |e| {
            matches!(e, AssetError::UnsupportedVersion { found: 2, .. })
        }),
        ("/version", (-1).into(), |e| {
            matches!(e, AssetError::BadMetadata(_))
        }),
        ("/config", "tiny".into(), |e| {
            matches!(e, AssetError::BadMetadata(_))
        }),
        ("/expression_min", serde_json::json!([0, null]), |e| {
            matches!(e, AssetError::BadMetadata(_))
        }),
    ];
    for (field, value, expected) in cases {
        let mut parts = Parts::of(&small_asset());
        *parts.metadata.pointer_mut(field).unwrap() = value;
        let error = decode_error(&parts.join());
        assert!(expected(&error), "{field}: {error}");
    }
}

#[test]
fn a_missing_or_malformed_metadata_checksum_is_refused() {
    let parts = Parts::of(&small_asset());
    let json = parts.metadata.to_string();
    let crc = format!("{:08x}", crc32fast::hash(json.as_bytes()));
    for stored in [crc.to_uppercase(), format!(" {crc}"), String::new()] {
        let error = decode_error(&join_with_header(&parts.tensors, json.clone(), stored));
        assert!(
            matches!(error, AssetError::ChecksumMismatch { .. }),
            "{error}"
        );
    }
}

#[test]
fn inconsistent_metadata_is_reported() {
    let edits: [(&str, serde_json::Value); 6] = [
        ("/expression_min", serde_json::json!([0.0])),
        ("/expression_max", serde_json::json!([0.5, -1.0])),
        (
            "/blendshapes",
            serde_json::json!(["jawOpen", "eyeBlinkLeft"]),
        ),
        ("/head_box/half_extent", 1.0.into()),
        ("/occupancy/occupied_fraction", 0.25.into()),
        ("/intrinsics/fx", (-3.0).into()),
    ];
    for (field, value) in edits {
        let mut parts = Parts::of(&small_asset());
        *parts.metadata.pointer_mut(field).unwrap() = value;
        let error = decode_error(&parts.join());
        assert!(
            matches!(error, AssetError::InconsistentMetadata(_)),
            "{field}: {error}"
        );
    }
}

#[test]
fn read_names_the_file_in_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.avatar");
    let mut bytes = small_asset();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let error = Avatar::read(&path).unwrap_err();
    assert!(matches!(error.root(), AssetError::ChecksumMismatch { .. }));
    assert!(error.to_string().contains("broken.avatar"), "{error}");

    let missing = dir.path().join("missing.avatar");
    let error = Avatar::read(&missing).unwrap_err();
    assert!(matches!(error, AssetError::Io { .. }));
    assert!(error.to_string().contains("missing.avatar"), "{error}");
}

#[test]
fn read_refuses_files_over_the_size_limit_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.avatar");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse on the usual file systems: no disk space or reading involved.
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    let error = Avatar::read(&path).unwrap_err();
    assert!(
        matches!(error.root(), AssetError::TooLarge { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("huge.avatar"));
}
