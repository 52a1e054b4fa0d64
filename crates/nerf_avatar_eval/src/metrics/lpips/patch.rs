//! LPIPS of training patches, layer by layer with a hand-written backward pass: the
//! perceptual loss of training on the CPU, and the CPU twin of `kernels/lpips.cu` (host side:
//! `cuda::lpips`).
//!
//! Activations are rows of channels: pixel-major, one image after the other, the `a` patches
//! before the `b` ones. A convolution is [`im2col`] (each output pixel's input patch as one
//! row, channel-major like the weights `[out][in][ky][kx]`, then a 1 for the bias) followed
//! by a dense layer with ReLU. Its input gradient is the dense layer of the transposed
//! weights followed by [`col2im`]. [`max_pool`] keeps the pixel of each window's maximum,
//! where [`max_pool_backward`] sends its gradient. [`compare_features`] gives a tapped layer's
//! distance and its gradient at the `a` features in one pass. Only the `a` patches are
//! taken back through the network.

use rayon::prelude::*;

use super::network::{INPUT_SCALE, INPUT_SHIFT, NORM_SQUARED_FLOOR, NORMALISE_EPS, Step, steps};
use super::{Backbone, Lpips, LpipsError, check_images, check_size};
use nerf_avatar_simd::tiles::{Activation, Isa, PackedConv, conv_pixels};

/// Height, width and channels of one image's activation.
pub type Extent = [usize; 3];

/// Rows of a dense layer handed to one task.
const ROWS_PER_TASK: usize = 48;

/// A backbone convolution's geometry (square kernel, zero padding on every side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride along both axes.
    pub stride: usize,
    /// Zero padding before the first and after the last row and column.
    pub padding: usize,
}

impl ConvGeometry {
    /// Values in one [`im2col`] row: the input patch, channel-major, and a 1 for the bias.
    pub fn columns(&self) -> usize {
        self.in_channels * self.kernel * self.kernel + 1
    }

    /// The output extent of an input of `extent`.
    pub fn output(&self, [height, width, _]: Extent) -> Extent {
        let side = |input: usize| (input + 2 * self.padding - self.kernel) / self.stride + 1;
        [side(height), side(width), self.out_channels]
    }
}

/// A max pooling's geometry (no padding, floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Window side.
    pub size: usize,
    /// Stride along both axes.
    pub stride: usize,
}

impl PoolGeometry {
    /// The output extent of an input of `extent`.
    pub fn output(&self, [height, width, channels]: Extent) -> Extent {
        let side = |input: usize| (input - self.size) / self.stride + 1;
        [side(height), side(width), channels]
    }
}

/// A convolution with bias and ReLU, as a dense layer on [`im2col`] rows.
#[derive(Clone, Debug)]
pub struct PatchConv {
    /// The geometry.
    pub geometry: ConvGeometry,
    /// `out_channels × columns()`, row-major: each output channel's `[in][ky][kx]` kernel,
    /// then its bias.
    pub weights: Vec<f32>,
    /// The weights as a dense layer with ReLU.
    forward: PackedConv,
    /// The transposed weights: the gradient at the columns from that at the outputs.
    backward: PackedConv,
}

impl PatchConv {
    /// The layer of a `[out][in][k][k]` kernel and its bias.
    pub fn new(geometry: ConvGeometry, kernel: &[f32], bias: &[f32]) -> Self {
        let columns = geometry.columns();
        let patch = columns - 1;
        let outputs = geometry.out_channels;
        let mut weights = Vec::with_capacity(outputs * columns);
        for (row, &b) in kernel.chunks_exact(patch).zip(bias) {
            weights.extend_from_slice(row);
            weights.push(b);
        }
        let mut transposed = vec![0.0; weights.len()];
        for (o, row) in weights.chunks_exact(columns).enumerate() {
            for (c, &w) in row.iter().enumerate() {
                transposed[c * outputs + o] = w;
            }
        }
        Self {
            forward: PackedConv::dense(&weights, [columns, outputs], Activation::Relu),
            backward: PackedConv::dense(&transposed, [outputs, columns], Activation::Identity),
            geometry,
            weights,
        }
    }
}

