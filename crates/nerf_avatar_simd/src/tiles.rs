//! Register-tiled CPU kernels on rows of channels (NHWC tensors, or the row-major batches of
//! the MLPs): convolutions — a dense layer is a 1×1 convolution over rows — as products of
//! pixel rows and packed weight panels, with bias, residual and activation fused into the
//! store; depthwise convolutions as channel-vectorised passes over output rows; max pooling
//! and channel padding. The MLPs (`nerf_avatar::mlp`) run their `f32` layers on it, and the
//! tracker's landmark network (`nerf_avatar_track::convnet`) all of its layers.
//!
//! Each kernel is written once, generic over how a multiply-add is made, and compiled for
//! three instruction sets picked at run time ([`Isa`]): AVX-512, AVX2 with FMA, and
//! portable code.

use num_traits::Float;

/// How a product is added: one rounding (`fma`) or two.
pub trait MulAdd {
    /// `a · b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// A fused multiply-add (a single instruction where the CPU has FMA).
pub struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// A multiply then an add (for CPUs without FMA, where `f32::mul_add` is a library call).
pub struct Separate;

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// The instruction set the kernels run with, detected at run time ([`Isa::detect`]).
///
/// Opaque: only [`Isa::detect`] (and [`Isa::portable`], which every CPU runs) make one, so a
/// value always names a set this CPU has, which is what the kernels' dispatch relies on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isa(Level);

/// The instruction sets the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// x86-64 with AVX-512F (and AVX2, FMA).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// x86-64 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Whatever the target was compiled for.
    Portable,
}

impl Isa {
    /// The best set this CPU has.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            if avx2 && is_x86_feature_detected!("avx512f") {
                return Self(Level::Avx512);
            }
            if avx2 {
                return Self(Level::Avx2);
            }
        }
        Self::portable()
    }

    /// The code compiled for the target alone, without run-time features.
    pub fn portable() -> Self {
        Self(Level::Portable)
    }
}

/// Defines `pub fn $name(isa, args…)`, which runs `$generic::<Fused or Separate>(args…)`
/// compiled for `isa`.
macro_rules! for_each_isa {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $generic:ident) => {
        $(#[$doc])*
        pub fn $name(isa: Isa, $($arg: $ty),*) {
            match isa.0 {
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    fn compiled($($arg: $ty),*) {
                        $generic::<Fused>($($arg),*)
                    }
                    // SAFETY: `Level::Avx512` is private and only `Isa::detect` makes it, on a
                    // CPU that has these features.
                    unsafe { compiled($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => {
                    #[target_feature(enable = "avx2,fma")]
                    fn compiled($($arg: $ty),*) {
                        $generic::<Fused>($($arg),*)
                    }
                    // SAFETY: `Level::Avx2` is private and only `Isa::detect` makes it, on a
                    // CPU that has these features.
                    unsafe { compiled($($arg),*) }
                }
                Level::Portable => $generic::<Separate>($($arg),*),
            }
        }
    };
}

/// What is applied to each output value before it is stored.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    /// Nothing.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x` where positive, `slope[c] · x` elsewhere (one slope per channel).
    PRelu(Vec<f32>),
    /// `1 / (1 + e^(−x))` ([`sigmoid`]).
    Sigmoid,
}

impl Activation {
    /// A PReLU whose slopes are padded with zeros to whole wide panels, so the kernels can
    /// read a panel's slopes past the last channel.
    pub fn prelu(mut slopes: Vec<f32>) -> Self {
        slopes.resize(slopes.len().next_multiple_of(PANEL_WIDE), 0.0);
        Self::PRelu(slopes)
    }

    /// Applies the activation to `values`, channels `first..first + N`.
    #[inline(always)]
    fn apply_lanes<const N: usize>(&self, values: &mut [f32; N], first: usize) {
        match self {
            Self::Identity => {}
            Self::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Self::PRelu(slopes) => {
                // The slopes are padded to whole panels and `first` starts one.
                if let Some(slopes) = slopes[first..].as_chunks::<N>().0.first() {
                    for l in 0..N {
                        values[l] = prelu(values[l], slopes[l]);
                    }
                }
            }
            Self::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
        }
    }

    /// Applies the activation in place to an NHWC tensor of `channels` channels.
    pub fn apply_in_place(&self, values: &mut [f32], channels: usize) {
        match self {
            Self::Identity => {}
            Self::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Self::PRelu(slopes) => {
                for pixel in values.chunks_exact_mut(channels) {
                    for (v, &slope) in pixel.iter_mut().zip(slopes) {
                        *v = prelu(*v, slope);
                    }
                }
            }
            Self::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
        }
    }
}

/// `x` where positive, `slope · x` elsewhere, without a branch: `max(x, 0)` is `x` or 0 and
/// `min(x, 0)` the other, so one of the two terms is exactly zero.
#[inline(always)]
fn prelu(x: f32, slope: f32) -> f32 {
    x.max(0.0) + slope * x.min(0.0)
}

/// Geometry of a convolution (one image, NHWC, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input height, width and channels.
    pub input: [usize; 3],
    /// Output height, width and channels.
    pub output: [usize; 3],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride along y and x.
    pub stride: [usize; 2],
    /// Zero padding before the first row and column.
    pub pad: [usize; 2],
}

