//! The expression-aware occupancy grid (docs/METHOD.md §3): a cube of cells over the head box
//! storing density, and the bitfield of occupied cells that ray marching skips by.
//!
//! Cell layout (shared with the CUDA kernels): `index = x + R · (y + R · z)`, bit
//! `index % 8` of byte `index / 8`.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use crate::camera::to_unit_cube;
use crate::config::HeadBox;
use crate::field::Model;
use crate::hashgrid::blend_tables;
use crate::params::Params;

/// Old densities fade by this factor at each update: `grid = max(0.9 · grid, new)`.
pub const DENSITY_DECAY: f32 = 0.9;
/// A cell is occupied when its density exceeds `min(OCCUPANCY_THRESHOLD, mean density)`.
pub const OCCUPANCY_THRESHOLD: f32 = 10.0;
/// Cells evaluated together by one task (and drawn from one random stream).
pub const UPDATE_CHUNK: usize = 4096;

/// Density and occupancy of the cells of the head box.
#[derive(Clone, Debug, PartialEq)]
pub struct OccupancyGrid {
    /// Cells per axis.
    pub resolution: u32,
    /// Per-cell density estimate (kept while training; assets may leave it out).
    pub density: Option<Vec<f32>>,
    /// One bit per cell, set when the cell is occupied.
    pub bitfield: Vec<u8>,
}

impl OccupancyGrid {
    /// Every cell occupied: the state of a freshly initialised model.
    pub fn full(resolution: u32) -> Self {
        let cells = Self::cell_count(resolution);
        Self {
            resolution,
            density: None,
            bitfield: vec![0xff; cells.div_ceil(8)],
        }
    }

    /// Number of cells of a grid of this resolution.
    pub fn cell_count(resolution: u32) -> usize {
        (resolution as usize).pow(3)
    }

    /// Index of a cell.
    pub fn cell_index(&self, cell: [u32; 3]) -> usize {
        let r = self.resolution as usize;
        cell[0] as usize + r * (cell[1] as usize + r * cell[2] as usize)
    }

    /// The cell holding a point of the unit cube (clamped to the grid).
    pub fn cell_of(&self, unit: [f32; 3]) -> [u32; 3] {
        let r = self.resolution as f32;
        unit.map(|u| ((u * r).max(0.0) as u32).min(self.resolution - 1))
    }

    /// Whether cell `index` is occupied.
    pub fn is_occupied(&self, index: usize) -> bool {
        self.bitfield[index / 8] & (1 << (index % 8)) != 0
    }

    /// Whether the point `p` (head coordinates) lies in an occupied cell.
    pub fn occupied_at(&self, head_box: &HeadBox, p: [f32; 3]) -> bool {
        self.is_occupied(self.cell_index(self.cell_of(to_unit_cube(head_box, p))))
    }

    /// Updates the grid from the model (docs/METHOD.md §3): for the neutral table and for each
    /// basis `h0 + ŵ_i h_i` (`max_weights[i]` = ŵ_i, the largest value of coefficient i in
    /// training), the density at a jittered point of every cell; the maximum over all of
    /// them, max-pooled with a 2×2×2 kernel (stride 1, each cell with its +x/+y/+z
    /// neighbours), is merged as `grid = max(0.9 · grid, new)`, and the bitfield marks cells
    /// whose density exceeds `min(10, mean density)`. Costs (K + 1) · R³ density queries.
    pub fn update(&mut self, model: &Model, params: &Params<f32>, max_weights: &[f32], seed: u64) {
        let cells = Self::cell_count(self.resolution);
        let mut fresh = vec![0.0f32; cells];
        let mut table = vec![0.0f32; model.layout.table_len];
        let mut weights = vec![0.0f32; max_weights.len()];
        for basis in 0..=max_weights.len() {
            weights.fill(0.0);
            if basis > 0 {
                weights[basis - 1] = max_weights[basis - 1];
            }
            blend_tables(params.tables(), &weights, &mut table);
            let r = self.resolution;
            fresh
                .par_chunks_mut(UPDATE_CHUNK)
                .enumerate()
                .for_each(|(chunk, fresh)| {
                    let positions = jittered_points(r, basis, chunk, seed);
                    let density = model.density(&params.data, &table, &positions);
                    for (f, d) in fresh.iter_mut().zip(density) {
                        *f = f.max(d);
                    }
                });
        }
        let pooled = max_pool_2(&fresh, self.resolution as usize);
        let merged: Vec<f32> = match &self.density {
            Some(old) => old
                .iter()
                .zip(&pooled)
                .map(|(o, n)| (DENSITY_DECAY * o).max(*n))
                .collect(),
            None => pooled,
        };
        self.set_density(merged);
    }

    /// Replaces the densities and marks cells above `min(10, mean density)` as occupied.
    pub fn set_density(&mut self, density: Vec<f32>) {
        let mean = density.iter().map(|d| f64::from(*d)).sum::<f64>() / density.len().max(1) as f64;
        let threshold = OCCUPANCY_THRESHOLD.min(mean as f32);
        self.bitfield.fill(0);
        for (i, d) in density.iter().enumerate() {
            if *d > threshold {
                self.bitfield[i / 8] |= 1 << (i % 8);
            }
        }
        self.density = Some(density);
    }

