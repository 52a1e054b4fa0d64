// The whole radiance field of inference in one kernel, its MLPs on the tensor cores in half
// precision (field.rs `Model::field_forward_into`, fp16 weights and activations, fp32
// accumulation, as tiny-cuda-nn's fully fused MLP; the blended table in f16, half the bytes
// of each of the hash encoding's gathers): hash encoding → density MLP → σ, and
// SH(direction) ++ geometry feature → colour MLP → RGB.
//
// A warp owns 16 samples at a time. A layer is a chain of `mma.m16n8k16` products: the
// activations (16 × k) are the A operand, the weights the B operand, 16 × 8 output tiles
// accumulate in fp32 registers. An output tile pair has the register layout of the next
// layer's A fragment, so activations stay in registers from layer to layer; only the
// encoding and the SH values pass through shared memory. The host packs each layer's fp16
// weights in the order the lanes read them (`cuda::fused`), padded to whole tiles, the last
// density layer's rows permuted so that the geometry feature comes first and the density
// logit after it (column G). Needs sm_80 (the kernel is empty below; the host never
// launches it there). The product and the rounding are tensor_cores.cuh's.
#include "common.cuh"
#include "tensor_cores.cuh"

#define FUSED_MAX_LAYERS 12
#define MAX_K_TILES 5
#define MAX_N_TILES 9
#define FUSED_WARPS 4
#define STAGE_STRIDE 68

// Where each layer's packed weights start (in fragments), and its tiles: mirrored by
// `cuda::fused::FusedLayers`. Layers 0..density_layers are the density MLP, then the colour
// MLP's.
struct FusedLayers {
    u32 offset[FUSED_MAX_LAYERS];
    u32 n_tiles[FUSED_MAX_LAYERS];
    u32 k_tiles[FUSED_MAX_LAYERS];
    u32 density_layers;
    u32 color_layers;
    u32 geometry_features;
};

// One lane's B fragment of a 16 × 8 weight tile: two f16 pairs.
struct alignas(8) Fragment {
    u32 lo;
    u32 hi;
};

// A table entry of 4 features as two f16 pairs, read in one load.
struct alignas(8) HalfFeatures4 {
    u32 pairs[2];
};

// Value `index` of an f16 table stored as pairs.
__device__ inline float table_half(const u32* table, u64 index) {
    float lo, hi;
    unpack_half2(table[index >> 1], lo, hi);
    return (index & 1) ? hi : lo;
}

// The trilinear sum of one level's F features over the 8 corners into `out`, from the f16
// table (`blend_tables_f16`), with one load per corner where F is 4 or 2.
__device__ inline void gather_features(const u32* table, const u32 entries[8], const float w[8],
                                       u32 features, float* out) {
    if (features == 4) {
        float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int c = 0; c < 8; ++c) {
            const HalfFeatures4 e = reinterpret_cast<const HalfFeatures4*>(table)[entries[c]];
            float v[4];
            unpack_half2(e.pairs[0], v[0], v[1]);
            unpack_half2(e.pairs[1], v[2], v[3]);
#pragma unroll
            for (int f = 0; f < 4; ++f) sum[f] += w[c] * v[f];
        }
        for (int f = 0; f < 4; ++f) out[f] = sum[f];
    } else if (features == 2) {
        float sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int c = 0; c < 8; ++c) {
            float lo, hi;
            unpack_half2(table[entries[c]], lo, hi);
            sum[0] += w[c] * lo;
            sum[1] += w[c] * hi;
        }
        out[0] = sum[0];
        out[1] = sum[1];
    } else {
        for (u32 f = 0; f < features; ++f) {
            float sum = 0.0f;
            for (int c = 0; c < 8; ++c) sum += w[c] * table_half(table, (u64)entries[c] * features + f);
            out[f] = sum;
        }
    }
}

// c = a · wᵀ for one layer: n_tiles output tiles of 8 columns over k_tiles input tiles of 16.
__device__ inline void fused_layer(const Fragment* w, u32 n_tiles, u32 k_tiles,
                                   const u32 a[MAX_K_TILES][4], float c[MAX_N_TILES][4],
                                   u32 lane) {
#pragma unroll
    for (u32 nt = 0; nt < MAX_N_TILES; ++nt) {
        c[nt][0] = c[nt][1] = c[nt][2] = c[nt][3] = 0.0f;
        if (nt < n_tiles) {
#pragma unroll
            for (u32 kt = 0; kt < MAX_K_TILES; ++kt) {
                if (kt < k_tiles) {
                    const Fragment b = w[(nt * k_tiles + kt) * 32 + lane];
                    mma_16x8x16(c[nt], a[kt], b.lo, b.hi);
                }
            }
        }
    }
}

// The next layer's input from a hidden layer's output (ReLU).
__device__ inline void hidden_to_input(const float c[MAX_N_TILES][4], u32 a[MAX_K_TILES][4]) {
#pragma unroll
    for (u32 kt = 0; kt < MAX_K_TILES; ++kt) {
        if (2 * kt + 1 < MAX_N_TILES) {
            tiles_to_fragment(c[2 * kt], c[2 * kt + 1], true, a[kt]);
        } else {
            a[kt][0] = a[kt][1] = a[kt][2] = a[kt][3] = 0u;
        }
    }
}

// A fragment of input tile `kt` from 16 staged rows of floats.
__device__ inline void staged_fragment(const float (*rows)[STAGE_STRIDE], u32 kt, u32 g, u32 tig,
                                       u32 a[4]) {
    const u32 col = 16 * kt + 2 * tig;
    a[0] = pack_half2(rows[g][col], rows[g][col + 1]);
    a[1] = pack_half2(rows[g + 8][col], rows[g + 8][col + 1]);
    a[2] = pack_half2(rows[g][col + 8], rows[g][col + 9]);
    a[3] = pack_half2(rows[g + 8][col + 8], rows[g + 8][col + 9]);
}

