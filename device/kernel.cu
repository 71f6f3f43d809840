/*
 * The persistent kernel's entries. The run (run.cuh) is compiled for two
 * register budgets, each in its own translation unit so each gets its own
 * staging depth:
 *
 *   kernel.cu    two blocks an SM (128 registers a thread: twice the
 *                workers, for graphs whose levels hold more tasks than an
 *                SM count), GN_BLOCK_LOADS loads in flight per staging
 *                thread (8: more would spill);
 *   kernel_1.cu  one block an SM (255 registers: each task's math spills
 *                less and runs faster, for graphs whose levels hold
 *                fewer, a step's critical path being what costs there),
 *                16 loads in flight (it has the registers).
 *
 * The host half picks one at launch (launch.cu, gn_cuda_blocks_per_sm).
 * Staging depth changes how many loads are in flight, never the order of
 * any sum: both entries compute the same bits.
 */
#include "run.cuh"

extern "C" __global__ void __launch_bounds__(NT, GN_CUDA_MIN_BLOCKS)
    gn_persistent_kernel(struct gn_dev *d)
{
    gn_persistent_run(d);
}

/* kernel_1.cu */
extern "C" __global__ void gn_persistent_kernel_1(struct gn_dev *d);

/* The kernel's entry for blocks_per_sm blocks an SM, for the host half
 * (launch.cu) to launch and size. */
extern "C" const void *gn_cuda_kernel_entry(int blocks_per_sm)
{
    return blocks_per_sm == 1 ? (const void *)gn_persistent_kernel_1
                              : (const void *)gn_persistent_kernel;
}
