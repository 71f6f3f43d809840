/*
 * Growth traces: what the network did during a run, as JSON lines
 * (docs/TRACE.md), for tools/genet-viz.
 *
 * The trainer's host loop calls gn_trace_start once with the start graph,
 * gn_trace_step after every step, gn_trace_epoch at each epoch end and
 * gn_trace_end when the run stops. A step record is written every `every`
 * steps, at every step that grew (or refused to grow) the network, and at
 * the last step; it holds what changed since the previous record. A
 * whole-run backend (cuda) hands the trainer its copy of the model's
 * records after each step instead (backend.h, gn_backend_trace_fn).
 */
#ifndef GN_RUNTIME_TRACE_H
#define GN_RUNTIME_TRACE_H

#include <stdint.h>

#include "genet/genet.h"
#include "grow.h"
#include "model.h"
#include "plan.h"
#include "prune.h"

struct gn_trace;

/* Where the run is, for a record. */
struct gn_trace_at {
    int64_t step, epoch; /* steps and epochs done */
    double seconds;      /* since the run started */
    const struct gn_grow_event *events; /* the last step's growth events */
    int32_t n_events;
    const struct gn_prune_log *prune; /* the last step's pruning round (NULL: none) */
};

/* Create (truncate) the trace file. every: a record every N steps
 * (0 = only at growth and at the last step). */
enum gn_status gn_trace_open(struct gn_trace **out, const char *path, int32_t every);

/* The "start" record: the run's plan, the backend's name and the whole
 * start graph m, at step `step` (not 0 after a resume). */
enum gn_status gn_trace_start(struct gn_trace *tr, const struct gn_plan *plan,
                              const char *backend, const struct gn_model *m, int64_t step);

/* After a step (at->step already counts it): the step's summed loss,
 * correct predictions and rows; writes a "step" record when one is due. */
enum gn_status gn_trace_step(struct gn_trace *tr, const struct gn_model *m,
                             const struct gn_trace_at *at, double loss_sum, int64_t hits,
                             int32_t rows);

/* An "epoch" record (p holds the epoch's figures). */
enum gn_status gn_trace_epoch(struct gn_trace *tr, const struct gn_progress *p);

/* The "end" record (st: how the run ended) and a final flush. */
enum gn_status gn_trace_end(struct gn_trace *tr, const struct gn_model *m,
                            const struct gn_trace_at *at, enum gn_status st);

/* Close the file (no record written) and free tr; NULL is allowed. */
void gn_trace_close(struct gn_trace *tr);

#endif
