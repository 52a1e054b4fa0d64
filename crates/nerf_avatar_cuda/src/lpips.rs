//! Patch LPIPS on the GPU: [`PatchLpips`] step by step on the device (`kernels/lpips.cu`),
//! its dense layers on the tiled kernels of `kernels/mlp.cu` ([`mlp::dense_layer`]). One
//! host function per CPU twin of `metrics::lpips::patch`, with the same name; the training
//! loop's patch loss never leaves the device but for one download of the distances.

use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, DeviceRepr};

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::mlp;
use super::ops::{DeviceSum, as_u32, check_len, check_view};
use nerf_avatar_eval::metrics::lpips::Backbone;
use nerf_avatar_eval::metrics::lpips::patch::{
    ConvGeometry, Extent, PatchLpips, PatchStep, PoolGeometry,
};

/// A backbone step with its weights on the device.
enum DeviceStep {
    Conv {
        geometry: ConvGeometry,
        /// [`nerf_avatar_eval::metrics::lpips::patch::PatchConv::weights`].
        weights: CudaSlice<f32>,
    },
    MaxPool(PoolGeometry),
    Tap {
        head: usize,
    },
}

/// [`PatchLpips`] with its weights on a device.
pub struct CudaLpips {
    backbone: Backbone,
    steps: Vec<DeviceStep>,
    heads: Vec<CudaSlice<f32>>,
}

/// One activation of a forward run, kept for the backward pass.
struct DeviceLayer {
    extent: Extent,
    values: CudaSlice<f32>,
    /// For a max pooling's output: the input pixel of each value.
    argmax: Option<CudaSlice<u32>>,
}

