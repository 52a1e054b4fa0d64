//! Training checkpoints: everything needed to continue a run exactly where it stopped, in
//! one safetensors file written to a temporary file and renamed into place, on a thread of
//! its own while training goes on (`CheckpointWriter`).
//!
//! Tensors: `avatar` (U8, the avatar asset's own bytes at f32, occupancy densities
//! included — so it is validated like any asset), `adam.m` and `adam.v` (F32, one value per
//! parameter). Metadata key `nerf_avatar.checkpoint`: JSON [`CheckpointState`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::adam::Adam;
use nerf_avatar::asset::{AssetError, Avatar, Precision, beside_avatar};

/// Metadata key of the checkpoint state.
const STATE_KEY: &str = "nerf_avatar.checkpoint";
/// Version of the checkpoint layout.
const CHECKPOINT_VERSION: u32 = 1;

/// Where a run stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Layout version.
    pub version: u32,
    /// Steps completed.
    pub step: u64,
    /// The run's seed.
    pub seed: u64,
    /// Steps planned (step-limited runs).
    pub planned_steps: Option<u64>,
    /// Training seconds spent before this checkpoint.
    pub seconds: f64,
}

/// A loaded checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model, occupancy grid and training summary so far.
    pub avatar: Avatar,
    /// The optimiser's moments and step count.
    pub adam: Adam,
    /// Where the run stands.
    pub state: CheckpointState,
}

/// The checkpoint path of an output avatar path: `NAME.checkpoint.safetensors` beside it.
pub fn checkpoint_path(avatar_path: &Path) -> PathBuf {
    beside_avatar(avatar_path, "checkpoint.safetensors")
}

/// Writes a checkpoint atomically (temporary file in the same folder, then rename).
pub fn write_checkpoint(
    path: &Path,
    avatar: &Avatar,
    adam: &Adam,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    let io = |error: std::io::Error| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem: error.to_string(),
    };
    let avatar_bytes = avatar.to_bytes(Precision::F32)?;
    let (m, v) = (f32_bytes(&adam.m), f32_bytes(&adam.v));
    let views = [
        ("avatar", view(Dtype::U8, &avatar_bytes)),
        ("adam.m", view(Dtype::F32, &m)),
        ("adam.v", view(Dtype::F32, &v)),
    ];
    let metadata = HashMap::from([(
        STATE_KEY.to_owned(),
        serde_json::to_string(state).map_err(|e| io(std::io::Error::other(e)))?,
    )]);
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
    let temporary = path.with_extension("partial");
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)
}

/// Writes checkpoints with [`write_checkpoint`] on a thread of its own, one at a time, so
/// that training goes on while a file is written (a paper-preset checkpoint is 610 MB). A
/// failed write is reported by the next [`write`](Self::write) or by
/// [`finish`](Self::finish); dropping the writer waits for the file being written, so a run
/// that stops on an error keeps its last checkpoint.
#[derive(Default)]
pub(crate) struct CheckpointWriter {
    writing: Option<(PathBuf, JoinHandle<Result<(), TrainError>>)>,
}

impl CheckpointWriter {
    /// Waits for the previous checkpoint, then starts writing this one to `path`.
    pub(crate) fn write(
        &mut self,
        path: &Path,
        avatar: Avatar,
        adam: Adam,
        state: CheckpointState,
    ) -> Result<(), TrainError> {
        self.finish()?;
        let target = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("checkpoint writer".into())
            .spawn(move || write_checkpoint(&target, &avatar, &adam, &state))
            .map_err(|e| TrainError::Checkpoint {
                path: path.to_path_buf(),
                problem: format!("cannot start the thread that writes it: {e}"),
            })?;
        self.writing = Some((path.to_path_buf(), thread));
        Ok(())
    }

    /// Waits for the checkpoint being written, if any; its error if it failed.
    pub(crate) fn finish(&mut self) -> Result<(), TrainError> {
        let Some((path, thread)) = self.writing.take() else {
            return Ok(());
        };
        thread.join().unwrap_or_else(|_| {
            Err(TrainError::Checkpoint {
                path,
                problem: "the thread writing it panicked".into(),
            })
        })
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        // The run is ending on another error, which is the one to report.
        let _ = self.finish();
    }
}