// σ (n) and RGB (n × 3) of n samples at `positions` (unit cube) seen along `directions`, from
// the blended `table` in f16 (`blend_tables_f16`); `weights` holds every layer's packed
// fragments. Where `count` is not null, n is at most the count it holds (written on the
// device by the marcher: the host need not wait for it).
extern "C" __global__ void field_forward_fused(const u32* table, const u32* levels,
                                               u32 level_count, u32 features,
                                               const Fragment* weights, FusedLayers layers,
                                               const float* positions, const float* directions,
                                               u32 n, const u32* count, float* sigma, float* rgb) {
#if TENSOR_CORES
    if (count) n = min(n, *count);
    __shared__ float staged[FUSED_WARPS][16][STAGE_STRIDE];
    const u32 warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const u32 g = lane >> 2, tig = lane & 3;
    float(*rows)[STAGE_STRIDE] = staged[warp];
    const u32 width = level_count * features;
    const u32 encoding_tiles = layers.k_tiles[0];
    const u32 geometry = layers.geometry_features;
    const u32 last_density = layers.density_layers - 1;
    const u32 last = layers.density_layers + layers.color_layers - 1;
    const u32 groups = (n + 15) / 16;
    for (u32 group = blockIdx.x * FUSED_WARPS + warp; group < groups;
         group += gridDim.x * FUSED_WARPS) {
        const u32 first = group * 16;
        // The 16 samples' encodings, one (sample, level) per lane at a time, zero-padded
        // to whole input tiles.
        for (u32 p = lane; p < 16 * level_count; p += 32) {
            const u32 s = p / level_count, l = p % level_count;
            const u32 i = first + s;
            float* out = rows[s] + l * features;
            if (i < n) {
                const Level level = load_level(levels, l);
                u32 entries[8];
                float w[8];
                level_corners(level, positions[3 * i], positions[3 * i + 1],
                              positions[3 * i + 2], entries, w);
                gather_features(table, entries, w, features, out);
            } else {
                for (u32 f = 0; f < features; ++f) out[f] = 0.0f;
            }
        }
        const u32 padding = 16 * encoding_tiles - width;
        for (u32 p = lane; p < 16 * padding; p += 32) rows[p / padding][width + p % padding] = 0.0f;
        __syncwarp();
        u32 a[MAX_K_TILES][4];
#pragma unroll
        for (u32 kt = 0; kt < MAX_K_TILES; ++kt) {
            if (kt < encoding_tiles) {
                staged_fragment(rows, kt, g, tig, a[kt]);
            } else {
                a[kt][0] = a[kt][1] = a[kt][2] = a[kt][3] = 0u;
            }
        }
        __syncwarp();

        float c[MAX_N_TILES][4];
        for (u32 layer = 0; layer <= last_density; ++layer) {
            fused_layer(weights + layers.offset[layer], layers.n_tiles[layer],
                        layers.k_tiles[layer], a, c, lane);
            if (layer < last_density) hidden_to_input(c, a);
        }

        // σ = softplus(density logit), column G of the last density layer.
#pragma unroll
        for (u32 nt = 0; nt < MAX_N_TILES; ++nt) {
            if (nt == (geometry >> 3) && tig == ((geometry & 7) >> 1)) {
                const bool odd = geometry & 1;
                const float top = odd ? c[nt][1] : c[nt][0];
                const float bottom = odd ? c[nt][3] : c[nt][2];
                if (first + g < n) sigma[first + g] = softplus(top);
                if (first + g + 8 < n) sigma[first + g + 8] = softplus(bottom);
            }
        }

        // The colour input: SH of the direction (staged), then the geometry feature (the
        // density output's first G columns, straight from the registers).
        if (lane < 16) {
            const u32 i = first + lane;
            float sh[SH_COEFFICIENTS];
            if (i < n) {
                sh_basis(directions[3 * i], directions[3 * i + 1], directions[3 * i + 2], sh);
            } else {
                for (int j = 0; j < SH_COEFFICIENTS; ++j) sh[j] = 0.0f;
            }
            for (int j = 0; j < SH_COEFFICIENTS; ++j) rows[lane][j] = sh[j];
        }
        __syncwarp();
        staged_fragment(rows, 0, g, tig, a[0]);
        __syncwarp();
        const u32 geometry_tiles = (geometry + 15) / 16;
#pragma unroll
        for (u32 t = 0; t + 1 < MAX_K_TILES; ++t) {
            if (t < geometry_tiles) {
                tiles_to_fragment(c[2 * t], c[2 * t + 1], false, a[t + 1]);
            } else {
                a[t + 1][0] = a[t + 1][1] = a[t + 1][2] = a[t + 1][3] = 0u;
            }
        }
        for (u32 layer = last_density + 1; layer <= last; ++layer) {
            fused_layer(weights + layers.offset[layer], layers.n_tiles[layer],
                        layers.k_tiles[layer], a, c, lane);
            if (layer < last) hidden_to_input(c, a);
        }

        // RGB = sigmoid of columns 0..2 of the last tile: lanes with tig 0 hold columns 0 and
        // 1, lanes with tig 1 columns 2 and 3.
        if (tig < 2) {
            const u32 rows_of[2] = {first + g, first + g + 8};
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const u32 i = rows_of[half];
                if (i >= n) continue;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const u32 col = 2 * tig + e;
                    if (col < 3) rgb[3 * i + col] = sigmoid(c[0][2 * half + e]);
                }
            }
        }
    }
#endif
}
