// Volume compositing of training rays and its backward pass (composite.rs `composite`,
// `composite_backward`). Ray r owns samples offsets[r]..offsets[r + 1]; one thread per ray.
#include "common.cuh"

extern "C" __global__ void composite(const float* sigma, const float* rgb, const float* dt,
                                     const u32* offsets, u32 rays, const float* backgrounds,
                                     float threshold, float* color, float* alpha, u32* used) {
    const u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rays) return;
    const u32 first = offsets[r], last = offsets[r + 1];
    float c[3] = {0.0f, 0.0f, 0.0f};
    float transmittance = 1.0f;
    u32 count = last - first;
    for (u32 j = first; j < last; ++j) {
        const float a = 1.0f - expf(-sigma[j] * dt[j]);
        const float weight = transmittance * a;
        for (int k = 0; k < 3; ++k) c[k] += weight * rgb[3 * j + k];
        transmittance *= 1.0f - a;
        if (transmittance < threshold) {
            count = j - first + 1;
            break;
        }
    }
    for (int k = 0; k < 3; ++k) color[3 * r + k] = c[k] + transmittance * backgrounds[3 * r + k];
    alpha[r] = 1.0f - transmittance;
    used[r] = count;
}

// ∂loss/∂σ and ∂loss/∂rgb of every sample from the gradients at the ray's colour and alpha;
// samples after early termination get zero.
extern "C" __global__ void composite_backward(const float* sigma, const float* rgb,
                                              const float* dt, const u32* offsets, u32 rays,
                                              const float* color, const float* alpha,
                                              const u32* used, const float* d_color,
                                              const float* d_alpha, float* d_sigma,
                                              float* d_rgb) {
    const u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rays) return;
    const u32 first = offsets[r], last = offsets[r + 1];
    const float t_end = 1.0f - alpha[r];
    const float dc[3] = {d_color[3 * r], d_color[3 * r + 1], d_color[3 * r + 2]};
    const float da = d_alpha[r];
    float transmittance = 1.0f;
    float prefix[3] = {0.0f, 0.0f, 0.0f};
    for (u32 j = first; j < last; ++j) {
        if (j - first >= used[r]) {
            d_sigma[j] = 0.0f;
            for (int k = 0; k < 3; ++k) d_rgb[3 * j + k] = 0.0f;
            continue;
        }
        const float a = 1.0f - expf(-sigma[j] * dt[j]);
        const float weight = transmittance * a;
        const float next = transmittance * (1.0f - a);
        float d = 0.0f;
        for (int k = 0; k < 3; ++k) {
            prefix[k] += weight * rgb[3 * j + k];
            d_rgb[3 * j + k] = weight * dc[k];
        }
        // ∂C/∂σ_j = δ_j (T_{j+1} c_j − (C − Σ_{k≤j} w_k c_k)); ∂alpha/∂σ_j = δ_j T_end.
        for (int k = 0; k < 3; ++k) {
            d += dc[k] * (next * rgb[3 * j + k] - (color[3 * r + k] - prefix[k]));
        }
        d_sigma[j] = dt[j] * (d + da * t_end);
        transmittance = next;
    }
}
