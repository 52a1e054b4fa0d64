// Inference rendering of whole images (render.rs `render_image`, `march_tile`): rays are
// marched in rounds; each live ray takes up to `per_round` samples, all of them are evaluated
// as one batch (hashgrid.cu, mlp.cu, field.cu), composited, and rays that became opaque
// (T < threshold: early termination) or left the box drop out of the live list (ray
// compaction). A round's batches read the live list's count on the device: the host
// launches them on an upper bound of it, without waiting for the round before. Per-pixel
// state: a Marcher (9 words), the colour and the distance gathered so far (Σ weight · t) and
// the transmittance.
#include "common.cuh"

#define MARCHER_WORDS 9

__device__ inline Marcher load_marcher(const u32* state, u32 pixel) {
    const u32* w = state + (u64)pixel * MARCHER_WORDS;
    Marcher m;
    for (int i = 0; i < 3; ++i) {
        m.origin[i] = __uint_as_float(w[i]);
        m.dir[i] = __uint_as_float(w[3 + i]);
    }
    m.t = __uint_as_float(w[6]);
    m.t_end = __uint_as_float(w[7]);
    m.taken = w[8];
    return m;
}

__device__ inline void store_marcher(u32* state, u32 pixel, const Marcher& m) {
    u32* w = state + (u64)pixel * MARCHER_WORDS;
    for (int i = 0; i < 3; ++i) {
        w[i] = __float_as_uint(m.origin[i]);
        w[3 + i] = __float_as_uint(m.dir[i]);
    }
    w[6] = __float_as_uint(m.t);
    w[7] = __float_as_uint(m.t_end);
    w[8] = m.taken;
}

// One thread per pixel: the ray through its centre, the start of its march (no jitter) and
// an empty composite; rays that hit the head box join the live list.
extern "C" __global__ void render_init(CameraParams cam, MarchConfig c, u32* marchers,
                                       float* color, float* distance, float* transmittance,
                                       u32* live, u32* live_count) {
    const u32 pixel = blockIdx.x * blockDim.x + threadIdx.x;
    if (pixel >= cam.width * cam.height) return;
    Marcher m;
    pixel_ray(cam, pixel % cam.width, pixel / cam.width, m.origin, m.dir);
    for (int k = 0; k < 3; ++k) color[3 * pixel + k] = 0.0f;
    distance[pixel] = 0.0f;
    transmittance[pixel] = 1.0f;
    float t0, t1;
    if (!intersect_box(c, m.origin, m.dir, &t0, &t1)) return;
    m.t = t0;
    m.t_end = t1;
    m.taken = 0;
    store_marcher(marchers, pixel, m);
    live[atomicAdd(live_count, 1u)] = pixel;
}

// Whether thread i of a batch over live[first .. first + count] has a ray: the list holds
// *live_count rays, which the host knows only as an upper bound.
__device__ inline bool batch_has_ray(const u32* live_count, u32 first, u32 count, u32 i) {
    return i < count && first + i < *live_count;
}

// Live rays live[first .. first + count] take up to per_round samples each (per_round ≤ 32);
// each ray's samples are written contiguously at an index drawn from sample_count, and
// counted into the frame's `evaluated` too.
extern "C" __global__ void render_march(const u32* live, const u32* live_count, u32 first,
                                        u32 count, u32 per_round,
                                        MarchConfig c, const unsigned char* occupancy,
                                        u32* marchers, float* positions, float* directions,
                                        float* dts, float* distances, u32* sample_base,
                                        u32* sample_taken, u32* sample_count, u32* evaluated) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (!batch_has_ray(live_count, first, count, i)) return;
    const u32 pixel = live[first + i];
    Marcher m = load_marcher(marchers, pixel);
    float pos[32][3];
    float dt[32];
    float t[32];
    u32 taken = 0;
    while (taken < per_round &&
           next_sample(c, occupancy, m, pos[taken], &dt[taken], &t[taken]))
        ++taken;
    store_marcher(marchers, pixel, m);
    const u32 base = taken > 0 ? atomicAdd(sample_count, taken) : 0;
    if (taken > 0) atomicAdd(evaluated, taken);
    sample_base[i] = base;
    sample_taken[i] = taken;
    for (u32 j = 0; j < taken; ++j) {
        for (int k = 0; k < 3; ++k) {
            positions[3 * (base + j) + k] = pos[j][k];
            directions[3 * (base + j) + k] = m.dir[k];
        }
        dts[base + j] = dt[j];
        distances[base + j] = t[j];
    }
}

