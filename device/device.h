/*
 * The device query, for the cuda backend's probe (cuda.c): plain C
 * declarations, defined in query.cu, built only with CUDA. Elsewhere ask
 * gn_backend_probe(GN_BACKEND_CUDA, ...) (genet.h), which every build has.
 */
#ifndef GN_DEVICE_DEVICE_H
#define GN_DEVICE_DEVICE_H

#include <stdint.h>

#include "genet/genet.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gn_device_info {
    int32_t built;       /* 1 when the CUDA backend is compiled in */
    int32_t usable;      /* 1 when device 0 can run the persistent kernel */
    int32_t count;       /* devices the runtime sees */
    int32_t major, minor; /* compute capability of device 0 */
    int32_t sm_count;
    int32_t cooperative; /* cudaDevAttrCooperativeLaunch */
    int64_t mem_bytes;
    char name[128];
    char reason[256]; /* why it is or is not usable, for the user */
};

/* Never fails: when no device is usable, info->reason says why. */
void gn_device_query(struct gn_device_info *info);

/* Starts the CUDA driver and device 0's primary context (the first CUDA
 * call's cost, a large part of a short run's start) and loads the kernel's
 * two entries of this precision (enum gn_precision; the driver loads a
 * module at its first use where loading is lazy, the default), ignoring any
 * error: the probe and the backend's open report those. Thread-safe. */
void gn_device_warm(int precision);

/* The persistent kernel's entry for blocks_per_sm (1 or 2) blocks an SM at
 * precision (enum gn_precision), for the host half to launch and size
 * (kernel.cu). */
const void *gn_cuda_kernel_entry(int blocks_per_sm, int precision);

#ifdef __cplusplus
}
#endif

#endif
