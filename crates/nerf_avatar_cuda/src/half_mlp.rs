//! The training MLPs on the tensor cores (`kernels/mlp_fp16.cu`), as tiny-cuda-nn trains: the
//! fp32 master weights, the kept fp32 activations and the gradients are rounded to f16 as the
//! kernels load them, and the sums are fp32. Gradients are multiplied by a loss scale before
//! their rounding, so that small ones do not vanish in f16, and the products by its inverse:
//! [`loss_scale`], a power of two that brings the largest gradient near 2^14.
//!
//! A network whose layers are at most [`FUSED_MAX_WIDTH`] wide ([`FusedMlp`]) runs its whole
//! forward pass in one launch ([`fused_forward`]) and its chain of input gradients in another
//! ([`fused_backward`], the loss scale taken per warp of 16 rows): each layer's result stays in
//! registers as the next product's input. Otherwise one strided kernel ([`product_fp16`]) does
//! each product of a layer: Y = X · Wᵀ and dX = dY · W. The weight gradients dW += dYᵀ · X are
//! that kernel in both cases, loss-scaled by the layer's largest gradient, which `max_abs`
//! measures and the product reads on the device, so the host never waits for it.

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, DeviceRepr, LaunchConfig};

use super::CudaError;
use super::device::{BLOCK, CudaDevice, grid_1d, launch};
use super::kernels::Arch;
use super::ops::{as_u32, check_len, check_view};
use nerf_avatar::config::limits;
use nerf_avatar::params::LayerShape;

/// How the GPU computes the training MLPs' products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MlpPrecision {
    /// fp32 tiles (`mlp.cu`).
    #[default]
    Fp32,
    /// f16 inputs and fp32 sums on the tensor cores (`mlp_fp16.cu`, sm_80 and later).
    Fp16,
}

impl MlpPrecision {
    /// Fails where the device cannot run this precision.
    pub fn check(self, arch: Arch) -> Result<(), CudaError> {
        if self == Self::Fp16 && arch.major < 8 {
            return Err(CudaError::Unsupported(format!(
                "half-precision MLPs need the tensor cores' mma.m16n8k16 of sm_80 or later; this GPU is {arch}"
            )));
        }
        Ok(())
    }
}

/// Warps per block of `mlp_layer_fp16` (`MLP_FP16_WARPS`), each owning 16 rows of C.
const WARPS: u32 = 4;
/// The largest gradient, times the loss scale, lands in [2^13, 2^14): far from f16's
/// largest value (65504), its small values far from f16's smallest.
const SCALED_MAX: f32 = 16384.0;

/// One product of `mlp_layer_fp16`: C (m × n) = A · B over k, A's element (row, col) at
/// `a[row · a_row + col · a_col]`, B's at `b[row · b_row + col · b_col]` (the struct of the
/// same name in `kernels/mlp_fp16.cu`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProductShape {
    m: u32,
    n: u32,
    k: u32,
    k_per_slice: u32,
    accumulate: u32,
    relu: u32,
    a_row: u64,
    a_col: u64,
    b_row: u64,
    b_col: u64,
}

// SAFETY: #[repr(C)] plain integers, laid out as the struct in mlp_fp16.cu.
unsafe impl DeviceRepr for ProductShape {}

impl ProductShape {
    /// Y (rows × outputs) = X (rows × inputs) · Wᵀ, ReLU when `relu`; W row-major
    /// outputs × inputs.
    pub fn forward([rows, inputs, outputs]: [usize; 3], relu: bool) -> Result<Self, CudaError> {
        Ok(Self {
            m: as_u32("rows", rows)?,
            n: as_u32("outputs", outputs)?,
            k: as_u32("inputs", inputs)?,
            k_per_slice: as_u32("inputs", inputs)?,
            accumulate: 0,
            relu: u32::from(relu),
            a_row: inputs as u64,
            a_col: 1,
            b_row: 1,
            b_col: inputs as u64,
        })
    }

    /// dX (rows × inputs) = dY (rows × outputs) · W.
    pub fn input_gradient([rows, inputs, outputs]: [usize; 3]) -> Result<Self, CudaError> {
        Ok(Self {
            m: as_u32("rows", rows)?,
            n: as_u32("inputs", inputs)?,
            k: as_u32("outputs", outputs)?,
            k_per_slice: as_u32("outputs", outputs)?,
            accumulate: 0,
            relu: 0,
            a_row: outputs as u64,
            a_col: 1,
            b_row: inputs as u64,
            b_col: 1,
        })
    }

    /// dW (outputs × inputs) += dYᵀ · X over the rows, in slices of `rows_per_slice` rows
    /// (a multiple of 16).
    pub fn weight_gradient(
        [rows, inputs, outputs]: [usize; 3],
        rows_per_slice: usize,
    ) -> Result<Self, CudaError> {
        Ok(Self {
            m: as_u32("outputs", outputs)?,
            n: as_u32("inputs", inputs)?,
            k: as_u32("rows", rows)?,
            k_per_slice: as_u32("rows per slice", rows_per_slice)?,
            accumulate: 1,
            relu: 0,
            a_row: 1,
            a_col: outputs as u64,
            b_row: inputs as u64,
            b_col: 1,
        })
    }

