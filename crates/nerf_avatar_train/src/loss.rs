//! The training losses on rendered rays and their gradients (docs/METHOD.md §4): L1 colour,
//! L1 mask, the α entropy regulariser `−α ln α − (1 − α) ln(1 − α)` (report), and the
//! `mean |h_i|` sparsity term on the blendshape tables (released code).

use crate::data::RayTargets;
use nerf_avatar::composite::Composited;

/// Opacity is kept this far from 0 and 1 inside the entropy's logarithms.
const ENTROPY_EPSILON: f32 = 1e-6;

/// How much each per-ray term counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RayLossWeights {
    /// L1 colour (mean over rays and channels).
    pub color: f32,
    /// L1 mask (mean over rays).
    pub mask: f32,
    /// α entropy (mean over rays).
    pub entropy: f32,
}

/// A loss value with the gradients at every ray's colour and opacity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RayLoss {
    /// The weighted loss.
    pub value: f64,
    /// Sum of squared colour errors (for PSNR).
    pub squared_error: f64,
    /// Colour values compared (rays × 3).
    pub compared: usize,
    /// ∂loss/∂colour per ray.
    pub d_color: Vec<[f32; 3]>,
    /// ∂loss/∂opacity per ray.
    pub d_alpha: Vec<f32>,
}

/// The per-ray losses of one batch, each a mean over its rays, times `scale`.
pub fn ray_loss(
    rays: &[Composited<f32>],
    targets: &RayTargets,
    weights: RayLossWeights,
    scale: f32,
) -> RayLoss {
    let n = rays.len().max(1) as f32;
    let mut loss = RayLoss {
        d_color: vec![[0.0; 3]; rays.len()],
        d_alpha: vec![0.0; rays.len()],
        compared: 3 * rays.len(),
        ..RayLoss::default()
    };
    for (r, ray) in rays.iter().enumerate() {
        for c in 0..3 {
            let error = ray.color[c] - targets.color[r][c];
            loss.value += f64::from(scale * weights.color * error.abs() / (3.0 * n));
            loss.squared_error += f64::from(error * error);
            loss.d_color[r][c] = scale * weights.color * sign(error) / (3.0 * n);
        }
        let mask_error = ray.alpha - targets.mask[r];
        loss.value += f64::from(scale * weights.mask * mask_error.abs() / n);
        let a = ray.alpha.clamp(ENTROPY_EPSILON, 1.0 - ENTROPY_EPSILON);
        let entropy = -(a * a.ln() + (1.0 - a) * (1.0 - a).ln());
        loss.value += f64::from(scale * weights.entropy * entropy / n);
        let d_entropy = ((1.0 - a) / a).ln();
        loss.d_alpha[r] =
            scale * (weights.mask * sign(mask_error) + weights.entropy * d_entropy) / n;
    }
    loss
}

/// Adds `weight · mean |h|` over the blendshape tables (`tables`, h_1..h_K back to back) to
/// `grads` and returns its value.
pub fn sparsity_loss(tables: &[f32], grads: &mut [f32], weight: f32) -> f64 {
    if tables.is_empty() || weight == 0.0 {
        return 0.0;
    }
    let scale = weight / tables.len() as f32;
    let mut total = 0.0f64;
    for (g, h) in grads.iter_mut().zip(tables) {
        total += f64::from(h.abs());
        *g += scale * sign(*h);
    }
    f64::from(weight) * total / tables.len() as f64
}

/// −1, 0 or 1 (0 at 0, so that L1 has a zero subgradient at a perfect fit).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> RayTargets {
        RayTargets {
            rays: vec![],
            color: vec![[0.2, 0.5, 0.9], [0.7, 0.1, 0.3]],
            mask: vec![1.0, 0.0],
            background: vec![[1.0; 3]; 2],
        }
    }

    fn rays(values: &[f32; 8]) -> Vec<Composited<f32>> {
        (0..2)
            .map(|r| Composited {
                color: [values[4 * r], values[4 * r + 1], values[4 * r + 2]],
                alpha: values[4 * r + 3],
                distance: 1.0,
                used: 1,
            })
            .collect()
    }

    #[test]
    fn gradients_match_central_differences() {
        let weights = RayLossWeights {
            color: 1.0,
            mask: 0.7,
            entropy: 0.3,
        };
        let x = [0.25, 0.4, 0.8, 0.6, 0.65, 0.2, 0.35, 0.3];
        let loss = ray_loss(&rays(&x), &targets(), weights, 0.5);
        let eps = 1e-3;
        for i in 0..8 {
            let (mut plus, mut minus) = (x, x);
            plus[i] += eps;
            minus[i] -= eps;
            let fd = (ray_loss(&rays(&plus), &targets(), weights, 0.5).value
                - ray_loss(&rays(&minus), &targets(), weights, 0.5).value)
                / (2.0 * f64::from(eps));
            let analytic = if i % 4 == 3 {
                loss.d_alpha[i / 4]
            } else {
                loss.d_color[i / 4][i % 4]
            };
            assert!(
                (fd - f64::from(analytic)).abs() < 1e-4,
                "input {i}: {fd} vs {analytic}"
            );
        }
    }

    #[test]
    fn entropy_pushes_opacity_towards_zero_or_one() {
        let weights = RayLossWeights {
            color: 0.0,
            mask: 0.0,
            entropy: 1.0,
        };
        let loss = ray_loss(
            &rays(&[0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.8]),
            &targets(),
            weights,
            1.0,
        );
        assert!(loss.d_alpha[0] > 0.0, "below ½ the gradient lowers α");
        assert!(loss.d_alpha[1] < 0.0, "above ½ it raises α");
    }

    #[test]
    fn sparsity_is_the_weighted_mean_absolute_value() {
        let tables = [0.5, -1.5, 0.0, 2.0];
        let mut grads = [0.0; 4];
        let value = sparsity_loss(&tables, &mut grads, 0.1);
        assert!((value - 0.1).abs() < 1e-6);
        assert_eq!(grads, [0.025, -0.025, 0.0, 0.025]);
    }
}