/// One step of a backbone.
#[derive(Clone, Debug)]
pub enum PatchStep {
    /// A convolution with bias and ReLU.
    Conv(Box<PatchConv>),
    /// Max pooling.
    MaxPool(PoolGeometry),
    /// The current activation is compared, with linear head `head`.
    Tap {
        /// Index into [`PatchLpips::heads`].
        head: usize,
    },
}

/// LPIPS v0.1 with a hand-written backward pass, for patches.
#[derive(Clone, Debug)]
pub struct PatchLpips {
    backbone: Backbone,
    steps: Vec<PatchStep>,
    heads: Vec<Vec<f32>>,
}

/// One activation of a forward run, kept for the backward pass.
struct Layer {
    extent: Extent,
    values: Vec<f32>,
    /// For a max pooling's output: the input pixel (`y · width + x`) of each value.
    argmax: Vec<u32>,
}

impl PatchLpips {
    /// The network of `lpips`, with its weights copied.
    pub fn new(lpips: &Lpips) -> Result<Self, LpipsError> {
        let network = &lpips.network;
        let mut convs = network.convs.iter();
        let mut heads = 0;
        let mut patch_steps = Vec::new();
        for step in steps(network.backbone) {
            patch_steps.push(match *step {
                Step::ConvRelu {
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                } => {
                    let conv = convs.next().expect("one convolution per ConvRelu step");
                    let geometry = ConvGeometry {
                        in_channels,
                        out_channels,
                        kernel,
                        stride,
                        padding,
                    };
                    let kernel: Vec<f32> = conv.kernel.flatten_all()?.to_vec1()?;
                    let bias: Vec<f32> = conv.bias.flatten_all()?.to_vec1()?;
                    PatchStep::Conv(Box::new(PatchConv::new(geometry, &kernel, &bias)))
                }
                Step::MaxPool { size, stride } => PatchStep::MaxPool(PoolGeometry { size, stride }),
                Step::Tap => {
                    heads += 1;
                    PatchStep::Tap { head: heads - 1 }
                }
            });
        }
        let heads = network
            .heads
            .iter()
            .map(|head| head.flatten_all()?.to_vec1())
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            backbone: network.backbone,
            steps: patch_steps,
            heads,
        })
    }

    /// The network of [`Lpips::load_default`].
    pub fn load_default(backbone: Backbone) -> Result<Self, LpipsError> {
        Self::new(&Lpips::load_default(backbone)?)
    }

    /// The backbone.
    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// The steps, in network order.
    pub fn steps(&self) -> &[PatchStep] {
        &self.steps
    }

    /// The linear heads, one weight per channel of their tapped layer.
    pub fn heads(&self) -> &[Vec<f32>] {
        &self.heads
    }

    /// The mean LPIPS distance over the patch pairs `(a[i], b[i])` and its gradient with
    /// respect to each `a` patch, layer by layer with a hand-written backward pass.
    pub fn distance_and_gradient(
        &self,
        a: &[&[f32]],
        b: &[&[f32]],
        width: usize,
        height: usize,
    ) -> Result<(f32, Vec<Vec<f32>>), LpipsError> {
        if a.is_empty() || a.len() != b.len() {
            return Err(LpipsError::PatchCount {
                a_count: a.len(),
                b_count: b.len(),
            });
        }
        check_size(self.backbone, width, height)?;
        check_images(a, "a", width, height)?;
        check_images(b, "b", width, height)?;
        let images: Vec<f32> = a
            .iter()
            .chain(b)
            .flat_map(|image| image.iter())
            .copied()
            .collect();
        let mut d_a = vec![0.0; images.len() / 2];
        let distance = self.add_gradient(&images, a.len(), [height, width], 1.0, &mut d_a);
        let patch = width * height * 3;
        Ok((
            distance,
            d_a.chunks_exact(patch).map(<[f32]>::to_vec).collect(),
        ))
    }

    /// The mean distance of `pairs` pairs of `height × width` images (`images`: the `a`
    /// images, then the `b` ones, checked), adding `weight ×` its gradient at the `a` images
    /// to `d_a`.
    fn add_gradient(
        &self,
        images: &[f32],
        pairs: usize,
        [height, width]: [usize; 2],
        weight: f32,
        d_a: &mut [f32],
    ) -> f32 {
        let mut scaled = vec![0.0; images.len()];
        scale_input(images, &mut scaled);
        let mut layers = vec![Layer {
            extent: [height, width, 3],
            values: scaled,
            argmax: Vec::new(),
        }];
        let count = 2 * pairs;
        for step in &self.steps {
            let below = layers.last().expect("the input is a layer");
            let layer = match step {
                PatchStep::Conv(conv) => {
                    let extent = conv.geometry.output(below.extent);
                    let rows = count * extent[0] * extent[1];
                    let mut cols = vec![0.0; rows * conv.geometry.columns()];
                    im2col(
                        &below.values,
                        count,
                        below.extent,
                        &conv.geometry,
                        &mut cols,
                    );
                    let mut values = vec![0.0; rows * extent[2]];
                    dense_rows(&conv.forward, &cols, &mut values);
                    Layer {
                        extent,
                        values,
                        argmax: Vec::new(),
                    }
                }
                PatchStep::MaxPool(pool) => {
                    let extent = pool.output(below.extent);
                    let len = count * extent.iter().product::<usize>();
                    let (mut values, mut argmax) = (vec![0.0; len], vec![0; len]);
                    max_pool(
                        &below.values,
                        count,
                        below.extent,
                        pool,
                        &mut values,
                        &mut argmax,
                    );
                    Layer {
                        extent,
                        values,
                        argmax,
                    }
                }
                PatchStep::Tap { .. } => continue,
            };
            layers.push(layer);
        }

        let top = layers.last().expect("the input is a layer");
        let mut gradient = vec![0.0; pairs * top.extent.iter().product::<usize>()];
        let mut distance = 0.0;
        for step in self.steps.iter().rev() {
            match step {
                PatchStep::Tap { head } => {
                    let layer = layers.last().expect("a tap follows a layer");
                    let head = &self.heads[*head];
                    distance +=
                        compare_features(&layer.values, pairs, layer.extent, head, &mut gradient);
                }
                PatchStep::Conv(conv) => {
                    let (layer, below) = pop_layer(&mut layers);
                    relu_backward(&mut gradient, &layer.values);
                    let rows = gradient.len() / conv.geometry.out_channels;
                    let mut d_cols = vec![0.0; rows * conv.geometry.columns()];
                    dense_rows(&conv.backward, &gradient, &mut d_cols);
                    gradient = vec![0.0; pairs * below.extent.iter().product::<usize>()];
                    col2im(&d_cols, pairs, below.extent, &conv.geometry, &mut gradient);
                }
                PatchStep::MaxPool(pool) => {
                    let (layer, below) = pop_layer(&mut layers);
                    let d_out = std::mem::replace(
                        &mut gradient,
                        vec![0.0; pairs * below.extent.iter().product::<usize>()],
                    );
                    let argmax = &layer.argmax;
                    max_pool_backward(&d_out, argmax, pairs, below.extent, pool, &mut gradient);
                }
            }
        }
        scale_input_backward(&gradient, weight, d_a);
        distance
    }
}

