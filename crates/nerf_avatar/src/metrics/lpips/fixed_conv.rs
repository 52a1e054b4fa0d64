//! A convolution with fixed weights as a candle custom op. candle's own convolution backward
//! also computes the kernel gradient and runs a direct (slow) transposed convolution; LPIPS
//! only needs the input gradient, which for stride 1 is itself a convolution (with the
//! kernel flipped and its channel axes swapped) and so runs on candle's fast path.

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor};

/// The weights of one backbone convolution, with the kernel its input gradient needs.
pub(super) struct FixedConv {
    /// `[out, in, kh, kw]`.
    kernel: Tensor,
    /// `[in, out, kh, kw]`, spatially flipped: the input gradient of a stride-1
    /// convolution is the convolution of the output gradient with it.
    gradient_kernel: Tensor,
    padding: usize,
    stride: usize,
}

impl FixedConv {
    /// Wraps a `[out, in, kh, kw]` kernel (square) with its padding and stride.
    pub(super) fn new(kernel: Tensor, padding: usize, stride: usize) -> candle_core::Result<Self> {
        let (_, _, side, _) = kernel.dims4()?;
        let reversed: Vec<u32> = (0..side).rev().map(|i| i as u32).collect();
        let reversed = Tensor::new(reversed.as_slice(), kernel.device())?;
        let gradient_kernel = kernel
            .index_select(&reversed, 2)?
            .index_select(&reversed, 3)?
            .transpose(0, 1)?
            .contiguous()?;
        Ok(Self {
            kernel,
            gradient_kernel,
            padding,
            stride,
        })
    }

    /// Convolves `[N, in, H, W]` inputs; the result carries this op for autograd.
    pub(super) fn apply(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        input.contiguous()?.apply_op1(self.clone_handles())
    }

    /// The `[out, in, kh, kw]` kernel.
    pub(super) fn kernel(&self) -> &Tensor {
        &self.kernel
    }

    fn clone_handles(&self) -> Self {
        Self {
            kernel: self.kernel.clone(),
            gradient_kernel: self.gradient_kernel.clone(),
            padding: self.padding,
            stride: self.stride,
        }
    }

    fn kernel_side(&self) -> usize {
        self.kernel.dim(2).expect("kernels are 4-D")
    }
}

impl CustomOp1 for FixedConv {
    fn name(&self) -> &'static str {
        "lpips-fixed-conv2d"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("lpips-fixed-conv2d needs a contiguous input");
        };
        let values = &storage.as_slice::<f32>()?[start..end];
        let input = Tensor::from_slice(values, layout.shape(), &Device::Cpu)?;
        let output = convolve(&input, &self.kernel, self.padding, self.stride)?;
        let shape = output.shape().clone();
        Ok((CpuStorage::F32(output.flatten_all()?.to_vec1()?), shape))
    }

    fn bwd(
        &self,
        input: &Tensor,
        _output: &Tensor,
        output_gradient: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let side = self.kernel_side();
        if self.stride == 1 {
            let padding = side - 1 - self.padding;
            return convolve(output_gradient, &self.gradient_kernel, padding, 1).map(Some);
        }
        let (_, _, height, width) = input.dims4()?;
        let (_, _, gradient_height, gradient_width) = output_gradient.dims4()?;
        let covered = |outputs: usize| (outputs - 1) * self.stride + side - 2 * self.padding;
        let output_padding =
            (height - covered(gradient_height)).max(width - covered(gradient_width));
        let gradient = output_gradient
            .conv_transpose2d(&self.kernel, self.padding, output_padding, self.stride, 1)?
            .narrow(2, 0, height)?
            .narrow(3, 0, width)?;
        Ok(Some(gradient))
    }
}

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

    fn test_tensor(shape: (usize, usize, usize, usize)) -> Tensor {
        let count = shape.0 * shape.1 * shape.2 * shape.3;
        let values: Vec<f32> = (0..count)
            .map(|index| ((index * 37) % 101) as f32 / 70.0 - 0.5)
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    fn max_abs_difference(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let difference = (a - b).unwrap().abs().unwrap();
        difference.max_all().unwrap().to_scalar().unwrap()
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
        assert!(max_abs_difference(&result, &expected) < 1e-5);
    }

    /// Square inputs only: candle's own backward fails on strided non-square inputs.
    #[test]
    fn input_gradient_matches_candle_convolution_backward() {
        for (padding, stride) in [(1, 1), (2, 4), (0, 2)] {
            let kernel = test_tensor((3, 2, 3, 3));
            let input = candle_core::Var::from_tensor(&test_tensor((2, 2, 11, 11))).unwrap();
            let fixed = FixedConv::new(kernel.clone(), padding, stride).unwrap();
            let ours = fixed.apply(input.as_tensor()).unwrap();
            let candle = input.conv2d(&kernel, padding, stride, 1, 1).unwrap();
            assert!(max_abs_difference(&ours, &candle) < 1e-5);
            let weights = test_tensor(ours.dims4().unwrap());
            let ours_gradient = (ours * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let candle_gradient = (candle * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let difference = max_abs_difference(
                ours_gradient.get(input.as_tensor()).unwrap(),
                candle_gradient.get(input.as_tensor()).unwrap(),
            );
            assert!(
                difference < 1e-5,
                "padding {padding}, stride {stride}: {difference}"
            );
        }
    }
}
