// The per-frame table blend (hashgrid.rs `blend_tables`, `blend_tables_backward`):
// out = h0 + Σ_i w_i h_i over K + 1 tables of `table_len` values stored back to back.
#include "common.cuh"

extern "C" __global__ void blend_tables(const float* tables, const float* weights, u32 k,
                                        u64 table_len, float* out) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= table_len) return;
    float v = tables[i];
    for (u32 b = 0; b < k; ++b) {
        const float w = weights[b];
        // The CPU skips zero weights; so must we (0 · ∞ would differ).
        if (w == 0.0f) continue;
        v = __fadd_rn(v, __fmul_rn(w, tables[(u64)(b + 1) * table_len + i]));
    }
    out[i] = v;
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
