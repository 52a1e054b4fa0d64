//! Sample avatars, and a way to take an asset apart and put it back together (with fresh
//! checksums) so that a test can change one thing at a time.

use std::collections::{BTreeMap, HashMap};

use nerf_avatar::asset::{CurvePoint, Precision, TrainingSummary};
use nerf_avatar::config::ModelConfig;
use nerf_avatar::{Avatar, Intrinsics};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// The `tiny` preset with three blendshapes.
pub fn tiny_config() -> ModelConfig {
    ModelConfig::tiny().with_blendshapes(names(&["eyeBlinkLeft", "jawOpen", "mouthSmileLeft"]))
}

/// The `tiny` preset with two blendshapes, a 2-level grid of 64 entries and an 8³ occupancy
/// grid: a file of a few KiB, so that every bit of its header can be flipped quickly.
pub fn small_config() -> ModelConfig {
    let mut config = ModelConfig::tiny().with_blendshapes(names(&["eyeBlinkLeft", "jawOpen"]));
    config.grid.levels = 2;
    config.grid.log2_table_size = 6;
    config.grid.base_resolution = 4;
    config.grid.finest_resolution = 8;
    config.occupancy_resolution = 8;
    config
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// An avatar of `config` with every optional part filled in.
pub fn sample_avatar(config: ModelConfig) -> Avatar {
    let mut avatar = Avatar::new(config, 7).unwrap();
    let k = avatar.config.blendshape_count();
    avatar.expression_min = (0..k).map(|i| -0.1 * i as f32).collect();
    avatar.expression_max = (0..k).map(|i| 0.5 + 0.1 * i as f32).collect();
    avatar.intrinsics = Some(Intrinsics::from_fov(512, 512, 20.0));
    avatar.training = Some(TrainingSummary {
        steps: Some(30_000),
        seconds: Some(912.5),
        backend: Some("cpu".into()),
        dataset_name: Some("obama".into()),
        dataset_path: Some("/data/obama".into()),
        final_loss: Some(0.0123),
        final_psnr: Some(33.2),
        date: Some("2025-01-31T12:00:00Z".into()),
        curve: vec![
            CurvePoint {
                step: 100,
                seconds: 3.5,
                loss: 0.2,
                psnr: 18.0,
            },
            CurvePoint {
                step: 30_000,
                seconds: 912.5,
                loss: 0.0123,
                psnr: 33.2,
            },
        ],
    });
    let cells = avatar.occupancy.bitfield.len() * 8;
    avatar.occupancy.density = Some((0..cells).map(|i| (i % 17) as f32 * 0.5).collect());
    for (i, byte) in avatar.occupancy.bitfield.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(37);
    }
    avatar
}

/// The bytes of `avatar` in `precision`.
pub fn encode(avatar: &Avatar, precision: Precision) -> Vec<u8> {
    avatar.to_bytes(precision).unwrap()
}

/// A stored tensor: dtype, shape, bytes.
pub type Tensor = (Dtype, Vec<usize>, Vec<u8>);

/// An asset taken apart: the metadata document and the tensors.
pub struct Parts {
    /// The `nerf_avatar` JSON document.
    pub metadata: serde_json::Value,
    /// Every tensor by name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Parts {
    /// Takes a well-formed asset apart.
    pub fn of(bytes: &[u8]) -> Self {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
        let json = &header.metadata().as_ref().unwrap()["nerf_avatar"];
        let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
        let tensors = file
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                (
                    name,
                    (view.dtype(), view.shape().to_vec(), view.data().to_vec()),
                )
            })
            .collect();
        Self {
            metadata: serde_json::from_str(json).unwrap(),
            tensors,
        }
    }

    /// The tensor `name`.
    pub fn tensor(&mut self, name: &str) -> &mut Tensor {
        self.tensors.get_mut(name).unwrap()
    }

    /// Puts the asset back together with the checksums of the current tensors.
    pub fn join(mut self) -> Vec<u8> {
        let checksums: BTreeMap<&String, u32> = self
            .tensors
            .iter()
            .map(|(name, (_, _, bytes))| (name, crc32fast::hash(bytes)))
            .collect();
        self.metadata["checksums"] = serde_json::to_value(checksums).unwrap();
        self.join_keeping_checksums()
    }

    /// Puts the asset back together with the metadata as it is (checksums included).
    pub fn join_keeping_checksums(self) -> Vec<u8> {
        let json = self.metadata.to_string();
        let crc = format!("{:08x}", crc32fast::hash(json.as_bytes()));
        join_with_header(&self.tensors, json, crc)
    }
}

/// A safetensors file of `tensors` with `json` and `crc` as the nerf-avatar metadata.
pub fn join_with_header(tensors: &BTreeMap<String, Tensor>, json: String, crc: String) -> Vec<u8> {
    let header = HashMap::from([
        ("nerf_avatar".to_owned(), json),
        ("nerf_avatar.crc32".to_owned(), crc),
    ]);
    let views = tensors.iter().map(|(name, (dtype, shape, bytes))| {
        (
            name.as_str(),
            TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
        )
    });
    safetensors::serialize(views, Some(header)).unwrap()
}

/// Length of the prefix and the JSON header of a safetensors file.
pub fn header_end(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}
