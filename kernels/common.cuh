// Shared device functions of the CUDA backend: the twins of the CPU reference's hash-grid
// lookup (hashgrid.rs), SH encoding (sh.rs), activations (field.rs), rays (camera.rs) and the
// ray marcher (march.rs). Included textually by the host (`#include "common.cuh"`), so every
// kernel file compiles as one NVRTC program without system headers.
//
// Arithmetic that decides *where* a sample lands or *which* table entry it reads uses the
// explicitly rounded intrinsics (__fmul_rn, __fadd_rn), which NVRTC never contracts into an
// FMA: sample positions, cells and corner weights then equal the CPU's bit for bit.

#pragma once

typedef unsigned int u32;
typedef unsigned long long u64;

#define SH_COEFFICIENTS 16
#define MAX_SAMPLES_PER_RAY 1024u

// One level of the hash grid, as the host packs it: 5 words per level.
//   [0] scale (f32 bits)  [1] resolution  [2] size (entries)  [3] offset (entries)  [4] hashed
#define LEVEL_WORDS 5

struct Level {
    float scale;
    u32 resolution;
    u32 size;
    u32 offset;
    bool hashed;
};

__device__ inline Level load_level(const u32* levels, u32 l) {
    const u32* w = levels + l * LEVEL_WORDS;
    Level level;
    level.scale = __uint_as_float(w[0]);
    level.resolution = w[1];
    level.size = w[2];
    level.offset = w[3];
    level.hashed = w[4] != 0;
    return level;
}

// The 8 corners of x's cell on a level: table entries and trilinear weights, in the CPU's
// corner order (bit 0: +x, bit 1: +y, bit 2: +z) and with its rounding.
__device__ inline void level_corners(const Level& level, float x0, float x1, float x2,
                                     u32 entries[8], float weights[8]) {
    const float x[3] = {x0, x1, x2};
    u32 cell[3];
    float axis_weights[3][2];
    for (int d = 0; d < 3; ++d) {
        const float clamped = fminf(fmaxf(x[d], 0.0f), 1.0f);
        const float pos = __fadd_rn(__fmul_rn(clamped, level.scale), 0.5f);
        cell[d] = (u32)pos;
        const float frac = __fsub_rn(pos, (float)cell[d]);
        axis_weights[d][0] = __fsub_rn(1.0f, frac);
        axis_weights[d][1] = frac;
    }
    for (int c = 0; c < 8; ++c) {
        const float xy = __fmul_rn(axis_weights[0][c & 1], axis_weights[1][(c >> 1) & 1]);
        weights[c] = __fmul_rn(xy, axis_weights[2][c >> 2]);
        const u32 cx = cell[0] + (c & 1);
        const u32 cy = cell[1] + ((c >> 1) & 1);
        const u32 cz = cell[2] + (c >> 2);
        u32 index;
        if (level.hashed) {
            const u32 hash = (cx * 1u) ^ (cy * 2654435761u) ^ (cz * 805459861u);
            index = (level.size & (level.size - 1)) == 0 ? (hash & (level.size - 1))
                                                          : (hash % level.size);
        } else {
            const u32 res = level.resolution;
            index = cx + cy * res + cz * res * res;
            // Only cells on the far faces reach past the level (tiny-cuda-nn wraps them).
            if (index >= level.size) index %= level.size;
        }
        entries[c] = level.offset + index;
    }
}

// tiny-cuda-nn's degree-4 real spherical harmonics of a unit direction (sh.rs).
__device__ inline void sh_basis(float x, float y, float z, float* out) {
    const float xy = x * y, xz = x * z, yz = y * z;
    const float x2 = x * x, y2 = y * y, z2 = z * z;
    out[0] = 0.28209479177387814f;
    out[1] = -0.48860251190291987f * y;
    out[2] = 0.48860251190291987f * z;
    out[3] = -0.48860251190291987f * x;
    out[4] = 1.0925484305920792f * xy;
    out[5] = -1.0925484305920792f * yz;
    out[6] = 0.94617469575756f * z2 - 0.31539156525252f;
    out[7] = -1.0925484305920792f * xz;
    out[8] = 0.5462742152960396f * x2 - 0.5462742152960396f * y2;
    out[9] = 0.5900435899266435f * y * (-3.0f * x2 + y2);
    out[10] = 2.890611442640554f * xy * z;
    out[11] = 0.4570457994644657f * y * (1.0f - 5.0f * z2);
    out[12] = 0.3731763325901154f * z * (5.0f * z2 - 3.0f);
    out[13] = 0.4570457994644657f * x * (1.0f - 5.0f * z2);
    out[14] = 1.445305721320277f * z * (x2 - y2);
    out[15] = 0.5900435899266435f * x * (-x2 + 3.0f * y2);
}

// ln(1 + e^x) without overflow (field.rs `softplus`).
__device__ inline float softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }

// 1 / (1 + e^-x) without overflow (field.rs `sigmoid`).
__device__ inline float sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

// What the marcher needs of the model's configuration (march.rs `MarchSettings`, the head
// box, the near distance and the occupancy grid's resolution). Mirrored by a #[repr(C)]
// struct on the host.
struct MarchConfig {
    float center[3];
    float half_extent;
    float near_distance;
    float dt_gamma;
    float dt_min;
    float dt_max;
    float transmittance_threshold;
    u32 occupancy_resolution;
};

