/* The persistent kernel, tf32 products on the tensor cores, two blocks an SM (kernel.cu). */
#define GN_PRECISION GN_PRECISION_TF32
#define GN_KERNEL_NAME gn_persistent_kernel_tf32
#include "kernel_entry.cuh"
