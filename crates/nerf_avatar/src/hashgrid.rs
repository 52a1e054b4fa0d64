//! The multiresolution hash grid with blended tables (docs/METHOD.md §1).
//!
//! A frame's table is `h = h0 + Σ_i w_i h_i` ([`blend_tables`]); a point's encoding is the
//! trilinear interpolation of `h` at the 8 corners of its cell on every level, with
//! tiny-cuda-nn's indexing: `scale_l = 2^(l·log2 b) · N_min − 1`, `res_l = ceil(scale_l) + 1`,
//! `pos = x · scale_l + 0.5`, dense row-major levels while `res^3` (rounded up to a multiple
//! of 8) fits in T, else the coherent prime hash, modulo the level's size.
//!
//! Table layout (shared with the CUDA kernels): entry-major, `table[(offset_l + i) · F + f]`.
//! Encoding layout: level-major, `out[l · F + f]`.

use rayon::prelude::*;

use crate::config::HashGridConfig;
use crate::real::Real;

/// The primes of tiny-cuda-nn's coherent hash, one per axis.
const PRIMES: [u32; 3] = [1, 2_654_435_761, 805_459_861];

/// Entries processed per parallel task in the blend (fits comfortably in L1 with one table).
const BLEND_CHUNK: usize = 4096;

/// Points encoded per parallel task of [`HashGridLayout::encode_batch`].
const ENCODE_CHUNK: usize = 1024;

/// One resolution level of the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridLevel {
    /// `b^l · N_min − 1`, computed in f64.
    pub scale: f64,
    /// Grid points per axis: `ceil(scale) + 1`.
    pub resolution: u32,
    /// Entries of this level in the table.
    pub size: u32,
    /// Index of the level's first entry in the table.
    pub offset: u32,
    /// Whether the level is hashed (else dense, row-major).
    pub hashed: bool,
}

/// The levels of a grid and the size of its table.
#[derive(Clone, Debug, PartialEq)]
pub struct HashGridLayout {
    /// Every level, coarsest first.
    pub levels: Vec<GridLevel>,
    /// Features per entry, F.
    pub features: usize,
    /// Entries of one table over all levels.
    pub entries: usize,
}

impl HashGridLayout {
    /// The layout of a grid configuration.
    pub fn new(config: &HashGridConfig) -> Self {
        let level_count = config.levels.max(1);
        let log2_per_level_scale = per_level_scale(config).log2();
        let max_size = 1u64 << config.log2_table_size;
        let mut offset = 0u64;
        let levels = (0..level_count)
            .map(|l| {
                // tiny-cuda-nn: exp2(l · log2(b)) · N_min − 1.
                let growth = 2f64.powf(f64::from(l) * log2_per_level_scale);
                let scale = growth * f64::from(config.base_resolution) - 1.0;
                let resolution = scale.ceil() as u64 + 1;
                let dense_size = resolution.pow(3).next_multiple_of(8);
                let size = dense_size.min(max_size);
                let level = GridLevel {
                    scale,
                    resolution: resolution as u32,
                    size: size as u32,
                    offset: offset as u32,
                    hashed: dense_size > max_size,
                };
                offset += size;
                level
            })
            .collect();
        Self {
            levels,
            features: config.features_per_level as usize,
            entries: offset as usize,
        }
    }

    /// Values in one table: entries × F.
    pub fn table_len(&self) -> usize {
        self.entries * self.features
    }

    /// Width of a point's encoding: L · F.
    pub fn output_width(&self) -> usize {
        self.levels.len() * self.features
    }

    /// The 8 corners of `x`'s cell on `level`: table entry indices and trilinear weights.
    pub fn corners<R: Real>(&self, level: &GridLevel, x: [R; 3]) -> [(usize, R); 8] {
        let scale = R::of(level.scale);
        let half = R::of(0.5);
        let mut cell = [0u32; 3];
        let mut frac = [R::zero(); 3];
        for d in 0..3 {
            let pos = x[d].max(R::zero()).min(R::one()) * scale + half;
            let floor = pos.floor();
            cell[d] = floor.to_u32().unwrap_or(0);
            frac[d] = pos - floor;
        }
        std::array::from_fn(|corner| {
            let mut c = [0u32; 3];
            let mut weight = R::one();
            for d in 0..3 {
                if corner & (1 << d) != 0 {
                    c[d] = cell[d] + 1;
                    weight *= frac[d];
                } else {
                    c[d] = cell[d];
                    weight *= R::one() - frac[d];
                }
            }
            (level.offset as usize + level_index(level, c), weight)
        })
    }