impl ConvShape {
    /// Whether each output pixel reads exactly its own input pixel's channels.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Length of one output pixel's input patch: kernel area times input channels.
    pub fn patch_len(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.input[2]
    }

    /// The output columns `x0..x1` whose kernel column `kx` lands inside the input.
    fn columns_inside(&self, kx: usize) -> (usize, usize) {
        let [stride, pad, width] = [self.stride[1], self.pad[1], self.input[1]];
        let x0 = pad.saturating_sub(kx).div_ceil(stride);
        let x1 = (width + pad).saturating_sub(kx).div_ceil(stride);
        (x0, x1.min(self.output[1]))
    }
}

/// Output channels per weight panel: the width of one register tile.
pub const PANEL_WIDE: usize = 16;
/// Output channels per panel for layers of at most this many channels.
pub const PANEL_NARROW: usize = 8;
/// Output pixels per register tile.
const TILE_PIXELS: usize = 6;

/// A convolution layer with its weights packed in panels: for each block of `width` output
/// channels, the patch (`ky`, `kx`, input channel, in that order) by `width` weights, zero
/// past the last channel; the bias padded the same way.
#[derive(Clone, Debug)]
pub struct PackedConv {
    /// The geometry.
    pub shape: ConvShape,
    /// What is applied before the store.
    pub activation: Activation,
    /// Output channels per panel ([`PANEL_WIDE`] or [`PANEL_NARROW`]).
    pub width: usize,
    /// The panels, one after the other.
    pub panels: Vec<f32>,
    /// The bias, padded to whole panels.
    pub bias: Vec<f32>,
}

impl PackedConv {
    /// Packs ONNX weights `[out][in][kh][kw]` and a bias of `out` values.
    pub fn pack(shape: ConvShape, weights: &[f32], bias: &[f32], activation: Activation) -> Self {
        let [kh, kw] = shape.kernel;
        let (channels_in, channels_out) = (shape.input[2], shape.output[2]);
        let width = if channels_out <= PANEL_NARROW {
            PANEL_NARROW
        } else {
            PANEL_WIDE
        };
        let blocks = channels_out.div_ceil(width);
        let patch = shape.patch_len();
        let mut panels = vec![0.0; blocks * patch * width];
        for co in 0..channels_out {
            let panel = &mut panels[(co / width) * patch * width..][..patch * width];
            for ci in 0..channels_in {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let k = (ky * kw + kx) * channels_in + ci;
                        panel[k * width + co % width] =
                            weights[((co * channels_in + ci) * kh + ky) * kw + kx];
                    }
                }
            }
        }
        let mut padded_bias = vec![0.0; blocks * width];
        padded_bias[..channels_out].copy_from_slice(bias);
        Self {
            shape,
            activation,
            width,
            panels,
            bias: padded_bias,
        }
    }
}

/// What a convolution adds before its activation: nothing, or a residual tensor of the
/// output's shape.
pub type Residual<'a> = Option<&'a [f32]>;

for_each_isa! {
    /// Output pixels `first..first + out.len() / channels_out` of a convolution: `out` is
    /// that run of the NHWC output, `residual` (if any) the whole residual tensor.
    pub fn conv_pixels(
        conv: &PackedConv,
        input: &[f32],
        residual: Residual<'_>,
        first: usize,
        out: &mut [f32],
    ) => conv_pixels_generic
}

