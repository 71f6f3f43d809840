/*
 * What a forward task's staging and arithmetic cost inside one block, piece
 * by piece, on the task math's own code (device/block_ops.cuh:
 * gn_block_stage_cols, gn_block_stage_wrows, gn_block_forward_regs), beside
 * a floor and measured alternatives: the shape of a `deep` or `layered`
 * forward (four in-edges of S = 32, R rows of output), data in L2, one
 * block on the card and then one on every SM at once, ns on each thread's
 * clock, medians over blocks and repetitions:
 *
 *   staging  the inputs' and weights' asynchronous copies issued (the
 *            slowest thread's), waited for, the barrier after (thread 0);
 *            "addresses precomputed": the same copies, every address worked
 *            out before the clock starts (the floor of issuing them)
 *   math     the forward's register path to the barrier after; "tile TRx4":
 *            a thread holding TR rows of four columns (16-byte weight
 *            loads, fewer threads), the alternative tried in PERF.md
 *
 * Each variant's outputs are compared with the op's (same bits).
 *
 * A CUDA build makes it (tools/bench/meson.build): BUILD/tools/bench/task_cost
 * on the GPU machine prints the table. By hand:
 *
 *   nvcc -O3 -arch=sm_90 -fmad=false --expt-relaxed-constexpr -DGN_CUDA_ARCH_BUILT=90 \
 *     -Iruntime/base -Iruntime/model -Iruntime/sched -Iruntime/stats -Iruntime/train \
 *     -Iruntime/formats -Iinclude -I. -IBUILD -o task_cost tools/bench/task_cost.cu
 *   (BUILD: a configured build folder, for gn_config.h)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/block_ops.cuh"

#define NE 4     /* in-edges */
#define S 32     /* their width and the group's */
#define ROWS 256 /* the batch */
#define REPS 64
#define STAGE_FLOATS 20000

/* ---- an alternative form of the arithmetic, measured ---- */

/* A register tile: thread t < RS nq (nq = n / 4 column quads, RS =
 * ceil(R / TR)) holds rows rg + i RS (i < TR) of columns 4 cq .. 4 cq + 3
 * (cq = t % nq, rg = t / nq): per four columns of the chunk, four 16-byte
 * weight loads and TR 16-byte input loads for 16 TR multiply-adds. */
template <int TR>
__device__ static void tc_math_tile(float (&s)[TR][4], const float *sa, int32_t lda, const float *sw,
                                    int32_t n, int32_t cn, int32_t R, int32_t rg, int32_t RS,
                                    int32_t cq)
{
    const float *ap[TR];
#pragma unroll
    for (int32_t i = 0; i < TR; i++) ap[i] = sa + min(rg + i * RS, R - 1) * lda;
    const float *wp = sw + 4 * cq;
    int32_t c = 0;
    for (; c + 4 <= cn; c += 4) {
        const float4 w0 = *reinterpret_cast<const float4 *>(wp + c * n);
        const float4 w1 = *reinterpret_cast<const float4 *>(wp + (c + 1) * n);
        const float4 w2 = *reinterpret_cast<const float4 *>(wp + (c + 2) * n);
        const float4 w3 = *reinterpret_cast<const float4 *>(wp + (c + 3) * n);
#pragma unroll
        for (int32_t i = 0; i < TR; i++) {
            const float4 a4 = *reinterpret_cast<const float4 *>(ap[i] + c);
            s[i][0] = MAC(MAC(MAC(MAC(s[i][0], a4.x, w0.x), a4.y, w1.x), a4.z, w2.x), a4.w, w3.x);
            s[i][1] = MAC(MAC(MAC(MAC(s[i][1], a4.x, w0.y), a4.y, w1.y), a4.z, w2.y), a4.w, w3.y);
            s[i][2] = MAC(MAC(MAC(MAC(s[i][2], a4.x, w0.z), a4.y, w1.z), a4.z, w2.z), a4.w, w3.z);
            s[i][3] = MAC(MAC(MAC(MAC(s[i][3], a4.x, w0.w), a4.y, w1.w), a4.z, w2.w), a4.w, w3.w);
        }
    }
    for (; c < cn; c++) {
        const float4 wv = *reinterpret_cast<const float4 *>(wp + c * n);
#pragma unroll
        for (int32_t i = 0; i < TR; i++) {
            const float av = ap[i][c];
            s[i][0] = MAC(s[i][0], av, wv.x);
            s[i][1] = MAC(s[i][1], av, wv.y);
            s[i][2] = MAC(s[i][2], av, wv.z);
            s[i][3] = MAC(s[i][3], av, wv.w);
        }
    }
}

