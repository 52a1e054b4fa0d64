//! Ray marching through the head box (docs/METHOD.md §2): step size
//! `dt = clamp(t / 128, 2√3·bound / 2048, 2·bound / 128)`, samples only in occupied cells of
//! the occupancy grid, empty cells skipped to their far boundary in whole steps.

use crate::camera::{Ray, to_unit_cube};
use crate::config::ModelConfig;
use crate::occupancy::OccupancyGrid;

/// Largest number of samples taken along one ray.
pub const MAX_SAMPLES_PER_RAY: usize = 1024;

/// Step-size rule and stopping rule of the marcher.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarchSettings {
    /// Step as a fraction of the distance travelled (1/128).
    pub dt_gamma: f32,
    /// Smallest step.
    pub dt_min: f32,
    /// Largest step (one cell of a 128³ grid over the box).
    pub dt_max: f32,
    /// Samples stop contributing once transmittance falls below this.
    pub transmittance_threshold: f32,
}

impl MarchSettings {
    /// Training: rays stop at T < 1e-4.
    pub fn training(config: &ModelConfig) -> Self {
        Self::with_threshold(config, 1e-4)
    }

    /// Inference: rays stop at T < 1e-2.
    pub fn inference(config: &ModelConfig) -> Self {
        Self::with_threshold(config, 1e-2)
    }

    fn with_threshold(config: &ModelConfig, transmittance_threshold: f32) -> Self {
        let bound = config.head_box.half_extent;
        Self {
            dt_gamma: 1.0 / 128.0,
            dt_min: 2.0 * 3f32.sqrt() * bound / 2048.0,
            dt_max: 2.0 * bound / 128.0,
            transmittance_threshold,
        }
    }

    /// The step at distance `t`.
    pub fn step(&self, t: f32) -> f32 {
        (t * self.dt_gamma).clamp(self.dt_min, self.dt_max)
    }
}

/// One sample on a ray.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Position in the unit cube of the head box.
    pub position: [f32; 3],
    /// Length of the ray segment it stands for (δ).
    pub dt: f32,
    /// Distance from the ray's origin (head units).
    pub distance: f32,
}

/// Walks one ray through the head box, yielding samples in occupied cells.
#[derive(Clone, Debug)]
pub struct RayMarcher {
    ray: Ray,
    t: f32,
    t_end: f32,
    taken: usize,
}

impl RayMarcher {
    /// A marcher starting `jitter` (in [0, 1)) of a step into the box; `None` when the ray
    /// misses the box.
    pub fn new(
        config: &ModelConfig,
        settings: &MarchSettings,
        ray: Ray,
        jitter: f32,
    ) -> Option<Self> {
        let (t0, t1) = ray.intersect_box(&config.head_box, config.near_distance)?;
        Some(Self {
            ray,
            t: t0 + jitter * settings.step(t0),
            t_end: t1,
            taken: 0,
        })
    }

    /// The next sample in an occupied cell, or `None` at the end of the box.
    pub fn next_sample(
        &mut self,
        config: &ModelConfig,
        settings: &MarchSettings,
        occupancy: &OccupancyGrid,
    ) -> Option<Sample> {
        let size = 2.0 * config.head_box.half_extent;
        let unit_dir = self.ray.direction.map(|d| d / size);
        while self.t < self.t_end && self.taken < MAX_SAMPLES_PER_RAY {
            let dt = settings.step(self.t);
            let position = to_unit_cube(&config.head_box, self.ray.at(self.t));
            let cell = occupancy.cell_of(position);
            if occupancy.is_occupied(occupancy.cell_index(cell)) {
                let distance = self.t;
                self.t += dt;
                self.taken += 1;
                return Some(Sample {
                    position,
                    dt,
                    distance,
                });
            }
            let target =
                self.t + distance_to_cell_exit(occupancy.resolution, cell, position, unit_dir);
            loop {
                self.t += settings.step(self.t);
                if self.t >= target {
                    break;
                }
            }
        }
        None
    }
}

/// Distance along the ray (head units) from `position` to the far boundary of `cell`.
fn distance_to_cell_exit(
    resolution: u32,
    cell: [u32; 3],
    position: [f32; 3],
    unit_dir: [f32; 3],
) -> f32 {
    let r = resolution as f32;
    (0..3)
        .filter(|&i| unit_dir[i] != 0.0)
        .map(|i| {
            let boundary = (cell[i] as f32 + if unit_dir[i] > 0.0 { 1.0 } else { 0.0 }) / r;
            ((boundary - position[i]) / unit_dir[i]).max(0.0)
        })
        .fold(f32::INFINITY, f32::min)
}