#[inline(always)]
fn conv_pixels_generic<M: MulAdd>(
    conv: &PackedConv,
    input: &[f32],
    residual: Residual<'_>,
    first: usize,
    out: &mut [f32],
) {
    let pixels = out.len() / conv.shape.output[2];
    let full = conv.shape.output[2].is_multiple_of(conv.width);
    let args = (conv, input, residual, first, out);
    match (conv.width, pixels < TILE_PIXELS, full) {
        (PANEL_NARROW, false, true) => conv_tiles::<M, PANEL_NARROW, TILE_PIXELS, true>(args),
        (PANEL_NARROW, true, true) => conv_tiles::<M, PANEL_NARROW, 1, true>(args),
        (PANEL_NARROW, false, false) => conv_tiles::<M, PANEL_NARROW, TILE_PIXELS, false>(args),
        (PANEL_NARROW, true, false) => conv_tiles::<M, PANEL_NARROW, 1, false>(args),
        (_, false, true) => conv_tiles::<M, PANEL_WIDE, TILE_PIXELS, true>(args),
        (_, true, true) => conv_tiles::<M, PANEL_WIDE, 1, true>(args),
        (_, false, false) => conv_tiles::<M, PANEL_WIDE, TILE_PIXELS, false>(args),
        (_, true, false) => conv_tiles::<M, PANEL_WIDE, 1, false>(args),
    }
}

/// The arguments of [`conv_pixels`].
type ConvArgs<'a> = (
    &'a PackedConv,
    &'a [f32],
    Residual<'a>,
    usize,
    &'a mut [f32],
);

/// [`conv_pixels`] in tiles of `T` pixels by `W` channels, `T · W` accumulators for each
/// weight panel. `FULL`: the output channels are whole panels.
#[inline(always)]
fn conv_tiles<M: MulAdd, const W: usize, const T: usize, const FULL: bool>(
    (conv, input, residual, first, out): ConvArgs<'_>,
) {
    let shape = &conv.shape;
    let channels_out = shape.output[2];
    let patch = shape.patch_len();
    let pixels = out.len() / channels_out;
    let mut gathered = vec![0.0; if shape.is_pointwise() { 0 } else { patch * T }];
    // On the heap, apart from the accumulators, which then stay in registers.
    let mut acc = Box::new([[0.0; W]; T]);
    for tile_start in (0..pixels).step_by(T) {
        let count = T.min(pixels - tile_start);
        let pixel = first + tile_start;
        // Past the last pixel, a partial tile repeats it (and stores nothing for it).
        let mut rows: [&[f32]; T] = [&[]; T];
        if shape.is_pointwise() {
            for (r, row) in rows.iter_mut().enumerate() {
                *row = &input[(pixel + r.min(count - 1)) * patch..][..patch];
            }
        } else {
            for (r, row) in gathered.chunks_exact_mut(patch).enumerate().take(count) {
                gather_patch(shape, input, pixel + r, row);
            }
            for (r, row) in rows.iter_mut().enumerate() {
                *row = &gathered[r.min(count - 1) * patch..][..patch];
            }
        }
        let tile_out = &mut out[tile_start * channels_out..(tile_start + count) * channels_out];
        let bias_panels = conv.bias.as_chunks::<W>().0;
        for ((block, panel), bias) in conv
            .panels
            .chunks_exact(patch * W)
            .enumerate()
            .zip(bias_panels)
        {
            tile_product::<M, W, T>(panel.as_chunks::<W>().0, rows, *bias, &mut acc);
            let first_channel = block * W;
            let channels = W.min(channels_out - first_channel);
            for (r, &sums) in acc.iter().enumerate().take(count) {
                let added = residual.map(|residual| {
                    &residual[(pixel + r) * channels_out + first_channel..][..channels]
                });
                let at = r * channels_out + first_channel;
                let stored = &mut tile_out[at..at + channels];
                finish_lanes::<W, FULL>(sums, added, &conv.activation, first_channel, stored);
            }
        }
    }
}

