//! The training MLPs on the device ([`nerf_avatar::mlp::mlp_forward`], [`nerf_avatar::mlp::mlp_backward`])
//! and the dense layer of the LPIPS convolutions. In fp32, each product of a layer is one
//! launch of `kernels/mlp.cu`'s 16 × 16 shared-memory tiles. In half precision, a network whose
//! layers fit the fused kernels ([`FusedMlp`]) runs its forward pass in one launch and its
//! input-gradient chain in another; a wider one runs one tensor-core product per layer. The
//! weight gradients are one product per layer in every case.

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, LaunchConfig};

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::half_mlp::{
    FusedMlp, MlpPrecision, ProductShape, fused_backward, fused_forward, max_abs, product_fp16,
};
use super::ops::{as_u32, check_len, check_view, ensure_len};
use nerf_avatar::params::LayerShape;

/// Side of the square tiles of the MLP kernels (`TILE` in `kernels/mlp.cu`).
const TILE: u32 = 16;
/// Batch rows summed by one block of a weight-gradient product before its atomics.
const ROWS_PER_SLICE: u32 = 512;

/// A network's kept values for a batch: layer i's `rows × outputs` values after layer
/// i − 1's, in one buffer. The forward pass keeps the layers' outputs (hidden layers after
/// ReLU) in one; the fused backward pass the gradients at those outputs in another. It is the
/// layout the fused kernels read and write ([`FusedMlp`]).
#[derive(Default)]
pub struct MlpTape {
    values: Option<CudaSlice<f32>>,
    /// Where each layer's values start, then where the last one's end.
    starts: Vec<usize>,
}

/// Where each layer's values start in a tape of `rows` rows of `layers`, then where the last
/// one's end.
fn layer_starts(layers: &[LayerShape], rows: usize) -> Vec<usize> {
    let ends = layers.iter().scan(0, |end, layer| {
        *end += rows * layer.outputs;
        Some(*end)
    });
    std::iter::once(0).chain(ends).collect()
}

impl MlpTape {
    /// Lays the tape out for `rows` rows of `layers`, growing its buffer where it is too short
    /// (the values are then undefined until written); returns the buffer and where each
    /// layer starts.
    fn prepare(
        &mut self,
        device: &CudaDevice,
        layers: &[LayerShape],
        rows: usize,
    ) -> Result<(&mut CudaSlice<f32>, &[usize]), CudaError> {
        self.starts = layer_starts(layers, rows);
        let end = self.starts.last().copied().unwrap_or(0);
        ensure_len(device, &mut self.values, end)?;
        let values = self
            .values
            .as_mut()
            .ok_or(CudaError::Unsupported("no MLP tape".into()))?;
        Ok((values, &self.starts))
    }

    /// The tape's buffer, unless the tape is not laid out for `rows` rows of `layers` (the
    /// forward pass it kept was not theirs).
    fn check_layout(
        &self,
        layers: &[LayerShape],
        rows: usize,
    ) -> Result<&CudaSlice<f32>, CudaError> {
        match &self.values {
            Some(values) if self.starts == layer_starts(layers, rows) => Ok(values),
            _ => Err(CudaError::Unsupported(format!(
                "the MLP tape does not hold a forward pass of these {} layers on {rows} rows",
                layers.len()
            ))),
        }
    }

    /// Layer `i`'s values.
    pub fn layer(&self, i: usize) -> Result<CudaView<'_, f32>, CudaError> {
        match (&self.values, self.starts.get(i..i + 2)) {
            (Some(values), Some(&[start, end])) => Ok(values.slice(start..end)),
            _ => Err(CudaError::Unsupported(format!(
                "the MLP tape has no layer {i} (run the forward pass first)"
            ))),
        }
    }

    /// The last layer's values: the network's output.
    pub fn output(&self) -> Result<CudaView<'_, f32>, CudaError> {
        self.layer(self.starts.len().saturating_sub(2))
    }
}

/// The launch of the tiled MLP kernels: one block of `TILE × TILE` threads per tile of a
/// `rows × cols` matrix, `slices` deep.
pub fn tile_grid(rows: usize, cols: usize, slices: u32) -> Result<LaunchConfig, CudaError> {
    let t = TILE as usize;
    Ok(LaunchConfig {
        grid_dim: (
            as_u32("row tiles", rows.div_ceil(t).max(1))?,
            as_u32("column tiles", cols.div_ceil(t).max(1))?,
            slices,
        ),
        block_dim: (TILE, TILE, 1),
        shared_mem_bytes: 0,
    })
}