    /// Encodes one point `x` ∈ [0, 1]^3 with `table` into `out` (L · F values).
    pub fn encode<R: Real>(&self, table: &[R], x: [R; 3], out: &mut [R]) {
        let f = self.features;
        for (level, out) in self.levels.iter().zip(out.chunks_exact_mut(f)) {
            out.fill(R::zero());
            for (entry, weight) in self.corners(level, x) {
                let values = &table[entry * f..entry * f + f];
                for (o, v) in out.iter_mut().zip(values) {
                    *o += weight * *v;
                }
            }
        }
    }

    /// Adds the gradient of one encoding (`d_out`, L · F values) to `d_table`.
    pub fn encode_backward<R: Real>(&self, x: [R; 3], d_out: &[R], d_table: &mut [R]) {
        let f = self.features;
        for (level, d_out) in self.levels.iter().zip(d_out.chunks_exact(f)) {
            for (entry, weight) in self.corners(level, x) {
                let grads = &mut d_table[entry * f..entry * f + f];
                for (g, d) in grads.iter_mut().zip(d_out) {
                    *g += weight * *d;
                }
            }
        }
    }

    /// Encodes many points in parallel; `out` holds `points.len()` rows of L · F values.
    pub fn encode_batch<R: Real>(&self, table: &[R], points: &[[R; 3]], out: &mut [R]) {
        let width = self.output_width();
        out.par_chunks_mut(ENCODE_CHUNK * width)
            .zip(points.par_chunks(ENCODE_CHUNK))
            .for_each(|(out, points)| self.encode_points(table, points, out));
    }

    /// Encodes `points` into rows of `out` (L · F values each) on the calling thread, level
    /// by level so that one level's part of the table stays in cache; the same values as
    /// [`Self::encode`] point by point.
    pub fn encode_points<R: Real>(&self, table: &[R], points: &[[R; 3]], out: &mut [R]) {
        let width = self.output_width();
        assert_eq!(out.len(), points.len() * width, "one output row per point");
        assert_eq!(table.len(), self.table_len(), "table of another layout");
        match self.features {
            1 => self.encode_levels::<R, 1>(table, points, out),
            2 => self.encode_levels::<R, 2>(table, points, out),
            4 => self.encode_levels::<R, 4>(table, points, out),
            8 => self.encode_levels::<R, 8>(table, points, out),
            _ => {
                for (x, row) in points.iter().zip(out.chunks_exact_mut(width)) {
                    self.encode(table, *x, row);
                }
            }
        }
    }

    /// [`Self::encode_points`] for `F` features per entry, summed in registers.
    fn encode_levels<R: Real, const F: usize>(
        &self,
        table: &[R],
        points: &[[R; 3]],
        out: &mut [R],
    ) {
        let width = self.output_width();
        let (entries, _) = table.as_chunks::<F>();
        for (l, level) in self.levels.iter().enumerate() {
            let lookup = LevelLookup::<R>::new(level);
            for (x, row) in points.iter().zip(out.chunks_exact_mut(width)) {
                let corners = lookup.corners(*x);
                let mut sum = [R::zero(); F];
                for (entry, weight) in corners.entries.iter().zip(corners.weights) {
                    for (s, v) in sum.iter_mut().zip(&entries[*entry]) {
                        *s += weight * *v;
                    }
                }
                row[l * F..(l + 1) * F].copy_from_slice(&sum);
            }
        }
    }

    /// Adds the gradients of the encodings of `points` (`d_out`, rows of L · F values) to
    /// `d_table` on the calling thread, level by level; the same sums in the same order as
    /// [`Self::encode_backward`] point by point (levels own disjoint entries).
    pub fn encode_backward_points<R: Real>(
        &self,
        points: &[[R; 3]],
        d_out: &[R],
        d_table: &mut [R],
    ) {
        let width = self.output_width();
        assert_eq!(
            d_out.len(),
            points.len() * width,
            "one gradient row per point"
        );
        assert_eq!(d_table.len(), self.table_len(), "table of another layout");
        match self.features {
            1 => self.encode_backward_levels::<R, 1>(points, d_out, d_table),
            2 => self.encode_backward_levels::<R, 2>(points, d_out, d_table),
            4 => self.encode_backward_levels::<R, 4>(points, d_out, d_table),
            8 => self.encode_backward_levels::<R, 8>(points, d_out, d_table),
            _ => {
                for (x, d) in points.iter().zip(d_out.chunks_exact(width)) {
                    self.encode_backward(*x, d, d_table);
                }
            }
        }
    }

