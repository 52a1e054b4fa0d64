//! The fully fused half-precision field of inference (`kernels/field_fp16.cu`): the twin of
//! [`nerf_avatar::field::Model::field_forward_into`] with fp16 weights and activations and fp32
//! accumulation on the tensor cores (`mma.m16n8k16`), one kernel from the sample positions to
//! σ and RGB.
//!
//! The host packs each layer's weights in the order the warp's lanes read them as B
//! fragments: per 8-output × 16-input tile, lane `l` holds the f16 pairs of output
//! `8·nt + l/4` at inputs `16·kt + 2·(l%4)` (+1) and the same + 8. Widths are padded to whole
//! tiles with zeros; the last density layer's outputs are permuted so that the geometry
//! feature (outputs 1..=G) comes first, at the columns where the colour MLP's input takes it,
//! and the density logit (output 0) at column G.

use cudarc::driver::{CudaSlice, DeviceRepr, LaunchConfig};
use half::f16;

use super::CudaError;
use super::device::{CudaDevice, grid_1d, launch};
use super::ops::{DeviceGrid, as_u32, check_len};
use nerf_avatar::field::Model;
use nerf_avatar::params::LayerShape;
use nerf_avatar::sh::SH_COEFFICIENTS;
use nerf_avatar_simd::f16_pairs::f16_pair;

/// Most layers of both MLPs together (`FUSED_MAX_LAYERS`).
const MAX_LAYERS: usize = 12;
/// Most input tiles of 16 of a layer (`MAX_K_TILES`): the colour MLP's 16 SH + 64 features.
const MAX_K_TILES: usize = 5;
/// Most output tiles of 8 of a layer (`MAX_N_TILES`): 64 features + the density logit.
const MAX_N_TILES: usize = 9;
/// Warps per block (`FUSED_WARPS`), each owning 16 samples at a time.
const WARPS: u32 = 4;
/// The widest hash encoding (L·F) the kernel stages.
const MAX_ENCODING: usize = 64;

/// What `kernels/field_fp16.cu` calls `FusedLayers`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FusedLayers {
    offset: [u32; MAX_LAYERS],
    n_tiles: [u32; MAX_LAYERS],
    k_tiles: [u32; MAX_LAYERS],
    density_layers: u32,
    color_layers: u32,
    geometry_features: u32,
}

// SAFETY: #[repr(C)] plain integers, laid out as the struct in field_fp16.cu.
unsafe impl DeviceRepr for FusedLayers {}

/// Why `model` cannot run on the fused kernel, or `None` when it can.
pub fn unsupported_reason(model: &Model) -> Option<String> {
    let config = &model.config;
    let encoding = model.grid.output_width();
    let geometry = config.geometry_features as usize;
    let layers = model.layout.density_layers.len() + model.layout.color_layers.len();
    let hidden_too_wide = model.layout.density_layers[..model.layout.density_layers.len() - 1]
        .iter()
        .chain(&model.layout.color_layers[..model.layout.color_layers.len() - 1])
        .any(|l| l.outputs > 64);
    if encoding > MAX_ENCODING {
        Some(format!(
            "a hash encoding of {encoding} values (at most {MAX_ENCODING})"
        ))
    } else if geometry == 0 || geometry > 64 {
        Some(format!("{geometry} geometry features (1 to 64)"))
    } else if hidden_too_wide {
        Some("hidden layers wider than 64".into())
    } else if layers > MAX_LAYERS {
        Some(format!("{layers} layers (at most {MAX_LAYERS})"))
    } else {
        None
    }
}

/// Output tiles of a layer whose outputs feed the next layer as 16-wide input tiles.
fn hidden_tiles(outputs: usize) -> usize {
    2 * outputs.div_ceil(16)
}

