// The tensor cores' rate, for the benchmarks' roofline (cuda::bench): each warp runs `rounds`
// rounds of four independent `mma.m16n8k16` products (f16 inputs, f32 sums) on values held
// in registers, then every lane writes the sum of its results, so that nothing is optimised
// away. Every input is `value`, so each lane's sum is 4 · 4 · rounds · 16 · value² (an exact
// check). Needs sm_80 (the kernel is empty below; the host never launches it there); the
// product is tensor_cores.cuh's.
#include "common.cuh"
#include "tensor_cores.cuh"

#define RATE_CHAINS 4

extern "C" __global__ void tensor_rate(u32 rounds, float value, float* sums) {
#if TENSOR_CORES
    const u32 packed = pack_half2(value, value);
    const u32 a[4] = {packed, packed, packed, packed};
    float c[RATE_CHAINS][4] = {};
    for (u32 round = 0; round < rounds; ++round) {
#pragma unroll
        for (int chain = 0; chain < RATE_CHAINS; ++chain) mma_16x8x16(c[chain], a, packed, packed);
    }
    float sum = 0.0f;
#pragma unroll
    for (int chain = 0; chain < RATE_CHAINS; ++chain) {
        for (int e = 0; e < 4; ++e) sum += c[chain][e];
    }
    sums[(u64)blockIdx.x * blockDim.x + threadIdx.x] = sum;
#endif
}
