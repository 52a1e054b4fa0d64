//! Full-reference image metrics: MSE, L1, PSNR and SSIM, on the whole frame and inside a
//! mask.
//!
//! Images are RGB with values in [0, 1] (a data range of 1), row-major, as
//! [`ImageRef`]. Every metric is averaged over the three channels and accumulated in f64.
//!
//! - **MSE** and **L1** (mean absolute error) are means over pixels and channels; the masked
//!   versions average over the mask pixels only.
//! - **PSNR** is `10·log10(1 / MSE)` dB, capped at [`PSNR_CAP_DB`] (identical images, MSE =
//!   0, score the cap instead of infinity).
//! - **SSIM** follows Wang et al. (2004) with the settings of scikit-image's
//!   `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
//!   data_range=1)`, which pytorch-msssim shares: an 11×11 Gaussian window with σ = 1.5,
//!   K1 = 0.01, K2 = 0.03, population (not sample) variances. The per-pixel SSIM map of
//!   each channel is computed with the window reflected at the borders (scipy's `reflect`
//!   mode) and averaged over the channels. The full-frame SSIM is the mean of that map
//!   over the pixels at least [`SSIM_RADIUS`] pixels from every border (where the window
//!   lies inside the image, so the padding does not matter), as scikit-image does; the
//!   masked SSIM is the mean of the map over the mask pixels. Both need an image of at
//!   least [`SSIM_WINDOW`] pixels each way.
//!
//! `tools/metrics_reference.py` computes the same numbers with NumPy and scikit-image for
//! the tests.

/// PSNR given to images whose MSE is 0 (or so small that the PSNR would exceed it), in dB.
pub const PSNR_CAP_DB: f64 = 100.0;
/// Side of the SSIM window in pixels.
pub const SSIM_WINDOW: usize = 11;
/// Half the SSIM window: pixels on each side of the centre.
pub const SSIM_RADIUS: usize = SSIM_WINDOW / 2;
/// Standard deviation of the SSIM window's Gaussian, in pixels.
pub const SSIM_SIGMA: f64 = 1.5;
/// SSIM's luminance stabiliser constant, `C1 = (K1·L)²` with data range L = 1.
pub const SSIM_K1: f64 = 0.01;
/// SSIM's contrast stabiliser constant, `C2 = (K2·L)²` with data range L = 1.
pub const SSIM_K2: f64 = 0.03;

/// Why two images cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The pixel count does not match the stated size.
    #[error("an image of {width}×{height} needs {} pixels, got {pixels}", width * height)]
    PixelCount {
        /// Stated width.
        width: usize,
        /// Stated height.
        height: usize,
        /// Pixels given.
        pixels: usize,
    },
    /// The two images (or an image and its mask) differ in size.
    #[error("cannot compare a {0}×{1} image with a {2}×{3} one")]
    SizeMismatch(usize, usize, usize, usize),
    /// A mask has a different number of pixels than the images.
    #[error("the mask has {found} pixels, the images {expected}")]
    MaskSize {
        /// Pixels in the images.
        expected: usize,
        /// Pixels in the mask.
        found: usize,
    },
    /// A mask selects no pixel.
    #[error("the mask is empty")]
    EmptyMask,
    /// An image is too small for the SSIM window.
    #[error("SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {0}×{1}")]
    TooSmallForSsim(usize, usize),
}

/// A borrowed RGB image with values in [0, 1], row-major.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageRef<'a> {
    pixels: &'a [[f32; 3]],
    width: usize,
    height: usize,
}

impl<'a> ImageRef<'a> {
    /// Wraps `pixels`, which must hold `width × height` values.
    pub fn new(pixels: &'a [[f32; 3]], width: usize, height: usize) -> Result<Self, MetricsError> {
        if width.checked_mul(height) != Some(pixels.len()) {
            return Err(MetricsError::PixelCount {
                width,
                height,
                pixels: pixels.len(),
            });
        }
        Ok(Self {
            pixels,
            width,
            height,
        })
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &'a [[f32; 3]] {
        self.pixels
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
}

/// The four metrics of one comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageScores {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub l1: f64,
    /// Peak signal-to-noise ratio in dB (capped at [`PSNR_CAP_DB`]).
    pub psnr: f64,
    /// Structural similarity.
    pub ssim: f64,
}

