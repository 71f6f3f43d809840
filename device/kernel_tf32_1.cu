/* The persistent kernel, tf32 products on the tensor cores, one block an SM (kernel.cu). */
#define GN_CUDA_MIN_BLOCKS GN_CUDA_BLOCKS_FEW
#define GN_PRECISION GN_PRECISION_TF32
#define GN_KERNEL_NAME gn_persistent_kernel_tf32_1
#include "kernel_entry.cuh"
