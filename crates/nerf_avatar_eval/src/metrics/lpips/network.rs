//! The LPIPS v0.1 network: input scaling, the backbone slices up to the five tapped ReLU
//! layers, and the per-layer comparison (unit-normalised features, squared differences,
//! linear head, spatial average), as candle tensor operations.

use candle_core::{D, Device, Tensor};

use super::Backbone;
use super::convolve::convolve;

/// The LPIPS v0.1 `ScalingLayer` shift, per RGB channel, applied to inputs in [-1, 1].
pub(super) const INPUT_SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
/// The LPIPS v0.1 `ScalingLayer` scale, per RGB channel.
pub(super) const INPUT_SCALE: [f32; 3] = [0.458, 0.448, 0.450];
/// The `eps` of the package's `normalize_tensor`: features are divided by `norm + eps`.
pub(super) const NORMALISE_EPS: f64 = 1e-10;
/// Added under the square root of the feature norm so that its gradient stays finite at
/// all-zero feature vectors; far below f32 resolution for any non-zero norm.
pub(super) const NORM_SQUARED_FLOOR: f64 = 1e-20;

/// One step of a backbone slice.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    /// A convolution with bias, followed by a ReLU.
    ConvRelu {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    /// Max pooling without padding (floor mode).
    MaxPool { size: usize, stride: usize },
    /// The current activation is one of the five compared layers.
    Tap,
}

const fn conv3(in_channels: usize, out_channels: usize) -> Step {
    Step::ConvRelu {
        in_channels,
        out_channels,
        kernel: 3,
        stride: 1,
        padding: 1,
    }
}

/// torchvision AlexNet `features` up to relu1..relu5.
const ALEX_STEPS: &[Step] = &[
    Step::ConvRelu {
        in_channels: 3,
        out_channels: 64,
        kernel: 11,
        stride: 4,
        padding: 2,
    },
    Step::Tap,
    Step::MaxPool { size: 3, stride: 2 },
    Step::ConvRelu {
        in_channels: 64,
        out_channels: 192,
        kernel: 5,
        stride: 1,
        padding: 2,
    },
    Step::Tap,
    Step::MaxPool { size: 3, stride: 2 },
    conv3(192, 384),
    Step::Tap,
    conv3(384, 256),
    Step::Tap,
    conv3(256, 256),
    Step::Tap,
];

/// torchvision VGG16 `features` up to relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
const VGG_STEPS: &[Step] = &[
    conv3(3, 64),
    conv3(64, 64),
    Step::Tap,
    Step::MaxPool { size: 2, stride: 2 },
    conv3(64, 128),
    conv3(128, 128),
    Step::Tap,
    Step::MaxPool { size: 2, stride: 2 },
    conv3(128, 256),
    conv3(256, 256),
    conv3(256, 256),
    Step::Tap,
    Step::MaxPool { size: 2, stride: 2 },
    conv3(256, 512),
    conv3(512, 512),
    conv3(512, 512),
    Step::Tap,
    Step::MaxPool { size: 2, stride: 2 },
    conv3(512, 512),
    conv3(512, 512),
    conv3(512, 512),
    Step::Tap,
];

/// The steps of a backbone's slices, in order.
pub(super) fn steps(backbone: Backbone) -> &'static [Step] {
    match backbone {
        Backbone::Alex => ALEX_STEPS,
        Backbone::Vgg => VGG_STEPS,
    }
}

/// Whether an image side of `size` pixels leaves every tapped layer at least one pixel.
fn side_fits(backbone: Backbone, size: usize) -> bool {
    let mut side = size;
    for step in steps(backbone) {
        let (window, stride, padding) = match *step {
            Step::ConvRelu {
                kernel,
                stride,
                padding,
                ..
            } => (kernel, stride, padding),
            Step::MaxPool { size, stride } => (size, stride, 0),
            Step::Tap => continue,
        };
        if side + 2 * padding < window {
            return false;
        }
        side = (side + 2 * padding - window) / stride + 1;
    }
    true
}

