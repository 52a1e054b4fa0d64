// Bias-free fully connected layers in fp32 (mlp.rs `mlp_forward`, `mlp_backward`, one layer
// per launch; the host chains them). Rows are samples; weights are row-major
// outputs × inputs, so a layer is Y = X · Wᵀ.
#include "common.cuh"

#define TILE 16

// Y = X · Wᵀ (ReLU when `relu`), tiled through shared memory: block (TILE × TILE) computes a
// TILE-row × TILE-output tile.
extern "C" __global__ void mlp_forward_layer(const float* x, const float* w, u32 n, u32 inputs,
                                             u32 outputs, u32 relu, float* y) {
    __shared__ float xs[TILE][TILE + 1];
    __shared__ float ws[TILE][TILE + 1];
    const u32 row = blockIdx.x * TILE + threadIdx.y;
    const u32 col = blockIdx.y * TILE + threadIdx.x;
    float acc = 0.0f;
    for (u32 k0 = 0; k0 < inputs; k0 += TILE) {
        const u32 kx = k0 + threadIdx.x;
        xs[threadIdx.y][threadIdx.x] = (row < n && kx < inputs) ? x[(u64)row * inputs + kx] : 0.0f;
        const u32 wrow = blockIdx.y * TILE + threadIdx.y;
        ws[threadIdx.y][threadIdx.x] =
            (wrow < outputs && kx < inputs) ? w[(u64)wrow * inputs + kx] : 0.0f;
        __syncthreads();
        for (u32 k = 0; k < TILE; ++k) acc += xs[threadIdx.y][k] * ws[threadIdx.x][k];
        __syncthreads();
    }
    if (row < n && col < outputs) {
        y[(u64)row * outputs + col] = relu ? fmaxf(acc, 0.0f) : acc;
    }
}

// d_y = 0 where the kept ReLU output y is not positive (mlp.rs `mlp_backward`).
extern "C" __global__ void relu_backward(float* d_y, const float* y, u64 count) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count && !(y[i] > 0.0f)) d_y[i] = 0.0f;
}

// dX (n × inputs) = dY · W.
extern "C" __global__ void mlp_backward_layer_input(const float* d_y, const float* w, u32 n,
                                                    u32 inputs, u32 outputs, float* d_x) {
    __shared__ float ds[TILE][TILE + 1];
    __shared__ float ws[TILE][TILE + 1];
    const u32 row = blockIdx.x * TILE + threadIdx.y;
    const u32 col = blockIdx.y * TILE + threadIdx.x;
    float acc = 0.0f;
    for (u32 o0 = 0; o0 < outputs; o0 += TILE) {
        const u32 ox = o0 + threadIdx.x;
        ds[threadIdx.y][threadIdx.x] =
            (row < n && ox < outputs) ? d_y[(u64)row * outputs + ox] : 0.0f;
        const u32 oy = o0 + threadIdx.y;
        ws[threadIdx.y][threadIdx.x] = (oy < outputs && col < inputs) ? w[(u64)oy * inputs + col] : 0.0f;
        __syncthreads();
        for (u32 o = 0; o < TILE; ++o) acc += ds[threadIdx.y][o] * ws[o][threadIdx.x];
        __syncthreads();
    }
    if (row < n && col < inputs) d_x[(u64)row * inputs + col] = acc;
}

// dW (outputs × inputs) += dYᵀ · X. Block (TILE × TILE) owns a tile of dW and sums the rows
// of its slice of the batch (blockIdx.z), then adds its partial sum with atomics.
extern "C" __global__ void mlp_backward_layer_weights(const float* d_y, const float* x, u32 n,
                                                      u32 inputs, u32 outputs,
                                                      u32 rows_per_slice, float* d_w) {
    __shared__ float ds[TILE][TILE + 1];
    __shared__ float xs[TILE][TILE + 1];
    const u32 o = blockIdx.y * TILE + threadIdx.y;
    const u32 i = blockIdx.x * TILE + threadIdx.x;
    const u32 first = blockIdx.z * rows_per_slice;
    const u32 last = min(n, first + rows_per_slice);
    float acc = 0.0f;
    for (u32 r0 = first; r0 < last; r0 += TILE) {
        // ds[r][o'] and xs[r][i'] for the TILE rows r0..r0+TILE.
        const u32 r = r0 + threadIdx.y;
        const u32 oo = blockIdx.y * TILE + threadIdx.x;
        ds[threadIdx.y][threadIdx.x] = (r < last && oo < outputs) ? d_y[(u64)r * outputs + oo] : 0.0f;
        xs[threadIdx.y][threadIdx.x] = (r < last && i < inputs) ? x[(u64)r * inputs + i] : 0.0f;
        __syncthreads();
        for (u32 k = 0; k < TILE; ++k) acc += ds[k][threadIdx.y] * xs[k][threadIdx.x];
        __syncthreads();
    }
    if (o < outputs && i < inputs && acc != 0.0f) atomicAdd(d_w + (u64)o * inputs + i, acc);
}
