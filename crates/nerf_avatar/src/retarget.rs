//! Retargeting a driver's performance onto an avatar (reenactment).
//!
//! Coefficients are matched by name and normalised per coefficient against each subject's
//! own neutral and range: a driver value `x` in the driver's range `[low, high]` becomes
//! `min + (x − low) / (high − low) · (max − min)` in the avatar's training range, then is
//! clamped to it. A coefficient the driver never moves (or lacks) stays at the avatar's
//! neutral `min`.
//!
//! Head motion is taken relative to the driver's own mean view and applied around the
//! avatar's view: `P = V · s(M⁻¹ · D)`, where `D` is the driver's camera-to-head pose, `M`
//! its mean, `V` the avatar's base view and `s` scales the relative translation by the ratio
//! of the two views' distances to their head centres.

use crate::asset::Avatar;
use crate::blendshapes::{BlendshapeMap, names_at};
use crate::camera::Pose;
use crate::clip::{ExpressionClip, PoseTrack};

/// Smallest driver range treated as movement; below it the coefficient stays neutral.
const MIN_RANGE: f32 = 1e-6;

/// The per-coefficient map from a driver's clip to an avatar's coefficients.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpressionRetarget {
    /// Which driver column drives each avatar coefficient.
    names: BlendshapeMap,
    /// For each avatar coefficient, the driver's neutral and full value.
    driver_range: Vec<(f32, f32)>,
    /// For each avatar coefficient, its training range.
    avatar_range: Vec<(f32, f32)>,
    /// The avatar's controls the driver does not have (they stay neutral).
    pub missing: Vec<String>,
    /// The driver's coefficients the avatar has no control for (left out).
    pub unused: Vec<String>,
}

impl ExpressionRetarget {
    /// The map from `clip`'s names and ranges to `avatar`'s.
    pub fn new(clip: &ExpressionClip, avatar: &Avatar) -> Self {
        let ranges: Vec<(f32, f32)> = clip
            .low
            .iter()
            .copied()
            .zip(clip.high.iter().copied())
            .collect();
        Self::with_ranges(&clip.names, &ranges, avatar)
    }

    /// The map from a driver's coefficients `driver_names`, each moving over
    /// `driver_ranges` (neutral, full), to `avatar`'s: a live source, whose ranges are known
    /// beforehand (ARKit's [0, 1]) rather than measured over a clip.
    pub fn with_ranges<S: AsRef<str>>(
        driver_names: &[S],
        driver_ranges: &[(f32, f32)],
        avatar: &Avatar,
    ) -> Self {
        assert_eq!(
            driver_names.len(),
            driver_ranges.len(),
            "one range per driver coefficient"
        );
        let names = avatar.blendshapes();
        let map = BlendshapeMap::new(driver_names, names);
        let driver_range = map
            .sources()
            .iter()
            .map(|source| source.map_or((0.0, 0.0), |k| driver_ranges[k]))
            .collect();
        let avatar_range = avatar
            .expression_min
            .iter()
            .copied()
            .zip(avatar.expression_max.iter().copied())
            .collect();
        let missing = names_at(names, map.missing());
        let unused = names_at(driver_names, map.unused().iter().copied());
        Self {
            names: map,
            driver_range,
            avatar_range,
            missing,
            unused,
        }
    }

    /// The avatar's coefficients for one driver row.
    pub fn coefficients(&self, driver_row: &[f32]) -> Vec<f32> {
        self.names
            .sources()
            .iter()
            .zip(&self.driver_range)
            .zip(&self.avatar_range)
            .map(|((source, &(low, high)), &(min, max))| match source {
                Some(k) if high - low > MIN_RANGE => {
                    let t = (driver_row[*k] - low) / (high - low);
                    (min + t * (max - min)).clamp(min, max)
                }
                _ => min,
            })
            .collect()
    }
}

/// The map from a driver's head motion to the avatar's camera poses.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseRetarget {
    /// Inverse of the driver's mean view.
    driver_mean_inverse: Pose,
    /// The avatar's base view.
    base: Pose,
    /// Avatar view distance over driver view distance.
    scale: f32,
}

