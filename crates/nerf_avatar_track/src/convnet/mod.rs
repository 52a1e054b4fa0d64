//! [`ConvNet`]: the convolutional networks of MediaPipe's face models run by our own NHWC
//! kernels ([`nerf_avatar_simd::tiles`]) instead of tract, for the landmark model that tracking
//! runs on every frame.
//!
//! MediaPipe's models are TFLite graphs: NHWC, made of 1×1, depthwise 3×3 and small strided
//! convolutions, each followed by a per-channel PReLU, residual adds, max pooling and
//! channel padding. Converted to ONNX they read NCHW after one transpose of the input. A
//! [`ConvNet`] keeps the tensors NHWC, as the models were made, and fuses each convolution
//! with the residual add and the activation that follow it, so a block is two passes over
//! memory instead of five. A run is one job on the models' pool ([`on_pool`]); layers with
//! enough work are split among its threads by rows of output pixels.
//!
//! It loads the subset of ONNX those graphs use (see [`ConvNet::load`]) and refuses anything
//! else with an error that names the node.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use rayon::prelude::*;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

use crate::error::TrackError;
use crate::model::on_pool;
use nerf_avatar_simd::tiles::{
    self as kernels, Activation, ConvShape, Isa, PackedConv, PackedDepthwise,
};

/// Multiply-adds below which a layer runs on the calling thread alone.
const PARALLEL_WORK: usize = 1 << 18;

/// A tensor of the network: an index into the values of one run.
type ValueId = usize;

/// One operation of the plan, on NHWC tensors.
#[derive(Debug)]
enum Op {
    /// A dense convolution, with an optional residual added before the activation.
    Conv {
        conv: PackedConv,
        residual: Option<ValueId>,
    },
    /// A depthwise convolution.
    Depthwise(PackedDepthwise),
    /// Max pooling without padding.
    MaxPool {
        kernel: [usize; 2],
        stride: [usize; 2],
    },
    /// Zero channels before and after the input's.
    PadChannels { before: usize },
    /// The element-wise sum with another tensor of the same shape.
    Add {
        other: ValueId,
        activation: Activation,
    },
    /// An activation alone.
    Activate(Activation),
}

/// An operation with its input and output tensors.
#[derive(Debug)]
struct Step {
    op: Op,
    input: ValueId,
    output: ValueId,
}

/// A loaded network with a fixed NHWC input shape.
#[derive(Debug)]
pub struct ConvNet {
    name: &'static str,
    isa: Isa,
    /// Height, width and channels of each value; value 0 is the input.
    shapes: Vec<[usize; 3]>,
    steps: Vec<Step>,
    /// The values no later step reads, after each step.
    released: Vec<Vec<ValueId>>,
    outputs: Vec<ValueId>,
    /// Buffers kept between runs.
    spare: Mutex<Vec<Vec<f32>>>,
}

