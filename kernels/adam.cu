// One Adam step over the flat parameter buffer (train/adam.rs `Adam::step`): L2 weight decay
// added to the gradient inside [decay_start, decay_end), bias-corrected moments.
#include "common.cuh"

extern "C" __global__ void adam_step(float* params, const float* grads, float* m, float* v,
                                     u64 n, float lr, float beta1, float beta2, float epsilon,
                                     float weight_decay, u64 decay_start, u64 decay_end,
                                     float correction1, float correction2) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float grad = grads[i];
    if (i >= decay_start && i < decay_end) grad += weight_decay * params[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * grad;
    const float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    const float step_size = lr / correction1;
    const float denominator = sqrtf(vi / correction2) + epsilon;
    params[i] -= step_size * mi / denominator;
}
