// Multiresolution hash encoding (hashgrid.rs `encode_points`, `encode_backward_points`).
// Table layout: entry-major, table[(offset_l + i) · F + f]; encoding layout: point-major,
// out[point · L·F + l · F + f]. One thread per (point, level).
#include "common.cuh"

extern "C" __global__ void encode_points(const float* table, const float* points, u32 n,
                                         const u32* levels, u32 level_count, u32 features,
                                         float* out) {
    const u64 id = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (u64)n * level_count) return;
    const u32 point = (u32)(id / level_count);
    const u32 l = (u32)(id % level_count);
    const Level level = load_level(levels, l);
    u32 entries[8];
    float weights[8];
    level_corners(level, points[3 * point], points[3 * point + 1], points[3 * point + 2],
                  entries, weights);
    float* row = out + (u64)point * level_count * features + (u64)l * features;
    for (u32 f = 0; f < features; ++f) {
        float sum = 0.0f;
        for (int c = 0; c < 8; ++c) {
            sum = __fadd_rn(sum, __fmul_rn(weights[c], table[(u64)entries[c] * features + f]));
        }
        row[f] = sum;
    }
}

// Adds the gradient of every encoding to d_table with atomics (points share entries).
extern "C" __global__ void encode_backward_points(const float* points, const float* d_out,
                                                  u32 n, const u32* levels, u32 level_count,
                                                  u32 features, float* d_table) {
    const u64 id = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (u64)n * level_count) return;
    const u32 point = (u32)(id / level_count);
    const u32 l = (u32)(id % level_count);
    const Level level = load_level(levels, l);
    u32 entries[8];
    float weights[8];
    level_corners(level, points[3 * point], points[3 * point + 1], points[3 * point + 2],
                  entries, weights);
    const float* d = d_out + (u64)point * level_count * features + (u64)l * features;
    for (u32 f = 0; f < features; ++f) {
        const float g = d[f];
        if (g == 0.0f) continue;
        for (int c = 0; c < 8; ++c) {
            atomicAdd(d_table + (u64)entries[c] * features + f, weights[c] * g);
        }
    }
}