/// Takes the last layer off the stack; returns it and the layer below it.
fn pop_layer(layers: &mut Vec<Layer>) -> (Layer, &Layer) {
    let layer = layers.pop().expect("one layer per convolution and pooling");
    let below = layers.last().expect("the input is below every step");
    (layer, below)
}

/// RGB values in [0, 1] → network input: mapped to [-1, 1], then shifted and scaled per
/// channel (the package's `ScalingLayer`).
pub fn scale_input(images: &[f32], out: &mut [f32]) {
    for (pixel, scaled) in images.chunks_exact(3).zip(out.chunks_exact_mut(3)) {
        for c in 0..3 {
            scaled[c] = (2.0 * pixel[c] - 1.0 - INPUT_SHIFT[c]) / INPUT_SCALE[c];
        }
    }
}

/// Adds `weight ×` the gradient at the images of [`scale_input`] to `d_images`, from the
/// gradient at its output.
pub fn scale_input_backward(d_scaled: &[f32], weight: f32, d_images: &mut [f32]) {
    for (d, to) in d_scaled.chunks_exact(3).zip(d_images.chunks_exact_mut(3)) {
        for c in 0..3 {
            to[c] += weight * d[c] * (2.0 / INPUT_SCALE[c]);
        }
    }
}

/// The input patch of each output pixel of `conv` as one row of [`ConvGeometry::columns`]
/// values: input channel-major, then kernel row and column (zero where the kernel hangs over
/// the border), then 1. `images` inputs of `extent`, one after the other.
pub fn im2col(input: &[f32], images: usize, extent: Extent, conv: &ConvGeometry, cols: &mut [f32]) {
    let [height, width, channels] = extent;
    let [out_height, out_width, _] = conv.output(extent);
    let columns = conv.columns();
    let k = conv.kernel;
    let rows = images * out_height * out_width;
    cols[..rows * columns]
        .par_chunks_mut(columns)
        .enumerate()
        .for_each(|(row, out)| {
            let image = row / (out_height * out_width);
            let (oy, ox) = ((row / out_width) % out_height, row % out_width);
            let pixels = &input[image * height * width * channels..];
            for (column, value) in out[..columns - 1].iter_mut().enumerate() {
                let (c, ky, kx) = (column / (k * k), (column / k) % k, column % k);
                let iy = (oy * conv.stride + ky).checked_sub(conv.padding);
                let ix = (ox * conv.stride + kx).checked_sub(conv.padding);
                *value = match (iy, ix) {
                    (Some(iy), Some(ix)) if iy < height && ix < width => {
                        pixels[(iy * width + ix) * channels + c]
                    }
                    _ => 0.0,
                };
            }
            out[columns - 1] = 1.0;
        });
}

