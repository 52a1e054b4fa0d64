// LPIPS of training patches, layer by layer (metrics/lpips/patch.rs; host: cuda/lpips.rs):
// the input scaling, im2col and col2im around the dense layers of mlp.cu, max pooling that
// keeps the pixel of each maximum, and the comparison of tapped features. Activations are
// rows of channels, pixel-major, one image after the other.
#include "common.cuh"

// The ScalingLayer of LPIPS v0.1 (network.rs INPUT_SHIFT, INPUT_SCALE).
__constant__ float INPUT_SHIFT[3] = {-0.030f, -0.088f, -0.188f};
__constant__ float INPUT_SCALE[3] = {0.458f, 0.448f, 0.450f};
// network.rs NORM_SQUARED_FLOOR and NORMALISE_EPS.
#define NORM_SQUARED_FLOOR 1e-20f
#define NORMALISE_EPS 1e-10f

// A layer's geometry (cuda/lpips.rs `LayerGeometry`): `images` inputs of height × width ×
// channels, outputs of out_height × out_width, a square window of side `window` moved by
// `stride` over the input padded with `padding` zeros.
struct LayerGeometry {
    u32 images, height, width, channels, out_height, out_width, window, stride, padding;
};

__device__ inline u64 thread_index() { return (u64)blockIdx.x * blockDim.x + threadIdx.x; }

// RGB in [0, 1] → network input (`scale_input`): out = (2x − 1 − shift) / scale per channel.
extern "C" __global__ void lpips_scale_input(const float* images, u64 count, float* out) {
    const u64 i = thread_index();
    if (i >= count) return;
    const u32 c = i % 3;
    out[i] = __fdiv_rn(__fsub_rn(__fsub_rn(2.0f * images[i], 1.0f), INPUT_SHIFT[c]), INPUT_SCALE[c]);
}

// d_images += weight · d_scaled · 2 / scale (`scale_input_backward`).
extern "C" __global__ void lpips_scale_input_backward(const float* d_scaled, u64 count,
                                                      float weight, float* d_images) {
    const u64 i = thread_index();
    if (i >= count) return;
    d_images[i] += weight * d_scaled[i] * (2.0f / INPUT_SCALE[i % 3]);
}

// One thread per value of the rows (`im2col`): row = output pixel, column = input channel,
// kernel row, kernel column, then a last column of 1 for the bias.
extern "C" __global__ void lpips_im2col(const float* input, LayerGeometry g, float* cols) {
    const u64 i = thread_index();
    const u32 kernel = g.window;
    const u32 columns = g.channels * kernel * kernel + 1;
    if (i >= (u64)g.images * g.out_height * g.out_width * columns) return;
    const u64 row = i / columns;
    const u32 column = i % columns;
    if (column == columns - 1) {
        cols[i] = 1.0f;
        return;
    }
    const u32 image = row / (g.out_height * g.out_width);
    const u32 pixel = row % (g.out_height * g.out_width);
    const int iy = (int)((pixel / g.out_width) * g.stride + (column / kernel) % kernel) - (int)g.padding;
    const int ix = (int)((pixel % g.out_width) * g.stride + column % kernel) - (int)g.padding;
    const u32 c = column / (kernel * kernel);
    float value = 0.0f;
    if (iy >= 0 && iy < (int)g.height && ix >= 0 && ix < (int)g.width) {
        value = input[(((u64)image * g.height + iy) * g.width + ix) * g.channels + c];
    }
    cols[i] = value;
}

// The output index whose tap `tap` lands on (padded) input index `padded`, or −1.
__device__ inline int output_index(u32 padded, u32 tap, u32 stride, u32 outputs) {
    if (padded < tap) return -1;
    const u32 offset = padded - tap;
    if (offset % stride != 0 || offset / stride >= outputs) return -1;
    return (int)(offset / stride);
}

// One thread per input value (`col2im`): the sum of the row values that copied it, kernel
// row-major (the bias column is ignored).
extern "C" __global__ void lpips_col2im(const float* d_cols, LayerGeometry g, float* d_input) {
    const u64 i = thread_index();
    if (i >= (u64)g.images * g.height * g.width * g.channels) return;
    const u32 c = i % g.channels;
    const u64 pixel = i / g.channels;
    const u32 image = pixel / ((u64)g.height * g.width);
    const u32 iy = (pixel / g.width) % g.height, ix = pixel % g.width;
    const u32 kernel = g.window;
    const u32 columns = g.channels * kernel * kernel + 1;
    float sum = 0.0f;
    for (u32 ky = 0; ky < kernel; ++ky) {
        const int oy = output_index(iy + g.padding, ky, g.stride, g.out_height);
        if (oy < 0) continue;
        for (u32 kx = 0; kx < kernel; ++kx) {
            const int ox = output_index(ix + g.padding, kx, g.stride, g.out_width);
            if (ox < 0) continue;
            const u64 row = ((u64)image * g.out_height + oy) * g.out_width + ox;
            sum += d_cols[row * columns + (c * kernel + ky) * kernel + kx];
        }
    }
    d_input[i] = sum;
}