    /// [`Self::encode_backward_points`] for `F` features per entry.
    fn encode_backward_levels<R: Real, const F: usize>(
        &self,
        points: &[[R; 3]],
        d_out: &[R],
        d_table: &mut [R],
    ) {
        let width = self.output_width();
        let (entries, _) = d_table.as_chunks_mut::<F>();
        for (l, level) in self.levels.iter().enumerate() {
            let lookup = LevelLookup::<R>::new(level);
            for (x, row) in points.iter().zip(d_out.chunks_exact(width)) {
                let corners = lookup.corners(*x);
                let (d_level, _) = row[l * F..].as_chunks::<F>();
                let d_level = &d_level[0];
                for (entry, weight) in corners.entries.iter().zip(corners.weights) {
                    for (g, d) in entries[*entry].iter_mut().zip(d_level) {
                        *g += weight * *d;
                    }
                }
            }
        }
    }

    /// Adds the gradients of many encodings to `d_table`, one private table per thread.
    pub fn encode_backward_batch<R: Real>(
        &self,
        points: &[[R; 3]],
        d_out: &[R],
        d_table: &mut [R],
    ) {
        let width = self.output_width();
        let parts = rayon::current_num_threads().max(1);
        let per_part = points.len().div_ceil(parts).max(1);
        let partials: Vec<Vec<R>> = points
            .par_chunks(per_part)
            .zip(d_out.par_chunks(per_part * width))
            .map(|(points, d_out)| {
                let mut grad = vec![R::zero(); d_table.len()];
                for (points, d_out) in points
                    .chunks(ENCODE_CHUNK)
                    .zip(d_out.chunks(ENCODE_CHUNK * width))
                {
                    self.encode_backward_points(points, d_out, &mut grad);
                }
                grad
            })
            .collect();
        d_table
            .par_chunks_mut(BLEND_CHUNK)
            .enumerate()
            .for_each(|(chunk, g)| {
                let start = chunk * BLEND_CHUNK;
                for partial in &partials {
                    for (g, p) in g.iter_mut().zip(&partial[start..]) {
                        *g += *p;
                    }
                }
            });
    }
}

/// The 8 corners of a point's cell on one level: table entries and trilinear weights.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Corners<R> {
    entries: [usize; 8],
    weights: [R; 8],
}

/// One level's lookup constants, converted once per batch: [`HashGridLayout::corners`]
/// with the index and weight of each axis computed once and combined per corner.
#[derive(Clone, Copy, Debug)]
struct LevelLookup<R> {
    scale: R,
    offset: usize,
    size: usize,
    /// Index stride of y and z on a dense level (1 and `res`, `res²`).
    dense_strides: [usize; 3],
    hashed: bool,
    /// `size − 1` for a hashed level of a power-of-two size (always, for a layout from
    /// [`HashGridLayout::new`]); the hash is then reduced with a mask.
    hash_mask: Option<u32>,
}

impl<R: Real> LevelLookup<R> {
    fn new(level: &GridLevel) -> Self {
        let res = level.resolution as usize;
        Self {
            scale: R::of(level.scale),
            offset: level.offset as usize,
            size: level.size as usize,
            dense_strides: [1, res, res * res],
            hashed: level.hashed,
            hash_mask: (level.hashed && level.size.is_power_of_two()).then(|| level.size - 1),
        }
    }

    /// The same entries and weights as [`HashGridLayout::corners`], bit for bit (inlined
    /// into the encoders' loops, so that they stay in registers).
    #[inline(always)]
    fn corners(&self, x: [R; 3]) -> Corners<R> {
        let half = R::of(0.5);
        let mut cell = [0u32; 3];
        // weights[d] = [1 − frac, frac] along axis d.
        let mut axis_weights = [[R::zero(); 2]; 3];
        for d in 0..3 {
            let pos = x[d].max(R::zero()).min(R::one()) * self.scale + half;
            // pos ≥ 0.5, so truncation is the floor.
            cell[d] = pos.to_u32().unwrap_or(0);
            let frac = pos - R::of(f64::from(cell[d]));
            axis_weights[d] = [R::one() - frac, frac];
        }
        let xy_weights: [R; 4] =
            std::array::from_fn(|c| axis_weights[0][c & 1] * axis_weights[1][c >> 1]);
        let weights = std::array::from_fn(|c| xy_weights[c & 3] * axis_weights[2][c >> 2]);
        let entries = if self.hashed {
            let axis: [[u32; 2]; 3] = std::array::from_fn(|d| {
                [0, 1].map(|step| (cell[d] + step).wrapping_mul(PRIMES[d]))
            });
            std::array::from_fn(|c| {
                let hash = axis[0][c & 1] ^ axis[1][(c >> 1) & 1] ^ axis[2][c >> 2];
                let index = match self.hash_mask {
                    Some(mask) => (hash & mask) as usize,
                    None => hash as usize % self.size,
                };
                self.offset + index
            })
        } else {
            let axis: [[usize; 2]; 3] = std::array::from_fn(|d| {
                [0, 1].map(|step| (cell[d] + step) as usize * self.dense_strides[d])
            });
            std::array::from_fn(|c| {
                let index = axis[0][c & 1] + axis[1][(c >> 1) & 1] + axis[2][c >> 2];
                // Only cells on the far faces reach past the level (tiny-cuda-nn wraps them).
                let index = if index < self.size {
                    index
                } else {
                    index % self.size
                };
                self.offset + index
            })
        };
        Corners { entries, weights }
    }
}

