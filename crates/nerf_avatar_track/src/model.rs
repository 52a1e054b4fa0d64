//! The three MediaPipe models (converted to ONNX, see `assets/face/README.md`), embedded in
//! the binary and run with tract.

use tract_onnx::prelude::*;

use crate::error::TrackError;

/// A loaded, optimised model with a fixed input shape.
#[derive(Debug)]
pub struct OnnxModel {
    name: &'static str,
    plan: std::sync::Arc<TypedRunnableModel>,
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
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
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
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(error)?;
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
