/*
 * What a shared-memory load costs an SM, by the pattern of its addresses:
 * the throughput of one SM's loads (warp instructions a cycle) with W warps
 * all loading, for the patterns the task math's register paths use
 * (device/block_ops.cuh). An SM serves one shared-memory wavefront a cycle,
 * so cycles per instruction at saturation is its wavefronts: the question
 * being whether a 16-byte load that every lane of a warp reads at one
 * address (the forward's activations, the default register path) costs one
 * wavefront or four (one a quarter warp), and so what a multiply-add of each
 * form costs in wavefronts.
 *
 * Patterns (lane l of a warp; a float index into a 48 KB array):
 *   s32 consecutive   4-byte, word l: one wavefront
 *   s32 broadcast     4-byte, one word for the warp
 *   s64 consecutive   8-byte, words 2l..2l+1
 *   s64 broadcast     8-byte, one address for the warp
 *   s64 16 words      8-byte, 16 consecutive 8-byte words, each read by
 *                     lanes l and l + 16 (l % 16) or by l and l + 1 (l / 2)
 *   v4 broadcast      16-byte, one address for the warp (the default
 *                     forward's inputs)
 *   v4 2 rows         16-byte, 2 rows 36 floats apart, 16 lanes each:
 *                     lanes 0-15 and 16-31 (l / 16), or alternate (l % 2)
 *   v4 4 rows         16-byte, 4 rows 36 floats apart (gn_block_ld's
 *                     stride), 8 lanes each (the 1 x 4 tiles' inputs)
 *   v4 8 addresses    16-byte, 8 consecutive 16-byte blocks, 4 lanes each
 *                     (l % 8: the update tiles' and the 1 x 4 tiles' weights)
 *   v4 16 addresses   16-byte, 16 consecutive blocks, 2 lanes each (l % 16)
 *   v4 consecutive    16-byte, 32 consecutive blocks: 512 bytes
 *   ffma              a floor: 8 independent multiply-add chains
 *
 * One block of W warps on every SM, each warp 8 loads an iteration, each
 * added into its own sum (`ld.volatile.shared` in inline assembly: a
 * plain `ld.shared` of an address the loop does not write, ptxas hoists
 * out of the loop; a kernel a pattern, no branch in the loop), timed on
 * each warp's clock; the SM's figure is its warps' instructions over its
 * slowest warp's cycles; medians over SMs.
 *
 * A CUDA build makes it (tools/bench/meson.build): BUILD/tools/bench/smem_cost
 * on the GPU machine prints the table. By hand:
 *
 *   nvcc -O3 -arch=sm_90 -o smem_cost tools/bench/smem_cost.cu && ./smem_cost
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

#define ITERS 4096
#define FLOATS 12160 /* 47.5 KB */

enum {
    P_S32, P_S32B, P_S64, P_S64B, P_S64_16, P_S64_16P, P_V4B, P_V4_2ROWS, P_V4_2ROWSI,
    P_V4_ROWS, P_V4_8, P_V4_16, P_V4, P_FFMA, P_COUNT
};
static const char *const names[P_COUNT] = {
    "s32 consecutive",       "s32 broadcast",       "s64 consecutive",
    "s64 broadcast",         "s64 16 words, l % 16", "s64 16 words, l / 2",
    "v4 broadcast",          "v4 2 rows, l / 16",   "v4 2 rows, l % 2",
    "v4 4 rows, l / 8",      "v4 8 addresses",      "v4 16 addresses",
    "v4 consecutive",        "ffma (8 chains)",
};

/* the float index lane l of the warp reads, pattern p, load j of 8 */
__device__ static inline uint32_t index_of(int p, uint32_t lane, uint32_t warp, uint32_t j)
{
    /* every load of an iteration in another 2 KB: the same banks */
    const uint32_t base = ((warp * 8 + j) % 23) * 512;
    switch (p) {
    case P_S32: return base + lane;
    case P_S32B: return base;
    case P_S64: return base + 2 * lane;
    case P_S64B: return base;
    case P_S64_16: return base + 2 * (lane % 16);
    case P_S64_16P: return base + 2 * (lane / 2);
    case P_V4B: return base;
    case P_V4_2ROWS: return base + 36 * (lane / 16);
    case P_V4_2ROWSI: return base + 36 * (lane % 2);
    case P_V4_ROWS: return base + 36 * (lane / 8);
    case P_V4_8: return base + 4 * (lane % 8);
    case P_V4_16: return base + 4 * (lane % 16);
    default: return base + 4 * lane;
    }
}

