/*
 * --ranks N on the host: N data-parallel ranks simulated in one process,
 * so the agreement and determinism logic of multi-GPU training is tested
 * where there is no GPU (issue 15, item 6). The serial and cpu backends
 * drive it: ranks.c holds the rules, the backend says where the ranks' work
 * runs (struct gn_ranks_exec).
 *
 * Each rank has its own replica of the model (rank 0's is the trainer's,
 * io->m) and its own buffers, and takes the contiguous share
 * [r*B/N, (r+1)*B/N) of the global minibatch's B rows. A step: every rank
 * runs forward and backward over its rows (the loss's divisor is B, the
 * global rows: gn_buffers.loss_rows); the reducer (reduce.h) chains the
 * gradient sums rank after rank, so they are the one-rank sums bit for bit,
 * and broadcasts them; every replica then computes the growth statistic,
 * applies the optimizer's step and runs pruning-free growth itself, from
 * identical inputs, so every replica makes the same decisions. The ranks'
 * per-row loss and hits are gathered into io->buf in global row order,
 * where the trainer sums them. After every growth round each replica is
 * compared with rank 0's (gn_ranks_agree); a difference stops the run.
 */
#ifndef GN_RUNTIME_RANKS_H
#define GN_RUNTIME_RANKS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

struct gn_ranks;

/* Where a backend runs the ranks' work; ranks.c decides what runs and in
 * which order.
 *   local: forward, loss and backward of one rank, replica m over buffers b
 *     (b->rows its share, b->loss_rows the global rows), as the backend's
 *     own step computes them; called for rank 0, 1, ... in turn, on the
 *     thread that called gn_ranks_step.
 *   each: fn(arg, r) once for every rank r in [0, n), in any order or side
 *     by side; fn(arg, r) touches only rank r's replica and state, and
 *     returns nothing (ranks.c keeps each rank's status). Returns when all
 *     calls returned; an error only for a failure of the backend itself. */
typedef void (*gn_ranks_fn)(void *arg, int32_t r);
struct gn_ranks_exec {
    enum gn_status (*local)(void *ctx, struct gn_model *m, const struct gn_buffers *b);
    enum gn_status (*each)(void *ctx, int32_t n, gn_ranks_fn fn, void *arg);
    void *ctx;
};

/* io->plan->ranks replicas of io->m (kept until close), their buffers and
 * the reducer; the step runs its work through ex (copied). */
enum gn_status gn_ranks_open(struct gn_ranks **out, struct gn_backend_io *io,
                             const struct gn_ranks_exec *ex);

/* One step on io->buf's minibatch (backend.h's step). */
enum gn_status gn_ranks_step(struct gn_ranks *rk, int grow);

/* The trainer replaced io->m's contents: every replica becomes a copy. */
enum gn_status gn_ranks_reload(struct gn_ranks *rk);

/* Rank r's replica (0: io->m); NULL when r is out of range. */
const struct gn_model *gn_ranks_replica(const struct gn_ranks *rk, int32_t r);

void gn_ranks_close(struct gn_ranks *rk);

/* 0 when a and b hold the same network bit for bit: pool counts, groups
 * (statistics, flags and counters included), edges, order, edge lists,
 * parameters and both moments; else 1 and the first difference in why. */
int gn_ranks_agree(const struct gn_model *a, const struct gn_model *b, char *why, size_t len);

#endif