impl ConvNet {
    /// Loads `bytes` (an ONNX file) with its input fixed to `input` (height, width,
    /// channels). The graph may hold: a transpose of the NHWC input to NCHW, `Conv` (dense or
    /// depthwise, no dilation), `PRelu` with per-channel slopes, `Relu`, `Sigmoid`, `Add` of
    /// two tensors of one shape, `MaxPool` without padding, constant zero `Pad` of channels,
    /// and `Reshape` of tensors that are one pixel or one channel.
    pub fn load(name: &'static str, bytes: &[u8], input: [usize; 3]) -> Result<Self, TrackError> {
        let error = |message: String| TrackError::Model {
            model: name,
            message,
        };
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut std::io::Cursor::new(bytes))
            .map_err(|e| error(format!("{e:#}")))?;
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| error("the file has no graph".into()))?;
        let mut net = Compiler::new(graph, input)
            .and_then(Compiler::compile)
            .map_err(error)?;
        net.name = name;
        Ok(net)
    }

    /// Runs the network on `input` (NHWC, the shape given to [`ConvNet::load`]) and returns
    /// each graph output flattened in the ONNX (NCHW) order.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, TrackError> {
        let [h, w, c] = self.shapes[0];
        if input.len() != h * w * c {
            return Err(TrackError::Model {
                model: self.name,
                message: format!("input has {} values, not {h}×{w}×{c}", input.len()),
            });
        }
        let mut spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|e| e.into_inner()));
        let outputs = on_pool(|| self.forward(input, &mut spare));
        *self.spare.lock().unwrap_or_else(|e| e.into_inner()) = spare;
        Ok(outputs)
    }

    /// Runs every step, taking buffers from `spare` and putting them back.
    fn forward(&self, input: Vec<f32>, spare: &mut Vec<Vec<f32>>) -> Vec<Vec<f32>> {
        let mut values: Vec<Option<Vec<f32>>> = vec![None; self.shapes.len()];
        values[0] = Some(input);
        for (step, released) in self.steps.iter().zip(&self.released) {
            let len = self.shapes[step.output].iter().product();
            let mut out = match spare.iter().position(|b| b.capacity() >= len) {
                Some(at) => spare.swap_remove(at),
                None => Vec::with_capacity(len),
            };
            // Every kernel writes all of its output: stale values need no clearing.
            out.resize(len, 0.0);
            self.execute(step, &values, &mut out);
            values[step.output] = Some(out);
            spare.extend(released.iter().filter_map(|&v| values[v].take()));
        }
        let outputs = self
            .outputs
            .iter()
            .map(|&v| to_nchw(values[v].as_deref().unwrap_or_default(), self.shapes[v]))
            .collect();
        spare.extend(values.into_iter().flatten());
        outputs
    }

    fn execute(&self, step: &Step, values: &[Option<Vec<f32>>], out: &mut [f32]) {
        let value = |v: ValueId| values[v].as_deref().unwrap_or_default();
        let input = value(step.input);
        let input_shape = self.shapes[step.input];
        let output_shape = self.shapes[step.output];
        let isa = self.isa;
        match &step.op {
            Op::Conv { conv, residual } => {
                let residual = residual.map(value);
                let [_, width, channels] = conv.shape.output;
                split_rows(
                    out,
                    width * channels,
                    conv.shape.patch_len(),
                    |row, rows| {
                        kernels::conv_pixels(isa, conv, input, residual, row * width, rows);
                    },
                );
            }
            Op::Depthwise(layer) => {
                let [_, width, channels] = layer.shape.output;
                let work = layer.shape.kernel[0] * layer.shape.kernel[1];
                split_rows(out, width * channels, work, |row, rows| {
                    kernels::depthwise_rows(isa, layer, input, row, rows);
                });
            }
            Op::MaxPool { kernel, stride } => {
                kernels::max_pool(input, input_shape, *kernel, *stride, out, output_shape);
            }
            Op::PadChannels { before } => {
                kernels::pad_channels(input, input_shape[2], *before, out, output_shape[2]);
            }
            Op::Add { other, activation } => {
                for ((o, &a), &b) in out.iter_mut().zip(input).zip(value(*other)) {
                    *o = a + b;
                }
                activation.apply_in_place(out, output_shape[2]);
            }
            Op::Activate(activation) => {
                out.copy_from_slice(input);
                activation.apply_in_place(out, output_shape[2]);
            }
        }
    }
}

/// Runs `run(first_row, rows)` over `out`, rows of `row_len` values that each cost `work`
/// multiply-adds per value: on this thread when the whole is small, else in chunks on the
/// rayon pool.
fn split_rows(
    out: &mut [f32],
    row_len: usize,
    work: usize,
    run: impl Fn(usize, &mut [f32]) + Sync,
) {
    let rows = out.len() / row_len;
    let threads = rayon::current_num_threads();
    if threads == 1 || rows < 2 || out.len() * work < PARALLEL_WORK {
        run(0, out);
        return;
    }
    let chunk_rows = rows.div_ceil(threads * 2);
    out.par_chunks_mut(chunk_rows * row_len)
        .enumerate()
        .for_each(|(chunk, values)| run(chunk * chunk_rows, values));
}

/// An NHWC tensor flattened in NCHW order.
fn to_nchw(values: &[f32], [h, w, c]: [usize; 3]) -> Vec<f32> {
    if h * w == 1 || c == 1 {
        return values.to_vec();
    }
    let mut out = vec![0.0; values.len()];
    for (pixel, channels) in values.chunks_exact(c).enumerate() {
        for (channel, &v) in channels.iter().enumerate() {
            out[channel * h * w + pixel] = v;
        }
    }
    out
}