/// Appends one layer's B fragments to `out`: `row_of(n)` is the weight row feeding output
/// column `n` (none for padding).
fn pack_layer(
    weights: &[f32],
    shape: &LayerShape,
    n_tiles: usize,
    k_tiles: usize,
    row_of: impl Fn(usize) -> Option<usize>,
    out: &mut Vec<u32>,
) {
    let at = |n: usize, k: usize| match row_of(n) {
        Some(row) if k < shape.inputs => weights[row * shape.inputs + k],
        _ => 0.0,
    };
    for nt in 0..n_tiles {
        for kt in 0..k_tiles {
            for lane in 0..32 {
                let (n, k) = (8 * nt + lane / 4, 16 * kt + 2 * (lane % 4));
                out.push(f16_pair(at(n, k), at(n, k + 1)));
                out.push(f16_pair(at(n, k + 8), at(n, k + 9)));
            }
        }
    }
}

/// Both MLPs of `model` packed from the flat parameters `params`: the fragments and the
/// table of layers. Fails on a model the kernel does not take, or on a weight outside f16's
/// range.
pub fn pack_mlps(model: &Model, params: &[f32]) -> Result<(Vec<u32>, FusedLayers), CudaError> {
    if let Some(reason) = unsupported_reason(model) {
        return Err(CudaError::Unsupported(format!(
            "the fused fp16 field does not take {reason}"
        )));
    }
    let geometry = model.config.geometry_features as usize;
    let density = &model.layout.density_layers;
    let color = &model.layout.color_layers;
    let mut layers = FusedLayers {
        density_layers: density.len() as u32,
        color_layers: color.len() as u32,
        geometry_features: geometry as u32,
        ..FusedLayers::default()
    };
    let mut fragments = Vec::new();
    for (i, shape) in density.iter().chain(color).enumerate() {
        let weights = &params[shape.range()];
        if let Some(bad) = weights.iter().find(|w| !f16::from_f32(**w).is_finite()) {
            return Err(CudaError::Unsupported(format!(
                "weight {bad} of MLP layer {i} is outside f16's range"
            )));
        }
        let last_density = i + 1 == density.len();
        let k_tiles = if i == density.len() {
            1 + geometry.div_ceil(16)
        } else {
            shape.inputs.div_ceil(16)
        };
        let n_tiles = if last_density {
            (geometry + 1).div_ceil(8).max(hidden_tiles(geometry))
        } else if i + 1 == density.len() + color.len() {
            shape.outputs.div_ceil(8)
        } else {
            hidden_tiles(shape.outputs)
        };
        debug_assert!(k_tiles <= MAX_K_TILES && n_tiles <= MAX_N_TILES);
        layers.offset[i] = as_u32("fragments", fragments.len() / 2)?;
        layers.n_tiles[i] = n_tiles as u32;
        layers.k_tiles[i] = k_tiles as u32;
        if last_density {
            let row_of = |n: usize| match n {
                n if n < geometry => Some(n + 1),
                n if n == geometry => Some(0),
                _ => None,
            };
            pack_layer(weights, shape, n_tiles, k_tiles, row_of, &mut fragments);
        } else {
            let row_of = |n: usize| (n < shape.outputs).then_some(n);
            pack_layer(weights, shape, n_tiles, k_tiles, row_of, &mut fragments);
        }
    }
    debug_assert_eq!(
        color.first().map(|l| l.inputs),
        Some(SH_COEFFICIENTS + geometry)
    );
    Ok((fragments, layers))
}

/// Fails where a value of the expression tables in `params` is outside f16's range (the
/// blended table the kernel reads is f16).
fn check_tables(model: &Model, params: &[f32]) -> Result<(), CudaError> {
    let tables = params.get(model.layout.tables()).unwrap_or_default();
    match tables.iter().find(|v| !f16::from_f32(**v).is_finite()) {
        Some(bad) => Err(CudaError::Unsupported(format!(
            "table value {bad} is outside f16's range"
        ))),
        None => Ok(()),
    }
}

/// A model's MLPs on the device, packed for the fused kernel, and its blended table in f16.
pub struct FusedField {
    fragments: CudaSlice<u32>,
    layers: FusedLayers,
    /// The blended table as f16 pairs ([`FusedField::blend`]).
    table: CudaSlice<u32>,
    table_len: usize,
}

