// Spherical-harmonics encoding of view directions (sh.rs `sh_encode`): n × 16 values.
#include "common.cuh"

extern "C" __global__ void sh_encode(const float* directions, u32 n, float* out) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    sh_basis(directions[3 * i], directions[3 * i + 1], directions[3 * i + 2],
             out + (u64)i * SH_COEFFICIENTS);
}
