/*
 * What staging a task's operands from L2 to shared memory costs on this
 * GPU, with the simplest addressing there is: a block of 256 threads
 * copies S KB of contiguous floats (read just before, so L2 holds them) to
 * shared memory, timed on thread 0's clock (cycles, median of 9 launches):
 *
 *   issue  16-byte asynchronous copies (cp.async.cg) issued by every thread
 *   wait   thread 0's copies complete (cp.async.wait_all)
 *   all    the block's barrier after: every copy landed
 *
 * with one block on the card, then one block on each SM at once (each its
 * own buffer), and the same with 4-byte loads through registers (ld.cg, 8
 * in flight a thread). A forward task of `deep` stages 24 KB (16 rows of
 * 128 inputs, 128 weight rows of 32); the persistent kernel's profile
 * measures what its staging costs there (docs/PERF.md, ninth round).
 *
 *   nvcc -O3 -arch=sm_90 -o stage_cost tools/bench/stage_cost.cu && ./stage_cost
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NT 256
#define MAXKB 48

__global__ void bench(const float *src, size_t stride, int floats, int mode, long long *out)
{
    extern __shared__ float sm[];
    const float *p = src + blockIdx.x * stride;
    const int t = threadIdx.x;
    /* bring the block's bytes into L2 (and out of L1: .cg below) */
    float warm = 0;
    for (int i = t; i < floats; i += NT) warm += __ldcg(p + i);
    if (warm == 12345.0f) sm[0] = warm;
    __syncthreads();
    const long long t0 = clock64();
    if (mode == 0) {
        for (int i = t * 4; i < floats; i += NT * 4) {
            const unsigned s = (unsigned)__cvta_generic_to_shared(sm + i);
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(p + i) : "memory");
        }
    } else {
        for (int b = t; b < floats; b += NT * 8) {
            float v[8];
#pragma unroll
            for (int u = 0; u < 8; u++)
                if (b + u * NT < floats) v[u] = __ldcg(p + b + u * NT);
#pragma unroll
            for (int u = 0; u < 8; u++)
                if (b + u * NT < floats) sm[b + u * NT] = v[u];
        }
    }
    const long long t1 = clock64();
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    const long long t2 = clock64();
    __syncthreads();
    const long long t3 = clock64();
    if (t == 0) {
        out[blockIdx.x * 3 + 0] = t1 - t0;
        out[blockIdx.x * 3 + 1] = t2 - t1;
        out[blockIdx.x * 3 + 2] = t3 - t0;
        if (sm[floats - 1] == 12345.0f) out[0] = 0;
    }
}

static int cmp(const void *a, const void *b)
{
    const long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    int sms = 0, clock_khz = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    const size_t stride = (size_t)MAXKB * 256 + 1024; /* floats a block, blocks apart */
    float *src;
    long long *out;
    cudaMalloc(&src, stride * sms * sizeof(float));
    cudaMemset(src, 0, stride * sms * sizeof(float));
    cudaMalloc(&out, (size_t)sms * 3 * sizeof(long long));
    cudaFuncSetAttribute(bench, cudaFuncAttributeMaxDynamicSharedMemorySize, MAXKB * 1024);
    long long *h = (long long *)malloc((size_t)sms * 3 * sizeof(long long));
    const double ns = 1e6 / clock_khz;
    printf("| KB | loads | blocks | issue ns | wait ns | all ns | B per ns |\n");
    printf("| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    static const int kb[] = {8, 16, 24, 32, 48};
    for (int mode = 0; mode < 2; mode++)
        for (int k = 0; k < 5; k++)
            for (int all = 0; all < 2; all++) {
                const int blocks = all ? sms : 1, floats = kb[k] * 256;
                long long r[3][9];
                for (int rep = 0; rep < 9; rep++) {
                    bench<<<blocks, NT, MAXKB * 1024>>>(src, stride, floats, mode, out);
                    cudaMemcpy(h, out, (size_t)blocks * 3 * sizeof(long long), cudaMemcpyDeviceToHost);
                    /* all blocks: the slowest block's figures */
                    for (int i = 0; i < 3; i++) {
                        long long m = 0;
                        for (int b = 0; b < blocks; b++)
                            if (h[b * 3 + i] > m) m = h[b * 3 + i];
                        r[i][rep] = m;
                    }
                }
                for (int i = 0; i < 3; i++) qsort(r[i], 9, sizeof(long long), cmp);
                printf("| %d | %s | %d | %.0f | %.0f | %.0f | %.1f |\n", kb[k],
                       mode ? "4 B ld.cg" : "16 B cp.async", blocks, r[0][4] * ns, r[1][4] * ns,
                       r[2][4] * ns, kb[k] * 1024.0 / (r[2][4] * ns));
            }
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        fprintf(stderr, "stage_cost: %s\n", cudaGetErrorString(e));
        return 1;
    }
    return 0;
}