/// Adds the residual to a tile row's sums, applies the activation and stores the first
/// `stored.len()` lanes. `FULL`: `stored` is `W` long, and each step is whole registers.
#[inline(always)]
fn finish_lanes<const W: usize, const FULL: bool>(
    mut sums: [f32; W],
    added: Option<&[f32]>,
    activation: &Activation,
    first_channel: usize,
    stored: &mut [f32],
) {
    if FULL {
        if let Some(added) = added.and_then(|a| a.as_chunks::<W>().0.first()) {
            (0..W).for_each(|l| sums[l] += added[l]);
        }
        activation.apply_lanes(&mut sums, first_channel);
        if let Some(full) = stored.as_chunks_mut::<W>().0.first_mut() {
            *full = sums;
        }
    } else {
        if let Some(added) = added {
            (0..added.len()).for_each(|l| sums[l] += added[l]);
        }
        activation.apply_lanes(&mut sums, first_channel);
        let channels = stored.len();
        stored.copy_from_slice(&sums[..channels]);
    }
}

/// A bias-free dense layer on `n` rows: `y (n × outputs) = x (n × inputs) · Wᵀ`, ReLU when
/// `relu`, with `weights` row-major `outputs × inputs` (a 1×1 convolution over the rows),
/// on the best instruction set of this CPU.
pub fn dense_layer(
    x: &[f32],
    weights: &[f32],
    [n, inputs, outputs]: [usize; 3],
    relu: bool,
    y: &mut [f32],
) {
    let y = &mut y[..n * outputs];
    if inputs == 0 {
        y.fill(0.0);
        return;
    }
    if y.is_empty() {
        return;
    }
    let activation = if relu {
        Activation::Relu
    } else {
        Activation::Identity
    };
    let layer = PackedConv::dense(&weights[..outputs * inputs], [inputs, outputs], activation);
    conv_pixels(Isa::detect(), &layer, &x[..n * inputs], None, 0, y);
}

impl PackedConv {
    /// A bias-free dense layer, `weights` row-major `outputs × inputs`, as a 1×1 convolution
    /// over rows: [`conv_pixels`] runs it on as many rows of `inputs` values as its output
    /// has rows of `outputs` (the rows of its shape are not read).
    pub fn dense(weights: &[f32], [inputs, outputs]: [usize; 2], activation: Activation) -> Self {
        let shape = ConvShape {
            input: [1, 1, inputs],
            output: [1, 1, outputs],
            kernel: [1, 1],
            stride: [1, 1],
            pad: [0, 0],
        };
        Self::pack(shape, weights, &vec![0.0; outputs], activation)
    }
}

/// `bias + Σ_k rows[·][k] ⊗ panel[k]` for a tile of `T` pixels by `W` channels, summed in
/// registers and stored in `out`.
#[inline(always)]
fn tile_product<M: MulAdd, const W: usize, const T: usize>(
    panel: &[[f32; W]],
    rows: [&[f32]; T],
    bias: [f32; W],
    out: &mut [[f32; W]; T],
) {
    let len = panel.len();
    let rows = rows.map(|row| &row[..len]);
    let mut acc = [bias; T];
    for (k, w) in panel.iter().enumerate() {
        let mut a = [0.0; T];
        for r in 0..T {
            a[r] = rows[r][k];
        }
        for r in 0..T {
            for l in 0..W {
                acc[r][l] = M::mul_add(a[r], w[l], acc[r][l]);
            }
        }
    }
    *out = acc;
}

/// Copies the input patch of output pixel `pixel` into `patch`, zeros where it hangs over
/// the border. Each kernel row is one contiguous run of the input row.
#[inline(always)]
fn gather_patch(shape: &ConvShape, input: &[f32], pixel: usize, patch: &mut [f32]) {
    let (y, x) = (pixel / shape.output[1], pixel % shape.output[1]);
    let [kh, kw] = shape.kernel;
    let [height, width, channels] = shape.input;
    let run = kw * channels;
    for (ky, to) in patch.chunks_exact_mut(run).enumerate().take(kh) {
        let iy = (y * shape.stride[0] + ky).checked_sub(shape.pad[0]);
        let Some(iy) = iy.filter(|&iy| iy < height) else {
            to.fill(0.0);
            continue;
        };
        // Kernel columns kx0..kx1 land inside the row, at input columns ix0…
        let left = x * shape.stride[1];
        let kx0 = shape.pad[1].saturating_sub(left);
        let ix0 = left + kx0 - shape.pad[1];
        let kx1 = kw.min(width + shape.pad[1] - left.min(width + shape.pad[1]));
        let inside = kx1.saturating_sub(kx0) * channels;
        to[..kx0 * channels].fill(0.0);
        to[kx0 * channels..kx0 * channels + inside]
            .copy_from_slice(&input[(iy * width + ix0) * channels..][..inside]);
        to[kx0 * channels + inside..].fill(0.0);
    }
}