    /// Values A and B are read at, at most.
    fn extents(&self) -> (usize, usize) {
        let last = |rows: u32, cols: u32, row: u64, col: u64| {
            if rows == 0 || cols == 0 {
                0
            } else {
                ((rows - 1) as u64 * row + (cols - 1) as u64 * col + 1) as usize
            }
        };
        (
            last(self.m, self.k, self.a_row, self.a_col),
            last(self.k, self.n, self.b_row, self.b_col),
        )
    }

    /// The launch: blocks of 4 warps over 64 rows × 16 columns of C, one slice of k
    /// per `z`.
    pub fn launch_config(&self) -> LaunchConfig {
        let slices = self.k.div_ceil(self.k_per_slice.max(1)).max(1);
        LaunchConfig {
            grid_dim: (
                self.m.div_ceil(16 * WARPS).max(1),
                self.n.div_ceil(16).max(1),
                slices,
            ),
            block_dim: (32 * WARPS, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// C = `shape`'s product of `a` and `b` on the tensor cores (written, or added to C when
/// the shape accumulates). With `largest` (written by [`max_abs`]), A is loss-scaled by
/// [`loss_scale`] of the value it holds, and the product unscaled.
pub fn product_fp16(
    device: &CudaDevice,
    (a, b): (&CudaView<'_, f32>, &CudaView<'_, f32>),
    shape: &ProductShape,
    largest: Option<&CudaSlice<u32>>,
    c: &mut CudaViewMut<'_, f32>,
) -> Result<(), CudaError> {
    MlpPrecision::Fp16.check(device.arch())?;
    let (a_len, b_len) = shape.extents();
    check_view("A", a, a_len)?;
    check_view("B", b, b_len)?;
    check_view("C", &c.as_view(), shape.m as usize * shape.n as usize)?;
    if let Some(largest) = largest {
        check_len("largest", largest, 1)?;
    }
    let largest = device.nullable(largest);
    let config = shape.launch_config();
    launch!(
        device,
        "mlp_layer_fp16",
        config,
        a,
        b,
        shape,
        &largest.address,
        c
    )
}

/// Writes the bits of the largest |value| of the first `count` values into `largest` (NaN
/// are passed over), for [`product_fp16`] to read on the device.
pub fn max_abs(
    device: &CudaDevice,
    values: &CudaView<'_, f32>,
    count: usize,
    largest: &mut CudaSlice<u32>,
) -> Result<(), CudaError> {
    check_view("values", values, count)?;
    check_len("largest", largest, 1)?;
    device.clear(largest)?;
    let n = count as u64;
    debug_assert_eq!(BLOCK, 256, "max_abs sizes its shared array for 256 threads");
    launch!(device, "max_abs", grid_1d(count), values, &n, largest)
}

/// Most layers of a network of the fused kernels (`FUSED_MAX_LAYERS`): the most hidden
/// layers a configuration allows, and the output layer.
const FUSED_MAX_LAYERS: usize = limits::MAX_MLP_LAYERS as usize + 1;
/// The widest layer input or output of the fused kernels: five 16-wide input tiles
/// (`FUSED_K_TILES`), ten 8-wide output tiles (`FUSED_N_TILES`). The presets' widest is the
/// colour MLP's input, 16 SH values and 64 geometry features.
pub const FUSED_MAX_WIDTH: usize = 80;

/// A network for `mlp_forward_fused` and `mlp_backward_fused` (the struct of the same name in
/// `kernels/mlp_fp16.cu`): layer l's weights at `weights[l]` in the parameters, its widths.
/// Their kept values are [`super::mlp::MlpTape`]'s layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedMlp {
    weights: [u64; FUSED_MAX_LAYERS],
    inputs: [u32; FUSED_MAX_LAYERS],
    outputs: [u32; FUSED_MAX_LAYERS],
    layers: u32,
}

// SAFETY: #[repr(C)] plain integers, laid out as the struct in mlp_fp16.cu.
unsafe impl DeviceRepr for FusedMlp {}

impl FusedMlp {
    /// `layers` for the fused kernels, or `None` where they do not fit them (no layers, more
    /// than a configuration allows, or one wider than [`FUSED_MAX_WIDTH`]).
    pub fn new(layers: &[LayerShape]) -> Result<Option<Self>, CudaError> {
        let fits = |l: &LayerShape| l.inputs <= FUSED_MAX_WIDTH && l.outputs <= FUSED_MAX_WIDTH;
        if layers.is_empty() || layers.len() > FUSED_MAX_LAYERS || !layers.iter().all(fits) {
            return Ok(None);
        }
        let mut mlp = Self {
            weights: [0; FUSED_MAX_LAYERS],
            inputs: [0; FUSED_MAX_LAYERS],
            outputs: [0; FUSED_MAX_LAYERS],
            layers: as_u32("layers", layers.len())?,
        };
        for (l, layer) in layers.iter().enumerate() {
            mlp.weights[l] = layer.offset as u64;
            mlp.inputs[l] = as_u32("inputs", layer.inputs)?;
            mlp.outputs[l] = as_u32("outputs", layer.outputs)?;
        }
        Ok(Some(mlp))
    }

    /// The layers' shapes.
    fn layers(&self) -> impl Iterator<Item = LayerShape> + '_ {
        (0..self.layers as usize).map(|l| LayerShape {
            inputs: self.inputs[l] as usize,
            outputs: self.outputs[l] as usize,
            offset: self.weights[l] as usize,
        })
    }

    /// Values the parameters must hold, those a tape of `rows` rows holds, and the input's and
    /// the output's widths.
    fn extents(&self, rows: usize) -> (usize, usize, usize, usize) {
        let params = self.layers().map(|l| l.range().end).max().unwrap_or(0);
        let tape = self.layers().map(|l| rows * l.outputs).sum();
        let last = self.layers as usize - 1;
        (
            params,
            tape,
            self.inputs[0] as usize,
            self.outputs[last] as usize,
        )
    }

    /// The launch over `rows` rows: a warp per 16 rows, 4 warps per block.
    pub fn launch_config(rows: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((rows.div_ceil(16 * WARPS as usize).max(1)) as u32, 1, 1),
            block_dim: (32 * WARPS, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// The network `mlp` on `rows` rows of `input`: every layer's output (hidden ones after ReLU)
/// into `outputs`, laid out as [`super::mlp::MlpTape`] (`mlp_forward_fused`).
pub fn fused_forward(
    device: &CudaDevice,
    mlp: &FusedMlp,
    params: &CudaSlice<f32>,
    input: &CudaSlice<f32>,
    rows: usize,
    outputs: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    MlpPrecision::Fp16.check(device.arch())?;
    let (params_len, tape_len, input_width, _) = mlp.extents(rows);
    check_len("parameters", params, params_len)?;
    check_len("MLP input", input, rows * input_width)?;
    check_len("MLP outputs", outputs, tape_len)?;
    let rows32 = as_u32("rows", rows)?;
    let config = FusedMlp::launch_config(rows);
    launch!(
        device,
        "mlp_forward_fused",
        config,
        input,
        params,
        mlp,
        &rows32,
        outputs
    )
}

/// Back-propagates `d_output` through `mlp` from the outputs [`fused_forward`] kept: the
/// gradient at every layer's output (after ReLU's mask) into `d_outputs` (the same layout),
/// and the gradient at the input into `d_input` where given (`mlp_backward_fused`).
pub fn fused_backward(
    device: &CudaDevice,
    mlp: &FusedMlp,
    params: &CudaSlice<f32>,
    rows: usize,
    outputs: &CudaSlice<f32>,
    (d_output, d_outputs, d_input): (
        &CudaSlice<f32>,
        &mut CudaSlice<f32>,
        Option<&mut CudaSlice<f32>>,
    ),
) -> Result<(), CudaError> {
    MlpPrecision::Fp16.check(device.arch())?;
    let (params_len, tape_len, input_width, output_width) = mlp.extents(rows);
    check_len("parameters", params, params_len)?;
    check_len("MLP outputs", outputs, tape_len)?;
    check_len("d_output", d_output, rows * output_width)?;
    check_len("MLP output gradients", d_outputs, tape_len)?;
    if let Some(d_input) = &d_input {
        check_len("d_input", d_input, rows * input_width)?;
    }
    let d_input = device.nullable_mut(d_input);
    let rows32 = as_u32("rows", rows)?;
    let config = FusedMlp::launch_config(rows);
    launch!(
        device,
        "mlp_backward_fused",
        config,
        params,
        mlp,
        &rows32,
        outputs,
        d_output,
        d_outputs,
        &d_input.address
    )
}

/// The loss scale for gradients whose largest magnitude is `largest`: a power of two that
/// brings it into [2^13, 2^14) (1 for zero, non-finite or larger gradients); the CPU twin of
/// `loss_scale` in `kernels/mlp_fp16.cu`.
pub fn loss_scale(largest: f32) -> f32 {
    if !largest.is_finite() || largest <= 0.0 {
        return 1.0;
    }
    let exponent = ((SCALED_MAX / largest).log2().ceil() - 1.0).clamp(0.0, 60.0);
    2f32.powi(exponent as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_scale_brings_the_largest_gradient_below_2_to_the_14() {
        for largest in [1e-9f32, 3e-6, 0.01, 1.0, 16383.0] {
            let scaled = largest * loss_scale(largest);
            assert!((8192.0..16384.0).contains(&scaled), "{largest}: {scaled}");
        }
        assert_eq!(loss_scale(0.0), 1.0);
        assert_eq!(loss_scale(f32::INFINITY), 1.0);
        assert_eq!(loss_scale(1e6), 1.0);
    }
}
