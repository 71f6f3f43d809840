/*
 * Common helpers of the device code: the block shape, the one CUDA check
 * macro of the host half, and the arithmetic macros of the task math.
 *
 * Timers, fences and every acquire/release live in the scheduler core's
 * atomics header (gn_clock_ns, gn_fence_system, gn_load_acquire_sys_i64),
 * shared with the host.
 */
#ifndef GN_DEVICE_COMMON_CUH
#define GN_DEVICE_COMMON_CUH

#include <cuda_runtime.h>

#include "atomics.h"
#include "cuda_api.h"
#include "error.h"
#include "ops.h"

/* Threads per worker block. */
#define NT GN_CUDA_THREADS

/* Blocks per SM the register allocation must allow (occupancy): the
 * entry's budget (kernel.cu), GN_CUDA_BLOCKS_MANY unless its unit says. */
#ifndef GN_CUDA_MIN_BLOCKS
#define GN_CUDA_MIN_BLOCKS GN_CUDA_BLOCKS_MANY
#endif

/* acc + a * b rounded once: the fused multiply-add of the canonical order
 * (ops.h), the host reference's fmaf, so results match it to the last bit
 * wherever the order of operations matches. Every other product and sum
 * rounds alone: the device code is built with -fmad=false. */
#define MAC(acc, a, b) __fmaf_rn((a), (b), (acc))

/* k (or j, or row) chunk staged in shared memory by the task math; the
 * backward error's partial sums follow it (GN_OPS_CHUNK, ops.h). */
#define KC GN_OPS_CHUNK

/* Update tasks: a group's weight-gradient work is split into at most
 * GN_CUDA_MAX_PARTS parts of at least gn_task_part_rows input rows
 * (gn_task_parts_of, taskgraph.h). */
#define GN_CUDA_MAX_PARTS 16

/* The one check of a CUDA runtime call in the host half: on failure, the
 * error channel (gn_fail: file, line, the call, CUDA's words) and a jump
 * to the function's `error:` label with st set. */
#define GN_CUDA_TRY(call)                                                                          \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            st = gn_fail(GN_ERR_DEVICE, "%s:%d: %s: %s", __FILE__, __LINE__, #call,                \
                         cudaGetErrorString(e_));                                                  \
            goto error;                                                                            \
        }                                                                                          \
    } while (0)

#endif
