/*
 * Tensor-core tile products for the reduced precisions (--precision tf32
 * and bf16, enum gn_precision of genet.h): one block multiplies two
 * operands staged in shared memory by the task math (block_ops.cuh) with
 * warp-wide mma instructions, accumulating in fp32.
 *
 *   gn_mma_block<P>   C (M, N) += A (M, kn) B (kn, N), all in shared memory
 *
 * The output is cut into 16 x 8 tiles, dealt to the block's warps in turn
 * (tile w, w + warps, ...: a tile always belongs to the same warp, so
 * repeated calls on one C need no barrier between them). A warp runs its
 * tile's k loop (tf32: mma.m16n8k8, operands rounded to nearest with
 * cvt.rna.tf32.f32; bf16: mma.m16n8k16, operands rounded to nearest even
 * by __floats2bfloat162_rn) as two chains from zero and adds both to its
 * tile of C.
 * Fragments are read element by element from shared memory, any strides
 * (the ops stage rows or columns), zero outside M, N and kn: no shape
 * needs a multiple of 16 or 8.
 *
 * Rounding differs from fp32's fixed order: the operands lose mantissa
 * bits (tf32 keeps 10, bf16 7) and the hardware sums a k-step's products
 * in its own order. The result is still deterministic (same inputs, same
 * tiles, same bits), but not the serial reference's; tests bound the
 * difference (tests/test_kernel_ops.c). fp32 never comes here.
 */
#ifndef GN_DEVICE_MMA_CUH
#define GN_DEVICE_MMA_CUH

#include <cuda_bf16.h>

#include "common.cuh"
#include "genet/genet.h"

/* Element (i, j) of X, X[i * si + j * sj], or 0 outside (ni, nj). */
__device__ static inline float gn_mma_at(const float *X, int32_t i, int32_t j, int32_t ni,
                                         int32_t nj, int32_t si, int32_t sj)
{
    return i < ni && j < nj ? X[i * si + j * sj] : 0.0f;
}

__device__ static inline uint32_t gn_mma_tf32(float x)
{
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

/* Two bf16 in one register, lo in the low half (the lower k or column). */
__device__ static inline uint32_t gn_mma_bf16x2(float lo, float hi)
{
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t *>(&v);
}

/* One k-step of a 16 x 8 tile into c: k from k0 (8 of them for tf32, 16
 * for bf16). Fragment layouts of the PTX ISA (lane = 4 g + t): A rows
 * g and g + 8, B column g; tf32 k = t, t + 4; bf16 k = 2t, 2t + 1, 2t + 8,
 * 2t + 9. */
template <int P>
__device__ static inline void gn_mma_step(float c[4], const float *A, int32_t am, int32_t ak,
                                          const float *B, int32_t bk, int32_t bn, int32_t M,
                                          int32_t N, int32_t kn, int32_t ma, int32_t mb,
                                          int32_t nb, int32_t k0, int32_t t)
{
    if constexpr (P == GN_PRECISION_TF32) {
        const int32_t ka = k0 + t, kb = k0 + t + 4;
        const uint32_t a0 = gn_mma_tf32(gn_mma_at(A, ma, ka, M, kn, am, ak));
        const uint32_t a1 = gn_mma_tf32(gn_mma_at(A, mb, ka, M, kn, am, ak));
        const uint32_t a2 = gn_mma_tf32(gn_mma_at(A, ma, kb, M, kn, am, ak));
        const uint32_t a3 = gn_mma_tf32(gn_mma_at(A, mb, kb, M, kn, am, ak));
        const uint32_t b0 = gn_mma_tf32(gn_mma_at(B, ka, nb, kn, N, bk, bn));
        const uint32_t b1 = gn_mma_tf32(gn_mma_at(B, kb, nb, kn, N, bk, bn));
        asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    } else {
        const int32_t ka = k0 + 2 * t, kb = ka + 8;
        const uint32_t a0 = gn_mma_bf16x2(gn_mma_at(A, ma, ka, M, kn, am, ak),
                                          gn_mma_at(A, ma, ka + 1, M, kn, am, ak));
        const uint32_t a1 = gn_mma_bf16x2(gn_mma_at(A, mb, ka, M, kn, am, ak),
                                          gn_mma_at(A, mb, ka + 1, M, kn, am, ak));
        const uint32_t a2 = gn_mma_bf16x2(gn_mma_at(A, ma, kb, M, kn, am, ak),
                                          gn_mma_at(A, ma, kb + 1, M, kn, am, ak));
        const uint32_t a3 = gn_mma_bf16x2(gn_mma_at(A, mb, kb, M, kn, am, ak),
                                          gn_mma_at(A, mb, kb + 1, M, kn, am, ak));
        const uint32_t b0 = gn_mma_bf16x2(gn_mma_at(B, ka, nb, kn, N, bk, bn),
                                          gn_mma_at(B, ka + 1, nb, kn, N, bk, bn));
        const uint32_t b1 = gn_mma_bf16x2(gn_mma_at(B, kb, nb, kn, N, bk, bn),
                                          gn_mma_at(B, kb + 1, nb, kn, N, bk, bn));
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
}

/*
 * C[m * ldc + n] += sum over k < kn of A[m * am + k * ak] B[k * bk + n * bn]
 * for m < M, n < N (P: GN_PRECISION_TF32 or GN_PRECISION_BF16). A tile's
 * k-steps alternate between two accumulators (two independent chains of
 * mma, so one's latency hides behind the other's), added at the end:
 * C + (even steps) + (odd steps), always in that order. The C fragment:
 * rows g and g + 8, columns 2t and 2t + 1.
 */
template <int P>
__device__ static void gn_mma_block(float *C, int32_t ldc, const float *A, int32_t am,
                                    int32_t ak, const float *B, int32_t bk, int32_t bn,
                                    int32_t M, int32_t N, int32_t kn)
{
    static_assert(P == GN_PRECISION_TF32 || P == GN_PRECISION_BF16, "a tensor-core precision");
    constexpr int32_t KS = P == GN_PRECISION_TF32 ? 8 : 16; /* k of one mma */
    const int32_t lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int32_t tn = (N + 7) >> 3, tiles = ((M + 15) >> 4) * tn;
    for (int32_t tile = threadIdx.x >> 5; tile < tiles; tile += NT / 32) {
        const int32_t m0 = tile / tn * 16, n0 = tile % tn * 8;
        const int32_t ma = m0 + g, mb = m0 + g + 8, nb = n0 + g, nc = n0 + 2 * t;
        float c[4] = {0.0f, 0.0f, 0.0f, 0.0f}, d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        int32_t k0 = 0;
        for (; k0 + KS < kn; k0 += 2 * KS) {
            gn_mma_step<P>(c, A, am, ak, B, bk, bn, M, N, kn, ma, mb, nb, k0, t);
            gn_mma_step<P>(d, A, am, ak, B, bk, bn, M, N, kn, ma, mb, nb, k0 + KS, t);
        }
        if (k0 < kn) gn_mma_step<P>(c, A, am, ak, B, bk, bn, M, N, kn, ma, mb, nb, k0, t);
        const int32_t r[4] = {ma, ma, mb, mb}, col[4] = {nc, nc + 1, nc, nc + 1};
#pragma unroll
        for (int32_t i = 0; i < 4; i++)
            if (r[i] < M && col[i] < N) {
                float *p = C + r[i] * ldc + col[i];
                *p = __fadd_rn(__fadd_rn(*p, c[i]), d[i]);
            }
    }
}

#endif