/// Samples of many rays, flattened: ray `r` owns `offsets[r]..offsets[r + 1]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RaySamples {
    /// Start of each ray's samples, plus the total at the end.
    pub offsets: Vec<usize>,
    /// Every sample.
    pub samples: Vec<Sample>,
}

impl RaySamples {
    /// Marches every ray to the end of the box (no early termination: densities are not
    /// known yet). `jitters[r]` offsets ray `r`'s first sample by a fraction of a step.
    pub fn march(
        config: &ModelConfig,
        settings: &MarchSettings,
        occupancy: &OccupancyGrid,
        rays: &[Ray],
        jitters: &[f32],
    ) -> Self {
        use rayon::prelude::*;
        let per_ray: Vec<Vec<Sample>> = rays
            .par_iter()
            .zip(jitters)
            .map(|(ray, jitter)| {
                let mut samples = Vec::new();
                if let Some(mut marcher) = RayMarcher::new(config, settings, *ray, *jitter) {
                    while let Some(s) = marcher.next_sample(config, settings, occupancy) {
                        samples.push(s);
                    }
                }
                samples
            })
            .collect();
        let mut offsets = Vec::with_capacity(rays.len() + 1);
        offsets.push(0);
        let mut samples = Vec::with_capacity(per_ray.iter().map(Vec::len).sum());
        for ray_samples in per_ray {
            samples.extend(ray_samples);
            offsets.push(samples.len());
        }
        Self { offsets, samples }
    }

    /// Number of rays.
    pub fn ray_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::{Intrinsics, Pose};

    fn setup() -> (ModelConfig, MarchSettings, Ray) {
        let config = ModelConfig::tiny();
        let settings = MarchSettings::training(&config);
        let k = Intrinsics::from_fov(32, 32, 20.0);
        let ray = Ray::through_pixel(&k, &Pose::orbit([0.0; 3], 0.9, 10.0, 5.0), 16, 16);
        (config, settings, ray)
    }

    #[test]
    fn a_full_grid_is_sampled_at_the_methods_step() {
        let (config, settings, ray) = setup();
        let grid = OccupancyGrid::full(config.occupancy_resolution);
        let samples = RaySamples::march(&config, &settings, &grid, &[ray], &[0.0]);
        let (t0, t1) = ray
            .intersect_box(&config.head_box, config.near_distance)
            .unwrap();
        let expected = ((t1 - t0) / settings.dt_max).ceil() as usize;
        assert!(
            samples.samples.len().abs_diff(expected) <= 1,
            "{}",
            samples.samples.len()
        );
        assert!(samples.samples.iter().all(|s| s.dt == settings.dt_max));
        for pair in samples.samples.windows(2) {
            assert_eq!(pair[1].distance, pair[0].distance + pair[0].dt);
        }
        for sample in &samples.samples {
            let at = to_unit_cube(&config.head_box, ray.at(sample.distance));
            assert_eq!(at, sample.position, "a sample lies at its distance");
        }
    }

    #[test]
    fn empty_cells_are_skipped_and_occupied_cells_sampled() {
        let (config, settings, ray) = setup();
        let mut grid = OccupancyGrid::full(config.occupancy_resolution);
        grid.bitfield.fill(0);
        let none = RaySamples::march(&config, &settings, &grid, &[ray], &[0.0]);
        assert!(none.samples.is_empty());
        let centre = grid.cell_of([0.5, 0.5, 0.5]);
        let near_centre = |c: [u32; 3]| (0..3).all(|i| c[i].abs_diff(centre[i]) <= 1);
        for z in centre[2] - 1..=centre[2] + 1 {
            for y in centre[1] - 1..=centre[1] + 1 {
                for x in centre[0] - 1..=centre[0] + 1 {
                    let i = grid.cell_index([x, y, z]);
                    grid.bitfield[i / 8] |= 1 << (i % 8);
                }
            }
        }
        let some = RaySamples::march(&config, &settings, &grid, &[ray], &[0.0]);
        assert!(!some.samples.is_empty());
        for s in &some.samples {
            assert!(near_centre(grid.cell_of(s.position)), "{s:?}");
        }
    }
}