// One thread per output value (`max_pool`): the window's maximum and its input pixel
// (y · width + x, the first of equal maxima in row-major order).
extern "C" __global__ void lpips_max_pool(const float* input, LayerGeometry g, float* out,
                                          u32* argmax) {
    const u64 i = thread_index();
    if (i >= (u64)g.images * g.out_height * g.out_width * g.channels) return;
    const u32 c = i % g.channels;
    const u64 pixel = i / g.channels;
    const u32 image = pixel / ((u64)g.out_height * g.out_width);
    const u32 oy = (pixel / g.out_width) % g.out_height, ox = pixel % g.out_width;
    const float* pixels = input + (u64)image * g.height * g.width * g.channels;
    float best = __int_as_float(0xff800000);  // −∞
    u32 best_pixel = 0;
    for (u32 dy = 0; dy < g.window; ++dy) {
        for (u32 dx = 0; dx < g.window; ++dx) {
            const u32 source = (oy * g.stride + dy) * g.width + ox * g.stride + dx;
            const float candidate = pixels[(u64)source * g.channels + c];
            if (candidate > best) {
                best = candidate;
                best_pixel = source;
            }
        }
    }
    out[i] = best;
    argmax[i] = best_pixel;
}

// One thread per input value (`max_pool_backward`): the gradients of the outputs whose
// maximum it was.
extern "C" __global__ void lpips_max_pool_backward(const float* d_out, const u32* argmax,
                                                   LayerGeometry g, float* d_input) {
    const u64 i = thread_index();
    if (i >= (u64)g.images * g.height * g.width * g.channels) return;
    const u32 c = i % g.channels;
    const u64 pixel = i / g.channels;
    const u32 image = pixel / ((u64)g.height * g.width);
    const u32 within = pixel % ((u64)g.height * g.width);
    const u32 iy = within / g.width, ix = within % g.width;
    float sum = 0.0f;
    for (u32 wy = 0; wy < g.window; ++wy) {
        const int oy = output_index(iy, wy, g.stride, g.out_height);
        if (oy < 0) continue;
        for (u32 wx = 0; wx < g.window; ++wx) {
            const int ox = output_index(ix, wx, g.stride, g.out_width);
            if (ox < 0) continue;
            const u64 out = (((u64)image * g.out_height + oy) * g.out_width + ox) * g.channels + c;
            if (argmax[out] == within) sum += d_out[out];
        }
    }
    d_input[i] = sum;
}

// One thread per pixel of the `a` images (`compare_features`): `features` holds `pairs`
// `a` images, then as many `b` images, of `pixels` pixels × `channels`. Writes the pixel's
// share of the mean distance, scale · Σ_c head[c] (â_c − b̂_c)², into distances[pixel], and
// adds its gradient at the `a` features to d_a.
extern "C" __global__ void lpips_compare(const float* features, u32 pairs, u32 pixels,
                                         u32 channels, const float* head, float scale,
                                         float* distances, float* d_a) {
    const u64 i = thread_index();
    if (i >= (u64)pairs * pixels) return;
    const float* fa = features + i * channels;
    const float* fb = features + ((u64)pairs * pixels + i) * channels;
    float squared_a = 0.0f, squared_b = 0.0f;
    for (u32 c = 0; c < channels; ++c) {
        squared_a += fa[c] * fa[c];
        squared_b += fb[c] * fb[c];
    }
    const float norm_a = sqrtf(squared_a + NORM_SQUARED_FLOOR);
    const float inverse_a = 1.0f / (norm_a + NORMALISE_EPS);
    const float inverse_b = 1.0f / (sqrtf(squared_b + NORM_SQUARED_FLOOR) + NORMALISE_EPS);
    float distance = 0.0f, projection = 0.0f;
    for (u32 c = 0; c < channels; ++c) {
        const float difference = fa[c] * inverse_a - fb[c] * inverse_b;
        distance += head[c] * difference * difference;
        projection += 2.0f * head[c] * difference * fa[c];
    }
    // d(â_c)/d(fa_j) = δ_cj / (n + eps) − fa_c fa_j / ((n + eps)² n).
    const float along = scale * projection * inverse_a * inverse_a / norm_a;
    float* d = d_a + i * channels;
    for (u32 c = 0; c < channels; ++c) {
        const float difference = fa[c] * inverse_a - fb[c] * inverse_b;
        d[c] += scale * 2.0f * head[c] * difference * inverse_a - fa[c] * along;
    }
    distances[i] = scale * distance;
}
