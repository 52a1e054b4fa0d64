//! The MediaPipe models (the Face Landmarker's three and the selfie segmentation, converted
//! to ONNX, see `assets/face/README.md`), embedded in the binary and run with tract.
//!
//! tract lowers ONNX `PRelu` to a compare, a multiply and a select, which took two thirds of
//! the landmark model's time (its 69 PRelus against 106 convolutions). So each `PRelu(x, a)`
//! is loaded as `relu(x) + a · (x − relu(x))`: the same values (`x − relu(x)` is exactly
//! `min(x, 0)`), in ops tract runs vectorised.
//!
//! Models run on one pool of a thread per core, shared by all of them: tract splits its
//! matrix products, depthwise convolutions and element-wise ops over it.

use std::sync::{Arc, OnceLock};

use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::pb::{GraphProto, NodeProto};
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
            .and_then(|mut proto| {
                if let Some(graph) = proto.graph.as_mut() {
                    lower_prelu(graph);
                }
                onnx.model_for_proto_model(&proto)
            })
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

/// The shared pool: a thread per core, or tract's single thread when the pool cannot be made.
fn executor() -> Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            rayon::ThreadPoolBuilder::new()
                .thread_name(|i| format!("track-model-{i}"))
                .num_threads(threads)
                .build()
                .map_or(Executor::SingleThread, |pool| {
                    Executor::MultiThread(Arc::new(pool))
                })
        })
        .clone()
}

/// Replaces every `PRelu(x, a)` node of `graph` by `relu(x) + a · (x − relu(x))`.
fn lower_prelu(graph: &mut GraphProto) {
    let nodes = std::mem::take(&mut graph.node);
    for node in nodes {
        let [x, slope] = node.input.as_slice() else {
            graph.node.push(node);
            continue;
        };
        if node.op_type != "PRelu" || node.output.len() != 1 {
            graph.node.push(node);
            continue;
        }
        let name = |part: &str| format!("{}/lowered_{part}", node.name);
        let op = |op_type: &str, input: &[&String], output: String| NodeProto {
            input: input.iter().map(|name| (*name).clone()).collect(),
            output: vec![output],
            name: name(op_type),
            op_type: op_type.to_owned(),
            ..NodeProto::default()
        };
        let (positive, negative, scaled) = (name("positive"), name("negative"), name("scaled"));
        graph.node.extend([
            op("Relu", &[x], positive.clone()),
            op("Sub", &[x, &positive], negative.clone()),
            op("Mul", &[&negative, slope], scaled.clone()),
            op("Add", &[&positive, &scaled], node.output[0].clone()),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op_type: &str, input: &[&str], output: &str) -> NodeProto {
        NodeProto {
            input: input.iter().map(|name| (*name).to_owned()).collect(),
            output: vec![output.to_owned()],
            name: output.to_owned(),
            op_type: op_type.to_owned(),
            ..NodeProto::default()
        }
    }

    #[test]
    fn prelu_becomes_relu_sub_mul_add_in_place() {
        let mut graph = GraphProto {
            node: vec![
                node("Conv", &["in", "w"], "c"),
                node("PRelu", &["c", "a"], "p"),
                node("Add", &["p", "in"], "out"),
            ],
            ..GraphProto::default()
        };
        lower_prelu(&mut graph);
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Relu", "Sub", "Mul", "Add", "Add"]);
        assert_eq!(graph.node[1].input, ["c"]);
        assert_eq!(graph.node[3].input[1], "a");
        assert_eq!(graph.node[4].output, ["p"]);
        assert_eq!(graph.node[5].input, ["p", "in"]);
    }
}