/// The gradient at the input of [`im2col`] from the gradient at its rows (`d_cols`; the bias
/// column is ignored): each input value gathers the columns that copied it.
pub fn col2im(
    d_cols: &[f32],
    images: usize,
    extent: Extent,
    conv: &ConvGeometry,
    d_input: &mut [f32],
) {
    let [height, width, channels] = extent;
    let [out_height, out_width, _] = conv.output(extent);
    let columns = conv.columns();
    let (k, stride, padding) = (conv.kernel, conv.stride, conv.padding);
    d_input[..images * height * width * channels]
        .par_chunks_mut(channels)
        .enumerate()
        .for_each(|(pixel, d_pixel)| {
            let image = pixel / (height * width);
            let (iy, ix) = ((pixel / width) % height, pixel % width);
            d_pixel.fill(0.0);
            for ky in 0..k {
                let Some(oy) = output_index(iy + padding, ky, stride, out_height) else {
                    continue;
                };
                for kx in 0..k {
                    let Some(ox) = output_index(ix + padding, kx, stride, out_width) else {
                        continue;
                    };
                    let row = &d_cols[((image * out_height + oy) * out_width + ox) * columns..];
                    for (c, d) in d_pixel.iter_mut().enumerate() {
                        *d += row[(c * k + ky) * k + kx];
                    }
                }
            }
        });
}

/// The output index whose kernel tap `tap` lands on padded input index `padded`, if any.
fn output_index(padded: usize, tap: usize, stride: usize, outputs: usize) -> Option<usize> {
    let offset = padded.checked_sub(tap)?;
    (offset % stride == 0 && offset / stride < outputs).then_some(offset / stride)
}

/// Max pooling of `images` inputs of `extent`; `argmax` receives, for each output value, the
/// input pixel (`y · width + x`) it came from (the first of equal maxima in row-major order).
pub fn max_pool(
    input: &[f32],
    images: usize,
    extent: Extent,
    pool: &PoolGeometry,
    out: &mut [f32],
    argmax: &mut [u32],
) {
    let [height, width, channels] = extent;
    let [out_height, out_width, _] = pool.output(extent);
    let len = images * out_height * out_width * channels;
    for (index, (value, from)) in out[..len].iter_mut().zip(&mut argmax[..len]).enumerate() {
        let c = index % channels;
        let pixel = index / channels;
        let image = pixel / (out_height * out_width);
        let (oy, ox) = ((pixel / out_width) % out_height, pixel % out_width);
        let pixels = &input[image * height * width * channels..];
        let (mut best, mut best_pixel) = (f32::NEG_INFINITY, 0);
        for dy in 0..pool.size {
            for dx in 0..pool.size {
                let source = (oy * pool.stride + dy) * width + ox * pool.stride + dx;
                let candidate = pixels[source * channels + c];
                if candidate > best {
                    (best, best_pixel) = (candidate, source);
                }
            }
        }
        *value = best;
        *from = best_pixel as u32;
    }
}