impl FusedField {
    /// Packs and uploads the MLPs of `params` (the whole flat buffer). Fails where the device
    /// has no `mma.m16n8k16` (before sm_80), the model does not fit the kernel, or a weight
    /// or a table value is outside f16's range.
    pub fn new(device: &CudaDevice, model: &Model, params: &[f32]) -> Result<Self, CudaError> {
        let arch = device.arch();
        if arch.major < 8 {
            return Err(CudaError::Unsupported(format!(
                "the fused fp16 field needs compute capability 8.0 or later (the GPU has {}.{})",
                arch.major, arch.minor
            )));
        }
        let (fragments, layers) = pack_mlps(model, params)?;
        check_tables(model, params)?;
        let table_len = model.layout.table_len;
        Ok(Self {
            fragments: device.upload(&fragments)?,
            layers,
            table: device.zeros(table_len.div_ceil(2))?,
            table_len,
        })
    }

    /// Blends the table the kernel reads, in f16: the first of the K + 1 `tables` plus the
    /// others times their `weights` (`blend_tables_f16`, the twin of
    /// [`nerf_avatar::hashgrid::blend_tables`] rounded to f16 pairs as
    /// [`nerf_avatar_simd::f16_pairs::pack_f16_pairs`] packs them).
    pub fn blend(
        &mut self,
        device: &CudaDevice,
        tables: &CudaSlice<f32>,
        weights: &CudaSlice<f32>,
        k: usize,
    ) -> Result<(), CudaError> {
        check_len("tables", tables, (k + 1) * self.table_len)?;
        check_len("weights", weights, k)?;
        let k32 = as_u32("blendshapes", k)?;
        let table_len = self.table_len as u64;
        launch!(
            device,
            "blend_tables_f16",
            grid_1d(self.table_len.div_ceil(2)),
            tables,
            weights,
            &k32,
            &table_len,
            &mut self.table
        )
    }

    /// The table the last [`FusedField::blend`] made, as f16 pairs.
    pub fn table(&self) -> &CudaSlice<u32> {
        &self.table
    }

    /// Repacks the MLPs of new parameters (same model).
    pub fn update(
        &mut self,
        device: &CudaDevice,
        model: &Model,
        params: &[f32],
    ) -> Result<(), CudaError> {
        let (fragments, layers) = pack_mlps(model, params)?;
        device.write(&fragments, &mut self.fragments)?;
        self.layers = layers;
        Ok(())
    }
}

