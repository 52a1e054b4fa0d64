//! The backbone convolutions of the LPIPS metric on candle.

use candle_core::Tensor;

/// A 2D convolution with candle. candle 0.9.2's tiled CPU convolution takes a contiguous
/// input whose channel count equals its height and width for a channels-last one (its
/// layout check cannot tell them apart) and computes garbage; such inputs are handed over
/// as a channels-last view, which candle copies correctly.
pub(super) fn convolve(
    input: &Tensor,
    kernel: &Tensor,
    padding: usize,
    stride: usize,
) -> candle_core::Result<Tensor> {
    let (_, channels, height, width) = input.dims4()?;
    let input = if channels == height && height == width {
        input
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .permute((0, 3, 1, 2))?
    } else {
        input.clone()
    };
    input.conv2d(kernel, padding, stride, 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn test_tensor(shape: (usize, usize, usize, usize)) -> Tensor {
        let count = shape.0 * shape.1 * shape.2 * shape.3;
        let values: Vec<f32> = (0..count)
            .map(|index| ((index * 37) % 101) as f32 / 70.0 - 0.5)
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn convolution_of_square_inputs_with_as_many_channels_as_pixels_per_side() {
        let input = test_tensor((2, 4, 4, 4));
        let kernel = test_tensor((3, 4, 3, 3));
        let widened = input.pad_with_zeros(3, 0, 1).unwrap();
        let expected = widened
            .conv2d(&kernel, 1, 1, 1, 1)
            .unwrap()
            .narrow(3, 0, 4)
            .unwrap();
        let result = convolve(&input, &kernel, 1, 1).unwrap();
        let difference: f32 = (result - expected)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(difference < 1e-5);
    }
}
