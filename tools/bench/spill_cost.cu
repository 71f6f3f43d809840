/*
 * What a register spill's reload costs after the scheduler's fences: the
 * cycles of one dependent load from a thread's local memory (where ptxas
 * puts spilled registers) with nothing before it, after an acquire fence
 * (`fence.acq_rel.gpu`, what __threadfence() and every acquire of the
 * scheduler compile to: MEMBAR, then CCTL.IVALL, which empties the SM's
 * L1), after a release-only fence, and after an `ld.acquire.gpu` of a
 * global word; beside them the same chase through global memory cached in
 * L1 (`ld.ca`) and through L2 (`ld.cg`). The question (docs/PERF.md,
 * twenty-ninth round): whether the persistent kernel's spills, reloaded
 * after its fences, cost an L1 hit or an L2 round trip each, which would
 * be why its task path moves by microseconds whenever ptxas's allocation
 * moves by a few hundred bytes.
 *
 * One warp on every SM; each lane chases its own chain of CHASE dependent
 * loads (a permutation in a local array indexed by loaded values, so
 * every load is a local-memory load), after the case's fence, timed on
 * the warp's clock; cycles a load, medians over reps and SMs. The global
 * cases chase a per-lane permutation in device memory.
 *
 * A second table: the L2 chase by warp 0 of each block while its other
 * warps (0, 1, 3 or 7 of them) stream 16-byte loads through L2, two
 * blocks of 256 threads an SM, with the L2 read rate they reach: whether
 * a dependent L2 load slows much under a level's staging traffic.
 *
 * A CUDA build makes it (tools/bench/meson.build): BUILD/tools/bench/spill_cost
 * on the GPU machine prints the table. By hand:
 *
 *   nvcc -O3 -arch=sm_90 -o spill_cost tools/bench/spill_cost.cu && ./spill_cost
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime.h>

#define N 64      /* a chain's array: 256 bytes a lane */
#define CHASE 16  /* dependent loads timed */
#define REPS 33

enum { C_NONE, C_ACQREL, C_RELEASE, C_LDACQ, C_GLOBAL_CA, C_GLOBAL_CA_FENCE, C_GLOBAL_CG, C_COUNT };
static const char *const names[C_COUNT] = {
    "local, nothing before",        "local, after fence.acq_rel.gpu",
    "local, after fence.release",   "local, after ld.acquire.gpu",
    "global ld.ca, nothing before", "global ld.ca, after fence.acq_rel.gpu",
    "global ld.cg",
};

__device__ static inline void fence_of(int c, const unsigned *flag)
{
    unsigned v;
    switch (c) {
    case C_ACQREL:
    case C_GLOBAL_CA_FENCE: asm volatile("fence.acq_rel.gpu;" ::: "memory"); break;
    case C_RELEASE: asm volatile("fence.release.gpu;" ::: "memory"); break;
    case C_LDACQ:
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(flag) : "memory");
        asm volatile("" ::"r"(v));
        break;
    default: break;
    }
}

__global__ void chase(int c, const int *glob, const unsigned *flag, long long *out)
{
    const int lane = threadIdx.x;
    const int *g = glob + (size_t)(blockIdx.x * 32 + lane) * N;
    /* the chain from global memory (a stride-17 permutation, one cycle
     * through all N), so the compiler cannot fold it; indexed by loaded
     * values, so the array lives in local memory */
    int a[N];
    for (int i = 0; i < N; i++) a[i] = __ldcg(g + i);
    int idx = lane % N;
    for (int r = 0; r < REPS; r++) {
        /* warm the lines: one pass over the chain's array */
        int s = 0;
        for (int i = 0; i < N; i++) s += c >= C_GLOBAL_CA ? __ldca(g + i) : a[(idx + i) % N];
        asm volatile("" ::"r"(s));
        __syncwarp();
        fence_of(c, flag);
        const long long t0 = clock64();
        for (int i = 0; i < CHASE; i++) {
            if (c == C_GLOBAL_CG) idx = __ldcg(g + idx);
            else if (c >= C_GLOBAL_CA) idx = __ldca(g + idx);
            else idx = a[idx];
        }
        /* the last load's value in hand before the clock is read */
        asm volatile("" : "+r"(idx));
        __syncwarp();
        const long long t1 = clock64();
        if (lane == 0) out[blockIdx.x * REPS + r] = t1 - t0;
    }
    if (idx < 0) out[0] = idx; /* never: keeps the chase */
}

