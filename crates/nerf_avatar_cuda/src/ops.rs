//! The host side of each kernel: one function per CPU reference function, with the same name,
//! launching its twin on device buffers. Sizes are checked before every launch (a short buffer
//! is an error, never an out-of-bounds access).

use cudarc::driver::{CudaSlice, CudaView, DeviceRepr, LaunchConfig};

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use nerf_avatar::camera::{Intrinsics, Pose};
use nerf_avatar::config::ModelConfig;
use nerf_avatar::hashgrid::HashGridLayout;
use nerf_avatar::march::MarchSettings;
use nerf_avatar_train::adam::AdamSettings;
use nerf_avatar_train::loss::RayLossWeights;

/// Fails unless `slice` holds at least `needed` values.
pub fn check_len<T>(what: &str, slice: &CudaSlice<T>, needed: usize) -> Result<(), CudaError> {
    check_view(what, &slice.slice(..), needed)
}

/// Fails unless the view `view` holds at least `needed` values.
pub fn check_view<T>(what: &str, view: &CudaView<'_, T>, needed: usize) -> Result<(), CudaError> {
    if view.len() < needed {
        return Err(CudaError::Unsupported(format!(
            "GPU buffer `{what}` holds {} values, {needed} needed",
            view.len()
        )));
    }
    Ok(())
}

/// Fails unless the per-sample buffers of compositing hold `samples` samples.
fn check_samples(
    samples: usize,
    sigma: &CudaSlice<f32>,
    rgb: &CudaSlice<f32>,
    dt: &CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("sigma", sigma, samples)?;
    check_len("rgb", rgb, 3 * samples)?;
    check_len("dt", dt, samples)
}

/// A count as the kernels' 32-bit index type.
pub fn as_u32(what: &str, value: usize) -> Result<u32, CudaError> {
    u32::try_from(value)
        .map_err(|_| CudaError::Unsupported(format!("{what} = {value} exceeds 2^32 − 1")))
}

/// Grows `slice` to hold at least `len` values (its contents are then undefined).
pub fn ensure_len<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    device: &CudaDevice,
    slice: &mut Option<CudaSlice<T>>,
    len: usize,
) -> Result<(), CudaError> {
    if slice.as_ref().is_none_or(|s| s.len() < len) {
        *slice = Some(device.zeros(len)?);
    }
    Ok(())
}

/// The levels of a hash grid as `kernels/common.cuh` reads them: 5 words per level
/// (scale as f32 bits, resolution, size, offset, hashed).
pub fn pack_levels(layout: &HashGridLayout) -> Vec<u32> {
    layout
        .levels
        .iter()
        .flat_map(|l| {
            [
                (l.scale as f32).to_bits(),
                l.resolution,
                l.size,
                l.offset,
                u32::from(l.hashed),
            ]
        })
        .collect()
}

/// A hash grid's levels on the device.
pub struct DeviceGrid {
    /// The packed levels ([`pack_levels`]).
    pub(crate) levels: CudaSlice<u32>,
    /// L.
    pub level_count: u32,
    /// F.
    pub features: u32,
    /// Values in one table.
    pub table_len: usize,
}

impl DeviceGrid {
    /// Uploads the levels of `layout`.
    pub fn new(device: &CudaDevice, layout: &HashGridLayout) -> Result<Self, CudaError> {
        Ok(Self {
            levels: device.upload(&pack_levels(layout))?,
            level_count: as_u32("levels", layout.levels.len())?,
            features: as_u32("features", layout.features)?,
            table_len: layout.table_len(),
        })
    }

    /// L · F.
    pub fn output_width(&self) -> usize {
        (self.level_count * self.features) as usize
    }
}

/// `out = h0 + Σ_i weights[i] · h_{i+1}` ([`nerf_avatar::hashgrid::blend_tables`]).
pub fn blend_tables(
    device: &CudaDevice,
    tables: &CudaSlice<f32>,
    weights: &CudaSlice<f32>,
    k: usize,
    out: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let table_len = out.len() as u64;
    check_len("tables", tables, out.len() * (k + 1))?;
    check_len("weights", weights, k)?;
    let k = as_u32("blendshapes", k)?;
    let config = grid_1d(out.len());
    launch!(
        device,
        "blend_tables",
        config,
        tables,
        weights,
        &k,
        &table_len,
        out
    )
}

