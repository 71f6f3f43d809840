/*
 * The cost of the synchronisation primitives the scheduler core is made of,
 * on this GPU: each primitive run ITERS times in a row by thread 0 of every
 * block, with 1 block and with every block resident (2 per SM), timed on the
 * global timer. ns/op = wall time / ITERS: if the primitive serialises
 * across SMs, the all-blocks figure grows with the number of blocks. The
 * last rows time a dependent load (its address from the load before) with
 * and without an acquire fence before it: a fence that empties L1 makes a
 * plain load an L2 round trip (compare the .cg row).
 *
 *   nvcc -O3 -arch=sm_90 -o sync_cost tools/bench/sync_cost.cu && ./sync_cost
 */
#include <stdint.h>
#include <stdio.h>

#define ITERS 2000

__device__ static inline uint64_t now()
{
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__global__ void bench(int op, unsigned *words, unsigned *shared_word, unsigned long long *out)
{
    if (threadIdx.x != 0) return;
    unsigned *mine = words + blockIdx.x * 32; /* its own 128-byte line */
    unsigned v = 0, acc = 0;
    const uint64_t t0 = now();
    for (int i = 0; i < ITERS; i++) {
        switch (op) {
        case 0: asm volatile("fence.sc.gpu;" ::: "memory"); break;
        case 1: asm volatile("fence.acq_rel.gpu;" ::: "memory"); break;
        case 2: asm volatile("atom.acq_rel.gpu.add.u32 %0, [%1], 1;" : "=r"(v) : "l"(mine) : "memory"); break;
        case 3: asm volatile("atom.relaxed.gpu.add.u32 %0, [%1], 1;" : "=r"(v) : "l"(mine) : "memory"); break;
        case 4: asm volatile("atom.relaxed.gpu.add.u32 %0, [%1], 1;" : "=r"(v) : "l"(shared_word) : "memory"); break;
        case 5: asm volatile("atom.acq_rel.gpu.add.u32 %0, [%1], 1;" : "=r"(v) : "l"(shared_word) : "memory"); break;
        case 6: asm volatile("st.release.gpu.u32 [%0], %1;" ::"l"(mine), "r"((unsigned)i) : "memory"); break;
        case 7: asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(mine) : "memory"); break;
        case 8: asm volatile("ld.relaxed.gpu.u32 %0, [%1];" : "=r"(v) : "l"(mine) : "memory"); break;
        case 9: asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(mine) : "memory"); break;
        case 10: asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(shared_word) : "memory"); break;
        case 11: __threadfence(); break;
        case 12: asm volatile("st.relaxed.gpu.u32 [%0], %1;" ::"l"(mine), "r"((unsigned)i) : "memory");
                 asm volatile("ld.relaxed.gpu.u32 %0, [%1];" : "=r"(v) : "l"(mine) : "memory"); break;
        /* a dependent weak load (the address depends on the value before,
         * always 0 here): L1 when the line stays there */
        case 13: asm volatile("ld.global.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        /* the same after an acquire fence: does the fence drop L1's lines? */
        case 14: asm volatile("fence.acq_rel.gpu;" ::: "memory");
                 asm volatile("ld.global.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        /* through the non-coherent read-only path, without and with the fence */
        case 15: asm volatile("ld.global.nc.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        case 16: asm volatile("fence.acq_rel.gpu;" ::: "memory");
                 asm volatile("ld.global.nc.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        /* an L2 load (.cg) for the scale */
        case 17: asm volatile("ld.global.cg.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        }
        acc += v;
    }
    const uint64_t t1 = now();
    out[blockIdx.x] = t1 - t0;
    if (acc == 0xdeadbeef) words[0] = acc;
}

int main(void)
{
    const char *names[] = {"fence.sc.gpu", "fence.acq_rel.gpu", "atom.acq_rel add, own line",
                           "atom.relaxed add, own line", "atom.relaxed add, one word",
                           "atom.acq_rel add, one word", "st.release, own line",
                           "ld.acquire, own line", "ld.relaxed, own line",
                           "red.release add, own line", "ld.acquire, one word",
                           "__threadfence()", "st.relaxed + ld.relaxed, own line",
                           "dependent ld (weak, L1)", "fence.acq_rel + dependent ld (weak)",
                           "dependent ld.nc", "fence.acq_rel + dependent ld.nc",
                           "dependent ld.cg (L2)"};
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int maxb = 2 * sms;
    unsigned *words, *one;
    unsigned long long *out, h[1024];
    cudaMalloc(&words, (size_t)maxb * 128);
    cudaMalloc(&one, 128);
    cudaMalloc(&out, (size_t)maxb * 8);
    cudaMemset(words, 0, (size_t)maxb * 128);
    printf("| primitive | 1 block ns/op | %d blocks ns/op (mean) | %d blocks ns/op (max) |\n", maxb,
           maxb);
    printf("| --- | ---: | ---: | ---: |\n");
    for (int op = 0; op < 18; op++) {
        double r[2][2];
        for (int k = 0; k < 2; k++) {
            const int blocks = k ? maxb : 1;
            bench<<<blocks, 64>>>(op, words, one, out); /* warm */
            bench<<<blocks, 64>>>(op, words, one, out);
            cudaMemcpy(h, out, (size_t)blocks * 8, cudaMemcpyDeviceToHost);
            double s = 0, mx = 0;
            for (int b = 0; b < blocks; b++) {
                s += (double)h[b];
                if (h[b] > mx) mx = (double)h[b];
            }
            r[k][0] = s / blocks / ITERS;
            r[k][1] = mx / ITERS;
        }
        printf("| %s | %.1f | %.1f | %.1f |\n", names[op], r[0][0], r[1][0], r[1][1]);
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        fprintf(stderr, "sync_cost: %s\n", cudaGetErrorString(e));
        return 1;
    }
    return 0;
}
