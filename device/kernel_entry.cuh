/*
 * One entry of the persistent kernel: the translation unit that includes
 * this names it (GN_KERNEL_NAME) and sets what its build differs in before
 * the include: the blocks an SM its registers must allow
 * (GN_CUDA_MIN_BLOCKS) and the precision of the task math's products
 * (GN_PRECISION). kernel.cu lists the six entries and picks one.
 */
#ifndef GN_KERNEL_NAME
#error "define GN_KERNEL_NAME before including kernel_entry.cuh"
#endif

#include "run.cuh"

extern "C" __global__ void __launch_bounds__(NT, GN_CUDA_MIN_BLOCKS)
    GN_KERNEL_NAME(struct gn_dev *d)
{
    gn_persistent_run(d);
}