/// Adds the gradient of the blend to `d_tables` ([`nerf_avatar::hashgrid::blend_tables_backward`]).
pub fn blend_tables_backward(
    device: &CudaDevice,
    d_blended: &CudaSlice<f32>,
    weights: &CudaSlice<f32>,
    k: usize,
    d_tables: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let table_len = d_blended.len() as u64;
    check_len("d_tables", d_tables, d_blended.len() * (k + 1))?;
    check_len("weights", weights, k)?;
    let k = as_u32("blendshapes", k)?;
    let config = grid_1d(d_blended.len());
    launch!(
        device,
        "blend_tables_backward",
        config,
        d_blended,
        weights,
        &k,
        &table_len,
        d_tables
    )
}

/// Encodes `n` points (`n × 3`, unit cube) into `out` (`n × L·F`)
/// ([`HashGridLayout::encode_points`]).
pub fn encode_points(
    device: &CudaDevice,
    grid: &DeviceGrid,
    table: &CudaSlice<f32>,
    points: &CudaSlice<f32>,
    n: usize,
    out: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("table", table, grid.table_len)?;
    check_len("points", points, 3 * n)?;
    check_len("encoding", out, n * grid.output_width())?;
    let n32 = as_u32("points", n)?;
    let config = grid_1d(n * grid.level_count as usize);
    let (levels, features) = (&grid.level_count, &grid.features);
    launch!(
        device,
        "encode_points",
        config,
        table,
        points,
        &n32,
        &grid.levels,
        levels,
        features,
        out
    )
}

/// Adds the table gradient of `n` encodings to `d_table`
/// ([`HashGridLayout::encode_backward_points`]).
pub fn encode_backward_points(
    device: &CudaDevice,
    grid: &DeviceGrid,
    points: &CudaSlice<f32>,
    d_out: &CudaSlice<f32>,
    n: usize,
    d_table: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("d_table", d_table, grid.table_len)?;
    check_len("points", points, 3 * n)?;
    check_len("d_encoding", d_out, n * grid.output_width())?;
    let n32 = as_u32("points", n)?;
    let config = grid_1d(n * grid.level_count as usize);
    let (levels, features) = (&grid.level_count, &grid.features);
    launch!(
        device,
        "encode_backward_points",
        config,
        points,
        d_out,
        &n32,
        &grid.levels,
        levels,
        features,
        d_table
    )
}

/// The 16 SH values of `n` unit directions ([`nerf_avatar::sh::sh_encode`]).
pub fn sh_encode(
    device: &CudaDevice,
    directions: &CudaSlice<f32>,
    n: usize,
    out: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check_len("directions", directions, 3 * n)?;
    check_len("sh", out, 16 * n)?;
    let n32 = as_u32("directions", n)?;
    launch!(device, "sh_encode", grid_1d(n), directions, &n32, out)
}

/// Where each ray's samples start, plus the total at the end, on the host and on the device:
/// ray r owns samples `offsets[r]..offsets[r + 1]`. Only [`RayOffsets::upload`] makes one,
/// and it checks that the offsets start at 0 and never decrease, so a kernel that reads a
/// ray's span stays within [`RayOffsets::total`] samples; the fields are private, so safe
/// code cannot change them afterwards.
pub struct RayOffsets {
    host: Vec<u32>,
    device: CudaSlice<u32>,
}

impl RayOffsets {
    /// Checks `offsets` (one per ray, then the total) and copies them to the device.
    pub fn upload(device: &CudaDevice, offsets: Vec<u32>) -> Result<Self, CudaError> {
        if offsets.first() != Some(&0) || offsets.windows(2).any(|pair| pair[1] < pair[0]) {
            return Err(CudaError::Unsupported(
                "ray offsets must start at 0 and never decrease".into(),
            ));
        }
        let on_device = device.upload(&offsets)?;
        Ok(Self {
            host: offsets,
            device: on_device,
        })
    }

