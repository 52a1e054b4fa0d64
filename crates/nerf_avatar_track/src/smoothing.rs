//! Optional temporal smoothing of tracks: a centred moving average over `2·radius + 1`
//! frames of the coefficients, the camera centres and the rotations (averaged, then
//! projected back onto the rotations).

use nalgebra::Matrix3;
use nerf_avatar::Pose;

/// Smooths coefficient vectors (all of one length) in place.
pub fn smooth_coefficients(series: &mut [Vec<f32>], radius: usize) {
    if radius == 0 || series.is_empty() {
        return;
    }
    let original = series.to_vec();
    for (t, values) in series.iter_mut().enumerate() {
        let window = &original[t.saturating_sub(radius)..(t + radius + 1).min(original.len())];
        for (k, value) in values.iter_mut().enumerate() {
            *value = window.iter().map(|v| v[k]).sum::<f32>() / window.len() as f32;
        }
    }
}

/// Smooths rigid poses in place.
pub fn smooth_poses(poses: &mut [Pose], radius: usize) {
    if radius == 0 || poses.is_empty() {
        return;
    }
    let original = poses.to_vec();
    for (t, pose) in poses.iter_mut().enumerate() {
        let window = &original[t.saturating_sub(radius)..(t + radius + 1).min(original.len())];
        let n = window.len() as f64;
        let mean =
            Matrix3::from_fn(|i, j| window.iter().map(|p| f64::from(p.0[i][j])).sum::<f64>() / n);
        let svd = mean.svd(true, true);
        let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
            continue;
        };
        let mut correction = Matrix3::identity();
        if (u * v_t).determinant() < 0.0 {
            correction[(2, 2)] = -1.0;
        }
        let rotation = u * correction * v_t;
        for (i, row) in pose.0.iter_mut().take(3).enumerate() {
            for (j, value) in row.iter_mut().take(3).enumerate() {
                *value = rotation[(i, j)] as f32;
            }
            row[3] = (window.iter().map(|p| f64::from(p.0[i][3])).sum::<f64>() / n) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_averages_neighbours_and_keeps_poses_rigid() {
        let mut series = vec![vec![0.0], vec![3.0], vec![0.0]];
        smooth_coefficients(&mut series, 1);
        assert_eq!(series, vec![vec![1.5], vec![1.0], vec![1.5]]);
        let mut poses: Vec<Pose> = [-10.0f32, 0.0, 10.0]
            .iter()
            .map(|&yaw| Pose::orbit([0.0; 3], 1.0, yaw, 0.0))
            .collect();
        smooth_poses(&mut poses, 1);
        let middle = Pose::orbit([0.0; 3], 1.0, 0.0, 0.0);
        assert!(
            poses[1]
                .0
                .iter()
                .flatten()
                .zip(middle.0.iter().flatten())
                .all(|(a, b)| (a - b).abs() < 0.02)
        );
        assert!(poses.iter().all(|p| p.is_rigid(1e-4)));
    }
}