template <int TR>
__device__ static void tc_tile_run(float *out, const float *sa, int32_t lda, const float *sw,
                                   int32_t n, int32_t cn, int32_t R)
{
    const int32_t t = threadIdx.x, nq = n / 4, RS = (R + TR - 1) / TR;
    if (t >= RS * nq) return;
    const int32_t cq = t % nq, rg = t / nq;
    float s[TR][4];
#pragma unroll
    for (int32_t i = 0; i < TR; i++)
#pragma unroll
        for (int32_t u = 0; u < 4; u++) s[i][u] = 0.0f;
    tc_math_tile<TR>(s, sa, lda, sw, n, cn, R, rg, RS, cq);
#pragma unroll
    for (int32_t i = 0; i < TR; i++) {
        const int32_t r = rg + i * RS;
        if (r < R)
#pragma unroll
            for (int32_t u = 0; u < 4; u++) out[r * n + 4 * cq + u] = s[i][u];
    }
}

/* ---- the bench ---- */

enum { T_ISSUE, T_WAIT, T_STAGE, T_MATH, T_N };

struct tc_args {
    const float *const *ptr; /* (2 NE) the sources, then the weight blocks */
    float *out;       /* (blocks, at most NT 8 floats) each block's R x S outputs, compared */
    long long *times; /* (blocks, REPS, T_N + 2) */
    int32_t R, stage_mode, math_mode;
};

template <int Q>
__device__ static void tc_math(int mode, float *out, const float *sa, int32_t lda, const float *sw,
                               int32_t cn, int32_t R)
{
    if (mode >= 1) {
        if (mode == 1) tc_tile_run<1>(out, sa, lda, sw, S, cn, R);
        else if (mode == 2) tc_tile_run<2>(out, sa, lda, sw, S, cn, R);
        else tc_tile_run<4>(out, sa, lda, sw, S, cn, R);
        return;
    }
    float s[Q];
#pragma unroll
    for (int q = 0; q < Q; q++) s[q] = 0.0f;
    const int32_t tid = threadIdx.x, j = tid % S, rr = tid / S, step = NT / S;
    gn_block_forward_regs<Q>(s, sa, lda, sw, S, cn, j, rr, step, R);
#pragma unroll
    for (int q = 0; q < Q; q++)
        if (rr + q * step < R) out[(rr + q * step) * S + j] = s[q];
}

/* Staging with every copy's addresses worked out before the clock starts:
 * what issuing the same copies costs without the addressing. */
#define TC_MAXC 8
struct tc_plan {
    const float *src[TC_MAXC];
    uint32_t dst[TC_MAXC];
};

__device__ static struct tc_plan tc_plan_of(const struct gn_block_smem &sm, float *sa, int32_t lda,
                                            float *sw, int32_t R, int32_t cn, int32_t n)
{
    struct tc_plan p;
    const int32_t t = threadIdx.x;
    /* inputs: up to four a thread (R rows of cn / 4 quads), then weights */
#pragma unroll
    for (int32_t i = 0; i < 4; i++) {
        const int32_t f = t + i * NT, qi = f % (cn / 4), r = f / (cn / 4), x = 4 * qi;
        const struct gn_block_edge &e = gn_block_edge_at(NE, x);
        const bool ok = f < R * (cn / 4);
        p.src[i] = ok ? e.a + (x - e.start) + (int64_t)r * e.K : NULL;
        p.dst[i] = (uint32_t)__cvta_generic_to_shared(sa + r * lda + x);
    }
#pragma unroll
    for (int32_t i = 0; i < 4; i++) {
        const int32_t f = t + i * NT, jq = f % (n / 4), c = f / (n / 4);
        const struct gn_block_edge &e = gn_block_edge_at(NE, min(c, cn - 1));
        const bool ok = f < cn * (n / 4);
        p.src[4 + i] = ok ? e.w + (int64_t)(c - e.start) * n + 4 * jq : NULL;
        p.dst[4 + i] = (uint32_t)__cvta_generic_to_shared(sw + c * n + 4 * jq);
    }
    return p;
}

