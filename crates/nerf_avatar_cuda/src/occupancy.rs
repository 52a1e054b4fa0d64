//! The expression-aware occupancy grid update on the GPU
//! ([`nerf_avatar::occupancy::OccupancyGrid::update`]): per basis (the neutral table and each
//! `h0 + ŵ_i h_i`), densities at one jittered point per cell, max-merged; then max-pooled,
//! merged with the decayed old grid and thresholded at `min(10, mean density)`.
//! The jittered points are the CPU's ([`nerf_avatar::occupancy::jittered_points`], drawn on the host
//! from the same random streams), so both backends query the same points.

use cudarc::driver::CudaSlice;

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::field::{DeviceFieldTape, density_max};
use super::ops::{DeviceGrid, as_u32, blend_tables, check_len};
use nerf_avatar::field::Model;
use nerf_avatar::occupancy::{
    DENSITY_DECAY, OCCUPANCY_THRESHOLD, OccupancyGrid, UPDATE_CHUNK, jittered_points,
};
use rayon::prelude::*;

/// Pools `fresh` (one density per cell), merges it into `grid`'s densities
/// (`max(0.9 · old, new)`) and sets the bitfield: the end of
/// [`OccupancyGrid::update`] ([`nerf_avatar::occupancy::max_pool_2`] and
/// [`OccupancyGrid::set_density`]).
pub fn merge_densities(
    device: &CudaDevice,
    fresh: &CudaSlice<f32>,
    grid: &mut OccupancyGrid,
) -> Result<(), CudaError> {
    let cells = OccupancyGrid::cell_count(grid.resolution);
    check_len("fresh densities", fresh, cells)?;
    let (r, cells32) = (grid.resolution, as_u32("cells", cells)?);
    let mut pooled = device.zeros::<f32>(cells)?;
    launch!(device, "max_pool_2", grid_1d(cells), fresh, &r, &mut pooled)?;
    let mut sum = device.zeros::<f64>(1)?;
    let decay = DENSITY_DECAY;
    let old = match &grid.density {
        Some(old) if old.len() == cells => Some(device.upload(old)?),
        _ => None,
    };
    let old = device.nullable(old.as_ref());
    launch!(
        device,
        "occupancy_merge",
        grid_1d(cells),
        &old.address,
        &cells32,
        &decay,
        &mut pooled,
        &mut sum
    )?;
    let total = device.download(&sum, 1)?.first().copied().unwrap_or(0.0);
    let mean = total / cells.max(1) as f64;
    let threshold = OCCUPANCY_THRESHOLD.min(mean as f32);
    let bytes = cells.div_ceil(8);
    let mut bits = device.zeros::<u8>(bytes)?;
    launch!(
        device,
        "occupancy_bitfield",
        grid_1d(bytes),
        &pooled,
        &cells32,
        &threshold,
        &mut bits
    )?;
    grid.bitfield = device.download(&bits, bytes)?;
    grid.density = Some(device.download(&pooled, cells)?);
    Ok(())
}

/// [`OccupancyGrid::update`] on the GPU: `params` is the whole flat buffer on the device,
/// `max_weights[i]` the largest value of coefficient i in training.
pub fn update_occupancy(
    device: &CudaDevice,
    model: &Model,
    grid_levels: &DeviceGrid,
    params: &CudaSlice<f32>,
    max_weights: &[f32],
    occupancy: &mut OccupancyGrid,
    seed: u64,
) -> Result<(), CudaError> {
    let k = max_weights.len();
    if k != model.config.blendshape_count() {
        return Err(CudaError::Unsupported(format!(
            "{k} largest weights for a model of {} blendshapes",
            model.config.blendshape_count()
        )));
    }
    let cells = OccupancyGrid::cell_count(occupancy.resolution);
    let mut fresh = device.zeros::<f32>(cells)?;
    let mut points = device.zeros::<f32>(3 * cells)?;
    let mut table = device.zeros::<f32>(model.layout.table_len)?;
    let mut tape = DeviceFieldTape::default();
    let mut weights = vec![0.0f32; k];
    let mut device_weights = device.zeros::<f32>(k.max(1))?;
    for basis in 0..=k {
        weights.fill(0.0);
        if basis > 0 {
            weights[basis - 1] = max_weights[basis - 1];
        }
        if k > 0 {
            device.write(&weights, &mut device_weights)?;
        }
        blend_tables(device, params, &device_weights, k, &mut table)?;
        let host_points: Vec<f32> = (0..cells.div_ceil(UPDATE_CHUNK))
            .into_par_iter()
            .flat_map_iter(|chunk| {
                jittered_points(occupancy.resolution, basis, chunk, seed)
                    .into_iter()
                    .flatten()
            })
            .collect();
        device.write(&host_points, &mut points)?;
        density_max(
            device,
            model,
            grid_levels,
            params,
            &table,
            &points,
            cells,
            &mut tape,
            &mut fresh,
        )?;
    }
    merge_densities(device, &fresh, occupancy)
}