// Composites each live ray's new samples in order (composite.rs `CompositeState::add`);
// rays that took a full round and are still not opaque go on to the next live list.
extern "C" __global__ void render_composite(const u32* live, const u32* live_count, u32 first,
                                            u32 count,
                                            u32 per_round, const u32* sample_base,
                                            const u32* sample_taken, const float* sigma,
                                            const float* rgb, const float* dts,
                                            const float* distances, float threshold,
                                            float* color, float* distance, float* transmittance,
                                            u32* next_live, u32* next_live_count) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (!batch_has_ray(live_count, first, count, i)) return;
    const u32 pixel = live[first + i];
    const u32 base = sample_base[i], taken = sample_taken[i];
    float c[3] = {color[3 * pixel], color[3 * pixel + 1], color[3 * pixel + 2]};
    float d = distance[pixel];
    float t = transmittance[pixel];
    for (u32 j = base; j < base + taken; ++j) {
        const float a = 1.0f - expf(-sigma[j] * dts[j]);
        const float weight = t * a;
        for (int k = 0; k < 3; ++k) c[k] += weight * rgb[3 * j + k];
        d += weight * distances[j];
        t *= 1.0f - a;
        if (t < threshold) break;
    }
    for (int k = 0; k < 3; ++k) color[3 * pixel + k] = c[k];
    distance[pixel] = d;
    transmittance[pixel] = t;
    if (taken == per_round && !(t < threshold)) next_live[atomicAdd(next_live_count, 1u)] = pixel;
}

// The finished image as RGBA f32 (colour over the background, alpha = 1 − T): a solid
// background, or a per-pixel one when `background_image` is not null; and the depth
// (render.rs `render_image`): the expected distance along the ray over the camera's viewing
// axis, infinite where nothing was hit.
extern "C" __global__ void render_finish(CameraParams cam, const u32* marchers,
                                         const float* color, const float* distance,
                                         const float* transmittance, float bg_r, float bg_g,
                                         float bg_b, const float* background_image, float* rgba,
                                         float* depth) {
    const u32 p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= cam.width * cam.height) return;
    const float t = transmittance[p];
    const float solid[3] = {bg_r, bg_g, bg_b};
    for (int k = 0; k < 3; ++k) {
        const float bg = background_image ? background_image[3 * p + k] : solid[k];
        rgba[4 * p + k] = color[3 * p + k] + t * bg;
    }
    const float alpha = 1.0f - t;
    rgba[4 * p + 3] = alpha;
    if (alpha > 0.0f) {
        // Only rays that met the box took samples; their marchers hold their directions.
        const Marcher m = load_marcher(marchers, p);
        float cos_axis = 0.0f;
        for (int k = 0; k < 3; ++k) cos_axis -= m.dir[k] * cam.pose[4 * k + 2];
        depth[p] = distance[p] / alpha * cos_axis;
    } else {
        depth[p] = __int_as_float(0x7f800000);
    }
}

// RGBA f32 → RGBA8 (round(clamp(v, 0, 1) · 255), halves away from zero as on the CPU), one u32 per pixel, R in the lowest byte:
// the layout of a wgpu Rgba8Unorm texture.
extern "C" __global__ void pack_rgba8(const float* rgba, u32 pixels, u32* out) {
    const u32 p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= pixels) return;
    u32 packed = 0;
    for (int k = 0; k < 4; ++k) {
        const u32 byte = (u32)roundf(fminf(fmaxf(rgba[4 * p + k], 0.0f), 1.0f) * 255.0f);
        packed |= byte << (8 * k);
    }
    out[p] = packed;
}