    /// Fraction of occupied cells.
    pub fn occupied_fraction(&self) -> f64 {
        let cells = Self::cell_count(self.resolution);
        let ones: usize = (0..cells).filter(|&i| self.is_occupied(i)).count();
        ones as f64 / cells as f64
    }
}

/// The jittered points of chunk `chunk` (cells `chunk · 4096 ..`, at most 4096) of a grid of
/// `resolution` for basis `basis` of an update seeded by `seed`: one uniformly random point
/// in each cell, in the unit cube. Every (basis, chunk) has its own random stream, so the
/// points do not depend on the order chunks are drawn in (the GPU update draws the same).
pub fn jittered_points(resolution: u32, basis: usize, chunk: usize, seed: u64) -> Vec<[f32; 3]> {
    let cells = OccupancyGrid::cell_count(resolution);
    let r = resolution as usize;
    let stream = (basis * cells.div_ceil(UPDATE_CHUNK) + chunk) as u64;
    let mut rng = Pcg64::seed_from_u64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let start = (chunk * UPDATE_CHUNK).min(cells);
    let end = (start + UPDATE_CHUNK).min(cells);
    (start..end)
        .map(|index| {
            let cell = [index % r, (index / r) % r, index / (r * r)];
            cell.map(|c| (c as f32 + rng.random::<f32>()) / resolution as f32)
        })
        .collect()
}

/// Max-pooling with a 2×2×2 window at stride 1: each cell takes the largest value of itself
/// and its neighbours at +1 along each axis (clamped at the far faces).
pub fn max_pool_2(values: &[f32], r: usize) -> Vec<f32> {
    let at = |x: usize, y: usize, z: usize| values[x + r * (y + r * z)];
    (0..values.len())
        .into_par_iter()
        .map(|i| {
            let (x, y, z) = (i % r, (i / r) % r, i / (r * r));
            let mut best = f32::NEG_INFINITY;
            for dz in 0..2 {
                for dy in 0..2 {
                    for dx in 0..2 {
                        best = best.max(at(
                            (x + dx).min(r - 1),
                            (y + dy).min(r - 1),
                            (z + dz).min(r - 1),
                        ));
                    }
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn max_pool_spreads_a_peak_to_its_lower_neighbours() {
        let r = 4;
        let mut values = vec![0.0; r * r * r];
        values[2 + r * (2 + r * 2)] = 5.0;
        let pooled = max_pool_2(&values, r);
        assert_eq!(pooled[1 + r * (1 + r)], 5.0);
        assert_eq!(pooled[2 + r * (2 + r * 2)], 5.0);
        assert_eq!(pooled[3 + r * (3 + r * 3)], 0.0);
        assert_eq!(pooled.iter().filter(|v| **v == 5.0).count(), 8);
    }

    #[test]
    fn threshold_is_the_smaller_of_ten_and_the_mean() {
        let mut grid = OccupancyGrid::full(2);
        grid.set_density(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 100.0]);
        // mean 12.6 → threshold 10: only the 100 cell.
        assert!((0..7).all(|i| !grid.is_occupied(i)) && grid.is_occupied(7));
        grid.set_density(vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 3.0]);
        // mean 0.5 → both non-zero cells.
        assert!(grid.is_occupied(6) && grid.is_occupied(7) && !grid.is_occupied(0));
    }

    /// With a zero neutral table the neutral density is the same everywhere, so nothing
    /// stands out; a basis table switched on at its largest training weight makes cells
    /// occupied, and the grid keeps them (the point of the method's expression-aware grid).
    #[test]
    fn update_keeps_cells_occupied_by_any_basis() {
        let config = ModelConfig::tiny().with_blendshapes(vec!["jawOpen".into()]);
        let model = Model::new(&config);
        let mut rng = Pcg64::seed_from_u64(3);
        let mut params = Params::<f32>::init(&config, &mut rng);
        let tables = params.layout.tables();
        params.data[tables].iter_mut().for_each(|v| *v = 0.0);
        let h1 = params.layout.table(1);
        for (i, v) in params.data[h1].iter_mut().enumerate() {
            *v = if i % 3 == 0 { 4.0 } else { -4.0 };
        }
        let uniform = model.density(&params.data, params.table(0), &[[0.5; 3]])[0];

        let mut neutral_only = OccupancyGrid::full(config.occupancy_resolution);
        neutral_only.update(&model, &params, &[0.0], 1);
        assert_eq!(neutral_only.occupied_fraction(), 0.0);

        let mut grid = OccupancyGrid::full(config.occupancy_resolution);
        grid.update(&model, &params, &[1.0], 1);
        let density = grid.density.clone().unwrap();
        assert!(
            density
                .iter()
                .all(|d| d.is_finite() && *d >= uniform - 1e-6)
        );
        let occupied = grid.occupied_fraction();
        assert!(occupied > 0.0 && occupied < 1.0, "{occupied}");

        // The merge never lowers a cell below 0.9 of what it had.
        grid.update(&model, &params, &[0.0], 2);
        for (old, new) in density.iter().zip(grid.density.as_ref().unwrap()) {
            assert!(*new >= DENSITY_DECAY * old - 1e-6);
        }
    }
}
