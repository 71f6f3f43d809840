/* The persistent kernel, fp32, one block an SM: 255 registers a thread (kernel.cu). */
#define GN_CUDA_MIN_BLOCKS GN_CUDA_BLOCKS_FEW
#define GN_KERNEL_NAME gn_persistent_kernel_1
#include "kernel_entry.cuh"