/// The gradient at the input of [`max_pool`] from that at its output: each input value
/// gathers the outputs whose maximum it was.
pub fn max_pool_backward(
    d_out: &[f32],
    argmax: &[u32],
    images: usize,
    extent: Extent,
    pool: &PoolGeometry,
    d_input: &mut [f32],
) {
    let [height, width, channels] = extent;
    let [out_height, out_width, _] = pool.output(extent);
    let len = images * height * width * channels;
    for (index, d) in d_input[..len].iter_mut().enumerate() {
        let c = index % channels;
        let pixel = index / channels;
        let image = pixel / (height * width);
        let within = pixel % (height * width);
        let (iy, ix) = (within / width, within % width);
        *d = 0.0;
        for wy in 0..pool.size {
            let Some(oy) = output_index(iy, wy, pool.stride, out_height) else {
                continue;
            };
            for wx in 0..pool.size {
                let Some(ox) = output_index(ix, wx, pool.stride, out_width) else {
                    continue;
                };
                let out_index = ((image * out_height + oy) * out_width + ox) * channels + c;
                if argmax[out_index] as usize == within {
                    *d += d_out[out_index];
                }
            }
        }
    }
}

/// Zeroes the gradient where the ReLU output `y` is not positive.
fn relu_backward(d_y: &mut [f32], y: &[f32]) {
    for (d, &y) in d_y.iter_mut().zip(y) {
        *d = if y > 0.0 { *d } else { 0.0 };
    }
}

/// One tapped layer's share of the mean distance over `pairs` pairs (`features`: the `a`
/// images, then the `b` ones, each of `extent`): the features of each pixel divided by their
/// norm (+ eps), squared differences weighted by `head`, averaged over pixels and pairs.
/// Adds its gradient at the `a` features to `d_a`.
pub fn compare_features(
    features: &[f32],
    pairs: usize,
    extent: Extent,
    head: &[f32],
    d_a: &mut [f32],
) -> f32 {
    let channels = extent[2];
    let pixels = extent[0] * extent[1];
    let scale = 1.0 / (pairs * pixels) as f32;
    let (a, b) = features.split_at(pairs * pixels * channels);
    let mut total = 0.0;
    for ((fa, fb), d) in a
        .chunks_exact(channels)
        .zip(b.chunks_exact(channels))
        .zip(d_a.chunks_exact_mut(channels))
    {
        total += compare_pixel(fa, fb, head, scale, d);
    }
    total
}

/// [`compare_features`] of one pixel: `scale · Σ_c head[c] (â_c − b̂_c)²`, adding its gradient
/// at `fa` to `d_a`.
fn compare_pixel(fa: &[f32], fb: &[f32], head: &[f32], scale: f32, d_a: &mut [f32]) -> f32 {
    let norm =
        |f: &[f32]| (f.iter().map(|v| v * v).sum::<f32>() + NORM_SQUARED_FLOOR as f32).sqrt();
    let (norm_a, norm_b) = (norm(fa), norm(fb));
    let (inverse_a, inverse_b) = (
        1.0 / (norm_a + NORMALISE_EPS as f32),
        1.0 / (norm_b + NORMALISE_EPS as f32),
    );
    let mut distance = 0.0;
    let mut projection = 0.0;
    for c in 0..fa.len() {
        let difference = fa[c] * inverse_a - fb[c] * inverse_b;
        distance += head[c] * difference * difference;
        projection += 2.0 * head[c] * difference * fa[c];
    }
    // d(â_c)/d(fa_j) = δ_cj / (n + eps) − fa_c fa_j / ((n + eps)² n).
    let along = scale * projection * inverse_a * inverse_a / norm_a;
    for c in 0..fa.len() {
        let difference = fa[c] * inverse_a - fb[c] * inverse_b;
        d_a[c] += scale * 2.0 * head[c] * difference * inverse_a - fa[c] * along;
    }
    scale * distance
}

