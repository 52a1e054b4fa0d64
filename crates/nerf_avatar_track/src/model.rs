//! The MediaPipe models that run with tract: the face detector, the blendshape model and the
//! selfie segmentation (converted to ONNX, see `assets/face/README.md`, and embedded in the
//! binary). The landmark model, which runs on every frame, has its own kernels
//! ([`crate::convnet`]).
//!
//! Models run on one pool of a thread per core, shared by all of them: tract splits its
//! matrix products, depthwise convolutions and element-wise ops over it.

use std::sync::{Arc, OnceLock};

use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::prelude::*;

use crate::error::TrackError;

/// A loaded, optimised model with a fixed input shape.
#[derive(Debug)]
pub struct OnnxModel {
    name: &'static str,
    plan: Arc<TypedRunnableModel>,
    input_shape: Vec<usize>,
}

impl OnnxModel {
    /// Loads `bytes` (an ONNX file) with the input fixed to `input_shape` (f32).
    pub fn load(
        name: &'static str,
        bytes: &[u8],
        input_shape: &[usize],
    ) -> Result<Self, TrackError> {
        let error = |e: TractError| TrackError::Model {
            model: name,
            message: format!("{e:#}"),
        };
        let onnx = tract_onnx::onnx();
        let plan = onnx
            .proto_model_for_read(&mut std::io::Cursor::new(bytes))
            .and_then(|proto| onnx.model_for_proto_model(&proto))
            .and_then(|m| m.with_input_fact(0, f32::fact(input_shape).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(error)?;
        Ok(Self {
            name,
            plan,
            input_shape: input_shape.to_vec(),
        })
    }

    /// Runs the model on `input` (row-major, `input_shape`) and returns every output
    /// flattened.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, TrackError> {
        let error = |e: TractError| TrackError::Model {
            model: self.name,
            message: format!("{e:#}"),
        };
        let tensor = Tensor::from_shape(&self.input_shape, &input).map_err(error)?;
        let outputs = multithread_tract_scope(executor(), || self.plan.run(tvec!(tensor.into())))
            .map_err(error)?;
        outputs
            .iter()
            .map(|output| {
                output
                    .to_plain_array_view::<f32>()
                    .map(|view| view.iter().copied().collect())
                    .map_err(error)
            })
            .collect()
    }
}

/// The shared pool: a thread per core (none if the threads cannot be made).
fn pool() -> Option<&'static Arc<rayon::ThreadPool>> {
    static POOL: OnceLock<Option<Arc<rayon::ThreadPool>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("track-model-{i}"))
            .num_threads(threads)
            .build()
            .ok()
            .map(Arc::new)
    })
    .as_ref()
}

/// Runs `work` as one job on the shared pool, so that what it splits with rayon is split
/// among the pool's threads, without waking the caller's thread for each split.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    match pool() {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// The shared pool as tract's executor (tract's single thread when there is no pool).
fn executor() -> Executor {
    pool().map_or(Executor::SingleThread, |pool| {
        Executor::MultiThread(Arc::clone(pool))
    })
}