impl ImageScores {
    /// All four metrics over the whole frame.
    pub fn full(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<Self, MetricsError> {
        let mse = mse(a, b)?;
        Ok(Self {
            mse,
            l1: l1(a, b)?,
            psnr: psnr_from_mse(mse),
            ssim: ssim(a, b)?,
        })
    }

    /// All four metrics over the pixels where `mask` is true.
    pub fn masked(a: ImageRef<'_>, b: ImageRef<'_>, mask: &[bool]) -> Result<Self, MetricsError> {
        let mse = masked_mse(a, b, mask)?;
        Ok(Self {
            mse,
            l1: masked_l1(a, b, mask)?,
            psnr: psnr_from_mse(mse),
            ssim: masked_ssim(a, b, mask)?,
        })
    }
}

/// Mean squared error over all pixels and channels.
pub fn mse(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<f64, MetricsError> {
    mean_over(a, b, None, |d| d * d)
}

/// Mean squared error over the pixels where `mask` is true.
pub fn masked_mse(a: ImageRef<'_>, b: ImageRef<'_>, mask: &[bool]) -> Result<f64, MetricsError> {
    mean_over(a, b, Some(mask), |d| d * d)
}

/// Mean absolute error over all pixels and channels.
pub fn l1(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<f64, MetricsError> {
    mean_over(a, b, None, f64::abs)
}

/// Mean absolute error over the pixels where `mask` is true.
pub fn masked_l1(a: ImageRef<'_>, b: ImageRef<'_>, mask: &[bool]) -> Result<f64, MetricsError> {
    mean_over(a, b, Some(mask), f64::abs)
}

/// PSNR in dB of images in [0, 1] with mean squared error `mse`: `10·log10(1 / mse)`,
/// at most [`PSNR_CAP_DB`].
pub fn psnr_from_mse(mse: f64) -> f64 {
    (10.0 * (1.0 / mse).log10()).min(PSNR_CAP_DB)
}

/// PSNR over the whole frame, in dB.
pub fn psnr(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<f64, MetricsError> {
    mse(a, b).map(psnr_from_mse)
}

/// PSNR over the pixels where `mask` is true, in dB.
pub fn masked_psnr(a: ImageRef<'_>, b: ImageRef<'_>, mask: &[bool]) -> Result<f64, MetricsError> {
    masked_mse(a, b, mask).map(psnr_from_mse)
}

/// SSIM over the whole frame (the mean of the map away from the borders).
pub fn ssim(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<f64, MetricsError> {
    Ok(SsimMap::compute(a, b)?.interior_mean())
}

/// SSIM inside a mask (the mean of the map over the mask pixels).
pub fn masked_ssim(a: ImageRef<'_>, b: ImageRef<'_>, mask: &[bool]) -> Result<f64, MetricsError> {
    SsimMap::compute(a, b)?.masked_mean(mask)
}

/// The per-pixel SSIM of two images, averaged over the channels.
#[derive(Clone, Debug, PartialEq)]
pub struct SsimMap {
    /// SSIM per pixel, row-major.
    pub values: Vec<f64>,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl SsimMap {
    /// Computes the map (see the module documentation for the conventions).
    pub fn compute(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<Self, MetricsError> {
        check_sizes(a, b)?;
        let (width, height) = (a.width, a.height);
        if width < SSIM_WINDOW || height < SSIM_WINDOW {
            return Err(MetricsError::TooSmallForSsim(width, height));
        }
        let kernel = gaussian_kernel();
        let c1 = SSIM_K1 * SSIM_K1;
        let c2 = SSIM_K2 * SSIM_K2;
        let mut values = vec![0.0; width * height];
        for channel in 0..3 {
            let x: Vec<f64> = a.pixels.iter().map(|p| f64::from(p[channel])).collect();
            let y: Vec<f64> = b.pixels.iter().map(|p| f64::from(p[channel])).collect();
            let product = |f: fn(f64, f64) -> f64| -> Vec<f64> {
                x.iter().zip(&y).map(|(&p, &q)| f(p, q)).collect()
            };
            let blur = |plane: &[f64]| gaussian_blur(plane, width, height, &kernel);
            let (mean_x, mean_y) = (blur(&x), blur(&y));
            let mean_xx = blur(&product(|p, _| p * p));
            let mean_yy = blur(&product(|_, q| q * q));
            let mean_xy = blur(&product(|p, q| p * q));
            for (i, value) in values.iter_mut().enumerate() {
                let (mx, my) = (mean_x[i], mean_y[i]);
                let var_x = mean_xx[i] - mx * mx;
                let var_y = mean_yy[i] - my * my;
                let cov = mean_xy[i] - mx * my;
                let s = (2.0 * mx * my + c1) * (2.0 * cov + c2)
                    / ((mx * mx + my * my + c1) * (var_x + var_y + c2));
                *value += s / 3.0;
            }
        }
        Ok(Self {
            values,
            width,
            height,
        })
    }

    /// The mean over the pixels at least [`SSIM_RADIUS`] from every border.
    pub fn interior_mean(&self) -> f64 {
        let rows = SSIM_RADIUS..self.height - SSIM_RADIUS;
        let columns = SSIM_RADIUS..self.width - SSIM_RADIUS;
        let count = rows.len() * columns.len();
        let sum: f64 = rows
            .flat_map(|v| columns.clone().map(move |u| v * self.width + u))
            .map(|i| self.values[i])
            .sum();
        sum / count as f64
    }

    /// The mean over the pixels where `mask` is true.
    pub fn masked_mean(&self, mask: &[bool]) -> Result<f64, MetricsError> {
        if mask.len() != self.values.len() {
            return Err(MetricsError::MaskSize {
                expected: self.values.len(),
                found: mask.len(),
            });
        }
        let (sum, count) = self
            .values
            .iter()
            .zip(mask)
            .filter(|(_, inside)| **inside)
            .fold((0.0, 0usize), |(sum, count), (v, _)| (sum + v, count + 1));
        if count == 0 {
            return Err(MetricsError::EmptyMask);
        }
        Ok(sum / count as f64)
    }
}

fn check_sizes(a: ImageRef<'_>, b: ImageRef<'_>) -> Result<(), MetricsError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(MetricsError::SizeMismatch(
            a.width, a.height, b.width, b.height,
        ));
    }
    Ok(())
}

/// The mean of `per_channel(a − b)` over the channels of the selected pixels.
fn mean_over(
    a: ImageRef<'_>,
    b: ImageRef<'_>,
    mask: Option<&[bool]>,
    per_channel: impl Fn(f64) -> f64,
) -> Result<f64, MetricsError> {
    check_sizes(a, b)?;
    if let Some(mask) = mask
        && mask.len() != a.pixels.len()
    {
        return Err(MetricsError::MaskSize {
            expected: a.pixels.len(),
            found: mask.len(),
        });
    }
    let mut sum = 0.0;
    let mut count = 0usize;
    for (i, (p, q)) in a.pixels.iter().zip(b.pixels).enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        count += 1;
        sum += (0..3)
            .map(|c| per_channel(f64::from(p[c]) - f64::from(q[c])))
            .sum::<f64>();
    }
    if count == 0 {
        return Err(MetricsError::EmptyMask);
    }
    Ok(sum / (3 * count) as f64)
}

/// The normalised 1-D Gaussian of [`SSIM_WINDOW`] taps with σ = [`SSIM_SIGMA`].
fn gaussian_kernel() -> [f64; SSIM_WINDOW] {
    let mut kernel = [0.0; SSIM_WINDOW];
    for (i, tap) in kernel.iter_mut().enumerate() {
        let offset = i as f64 - SSIM_RADIUS as f64;
        *tap = (-offset * offset / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let total: f64 = kernel.iter().sum();
    kernel.map(|tap| tap / total)
}

/// Index of sample `i` of a line of `n` samples, mirrored at the borders so that
/// `… b a | a b … y z | z y …` (needs `-n <= i < 2n`).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let mirrored = if i < 0 {
        -i - 1
    } else if i >= n {
        2 * n - i - 1
    } else {
        i
    };
    mirrored as usize
}

/// Separable Gaussian blur of a plane with reflected borders.
fn gaussian_blur(
    plane: &[f64],
    width: usize,
    height: usize,
    kernel: &[f64; SSIM_WINDOW],
) -> Vec<f64> {
    let radius = SSIM_RADIUS as isize;
    let taps = || kernel.iter().zip(-radius..=radius);
    let mut rows = vec![0.0; plane.len()];
    for v in 0..height {
        let line = &plane[v * width..(v + 1) * width];
        for u in 0..width {
            rows[v * width + u] = taps()
                .map(|(w, d)| w * line[reflect(u as isize + d, width)])
                .sum();
        }
    }
    let mut out = vec![0.0; plane.len()];
    for v in 0..height {
        for u in 0..width {
            out[v * width + u] = taps()
                .map(|(w, d)| w * rows[reflect(v as isize + d, height) * width + u])
                .sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(value: f32, n: usize) -> Vec<[f32; 3]> {
        vec![[value; 3]; n]
    }

    #[test]
    fn identical_images_score_perfectly() {
        let pixels: Vec<[f32; 3]> = (0..16 * 12)
            .map(|i| [(i % 7) as f32 / 7.0, (i % 5) as f32 / 5.0, 0.25])
            .collect();
        let image = ImageRef::new(&pixels, 16, 12).unwrap();
        let scores = ImageScores::full(image, image).unwrap();
        assert_eq!((scores.mse, scores.l1), (0.0, 0.0));
        assert_eq!(scores.psnr, PSNR_CAP_DB);
        assert!((scores.ssim - 1.0).abs() < 1e-12);
    }

    #[test]
    fn constant_offset_gives_analytic_values() {
        let (a, b) = (constant(0.25, 144), constant(0.75, 144));
        let (a, b) = (
            ImageRef::new(&a, 12, 12).unwrap(),
            ImageRef::new(&b, 12, 12).unwrap(),
        );
        let scores = ImageScores::full(a, b).unwrap();
        assert!((scores.mse - 0.25).abs() < 1e-12);
        assert!((scores.l1 - 0.5).abs() < 1e-12);
        assert!((scores.psnr - 10.0 * 4f64.log10()).abs() < 1e-9);
        // Flat images: only the luminance term, (2·μa·μb + C1) / (μa² + μb² + C1).
        let c1 = SSIM_K1 * SSIM_K1;
        let luminance = (2.0 * 0.25 * 0.75 + c1) / (0.25 * 0.25 + 0.75 * 0.75 + c1);
        assert!((scores.ssim - luminance).abs() < 1e-9);
    }

    #[test]
    fn masked_metrics_see_only_mask_pixels() {
        let a = constant(0.5, 121);
        let mut b = a.clone();
        b[0] = [0.0, 0.5, 0.5];
        let (a, b) = (
            ImageRef::new(&a, 11, 11).unwrap(),
            ImageRef::new(&b, 11, 11).unwrap(),
        );
        let mut mask = vec![false; 121];
        mask[0] = true;
        assert!((masked_mse(a, b, &mask).unwrap() - 0.25 / 3.0).abs() < 1e-12);
        assert!((masked_l1(a, b, &mask).unwrap() - 0.5 / 3.0).abs() < 1e-12);
        mask[0] = false;
        mask[60] = true;
        assert_eq!(masked_mse(a, b, &mask).unwrap(), 0.0);
        assert_eq!(masked_psnr(a, b, &mask).unwrap(), PSNR_CAP_DB);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let pixels = constant(0.0, 100);
        assert!(matches!(
            ImageRef::new(&pixels, 10, 11),
            Err(MetricsError::PixelCount { .. })
        ));
        let small = ImageRef::new(&pixels, 10, 10).unwrap();
        assert_eq!(
            ssim(small, small),
            Err(MetricsError::TooSmallForSsim(10, 10))
        );
        let wide = ImageRef::new(&pixels, 20, 5).unwrap();
        assert_eq!(
            mse(small, wide),
            Err(MetricsError::SizeMismatch(10, 10, 20, 5))
        );
        assert_eq!(
            masked_l1(small, small, &[false; 100]),
            Err(MetricsError::EmptyMask)
        );
        assert!(matches!(
            masked_mse(small, small, &[true; 3]),
            Err(MetricsError::MaskSize { .. })
        ));
    }

    #[test]
    fn reflection_mirrors_about_the_edges() {
        let mirrored: Vec<usize> = (-3..9).map(|i| reflect(i, 6)).collect();
        assert_eq!(mirrored, [2, 1, 0, 0, 1, 2, 3, 4, 5, 5, 4, 3]);
    }
}
