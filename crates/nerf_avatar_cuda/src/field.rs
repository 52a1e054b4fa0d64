//! The radiance field on the device ([`nerf_avatar::field::Model::field_forward_into`] and
//! [`nerf_avatar::field::Model::field_backward`]): hash encoding → density MLP → σ and the colour
//! input (SH ++ geometry feature) → colour MLP → RGB, and the backward pass into the flat
//! parameter gradient and the blended table's gradient.

use cudarc::driver::CudaSlice;

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::half_mlp::MlpPrecision;
use super::mlp::{MlpTape, mlp_backward, mlp_forward};
use super::ops::{
    DeviceGrid, as_u32, check_len, encode_backward_points, encode_points, ensure_len,
};
use nerf_avatar::field::Model;

/// The forward pass's buffers, kept for the backward pass and reused between calls.
#[derive(Default)]
pub struct DeviceFieldTape {
    /// Hash encodings (`n × L·F`).
    pub encoding: Option<CudaSlice<f32>>,
    /// Density MLP activations.
    pub density: MlpTape,
    /// Colour MLP input (`n × (16 + geometry features)`).
    pub color_input: Option<CudaSlice<f32>>,
    /// Colour MLP activations.
    pub color: MlpTape,
    /// How both MLPs' products are computed, forward and backward.
    pub precision: MlpPrecision,
    /// The half-precision backward's output gradients (reused between calls).
    pub gradients: MlpTape,
}

fn buffer<'a>(
    slot: &'a Option<CudaSlice<f32>>,
    what: &str,
) -> Result<&'a CudaSlice<f32>, CudaError> {
    slot.as_ref().ok_or_else(|| {
        CudaError::Unsupported(format!(
            "field tape has no {what} (run the forward pass first)"
        ))
    })
}

/// σ (n) and RGB (n × 3) of `n` samples at `positions` (unit cube, n × 3) seen along
/// `directions` (n × 3); `params` is the whole flat buffer, `table` the blended table.
#[expect(
    clippy::too_many_arguments,
    reason = "the twin of Model::field_forward_into"
)]
pub fn field_forward(
    device: &CudaDevice,
    model: &Model,
    grid: &DeviceGrid,
    params: &CudaSlice<f32>,
    table: &CudaSlice<f32>,
    positions: &CudaSlice<f32>,
    directions: &CudaSlice<f32>,
    n: usize,
    (sigma, rgb): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
    tape: &mut DeviceFieldTape,
) -> Result<(), CudaError> {
    check_len("directions", directions, 3 * n)?;
    check_len("sigma", sigma, n)?;
    check_len("rgb", rgb, 3 * n)?;
    encode_and_density(device, model, grid, (params, table), positions, n, tape)?;
    let density_width = model.config.density_output_width();
    let color_width = model.config.color_input_width();
    ensure_len(device, &mut tape.color_input, n * color_width)?;
    let density_out = tape.density.output()?;
    let color_input = tape
        .color_input
        .as_mut()
        .ok_or(CudaError::Unsupported("no colour input".into()))?;
    let (n32, dw, cw) = (
        as_u32("samples", n)?,
        as_u32("density width", density_width)?,
        as_u32("colour width", color_width)?,
    );
    launch!(
        device,
        "field_color_input",
        grid_1d(n),
        &density_out,
        directions,
        &n32,
        &dw,
        &cw,
        sigma,
        color_input
    )?;
    let color_input = buffer(&tape.color_input, "colour input")?;
    mlp_forward(
        device,
        &model.layout.color_layers,
        params,
        color_input,
        n,
        &mut tape.color,
        tape.precision,
    )?;
    let color_out = tape.color.output()?;
    launch!(device, "field_rgb", grid_1d(3 * n), &color_out, &n32, rgb)
}