/// `y = x · Wᵀ` (and the layer's activation) for every row, rows split across the threads.
fn dense_rows(layer: &PackedConv, x: &[f32], y: &mut [f32]) {
    let isa = Isa::detect();
    let outputs = layer.shape.output[2];
    y.par_chunks_mut(ROWS_PER_TASK * outputs)
        .enumerate()
        .for_each(|(task, out)| conv_pixels(isa, layer, x, None, task * ROWS_PER_TASK, out));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(count: usize, seed: usize) -> Vec<f32> {
        (0..count)
            .map(|i| ((i * 37 + seed * 11) % 101) as f32 / 50.0 - 1.0)
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
    }

    /// `col2im` is the adjoint of `im2col` (without its bias column): ⟨im2col x, y⟩ = ⟨x, col2im y⟩.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let extent = [13, 10, 3];
        for (kernel, stride, padding) in [(3, 1, 1), (11, 4, 2), (5, 1, 2), (2, 2, 0)] {
            let conv = ConvGeometry {
                in_channels: 3,
                out_channels: 4,
                kernel,
                stride,
                padding,
            };
            let images = 2;
            let [oh, ow, _] = conv.output(extent);
            let rows = images * oh * ow;
            let x = values(images * extent.iter().product::<usize>(), 1);
            let mut cols = vec![f32::NAN; rows * conv.columns()];
            im2col(&x, images, extent, &conv, &mut cols);
            assert!(
                cols.chunks_exact(conv.columns())
                    .all(|row| row[row.len() - 1] == 1.0)
            );
            let mut y = values(cols.len(), 2);
            for row in y.chunks_exact_mut(conv.columns()) {
                row[row.len() - 1] = 0.0;
            }
            let mut back = vec![f32::NAN; x.len()];
            col2im(&y, images, extent, &conv, &mut back);
            let (left, right) = (dot(&cols, &y), dot(&x, &back));
            assert!(
                (left - right).abs() <= 1e-4 * left.abs().max(1.0),
                "kernel {kernel}, stride {stride}, padding {padding}: {left} vs {right}"
            );
        }
    }

    /// Each pooled value is its window's maximum, and its gradient goes to that one input.
    #[test]
    fn max_pool_gradient_goes_to_each_windows_maximum() {
        let extent = [9, 8, 2];
        for (size, stride) in [(2, 2), (3, 2)] {
            let pool = PoolGeometry { size, stride };
            let [oh, ow, _] = pool.output(extent);
            let images = 2;
            let x = values(images * extent.iter().product::<usize>(), 3);
            let len = images * oh * ow * 2;
            let (mut out, mut argmax) = (vec![0.0; len], vec![0; len]);
            max_pool(&x, images, extent, &pool, &mut out, &mut argmax);
            let d_out = values(len, 4);
            let mut d_x = vec![f32::NAN; x.len()];
            max_pool_backward(&d_out, &argmax, images, extent, &pool, &mut d_x);
            let mut expected = vec![0.0; x.len()];
            for (index, (&value, &from)) in out.iter().zip(&argmax).enumerate() {
                let (c, pixel) = (index % 2, index / 2);
                let image = pixel / (oh * ow);
                let (oy, ox) = ((pixel / ow) % oh, pixel % ow);
                let at = |y: usize, x_: usize| x[((image * 9 + y) * 8 + x_) * 2 + c];
                let window_max = (0..size)
                    .flat_map(|dy| (0..size).map(move |dx| (dy, dx)))
                    .map(|(dy, dx)| at(oy * stride + dy, ox * stride + dx))
                    .fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(value, window_max);
                let from = from as usize;
                assert_eq!(at(from / 8, from % 8), value);
                expected[(image * 72 + from) * 2 + c] += d_out[index];
            }
            for (index, (d, e)) in d_x.iter().zip(&expected).enumerate() {
                assert!(
                    (d - e).abs() <= 1e-6,
                    "size {size}, stride {stride}, {index}: {d} vs {e}"
                );
            }
        }
    }
}
