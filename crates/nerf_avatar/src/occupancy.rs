//! The expression-aware occupancy grid (METHOD.md §3): a cube of cells over the head box
//! storing density, and the bitfield of occupied cells that ray marching skips by.
//!
//! Cell layout (shared with the CUDA kernels): `index = x + R · (y + R · z)`, bit
//! `index % 8` of byte `index / 8`.

use crate::camera::to_unit_cube;
use crate::config::HeadBox;

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

    /// Fraction of occupied cells.
    pub fn occupied_fraction(&self) -> f64 {
        let cells = Self::cell_count(self.resolution);
        let ones: usize = (0..cells).filter(|&i| self.is_occupied(i)).count();
        ones as f64 / cells as f64
    }
}