    /// Number of rays.
    pub fn rays(&self) -> usize {
        self.host.len() - 1
    }

    /// Number of samples of all rays.
    pub fn total(&self) -> usize {
        self.host[self.rays()] as usize
    }

    /// The offsets on the host.
    pub fn host(&self) -> &[u32] {
        &self.host
    }
}

/// Composites training rays ([`nerf_avatar::composite::composite`] per ray): ray r owns samples
/// `offsets[r]..offsets[r + 1]`; writes colour (× 3), alpha and the samples used.
pub struct CompositeBuffers {
    /// Colour per ray (rays × 3), background included.
    pub color: CudaSlice<f32>,
    /// Opacity per ray.
    pub alpha: CudaSlice<f32>,
    /// Samples used per ray (the rest came after early termination).
    pub used: CudaSlice<u32>,
}

/// [`nerf_avatar::composite::composite`] for every ray of a batch.
#[expect(
    clippy::too_many_arguments,
    reason = "samples, their rays and the outputs"
)]
pub fn composite(
    device: &CudaDevice,
    sigma: &CudaSlice<f32>,
    rgb: &CudaSlice<f32>,
    dt: &CudaSlice<f32>,
    offsets: &RayOffsets,
    backgrounds: &CudaSlice<f32>,
    threshold: f32,
    out: &mut CompositeBuffers,
) -> Result<(), CudaError> {
    let (rays, samples) = (offsets.rays(), offsets.total());
    check_samples(samples, sigma, rgb, dt)?;
    check_len("backgrounds", backgrounds, 3 * rays)?;
    check_len("color", &out.color, 3 * rays)?;
    check_len("alpha", &out.alpha, rays)?;
    check_len("used", &out.used, rays)?;
    let rays32 = as_u32("rays", rays)?;
    launch!(
        device,
        "composite",
        grid_1d(rays),
        sigma,
        rgb,
        dt,
        &offsets.device,
        &rays32,
        backgrounds,
        &threshold,
        &mut out.color,
        &mut out.alpha,
        &mut out.used
    )
}

/// [`nerf_avatar::composite::composite_backward`] for every ray of a batch: ∂loss/∂σ and ∂loss/∂rgb
/// per sample from ∂loss/∂colour (× 3) and ∂loss/∂alpha per ray.
#[expect(
    clippy::too_many_arguments,
    reason = "forward values, output gradients and results"
)]
pub fn composite_backward(
    device: &CudaDevice,
    sigma: &CudaSlice<f32>,
    rgb: &CudaSlice<f32>,
    dt: &CudaSlice<f32>,
    offsets: &RayOffsets,
    result: &CompositeBuffers,
    d_color: &CudaSlice<f32>,
    d_alpha: &CudaSlice<f32>,
    d_sigma: &mut CudaSlice<f32>,
    d_rgb: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let (rays, samples) = (offsets.rays(), offsets.total());
    check_samples(samples, sigma, rgb, dt)?;
    check_len("color", &result.color, 3 * rays)?;
    check_len("alpha", &result.alpha, rays)?;
    check_len("used", &result.used, rays)?;
    check_len("d_color", d_color, 3 * rays)?;
    check_len("d_alpha", d_alpha, rays)?;
    check_len("d_sigma", d_sigma, samples)?;
    check_len("d_rgb", d_rgb, 3 * samples)?;
    let rays32 = as_u32("rays", rays)?;
    launch!(
        device,
        "composite_backward",
        grid_1d(rays),
        sigma,
        rgb,
        dt,
        &offsets.device,
        &rays32,
        &result.color,
        &result.alpha,
        &result.used,
        d_color,
        d_alpha,
        d_sigma,
        d_rgb
    )
}

