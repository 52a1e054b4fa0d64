//! The benchmark's scene ([`BenchScene`]): by default a fresh avatar whose occupancy grid
//! is head-shaped (an ellipsoid of a head's size in the middle of the head box), seen from
//! the front, as a trained avatar's grid would be; or a trained avatar from a file, with its
//! own grid, seen from the front as `render` sees it, each coefficient halfway through its
//! training range (so that every table is blended).

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::asset::{AssetError, Avatar};
use crate::camera::{Intrinsics, Pose, Ray};
use crate::config::ModelConfig;
use crate::occupancy::OccupancyGrid;
use crate::portrait::PortraitView;

/// Seed of the fresh avatar and its expression.
const SEED: u64 = 2022;

/// Semi-axes of the head ellipsoid in metres: half width (x), half height (y), half depth (z).
pub const HEAD_SEMI_AXES: [f32; 3] = [0.08, 0.11, 0.10];

/// Distance of the benchmark camera from the centre of the head box, in metres.
pub const CAMERA_DISTANCE: f32 = 0.5;

/// Vertical field of view of the benchmark camera, in degrees.
pub const CAMERA_FOV_DEGREES: f32 = 30.0;

/// What the benchmarks render and march through: an avatar and the expression it shows.
pub struct BenchScene {
    /// The avatar: its configuration, parameters and occupancy grid.
    pub avatar: Avatar,
    /// The expression's coefficients, within the avatar's range.
    pub weights: Vec<f32>,
    /// The file the avatar was read from; `None` for the fresh avatar.
    pub file: Option<PathBuf>,
}

impl BenchScene {
    /// A fresh avatar of `config` (seeded, so every run measures the same one) with the
    /// [`head_occupancy`] grid and a random expression, seen by [`front_camera`].
    pub fn fresh(config: &ModelConfig) -> Result<Self, AssetError> {
        let mut avatar = Avatar::new(config.clone(), SEED)?;
        avatar.occupancy = head_occupancy(config);
        let mut rng = Pcg64::seed_from_u64(SEED);
        let weights = (0..config.blendshape_count())
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        Ok(Self {
            avatar,
            weights,
            file: None,
        })
    }

    /// The avatar in the file at `path`, each coefficient halfway through its training range,
    /// seen from the front as `render` sees it ([`PortraitView::front`]).
    pub fn read(path: &Path) -> Result<Self, AssetError> {
        let avatar = Avatar::read(path)?;
        let weights = avatar
            .expression_min
            .iter()
            .zip(&avatar.expression_max)
            .map(|(low, high)| 0.5 * (low + high))
            .collect();
        Ok(Self {
            avatar,
            weights,
            file: Some(path.to_owned()),
        })
    }

    /// The avatar's model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.avatar.config
    }

    /// The camera of a `width × height` frame of the scene (each side at most
    /// [`crate::portrait::MAX_SIDE`]).
    pub fn camera(&self, width: u32, height: u32) -> (Intrinsics, Pose) {
        match self.file {
            None => front_camera(self.config(), width, height),
            Some(_) => PortraitView::front(width, height)
                .camera(&self.avatar)
                .expect("a front view of a benchmark frame's size"),
        }
    }

    /// Whether the benchmark's goals apply: they are set for the paper preset.
    pub fn judged(&self) -> bool {
        self.config().preset_name() == Some("paper")
    }

    /// What the scene is, in words.
    pub fn describe(&self) -> String {
        match &self.file {
            None => "a fresh avatar with a head-shaped occupancy grid".into(),
            Some(path) => format!("the avatar `{}`", path.display()),
        }
    }
}

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

    #[test]
    fn an_avatar_files_scene_is_its_grid_seen_as_render_sees_it_halfway_through_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("avatar.safetensors");
        let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into(), "a".into()]);
        let mut avatar = Avatar::new(config.clone(), 7).unwrap();
        avatar.occupancy = head_occupancy(&config);
        avatar.expression_min = vec![0.0, 0.2];
        avatar.expression_max = vec![0.8, 0.4];
        avatar.write(&path, crate::asset::Precision::F32).unwrap();

        let scene = BenchScene::read(&path).unwrap();
        assert_eq!(scene.weights, [0.4, 0.3]);
        assert_eq!(scene.avatar.occupancy, avatar.occupancy);
        assert_eq!(
            scene.camera(64, 48),
            PortraitView::front(64, 48).camera(&avatar).unwrap()
        );
        assert_ne!(scene.camera(64, 48), front_camera(&config, 64, 48));
        assert!(!scene.judged());
        assert!(BenchScene::fresh(&ModelConfig::paper()).unwrap().judged());
    }
}