/// `b = 2^(log2(N_max / N_min) / (L − 1))`, the growth of the resolution per level.
pub fn per_level_scale(config: &HashGridConfig) -> f64 {
    if config.levels <= 1 {
        return 1.0;
    }
    let ratio = f64::from(config.finest_resolution) / f64::from(config.base_resolution);
    2f64.powf(ratio.log2() / f64::from(config.levels - 1))
}

/// Index of grid point `c` inside its level (before the level offset).
fn level_index(level: &GridLevel, c: [u32; 3]) -> usize {
    let index = if level.hashed {
        (c[0].wrapping_mul(PRIMES[0]) ^ c[1].wrapping_mul(PRIMES[1]) ^ c[2].wrapping_mul(PRIMES[2]))
            as u64
    } else {
        let res = u64::from(level.resolution);
        u64::from(c[0]) + u64::from(c[1]) * res + u64::from(c[2]) * res * res
    };
    (index % u64::from(level.size)) as usize
}

/// The frame's table `out = h0 + Σ_i weights[i] · h_{i+1}`, where `tables` holds the K + 1
/// tables of `table_len` values back to back (h0 first).
pub fn blend_tables<R: Real>(tables: &[R], weights: &[R], out: &mut [R]) {
    let table_len = out.len();
    assert_eq!(
        tables.len(),
        table_len * (weights.len() + 1),
        "tables and weights disagree"
    );
    out.par_chunks_mut(BLEND_CHUNK)
        .enumerate()
        .for_each(|(chunk, out)| {
            let start = chunk * BLEND_CHUNK;
            let end = start + out.len();
            out.copy_from_slice(&tables[start..end]);
            for (i, w) in weights.iter().enumerate() {
                if w.is_zero() {
                    continue;
                }
                let base = (i + 1) * table_len;
                for (o, h) in out.iter_mut().zip(&tables[base + start..base + end]) {
                    *o += *w * *h;
                }
            }
        });
}