/// Back-propagates `d_sigma` (n) and `d_rgb` (n × 3): adds the MLP weight gradients to
/// `d_params` (the whole flat layout) and the blended table's gradient to `d_table`.
#[expect(
    clippy::too_many_arguments,
    reason = "the twin of Model::field_backward"
)]
pub fn field_backward(
    device: &CudaDevice,
    model: &Model,
    grid: &DeviceGrid,
    params: &CudaSlice<f32>,
    positions: &CudaSlice<f32>,
    n: usize,
    tape: &mut DeviceFieldTape,
    d_sigma: &CudaSlice<f32>,
    d_rgb: &CudaSlice<f32>,
    d_params: &mut CudaSlice<f32>,
    d_table: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("d_sigma", d_sigma, n)?;
    check_len("d_rgb", d_rgb, 3 * n)?;
    let n32 = as_u32("samples", n)?;
    let color_out = tape.color.output()?;
    let mut d_color_out = device.zeros::<f32>(3 * n)?;
    launch!(
        device,
        "field_rgb_backward",
        grid_1d(3 * n),
        &color_out,
        d_rgb,
        &n32,
        &mut d_color_out
    )?;
    let color_input = buffer(&tape.color_input, "colour input")?;
    let d_color_input = mlp_backward(
        device,
        &model.layout.color_layers,
        params,
        color_input,
        n,
        (&tape.color, &mut tape.gradients),
        d_color_out,
        d_params,
        true,
        tape.precision,
    )?
    .ok_or(CudaError::Unsupported("no colour input gradient".into()))?;
    let density_width = model.config.density_output_width();
    let color_width = model.config.color_input_width();
    let (dw, cw) = (
        as_u32("density width", density_width)?,
        as_u32("colour width", color_width)?,
    );
    let density_out = tape.density.output()?;
    let mut d_density_out = device.zeros::<f32>(n * density_width)?;
    launch!(
        device,
        "field_density_backward",
        grid_1d(n),
        &density_out,
        &d_color_input,
        d_sigma,
        &n32,
        &dw,
        &cw,
        &mut d_density_out
    )?;
    let encoding = buffer(&tape.encoding, "encoding")?;
    let d_encoding = mlp_backward(
        device,
        &model.layout.density_layers,
        params,
        encoding,
        n,
        (&tape.density, &mut tape.gradients),
        d_density_out,
        d_params,
        true,
        tape.precision,
    )?
    .ok_or(CudaError::Unsupported("no encoding gradient".into()))?;
    encode_backward_points(device, grid, positions, &d_encoding, n, d_table)
}

/// The hash encoding of `n` points and the density MLP on it, into `tape` (its encoding and
/// density activations).
fn encode_and_density(
    device: &CudaDevice,
    model: &Model,
    grid: &DeviceGrid,
    (params, table): (&CudaSlice<f32>, &CudaSlice<f32>),
    positions: &CudaSlice<f32>,
    n: usize,
    tape: &mut DeviceFieldTape,
) -> Result<(), CudaError> {
    ensure_len(device, &mut tape.encoding, n * grid.output_width())?;
    let encoding = tape
        .encoding
        .as_mut()
        .ok_or(CudaError::Unsupported("no encoding".into()))?;
    encode_points(device, grid, table, positions, n, encoding)?;
    let encoding = buffer(&tape.encoding, "encoding")?;
    mlp_forward(
        device,
        &model.layout.density_layers,
        params,
        encoding,
        n,
        &mut tape.density,
        tape.precision,
    )
}

/// Densities only, max-merged into `fresh` (n): the occupancy update's query
/// ([`nerf_avatar::field::Model::density`] followed by a maximum).
#[expect(
    clippy::too_many_arguments,
    reason = "the field's inputs and the running maximum"
)]
pub fn density_max(
    device: &CudaDevice,
    model: &Model,
    grid: &DeviceGrid,
    params: &CudaSlice<f32>,
    table: &CudaSlice<f32>,
    positions: &CudaSlice<f32>,
    n: usize,
    tape: &mut DeviceFieldTape,
    fresh: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("fresh", fresh, n)?;
    encode_and_density(device, model, grid, (params, table), positions, n, tape)?;
    let density_out = tape.density.output()?;
    let n32 = as_u32("samples", n)?;
    let dw = as_u32("density width", model.config.density_output_width())?;
    launch!(
        device,
        "density_max",
        grid_1d(n),
        &density_out,
        &n32,
        &dw,
        fresh
    )
}
