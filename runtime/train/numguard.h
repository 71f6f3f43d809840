/*
 * The numeric guard: NaN and Inf in a training step (--on-nan).
 *
 * Check. After a step, the loss and every group's gradient statistic are
 * tested in canonical order. The statistic (grad_std, ops.c) is the
 * standard deviation of all of a group's gradient entries accumulated in
 * double, so it is finite exactly when every entry is: one test per group
 * covers every gradient, at no extra pass over them.
 *
 * Skip. Under --on-nan skip the trainer takes a snapshot of the model's
 * mutable state before each step (the records and parameters in use, not
 * the whole pools) and, when the check fails, restores it: weights,
 * both optimizer moments, graph (a growth made in that step is undone),
 * growth counters. (The bias corrections and the learning rate follow the
 * step's index, which goes on: a discarded step still counts as a step.)
 * Gradients are not saved: every step overwrites them before reading.
 */
#ifndef GN_RUNTIME_NUMGUARD_H
#define GN_RUNTIME_NUMGUARD_H

#include <stdint.h>

#include "genet/genet.h"
#include "model.h"

/* GN_OK, or GN_ERR_NUMERIC naming the step (1-based, as progress counts)
 * and the first group, in canonical order, whose loss or gradients are not
 * finite. */
enum gn_status gn_numguard_check(const struct gn_model *m, double loss, int64_t step);

struct gn_snapshot;

/* Room for a snapshot of a model with m's capacities. */
enum gn_status gn_snapshot_create(struct gn_snapshot **out, const struct gn_model *m);
void gn_snapshot_take(struct gn_snapshot *s, const struct gn_model *m, int64_t grow_round);
/* Put the snapshot back; pool space a growth took since is zeroed again. */
void gn_snapshot_restore(const struct gn_snapshot *s, struct gn_model *m, int64_t *grow_round);
void gn_snapshot_free(struct gn_snapshot *s);

#endif
