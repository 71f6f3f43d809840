/* The persistent kernel, bf16 products on the tensor cores, two blocks an SM (kernel.cu). */
#define GN_PRECISION GN_PRECISION_BF16
#define GN_KERNEL_NAME gn_persistent_kernel_bf16
#include "kernel_entry.cuh"
