// The per-frame table blend (hashgrid.rs `blend_tables`, `blend_tables_backward`):
// out = h0 + Σ_i w_i h_i over K + 1 tables of `table_len` values stored back to back; in f32,
// or in f16 for the fused field of inference (field_fp16.cu).
#include "common.cuh"
#include "tensor_cores.cuh"

// Value i of the blended table.
__device__ inline float blend_value(const float* tables, const float* weights, u32 k,
                                    u64 table_len, u64 i) {
    float v = tables[i];
    for (u32 b = 0; b < k; ++b) {
        const float w = weights[b];
        // The CPU skips zero weights; so must we (0 · ∞ would differ).
        if (w == 0.0f) continue;
        v = __fadd_rn(v, __fmul_rn(w, tables[(u64)(b + 1) * table_len + i]));
    }
    return v;
}

extern "C" __global__ void blend_tables(const float* tables, const float* weights, u32 k,
                                        u64 table_len, float* out) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < table_len) out[i] = blend_value(tables, weights, k, table_len, i);
}

// The blended table rounded to f16, two values per word (`out[j]`: values 2j and 2j + 1, the
// first in the low half; a zero pads an odd length). Needs sm_80, as the fused field that
// reads it (empty below; the host never launches it there).
extern "C" __global__ void blend_tables_f16(const float* tables, const float* weights, u32 k,
                                            u64 table_len, u32* out) {
#if TENSOR_CORES
    const u64 j = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const u64 i = 2 * j;
    if (i >= table_len) return;
    const float lo = blend_value(tables, weights, k, table_len, i);
    const float hi = i + 1 < table_len ? blend_value(tables, weights, k, table_len, i + 1) : 0.0f;
    out[j] = pack_half2(lo, hi);
#endif
}

// d_tables[t] += w_t · d_blended, with w_0 = 1; one thread per value of one table.
extern "C" __global__ void blend_tables_backward(const float* d_blended, const float* weights,
                                                 u32 k, u64 table_len, float* d_tables) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= table_len) return;
    const float d = d_blended[i];
    for (u32 t = 0; t <= k; ++t) {
        const float w = t == 0 ? 1.0f : weights[t - 1];
        if (w == 0.0f) continue;
        float* g = d_tables + (u64)t * table_len + i;
        *g = __fadd_rn(*g, __fmul_rn(w, d));
    }
}
