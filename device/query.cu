/*
 * Device query: is there a GPU that can run the persistent cooperative
 * kernel? The cuda backend's probe (cuda.c): `--backend auto` chooses by
 * it, and `--backend cuda` refuses early with its reason. Checks: a device
 * exists, the driver answers, the compute capability is at least the one
 * this build targets, and cooperative launch is supported.
 */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime.h>

#include "device.h"

#ifndef GN_CUDA_ARCH_BUILT
#define GN_CUDA_ARCH_BUILT 90
#endif

extern "C" void gn_device_warm(int precision)
{
    int count = 0;
    /* cudaFree(0) makes the primary context, which the backend's open then
     * finds; the attributes' query loads each entry's module (the open's
     * cudaFuncSetAttribute would, "dev_kernel" of its timed parts) */
    if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0 &&
        cudaSetDevice(0) == cudaSuccess && cudaFree(0) == cudaSuccess) {
        for (int per_sm = 1; per_sm <= 2; per_sm++) {
            cudaFuncAttributes a;
            cudaFuncGetAttributes(&a, gn_cuda_kernel_entry(per_sm, precision));
        }
    }
    cudaGetLastError(); /* this thread's error state only */
}

extern "C" void gn_device_query(struct gn_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->built = 1;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(info->reason, sizeof info->reason, "no usable CUDA device: %s",
                 cudaGetErrorString(e));
        cudaGetLastError();
        return;
    }
    info->count = count;
    if (count == 0) {
        snprintf(info->reason, sizeof info->reason, "no CUDA device present");
        return;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess) {
        snprintf(info->reason, sizeof info->reason, "cannot read device 0: %s",
                 cudaGetErrorString(e));
        return;
    }
    /* a name longer than the field is cut (the driver's is 256 bytes) */
    snprintf(info->name, sizeof info->name, "%.*s", (int)sizeof info->name - 1, p.name);
    info->major = p.major;
    info->minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->mem_bytes = (int64_t)p.totalGlobalMem;
    int coop = 0;
    cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0);
    info->cooperative = coop;
    int cc = p.major * 10 + p.minor;
    if (cc < GN_CUDA_ARCH_BUILT) {
        snprintf(info->reason, sizeof info->reason,
                 "%.128s has compute capability %d.%d; this build targets sm_%d "
                 "(reconfigure with -Dgpu_arch=%d)",
                 p.name, p.major, p.minor, GN_CUDA_ARCH_BUILT, cc);
        return;
    }
    if (!coop) {
        snprintf(info->reason, sizeof info->reason, "%.128s does not support cooperative launch",
                 p.name);
        return;
    }
    info->usable = 1;
    snprintf(info->reason, sizeof info->reason, "%.128s (sm_%d, %d SMs, %.0f GiB)", p.name, cc,
             p.multiProcessorCount, (double)p.totalGlobalMem / (1 << 30));
}
