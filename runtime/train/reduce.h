/*
 * The reducer: what data-parallel ranks exchange in a step, behind an
 * interface a real multi-GPU implementation (NCCL send, recv, broadcast)
 * could sit behind. This one is in-process: the ranks of --ranks are
 * replicas driven in turn by one thread (ranks.c), and a message is a copy
 * through a staging buffer the reducer owns.
 *
 * Exact mode (the only one): the gradient of every group is one ordered
 * sum over the global minibatch's rows (ops.c), so it is combined as a
 * chain, not a tree: rank 0 sums its rows from zero and sends the partial
 * sums to rank 1, which continues them over its rows (gn_op_grad_acc) and
 * sends them on; the last rank's sums are the global gradient, which it
 * broadcasts to every rank. The result is the single-rank gradient, bit for
 * bit, at the price of a serial chain (a real implementation pipelines it
 * by group).
 *
 * Calling order, per step: for r = 0..N-1, rank r recv_prev (r > 0),
 * accumulates, send_next (r < N-1); then broadcast with the root first;
 * gather by every rank, in any order. The in-process reducer checks the
 * order (a receive with no message pending is an error), so a driver that
 * breaks it fails instead of using stale sums.
 */
#ifndef GN_RUNTIME_REDUCE_H
#define GN_RUNTIME_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"

struct gn_reduce;

/* A reducer for `ranks` ranks whose messages hold at most max_floats
 * floats. */
enum gn_status gn_reduce_open(struct gn_reduce **out, int32_t ranks, int64_t max_floats);

/* Rank `rank` (< ranks - 1) sends x[0, n) to rank + 1. */
enum gn_status gn_reduce_send_next(struct gn_reduce *rd, int32_t rank, const float *x, int64_t n);

/* Rank `rank` (> 0) receives rank - 1's message into x[0, n). */
enum gn_status gn_reduce_recv_prev(struct gn_reduce *rd, int32_t rank, float *x, int64_t n);

/* x[0, n) of rank root to every rank: each rank calls it with its own x
 * (the root's is read, the others' written), the root first. */
enum gn_status gn_reduce_broadcast(struct gn_reduce *rd, int32_t root, int32_t rank, float *x,
                                   int64_t n);

/* Rank `rank`'s bytes src[0, bytes) land at dst + offset on rank 0 (in
 * process: dst is rank 0's buffer, the same pointer from every rank). The
 * ranks' loss and hits per row, so rank 0 sums them in global row order. */
void gn_reduce_gather(struct gn_reduce *rd, int32_t rank, void *dst, const void *src,
                      size_t bytes, size_t offset);

void gn_reduce_close(struct gn_reduce *rd);

#endif
