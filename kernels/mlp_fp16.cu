// The training MLPs on the tensor cores (mlp.rs `mlp_forward`, `mlp_backward` in half
// precision; host: cuda::half_mlp), as tiny-cuda-nn trains: the fp32 master weights, kept
// activations and gradients are rounded to f16 as they are loaded, and `mma.m16n8k16` sums in
// fp32. Gradients are multiplied by a loss scale before their rounding (so that small ones do
// not vanish in f16) and the products by its inverse. Needs sm_80 (the kernels are empty
// below; the host never launches them there); the product and the rounding are
// tensor_cores.cuh's.
//
// - `mlp_forward_fused` and `mlp_backward_fused` run a whole network of layers at most
//   FUSED_MAX_WIDTH wide: a warp owns 16 rows, and each layer's result stays in registers as
//   the next product's A fragment (as `field_fp16.cu` does). The forward writes every layer's
//   output, the backward every layer's output gradient (ReLU applied), for the weight
//   gradients; its loss scale is per warp, from the warp's largest gradient.
// - `mlp_layer_fp16` is one strided product C = A · B: a layer's Y = X · Wᵀ, dX = dY · W,
//   and the weight gradients dW += dYᵀ · X of both paths, loss-scaled by the largest
//   gradient of the layer, which `max_abs` measures and the product reads on the device.
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

// The fused kernels' limits: widths up to 80 (five 16-wide input tiles, ten 8-wide output
// tiles), the layers of the largest network a configuration allows. Mirrored by
// `cuda::half_mlp::FusedMlp`.
#define FUSED_MAX_LAYERS 17
#define FUSED_K_TILES 5
#define FUSED_N_TILES 10

// A network for the fused kernels: layer l's weights (row-major outputs × inputs) at
// `weights[l]` in the parameters. Its kept values (outputs or output gradients) for `rows`
// rows are one buffer, layer l's rows × outputs[l] after layer l - 1's.
struct FusedMlp {
    u64 weights[FUSED_MAX_LAYERS];
    u32 inputs[FUSED_MAX_LAYERS];
    u32 outputs[FUSED_MAX_LAYERS];
    u32 layers;
};

// Where layer `layer`'s values start in a fused network's kept values.
__device__ inline u64 fused_layer_start(const FusedMlp& mlp, u32 rows, u32 layer) {
    u64 start = 0;
    for (u32 l = 0; l < layer; ++l) start += (u64)rows * mlp.outputs[l];
    return start;
}

// Value e of output tile nt of the lane, for the 16 rows from `first` of a rows × width
// matrix: row first + group + 8 · (e / 2), column 8 · nt + 2t + e % 2; zero outside.
__device__ inline float row_tile_value(const float* values, u32 rows, u32 width, u32 first,
                                       u32 group, u32 t, u32 nt, u32 e) {
    const u32 row = first + group + 8 * (e >> 1), col = 8 * nt + 2 * t + (e & 1);
    return (row < rows && col < width) ? values[(u64)row * width + col] : 0.0f;
}

// The lane's values of the 16 rows from `first` of a rows × width matrix, as output tiles.
__device__ inline void load_row_tiles(const float* values, u32 rows, u32 width, u32 first,
                                      u32 group, u32 t, float c[FUSED_N_TILES][4]) {
#pragma unroll
    for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
        for (u32 e = 0; e < 4; ++e) c[nt][e] = row_tile_value(values, rows, width, first, group, t, nt, e);
    }
}

// Writes the lane's values of `load_row_tiles`' layout inside the matrix.
__device__ inline void store_row_tiles(float* values, u32 rows, u32 width, u32 first,
                                       u32 group, u32 t, const float c[FUSED_N_TILES][4]) {
#pragma unroll
    for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
        for (u32 e = 0; e < 4; ++e) {
            const u32 row = first + group + 8 * (e >> 1), col = 8 * nt + 2 * t + (e & 1);
            if (row < rows && col < width) values[(u64)row * width + col] = c[nt][e];
        }
    }
}

// The A fragments of a product whose A is the output tiles `c`, each value times `scale`.
__device__ inline void row_tiles_to_fragments(const float c[FUSED_N_TILES][4], float scale,
                                              u32 a[FUSED_K_TILES][4]) {
#pragma unroll
    for (u32 kt = 0; kt < FUSED_K_TILES; ++kt) {
        float left[4], right[4];
#pragma unroll
        for (u32 e = 0; e < 4; ++e) {
            left[e] = scale * c[2 * kt][e];
            right[e] = scale * c[2 * kt + 1][e];
        }
        tiles_to_fragment(left, right, false, a[kt]);
    }
}