/// The launch of `field_forward_fused` for `n` samples: blocks of 4 warps, each warp
/// 16 samples at a time.
pub fn launch_config(n: usize) -> LaunchConfig {
    let groups = n.div_ceil(16) as u64;
    LaunchConfig {
        grid_dim: (groups.div_ceil(u64::from(WARPS)).max(1) as u32, 1, 1),
        block_dim: (32 * WARPS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// How many samples a launch of the fused field evaluates.
#[derive(Clone, Copy)]
pub enum SampleCount<'a> {
    /// This many.
    Exactly(usize),
    /// As many as the device buffer holds (written by an earlier kernel on the stream), at
    /// most `at_most`: the host need not wait for the count.
    OnDevice {
        /// The most the buffer may hold: the launch covers this many.
        at_most: usize,
        /// One value: the count.
        count: &'a CudaSlice<u32>,
    },
}

/// σ (n) and RGB (n × 3) of `n` samples at `positions` (unit cube, n × 3) seen along
/// `directions` (n × 3), from the table [`FusedField::blend`] made:
/// [`super::field::field_forward`] in half precision, in one launch.
pub fn field_forward_fused(
    device: &CudaDevice,
    field: &FusedField,
    grid: &DeviceGrid,
    positions: &CudaSlice<f32>,
    directions: &CudaSlice<f32>,
    samples: SampleCount<'_>,
    (sigma, rgb): (&mut CudaSlice<f32>, &mut CudaSlice<f32>),
) -> Result<(), CudaError> {
    let (n, count) = match samples {
        SampleCount::Exactly(n) => (n, None),
        SampleCount::OnDevice { at_most, count } => {
            check_len("sample count", count, 1)?;
            (at_most, Some(count))
        }
    };
    if grid.table_len != field.table_len {
        return Err(CudaError::Unsupported(format!(
            "a hash grid of {} table values for a fused field of {}",
            grid.table_len, field.table_len
        )));
    }
    check_len("positions", positions, 3 * n)?;
    check_len("directions", directions, 3 * n)?;
    check_len("sigma", sigma, n)?;
    check_len("rgb", rgb, 3 * n)?;
    let n32 = as_u32("samples", n)?;
    let config = launch_config(n);
    let count = device.nullable(count);
    launch!(
        device,
        "field_forward_fused",
        config,
        &field.table,
        &grid.levels,
        &grid.level_count,
        &grid.features,
        &field.fragments,
        &field.layers,
        positions,
        directions,
        &n32,
        &count.address,
        sigma,
        rgb
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nerf_avatar::config::ModelConfig;
    use nerf_avatar::params::Params;
    use rand::SeedableRng;

    #[test]
    fn every_preset_fits_the_kernel() {
        for config in [
            ModelConfig::paper(),
            ModelConfig::fast(),
            ModelConfig::tiny(),
        ] {
            let model = Model::new(&config);
            assert_eq!(unsupported_reason(&model), None);
            let params = Params::<f32>::init(&config, &mut rand_pcg::Pcg64::seed_from_u64(1));
            let (fragments, layers) = pack_mlps(&model, &params.data).unwrap();
            let total: u32 = (0..(layers.density_layers + layers.color_layers) as usize)
                .map(|i| layers.n_tiles[i] * layers.k_tiles[i] * 32)
                .sum();
            assert_eq!(fragments.len(), 2 * total as usize);
            // Hidden layers hand whole input tiles to the next layer.
            for i in 0..(layers.density_layers + layers.color_layers - 1) as usize {
                if i + 1 != layers.density_layers as usize {
                    assert_eq!(layers.n_tiles[i], 2 * layers.k_tiles[i + 1]);
                }
            }
        }
    }

    #[test]
    fn the_last_density_layer_puts_the_logit_after_the_geometry_feature() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let mut params = vec![0.0f32; model.layout.total()];
        let last = *model.layout.density_layers.last().unwrap();
        // Output o, input 0 holds o + 1 (exact in f16).
        for o in 0..last.outputs {
            params[last.offset + o * last.inputs] = (o + 1) as f32;
        }
        let (fragments, layers) = pack_mlps(&model, &params).unwrap();
        let index = model.layout.density_layers.len() - 1;
        let k_tiles = layers.k_tiles[index] as usize;
        let start = 2 * layers.offset[index] as usize;
        let geometry = config.geometry_features as usize;
        // Column n's input 0 is in the fragment of lane 4·(n % 8), tile (n / 8, 0), low half.
        let column_input0 = |n: usize| {
            let word = fragments[start + 2 * ((n / 8) * k_tiles * 32 + 4 * (n % 8))];
            f16::from_bits((word & 0xffff) as u16).to_f32()
        };
        for n in 0..geometry {
            assert_eq!(column_input0(n), (n + 2) as f32, "feature column {n}");
        }
        assert_eq!(column_input0(geometry), 1.0, "density logit column");
    }

    #[test]
    fn weights_outside_f16_are_refused() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let mut params = vec![0.0f32; model.layout.total()];
        params[model.layout.color_layers[0].offset] = 1e6;
        assert!(pack_mlps(&model, &params).is_err());
    }

    #[test]
    fn table_values_outside_f16_are_refused() {
        let config = ModelConfig::tiny();
        let model = Model::new(&config);
        let mut params = vec![0.0f32; model.layout.total()];
        assert!(check_tables(&model, &params).is_ok());
        params[model.layout.tables().end - 1] = -1e5;
        assert!(check_tables(&model, &params).is_err());
    }
}