/// A depthwise convolution layer with its weights laid out for whole output rows: for each
/// kernel tap (row-major), the tap's weight of each channel repeated for every output
/// column, so that a tap of a stride-1 layer is one multiply-add over a contiguous run of a
/// row.
#[derive(Clone, Debug)]
pub struct PackedDepthwise {
    /// The geometry (input and output channels equal).
    pub shape: ConvShape,
    /// What is applied before the store.
    pub activation: Activation,
    /// `kh · kw` rows of `width_out · channels` weights.
    pub taps: Vec<f32>,
    /// The bias of each channel, repeated for every output column.
    pub bias: Vec<f32>,
}

impl PackedDepthwise {
    /// Packs ONNX depthwise weights `[channels][1][kh][kw]`.
    pub fn pack(shape: ConvShape, weights: &[f32], bias: &[f32], activation: Activation) -> Self {
        let [_, width_out, channels] = shape.output;
        let taps_count = shape.kernel[0] * shape.kernel[1];
        let row = width_out * channels;
        let mut taps = vec![0.0; taps_count * row];
        for (t, tap) in taps.chunks_exact_mut(row).enumerate() {
            for (j, w) in tap.iter_mut().enumerate() {
                *w = weights[(j % channels) * taps_count + t];
            }
        }
        Self {
            shape,
            activation,
            taps,
            bias: (0..row).map(|j| bias[j % channels]).collect(),
        }
    }
}

for_each_isa! {
    /// Output rows `first..first + out.len() / (width · channels)` of a depthwise
    /// convolution (input and output channels equal).
    pub fn depthwise_rows(
        layer: &PackedDepthwise,
        input: &[f32],
        first: usize,
        out: &mut [f32],
    ) => depthwise_rows_generic
}

#[inline(always)]
fn depthwise_rows_generic<M: MulAdd>(
    layer: &PackedDepthwise,
    input: &[f32],
    first: usize,
    out: &mut [f32],
) {
    let shape = &layer.shape;
    let [_, width_in, channels] = shape.input;
    let width_out = shape.output[1];
    let [_, kw] = shape.kernel;
    let row_len = width_out * channels;
    for (row, out_row) in out.chunks_exact_mut(row_len).enumerate() {
        let y = first + row;
        out_row.copy_from_slice(&layer.bias);
        for (tap, w) in layer.taps.chunks_exact(row_len).enumerate() {
            let (ky, kx) = (tap / kw, tap % kw);
            let Some(iy) = (y * shape.stride[0] + ky)
                .checked_sub(shape.pad[0])
                .filter(|&iy| iy < shape.input[0])
            else {
                continue;
            };
            let (x0, x1) = shape.columns_inside(kx);
            if x0 >= x1 {
                continue;
            }
            let ix0 = x0 * shape.stride[1] + kx - shape.pad[1];
            let in_row = &input[iy * width_in * channels..][..width_in * channels];
            let span = x0 * channels..x1 * channels;
            if shape.stride[1] == 1 {
                let source = &in_row[ix0 * channels..][..span.len()];
                for ((o, &i), &wc) in out_row[span.clone()].iter_mut().zip(source).zip(&w[span]) {
                    *o = M::mul_add(i, wc, *o);
                }
            } else {
                for x in x0..x1 {
                    let ix = ix0 + (x - x0) * shape.stride[1];
                    let source = &in_row[ix * channels..][..channels];
                    let at = x * channels..(x + 1) * channels;
                    for ((o, &i), &wc) in out_row[at.clone()].iter_mut().zip(source).zip(&w[at]) {
                        *o = M::mul_add(i, wc, *o);
                    }
                }
            }
        }
        layer.activation.apply_in_place(out_row, channels);
    }
}

