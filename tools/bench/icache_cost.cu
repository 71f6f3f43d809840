/*
 * What fetching instructions costs on this GPU: straight-line code of S KB
 * (S * 64 independent fused multiply-adds of 16 bytes each, eight
 * accumulators in turn, so the warp could issue one a cycle), run by one
 * warp of one block, timed on the SM's clock:
 *
 *   cold  after 512 KB of other code ran (what a cache of the SM held is
 *         gone; the code itself stays in L2 from the earlier launches)
 *   warm  the same code again at once
 *
 * While S fits the SM's instruction caches the warm run costs the issue
 * rate (~1 cycle an instruction) and the cold one what fetching from L2
 * adds; past their capacity both are fetched. The persistent kernel's task
 * path (take, the op, the release) runs tens of KB of code a task: this
 * says what a task pays when its code is not at hand. A second table:
 * 32-512 instructions run cold in line after the flush's return against
 * the same called in a function apart: what a call into cold code adds
 * (the persistent kernel's release compiled apart cost ~0.7 us a task,
 * docs/PERF.md, twenty-ninth round).
 *
 *   nvcc -O3 -arch=sm_90 -o icache_cost tools/bench/icache_cost.cu && ./icache_cost
 */
#include <stdint.h>
#include <stdio.h>

/* N fused multiply-adds (16 bytes each), eight chains, inlined into the
 * caller or not (a call to code placed apart from it). */
#define GN_FMA8(s0, s1, s2, s3, s4, s5, s6, s7)                                                    \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s0) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s1) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s2) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s3) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s4) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s5) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s6) : "f"(a), "f"(b));                        \
    asm volatile("fma.rn.f32 %0, %0, %1, %2;" : "+f"(s7) : "f"(a), "f"(b))
template <int N>
__device__ __forceinline__ float small_inline(float a, float b)
{
    float s0 = a, s1 = b, s2 = a + 1, s3 = b + 1, s4 = a + 2, s5 = b + 2, s6 = a + 3, s7 = b + 3;
#pragma unroll
    for (int i = 0; i < N / 8; i++) {
        GN_FMA8(s0, s1, s2, s3, s4, s5, s6, s7);
    }
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}
template <int N>
__device__ __noinline__ float small_apart(float a, float b)
{
    return small_inline<N>(a, b);
}

/* KB kilobytes of them apart; ID tells copies of one size apart. */
template <int KB, int ID>
__device__ __noinline__ float body(float a, float b)
{
    return small_inline<KB * 64>(a, b);
}

__device__ static float flush(float a, float b)
{
    return body<256, 1>(a, b) + body<256, 2>(a, b);
}

template <int KB>
__device__ static void timed(float a, float b, long long *out, float *sink)
{
    float s = flush(a, b);
    const long long t0 = clock64();
    s += body<KB, 0>(s, b);
    const long long t1 = clock64();
    s += body<KB, 0>(s, b);
    const long long t2 = clock64();
    if (threadIdx.x == 0) {
        out[0] = t1 - t0;
        out[1] = t2 - t1;
        *sink = s;
    }
}

/* After the flush (cold): N instructions inlined after the flush's call
 * returns (out[0]) against the same N in a function apart, called (out[1],
 * another launch): what a call into cold code costs beyond running the
 * same code cold in line. */
template <int N>
__device__ static void timed_small(int apart, float a, float b, long long *out, float *sink)
{
    float s = flush(a, b);
    const long long t0 = clock64();
    s += apart ? small_apart<N>(s, b) : small_inline<N>(s, b);
    const long long t1 = clock64();
    if (threadIdx.x == 0) {
        out[apart] = t1 - t0;
        *sink = s;
    }
}

__global__ void bench_small(int which, int apart, float a, float b, long long *out, float *sink)
{
    if (threadIdx.x >= 32) return;
    switch (which) {
    case 0: timed_small<32>(apart, a, b, out, sink); break;
    case 1: timed_small<128>(apart, a, b, out, sink); break;
    case 2: timed_small<512>(apart, a, b, out, sink); break;
    }
}

__global__ void bench(int which, float a, float b, long long *out, float *sink)
{
    if (threadIdx.x >= 32) return;
    switch (which) {
    case 0: timed<4>(a, b, out, sink); break;
    case 1: timed<16>(a, b, out, sink); break;
    case 2: timed<32>(a, b, out, sink); break;
    case 3: timed<64>(a, b, out, sink); break;
    case 4: timed<96>(a, b, out, sink); break;
    case 5: timed<128>(a, b, out, sink); break;
    case 6: timed<192>(a, b, out, sink); break;
    case 7: timed<256>(a, b, out, sink); break;
    }
}

int main(void)
{
    static const int kb[] = {4, 16, 32, 64, 96, 128, 192, 256};
    long long *out;
    float *sink;
    int clock_khz = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    cudaMalloc(&out, 16);
    cudaMalloc(&sink, 4);
    printf("| code run | cold cycles | warm cycles | cold - warm, ns per KB (%.0f MHz) | cycles per instruction cold / warm |\n",
           clock_khz / 1e3);
    printf("| --- | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < 8; i++) {
        long long r[2][5], best[2];
        for (int rep = 0; rep < 5; rep++) {
            long long h[2];
            bench<<<1, 32>>>(i, 1.0f, 0.5f, out, sink);
            cudaMemcpy(h, out, sizeof h, cudaMemcpyDeviceToHost);
            r[0][rep] = h[0], r[1][rep] = h[1];
        }
        for (int k = 0; k < 2; k++) { /* the median of 5 launches */
            for (int x = 1; x < 5; x++)
                for (int y = x; y > 0 && r[k][y] < r[k][y - 1]; y--) {
                    const long long t = r[k][y];
                    r[k][y] = r[k][y - 1], r[k][y - 1] = t;
                }
            best[k] = r[k][2];
        }
        const double n = kb[i] * 64.0;
        printf("| %d KB | %lld | %lld | %.1f | %.2f / %.2f |\n", kb[i], best[0], best[1],
               (best[0] - best[1]) / (clock_khz / 1e6) / kb[i], best[0] / n, best[1] / n);
    }
    printf("\nCold, in line after the flush against called apart (one warp, medians of 5):\n\n");
    printf("| code run | in line, cycles | called apart, cycles | apart - in line |\n| --- | ---: | ---: | ---: |\n");
    static const int nsm[] = {32, 128, 512};
    for (int i = 0; i < 3; i++) {
        long long r[2][5], best[2];
        for (int rep = 0; rep < 5; rep++)
            for (int k = 0; k < 2; k++) {
                long long h[2];
                bench_small<<<1, 32>>>(i, k, 1.0f, 0.5f, out, sink);
                cudaMemcpy(h, out, sizeof h, cudaMemcpyDeviceToHost);
                r[k][rep] = h[k];
            }
        for (int k = 0; k < 2; k++) {
            for (int x = 1; x < 5; x++)
                for (int y = x; y > 0 && r[k][y] < r[k][y - 1]; y--) {
                    const long long t = r[k][y];
                    r[k][y] = r[k][y - 1], r[k][y - 1] = t;
                }
            best[k] = r[k][2];
        }
        printf("| %d instructions (%d B) | %lld | %lld | %lld |\n", nsm[i], nsm[i] * 16, best[0],
               best[1], best[1] - best[0]);
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        fprintf(stderr, "icache_cost: %s\n", cudaGetErrorString(e));
        return 1;
    }
    return 0;
}
