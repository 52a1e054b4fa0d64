// The expression-aware occupancy grid update (occupancy.rs `OccupancyGrid::update`,
// `max_pool_2`, `set_density`). Cell layout: index = x + R·(y + R·z), bit index % 8 of byte
// index / 8. The host blends each basis table, evaluates densities at the CPU's jittered
// points with hashgrid.cu, mlp.cu and density_max (field.cu), then pools, merges and
// thresholds here.
#include "common.cuh"

// Max-pooling with a 2×2×2 window at stride 1 (each cell and its +1 neighbours, clamped).
extern "C" __global__ void max_pool_2(const float* values, u32 r, float* out) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= r * r * r) return;
    const u32 x = i % r, y = (i / r) % r, z = i / (r * r);
    float best = -__int_as_float(0x7f800000);
    for (u32 dz = 0; dz < 2; ++dz)
        for (u32 dy = 0; dy < 2; ++dy)
            for (u32 dx = 0; dx < 2; ++dx) {
                const u32 xx = min(x + dx, r - 1), yy = min(y + dy, r - 1), zz = min(z + dz, r - 1);
                best = fmaxf(best, values[xx + r * (yy + r * zz)]);
            }
    out[i] = best;
}

// density[i] = max(decay · old[i], pooled[i]) in place in `pooled`; also adds the cell's
// density to *sum (for the mean), one atomic per block.
extern "C" __global__ void occupancy_merge(const float* old, u32 cells, float decay,
                                           float* pooled, double* sum) {
    __shared__ double partial[256];
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    double v = 0.0;
    if (i < cells) {
        float d = pooled[i];
        if (old) d = fmaxf(decay * old[i], d);
        pooled[i] = d;
        v = (double)d;
    }
    partial[threadIdx.x] = v;
    __syncthreads();
    for (u32 s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(sum, partial[0]);
}

// One byte of the bitfield per thread: bit b set when cell 8·byte + b has density > threshold.
extern "C" __global__ void occupancy_bitfield(const float* density, u32 cells, float threshold,
                                              unsigned char* bits) {
    const u32 byte = blockIdx.x * blockDim.x + threadIdx.x;
    if (byte >= (cells + 7) / 8) return;
    u32 value = 0;
    for (u32 b = 0; b < 8; ++b) {
        const u32 i = 8 * byte + b;
        if (i < cells && density[i] > threshold) value |= 1u << b;
    }
    bits[byte] = (unsigned char)value;
}