__global__ void __launch_bounds__(NT, 1) tc_bench(struct tc_args a)
{
    __shared__ long long s_max[T_N];
    struct gn_block_smem sm = gn_block_smem_carve(STAGE_FLOATS, 0, NULL);
    const int32_t t = threadIdx.x, R = a.R, n = S;
    if (t < NE) {
        struct gn_block_edge e;
        e.a = a.ptr[t] + (int64_t)(blockIdx.x % (ROWS / R)) * R * S;
        e.w = a.ptr[NE + t];
        e.K = S;
        e.start = t * S;
        gn_block_sm_edge()[t] = e;
    }
    if (t == 0) gn_block_vec_sm = GN_BLOCK_VEC_A | GN_BLOCK_VEC_W | GN_BLOCK_VEC_N;
    const int32_t total = NE * S, cn = total;
    const int32_t KS = max(1, (sm.stage_floats - 36 * R) / (R + n) & ~3);
    const int32_t lda = gn_block_ld(KS);
    float *sa = gn_block_sm_stage(), *sw = gn_block_sm_stage() + R * lda;
    float *out = a.out + (int64_t)blockIdx.x * NT * 8;
    const struct tc_plan plan = tc_plan_of(sm, sa, lda, sw, R, cn, n);
    for (int rep = 0; rep < REPS; rep++) {
        if (t < T_N) s_max[t] = 0;
        __syncthreads();
        const long long t0 = clock64();
        if (a.stage_mode == 0) {
            gn_block_stage_cols(NE, false, sa, lda, R, 0, cn, 0);
            gn_block_stage_wrows(NE, sw, 0, cn, n);
        } else {
#pragma unroll
            for (int i = 0; i < TC_MAXC; i++)
                if (plan.src[i])
                    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(plan.dst[i]),
                                 "l"(plan.src[i])
                                 : "memory");
        }
        const long long t1 = clock64();
        gn_block_stage_wait();
        const long long t3 = clock64();
        __syncthreads();
        const long long t4 = clock64();
        const int32_t Q = gn_block_q_of(R, n);
        if (Q == 2) tc_math<2>(a.math_mode, out, sa, lda, sw, cn, R);
        else if (Q == 4) tc_math<4>(a.math_mode, out, sa, lda, sw, cn, R);
        else tc_math<8>(a.math_mode, out, sa, lda, sw, cn, R);
        const long long t5 = clock64();
        __syncthreads();
        const long long t6 = clock64();
        atomicMax(&s_max[T_ISSUE], t1 - t0);
        atomicMax(&s_max[T_WAIT], t3 - t1);
        atomicMax(&s_max[T_MATH], t5 - t4);
        __syncthreads();
        if (t == 0) {
            long long *o = a.times + ((int64_t)blockIdx.x * REPS + rep) * (T_N + 2);
            o[T_ISSUE] = s_max[T_ISSUE];
            o[T_WAIT] = s_max[T_WAIT];
            o[T_STAGE] = t4 - t0;     /* thread 0: the stage, barrier included */
            o[T_MATH] = s_max[T_MATH];
            o[T_N] = t6 - t4;         /* thread 0: the math, barrier included */
            o[T_N + 1] = t6 - t0;
        }
        __syncthreads();
    }
}