/// Max pooling over `kernel` windows at `stride` (no padding) of an NHWC tensor.
pub fn max_pool(
    input: &[f32],
    input_shape: [usize; 3],
    kernel: [usize; 2],
    stride: [usize; 2],
    out: &mut [f32],
    output_shape: [usize; 3],
) {
    let [_, width_in, channels] = input_shape;
    let [height_out, width_out, _] = output_shape;
    for y in 0..height_out {
        for x in 0..width_out {
            let pixel = &mut out[(y * width_out + x) * channels..][..channels];
            pixel.fill(f32::NEG_INFINITY);
            for ky in 0..kernel[0] {
                for kx in 0..kernel[1] {
                    let (iy, ix) = (y * stride[0] + ky, x * stride[1] + kx);
                    let source = &input[(iy * width_in + ix) * channels..][..channels];
                    for (o, &i) in pixel.iter_mut().zip(source) {
                        *o = o.max(i);
                    }
                }
            }
        }
    }
}

/// Copies an NHWC tensor of `channels` channels into one with `before` zero channels
/// before and the rest after.
pub fn pad_channels(input: &[f32], channels: usize, before: usize, out: &mut [f32], total: usize) {
    for (from, to) in input
        .chunks_exact(channels)
        .zip(out.chunks_exact_mut(total))
    {
        to.fill(0.0);
        to[before..before + channels].copy_from_slice(from);
    }
}

