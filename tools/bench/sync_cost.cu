/*
 * The cost of the synchronisation primitives the scheduler core is made of,
 * on this GPU: each primitive run ITERS times in a row by thread 0 of every
 * block, with 1 block and with every block resident (2 per SM), timed on the
 * global timer. ns/op = wall time / ITERS: if the primitive serialises
 * across SMs, the all-blocks figure grows with the number of blocks. The
 * last rows time a dependent load (its address from the load before) with
 * and without an acquire fence before it: a fence that empties L1 makes a
 * plain load an L2 round trip (compare the .cg row). A second table times
 * block 0 alone and while every other block polls a word the way waiting
 * workers poll their queue slots.
 *
 * A third table times a grid barrier: the training kernel's, its parts,
 * and cooperative groups' grid.sync().
 *
 *   nvcc -O3 -arch=sm_90 -Iruntime/sched -Iinclude -Iruntime/base -o sync_cost \
 *       tools/bench/sync_cost.cu && ./sync_cost
 */
#include <stdint.h>
#include <stdio.h>

#include <cooperative_groups.h>

#include "barrier.h"

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
        /* the two clocks a worker reads: the global timer (ns) and the SM's
         * cycle counter, each value used before the next read */
        case 18: { uint64_t t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t) :: "memory"); v += (unsigned)t; } break;
        case 19: { uint64_t t; asm volatile("mov.u64 %0, %%clock64;" : "=l"(t) :: "memory"); v += (unsigned)t; } break;
        }
        acc += v;
    }
    const uint64_t t1 = now();
    out[blockIdx.x] = t1 - t0;
    if (acc == 0xdeadbeef) words[0] = acc;
}


/* Does the queue's polling slow the working blocks? Block 0's thread 0 runs
 * primitive `op` ITERS times (as bench does) while thread 0 of every other
 * block polls one 8-byte word the way a worker waiting on its ticket polls
 * its slot (a relaxed load, then a 64 ns sleep), until block 0 is done. The
 * polled words are `spacing` bytes apart: 8 is the queue's slots, 16 to a
 * 128-byte line; 128 gives each its own line. */
__global__ void bench_polled(int op, unsigned *words, unsigned *stop, unsigned long long *polls,
                             int spacing, unsigned long long *out)
{
    if (threadIdx.x != 0) return;
    if (blockIdx.x != 0) {
        const unsigned long long *w =
            (const unsigned long long *)((char *)words + 4096 + (size_t)blockIdx.x * spacing);
        unsigned long long n = 0, v = 0;
        unsigned s = 0;
        do {
            asm volatile("ld.relaxed.gpu.u64 %0, [%1];" : "=l"(v) : "l"(w) : "memory");
            n++;
            __nanosleep(64);
            asm volatile("ld.relaxed.gpu.u32 %0, [%1];" : "=r"(s) : "l"(stop) : "memory");
        } while (s == 0 && n < (1ull << 24));
        polls[blockIdx.x] = n + v;
        return;
    }
    unsigned *mine = words; /* block 0's line, away from the polled ones */
    unsigned v = 0, acc = 0;
    const uint64_t t0 = now();
    for (int i = 0; i < ITERS; i++) {
        switch (op) {
        case 0: asm volatile("fence.acq_rel.gpu;" ::: "memory"); break;
        case 1: asm volatile("atom.relaxed.gpu.add.u32 %0, [%1], 1;" : "=r"(v) : "l"(mine) : "memory"); break;
        case 2: asm volatile("ld.global.cg.u32 %0, [%1];" : "=r"(v) : "l"(mine + (v & 1u)) : "memory"); break;
        }
        acc += v;
    }
    const uint64_t t1 = now();
    out[0] = t1 - t0;
    asm volatile("st.relaxed.gpu.u32 [%0], %1;" ::"l"(stop), "r"(1u) : "memory");
    if (acc == 0xdeadbeef) words[1] = acc;
}

/* A grid barrier ITERS times in a row, every block of a cooperative grid of
 * NT threads (the training kernel's shape). form 0: the training kernel's
 * (gn_dev_barrier: __syncthreads, thread 0's __threadfence, the scheduler
 * core's gn_barrier_wait, __threadfence, __syncthreads); 1: the same
 * without the two fences; 2: the same with a pure spin (no back-off);
 * 3: cooperative groups' grid.sync(). Block 0's wall time / ITERS. */
