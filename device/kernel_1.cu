/*
 * The persistent kernel for one block an SM (see kernel.cu): 255 registers
 * a thread, 16 loads in flight per staging thread.
 */
#ifndef GN_BLOCK_LOADS
#define GN_BLOCK_LOADS 16
#endif
#include "run.cuh"

extern "C" __global__ void __launch_bounds__(NT, 1) gn_persistent_kernel_1(struct gn_dev *d)
{
    gn_persistent_run(d);
}
