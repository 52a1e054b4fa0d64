//! The benchmark's scene: a head-shaped occupancy grid (an ellipsoid of a head's size in
//! the middle of the head box) seen from the front, as a trained avatar's grid would be.

use rand::Rng;

use crate::camera::{Intrinsics, Pose, Ray};
use crate::config::ModelConfig;
use crate::occupancy::OccupancyGrid;

/// Semi-axes of the head ellipsoid in metres: half width (x), half height (y), half depth (z).
pub const HEAD_SEMI_AXES: [f32; 3] = [0.08, 0.11, 0.10];

/// Distance of the benchmark camera from the centre of the head box, in metres.
pub const CAMERA_DISTANCE: f32 = 0.5;

/// Vertical field of view of the benchmark camera, in degrees.
pub const CAMERA_FOV_DEGREES: f32 = 30.0;

/// An occupancy grid of `config`'s resolution whose occupied cells are those with their
/// centre inside the head ellipsoid around the centre of the head box.
pub fn head_occupancy(config: &ModelConfig) -> OccupancyGrid {
    let resolution = config.occupancy_resolution;
    let mut grid = OccupancyGrid::full(resolution);
    grid.bitfield.fill(0);
    let r = resolution as f32;
    for z in 0..resolution {
        for y in 0..resolution {
            for x in 0..resolution {
                let centre = [x, y, z].map(|i| (i as f32 + 0.5) / r);
                if inside_head(config, centre) {
                    let index = grid.cell_index([x, y, z]);
                    grid.bitfield[index / 8] |= 1 << (index % 8);
                }
            }
        }
    }
    grid
}

/// A camera in front of the head (on +z), looking at the centre of the head box.
pub fn front_camera(config: &ModelConfig, width: u32, height: u32) -> (Intrinsics, Pose) {
    let intrinsics = Intrinsics::from_fov(width, height, CAMERA_FOV_DEGREES);
    let pose = Pose::orbit(config.head_box.center, CAMERA_DISTANCE, 0.0, 0.0);
    (intrinsics, pose)
}

/// `count` rays through random points of the image, as a training batch draws them.
pub fn random_rays(
    intrinsics: &Intrinsics,
    pose: &Pose,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<Ray> {
    (0..count)
        .map(|_| {
            let x = rng.random_range(0.0..intrinsics.width as f32);
            let y = rng.random_range(0.0..intrinsics.height as f32);
            Ray::through_point(intrinsics, pose, x, y)
        })
        .collect()
}

/// Whether a point of the unit cube lies inside the head ellipsoid.
pub fn inside_head(config: &ModelConfig, unit: [f32; 3]) -> bool {
    let size = 2.0 * config.head_box.half_extent;
    let inside: f32 = (0..3)
        .map(|d| ((unit[d] - 0.5) * size / HEAD_SEMI_AXES[d]).powi(2))
        .sum();
    inside <= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::to_unit_cube;

    #[test]
    fn the_head_fills_about_an_ellipsoids_share_of_the_box() {
        let config = ModelConfig::tiny();
        let grid = head_occupancy(&config);
        let [a, b, c] = HEAD_SEMI_AXES.map(f64::from);
        let box_volume = (2.0 * f64::from(config.head_box.half_extent)).powi(3);
        let expected = 4.0 / 3.0 * std::f64::consts::PI * a * b * c / box_volume;
        let fraction = grid.occupied_fraction();
        assert!(
            (fraction / expected - 1.0).abs() < 0.05,
            "{fraction} vs {expected}"
        );
        let centre = config.head_box.center;
        assert!(grid.occupied_at(&config.head_box, centre));
        let corner = centre.map(|c| c + 0.9 * config.head_box.half_extent);
        assert!(!grid.occupied_at(&config.head_box, corner));
        assert!(inside_head(&config, to_unit_cube(&config.head_box, centre)));
    }
}
