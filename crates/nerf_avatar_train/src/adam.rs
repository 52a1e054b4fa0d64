//! Adam with the paper's settings (lr 1e-3, β = (0.9, 0.99), ε = 1e-15) and L2 weight decay
//! (added to the gradient, as PyTorch's `Adam(weight_decay=…)` does) on chosen ranges only —
//! the MLP weights, never the hash tables.

use std::ops::Range;

use rayon::prelude::*;

/// Parameters updated per task.
const CHUNK: usize = 16 * 1024;

/// The optimiser's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamSettings {
    /// First-moment decay β1.
    pub beta1: f32,
    /// Second-moment decay β2.
    pub beta2: f32,
    /// ε added to the denominator.
    pub epsilon: f32,
    /// L2 weight decay applied inside `decay_ranges`.
    pub weight_decay: f32,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.99,
            epsilon: 1e-15,
            weight_decay: 1e-6,
        }
    }
}

/// Adam's moments for a flat parameter buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// The settings.
    pub settings: AdamSettings,
    /// First moments.
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
    /// Steps taken (for bias correction).
    pub steps: u64,
    /// The part of the buffer that gets weight decay.
    pub decay_range: Range<usize>,
}

impl Adam {
    /// Zero moments for `len` parameters.
    pub fn new(settings: AdamSettings, len: usize, decay_range: Range<usize>) -> Self {
        Self {
            settings,
            m: vec![0.0; len],
            v: vec![0.0; len],
            steps: 0,
            decay_range,
        }
    }

    /// One update of `params` with `grads` at learning rate `lr`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        assert_eq!(
            params.len(),
            grads.len(),
            "parameters and gradients differ in length"
        );
        assert_eq!(
            params.len(),
            self.m.len(),
            "optimiser state has another length"
        );
        self.steps += 1;
        let s = &self.settings;
        let t = self.steps as i32;
        let correction1 = 1.0 - s.beta1.powi(t);
        let correction2 = 1.0 - s.beta2.powi(t);
        let step_size = lr / correction1;
        let decay_range = &self.decay_range;
        params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK))
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(chunk, (((p, g), m), v))| {
                let start = chunk * CHUNK;
                for i in 0..p.len() {
                    let index = start + i;
                    let mut grad = g[i];
                    if decay_range.contains(&index) {
                        grad += s.weight_decay * p[i];
                    }
                    m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * grad;
                    v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * grad * grad;
                    let denominator = (v[i] / correction2).sqrt() + s.epsilon;
                    p[i] -= step_size * m[i] / denominator;
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_the_learning_rate() {
        let mut adam = Adam::new(AdamSettings::default(), 3, 0..0);
        let mut params = vec![1.0, -2.0, 0.5];
        adam.step(&mut params, &[0.3, -4.0, 0.0], 1e-2);
        assert!((params[0] - 0.99).abs() < 1e-6);
        assert!((params[1] + 1.99).abs() < 1e-6);
        assert_eq!(params[2], 0.5);
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut adam = Adam::new(AdamSettings::default(), 2, 0..0);
        let mut params = vec![3.0f32, -1.0];
        for _ in 0..2000 {
            let grads: Vec<f32> = params.iter().map(|p| 2.0 * (p - 0.5)).collect();
            adam.step(&mut params, &grads, 1e-2);
        }
        assert!(params.iter().all(|p| (p - 0.5).abs() < 1e-2), "{params:?}");
    }

    #[test]
    fn weight_decay_applies_only_inside_its_ranges() {
        let mut adam = Adam::new(
            AdamSettings {
                weight_decay: 1.0,
                ..AdamSettings::default()
            },
            2,
            1..2,
        );
        let mut params = vec![1.0, 1.0];
        adam.step(&mut params, &[0.0, 0.0], 0.1);
        assert_eq!(params[0], 1.0);
        assert!(params[1] < 1.0);
    }
}