/* The L2 chase (C_GLOBAL_CG) by warp 0 of each block while the block's
 * other warps (loaders of them) stream 16-byte loads through L2 from a
 * buffer that fits in it, as a level's tasks stage their operands at
 * once; two blocks an SM, as the persistent kernel's two-block entry. */
__global__ void chase_loaded(const int *glob, const float4 *big, size_t nbig, int loaders,
                             long long *out, unsigned long long *bytes)
{
    __shared__ volatile int done;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (threadIdx.x == 0) done = 0;
    __syncthreads();
    if (warp == 0) {
        const int *g = glob + (size_t)((blockIdx.x % (gridDim.x / 2)) * 32 + lane) * N;
        int idx = lane % N;
        for (int r = 0; r < REPS; r++) {
            const long long t0 = clock64();
            for (int i = 0; i < CHASE; i++) idx = __ldcg(g + idx);
            asm volatile("" : "+r"(idx));
            __syncwarp();
            const long long t1 = clock64();
            if (lane == 0) out[blockIdx.x * REPS + r] = t1 - t0;
        }
        if (idx < 0) out[0] = idx;
        if (lane == 0) done = 1;
    } else if (warp <= loaders) {
        /* each loader warp walks its own stride of the buffer, 512 bytes a
         * warp load, 4 in flight */
        float acc = 0.0f;
        size_t i = ((size_t)blockIdx.x * 7 + warp) * 32 * 4 + lane;
        const size_t step = (size_t)gridDim.x * 7 * 32 * 4;
        unsigned long long it = 0;
        while (!done) {
            float4 v[4];
            for (int k = 0; k < 4; k++) v[k] = __ldcg(big + (i + k * 32) % nbig);
            for (int k = 0; k < 4; k++) acc += v[k].x + v[k].y + v[k].z + v[k].w;
            i += step;
            it++;
        }
        if (acc == 12345.0f) out[0] = (long long)acc; /* keeps the loads */
        if (lane == 0) atomicAdd(bytes, it * 32 * 4 * 16);
    }
}

static int cmp_ll(const void *x, const void *y)
{
    const long long a = *(const long long *)x, b = *(const long long *)y;
    return a < b ? -1 : a > b;
}

