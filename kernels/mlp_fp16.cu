// The training MLPs' layers on the tensor cores (mlp.rs `mlp_forward`, `mlp_backward` in
// half precision; host: cuda::half_mlp): one strided product C = A · B, A and B read from
// fp32 buffers (the fp32 master weights, the kept activations, the gradients) and rounded to
// f16 as they are loaded, summed in fp32 by `mma.m16n8k16`. The strides give the three
// products of a layer: Y = X · Wᵀ, dX = dY · W and dW += dYᵀ · X. The gradients are
// multiplied by a loss scale before the rounding (so that small ones do not vanish in f16)
// and the products by its inverse; the scale comes from the largest gradient, measured on
// the device (`max_abs`) and read there. Needs sm_80 (the kernel is empty below; the host
// never launches it there); the product and the rounding are tensor_cores.cuh's.
#include "common.cuh"
#include "tensor_cores.cuh"

#define MLP_FP16_WARPS 4

// One product: C (m × n, row-major) = A · B over k, with A's element (row, col) at
// a[row · a_row + col · a_col] and B's at b[row · b_row + col · b_col]. Slice blockIdx.z
// takes k_per_slice values of k. With `accumulate`, each slice adds its part to C (atomics);
// else C is written (ReLU when `relu`; one slice). Mirrored by
// `cuda::half_mlp::ProductShape`.
struct ProductShape {
    u32 m;
    u32 n;
    u32 k;
    u32 k_per_slice;
    u32 accumulate;
    u32 relu;
    u64 a_row;
    u64 a_col;
    u64 b_row;
    u64 b_col;
};

// The loss scale for gradients whose largest magnitude is `largest` (half_mlp.rs
// `loss_scale`): the power of two that brings it into [2^13, 2^14), 1 for zero, non-finite
// or larger gradients.
__device__ inline float loss_scale(float largest) {
    if (!(largest > 0.0f) || isinf(largest)) return 1.0f;
    const float exponent = fminf(fmaxf(ceilf(log2f(16384.0f / largest)) - 1.0f, 0.0f), 60.0f);
    return exp2f(exponent);
}

// Element (row, col) of a strided matrix of rows × cols, 0 outside.
__device__ inline float load_or_zero(const float* data, u64 row_stride, u64 col_stride, u32 row,
                                     u32 col, u32 rows, u32 cols) {
    return (row < rows && col < cols) ? data[row * row_stride + col * col_stride] : 0.0f;
}

// Each warp owns a 16 × 16 tile of C (two 16 × 8 products sharing the A fragment): block
// (x, y) covers rows 64x.. (one tile per warp) and columns 16y..; blockIdx.z is the slice
// of k. Lane = 4 · group + t: its A fragment holds rows group and group + 8, columns 2t, 2t +
// 1, 2t + 8, 2t + 9 of the k tile; its B fragments rows 2t, 2t + 1, 2t + 8, 2t + 9 of
// column group of each 8-column half; its results rows group and group + 8, columns 2t and
// 2t + 1 of each half.
// `largest`, when not null, holds the bits of the largest |A| (`max_abs`): A is multiplied by
// its loss scale before the rounding, the product by the inverse.
extern "C" __global__ void mlp_layer_fp16(const float* a, const float* b, ProductShape p,
                                          const u32* largest, float* c) {
#if TENSOR_CORES
    const float a_scale = largest ? loss_scale(__uint_as_float(*largest)) : 1.0f;
    const float out_scale = 1.0f / a_scale;
    const u32 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const u32 group = lane >> 2, t = lane & 3;
    const u32 row0 = (blockIdx.x * MLP_FP16_WARPS + warp) * 16;
    const u32 col0 = blockIdx.y * 16;
    const u32 k_first = blockIdx.z * p.k_per_slice;
    const u32 k_end = min(p.k, k_first + p.k_per_slice);
    float acc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    for (u32 k0 = k_first; k0 < k_end; k0 += 16) {
        float av[8];
        for (u32 r = 0; r < 4; ++r) {
            const u32 row = row0 + group + 8 * (r & 1);
            const u32 col = k0 + 2 * t + 8 * (r >> 1);
            av[2 * r] = a_scale * load_or_zero(a, p.a_row, p.a_col, row, col, p.m, k_end);
            av[2 * r + 1] = a_scale * load_or_zero(a, p.a_row, p.a_col, row, col + 1, p.m, k_end);
        }
        const u32 fragment[4] = {pack_half2(av[0], av[1]), pack_half2(av[2], av[3]),
                                 pack_half2(av[4], av[5]), pack_half2(av[6], av[7])};
        for (u32 half = 0; half < 2; ++half) {
            const u32 col = col0 + 8 * half + group;
            const u32 k = k0 + 2 * t;
            const u32 b_lo = pack_half2(load_or_zero(b, p.b_row, p.b_col, k, col, k_end, p.n),
                                           load_or_zero(b, p.b_row, p.b_col, k + 1, col, k_end, p.n));
            const u32 b_hi = pack_half2(load_or_zero(b, p.b_row, p.b_col, k + 8, col, k_end, p.n),
                                           load_or_zero(b, p.b_row, p.b_col, k + 9, col, k_end, p.n));
            mma_16x8x16(acc[half], fragment, b_lo, b_hi);
        }
    }
    for (u32 half = 0; half < 2; ++half) {
        for (u32 e = 0; e < 4; ++e) {
            const u32 row = row0 + group + 8 * (e >> 1);
            const u32 col = col0 + 8 * half + 2 * t + (e & 1);
            if (row >= p.m || col >= p.n) continue;
            const float value = out_scale * acc[half][e];
            float* out = c + (u64)row * p.n + col;
            if (p.accumulate) {
                atomicAdd(out, value);
            } else {
                *out = p.relu ? fmaxf(value, 0.0f) : value;
            }
        }
    }
#endif
}

// *result = max(*result, max |values[i]|) over `count` values (one atomic per block, on the
// float's bits: for non-negative floats their order is that of unsigned integers).
extern "C" __global__ void max_abs(const float* values, u64 count, u32* result) {
    __shared__ float partial[256];
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    partial[threadIdx.x] = i < count ? fabsf(values[i]) : 0.0f;
    __syncthreads();
    for (u32 s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] = fmaxf(partial[threadIdx.x], partial[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicMax(result, __float_as_uint(partial[0]));
}
