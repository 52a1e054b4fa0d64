// The training losses on rendered rays (train/loss.rs `ray_loss`, `sparsity_loss`): per-ray
// values and gradients; the host sums the values in f64 as the CPU does.
#include "common.cuh"

#define ENTROPY_EPSILON 1e-6f

__device__ inline float sign_of(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }

// One thread per ray: the weighted L1 colour, L1 mask and α-entropy terms (each a mean over
// the n rays, times `scale`), ∂/∂colour and ∂/∂α, and the squared colour error (for PSNR).
extern "C" __global__ void ray_loss(const float* color, const float* alpha,
                                    const float* target_color, const float* target_mask, u32 n,
                                    float w_color, float w_mask, float w_entropy, float scale,
                                    float* d_color, float* d_alpha, float* value,
                                    float* squared_error) {
    const u32 r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) return;
    const float count = (float)(n > 0 ? n : 1);
    float loss = 0.0f, squared = 0.0f;
    for (int c = 0; c < 3; ++c) {
        const float error = color[3 * r + c] - target_color[3 * r + c];
        loss += scale * w_color * fabsf(error) / (3.0f * count);
        squared += error * error;
        d_color[3 * r + c] = scale * w_color * sign_of(error) / (3.0f * count);
    }
    const float mask_error = alpha[r] - target_mask[r];
    loss += scale * w_mask * fabsf(mask_error) / count;
    const float a = fminf(fmaxf(alpha[r], ENTROPY_EPSILON), 1.0f - ENTROPY_EPSILON);
    const float entropy = -(a * logf(a) + (1.0f - a) * logf(1.0f - a));
    loss += scale * w_entropy * entropy / count;
    const float d_entropy = logf((1.0f - a) / a);
    d_alpha[r] = scale * (w_mask * sign_of(mask_error) + w_entropy * d_entropy) / count;
    value[r] = loss;
    squared_error[r] = squared;
}

// grads += (weight / n) · sign(h) over the blendshape tables; *total += Σ |h| (one atomic per
// block; the host multiplies by weight / n).
extern "C" __global__ void sparsity_loss(const float* tables, u64 n, float weight, float* grads,
                                         double* total) {
    __shared__ double partial[256];
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    double v = 0.0;
    if (i < n) {
        const float h = tables[i];
        grads[i] += (weight / (float)n) * sign_of(h);
        v = (double)fabsf(h);
    }
    partial[threadIdx.x] = v;
    __syncthreads();
    for (u32 s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(total, partial[0]);
}

// *count += the number of values that are NaN or infinite (the training loop's check that
// every gradient is finite, without copying the gradient to the host).
extern "C" __global__ void count_nonfinite(const float* values, u64 n, u32* count) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const bool bad = i < n && !isfinite(values[i]);
    const unsigned mask = __ballot_sync(0xffffffffu, bad);
    if ((threadIdx.x & 31) == 0 && mask != 0) atomicAdd(count, (u32)__popc(mask));
}