/// `1 / (1 + e^−x)`, computed without overflow.
pub fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input row and column under kernel tap `(ky, kx)` of output pixel `(y, x)`, if
    /// it is inside the image (outside is zero padding).
    fn source(
        shape: &ConvShape,
        y: usize,
        x: usize,
        ky: usize,
        kx: usize,
    ) -> Option<(usize, usize)> {
        let iy = (y * shape.stride[0] + ky).checked_sub(shape.pad[0])?;
        let ix = (x * shape.stride[1] + kx).checked_sub(shape.pad[1])?;
        (iy < shape.input[0] && ix < shape.input[1]).then_some((iy, ix))
    }

    /// Direct convolution from the ONNX layout, the reference of the packed kernels.
    fn naive_conv(
        shape: &ConvShape,
        weights: &[f32],
        bias: &[f32],
        input: &[f32],
        depthwise: bool,
    ) -> Vec<f32> {
        let [ho, wo, co] = shape.output;
        let [kh, kw] = shape.kernel;
        let ci_count = shape.input[2];
        let mut out = vec![0.0; ho * wo * co];
        for y in 0..ho {
            for x in 0..wo {
                for o in 0..co {
                    let mut sum = f64::from(bias[o]);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let Some((iy, ix)) = source(shape, y, x, ky, kx) else {
                                continue;
                            };
                            let at = (iy * shape.input[1] + ix) * ci_count;
                            if depthwise {
                                sum += f64::from(input[at + o])
                                    * f64::from(weights[(o * kh + ky) * kw + kx]);
                            } else {
                                for i in 0..ci_count {
                                    sum += f64::from(input[at + i])
                                        * f64::from(
                                            weights[((o * ci_count + i) * kh + ky) * kw + kx],
                                        );
                                }
                            }
                        }
                    }
                    out[(y * wo + x) * co + o] = sum as f32;
                }
            }
        }
        out
    }

    fn noise(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect()
    }

    /// Every instruction set this CPU can run: the best one and those below it.
    fn isas() -> Vec<Isa> {
        let mut isas = vec![Isa::portable()];
        #[cfg(target_arch = "x86_64")]
        {
            let best = Isa::detect();
            if best != Isa::portable() {
                isas.push(Isa(Level::Avx2));
            }
            if best == Isa(Level::Avx512) {
                isas.push(Isa(Level::Avx512));
            }
        }
        isas
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{i}: {g} vs {w}");
        }
    }

    #[test]
    fn packed_convolutions_match_the_direct_sum() {
        let cases = [
            // pointwise, narrow panel, a pixel count that is not a multiple of the tile
            ([5, 7, 16], [5, 7, 8], [1, 1], [1, 1], [0, 0]),
            // strided 3×3 with padding after only (like the landmark model's first layer)
            ([9, 9, 3], [5, 5, 16], [3, 3], [2, 2], [0, 0]),
            // 2×2 stride 2, wide panels with a partial last panel
            ([6, 6, 8], [3, 3, 37], [2, 2], [2, 2], [0, 0]),
            // padded before and after
            ([4, 5, 5], [4, 5, 20], [3, 3], [1, 1], [1, 1]),
        ];
        for (n, (input, output, kernel, stride, pad)) in cases.into_iter().enumerate() {
            let shape = ConvShape {
                input,
                output,
                kernel,
                stride,
                pad,
            };
            let weights = noise(output[2] * shape.patch_len(), 1 + n as u32);
            let bias = noise(output[2], 50 + n as u32);
            let x = noise(input.iter().product(), 90 + n as u32);
            let want = naive_conv(&shape, &weights, &bias, &x, false);
            let packed = PackedConv::pack(shape, &weights, &bias, Activation::Identity);
            for isa in isas() {
                let mut got = vec![f32::NAN; want.len()];
                let split = 2 * output[1] + 1;
                let (head, tail) = got.split_at_mut(split * output[2]);
                conv_pixels(isa, &packed, &x, None, 0, head);
                conv_pixels(isa, &packed, &x, None, split, tail);
                assert_close(&got, &want);
            }
        }
    }

    #[test]
    fn residual_and_prelu_are_fused_into_the_store() {
        let shape = ConvShape {
            input: [3, 4, 8],
            output: [3, 4, 24],
            kernel: [1, 1],
            stride: [1, 1],
            pad: [0, 0],
        };
        let weights = noise(24 * 8, 3);
        let bias = noise(24, 4);
        let x = noise(3 * 4 * 8, 5);
        let residual = noise(3 * 4 * 24, 6);
        let slope = noise(24, 7);
        let plain = naive_conv(&shape, &weights, &bias, &x, false);
        let want: Vec<f32> = plain
            .iter()
            .zip(&residual)
            .enumerate()
            .map(|(i, (p, r))| {
                let v = p + r;
                if v > 0.0 { v } else { v * slope[i % 24] }
            })
            .collect();
        let packed = PackedConv::pack(shape, &weights, &bias, Activation::prelu(slope));
        for isa in isas() {
            let mut got = vec![0.0; want.len()];
            conv_pixels(isa, &packed, &x, Some(&residual), 0, &mut got);
            assert_close(&got, &want);
        }
    }

    #[test]
    fn depthwise_rows_match_the_direct_sum() {
        for (n, (input, output, stride, pad)) in [
            ([6, 7, 16], [6, 7, 16], [1, 1], [1, 1]),
            ([7, 8, 8], [3, 4, 8], [2, 2], [0, 0]),
        ]
        .into_iter()
        .enumerate()
        {
            let shape = ConvShape {
                input,
                output,
                kernel: [3, 3],
                stride,
                pad,
            };
            let channels = input[2];
            let weights = noise(channels * 9, 10 + n as u32);
            let bias = noise(channels, 20 + n as u32);
            let x = noise(input.iter().product(), 30 + n as u32);
            let want = naive_conv(&shape, &weights, &bias, &x, true);
            let packed = PackedDepthwise::pack(shape, &weights, &bias, Activation::Identity);
            for isa in isas() {
                let mut got = vec![f32::NAN; want.len()];
                let row = output[1] * channels;
                let (head, tail) = got.split_at_mut(row);
                depthwise_rows(isa, &packed, &x, 0, head);
                depthwise_rows(isa, &packed, &x, 1, tail);
                assert_close(&got, &want);
            }
        }
    }

    #[test]
    fn max_pool_and_channel_padding() {
        let input: Vec<f32> = (0..4 * 4 * 2).map(|v| v as f32).collect();
        let mut pooled = vec![0.0; 2 * 2 * 2];
        max_pool(&input, [4, 4, 2], [2, 2], [2, 2], &mut pooled, [2, 2, 2]);
        assert_eq!(pooled, [10.0, 11.0, 14.0, 15.0, 26.0, 27.0, 30.0, 31.0]);
        let mut padded = vec![f32::NAN; 2 * 2 * 3];
        pad_channels(&pooled, 2, 1, &mut padded, 3);
        assert_eq!(
            padded,
            [
                0.0, 10.0, 11.0, 0.0, 14.0, 15.0, 0.0, 26.0, 27.0, 0.0, 30.0, 31.0
            ]
        );
    }
}