impl PoseRetarget {
    /// The map from `track`'s motion around its mean to motion around `base`, a view of a
    /// head centred at `head_center`.
    pub fn new(track: &PoseTrack, base: Pose, head_center: [f32; 3]) -> Self {
        let distance = |pose: &Pose, center: [f32; 3]| {
            let o = pose.origin();
            (0..3)
                .map(|i| (o[i] - center[i]).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        let driver_distance = distance(&track.mean, track.head_center);
        let scale = if driver_distance > 0.0 {
            distance(&base, head_center) / driver_distance
        } else {
            1.0
        };
        Self {
            driver_mean_inverse: track.mean.inverse(),
            base,
            scale,
        }
    }

    /// The avatar's camera pose for one driver pose.
    pub fn apply(&self, driver_pose: &Pose) -> Pose {
        let mut relative = self.driver_mean_inverse.then_apply(driver_pose);
        for row in &mut relative.0[..3] {
            row[3] *= self.scale;
        }
        self.base.then_apply(&relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn avatar(names: &[&str], min: Vec<f32>, max: Vec<f32>) -> Avatar {
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        let mut avatar = Avatar::new(ModelConfig::tiny().with_blendshapes(names), 1).unwrap();
        avatar.expression_min = min;
        avatar.expression_max = max;
        avatar
    }

    fn clip(names: &[&str], low: Vec<f32>, high: Vec<f32>) -> ExpressionClip {
        ExpressionClip {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            times: Vec::new(),
            frames: Vec::new(),
            poses: None,
            low,
            high,
            ignored_columns: Vec::new(),
        }
    }

    #[test]
    fn ranges_map_onto_the_avatars_and_clamp() {
        let avatar = avatar(
            &["jawOpen", "eyeBlinkLeft", "browInnerUp"],
            vec![0.0, 0.1, 0.0],
            vec![0.5, 0.9, 1.0],
        );
        let driver = clip(
            &["eyeBlinkLeft", "jawOpen", "cheekPuff"],
            vec![0.2, 0.0, 0.0],
            vec![0.6, 1.0, 1.0],
        );
        let map = ExpressionRetarget::new(&driver, &avatar);
        assert_eq!(map.missing, ["browInnerUp"]);
        assert_eq!(map.unused, ["cheekPuff"]);
        let w = map.coefficients(&[0.4, 0.5, 1.0]);
        assert!(
            (w[0] - 0.25).abs() < 1e-6 && (w[1] - 0.5).abs() < 1e-6 && w[2] == 0.0,
            "{w:?}"
        );
        let w = map.coefficients(&[2.0, -1.0, 0.0]);
        assert_eq!(w[..2], [0.0, 0.9]);
    }

    #[test]
    fn same_ranges_are_the_identity_within_range() {
        let avatar = avatar(&["jawOpen"], vec![0.1], vec![0.7]);
        let map = ExpressionRetarget::new(&clip(&["jawOpen"], vec![0.1], vec![0.7]), &avatar);
        for x in [0.1, 0.33, 0.7] {
            assert!((map.coefficients(&[x])[0] - x).abs() < 1e-6);
        }
        let still = ExpressionRetarget::new(&clip(&["jawOpen"], vec![0.3], vec![0.3]), &avatar);
        assert_eq!(still.coefficients(&[0.9]), [0.1]);
    }

    #[test]
    fn head_motion_is_relative_to_the_drivers_mean() {
        let mean = Pose::orbit([0.0, 0.0, 0.0], 1.0, 0.0, 0.0);
        let turned = Pose::orbit([0.0, 0.0, 0.0], 1.0, 20.0, 5.0);
        let track = PoseTrack {
            poses: vec![mean, turned],
            mean,
            head_center: [0.0; 3],
        };
        // Same mean and distance: the motion is reproduced exactly.
        let same = PoseRetarget::new(&track, mean, [0.0; 3]);
        assert_close(&same.apply(&turned), &turned);
        // Around a base view twice as far from another centre: the same turn, scaled.
        let center = [0.0, 0.1, 0.0];
        let base = Pose::orbit(center, 2.0, 0.0, 0.0);
        let moved = PoseRetarget::new(&track, base, center);
        assert_close(&moved.apply(&mean), &base);
        assert_close(&moved.apply(&turned), &Pose::orbit(center, 2.0, 20.0, 5.0));
    }

    fn assert_close(a: &Pose, b: &Pose) {
        for (x, y) in a.0.iter().flatten().zip(b.0.iter().flatten()) {
            assert!((x - y).abs() < 1e-5, "{a:?} != {b:?}");
        }
    }
}
