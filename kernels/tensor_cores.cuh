// The tensor cores' product, the f16 conversions and the fragment layout shared by
// field_fp16.cu, mlp_fp16.cu and blend.cu's f16 table. The product and the f16 pair packing
// need sm_80; on the CPU (kernels_on_cpu.rs, `NERF_AVATAR_ON_CPU`) they are the emulator's.
#pragma once

// 1 where the tensor cores' product runs (sm_80 and later, or the CPU emulator): the fp16
// kernels are empty elsewhere, and the host never launches them there.
#if defined(NERF_AVATAR_ON_CPU) || __CUDA_ARCH__ >= 800
#define TENSOR_CORES 1
#else
#define TENSOR_CORES 0
#endif

// Two floats as an f16 pair, `lo` in the low half (round to nearest even).
__device__ inline u32 pack_half2(float lo, float hi) {
#ifdef NERF_AVATAR_ON_CPU
    return emulated_pack_half2(lo, hi);
#else
    u32 packed;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
    return packed;
#endif
}

// The two floats of an f16 pair (`lo` from the low half).
__device__ inline void unpack_half2(u32 packed, float& lo, float& hi) {
#ifdef NERF_AVATAR_ON_CPU
    lo = emulated_half_to_float(packed & 0xffffu);
    hi = emulated_half_to_float(packed >> 16);
#else
    asm("{.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;\n\t}"
        : "=f"(lo), "=f"(hi)
        : "r"(packed));
#endif
}

// c += a · b over the warp (`mma.m16n8k16`, f16 inputs, f32 sums): a holds the lane's four
// f16 pairs of the 16 × 16 A tile, (b_lo, b_hi) its two of the 16 × 8 B tile, c its four
// floats of the 16 × 8 result.
__device__ inline void mma_16x8x16(float c[4], const u32 a[4], u32 b_lo, u32 b_hi) {
#ifdef NERF_AVATAR_ON_CPU
    emulated_mma_16x8x16(c, a, b_lo, b_hi);
#elif __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b_lo), "r"(b_hi));
#endif
}

// The A fragment of input tile `kt` from output tiles 2kt and 2kt + 1 (ReLU when `relu`): a
// 16 × 8 result's lane values (rows group and group + 8, columns 2t and 2t + 1) are where
// the next product's A fragment wants them.
__device__ inline void tiles_to_fragment(const float left[4], const float right[4], bool relu,
                                         u32 a[4]) {
    float v[8] = {left[0], left[1], left[2], left[3], right[0], right[1], right[2], right[3]};
    if (relu) {
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = fmaxf(v[i], 0.0f);
    }
    a[0] = pack_half2(v[0], v[1]);
    a[1] = pack_half2(v[2], v[3]);
    a[2] = pack_half2(v[4], v[5]);
    a[3] = pack_half2(v[6], v[7]);
}
