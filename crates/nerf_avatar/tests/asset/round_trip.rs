//! Writing and reading back: exact in f32, within f16 precision in f16.

use nerf_avatar::Avatar;
use nerf_avatar::asset::{AssetError, Precision};

use crate::support::{encode, sample_avatar, tiny_config};

#[test]
fn new_avatar_is_initialised_from_its_seed() {
    let avatar = Avatar::new(tiny_config(), 3).unwrap();
    assert_eq!(avatar.expression_min, vec![0.0; 3]);
    assert_eq!(avatar.expression_max, vec![1.0; 3]);
    assert_eq!(avatar.occupancy.resolution, 64);
    assert_eq!(avatar.occupancy.occupied_fraction(), 1.0);
    assert_eq!(avatar.parameter_count(), avatar.params.layout.total());
    assert_eq!(avatar, Avatar::new(tiny_config(), 3).unwrap());
    assert_ne!(avatar.params, Avatar::new(tiny_config(), 4).unwrap().params);
}

#[test]
fn new_avatar_rejects_an_invalid_config() {
    let mut config = tiny_config();
    config.grid.levels = 0;
    assert!(matches!(
        Avatar::new(config, 0),
        Err(AssetError::InvalidConfig(_))
    ));
}

#[test]
fn f32_round_trip_is_exact() {
    let avatar = sample_avatar(tiny_config());
    let (read, precision) =
        Avatar::from_bytes_with_precision(&encode(&avatar, Precision::F32)).unwrap();
    assert_eq!(precision, Precision::F32);
    assert_eq!(read, avatar);
}

#[test]
fn fresh_avatar_without_optional_parts_round_trips() {
    let avatar = Avatar::new(tiny_config(), 1).unwrap();
    let read = Avatar::from_bytes(&encode(&avatar, Precision::F32)).unwrap();
    assert_eq!(read, avatar);
}

#[test]
fn f16_round_trip_is_within_half_precision() {
    let avatar = sample_avatar(tiny_config());
    let bytes = encode(&avatar, Precision::F16);
    let saved = encode(&avatar, Precision::F32).len() - bytes.len();
    // Two bytes per weight, give or take the header's different checksums.
    let expected = 2 * avatar.parameter_count();
    assert!(
        saved.abs_diff(expected) < 64,
        "{saved} bytes saved, not {expected}"
    );
    let (read, precision) = Avatar::from_bytes_with_precision(&bytes).unwrap();
    assert_eq!(precision, Precision::F16);
    for (a, b) in avatar.params.data.iter().zip(&read.params.data) {
        // f16: 11 significant bits; values below 2^-14 are subnormal (absolute step 2^-24).
        let tolerance = (a.abs() * 2f32.powi(-11)).max(2f32.powi(-24));
        assert!((a - b).abs() <= tolerance, "{a} read back as {b}");
    }
    let mut exact = read.clone();
    exact.params = avatar.params.clone();
    assert_eq!(exact, avatar, "everything but the weights is exact");
}

#[test]
fn weights_beyond_f16_range_are_refused_in_f16_only() {
    let mut avatar = Avatar::new(tiny_config(), 1).unwrap();
    let last = avatar.params.data.len() - 1;
    avatar.params.data[last] = 1e6;
    let error = avatar.to_bytes(Precision::F16).unwrap_err();
    assert!(matches!(error, AssetError::NonFinite { .. }), "{error}");
    assert!(avatar.to_bytes(Precision::F32).is_ok());
}

#[test]
fn invalid_avatars_are_not_written() {
    let mut avatar = Avatar::new(tiny_config(), 1).unwrap();
    avatar.params.data[5] = f32::NAN;
    let error = avatar.to_bytes(Precision::F32).unwrap_err();
    assert!(matches!(&error, AssetError::NonFinite { tensor, index: 5 } if tensor == "tables"));

    let mut avatar = Avatar::new(tiny_config(), 1).unwrap();
    avatar.expression_min[1] = 2.0;
    let error = avatar.to_bytes(Precision::F32).unwrap_err();
    assert!(error.to_string().contains("jawOpen"), "{error}");

    let mut avatar = Avatar::new(tiny_config(), 1).unwrap();
    avatar.expression_max.pop();
    assert!(matches!(
        avatar.to_bytes(Precision::F32),
        Err(AssetError::InconsistentMetadata(_))
    ));
}

#[test]
fn write_then_read_leaves_only_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.avatar");
    let avatar = sample_avatar(tiny_config());
    avatar.write(&path, Precision::F32).unwrap();
    Avatar::new(tiny_config(), 9)
        .unwrap()
        .write(&path, Precision::F16)
        .unwrap();
    avatar.write(&path, Precision::F32).unwrap();
    assert_eq!(Avatar::read(&path).unwrap(), avatar);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file is left behind");
}

#[test]
fn write_into_a_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("head.avatar");
    let error = Avatar::new(tiny_config(), 1)
        .unwrap()
        .write(&path, Precision::F32)
        .unwrap_err();
    assert!(matches!(error, AssetError::Io { .. }), "{error}");
    assert!(error.to_string().contains("missing"), "{error}");
}

#[test]
fn clamp_expression_keeps_coefficients_in_their_ranges() {
    let avatar = sample_avatar(tiny_config());
    // Ranges: [0, 0.5], [-0.1, 0.6], [-0.2, 0.7].
    let mut weights = [2.0, f32::NAN, -1.0, 9.0];
    avatar.clamp_expression(&mut weights);
    assert_eq!(weights, [0.5, 0.0, -0.2, 9.0]);
    let mut above_zero = Avatar::new(tiny_config(), 1).unwrap();
    above_zero.expression_min[0] = 0.25;
    let mut weights = [f32::NAN];
    above_zero.clamp_expression(&mut weights);
    assert_eq!(weights, [0.25]);
}