/// Runs the network on `n` rows of `input` ([`nerf_avatar::mlp::mlp_forward`]); `layers` are
/// offsets into `params`; `tape` receives every layer's output.
pub fn mlp_forward(
    device: &CudaDevice,
    layers: &[LayerShape],
    params: &CudaSlice<f32>,
    input: &CudaSlice<f32>,
    n: usize,
    tape: &mut MlpTape,
    precision: MlpPrecision,
) -> Result<(), CudaError> {
    for layer in layers {
        check_len("parameters", params, layer.range().end)?;
    }
    let fused = match precision {
        MlpPrecision::Fp16 => FusedMlp::new(layers)?,
        MlpPrecision::Fp32 => None,
    };
    let (values, starts) = tape.prepare(device, layers, n)?;
    if let Some(fused) = fused {
        return fused_forward(device, &fused, params, input, n, values);
    }
    for (i, layer) in layers.iter().enumerate() {
        let (before, mut after) = values.split_at_mut(starts[i]);
        let x = match i {
            0 => input.slice(..),
            _ => before.slice(starts[i - 1]..),
        };
        let mut y = after.slice_mut(..n * layer.outputs);
        let relu = i + 1 < layers.len();
        let w = params.slice(layer.range());
        let shape = [n, layer.inputs, layer.outputs];
        match precision {
            MlpPrecision::Fp32 => dense_layer(device, &x, &w, shape, relu, &mut y)?,
            MlpPrecision::Fp16 => {
                let product = ProductShape::forward(shape, relu)?;
                product_fp16(device, (&x, &w), &product, None, &mut y)?;
            }
        }
    }
    Ok(())
}

/// `y (n × outputs) = x (n × inputs) · Wᵀ`, ReLU when `relu`, `w` row-major
/// `outputs × inputs` (`mlp_forward_layer`; [`nerf_avatar_simd::tiles::dense_layer`] on the CPU).
pub fn dense_layer(
    device: &CudaDevice,
    x: &CudaView<'_, f32>,
    w: &CudaView<'_, f32>,
    [n, inputs, outputs]: [usize; 3],
    relu: bool,
    y: &mut CudaViewMut<'_, f32>,
) -> Result<(), CudaError> {
    check_view("layer input", x, n * inputs)?;
    check_view("weights", w, outputs * inputs)?;
    check_view("layer output", &y.as_view(), n * outputs)?;
    let (n32, inputs32, outputs32) = (
        as_u32("rows", n)?,
        as_u32("inputs", inputs)?,
        as_u32("outputs", outputs)?,
    );
    let relu = u32::from(relu);
    let config = tile_grid(n, outputs, 1)?;
    launch!(
        device,
        "mlp_forward_layer",
        config,
        x,
        w,
        &n32,
        &inputs32,
        &outputs32,
        &relu,
        y
    )
}

/// Zeroes the first `count` values of `d_y` where the kept ReLU output `y` is not positive.
pub fn relu_backward(
    device: &CudaDevice,
    d_y: &mut CudaSlice<f32>,
    y: &CudaView<'_, f32>,
    count: usize,
) -> Result<(), CudaError> {
    check_len("d_y", d_y, count)?;
    check_view("y", y, count)?;
    let config = grid_1d(count);
    let count = count as u64;
    launch!(device, "relu_backward", config, d_y, y, &count)
}

/// `d_x (n × inputs) = d_y (n × outputs) · W`: the gradient at the input of
/// [`dense_layer`] (`mlp_backward_layer_input`).
pub fn dense_layer_input_gradient(
    device: &CudaDevice,
    d_y: &CudaView<'_, f32>,
    w: &CudaView<'_, f32>,
    [n, inputs, outputs]: [usize; 3],
    d_x: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_view("d_y", d_y, n * outputs)?;
    check_view("weights", w, outputs * inputs)?;
    check_len("d_x", d_x, n * inputs)?;
    let (n32, inputs32, outputs32) = (
        as_u32("rows", n)?,
        as_u32("inputs", inputs)?,
        as_u32("outputs", outputs)?,
    );
    let config = tile_grid(n, inputs, 1)?;
    launch!(
        device,
        "mlp_backward_layer_input",
        config,
        d_y,
        w,
        &n32,
        &inputs32,
        &outputs32,
        d_x
    )
}