/// One Adam step ([`nerf_avatar_train::adam::Adam::step`]); `step` counts this step (1 for the
/// first), `decay` is the range that gets weight decay.
#[expect(
    clippy::too_many_arguments,
    reason = "the optimiser's buffers and settings"
)]
pub fn adam_step(
    device: &CudaDevice,
    params: &mut CudaSlice<f32>,
    grads: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
    settings: &AdamSettings,
    step: u64,
    lr: f32,
    decay: std::ops::Range<usize>,
) -> Result<(), CudaError> {
    let n = params.len();
    check_len("grads", grads, n)?;
    check_len("m", m, n)?;
    check_len("v", v, n)?;
    let t = i32::try_from(step).unwrap_or(i32::MAX);
    let correction1 = 1.0 - settings.beta1.powi(t);
    let correction2 = 1.0 - settings.beta2.powi(t);
    let (n64, start, end) = (n as u64, decay.start as u64, decay.end as u64);
    launch!(
        device,
        "adam_step",
        grid_1d(n),
        params,
        grads,
        m,
        v,
        &n64,
        &lr,
        &settings.beta1,
        &settings.beta2,
        &settings.epsilon,
        &settings.weight_decay,
        &start,
        &end,
        &correction1,
        &correction2
    )
}

/// Gradients of a ray batch's losses ([`nerf_avatar_train::loss::ray_loss`]).
pub struct RayLossGradients {
    /// ∂loss/∂colour (rays × 3).
    pub d_color: CudaSlice<f32>,
    /// ∂loss/∂alpha per ray.
    pub d_alpha: CudaSlice<f32>,
}

/// Values on the device whose sum, times a scale, the host reads when it asks (in f64, in
/// order): the host need not wait for the GPU where the values are computed.
pub struct DeviceSum<T> {
    values: CudaSlice<T>,
    len: usize,
    scale: f64,
}

impl<T: DeviceRepr + Default + Clone + Into<f64>> DeviceSum<T> {
    /// The first `len` values of `values`, times `scale`.
    pub fn new(values: CudaSlice<T>, len: usize, scale: f64) -> Self {
        Self { values, len, scale }
    }

    /// The scaled sum (waits for the stream).
    pub fn read(&self, device: &CudaDevice) -> Result<f64, CudaError> {
        let values = device.download(&self.values, self.len)?;
        Ok(self.scale * values.into_iter().map(Into::into).sum::<f64>())
    }
}

/// [`nerf_avatar_train::loss::ray_loss`]: fills the gradients and gives the loss value and the
/// summed squared colour error, each a [`DeviceSum`].
#[expect(
    clippy::too_many_arguments,
    reason = "rendered values, targets, weights and outputs"
)]
pub fn ray_loss(
    device: &CudaDevice,
    color: &CudaSlice<f32>,
    alpha: &CudaSlice<f32>,
    target_color: &CudaSlice<f32>,
    target_mask: &CudaSlice<f32>,
    rays: usize,
    weights: RayLossWeights,
    scale: f32,
    out: &mut RayLossGradients,
) -> Result<(DeviceSum<f32>, DeviceSum<f32>), CudaError> {
    check_len("color", color, 3 * rays)?;
    check_len("alpha", alpha, rays)?;
    check_len("target color", target_color, 3 * rays)?;
    check_len("target mask", target_mask, rays)?;
    check_len("d_color", &out.d_color, 3 * rays)?;
    check_len("d_alpha", &out.d_alpha, rays)?;
    let mut values = device.zeros::<f32>(rays)?;
    let mut squared = device.zeros::<f32>(rays)?;
    let rays32 = as_u32("rays", rays)?;
    launch!(
        device,
        "ray_loss",
        grid_1d(rays),
        color,
        alpha,
        target_color,
        target_mask,
        &rays32,
        &weights.color,
        &weights.mask,
        &weights.entropy,
        &scale,
        &mut out.d_color,
        &mut out.d_alpha,
        &mut values,
        &mut squared
    )?;
    Ok((
        DeviceSum::new(values, rays, 1.0),
        DeviceSum::new(squared, rays, 1.0),
    ))
}

