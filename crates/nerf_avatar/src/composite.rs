//! Volume compositing along one ray (docs/METHOD.md §2) and its backward pass:
//! `C = Σ_j T_j α_j c_j + T_end · bg`, `α_j = 1 − exp(−σ_j δ_j)`, `T_j = Π_{k<j} (1 − α_k)`,
//! alpha (mask) `= 1 − T_end`; samples stop once `T` falls below the threshold. The expected
//! termination distance `Σ_j T_j α_j t_j / (1 − T_end)` (sample `j` at distance `t_j` along
//! the ray) gives the head's depth; it carries no gradient.

use crate::real::Real;

/// What compositing a ray gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Composited<R> {
    /// Colour with the background behind.
    pub color: [R; 3],
    /// Opacity `1 − T_end`.
    pub alpha: R,
    /// Expected termination distance along the ray (infinite where the opacity is 0).
    pub distance: R,
    /// Samples that contributed (the rest came after early termination).
    pub used: usize,
}

/// Running state of a ray being composited in pieces (inference marches in rounds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompositeState<R> {
    /// Colour gathered so far (no background yet).
    pub color: [R; 3],
    /// Distance gathered so far: `Σ_j T_j α_j t_j`.
    pub distance: R,
    /// Transmittance left.
    pub transmittance: R,
}

impl<R: Real> Default for CompositeState<R> {
    fn default() -> Self {
        Self {
            color: [R::zero(); 3],
            distance: R::zero(),
            transmittance: R::one(),
        }
    }
}

impl<R: Real> CompositeState<R> {
    /// Adds samples in order (σ, colour, segment length δ and distance along the ray of
    /// each); returns how many were used before `T < threshold`.
    pub fn add(
        &mut self,
        sigma: &[R],
        rgb: &[[R; 3]],
        dt: &[R],
        distance: &[R],
        threshold: R,
    ) -> usize {
        let samples = sigma.iter().zip(rgb).zip(dt).zip(distance);
        for (j, (((s, c), d), t)) in samples.enumerate() {
            let alpha = R::one() - (-*s * *d).exp();
            let weight = self.transmittance * alpha;
            for (acc, v) in self.color.iter_mut().zip(c) {
                *acc += weight * *v;
            }
            self.distance += weight * *t;
            self.transmittance *= R::one() - alpha;
            if self.transmittance < threshold {
                return j + 1;
            }
        }
        sigma.len()
    }

    /// Whether the ray is finished.
    pub fn is_opaque(&self, threshold: R) -> bool {
        self.transmittance < threshold
    }

    /// The final colour over `background`, and the opacity.
    pub fn finish(&self, background: [R; 3]) -> ([R; 3], R) {
        let t = self.transmittance;
        (
            std::array::from_fn(|c| self.color[c] + t * background[c]),
            R::one() - t,
        )
    }

    /// The expected termination distance: the distance gathered over the opacity, infinite
    /// where nothing was hit.
    pub fn expected_distance(&self) -> R {
        let alpha = R::one() - self.transmittance;
        if alpha > R::zero() {
            self.distance / alpha
        } else {
            R::infinity()
        }
    }
}

/// Composites one ray's samples (at `distance` along it) over `background`.
pub fn composite<R: Real>(
    sigma: &[R],
    rgb: &[[R; 3]],
    dt: &[R],
    distance: &[R],
    background: [R; 3],
    threshold: R,
) -> Composited<R> {
    let mut state = CompositeState::default();
    let used = state.add(sigma, rgb, dt, distance, threshold);
    let (color, alpha) = state.finish(background);
    Composited {
        color,
        alpha,
        distance: state.expected_distance(),
        used,
    }
}