/// Adds the gradient of [`blend_tables`] to `d_tables`: `d_h0 += d_out`, `d_h_i += w_i d_out`.
pub fn blend_tables_backward<R: Real>(d_blended: &[R], weights: &[R], d_tables: &mut [R]) {
    let table_len = d_blended.len();
    assert_eq!(
        d_tables.len(),
        table_len * (weights.len() + 1),
        "tables and weights disagree"
    );
    d_tables
        .par_chunks_mut(table_len)
        .enumerate()
        .for_each(|(t, d_table)| {
            let w = if t == 0 { R::one() } else { weights[t - 1] };
            if w.is_zero() {
                return;
            }
            for (g, d) in d_table.iter_mut().zip(d_blended) {
                *g += w * *d;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(levels: u32, log2: u32, base: u32, finest: u32) -> HashGridConfig {
        HashGridConfig {
            levels,
            log2_table_size: log2,
            features_per_level: 2,
            base_resolution: base,
            finest_resolution: finest,
        }
    }

    #[test]
    fn small_levels_are_dense_and_large_ones_hashed() {
        let layout = HashGridLayout::new(&config(4, 10, 4, 64));
        assert_eq!(layout.levels[0].resolution, 4);
        assert!(!layout.levels[0].hashed);
        assert_eq!(layout.levels[0].size, 64);
        assert!(layout.levels[1].hashed);
        assert_eq!(layout.entries, 64 + 3 * 1024);
    }

    #[test]
    fn encoding_is_linear_in_the_table_and_backward_is_its_transpose() {
        let layout = HashGridLayout::new(&config(3, 8, 4, 16));
        let n = layout.table_len();
        let table: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let x = [0.31, 0.77, 0.05];
        let mut out = vec![0.0; layout.output_width()];
        layout.encode(&table, x, &mut out);
        let d_out: Vec<f64> = (0..out.len()).map(|i| 1.0 + i as f64).collect();
        let mut d_table = vec![0.0; n];
        layout.encode_backward(x, &d_out, &mut d_table);
        let lhs: f64 = out.iter().zip(&d_out).map(|(a, b)| a * b).sum();
        let rhs: f64 = table.iter().zip(&d_table).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }

    /// Points inside, on the faces of and outside the unit cube.
    fn awkward_points<R: Real>(count: usize) -> Vec<[R; 3]> {
        let mut points: Vec<[R; 3]> = (0..count)
            .map(|i| {
                let t = i as f64;
                [0.37, 0.61, 0.83].map(|step| R::of((t * step).fract() * 1.2 - 0.1))
            })
            .collect();
        points.extend([[0.0; 3], [1.0; 3], [1.0, 0.0, 0.5]].map(|p| p.map(R::of)));
        points
    }

    fn check_level_major_paths<R: Real>(config: &HashGridConfig) {
        let layout = HashGridLayout::new(config);
        assert!(layout.levels.iter().any(|l| l.hashed) && layout.levels.iter().any(|l| !l.hashed));
        let n = layout.table_len();
        let table: Vec<R> = (0..n).map(|i| R::of((i as f64 * 0.37).sin())).collect();
        let points = awkward_points::<R>(500);
        let width = layout.output_width();

        let mut batched = vec![R::zero(); points.len() * width];
        layout.encode_points(&table, &points, &mut batched);
        let mut parallel = vec![R::zero(); points.len() * width];
        layout.encode_batch(&table, &points, &mut parallel);
        let mut single = vec![R::zero(); width];
        let d_out: Vec<R> = (0..points.len() * width)
            .map(|i| R::of((i % 13) as f64 - 6.0))
            .collect();
        let mut d_single = vec![R::zero(); n];
        for (i, x) in points.iter().enumerate() {
            let rows = i * width..(i + 1) * width;
            layout.encode(&table, *x, &mut single);
            assert_eq!(single, batched[rows.clone()], "point {i}: {x:?}");
            assert_eq!(single, parallel[rows.clone()], "point {i}: {x:?}");
            layout.encode_backward(*x, &d_out[rows], &mut d_single);
        }
        let mut d_batched = vec![R::zero(); n];
        layout.encode_backward_points(&points, &d_out, &mut d_batched);
        // Levels own disjoint entries, so every entry sums the same terms in the same order.
        assert_eq!(d_batched, d_single);
    }

    #[test]
    fn level_major_encoding_equals_the_plain_one_bit_for_bit() {
        check_level_major_paths::<f32>(&config(6, 10, 3, 60));
        check_level_major_paths::<f64>(&config(6, 10, 3, 60));
        let mut paper_grid = crate::config::ModelConfig::paper().grid;
        paper_grid.log2_table_size = 12;
        check_level_major_paths::<f32>(&paper_grid);
        let odd_features = HashGridConfig {
            features_per_level: 3,
            ..config(6, 10, 3, 60)
        };
        check_level_major_paths::<f64>(&odd_features);
    }

    #[test]
    fn blend_and_its_backward() {
        let tables: Vec<f32> = (0..3 * 5000).map(|i| i as f32).collect();
        let mut out = vec![0.0; 5000];
        blend_tables(&tables, &[0.5, -1.0], &mut out);
        assert_eq!(out[7], 7.0 + 0.5 * 5007.0 - 10007.0);
        let mut d = vec![0.0; 15000];
        blend_tables_backward(&vec![1.0; 5000], &[0.5, -1.0], &mut d);
        assert_eq!((d[3], d[5003], d[10003]), (1.0, 0.5, -1.0));
    }

    #[test]
    fn batch_backward_equals_the_sum_of_single_backwards() {
        let layout = HashGridLayout::new(&config(4, 9, 4, 64));
        let points: Vec<[f32; 3]> = (0..301)
            .map(|i| {
                [
                    (i as f32 * 0.013) % 1.0,
                    (i as f32 * 0.029) % 1.0,
                    (i as f32 * 0.047) % 1.0,
                ]
            })
            .collect();
        let width = layout.output_width();
        let d_out: Vec<f32> = (0..points.len() * width)
            .map(|i| (i % 7) as f32 - 3.0)
            .collect();
        let mut batch = vec![0.0; layout.table_len()];
        layout.encode_backward_batch(&points, &d_out, &mut batch);
        let mut single = vec![0.0; layout.table_len()];
        for (x, d) in points.iter().zip(d_out.chunks(width)) {
            layout.encode_backward(*x, d, &mut single);
        }
        for (a, b) in batch.iter().zip(&single) {
            assert!((a - b).abs() < 1e-3);
        }
    }
}
