//! A two-number roofline of the machine the benchmark runs on, measured with every thread of
//! the rayon pool: the memory read bandwidth (a stream sum over a buffer much larger than the
//! caches) and the f32 FMA rate (independent accumulators, so that the loop is compute bound).

use std::hint::black_box;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

/// Floats summed per parallel task of the stream sum (4 MiB).
const STREAM_TASK_LEN: usize = 1 << 20;
/// Independent vector accumulators of the FMA loop: more than FMA latency × FMA ports.
const FMA_ACCUMULATORS: usize = 12;
/// Lanes of one accumulator (one 256-bit vector of f32).
const FMA_LANES: usize = 8;

/// What the machine can do at best, measured in the same run as the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Roofline {
    /// Memory read bandwidth, all threads, in bytes per second.
    pub read_bytes_per_second: f64,
    /// f32 FMA throughput, all threads, in FLOP per second (an FMA counts as 2 FLOP).
    pub fma_flop_per_second: f64,
}

impl Roofline {
    /// Measures both numbers: the stream sum over `buffer_bytes` bytes (best of `repeats`)
    /// and `fma_iterations` rounds of the FMA loop per thread (best of `repeats`).
    pub fn measure(buffer_bytes: usize, fma_iterations: usize, repeats: usize) -> Self {
        Self {
            read_bytes_per_second: read_bandwidth(buffer_bytes, repeats),
            fma_flop_per_second: fma_rate(fma_iterations, repeats),
        }
    }

    /// Seconds needed to read `bytes` once at the measured bandwidth.
    pub fn stream_seconds(&self, bytes: f64) -> f64 {
        bytes / self.read_bytes_per_second
    }
}

/// Memory read bandwidth in bytes per second: the best of `repeats` parallel sums of a
/// buffer of `buffer_bytes` bytes (make it much larger than the last-level cache).
pub fn read_bandwidth(buffer_bytes: usize, repeats: usize) -> f64 {
    let len = (buffer_bytes / size_of::<f32>()).max(STREAM_TASK_LEN);
    let mut buffer = vec![0.0f32; len];
    // First touch from every thread, so that the pages are really there.
    buffer
        .par_chunks_mut(STREAM_TASK_LEN)
        .for_each(|chunk| chunk.fill(1.0));
    let seconds = best_seconds(repeats, || {
        let total: f32 = buffer
            .par_chunks(STREAM_TASK_LEN)
            .map(|chunk| stream_sum(black_box(chunk)))
            .sum();
        black_box(total);
    });
    (len * size_of::<f32>()) as f64 / seconds
}

/// f32 FMA throughput in FLOP per second with every rayon thread running `iterations`
/// rounds of independent FMAs at once (best of `repeats`).
pub fn fma_rate(iterations: usize, repeats: usize) -> f64 {
    let threads = rayon::current_num_threads();
    let seconds = best_seconds(repeats, || {
        rayon::broadcast(|context| black_box(fma_loop(iterations, context.index() as f32)));
    });
    let flop_per_thread = iterations * FMA_ACCUMULATORS * FMA_LANES * 2;
    (threads * flop_per_thread) as f64 / seconds
}

/// The shortest wall time of `repeats` runs of `work` (at least one), in seconds.
pub fn best_seconds(repeats: usize, mut work: impl FnMut()) -> f64 {
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Sum of a slice with 16 independent lanes, so that the loop is limited by loads.
fn stream_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = values.chunks_exact(lanes.len());
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += *v;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// `iterations` rounds of `acc = acc · 0.999999 + 1e-7` on [`FMA_ACCUMULATORS`] vectors of
/// [`FMA_LANES`] lanes, with AVX+FMA when the processor has them; returns the mean value of
/// an accumulator lane.
fn fma_loop(iterations: usize, seed: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx") && is_x86_feature_detected!("fma") {
        // SAFETY: the processor has both features the function is compiled for.
        return unsafe { fma_loop_avx_fma(iterations, seed) };
    }
    fma_loop_portable(iterations, seed)
}

/// [`fma_loop`] with 256-bit fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,fma")]
fn fma_loop_avx_fma(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::{
        _mm_cvtss_f32, _mm256_add_ps, _mm256_castps256_ps128, _mm256_fmadd_ps, _mm256_set1_ps,
    };
    let scale = _mm256_set1_ps(0.999_999);
    let step = _mm256_set1_ps(1e-7);
    let mut accumulators = [_mm256_set1_ps(seed); FMA_ACCUMULATORS];
    for _ in 0..iterations {
        for acc in &mut accumulators {
            *acc = _mm256_fmadd_ps(*acc, scale, step);
        }
    }
    let total = accumulators
        .iter()
        .fold(_mm256_set1_ps(0.0), |sum, acc| _mm256_add_ps(sum, *acc));
    _mm_cvtss_f32(_mm256_castps256_ps128(total)) / FMA_ACCUMULATORS as f32
}

/// [`fma_loop`] in plain arithmetic (a multiply and an add per lane).
fn fma_loop_portable(iterations: usize, seed: f32) -> f32 {
    let mut accumulators = [[seed; FMA_LANES]; FMA_ACCUMULATORS];
    for _ in 0..iterations {
        for acc in accumulators.iter_mut().flatten() {
            *acc = *acc * 0.999_999 + 1e-7;
        }
    }
    accumulators.iter().flatten().sum::<f32>() / (FMA_ACCUMULATORS * FMA_LANES) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_sum_adds_every_value() {
        let values: Vec<f32> = (0..1000).map(|i| (i % 10) as f32).collect();
        assert_eq!(stream_sum(&values), 4500.0);
    }

    #[test]
    fn both_fma_loops_compute_the_recurrence() {
        let mut expected = 1.0f64;
        for _ in 0..100 {
            expected = expected * 0.999_999 + 1e-7;
        }
        for value in [fma_loop(100, 1.0), fma_loop_portable(100, 1.0)] {
            assert!(
                (f64::from(value) - expected).abs() < 1e-5,
                "{value} vs {expected}"
            );
        }
    }
}