/// Back-propagates `d_output` (`n × outputs`) through the network ([`nerf_avatar::mlp::mlp_backward`]):
/// adds the weight gradients to `d_params` (the flat layout of `params`) and returns the
/// gradient at `input` when `want_input_grad`. `gradients` holds the fused kernels' output
/// gradients (kept between calls so that its buffer is reused).
#[expect(
    clippy::too_many_arguments,
    reason = "the twin of mlp_backward: the MLP's tape, its inputs and both gradients"
)]
pub fn mlp_backward(
    device: &CudaDevice,
    layers: &[LayerShape],
    params: &CudaSlice<f32>,
    input: &CudaSlice<f32>,
    n: usize,
    (tape, gradients): (&MlpTape, &mut MlpTape),
    d_output: CudaSlice<f32>,
    d_params: &mut CudaSlice<f32>,
    want_input_grad: bool,
    precision: MlpPrecision,
) -> Result<Option<CudaSlice<f32>>, CudaError> {
    for layer in layers {
        check_len("parameters", params, layer.range().end)?;
        check_len("d_parameters", d_params, layer.range().end)?;
    }
    let kept = tape.check_layout(layers, n)?;
    let layer_input = |i: usize| match i {
        0 => Ok(input.slice(..)),
        _ => tape.layer(i - 1),
    };
    let mut largest = device.zeros::<u32>(1)?;
    if let (MlpPrecision::Fp16, Some(fused)) = (precision, FusedMlp::new(layers)?) {
        let (d_outputs, _) = gradients.prepare(device, layers, n)?;
        let mut d_input = match want_input_grad {
            true => Some(device.zeros::<f32>(n * layers[0].inputs)?),
            false => None,
        };
        let buffers = (&d_output, d_outputs, d_input.as_mut());
        fused_backward(device, &fused, params, n, kept, buffers)?;
        for (i, layer) in layers.iter().enumerate() {
            let factors = (&gradients.layer(i)?, &layer_input(i)?);
            weight_gradient(device, layer, n, factors, precision, &mut largest, d_params)?;
        }
        return Ok(d_input);
    }
    let mut d_y = d_output;
    for (i, layer) in layers.iter().enumerate().rev() {
        check_len("d_y", &d_y, n * layer.outputs)?;
        if i + 1 < layers.len() {
            relu_backward(device, &mut d_y, &tape.layer(i)?, n * layer.outputs)?;
        }
        let factors = (&d_y.slice(..), &layer_input(i)?);
        weight_gradient(device, layer, n, factors, precision, &mut largest, d_params)?;
        if i > 0 || want_input_grad {
            let mut d_x = device.zeros::<f32>(n * layer.inputs)?;
            let w = params.slice(layer.range());
            let shape = [n, layer.inputs, layer.outputs];
            match precision {
                MlpPrecision::Fp32 => {
                    dense_layer_input_gradient(device, &d_y.slice(..), &w, shape, &mut d_x)?;
                }
                MlpPrecision::Fp16 => {
                    let product = ProductShape::input_gradient(shape)?;
                    let factors = (&d_y.slice(..), &w);
                    let mut d_x_view = d_x.slice_mut(..);
                    product_fp16(device, factors, &product, Some(&largest), &mut d_x_view)?;
                }
            }
            d_y = d_x;
        }
    }
    Ok(want_input_grad.then_some(d_y))
}

/// Adds `layer`'s weight gradient dYᵀ · X over `n` rows to its weights' place in `d_params`.
/// In half precision, `largest` receives the largest |dY| first (the product's loss scale,
/// which the layer's input-gradient product reads too).
fn weight_gradient(
    device: &CudaDevice,
    layer: &LayerShape,
    n: usize,
    (d_y, x): (&CudaView<'_, f32>, &CudaView<'_, f32>),
    precision: MlpPrecision,
    largest: &mut CudaSlice<u32>,
    d_params: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_view("d_y", d_y, n * layer.outputs)?;
    check_view("layer input", x, n * layer.inputs)?;
    let mut d_w = d_params.slice_mut(layer.range());
    match precision {
        MlpPrecision::Fp32 => {
            let (n32, inputs, outputs) = (
                as_u32("rows", n)?,
                as_u32("inputs", layer.inputs)?,
                as_u32("outputs", layer.outputs)?,
            );
            let slices = as_u32("row slices", n.div_ceil(ROWS_PER_SLICE as usize).max(1))?;
            let config = tile_grid(layer.inputs, layer.outputs, slices)?;
            launch!(
                device,
                "mlp_backward_layer_weights",
                config,
                d_y,
                x,
                &n32,
                &inputs,
                &outputs,
                &ROWS_PER_SLICE,
                &mut d_w
            )
        }
        MlpPrecision::Fp16 => {
            max_abs(device, d_y, n * layer.outputs, largest)?;
            let shape = [n, layer.inputs, layer.outputs];
            let product = ProductShape::weight_gradient(shape, ROWS_PER_SLICE as usize)?;
            product_fp16(device, (d_y, x), &product, Some(largest), &mut d_w)
        }
    }
}