impl CudaLpips {
    /// Uploads the weights of `lpips`.
    pub fn new(device: &CudaDevice, lpips: &PatchLpips) -> Result<Self, CudaError> {
        let steps = lpips
            .steps()
            .iter()
            .map(|step| {
                Ok(match step {
                    PatchStep::Conv(conv) => DeviceStep::Conv {
                        geometry: conv.geometry,
                        weights: device.upload(&conv.weights)?,
                    },
                    PatchStep::MaxPool(pool) => DeviceStep::MaxPool(*pool),
                    PatchStep::Tap { head } => DeviceStep::Tap { head: *head },
                })
            })
            .collect::<Result<_, CudaError>>()?;
        let heads = lpips
            .heads()
            .iter()
            .map(|head| device.upload(head))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            backbone: lpips.backbone(),
            steps,
            heads,
        })
    }

    /// The mean distance over `pairs` pairs of `height × width` RGB patches (`a`, `b`: the
    /// patches one after the other, values in [0, 1]), read when asked, adding `weight ×` its
    /// gradient at the `a` patches to `d_a`: `PatchLpips::add_gradient` on the device.
    #[expect(
        clippy::too_many_arguments,
        reason = "the twin of add_gradient, with the patches in two buffers"
    )]
    pub fn add_gradient(
        &self,
        device: &CudaDevice,
        a: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        pairs: usize,
        [height, width]: [usize; 2],
        weight: f32,
        d_a: &mut CudaSlice<f32>,
    ) -> Result<DeviceSum<f32>, CudaError> {
        let min_side = self.backbone.min_image_side();
        if pairs == 0 || height < min_side || width < min_side {
            return Err(CudaError::Unsupported(format!(
                "LPIPS {} needs at least one pair of patches of at least {min_side}×{min_side}, got {pairs} of {width}×{height}",
                self.backbone
            )));
        }
        let patch_len = pairs * height * width * 3;
        check_len("a patches", a, patch_len)?;
        check_len("b patches", b, patch_len)?;
        check_len("d_a", d_a, patch_len)?;
        let mut scaled = device.zeros(2 * patch_len)?;
        scale_input(
            device,
            &a.slice(..patch_len),
            &mut scaled.slice_mut(..patch_len),
        )?;
        scale_input(
            device,
            &b.slice(..patch_len),
            &mut scaled.slice_mut(patch_len..),
        )?;
        let mut layers = vec![DeviceLayer {
            extent: [height, width, 3],
            values: scaled,
            argmax: None,
        }];
        let count = 2 * pairs;
        let mut compared = 0;
        for step in &self.steps {
            let below = layers.last().expect("the input is a layer");
            let layer = match step {
                DeviceStep::Conv { geometry, weights } => {
                    let extent = geometry.output(below.extent);
                    let rows = count * extent[0] * extent[1];
                    let mut cols = device.zeros(rows * geometry.columns())?;
                    im2col(
                        device,
                        &below.values,
                        count,
                        below.extent,
                        geometry,
                        &mut cols,
                    )?;
                    let mut values = device.zeros(rows * extent[2])?;
                    let shape = [rows, geometry.columns(), geometry.out_channels];
                    let (x, w) = (cols.slice(..), weights.slice(..));
                    mlp::dense_layer(device, &x, &w, shape, true, &mut values.slice_mut(..))?;
                    DeviceLayer {
                        extent,
                        values,
                        argmax: None,
                    }
                }
                DeviceStep::MaxPool(pool) => {
                    let extent = pool.output(below.extent);
                    let len = count * extent.iter().product::<usize>();
                    let (mut values, mut argmax) = (device.zeros(len)?, device.zeros(len)?);
                    let input = &below.values;
                    max_pool(
                        device,
                        input,
                        count,
                        below.extent,
                        pool,
                        &mut values,
                        &mut argmax,
                    )?;
                    DeviceLayer {
                        extent,
                        values,
                        argmax: Some(argmax),
                    }
                }
                DeviceStep::Tap { .. } => {
                    compared += pairs * below.extent[0] * below.extent[1];
                    continue;
                }
            };
            layers.push(layer);
        }

        let top = layers.last().expect("the input is a layer");
        let mut gradient = device.zeros(pairs * top.extent.iter().product::<usize>())?;
        let mut distances = device.zeros(compared)?;
        let mut written = 0;
        for step in self.steps.iter().rev() {
            match step {
                DeviceStep::Tap { head } => {
                    let layer = layers.last().expect("a tap follows a layer");
                    let pixels = pairs * layer.extent[0] * layer.extent[1];
                    let mut out = distances.slice_mut(written..written + pixels);
                    let features = (&layer.values, pairs, layer.extent);
                    compare_features(
                        device,
                        features,
                        &self.heads[*head],
                        &mut out,
                        &mut gradient,
                    )?;
                    written += pixels;
                }
                DeviceStep::Conv { geometry, weights } => {
                    let layer = layers.pop().expect("one layer per convolution");
                    let below = layers.last().expect("the input is below every step");
                    let count = gradient.len();
                    mlp::relu_backward(device, &mut gradient, &layer.values.slice(..), count)?;
                    let rows = gradient.len() / geometry.out_channels;
                    let mut d_cols = device.zeros(rows * geometry.columns())?;
                    let shape = [rows, geometry.columns(), geometry.out_channels];
                    let (d_y, w) = (gradient.slice(..), weights.slice(..));
                    mlp::dense_layer_input_gradient(device, &d_y, &w, shape, &mut d_cols)?;
                    gradient = device.zeros(pairs * below.extent.iter().product::<usize>())?;
                    col2im(
                        device,
                        &d_cols,
                        pairs,
                        below.extent,
                        geometry,
                        &mut gradient,
                    )?;
                }
                DeviceStep::MaxPool(pool) => {
                    let layer = layers.pop().expect("one layer per pooling");
                    let below = layers.last().expect("the input is below every step");
                    let argmax = layer.argmax.as_ref().ok_or_else(|| {
                        CudaError::Unsupported("a pooling layer without its maxima".into())
                    })?;
                    let mut d_input =
                        device.zeros(pairs * below.extent.iter().product::<usize>())?;
                    max_pool_backward(
                        device,
                        &gradient,
                        argmax,
                        pairs,
                        below.extent,
                        pool,
                        &mut d_input,
                    )?;
                    gradient = d_input;
                }
            }
        }
        scale_input_backward(device, &gradient, weight, d_a)?;
        Ok(DeviceSum::new(distances, compared, 1.0))
    }
}

