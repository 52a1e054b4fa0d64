// Training ray marching with the occupancy bitfield and compaction (march.rs
// `RaySamples::march`): march_count counts each ray's samples, the host turns the counts into
// offsets (an exclusive scan), march_write writes the samples densely at those offsets.
// Rays are given by origin and unit direction (n × 3 each); jitters[r] ∈ [0, 1) offsets the
// first sample by a fraction of a step.
#include "common.cuh"

__device__ inline bool start_marcher(const MarchConfig& c, const float* origins,
                                     const float* directions, const float* jitters, u32 r,
                                     Marcher& m) {
    for (int i = 0; i < 3; ++i) {
        m.origin[i] = origins[3 * r + i];
        m.dir[i] = directions[3 * r + i];
    }
    float t0, t1;
    if (!intersect_box(c, m.origin, m.dir, &t0, &t1)) return false;
    m.t = __fadd_rn(t0, __fmul_rn(jitters[r], march_step(c, t0)));
    m.t_end = t1;
    m.taken = 0;
    return true;
}

extern "C" __global__ void march_count(const float* origins, const float* directions,
                                       const float* jitters, u32 n, MarchConfig c,
                                       const unsigned char* occupancy, u32* counts) {
    const u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    Marcher m;
    u32 count = 0;
    if (start_marcher(c, origins, directions, jitters, r, m)) {
        float pos[3], dt, distance;
        while (next_sample(c, occupancy, m, pos, &dt, &distance)) ++count;
    }
    counts[r] = count;
}

// Writes ray r's samples at offsets[r]..: positions (unit cube, × 3), dt, and the ray's
// direction (× 3), which the field reads per sample.
extern "C" __global__ void march_write(const float* origins, const float* directions,
                                       const float* jitters, u32 n, MarchConfig c,
                                       const unsigned char* occupancy, const u32* offsets,
                                       float* positions, float* dts, float* sample_directions) {
    const u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    Marcher m;
    if (!start_marcher(c, origins, directions, jitters, r, m)) return;
    u32 j = offsets[r];
    const u32 end = offsets[r + 1];
    float pos[3], dt, distance;
    while (j < end && next_sample(c, occupancy, m, pos, &dt, &distance)) {
        for (int i = 0; i < 3; ++i) {
            positions[3 * j + i] = pos[i];
            sample_directions[3 * j + i] = m.dir[i];
        }
        dts[j] = dt;
        ++j;
    }
}