static int cmpll(const void *x, const void *y)
{
    const long long a = *(const long long *)x, b = *(const long long *)y;
    return a < b ? -1 : a > b;
}

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "task_cost: %s: %s\n", #call, cudaGetErrorString(e_));                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(void)
{
    int sms = 0, clock_khz = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    const double ns = 1e6 / clock_khz;
    struct tc_args a;
    memset(&a, 0, sizeof a);
    float *h = (float *)malloc((size_t)ROWS * S * sizeof(float));
    srand(1);
    const float *hp[2 * NE];
    for (int i = 0; i < NE; i++) {
        float *p, *w;
        for (int k = 0; k < ROWS * S; k++) h[k] = (float)rand() / RAND_MAX - 0.5f;
        CK(cudaMalloc(&p, (size_t)ROWS * S * sizeof(float)));
        CK(cudaMemcpy(p, h, (size_t)ROWS * S * sizeof(float), cudaMemcpyHostToDevice));
        for (int k = 0; k < S * S; k++) h[k] = (float)rand() / RAND_MAX - 0.5f;
        CK(cudaMalloc(&w, (size_t)S * S * sizeof(float)));
        CK(cudaMemcpy(w, h, (size_t)S * S * sizeof(float), cudaMemcpyHostToDevice));
        hp[i] = p;
        hp[NE + i] = w;
    }
    const float **dp;
    CK(cudaMalloc(&dp, sizeof hp));
    CK(cudaMemcpy(dp, hp, sizeof hp, cudaMemcpyHostToDevice));
    a.ptr = dp;
    const size_t nout = (size_t)sms * NT * 8, ntimes = (size_t)sms * REPS * (T_N + 2);
    CK(cudaMalloc(&a.out, nout * sizeof(float)));
    CK(cudaMalloc(&a.times, ntimes * sizeof(long long)));
    float *ref = (float *)malloc(nout * sizeof(float)), *got = (float *)malloc(nout * sizeof(float));
    long long *ht = (long long *)malloc(ntimes * sizeof(long long));
    const size_t smem = GN_BLOCK_NEDGE * sizeof(struct gn_block_edge) + STAGE_FLOATS * sizeof(float);
    CK(cudaFuncSetAttribute(tc_bench, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    static const char *stage_name[] = {"op's", "addresses precomputed"};
    static const char *math_name[] = {"op's", "tile 1x4", "tile 2x4", "tile 4x4"};
    printf("| rows | blocks | staging | math | issue | wait | stage (t0) | math (max) | math (t0) | "
           "all (t0) | same bits |\n");
    printf("| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    static const int rows[] = {16, 32};
    for (int ri = 0; ri < 2; ri++)
        for (int all = 0; all < 2; all++)
            for (int sm_ = 0; sm_ < 2; sm_++)
                for (int mm = 0; mm < 4; mm++) {
                    if (sm_ >= 1 && mm != 0) continue;
                    const int blocks = all ? sms : 1;
                    a.R = rows[ri];
                    a.stage_mode = sm_;
                    a.math_mode = mm;
                    tc_bench<<<blocks, NT, smem>>>(a);
                    CK(cudaGetLastError());
                    CK(cudaDeviceSynchronize());
                    CK(cudaMemset(a.out, 0, nout * sizeof(float)));
                    tc_bench<<<blocks, NT, smem>>>(a);
                    CK(cudaDeviceSynchronize());
                    CK(cudaMemcpy(got, a.out, (size_t)blocks * NT * 8 * sizeof(float),
                                  cudaMemcpyDeviceToHost));
                    CK(cudaMemcpy(ht, a.times, (size_t)blocks * REPS * (T_N + 2) * sizeof(long long),
                                  cudaMemcpyDeviceToHost));
                    if (sm_ == 0 && mm == 0) memcpy(ref, got, (size_t)blocks * NT * 8 * sizeof(float));
                    const int same = !memcmp(ref, got, (size_t)blocks * NT * 8 * sizeof(float));
                    double med[T_N + 2];
                    for (int f = 0; f < T_N + 2; f++) {
                        /* every block's repetitions after the first 4 */
                        const int cnt = blocks * (REPS - 4);
                        long long *v = (long long *)malloc(cnt * sizeof(long long));
                        int k = 0;
                        for (int b = 0; b < blocks; b++)
                            for (int r = 4; r < REPS; r++) v[k++] = ht[((size_t)b * REPS + r) * (T_N + 2) + f];
                        qsort(v, cnt, sizeof(long long), cmpll);
                        med[f] = v[cnt / 2] * ns;
                        free(v);
                    }
                    printf("| %d | %d | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n",
                           rows[ri], blocks, stage_name[sm_], math_name[mm], med[T_ISSUE],
                           med[T_WAIT], med[T_STAGE], med[T_MATH], med[T_N],
                           med[T_N + 1], same ? "yes" : "NO");
                }
    printf("(ns, medians over blocks and repetitions 5..%d; issue, wait, math (max): the slowest "
           "thread's; t0: thread 0's, barrier included)\n", REPS);
    return 0;
}