int main(void)
{
    int sms = 0;
    cudaDeviceProp prop;
    if (cudaGetDeviceCount(&sms) != cudaSuccess || sms == 0) {
        fprintf(stderr, "spill_cost: no CUDA device\n");
        return 77;
    }
    cudaGetDeviceProperties(&prop, 0);
    sms = prop.multiProcessorCount;
    const size_t gn = (size_t)sms * 32 * N;
    int *host = (int *)malloc(gn * sizeof *host);
    for (size_t i = 0; i < gn; i++) host[i] = (int)((i % N + 17) % N);
    int *glob;
    unsigned *flag;
    long long *out;
    cudaMalloc(&glob, gn * sizeof *glob);
    cudaMalloc(&flag, 64);
    cudaMalloc(&out, (size_t)sms * REPS * sizeof *out);
    cudaMemcpy(glob, host, gn * sizeof *glob, cudaMemcpyHostToDevice);
    cudaMemset(flag, 0, 64);
    long long *res = (long long *)malloc((size_t)sms * REPS * sizeof *res);
    printf("%s, %d SMs, one warp an SM, %d dependent loads a lane timed\n\n", prop.name, sms,
           CHASE);
    printf("| load | cycles a load (median) | p10 | p90 |\n| --- | ---: | ---: | ---: |\n");
    for (int c = 0; c < C_COUNT; c++) {
        chase<<<sms, 32>>>(c, glob, flag, out);
        if (cudaDeviceSynchronize() != cudaSuccess) {
            fprintf(stderr, "spill_cost: %s\n", cudaGetErrorString(cudaGetLastError()));
            return 1;
        }
        cudaMemcpy(res, out, (size_t)sms * REPS * sizeof *res, cudaMemcpyDeviceToHost);
        /* the first rep of each SM is cold (instruction fetch): dropped */
        size_t n = 0;
        for (int b = 0; b < sms; b++)
            for (int r = 1; r < REPS; r++) res[n++] = res[b * REPS + r];
        qsort(res, n, sizeof *res, cmp_ll);
        printf("| %s | %.1f | %.1f | %.1f |\n", names[c], (double)res[n / 2] / CHASE,
               (double)res[n / 10] / CHASE, (double)res[n * 9 / 10] / CHASE);
    }
    /* the L2 chase while the GPU streams from L2: 0, 1, 3, 7 loader warps
     * a block, two blocks an SM */
    const size_t nbig = (size_t)24 << 20 >> 4; /* 24 MB of float4: fits the L2 */
    float4 *big;
    cudaMalloc(&big, nbig * sizeof *big);
    cudaMemset(big, 0, nbig * sizeof *big);
    long long *out2, *res2 = (long long *)malloc((size_t)2 * sms * REPS * sizeof *res2);
    cudaMalloc(&out2, (size_t)2 * sms * REPS * sizeof *out2);
    printf("\nThe L2 chase (ld.cg) while each block's other warps stream 16-byte loads through L2 (24 MB,\n"
           "4 in flight a lane), two blocks of 256 threads an SM:\n\n");
    printf("| loader warps a block | cycles a load (median) | p10 | p90 | the loaders' L2 reads, GB/s |\n"
           "| ---: | ---: | ---: | ---: | ---: |\n");
    const int loads[] = {0, 1, 3, 7};
    unsigned long long *bytes, nbytes;
    cudaMalloc(&bytes, sizeof *bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int li = 0; li < 4; li++) {
        cudaMemset(bytes, 0, sizeof *bytes);
        cudaEventRecord(e0);
        chase_loaded<<<2 * sms, 256>>>(glob, big, nbig, loads[li], out2, bytes);
        cudaEventRecord(e1);
        if (cudaDeviceSynchronize() != cudaSuccess) {
            fprintf(stderr, "spill_cost: %s\n", cudaGetErrorString(cudaGetLastError()));
            return 1;
        }
        cudaMemcpy(res2, out2, (size_t)2 * sms * REPS * sizeof *res2, cudaMemcpyDeviceToHost);
        size_t n = 0;
        for (int b = 0; b < 2 * sms; b++)
            for (int r = 1; r < REPS; r++) res2[n++] = res2[b * REPS + r];
        qsort(res2, n, sizeof *res2, cmp_ll);
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, e0, e1);
        cudaMemcpy(&nbytes, bytes, sizeof nbytes, cudaMemcpyDeviceToHost);
        printf("| %d | %.1f | %.1f | %.1f | %.0f |\n", loads[li], (double)res2[n / 2] / CHASE,
               (double)res2[n / 10] / CHASE, (double)res2[n * 9 / 10] / CHASE,
               ms > 0 ? (double)nbytes / (ms * 1e6) : 0.0);
    }
    cudaFree(bytes);
    cudaFree(big);
    cudaFree(out2);
    free(res2);
    cudaFree(glob);
    cudaFree(flag);
    cudaFree(out);
    free(host);
    free(res);
    return 0;
}
