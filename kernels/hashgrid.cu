// Multiresolution hash encoding (hashgrid.rs `encode_points`, `encode_backward_points`).
// Table layout: entry-major, table[(offset_l + i) · F + f]; encoding layout: point-major,
// out[point · L·F + l · F + f]. One thread per (point, level). An entry of 2 or 4 features
// is read as one vector load, and from sm_90 on its gradient is added with one vector atomic
// (8 instead of 32 atomics per point and level for F = 4), where the buffer is aligned.
#include "common.cuh"

// 1 where float2/float4 atomicAdd exists (sm_90 and later, or the CPU emulator).
#if defined(NERF_AVATAR_ON_CPU) || __CUDA_ARCH__ >= 900
#define VECTOR_ATOMICS 1
#else
#define VECTOR_ATOMICS 0
#endif

// Whether `pointer` is aligned for a vector of n floats.
__device__ inline bool vector_aligned(const float* pointer, u32 n) {
    return (reinterpret_cast<unsigned long long>(pointer) & (4ull * n - 1)) == 0;
}

// Entry `entry` of a table of N features, read as one vector.
template <u32 N>
__device__ inline void load_entry(const float* table, u32 entry, float (&v)[N]);

template <>
__device__ inline void load_entry<2>(const float* table, u32 entry, float (&v)[2]) {
    const float2 x = reinterpret_cast<const float2*>(table)[entry];
    v[0] = x.x;
    v[1] = x.y;
}

template <>
__device__ inline void load_entry<4>(const float* table, u32 entry, float (&v)[4]) {
    const float4 x = reinterpret_cast<const float4*>(table)[entry];
    v[0] = x.x;
    v[1] = x.y;
    v[2] = x.z;
    v[3] = x.w;
}

// The trilinear interpolation of a level's 8 corners, N features read as vectors: the same
// products and sums, in the same order, as the scalar loop.
template <u32 N>
__device__ inline void interpolate(const float* table, const u32* entries, const float* weights,
                                   float* row) {
    float sum[N];
    for (u32 f = 0; f < N; ++f) sum[f] = 0.0f;
    for (int c = 0; c < 8; ++c) {
        float v[N];
        load_entry<N>(table, entries[c], v);
        for (u32 f = 0; f < N; ++f) sum[f] = __fadd_rn(sum[f], __fmul_rn(weights[c], v[f]));
    }
    for (u32 f = 0; f < N; ++f) row[f] = sum[f];
}

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
    if (features == 4 && vector_aligned(table, 4)) {
        interpolate<4>(table, entries, weights, row);
    } else if (features == 2 && vector_aligned(table, 2)) {
        interpolate<2>(table, entries, weights, row);
    } else {
        for (u32 f = 0; f < features; ++f) {
            float sum = 0.0f;
            for (int c = 0; c < 8; ++c) {
                sum = __fadd_rn(sum,
                                __fmul_rn(weights[c], table[(u64)entries[c] * features + f]));
            }
            row[f] = sum;
        }
    }
}

#if VECTOR_ATOMICS
// Adds weights[c] · d to each corner's entry of N features with one vector atomic.
template <u32 N>
__device__ inline void scatter(float* d_table, const u32* entries, const float* weights,
                               const float* d);

template <>
__device__ inline void scatter<2>(float* d_table, const u32* entries, const float* weights,
                                  const float* d) {
    for (int c = 0; c < 8; ++c) {
        atomicAdd(reinterpret_cast<float2*>(d_table) + entries[c],
                  make_float2(weights[c] * d[0], weights[c] * d[1]));
    }
}

template <>
__device__ inline void scatter<4>(float* d_table, const u32* entries, const float* weights,
                                  const float* d) {
    for (int c = 0; c < 8; ++c) {
        const float w = weights[c];
        atomicAdd(reinterpret_cast<float4*>(d_table) + entries[c],
                  make_float4(w * d[0], w * d[1], w * d[2], w * d[3]));
    }
}
#endif

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
    bool zero = true;
    for (u32 f = 0; f < features; ++f) zero = zero && d[f] == 0.0f;
    if (zero) return;
#if VECTOR_ATOMICS
    if (features == 4 && vector_aligned(d_table, 4)) {
        scatter<4>(d_table, entries, weights, d);
        return;
    }
    if (features == 2 && vector_aligned(d_table, 2)) {
        scatter<2>(d_table, entries, weights, d);
        return;
    }
#endif
    for (u32 f = 0; f < features; ++f) {
        const float g = d[f];
        if (g == 0.0f) continue;
        for (int c = 0; c < 8; ++c) {
            atomicAdd(d_table + (u64)entries[c] * features + f, weights[c] * g);
        }
    }
}