/// Turns an ONNX graph into a [`ConvNet`] plan.
struct Compiler<'g> {
    graph: &'g GraphProto,
    constants: HashMap<&'g str, &'g TensorProto>,
    /// For each tensor name, the nodes that read it (`None` for a graph output).
    readers: HashMap<&'g str, Vec<Option<usize>>>,
    /// The value each tensor name is.
    values: HashMap<&'g str, ValueId>,
    shapes: Vec<[usize; 3]>,
    steps: Vec<Step>,
    /// Nodes already folded into an earlier step.
    folded: HashSet<usize>,
    /// Whether the graph input has been transposed to the graph's NCHW view.
    transposed: bool,
}

impl<'g> Compiler<'g> {
    fn new(graph: &'g GraphProto, input: [usize; 3]) -> Result<Self, String> {
        let constants: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let input_name = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .find(|name| !constants.contains_key(name))
            .ok_or("the graph has no input")?;
        let mut readers: HashMap<&str, Vec<Option<usize>>> = HashMap::new();
        for (index, node) in graph.node.iter().enumerate() {
            for name in &node.input {
                readers.entry(name.as_str()).or_default().push(Some(index));
            }
        }
        for output in &graph.output {
            readers.entry(output.name.as_str()).or_default().push(None);
        }
        Ok(Self {
            graph,
            constants,
            readers,
            values: HashMap::from([(input_name, 0)]),
            shapes: vec![input],
            steps: Vec::new(),
            folded: HashSet::new(),
            transposed: false,
        })
    }

