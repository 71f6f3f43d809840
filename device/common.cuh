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

/* A task's first edge records copied at its take (block_ops.cuh,
 * gn_block_take: E, 4 or 8; 0, the default: not compiled; measured on an
 * H100 at 4, docs/PERF.md forty-seventh round: 0.984-0.991x on the narrow
 * workloads, 1.003-1.005x on layered and many, so not merged), here
 * because the device state (state.cuh) and the task math both name it. */
#ifndef GN_BLOCK_TAKE_REC
#define GN_BLOCK_TAKE_REC 0
#endif

/* The task math's index divisions, GN_IDIV(a, b) and GN_IMOD(a, b): a
 * thread's column and row, a chunk's width, a stage's rows (operands
 * non-negative, below 2^21, divisors at least 1), on the serial stretches
 * of a task's set-up and staging. 2, the default: the hardware's
 * approximate reciprocal and one correction each way (runtime/base/idiv.h,
 * exact by its rule; ~10 instructions); other values for comparisons
 * (-DGN_BLOCK_UDIV=N): 1, unsigned division; 0, C's signed division, ~22
 * instructions apiece for a divisor known only at run time. The same
 * quotients every way, so the same bits. Measured on an H100 (docs/PERF.md,
 * forty-seventh round): 2 against 0, the step 0.948-0.983x on every
 * benchmark workload (1 0.980-0.991x). */
#ifndef GN_BLOCK_UDIV
#define GN_BLOCK_UDIV 2
#endif
#if GN_BLOCK_UDIV == 2
#include "idiv.h"
__device__ static __forceinline__ int32_t gn_idiv(int32_t a, int32_t b)
{
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"((float)b));
    return gn_idiv_rcp(a, b, r);
}
#define GN_IDIV(a, b) gn_idiv((a), (b))
#elif GN_BLOCK_UDIV == 1
#define GN_IDIV(a, b) ((int32_t)((uint32_t)(a) / (uint32_t)(b)))
#else
#define GN_IDIV(a, b) ((a) / (b))
#endif
#if GN_BLOCK_UDIV
/* a - (a / b) b: one division, as the default's a % b is to the compiler */
__device__ static __forceinline__ int32_t gn_imod(int32_t a, int32_t b)
{
    return a - GN_IDIV(a, b) * b;
}
#define GN_IMOD(a, b) gn_imod((a), (b))
#else
#define GN_IMOD(a, b) ((a) % (b))
#endif

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