// A pinhole camera and its camera-to-head pose (camera.rs `Intrinsics`, `Pose`).
struct CameraParams {
    float fx, fy, cx, cy;
    float pose[12];  // rows 0..3 of the 4×4 matrix, row-major
    u32 width, height;
};

__device__ inline float march_step(const MarchConfig& c, float t) {
    return fminf(fmaxf(__fmul_rn(t, c.dt_gamma), c.dt_min), c.dt_max);
}

// Ray through the centre of pixel (u, v) (camera.rs `Ray::through_pixel`).
__device__ inline void pixel_ray(const CameraParams& cam, u32 u, u32 v, float origin[3],
                                 float dir[3]) {
    const float px = (float)u + 0.5f, py = (float)v + 0.5f;
    const float cd[3] = {__fdiv_rn(__fsub_rn(px, cam.cx), cam.fx),
                         -__fdiv_rn(__fsub_rn(py, cam.cy), cam.fy), -1.0f};
    float r[3];
    for (int i = 0; i < 3; ++i) {
        const float* m = cam.pose + 4 * i;
        r[i] = __fadd_rn(__fadd_rn(__fmul_rn(m[0], cd[0]), __fmul_rn(m[1], cd[1])),
                         __fmul_rn(m[2], cd[2]));
        origin[i] = m[3];
    }
    const float n = __fsqrt_rn(__fadd_rn(__fadd_rn(__fmul_rn(r[0], r[0]), __fmul_rn(r[1], r[1])),
                                         __fmul_rn(r[2], r[2])));
    for (int i = 0; i < 3; ++i) dir[i] = __fdiv_rn(r[i], n);
}

// Entry and exit distances through the head box, clipped to start no closer than the near
// distance (camera.rs `Ray::intersect_box`); false when the ray misses.
__device__ inline bool intersect_box(const MarchConfig& c, const float o[3], const float d[3],
                                     float* t_start, float* t_end) {
    float t0 = c.near_distance, t1 = __int_as_float(0x7f800000);
    for (int i = 0; i < 3; ++i) {
        const float lo = __fsub_rn(c.center[i], c.half_extent);
        const float hi = __fadd_rn(c.center[i], c.half_extent);
        const float inv = __fdiv_rn(1.0f, d[i]);
        float a = __fmul_rn(__fsub_rn(lo, o[i]), inv);
        float b = __fmul_rn(__fsub_rn(hi, o[i]), inv);
        if (!(a <= b)) {
            const float s = a;
            a = b;
            b = s;
        }
        if (isnan(a) || isnan(b)) {
            if (o[i] < lo || o[i] > hi) return false;
            continue;
        }
        t0 = fmaxf(t0, a);
        t1 = fminf(t1, b);
    }
    *t_start = t0;
    *t_end = t1;
    return t0 < t1;
}

// One ray's marching state (march.rs `RayMarcher`).
struct Marcher {
    float origin[3];
    float dir[3];
    float t;
    float t_end;
    u32 taken;
};

__device__ inline bool occupied(const unsigned char* bits, u32 index) {
    return (bits[index >> 3] >> (index & 7)) & 1;
}

// The next sample in an occupied cell (march.rs `RayMarcher::next_sample`): its unit-cube
// position, dt and distance along the ray; false at the end of the box.
__device__ inline bool next_sample(const MarchConfig& c, const unsigned char* occupancy,
                                   Marcher& m, float pos[3], float* dt_out,
                                   float* distance_out) {
    const float size = __fmul_rn(2.0f, c.half_extent);
    const u32 r = c.occupancy_resolution;
    const float rf = (float)r;
    float unit_dir[3];
    for (int i = 0; i < 3; ++i) unit_dir[i] = __fdiv_rn(m.dir[i], size);
    while (m.t < m.t_end && m.taken < MAX_SAMPLES_PER_RAY) {
        const float dt = march_step(c, m.t);
        u32 cell[3];
        for (int i = 0; i < 3; ++i) {
            const float p = __fadd_rn(m.origin[i], __fmul_rn(m.t, m.dir[i]));
            pos[i] = __fdiv_rn(__fadd_rn(__fsub_rn(p, c.center[i]), c.half_extent), size);
            const u32 cc = (u32)fmaxf(__fmul_rn(pos[i], rf), 0.0f);
            cell[i] = cc < r - 1 ? cc : r - 1;
        }
        const u32 index = cell[0] + r * (cell[1] + r * cell[2]);
        if (occupied(occupancy, index)) {
            *distance_out = m.t;
            m.t = __fadd_rn(m.t, dt);
            m.taken += 1;
            *dt_out = dt;
            return true;
        }
        float exit = __int_as_float(0x7f800000);
        for (int i = 0; i < 3; ++i) {
            if (unit_dir[i] == 0.0f) continue;
            const float boundary =
                __fdiv_rn((float)cell[i] + (unit_dir[i] > 0.0f ? 1.0f : 0.0f), rf);
            exit = fminf(exit, fmaxf(__fdiv_rn(__fsub_rn(boundary, pos[i]), unit_dir[i]), 0.0f));
        }
        const float target = __fadd_rn(m.t, exit);
        do {
            m.t = __fadd_rn(m.t, march_step(c, m.t));
        } while (m.t < target);
    }
    return false;
}