    fn compile(mut self) -> Result<ConvNet, String> {
        for (index, node) in self.graph.node.iter().enumerate() {
            if !self.folded.contains(&index) {
                self.node(node)
                    .map_err(|e| format!("node {:?} ({}): {e}", node.name, node.op_type))?;
            }
        }
        let outputs = self
            .graph
            .output
            .iter()
            .map(|o| self.value(&o.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut last_read = vec![None; self.shapes.len()];
        for (index, step) in self.steps.iter().enumerate() {
            let others = match &step.op {
                Op::Conv { residual, .. } => *residual,
                Op::Add { other, .. } => Some(*other),
                _ => None,
            };
            for v in std::iter::once(step.input).chain(others) {
                last_read[v] = Some(index);
            }
        }
        let mut released = vec![Vec::new(); self.steps.len()];
        for (value, last) in last_read.into_iter().enumerate() {
            if let Some(step) = last.filter(|_| !outputs.contains(&value)) {
                released[step].push(value);
            }
        }
        Ok(ConvNet {
            name: "",
            isa: Isa::detect(),
            shapes: self.shapes,
            steps: self.steps,
            released,
            outputs,
            spare: Mutex::new(Vec::new()),
        })
    }

    fn value(&self, name: &str) -> Result<ValueId, String> {
        self.values
            .get(name)
            .copied()
            .ok_or_else(|| format!("tensor {name:?} is not made by a supported node"))
    }

    fn constant(&self, name: &str) -> Result<Vec<f32>, String> {
        let tensor = self
            .constants
            .get(name)
            .ok_or_else(|| format!("{name:?} is not a constant"))?;
        tensor_values(tensor)
    }

    /// The single node that reads `name`, if nothing else (not even the graph's outputs)
    /// does and it has not been folded yet.
    fn sole_reader(&self, name: &str) -> Option<(usize, &'g NodeProto)> {
        match self.readers.get(name).map(Vec::as_slice) {
            Some([Some(index)]) if !self.folded.contains(index) => {
                Some((*index, &self.graph.node[*index]))
            }
            _ => None,
        }
    }

    /// Folds an activation node that alone reads `name` into the step making it.
    fn fold_activation(
        &mut self,
        name: &mut &'g str,
        channels: usize,
    ) -> Result<Activation, String> {
        let Some((index, node)) = self.sole_reader(name) else {
            return Ok(Activation::Identity);
        };
        let activation = match node.op_type.as_str() {
            "Relu" => Activation::Relu,
            "PRelu" => self.prelu(node, channels)?,
            _ => return Ok(Activation::Identity),
        };
        self.folded.insert(index);
        *name = node.output[0].as_str();
        Ok(activation)
    }

    fn prelu(&self, node: &NodeProto, channels: usize) -> Result<Activation, String> {
        let slope = self.constant(input(node, 1)?)?;
        match slope.len() {
            1 => Ok(Activation::prelu(vec![slope[0]; channels])),
            n if n == channels => Ok(Activation::prelu(slope)),
            n => Err(format!("{n} slopes for {channels} channels")),
        }
    }

    fn push(&mut self, op: Op, input: ValueId, output_name: &'g str, shape: [usize; 3]) {
        let output = self.shapes.len();
        self.shapes.push(shape);
        self.values.insert(output_name, output);
        self.steps.push(Step { op, input, output });
    }

    fn node(&mut self, node: &'g NodeProto) -> Result<(), String> {
        let x = self.value(input(node, 0)?)?;
        let [h, w, c] = self.shapes[x];
        let output = node.output.first().ok_or("no output")?.as_str();
        match node.op_type.as_str() {
            "Transpose" => {
                if x != 0 || self.transposed || ints(node, "perm")? != [0, 3, 1, 2] {
                    return Err("only the NHWC input's transpose to NCHW is supported".into());
                }
                self.transposed = true;
                self.values.insert(output, x);
            }
            "Reshape" => {
                if h * w != 1 && c != 1 {
                    return Err(format!("reshaping a {c}×{h}×{w} tensor is not supported"));
                }
                self.values.insert(output, x);
            }
            "Conv" => self.conv(node, x)?,
            "Add" => {
                let other = self.value(input(node, 1)?)?;
                if self.shapes[other] != [h, w, c] {
                    return Err("the two terms differ in shape".into());
                }
                let mut output = output;
                let activation = self.fold_activation(&mut output, c)?;
                self.push(Op::Add { other, activation }, x, output, [h, w, c]);
            }
            "PRelu" => {
                let activation = self.prelu(node, c)?;
                self.push(Op::Activate(activation), x, output, [h, w, c]);
            }
            "Relu" => self.push(Op::Activate(Activation::Relu), x, output, [h, w, c]),
            "Sigmoid" => self.push(Op::Activate(Activation::Sigmoid), x, output, [h, w, c]),
            "MaxPool" => {
                let kernel = pair(node, "kernel_shape", None)?;
                let stride = pair(node, "strides", Some([1, 1]))?;
                if optional_ints(node, "pads").is_some_and(|p| p.iter().any(|&v| v != 0))
                    || attribute(node, "ceil_mode").is_some_and(|a| a.i != 0)
                {
                    return Err("padded or ceil-mode pooling is not supported".into());
                }
                if h < kernel[0] || w < kernel[1] {
                    return Err(format!("a {kernel:?} window over a {h}×{w} input"));
                }
                let out = [
                    (h - kernel[0]) / stride[0] + 1,
                    (w - kernel[1]) / stride[1] + 1,
                    c,
                ];
                self.push(Op::MaxPool { kernel, stride }, x, output, out);
            }
            "Pad" => {
                let pads = self.constant(input(node, 1)?)?;
                let constant = match node.input.get(2).filter(|n| !n.is_empty()) {
                    Some(name) => self.constant(name)?.first().copied().unwrap_or(0.0),
                    None => 0.0,
                };
                let mode = attribute(node, "mode").map_or(&b"constant"[..], |a| &a.s);
                let [0.0, before, 0.0, 0.0, 0.0, after, 0.0, 0.0] = pads[..] else {
                    return Err("only padding of channels is supported".into());
                };
                if mode != b"constant" || constant != 0.0 || before < 0.0 || after < 0.0 {
                    return Err("only padding with zeros is supported".into());
                }
                let before = before as usize;
                let out = [h, w, before + c + after as usize];
                self.push(Op::PadChannels { before }, x, output, out);
            }
            other => return Err(format!("operator {other} is not supported")),
        }
        Ok(())
    }

    fn conv(&mut self, node: &'g NodeProto, x: ValueId) -> Result<(), String> {
        let [h, w, c] = self.shapes[x];
        let weight_name = input(node, 1)?;
        let weights = self.constant(weight_name)?;
        let dims = &self.constants[weight_name].dims;
        let &[out_channels, per_group, kh, kw] = dims.as_slice() else {
            return Err(format!("weights of shape {dims:?}"));
        };
        let [out_channels, per_group, kh, kw] =
            [out_channels, per_group, kh, kw].map(|d| d.max(0) as usize);
        let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(name) => self.constant(name)?,
            None => vec![0.0; out_channels],
        };
        let group = attribute(node, "group").map_or(1, |a| a.i);
        let stride = pair(node, "strides", Some([1, 1]))?;
        let pads = optional_ints(node, "pads").unwrap_or(&[0; 4]);
        let &[top, left, bottom, right] = pads else {
            return Err(format!("pads {pads:?}"));
        };
        if pair(node, "dilations", Some([1, 1]))? != [1, 1]
            || attribute(node, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET")
        {
            return Err("dilated or auto-padded convolutions are not supported".into());
        }
        let depthwise = group != 1;
        if (depthwise && (group as usize != c || out_channels != c || per_group != 1))
            || (!depthwise && per_group != c)
            || bias.len() != out_channels
            || weights.len() != out_channels * per_group * kh * kw
        {
            return Err(format!(
                "weights {dims:?}, {} biases, group {group} for {c} input channels",
                bias.len()
            ));
        }
        let [top, left, bottom, right] = [top, left, bottom, right].map(|p| p.max(0) as usize);
        let (span_y, span_x) = (h + top + bottom, w + left + right);
        if span_y < kh || span_x < kw {
            return Err("kernel larger than the padded input".into());
        }
        let shape = ConvShape {
            input: [h, w, c],
            output: [
                (span_y - kh) / stride[0] + 1,
                (span_x - kw) / stride[1] + 1,
                out_channels,
            ],
            kernel: [kh, kw],
            stride,
            pad: [top, left],
        };
        let mut output = node.output.first().ok_or("no output")?.as_str();
        let op = if depthwise {
            let activation = self.fold_activation(&mut output, out_channels)?;
            Op::Depthwise(PackedDepthwise::pack(shape, &weights, &bias, activation))
        } else {
            let residual = self.fold_residual(&mut output, shape.output);
            let activation = self.fold_activation(&mut output, out_channels)?;
            Op::Conv {
                conv: PackedConv::pack(shape, &weights, &bias, activation),
                residual,
            }
        };
        self.push(op, x, output, shape.output);
        Ok(())
    }

    /// Folds an `Add` that alone reads `name` (a convolution's output) with a tensor made
    /// earlier into the convolution.
    fn fold_residual(&mut self, name: &mut &'g str, shape: [usize; 3]) -> Option<ValueId> {
        let (index, node) = self.sole_reader(name)?;
        if node.op_type != "Add" || node.input.len() != 2 {
            return None;
        }
        let other = node.input.iter().find(|n| n.as_str() != *name)?;
        let other = self.values.get(other.as_str()).copied()?;
        if self.shapes[other] != shape {
            return None;
        }
        self.folded.insert(index);
        *name = node.output[0].as_str();
        Some(other)
    }
}

fn input(node: &NodeProto, at: usize) -> Result<&str, String> {
    node.input
        .get(at)
        .map(String::as_str)
        .ok_or_else(|| format!("input {at} is missing"))
}

fn attribute<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn optional_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    attribute(node, name).map(|a| a.ints.as_slice())
}

fn ints<'n>(node: &'n NodeProto, name: &str) -> Result<&'n [i64], String> {
    optional_ints(node, name).ok_or_else(|| format!("attribute {name} is missing"))
}

