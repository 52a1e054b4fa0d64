// CUDA C++ kernels compiled as plain C++ for the CPU (kernels_on_cpu.rs): the qualifiers
// become ordinary C++, the built-in indices are globals the emulator (emulator.cpp) sets for
// the thread it runs, and the intrinsics are their plain operations.
// Each thread of a block is a coroutine; `__syncthreads` and the warp-wide operations (votes,
// shuffles, `__syncwarp`, the tensor-core product) suspend it until its block (or warp) has
// arrived. Threads run one at a time, so atomics are plain read-modify-writes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>

#define __global__
#define __device__
#define __forceinline__ inline
// Grids run one at a time in a process (`emulate_grid` holds a lock), one block at a time:
// a static is the block's shared memory.
#define __shared__ static
#define __constant__ static

struct EmulatedDim {
    unsigned x, y, z;
};
// The built-in indices of the thread the emulator runs.
extern EmulatedDim threadIdx, blockIdx, blockDim, gridDim;

// Kernel files take their emulated paths (field_fp16.cu's tensor-core products).
#define NERF_AVATAR_ON_CPU 1

// Suspends the calling thread until every thread of its block has called it.
void __syncthreads();
// Suspends the calling thread until every lane of its warp has called it.
void __syncwarp(unsigned mask = 0xffffffffu);
// The bits of the lanes of the calling thread's warp whose `predicate` is non-zero.
unsigned __ballot_sync(unsigned mask, int predicate);
// The `value` of the lane whose index is the calling lane's xor `lane_mask` (all 32 lanes
// take part).
float __shfl_xor_sync(unsigned mask, float value, int lane_mask);
// `mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32` for the calling lane: c += a · b over
// the warp, with the PTX fragment layouts (a: four f16 pairs of the 16 × 16 A tile, b: two
// f16 pairs of the 16 × 8 B tile, c: four floats of the 16 × 8 accumulator).
void emulated_mma_16x8x16(float c[4], const unsigned a[4], unsigned b_lo, unsigned b_hi);
// Two floats as an f16 pair, `lo` in the low half, rounded to nearest even
// (`cvt.rn.f16x2.f32`).
unsigned emulated_pack_half2(float lo, float hi);
// The float of the f16 in the low 16 bits of `bits` (`cvt.f32.f16`).
float emulated_half_to_float(unsigned bits);

inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __uint_as_float(unsigned u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}
inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }

template <typename T>
inline T atomicAdd(T* address, T value) {
    const T old = *address;
    *address = old + value;
    return old;
}

// CUDA's vector types, as the kernels use them, and their atomic addition (sm_90's).
struct float2 {
    float x, y;
};
struct float4 {
    float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

inline float2 atomicAdd(float2* address, float2 value) {
    const float2 old = *address;
    *address = {old.x + value.x, old.y + value.y};
    return old;
}

inline float4 atomicAdd(float4* address, float4 value) {
    const float4 old = *address;
    *address = {old.x + value.x, old.y + value.y, old.z + value.z, old.w + value.w};
    return old;
}

template <typename T>
inline T atomicMax(T* address, T value) {
    const T old = *address;
    *address = std::max(old, value);
    return old;
}

using std::isfinite;
using std::isinf;
using std::isnan;
using std::max;
using std::min;