/// Reads a checkpoint, validating it as untrusted input.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, TrainError> {
    let bad = |problem: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let state_text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_KEY))
        .ok_or_else(|| bad(format!("no `{STATE_KEY}` metadata: not a checkpoint")))?;
    let state: CheckpointState =
        serde_json::from_str(state_text).map_err(|e| bad(e.to_string()))?;
    if state.version != CHECKPOINT_VERSION {
        return Err(bad(format!(
            "checkpoint version {} is not supported",
            state.version
        )));
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let tensor = |name: &str, dtype: Dtype| {
        let t = tensors
            .tensor(name)
            .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
        if t.dtype() != dtype {
            return Err(bad(format!(
                "tensor `{name}` is {:?}, expected {dtype:?}",
                t.dtype()
            )));
        }
        Ok(t.data())
    };
    let avatar = Avatar::from_bytes(tensor("avatar", Dtype::U8)?)
        .map_err(|e: AssetError| bad(e.to_string()))?;
    let params = avatar.params.data.len();
    let moments = |name: &str| -> Result<Vec<f32>, TrainError> {
        let data = tensor(name, Dtype::F32)?;
        if data.len() != params * 4 {
            return Err(bad(format!(
                "tensor `{name}` has {} bytes, expected {}",
                data.len(),
                params * 4
            )));
        }
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor `{name}` holds a non-finite value")));
        }
        Ok(values)
    };
    let mut adam = crate::new_optimizer(&avatar);
    adam.m = moments("adam.m")?;
    adam.v = moments("adam.v")?;
    adam.steps = state.step;
    Ok(Checkpoint {
        avatar,
        adam,
        state,
    })
}

fn view<'a>(dtype: Dtype, bytes: &'a [u8]) -> TensorView<'a> {
    let elements = bytes.len() * 8 / dtype.bitsize();
    TensorView::new(dtype, vec![elements], bytes)
        .expect("a flat tensor always matches its byte length")
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_follow_the_avatar() {
        assert_eq!(
            checkpoint_path(Path::new("out/me.avatar.safetensors")),
            Path::new("out/me.checkpoint.safetensors")
        );
        assert_eq!(
            checkpoint_path(Path::new("me.bin")),
            Path::new("me.bin.checkpoint.safetensors")
        );
    }

    fn tiny_run(step: u64) -> (Avatar, Adam, CheckpointState) {
        let config =
            nerf_avatar::config::ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into()]);
        let avatar = Avatar::new(config, step).unwrap();
        let mut adam = Adam::new(Default::default(), avatar.params.data.len(), 0..0);
        adam.m.fill(step as f32);
        let state = CheckpointState {
            version: CHECKPOINT_VERSION,
            step,
            seed: 3,
            planned_steps: Some(10),
            seconds: step as f64,
        };
        (avatar, adam, state)
    }

    #[test]
    fn the_writer_writes_one_checkpoint_after_the_other_and_waits_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.checkpoint.safetensors");
        let mut writer = CheckpointWriter::default();
        for step in [1, 2] {
            let (avatar, adam, state) = tiny_run(step);
            writer.write(&path, avatar, adam, state).unwrap();
        }
        drop(writer);
        let written = read_checkpoint(&path).unwrap();
        let (avatar, adam, state) = tiny_run(2);
        assert_eq!(written.state, state);
        assert_eq!(written.adam.m, adam.m);
        assert_eq!(written.avatar.params.data, avatar.params.data);
        assert!(!path.with_extension("partial").exists());
    }

    #[test]
    fn a_failed_background_write_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing folder/run.checkpoint.safetensors");
        let mut writer = CheckpointWriter::default();
        let (avatar, adam, state) = tiny_run(1);
        writer.write(&path, avatar, adam, state).unwrap();
        let error = writer.finish().unwrap_err().to_string();
        assert!(error.contains("missing folder"), "{error}");
        writer.finish().unwrap();
    }
}