/// A two-value attribute of positive integers (`default` where absent).
fn pair(node: &NodeProto, name: &str, default: Option<[usize; 2]>) -> Result<[usize; 2], String> {
    match (optional_ints(node, name), default) {
        (Some(values), _) => match *values {
            [a, b] if a > 0 && b > 0 => Ok([a as usize, b as usize]),
            _ => Err(format!("attribute {name} is {values:?}")),
        },
        (None, Some(default)) => Ok(default),
        (None, None) => Err(format!("attribute {name} is missing")),
    }
}

/// The values of a float or integer constant, as `f32`.
fn tensor_values(tensor: &TensorProto) -> Result<Vec<f32>, String> {
    const FLOAT: i32 = 1;
    const INT64: i32 = 7;
    let raw = &tensor.raw_data;
    match tensor.data_type {
        FLOAT if !raw.is_empty() => Ok(raw
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| f32::from_le_bytes(*b))
            .collect()),
        FLOAT => Ok(tensor.float_data.clone()),
        INT64 if !raw.is_empty() => Ok(raw
            .as_chunks::<8>()
            .0
            .iter()
            .map(|b| i64::from_le_bytes(*b) as f32)
            .collect()),
        INT64 => Ok(tensor.int64_data.iter().map(|&v| v as f32).collect()),
        other => Err(format!(
            "constant {:?} has data type {other}, not float or int64",
            tensor.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::ValueInfoProto;

    fn node(op_type: &str, input: &[&str], output: &str, ints: &[(&str, &[i64])]) -> NodeProto {
        NodeProto {
            input: input.iter().map(|name| (*name).to_owned()).collect(),
            output: vec![output.to_owned()],
            name: format!("{op_type}_{output}"),
            op_type: op_type.to_owned(),
            attribute: ints
                .iter()
                .map(|(name, values)| AttributeProto {
                    name: (*name).to_owned(),
                    ints: values.to_vec(),
                    ..AttributeProto::default()
                })
                .collect(),
            ..NodeProto::default()
        }
    }

    fn constant(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
        TensorProto {
            name: name.to_owned(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: values.to_vec(),
            ..TensorProto::default()
        }
    }

    fn graph(nodes: Vec<NodeProto>, constants: Vec<TensorProto>) -> GraphProto {
        let value = |name: &str| ValueInfoProto {
            name: name.to_owned(),
            ..ValueInfoProto::default()
        };
        GraphProto {
            node: nodes,
            initializer: constants,
            input: vec![value("x")],
            output: vec![value("y")],
            ..GraphProto::default()
        }
    }

    /// NHWC input → NCHW view → 1×1 convolution + residual → PReLU: one fused step whose
    /// output, read back in NCHW order, is the direct sum.
    #[test]
    fn a_residual_block_is_one_fused_step() {
        let (h, w, c) = (2, 3, 4);
        let weights: Vec<f32> = (0..c * c).map(|i| (i as f32 * 0.37).sin()).collect();
        let bias = [0.1, -0.2, 0.3, -0.4];
        let slope = [0.5, 0.25, 0.125, 2.0];
        let g = graph(
            vec![
                node("Transpose", &["x"], "t", &[("perm", &[0, 3, 1, 2])]),
                node("Conv", &["t", "w", "b"], "c", &[("kernel_shape", &[1, 1])]),
                node("Add", &["c", "t"], "s", &[]),
                node("PRelu", &["s", "slope"], "y", &[]),
            ],
            vec![
                constant("w", &[4, 4, 1, 1], &weights),
                constant("b", &[4], &bias),
                constant("slope", &[1, 4, 1, 1], &slope),
            ],
        );
        let net = Compiler::new(&g, [h, w, c])
            .and_then(Compiler::compile)
            .expect("compiles");
        assert_eq!(net.steps.len(), 1, "{:?}", net.steps);
        let x: Vec<f32> = (0..h * w * c).map(|i| (i as f32 * 0.71).cos()).collect();
        let wrong = net.run(vec![0.0; 5]).expect_err("5 values are not 2×3×4");
        assert!(wrong.to_string().contains("2×3×4"), "{wrong}");
        let y = net.run(x.clone()).expect("runs").remove(0);
        for pixel in 0..h * w {
            for o in 0..c {
                let mut sum = bias[o] + x[pixel * c + o];
                for i in 0..c {
                    sum += weights[o * c + i] * x[pixel * c + i];
                }
                let want = if sum > 0.0 { sum } else { slope[o] * sum };
                let got = y[o * h * w + pixel];
                assert!(
                    (got - want).abs() < 1e-5,
                    "pixel {pixel} channel {o}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn an_unsupported_operator_is_refused_by_name() {
        let g = graph(
            vec![
                node("Transpose", &["x"], "t", &[("perm", &[0, 3, 1, 2])]),
                node("Softmax", &["t"], "y", &[]),
            ],
            Vec::new(),
        );
        let error = Compiler::new(&g, [2, 2, 3])
            .and_then(Compiler::compile)
            .expect_err("Softmax is not supported");
        assert!(
            error.contains("Softmax") && error.contains("Softmax_y"),
            "{error}"
        );
    }
}