template <int p>
__global__ void bench(float *sink, unsigned long long *cycles)
{
    __shared__ __align__(16) float a[FLOATS];
    for (int i = threadIdx.x; i < FLOATS; i += blockDim.x) a[i] = (float)(i % 7);
    __syncthreads();
    const uint32_t lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    uint32_t addr[8];
    for (uint32_t j = 0; j < 8; j++)
        addr[j] = (uint32_t)__cvta_generic_to_shared(a + index_of(p, lane, warp, j));
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const float m = 1.0001f + 1e-7f * (float)threadIdx.x;
    __syncthreads();
    const long long t0 = clock64();
    for (int it = 0; it < ITERS; it++) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float x;
            if constexpr (p == P_FFMA) {
                acc[j] = __fmaf_rn(acc[j], m, 1.0f);
                continue;
            }
            if constexpr (p == P_S32 || p == P_S32B) {
                asm volatile("ld.volatile.shared.f32 %0, [%1];" : "=f"(x) : "r"(addr[j]));
            } else if constexpr (p == P_S64 || p == P_S64B || p == P_S64_16 || p == P_S64_16P) {
                float v[2]; /* every part loaded: the assembly is volatile */
                asm volatile("ld.volatile.shared.v2.f32 {%0, %1}, [%2];" : "=f"(v[0]), "=f"(v[1]) : "r"(addr[j]));
                x = v[0];
            } else {
                float v[4];
                asm volatile("ld.volatile.shared.v4.f32 {%0, %1, %2, %3}, [%4];"
                             : "=f"(v[0]), "=f"(v[1]), "=f"(v[2]), "=f"(v[3])
                             : "r"(addr[j]));
                x = v[0];
            }
            acc[j] += x;
        }
    }
    const long long t1 = clock64();
    float s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
    __shared__ unsigned long long most;
    if (threadIdx.x == 0) most = 0;
    __syncthreads();
    atomicMax(&most, (unsigned long long)(t1 - t0));
    __syncthreads();
    if (threadIdx.x == 0) cycles[blockIdx.x] = most;
}

typedef void (*bench_fn)(float *, unsigned long long *);
static const bench_fn kernels[P_COUNT] = {
    bench<P_S32>,       bench<P_S32B>,     bench<P_S64>,  bench<P_S64B>,  bench<P_S64_16>,
    bench<P_S64_16P>,   bench<P_V4B>,      bench<P_V4_2ROWS>, bench<P_V4_2ROWSI>, bench<P_V4_ROWS>,
    bench<P_V4_8>,      bench<P_V4_16>,    bench<P_V4>,   bench<P_FFMA>};

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "smem_cost: %s: %s\n", #call, cudaGetErrorString(e_));               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    int sms = 0;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    sms = prop.multiProcessorCount;
    const int warps[] = {4, 8, 16, 32};
    const int nw = (int)(sizeof warps / sizeof warps[0]);
    float *sink;
    unsigned long long *cyc;
    CHECK(cudaMalloc(&sink, (size_t)sms * 1024 * sizeof(float)));
    CHECK(cudaMalloc(&cyc, (size_t)sms * sizeof(unsigned long long)));
    unsigned long long *h = (unsigned long long *)malloc((size_t)sms * sizeof *h);
    double *per = (double *)malloc((size_t)sms * sizeof *per);
    if (!h || !per) return 1;
    printf("%s, %d SMs: cycles an SM per warp instruction (8 a warp an iteration, %d "
           "iterations; medians over SMs); at saturation, a load's wavefronts\n\n",
           prop.name, sms, ITERS);
    printf("| pattern |");
    for (int w = 0; w < nw; w++) printf(" %d warps |", warps[w]);
    printf("\n| --- |");
    for (int w = 0; w < nw; w++) printf(" ---: |");
    printf("\n");
    for (int p = 0; p < P_COUNT; p++) {
        printf("| %s |", names[p]);
        for (int w = 0; w < nw; w++) {
            const int threads = 32 * warps[w];
            for (int rep = 0; rep < 2; rep++) /* the first warms */
                kernels[p]<<<sms, threads>>>(sink, cyc);
            CHECK(cudaDeviceSynchronize());
            CHECK(cudaMemcpy(h, cyc, (size_t)sms * sizeof *h, cudaMemcpyDeviceToHost));
            for (int s = 0; s < sms; s++)
                per[s] = (double)h[s] / ((double)ITERS * 8.0 * (double)warps[w]);
            qsort(per, (size_t)sms, sizeof *per, cmp);
            printf(" %.3f |", per[sms / 2]);
        }
        printf("\n");
    }
    free(h);
    free(per);
    cudaFree(sink);
    cudaFree(cyc);
    return 0;
}