/// The smallest image side the backbone accepts (31 for AlexNet, 16 for VGG16).
pub(super) fn min_image_side(backbone: Backbone) -> usize {
    (1..)
        .find(|&size| side_fits(backbone, size))
        .expect("a large enough side always fits")
}

/// A backbone convolution's kernel `[out, in, kh, kw]` and its bias `[1, out, 1, 1]`.
pub(super) struct Conv {
    pub(super) kernel: Tensor,
    pub(super) bias: Tensor,
}

/// The weights of one LPIPS v0.1 network.
pub(super) struct Network {
    pub(super) backbone: Backbone,
    /// The backbone convolutions in network order.
    pub(super) convs: Vec<Conv>,
    /// The five linear heads, `[1, channels, 1, 1]`, one per tapped layer.
    pub(super) heads: Vec<Tensor>,
}

impl Network {
    /// Per-pair LPIPS distances `[N]` of two `[N, H, W, 3]` image batches with values in
    /// [0, 1].
    pub(super) fn distances(
        &self,
        images_a: &Tensor,
        images_b: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let pair_count = images_a.dim(0)?;
        let both = Tensor::cat(&[images_a, images_b], 0)?;
        let taps = self.tapped_features(&scale_input(&both)?)?;
        let mut total: Option<Tensor> = None;
        for (features, head) in taps.iter().zip(&self.heads) {
            let normalised = unit_normalise(features)?;
            let difference = (normalised.narrow(0, 0, pair_count)?
                - normalised.narrow(0, pair_count, pair_count)?)?
            .sqr()?;
            let layer_distance = difference
                .conv2d(head, 0, 1, 1, 1)?
                .mean_keepdim(D::Minus1)?
                .mean_keepdim(D::Minus2)?
                .flatten_all()?;
            total = Some(match total {
                Some(sum) => (sum + layer_distance)?,
                None => layer_distance,
            });
        }
        Ok(total.expect("every backbone has five tapped layers"))
    }

    /// Runs the backbone slices on scaled `[N, 3, H, W]` inputs and returns the five tapped
    /// activations.
    fn tapped_features(&self, input: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut activation = input.clone();
        let mut convs = self.convs.iter();
        let mut taps = Vec::with_capacity(self.heads.len());
        for step in steps(self.backbone) {
            match *step {
                Step::ConvRelu {
                    stride, padding, ..
                } => {
                    let conv = convs.next().expect("one convolution per ConvRelu step");
                    activation = convolve(&activation, &conv.kernel, padding, stride)?
                        .broadcast_add(&conv.bias)?
                        .relu()?;
                }
                Step::MaxPool { size, stride } => {
                    activation = activation.max_pool2d_with_stride(size, stride)?;
                }
                Step::Tap => taps.push(activation.clone()),
            }
        }
        Ok(taps)
    }
}

/// `[N, H, W, 3]` images in [0, 1] → `[N, 3, H, W]` network input: mapped to [-1, 1], then
/// shifted and scaled per channel as the package's `ScalingLayer`.
fn scale_input(images: &Tensor) -> candle_core::Result<Tensor> {
    let device = images.device();
    let shift = channel_constant(&INPUT_SHIFT, device)?;
    let scale = channel_constant(&INPUT_SCALE, device)?;
    images
        .permute((0, 3, 1, 2))?
        .affine(2.0, -1.0)?
        .broadcast_sub(&shift)?
        .broadcast_div(&scale)
}

fn channel_constant(values: &[f32; 3], device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(values, (1, 3, 1, 1), device)
}

/// Divides each feature vector (over channels) by its Euclidean norm plus eps.
fn unit_normalise(features: &Tensor) -> candle_core::Result<Tensor> {
    let norm = (features.sqr()?.sum_keepdim(1)? + NORM_SQUARED_FLOOR)?.sqrt()?;
    features.broadcast_div(&(norm + NORMALISE_EPS)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_sides_match_the_architectures() {
        assert_eq!(min_image_side(Backbone::Alex), 31);
        assert_eq!(min_image_side(Backbone::Vgg), 16);
    }
}
