//! `nerf-avatar bench`: throughput of the CPU reference backend, each number set against a
//! roofline of the machine measured in the same run (memory read bandwidth and f32 FMA rate),
//! so that runs on a busy or different machine stay comparable as ratios; the CUDA and WGSL
//! backends' lines beside the CPU's.
//!
//! [`run_suite`] measures, for one model configuration: the blend of the K + 1 tables, the
//! hash encoding, the training forward pass (`nerf_avatar::render::RayBatch`, fresh and in
//! place), forward plus backward, the blend's backward pass, and a 256×256 render of a fresh
//! avatar with a head-shaped occupancy grid (`nerf_avatar::scene`). [`cuda`] times the CUDA
//! backend, [`wgpu`] the WGSL renderer, beside the CPU in the same run; [`command`] is the
//! command line.

mod command;
pub mod cuda;
pub mod roofline;
mod suite;
pub mod wgpu;

use serde::Serialize;

pub use command::{BenchArgs, run};
pub use roofline::Roofline;
pub use suite::run_suite;

/// How long and how carefully to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// Fewer repeats, a smaller stream buffer and fewer rays: a smoke test in seconds.
    pub quick: bool,
}

impl BenchOptions {
    /// Timed runs per workload (the best one counts).
    pub fn repeats(&self) -> usize {
        if self.quick { 2 } else { 5 }
    }

    /// Size of the buffer the read bandwidth is measured on (much larger than the caches).
    pub fn stream_bytes(&self) -> usize {
        if self.quick { 256 << 20 } else { 1 << 30 }
    }

    /// Rounds of the FMA loop per thread.
    pub fn fma_iterations(&self) -> usize {
        if self.quick { 20_000_000 } else { 100_000_000 }
    }

    /// Rays of the training batch (the released code uses 2 frames × 1024 rays).
    pub fn training_rays(&self) -> usize {
        if self.quick { 1024 } else { 4096 }
    }
}

/// A target throughput and whether this run reached it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Goal {
    /// The target, in words.
    pub target: String,
    /// Whether the measured value meets it.
    pub met: bool,
}

/// One measured quantity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchLine {
    /// What was measured.
    pub name: String,
    /// The measured value, in `unit`.
    pub value: f64,
    /// Unit of `value`.
    pub unit: String,
    /// The roofline quantity the value is set against (empty for the roofline itself).
    pub compared_to: String,
    /// The ratio to that quantity, when there is one.
    pub ratio: Option<f64>,
    /// What the ratio divides by what.
    pub ratio_meaning: String,
    /// The target for this line, for the paper configuration.
    pub goal: Option<Goal>,
}

impl BenchLine {
    /// A measured value set against nothing (no roofline quantity, ratio or goal).
    pub fn plain(name: &str, value: f64, unit: &str) -> Self {
        Self {
            name: name.into(),
            value,
            unit: unit.into(),
            compared_to: String::new(),
            ratio: None,
            ratio_meaning: String::new(),
            goal: None,
        }
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// Threads of the rayon pool that every workload ran on.
    pub threads: usize,
    /// The machine's roofline, measured first.
    pub roofline: Roofline,
    /// The measured lines, roofline first.
    pub lines: Vec<BenchLine>,
}