/// [`nerf_avatar_train::loss::sparsity_loss`] on the flat buffers: adds `weight · mean |h|`'s
/// gradient over `range` (the blendshape tables) of `params` to the same range of `grads` and
/// gives its value (`None`: zero).
pub fn sparsity_loss(
    device: &CudaDevice,
    params: &CudaSlice<f32>,
    grads: &mut CudaSlice<f32>,
    range: std::ops::Range<usize>,
    weight: f32,
) -> Result<Option<DeviceSum<f64>>, CudaError> {
    if range.is_empty() || weight == 0.0 {
        return Ok(None);
    }
    check_len("params", params, range.end)?;
    check_len("grads", grads, range.end)?;
    let n = range.len();
    let n64 = n as u64;
    let mut total = device.zeros::<f64>(1)?;
    let tables = params.slice(range.clone());
    let mut g = grads.slice_mut(range);
    launch!(
        device,
        "sparsity_loss",
        grid_1d(n),
        &tables,
        &n64,
        &weight,
        &mut g,
        &mut total
    )?;
    Ok(Some(DeviceSum::new(total, 1, f64::from(weight) / n as f64)))
}

/// How many of the first `len` values of `values` are NaN or infinite.
pub fn count_nonfinite(
    device: &CudaDevice,
    values: &CudaSlice<f32>,
    len: usize,
) -> Result<DeviceSum<u32>, CudaError> {
    check_len("values", values, len)?;
    let mut count = device.zeros::<u32>(1)?;
    let n = len as u64;
    launch!(
        device,
        "count_nonfinite",
        grid_1d(len),
        values,
        &n,
        &mut count
    )?;
    Ok(DeviceSum::new(count, 1, 1.0))
}

/// What `kernels/common.cuh` calls `MarchConfig`: the head box, near distance, step rule,
/// stopping threshold and occupancy resolution.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarchConfig {
    center: [f32; 3],
    half_extent: f32,
    near_distance: f32,
    dt_gamma: f32,
    dt_min: f32,
    dt_max: f32,
    transmittance_threshold: f32,
    occupancy_resolution: u32,
}

// SAFETY: #[repr(C)] plain floats and integers, laid out as the struct in common.cuh.
unsafe impl DeviceRepr for MarchConfig {}

impl MarchConfig {
    /// The marcher of `config` with `settings`.
    pub fn new(config: &ModelConfig, settings: &MarchSettings, occupancy_resolution: u32) -> Self {
        Self {
            center: config.head_box.center,
            half_extent: config.head_box.half_extent,
            near_distance: config.near_distance,
            dt_gamma: settings.dt_gamma,
            dt_min: settings.dt_min,
            dt_max: settings.dt_max,
            transmittance_threshold: settings.transmittance_threshold,
            occupancy_resolution,
        }
    }

    /// Samples stop contributing once transmittance falls below this.
    pub fn transmittance_threshold(&self) -> f32 {
        self.transmittance_threshold
    }
}

/// What `kernels/common.cuh` calls `CameraParams`: intrinsics, the pose's top 3 rows, size.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraParams {
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
    pose: [f32; 12],
    width: u32,
    height: u32,
}

// SAFETY: #[repr(C)] plain floats and integers, laid out as the struct in common.cuh.
unsafe impl DeviceRepr for CameraParams {}

impl CameraParams {
    /// The camera of `intrinsics` at `pose`.
    pub fn new(intrinsics: &Intrinsics, pose: &Pose) -> Self {
        let m = &pose.0;
        Self {
            fx: intrinsics.fx,
            fy: intrinsics.fy,
            cx: intrinsics.cx,
            cy: intrinsics.cy,
            pose: std::array::from_fn(|i| m[i / 4][i % 4]),
            width: intrinsics.width,
            height: intrinsics.height,
        }
    }
}

/// Samples of a batch of training rays on the device ([`nerf_avatar::march::RaySamples`]).
pub struct DeviceSamples {
    /// Where each ray's samples start, plus the total at the end.
    pub offsets: RayOffsets,
    /// Positions in the unit cube (samples × 3).
    pub positions: CudaSlice<f32>,
    /// Directions of the samples' rays (samples × 3).
    pub directions: CudaSlice<f32>,
    /// δ per sample.
    pub dt: CudaSlice<f32>,
}