/// A layer's geometry as `kernels/lpips.cu` takes it: `images` inputs of
/// `height × width × channels`, outputs of `out_height × out_width`, a square window of side
/// `window` moved by `stride` over the input padded with `padding` zeros.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerGeometry {
    images: u32,
    height: u32,
    width: u32,
    channels: u32,
    out_height: u32,
    out_width: u32,
    window: u32,
    stride: u32,
    padding: u32,
}

// SAFETY: #[repr(C)] plain integers, laid out as the struct in lpips.cu.
unsafe impl DeviceRepr for LayerGeometry {}

impl LayerGeometry {
    /// `images` inputs of `extent` to an output of `output` under a `window` moved by
    /// `stride` with `padding`.
    fn new(
        images: usize,
        extent: Extent,
        output: Extent,
        [window, stride, padding]: [usize; 3],
    ) -> Result<Self, CudaError> {
        Ok(Self {
            images: as_u32("images", images)?,
            height: as_u32("height", extent[0])?,
            width: as_u32("width", extent[1])?,
            channels: as_u32("channels", extent[2])?,
            out_height: as_u32("output height", output[0])?,
            out_width: as_u32("output width", output[1])?,
            window: as_u32("window", window)?,
            stride: as_u32("stride", stride)?,
            padding: as_u32("padding", padding)?,
        })
    }

    /// The convolution `conv` of `images` inputs of `extent`.
    pub fn conv(images: usize, extent: Extent, conv: &ConvGeometry) -> Result<Self, CudaError> {
        let window = [conv.kernel, conv.stride, conv.padding];
        Self::new(images, extent, conv.output(extent), window)
    }

    /// The pooling `pool` of `images` inputs of `extent`.
    pub fn pool(images: usize, extent: Extent, pool: &PoolGeometry) -> Result<Self, CudaError> {
        Self::new(
            images,
            extent,
            pool.output(extent),
            [pool.size, pool.stride, 0],
        )
    }

    /// Values in the inputs.
    fn input_len(&self) -> usize {
        self.images as usize * self.height as usize * self.width as usize * self.channels as usize
    }

    /// Output pixels of all images.
    fn output_pixels(&self) -> usize {
        self.images as usize * self.out_height as usize * self.out_width as usize
    }
}

/// [`nerf_avatar_eval::metrics::lpips::patch::scale_input`].
pub fn scale_input(
    device: &CudaDevice,
    images: &CudaView<'_, f32>,
    out: &mut CudaViewMut<'_, f32>,
) -> Result<(), CudaError> {
    if out.len() < images.len() {
        return Err(CudaError::Unsupported(format!(
            "scaled LPIPS input: {} values for {} inputs",
            out.len(),
            images.len()
        )));
    }
    let count = images.len() as u64;
    launch!(
        device,
        "lpips_scale_input",
        grid_1d(images.len()),
        images,
        &count,
        out
    )
}

/// [`nerf_avatar_eval::metrics::lpips::patch::scale_input_backward`].
pub fn scale_input_backward(
    device: &CudaDevice,
    d_scaled: &CudaSlice<f32>,
    weight: f32,
    d_images: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("d_images", d_images, d_scaled.len())?;
    let count = d_scaled.len() as u64;
    let config = grid_1d(d_scaled.len());
    launch!(
        device,
        "lpips_scale_input_backward",
        config,
        d_scaled,
        &count,
        &weight,
        d_images
    )
}

