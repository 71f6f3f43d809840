/*
 * The persistent kernel's entries. The run (run.cuh) is compiled for two
 * register budgets, each in its own translation unit:
 *
 *   two blocks an SM (128 registers a thread: twice the workers, for
 *   graphs whose levels hold more tasks than an SM count);
 *   one block an SM (`_1`: 255 registers, each task's math spills less and
 *   runs faster, for graphs whose levels hold fewer, a step's critical
 *   path being what costs there);
 *
 * and each budget for three precisions of the task math's products
 * (--precision, block_ops.cuh): fp32 (this file and kernel_1.cu), tf32
 * (kernel_tf32.cu, kernel_tf32_1.cu) and bf16 (kernel_bf16.cu,
 * kernel_bf16_1.cu), so that the default fp32 kernel carries no code of
 * the others. The host half picks one at launch (launch.cu,
 * gn_cuda_blocks_per_sm and the plan's precision). The register budget
 * never changes the order of any sum: the two budgets of one precision
 * compute the same bits.
 */
#define GN_KERNEL_NAME gn_persistent_kernel
/* A variant's knob (-DGN_PAIR_MANY=1 or 2 for the CUDA compiler): the
 * register paths on column pairs (block_ops.cuh, GN_BLOCK_FWD_PAIR and
 * GN_BLOCK_BWD_PAIR) in this entry only, the one-block entry's machine
 * code left as it is (docs/PERF.md, twenty-eighth round, Next 2). */
#ifdef GN_PAIR_MANY
#define GN_BLOCK_FWD_PAIR GN_PAIR_MANY
#define GN_BLOCK_BWD_PAIR GN_PAIR_MANY
#endif
#include "device.h"
#include "kernel_entry.cuh"

extern "C" __global__ void gn_persistent_kernel_1(struct gn_dev *d);
extern "C" __global__ void gn_persistent_kernel_tf32(struct gn_dev *d);
extern "C" __global__ void gn_persistent_kernel_tf32_1(struct gn_dev *d);
extern "C" __global__ void gn_persistent_kernel_bf16(struct gn_dev *d);
extern "C" __global__ void gn_persistent_kernel_bf16_1(struct gn_dev *d);

/* The kernel's entry for blocks_per_sm blocks an SM at precision (enum
 * gn_precision), for the host half (launch.cu) to launch and size. */
extern "C" const void *gn_cuda_kernel_entry(int blocks_per_sm, int precision)
{
    const bool one = blocks_per_sm <= GN_CUDA_BLOCKS_FEW;
    switch (precision) {
    case GN_PRECISION_TF32:
        return one ? (const void *)gn_persistent_kernel_tf32_1
                   : (const void *)gn_persistent_kernel_tf32;
    case GN_PRECISION_BF16:
        return one ? (const void *)gn_persistent_kernel_bf16_1
                   : (const void *)gn_persistent_kernel_bf16;
    default:
        return one ? (const void *)gn_persistent_kernel_1 : (const void *)gn_persistent_kernel;
    }
}