__device__ static uint32_t spin_gen(struct gn_barrier *b, uint32_t n)
{
    const uint32_t gen = gn_atomic_load_acquire_u32(&b->gen);
    if (gn_atomic_fetch_add_acq_rel_u32(&b->arrived, 1) == n - 1) {
        gn_atomic_store_relaxed_u32(&b->arrived, 0);
        gn_atomic_store_release_u32(&b->gen, gen + 1);
        return 0;
    }
    uint32_t spins = 0;
    while (gn_atomic_load_acquire_u32(&b->gen) == gen) spins++;
    return spins;
}

__global__ void bench_barrier(int form, struct gn_barrier *b, unsigned long long *out)
{
    namespace cg = cooperative_groups;
    cg::grid_group grid = cg::this_grid();
    uint32_t sink = 0;
    const uint64_t t0 = now();
    for (int i = 0; i < ITERS; i++) {
        if (form == 3) {
            grid.sync();
            continue;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            if (form == 0) __threadfence();
            if (form == 2)
                sink += spin_gen(b, gridDim.x);
            else
                gn_barrier_wait(b, gridDim.x, NULL, 0);
            if (form == 0) __threadfence();
        }
        __syncthreads();
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) out[0] = now() - t0 + (sink == 0xffffffffu);
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
                           "dependent ld.cg (L2)", "read %globaltimer", "read %clock64"};
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
    for (int op = 0; op < 20; op++) {
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
    /* block 0 alone, then with every other block polling */
    {
        const char *pn[] = {"fence.acq_rel.gpu", "atom.relaxed add, own line", "dependent ld.cg (L2)"};
        unsigned *big, *stop;
        unsigned long long *polls;
        cudaMalloc(&big, 4096 + (size_t)maxb * 128);
        cudaMemset(big, 0, 4096 + (size_t)maxb * 128);
        cudaMalloc(&stop, 128);
        cudaMalloc(&polls, (size_t)maxb * 8);
        printf("\n| block 0 runs | alone ns/op | %d pollers, slots 8 B apart | %d pollers, 128 B apart |\n",
               maxb - 1, maxb - 1);
        printf("| --- | ---: | ---: | ---: |\n");
        for (int op = 0; op < 3; op++) {
            double r[3];
            const int blocks[3] = {1, maxb, maxb}, spacing[3] = {8, 8, 128};
            for (int k = 0; k < 3; k++) {
                cudaMemset(stop, 0, 128);
                bench_polled<<<blocks[k], 64>>>(op, big, stop, polls, spacing[k], out);
                cudaMemset(stop, 0, 128);
                bench_polled<<<blocks[k], 64>>>(op, big, stop, polls, spacing[k], out);
                cudaMemcpy(h, out, 8, cudaMemcpyDeviceToHost);
                r[k] = (double)h[0] / ITERS;
            }
            printf("| %s | %.1f | %.1f | %.1f |\n", pn[op], r[0], r[1], r[2]);
        }
    }
    /* grid barriers, cooperative grids of 256 threads a block */
    {
        const char *fn[] = {"the kernel's (fences, gn_barrier_wait)", "gn_barrier_wait alone",
                            "spin, no back-off", "cooperative groups grid.sync()"};
        struct gn_barrier *bar;
        cudaMalloc(&bar, sizeof *bar);
        cudaMemset(bar, 0, sizeof *bar);
        printf("\n| grid barrier (256 threads a block) | %d blocks ns/op | %d blocks ns/op |\n", sms,
               maxb);
        printf("| --- | ---: | ---: |\n");
        for (int form = 0; form < 4; form++) {
            double r[2];
            for (int k = 0; k < 2; k++) {
                int blocks = k ? maxb : sms, per = 0;
                cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, bench_barrier, 256, 0);
                if (per * sms < blocks) {
                    r[k] = -1;
                    continue;
                }
                void *args[] = {&form, &bar, &out};
                for (int rep = 0; rep < 2; rep++)
                    cudaLaunchCooperativeKernel((void *)bench_barrier, dim3(blocks), dim3(256), args,
                                                0, 0);
                cudaMemcpy(h, out, 8, cudaMemcpyDeviceToHost);
                r[k] = (double)h[0] / ITERS;
            }
            printf("| %s | %.1f | %.1f |\n", fn[form], r[0], r[1]);
        }
    }
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        fprintf(stderr, "sync_cost: %s\n", cudaGetErrorString(e));
        return 1;
    }
    return 0;
}