/// [`nerf_avatar_eval::metrics::lpips::patch::im2col`].
pub fn im2col(
    device: &CudaDevice,
    input: &CudaSlice<f32>,
    images: usize,
    extent: Extent,
    conv: &ConvGeometry,
    cols: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let geometry = LayerGeometry::conv(images, extent, conv)?;
    let len = geometry.output_pixels() * conv.columns();
    check_len("input", input, geometry.input_len())?;
    check_len("cols", cols, len)?;
    launch!(device, "lpips_im2col", grid_1d(len), input, &geometry, cols)
}

/// [`nerf_avatar_eval::metrics::lpips::patch::col2im`].
pub fn col2im(
    device: &CudaDevice,
    d_cols: &CudaSlice<f32>,
    images: usize,
    extent: Extent,
    conv: &ConvGeometry,
    d_input: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let geometry = LayerGeometry::conv(images, extent, conv)?;
    let len = geometry.input_len();
    check_len("d_cols", d_cols, geometry.output_pixels() * conv.columns())?;
    check_len("d_input", d_input, len)?;
    launch!(
        device,
        "lpips_col2im",
        grid_1d(len),
        d_cols,
        &geometry,
        d_input
    )
}

/// [`nerf_avatar_eval::metrics::lpips::patch::max_pool`].
pub fn max_pool(
    device: &CudaDevice,
    input: &CudaSlice<f32>,
    images: usize,
    extent: Extent,
    pool: &PoolGeometry,
    out: &mut CudaSlice<f32>,
    argmax: &mut CudaSlice<u32>,
) -> Result<(), CudaError> {
    let geometry = LayerGeometry::pool(images, extent, pool)?;
    let len = geometry.output_pixels() * extent[2];
    check_len("input", input, geometry.input_len())?;
    check_len("pooled", out, len)?;
    check_len("argmax", argmax, len)?;
    launch!(
        device,
        "lpips_max_pool",
        grid_1d(len),
        input,
        &geometry,
        out,
        argmax
    )
}

/// [`nerf_avatar_eval::metrics::lpips::patch::max_pool_backward`].
pub fn max_pool_backward(
    device: &CudaDevice,
    d_out: &CudaSlice<f32>,
    argmax: &CudaSlice<u32>,
    images: usize,
    extent: Extent,
    pool: &PoolGeometry,
    d_input: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let geometry = LayerGeometry::pool(images, extent, pool)?;
    let (outputs, inputs) = (geometry.output_pixels() * extent[2], geometry.input_len());
    check_len("d_pooled", d_out, outputs)?;
    check_len("argmax", argmax, outputs)?;
    check_len("d_input", d_input, inputs)?;
    let config = grid_1d(inputs);
    launch!(
        device,
        "lpips_max_pool_backward",
        config,
        d_out,
        argmax,
        &geometry,
        d_input
    )
}

/// [`nerf_avatar_eval::metrics::lpips::patch::compare_features`], its share of the distance per pixel
/// written into `distances` (`pairs × pixels` values; the host sums them). `features`: the
/// tapped layer's values, the pair count and one image's extent.
pub fn compare_features(
    device: &CudaDevice,
    (features, pairs, extent): (&CudaSlice<f32>, usize, Extent),
    head: &CudaSlice<f32>,
    distances: &mut CudaViewMut<'_, f32>,
    d_a: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let pixels = extent[0] * extent[1];
    let channels = extent[2];
    check_len("features", features, 2 * pairs * pixels * channels)?;
    check_len("head", head, channels)?;
    check_len("d_a", d_a, pairs * pixels * channels)?;
    check_view("distances", &distances.as_view(), pairs * pixels)?;
    let scale = 1.0 / (pairs * pixels) as f32;
    let (pairs32, pixels32, channels32) = (
        as_u32("pairs", pairs)?,
        as_u32("pixels", pixels)?,
        as_u32("channels", channels)?,
    );
    launch!(
        device,
        "lpips_compare",
        grid_1d(pairs * pixels),
        features,
        &pairs32,
        &pixels32,
        &channels32,
        head,
        &scale,
        distances,
        d_a
    )
}