/// Gradients of one ray's loss with respect to its samples' σ and colours, given the
/// gradients `d_color` and `d_alpha` at the composited output. Only the first `result.used`
/// samples get a gradient; the rest of `d_sigma`/`d_rgb` is set to zero.
#[expect(
    clippy::too_many_arguments,
    reason = "forward values, output gradients and the two results"
)]
pub fn composite_backward<R: Real>(
    sigma: &[R],
    rgb: &[[R; 3]],
    dt: &[R],
    result: &Composited<R>,
    d_color: [R; 3],
    d_alpha: R,
    d_sigma: &mut [R],
    d_rgb: &mut [[R; 3]],
) {
    let t_end = R::one() - result.alpha;
    let mut transmittance = R::one();
    let mut prefix = [R::zero(); 3];
    d_sigma.fill(R::zero());
    d_rgb.fill([R::zero(); 3]);
    for j in 0..result.used {
        let alpha = R::one() - (-sigma[j] * dt[j]).exp();
        let weight = transmittance * alpha;
        let next_transmittance = transmittance * (R::one() - alpha);
        for c in 0..3 {
            prefix[c] += weight * rgb[j][c];
            d_rgb[j][c] = weight * d_color[c];
        }
        // ∂C/∂σ_j = δ_j (T_{j+1} c_j − (C − Σ_{k≤j} w_k c_k)); ∂alpha/∂σ_j = δ_j T_end.
        let mut d = R::zero();
        for c in 0..3 {
            d += d_color[c] * (next_transmittance * rgb[j][c] - (result.color[c] - prefix[c]));
        }
        d_sigma[j] = dt[j] * (d + d_alpha * t_end);
        transmittance = next_transmittance;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(sigma: &[f64], rgb: &[[f64; 3]], dt: &[f64]) -> f64 {
        let r = composite(sigma, rgb, dt, &[1.0; 4], [0.2, 0.5, 0.9], 1e-4);
        r.color[0] - 2.0 * r.color[1] + 0.5 * r.color[2] + 3.0 * r.alpha
    }

    #[test]
    fn opaque_sample_hides_the_background() {
        let r = composite(
            &[1e4f64],
            &[[1.0, 0.0, 0.0]],
            &[1.0],
            &[2.5],
            [0.0, 0.0, 1.0],
            1e-4,
        );
        assert!((r.color[0] - 1.0).abs() < 1e-12 && r.color[2].abs() < 1e-12);
        assert!((r.alpha - 1.0).abs() < 1e-12);
        assert!((r.distance - 2.5).abs() < 1e-12);
        let empty = composite::<f64>(&[], &[], &[], &[], [0.0, 0.0, 1.0], 1e-4);
        assert_eq!((empty.color, empty.alpha), ([0.0, 0.0, 1.0], 0.0));
        assert_eq!(empty.distance, f64::INFINITY);
    }

    #[test]
    fn the_distance_is_the_weighted_mean_of_the_samples_distances() {
        // Two samples of opacity 1/2 each: weights 1/2 and 1/4, opacity 3/4.
        let sigma = [2f64.ln(); 2];
        let r = composite(
            &sigma,
            &[[0.0; 3]; 2],
            &[1.0; 2],
            &[2.0, 4.0],
            [0.0; 3],
            1e-4,
        );
        assert!((r.alpha - 0.75).abs() < 1e-12);
        let expected = (0.5 * 2.0 + 0.25 * 4.0) / 0.75;
        assert!((r.distance - expected).abs() < 1e-12, "{}", r.distance);
    }

    #[test]
    fn backward_matches_finite_differences() {
        let sigma = vec![3.0, 0.5, 12.0, 7.0];
        let rgb = vec![
            [0.1, 0.2, 0.3],
            [0.9, 0.1, 0.5],
            [0.4, 0.4, 0.8],
            [0.3, 0.7, 0.2],
        ];
        let dt = vec![0.05, 0.1, 0.07, 0.05];
        let r = composite(&sigma, &rgb, &dt, &[1.0; 4], [0.2, 0.5, 0.9], 1e-4);
        let mut d_sigma = vec![0.0; 4];
        let mut d_rgb = vec![[0.0; 3]; 4];
        composite_backward(
            &sigma,
            &rgb,
            &dt,
            &r,
            [1.0, -2.0, 0.5],
            3.0,
            &mut d_sigma,
            &mut d_rgb,
        );
        let eps = 1e-7;
        for j in 0..4 {
            let (mut p, mut m) = (sigma.clone(), sigma.clone());
            p[j] += eps;
            m[j] -= eps;
            let fd = (loss(&p, &rgb, &dt) - loss(&m, &rgb, &dt)) / (2.0 * eps);
            assert!(
                (fd - d_sigma[j]).abs() < 1e-7,
                "σ{j}: {fd} vs {}",
                d_sigma[j]
            );
            for c in 0..3 {
                let (mut p, mut m) = (rgb.clone(), rgb.clone());
                p[j][c] += eps;
                m[j][c] -= eps;
                let fd = (loss(&sigma, &p, &dt) - loss(&sigma, &m, &dt)) / (2.0 * eps);
                assert!((fd - d_rgb[j][c]).abs() < 1e-7);
            }
        }
    }

    #[test]
    fn early_termination_drops_later_samples() {
        let r = composite(
            &[1e3f32, 5.0],
            &[[1.0; 3], [0.0; 3]],
            &[1.0, 1.0],
            &[1.0, 2.0],
            [0.0; 3],
            1e-2,
        );
        assert_eq!(r.used, 1);
    }
}