impl DeviceSamples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.offsets.total()
    }

    /// Whether no ray has a sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`nerf_avatar::march::RaySamples::march`]: marches `origins`/`directions` (rays × 3) through the
/// occupied cells, counting first, then writing every ray's samples densely.
pub fn march_rays(
    device: &CudaDevice,
    config: &MarchConfig,
    occupancy: &CudaSlice<u8>,
    origins: &CudaSlice<f32>,
    directions: &CudaSlice<f32>,
    jitters: &CudaSlice<f32>,
    rays: usize,
) -> Result<DeviceSamples, CudaError> {
    check_len("origins", origins, 3 * rays)?;
    check_len("directions", directions, 3 * rays)?;
    check_len("jitters", jitters, rays)?;
    let cells = (config.occupancy_resolution as usize).pow(3);
    check_len("occupancy", occupancy, cells.div_ceil(8))?;
    let rays32 = as_u32("rays", rays)?;
    let mut counts = device.zeros::<u32>(rays)?;
    launch!(
        device,
        "march_count",
        grid_1d(rays),
        origins,
        directions,
        jitters,
        &rays32,
        config,
        occupancy,
        &mut counts
    )?;
    let counts = device.download(&counts, rays)?;
    let mut offsets = Vec::with_capacity(rays + 1);
    let mut total = 0u64;
    offsets.push(0);
    for c in counts {
        total += u64::from(c);
        offsets.push(as_u32("samples", total as usize)?);
    }
    let samples = total as usize;
    let offsets = RayOffsets::upload(device, offsets)?;
    let mut positions = device.zeros::<f32>(3 * samples)?;
    let mut dt = device.zeros::<f32>(samples)?;
    let mut sample_directions = device.zeros::<f32>(3 * samples)?;
    launch!(
        device,
        "march_write",
        grid_1d(rays),
        origins,
        directions,
        jitters,
        &rays32,
        config,
        occupancy,
        &offsets.device,
        &mut positions,
        &mut dt,
        &mut sample_directions
    )?;
    Ok(DeviceSamples {
        offsets,
        positions,
        directions: sample_directions,
        dt,
    })
}

/// The benchmarks' tensor-core probe (`kernels/roofline.cu`, no CPU twin): `blocks` blocks of
/// `warps` warps each run `rounds` independent `mma.m16n8k16` products of `value`s in f16
/// with f32 sums, and every thread writes its sum into `sums`.
pub fn tensor_rate(
    device: &CudaDevice,
    [blocks, warps]: [u32; 2],
    rounds: u32,
    value: f32,
    sums: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    let threads = 32 * warps;
    check_len("sums", sums, blocks as usize * threads as usize)?;
    let config = LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    launch!(device, "tensor_rate", config, &rounds, &value, sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_packed_as_common_cuh_reads_them() {
        let layout = HashGridLayout::new(&ModelConfig::paper().grid);
        let words = pack_levels(&layout);
        assert_eq!(words.len(), 5 * layout.levels.len());
        for (level, w) in layout.levels.iter().zip(words.chunks_exact(5)) {
            assert_eq!(f32::from_bits(w[0]), level.scale as f32);
            assert_eq!(
                [w[1], w[2], w[3], w[4]],
                [
                    level.resolution,
                    level.size,
                    level.offset,
                    u32::from(level.hashed)
                ]
            );
        }
        assert!(words.chunks_exact(5).any(|w| w[4] == 1) && words[4] == 0);
    }

    #[test]
    fn kernel_structs_have_the_layout_of_common_cuh() {
        assert_eq!(std::mem::size_of::<MarchConfig>(), 10 * 4);
        assert_eq!(std::mem::size_of::<CameraParams>(), 18 * 4);
        let camera = CameraParams::new(
            &Intrinsics::from_fov(4, 3, 30.0),
            &Pose::orbit([0.0; 3], 1.0, 30.0, 0.0),
        );
        assert_eq!((camera.width, camera.height), (4, 3));
        assert_eq!(
            camera.pose[3],
            Pose::orbit([0.0; 3], 1.0, 30.0, 0.0).0[0][3]
        );
    }
}
