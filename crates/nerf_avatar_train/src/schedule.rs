//! The staged training schedule of the released code (docs/METHOD.md §4), scaled to the run
//! length. The released code counts steps of a ~30 000-step run: ≤ 4000 colour + mask,
//! 4000–20 000 colour only, then 0.1·L1 + 0.1·LPIPS on patches averaged with a plain ray
//! batch; occupancy updates at steps 1000 and 2000 and then periodically. Here every
//! boundary is a fraction of the run (`progress` ∈ [0, 1]: steps done over steps planned,
//! or time spent over time allowed).

/// Length of the released code's run that the fractions below come from.
pub const REFERENCE_STEPS: f64 = 30_000.0;

/// Which losses a step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// L1 colour + L1 mask.
    ColorAndMask,
    /// L1 colour only.
    Color,
    /// L1 colour on a plain batch, averaged with 0.1·L1 + 0.1·LPIPS on patches.
    Perceptual,
}

/// Loss weights and learning-rate rule of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Base learning rate.
    pub learning_rate: f32,
    /// Factor applied at each milestone.
    pub milestone_factor: f32,
    /// Progress at which the learning rate drops.
    pub milestones: [f64; 2],
    /// Weight of the α entropy regulariser (report §4).
    pub entropy_weight: f32,
    /// Weight of the mean |h_i| sparsity term on the blendshape tables (released code).
    pub sparsity_weight: f32,
    /// Weight of L1 and of LPIPS on patches in the perceptual stage.
    pub patch_weight: f32,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            milestone_factor: 0.33,
            milestones: [0.5, 0.8],
            entropy_weight: 1e-3,
            sparsity_weight: 1e-4,
            patch_weight: 0.1,
        }
    }
}

impl Schedule {
    /// The stage at `progress`.
    pub fn stage(&self, progress: f64) -> Stage {
        if progress <= 4_000.0 / REFERENCE_STEPS {
            Stage::ColorAndMask
        } else if progress <= 20_000.0 / REFERENCE_STEPS {
            Stage::Color
        } else {
            Stage::Perceptual
        }
    }

    /// The learning rate at `progress`.
    pub fn learning_rate(&self, progress: f64) -> f32 {
        let drops = self.milestones.iter().filter(|m| progress >= **m).count();
        self.learning_rate * self.milestone_factor.powi(drops as i32)
    }

    /// Whether the occupancy grid is updated between `before` and `after` (the progress of
    /// two consecutive steps): at 1000 and 2000 reference steps, then every 1000.
    pub fn occupancy_update_due(&self, before: f64, after: f64) -> bool {
        let period = 1_000.0 / REFERENCE_STEPS;
        (before / period).floor() < (after / period).floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_released_step_counts() {
        let s = Schedule::default();
        assert_eq!(s.stage(0.0), Stage::ColorAndMask);
        assert_eq!(s.stage(3_999.0 / REFERENCE_STEPS), Stage::ColorAndMask);
        assert_eq!(s.stage(4_001.0 / REFERENCE_STEPS), Stage::Color);
        assert_eq!(s.stage(19_999.0 / REFERENCE_STEPS), Stage::Color);
        assert_eq!(s.stage(20_001.0 / REFERENCE_STEPS), Stage::Perceptual);
        assert_eq!(s.stage(1.0), Stage::Perceptual);
    }

    #[test]
    fn learning_rate_drops_by_a_third_at_each_milestone() {
        let s = Schedule::default();
        assert_eq!(s.learning_rate(0.1), 1e-3);
        assert!((s.learning_rate(0.6) - 3.3e-4).abs() < 1e-9);
        assert!((s.learning_rate(0.9) - 1.089e-4).abs() < 1e-9);
    }

    #[test]
    fn occupancy_updates_every_thirtieth_of_the_run() {
        let s = Schedule::default();
        let steps = 3000;
        let updates = (0..steps)
            .filter(|i| {
                let before = *i as f64 / steps as f64;
                let after = (*i + 1) as f64 / steps as f64;
                s.occupancy_update_due(before, after)
            })
            .count();
        assert_eq!(updates, 30);
        assert!(!s.occupancy_update_due(0.0, 0.5 / REFERENCE_STEPS));
        assert!(s.occupancy_update_due(999.0 / REFERENCE_STEPS, 1000.0 / REFERENCE_STEPS));
    }
}
