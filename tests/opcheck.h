/*
 * The kernel tests' device half (opcheck.cu), seen from C: one operation of
 * the persistent kernel's block-level task math (device/block_ops.cuh),
 * growth's duplication (gn_grow_apply of grow.h) with a block's threads as
 * its lanes, or growth's marking (the median by gn_grow_rank, then
 * gn_grow_mark_one), run by ONE block of NT threads on a device copy of a host
 * model and its buffers; every array is copied back over the host's.
 * Test code only: linked into tests/test_kernel_ops, never into libgenet.
 */
#ifndef GN_TESTS_OPCHECK_H
#define GN_TESTS_OPCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "ops.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which operation one launch runs (the arguments it reads in brackets). */
enum gn_opcheck_op {
    GN_OPCHECK_FORWARD = 0,      /* gn_op_forward_block (g, r0, r1) */
    GN_OPCHECK_LOSS = 1,         /* gn_op_loss_block (r0, r1) */
    GN_OPCHECK_FORWARD_LOSS = 2, /* the output's forward, then its loss, as the worker runs
                                    them (r0, r1) */
    GN_OPCHECK_BACKWARD = 3,     /* gn_op_backward_block (g, r0, r1) */
    GN_OPCHECK_UPDATE = 4,       /* gn_op_update_block (g, k0, k1) at the constants
                                    gn_optim_at(optim, step) computes on the device */
    GN_OPCHECK_STAT = 5,         /* gn_op_stat_block (g) */
    GN_OPCHECK_GROW = 6,         /* gn_grow_apply (g, kind, child, e0, p0, step, seed, noise) */
    GN_OPCHECK_MARK = 7,         /* the median's rank found by every group's gn_grow_rank,
                                    then gn_grow_mark_one on every group, as gn_dev_grow
                                    marks (criterion, threshold, ratio) */
};

struct gn_opcheck_args {
    int32_t op; /* enum gn_opcheck_op */
    int32_t g;
    int32_t r0, r1;
    int32_t k0, k1;
    /* the shared memory is sized by gn_block_smem_floats(tile, max_width):
     * tile >= r1 - r0; min_width (<= the width of g) only names the case */
    int32_t tile, min_width;
    int32_t kind, child, e0;
    int32_t pad_;
    int64_t p0, step;
    uint64_t seed;
    float noise;
    int32_t criterion; /* enum gn_grow_criterion */
    float threshold, ratio;
    int32_t precision; /* enum gn_precision of the forward, backward and update */
    struct gn_optim optim; /* the update's optimizer and schedule (optim.h) */
};

/* 1 when device 0 can run the test's kernel; 0 when no device is present
 * or usable (cudaGetDeviceCount fails or finds none, or the device is older
 * than the architecture built for): `why` says which. */
int gn_opcheck_device(char *why, size_t len);

/* Upload m and b (b->x: (batch, inputs), b->y: (batch)), run a->op in one
 * block, wait, and copy every array of m and b back into the host's. The
 * model's and buffers' scalars are not changed by any op. GN_OK, or an
 * error with its message in the error channel (gn_error_message). */
enum gn_status gn_opcheck_run(struct gn_model *m, struct gn_buffers *b,
                              const struct gn_opcheck_args *a);

/* What the edges of the last op run allowed (gn_opcheck_vec_flags): the
 * flags of block_ops.cuh's gn_block_vec_sm, where the staging takes four
 * columns with one 16-byte load: every edge's operand rows (A) or weight
 * blocks (W) on 16 bytes with a width that is a multiple of 4, or the
 * weight blocks on 16 bytes under a group width that is one (N, the
 * forward's weight rows). */
enum { GN_OPCHECK_VEC_A = 1, GN_OPCHECK_VEC_W = 2, GN_OPCHECK_VEC_N = 4 };

/* The flags of the last batch of edges the last gn_opcheck_run's op read
 * (0 for an op that reads none). */
int gn_opcheck_vec_flags(void);

/* The task math's phases gn_opcheck_time reports, in block_ops.cuh's
 * marks: reading the edges, staging, multiply-adds, the optimizer. */
#define GN_OPCHECK_PHASES 4

/* As gn_opcheck_run, but the op runs reps times in one launch (an update
 * applies its step reps times); us[0..3]: microseconds per run by phase
 * (thread 0's clock, at the device's nominal clock rate), us[4]: per run in
 * all (each run between two barriers). A measurement, not a check. */
enum gn_status gn_opcheck_time(struct gn_model *m, struct gn_buffers *b,
                               const struct gn_opcheck_args *a, int32_t reps,
                               double us[GN_OPCHECK_PHASES + 1]);

/* As gn_opcheck_time for n_ops ops run in turn, reps rounds in one launch
 * (each op's code cold after the others', as in the persistent kernel,
 * where a worker runs take, some op, finish, another op...); us: per
 * round, by phase, then in all. */
enum gn_status gn_opcheck_time_mix(struct gn_model *m, struct gn_buffers *b,
                                   const struct gn_opcheck_args *ops, int32_t n_ops, int32_t reps,
                                   double us[GN_OPCHECK_PHASES + 1]);

#ifdef __cplusplus
}
#endif

#endif