// c (16 rows × n) = a (16 rows × k) · B for one layer's weights W (row-major outputs ×
// inputs, fp32, rounded to f16 as loaded): forward, B = Wᵀ (k = inputs, n = outputs);
// `backward`, B = W (k = outputs, n = inputs). Zero past the layer's edges.
__device__ inline void fused_product(const float* w, u32 inputs, u32 outputs, bool backward,
                                     const u32 a[FUSED_K_TILES][4], float c[FUSED_N_TILES][4],
                                     u32 group, u32 t) {
    const u32 k_size = backward ? outputs : inputs, n_size = backward ? inputs : outputs;
    // B's element (k, n).
    auto b = [&](u32 k, u32 n) -> float {
        if (k >= k_size || n >= n_size) return 0.0f;
        return backward ? w[(u64)k * inputs + n] : w[(u64)n * inputs + k];
    };
#pragma unroll
    for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
        c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.0f;
        if (8 * nt >= n_size) continue;
        const u32 n = 8 * nt + group;
#pragma unroll
        for (u32 kt = 0; kt < FUSED_K_TILES; ++kt) {
            if (16 * kt >= k_size) continue;
            const u32 k = 16 * kt + 2 * t;
            const u32 b_lo = pack_half2(b(k, n), b(k + 1, n));
            const u32 b_hi = pack_half2(b(k + 8, n), b(k + 9, n));
            mma_16x8x16(c[nt], a[kt], b_lo, b_hi);
        }
    }
}

// The largest |value| of the warp's output tiles.
__device__ inline float warp_max_abs(const float c[FUSED_N_TILES][4]) {
    float largest = 0.0f;
#pragma unroll
    for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
        for (u32 e = 0; e < 4; ++e) largest = fmaxf(largest, fabsf(c[nt][e]));
    }
    for (u32 offset = 16; offset > 0; offset >>= 1) {
        largest = fmaxf(largest, __shfl_xor_sync(0xffffffffu, largest, offset));
    }
    return largest;
}

// The network on `rows` rows of `input` (rows × inputs[0]): every layer's output (hidden
// layers after ReLU) into `outputs`, laid out as FusedMlp says. A warp per 16 rows.
extern "C" __global__ void mlp_forward_fused(const float* input, const float* params,
                                             FusedMlp mlp, u32 rows, float* outputs) {
#if TENSOR_CORES
    const u32 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const u32 group = lane >> 2, t = lane & 3;
    const u32 first = (blockIdx.x * MLP_FP16_WARPS + warp) * 16;
    if (first >= rows) return;
    float c[FUSED_N_TILES][4];
    u32 a[FUSED_K_TILES][4];
    load_row_tiles(input, rows, mlp.inputs[0], first, group, t, c);
    row_tiles_to_fragments(c, 1.0f, a);
    u64 start = 0;
    for (u32 l = 0; l < mlp.layers; ++l) {
        fused_product(params + mlp.weights[l], mlp.inputs[l], mlp.outputs[l], false, a, c, group,
                      t);
        const bool hidden = l + 1 < mlp.layers;
        if (hidden) {
#pragma unroll
            for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
                for (u32 e = 0; e < 4; ++e) c[nt][e] = fmaxf(c[nt][e], 0.0f);
            }
        }
        store_row_tiles(outputs + start, rows, mlp.outputs[l], first, group, t, c);
        start += (u64)rows * mlp.outputs[l];
        if (hidden) row_tiles_to_fragments(c, 1.0f, a);
    }
#endif
}

// Back-propagates `d_output` (rows × the last layer's outputs) through the network whose
// outputs `mlp_forward_fused` kept: every layer's output gradient (after the ReLU's mask)
// into `d_outputs` (laid out as the outputs), and the gradient at the input (rows ×
// inputs[0]) into `d_input` unless it is null. Each product's A is the warp's gradients
// times the loss scale of their largest.
extern "C" __global__ void mlp_backward_fused(const float* params, FusedMlp mlp, u32 rows,
                                              const float* outputs, const float* d_output,
                                              float* d_outputs, float* d_input) {
#if TENSOR_CORES
    const u32 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const u32 group = lane >> 2, t = lane & 3;
    const u32 first = (blockIdx.x * MLP_FP16_WARPS + warp) * 16;
    if (first >= rows) return;
    float d_y[FUSED_N_TILES][4], d_x[FUSED_N_TILES][4];
    u32 a[FUSED_K_TILES][4];
    u32 l = mlp.layers - 1;
    u64 start = fused_layer_start(mlp, rows, l);
    load_row_tiles(d_output, rows, mlp.outputs[l], first, group, t, d_y);
    store_row_tiles(d_outputs + start, rows, mlp.outputs[l], first, group, t, d_y);
    for (; l > 0 || d_input; --l) {
        const float scale = loss_scale(warp_max_abs(d_y));
        row_tiles_to_fragments(d_y, scale, a);
        fused_product(params + mlp.weights[l], mlp.inputs[l], mlp.outputs[l], true, a, d_x,
                      group, t);
        const float unscale = 1.0f / scale;
        if (l == 0) {
#pragma unroll
            for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
                for (u32 e = 0; e < 4; ++e) d_x[nt][e] *= unscale;
            }
            store_row_tiles(d_input, rows, mlp.inputs[0], first, group, t, d_x);
            break;
        }
        start -= (u64)rows * mlp.outputs[l - 1];
#pragma unroll
        for (u32 nt = 0; nt < FUSED_N_TILES; ++nt) {
#pragma unroll
            for (u32 e = 0; e < 4; ++e) {
                const float kept = row_tile_value(outputs + start, rows, mlp.outputs[l - 1], first,
                                                  group, t, nt, e);
                d_y[nt][e] = kept > 0.0f ? unscale * d_x[nt][e] : 0.0f;
            }
        }
        store_row_tiles(d_outputs + start, rows, mlp.outputs[l - 1], first, group, t, d_y);
    }
#endif
}
