// The glue of the radiance field between its two MLPs (field.rs `Model::field_forward_into`
// and `Model::field_backward`): σ = softplus(density_out[0]), the colour input
// SH(direction) ++ density_out[1..], RGB = sigmoid(colour_out), and their derivatives.
#include "common.cuh"

// σ and the colour MLP's input from the density MLP's raw output.
extern "C" __global__ void field_color_input(const float* density_out, const float* directions,
                                             u32 n, u32 density_width, u32 color_width,
                                             float* sigma, float* color_input) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* out = density_out + (u64)i * density_width;
    float* row = color_input + (u64)i * color_width;
    sigma[i] = softplus(out[0]);
    sh_basis(directions[3 * i], directions[3 * i + 1], directions[3 * i + 2], row);
    for (u32 j = 1; j < density_width; ++j) row[SH_COEFFICIENTS + j - 1] = out[j];
}

// RGB = sigmoid of the colour MLP's raw output (n × 3).
extern "C" __global__ void field_rgb(const float* color_out, u32 n, float* rgb) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < 3 * n) rgb[i] = sigmoid(color_out[i]);
}

// ∂loss/∂colour_out = d_rgb · s (1 − s).
extern "C" __global__ void field_rgb_backward(const float* color_out, const float* d_rgb, u32 n,
                                              float* d_color_out) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= 3 * n) return;
    const float s = sigmoid(color_out[i]);
    d_color_out[i] = d_rgb[i] * s * (1.0f - s);
}

// ∂loss/∂density_out: d_σ · sigmoid(raw σ) for the density, the geometry part of the colour
// input's gradient for the rest.
extern "C" __global__ void field_density_backward(const float* density_out,
                                                  const float* d_color_input, const float* d_sigma,
                                                  u32 n, u32 density_width, u32 color_width,
                                                  float* d_density_out) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* raw = density_out + (u64)i * density_width;
    const float* d_in = d_color_input + (u64)i * color_width;
    float* d = d_density_out + (u64)i * density_width;
    d[0] = d_sigma[i] * sigmoid(raw[0]);
    for (u32 j = 1; j < density_width; ++j) d[j] = d_in[SH_COEFFICIENTS + j - 1];
}

// Densities only (the occupancy update): fresh[i] = max(fresh[i], softplus(raw σ_i)).
extern "C" __global__ void density_max(const float* density_out, u32 n, u32 density_width,
                                       float* fresh) {
    const u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) fresh[i] = fmaxf(fresh[i], softplus(density_out[(u64)i * density_width]));
}
