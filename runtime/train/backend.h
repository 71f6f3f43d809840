/*
 * The backend interface: a small table of functions (struct gn_backend_ops)
 * plus a context the backend allocates.
 *
 * A backend sees only what the trainer hands it in struct gn_backend_io:
 * the run plan (plan.h), the model and buffers it works on, counters to add
 * to, a sink for growth events and the growth round count; a backend that
 * runs the whole run itself (cuda: one persistent kernel) also gets a
 * minibatch source, a progress report, the stop flag, the test set and the
 * step logs. It never sees the trainer.
 *
 * serial and cpu provide `step` and the trainer's host loop drives them;
 * cuda provides `run` instead. `probe` says whether a backend can run here
 * and why (or why not), for --backend auto and for a clear refusal.
 *
 * Lifetime: the trainer calls open once; whether it succeeds or fails, it
 * later calls close with whatever open left in *ctx (NULL when open failed
 * before allocating). So open stores its context in *ctx first, and close
 * must accept a context in any state open can leave it in, NULL included.
 */
#ifndef GN_RUNTIME_BACKEND_H
#define GN_RUNTIME_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "grow.h"
#include "prune.h"
#include "model.h"
#include "ops.h"
#include "plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Counters that the stats poller and the progress reports read. The
 * training thread owns them; the trainer publishes a copy for the poller
 * once a step. */
struct gn_counters {
    int64_t step, epoch;
    double loss, accuracy; /* running over the epoch */
    int64_t tasks;
    int64_t t_forward_ns, t_backward_ns, t_update_ns, t_growth_ns;
    int64_t t_wait_data_ns, t_wait_kernel_ns;
    int64_t queue_high_water;
    int64_t groups, edges, params; /* pool use, input and output included */
    int64_t duplications, refused, pruned;
};

/* Where a backend's workers spent a run, by phase, each phase's time
 * summed over the workers (the cuda backend: its in-kernel counters; a
 * backend that keeps none leaves phases 0). */
#define GN_PROFILE_MAX 40
struct gn_profile {
    int32_t phases, workers;
    char name[GN_PROFILE_MAX][16];
    double ns[GN_PROFILE_MAX];
};

/* Part `name` of the set-up ended now: the time since *since goes into s
 * (NULL: none kept; at most 15 characters of the name; a full record keeps
 * what it has), and *since becomes now, the next part's start. */
void gn_setup_mark(struct gn_setup *s, const char *name, int64_t *since);

/* Growth events and the pruning round of the last step (for traces). */
#define GN_GROW_LOG_MAX 64
struct gn_grow_log {
    struct gn_grow_event ev[GN_GROW_LOG_MAX];
    int32_t n;
    struct gn_prune_log prune;
};

/* The running sums of the epoch a run is in, and the numeric guard's
 * epoch-rule state word at that point (numguard.h, gn_guard_epoch). */
struct gn_epoch_sums {
    double loss;
    int64_t hits, seen;
    int32_t guard;
};

/* A whole-run backend's minibatch source: fill x (rows, inputs) and y
 * (rows) with the minibatch of step `step` (counted from the run's start)
 * and say its rows. Called from one thread at a time, in step order. */
typedef void (*gn_backend_batch_fn)(void *ctx, int64_t step, float *x, uint8_t *y,
                                    int32_t *rows);

/* A whole-run backend's epoch order: perm (plan.n_train) gets the
 * permutation of the training examples that epoch `epoch` walks, whose
 * step s takes rows gn_plan_batch_rows(s) of it (what batch assembles).
 * For a backend that keeps the training set (io->train) itself; called
 * from one thread at a time. */
typedef void (*gn_backend_order_fn)(void *ctx, int64_t epoch, int32_t *perm);

/* A whole-run backend's report: io->progress and io->c are up to date;
 * the trainer stamps the time, publishes the counters and, when `tell` is
 * set, passes the progress record to the user's callback. */
typedef void (*gn_backend_report_fn)(void *ctx, int tell);

/* A whole-run backend's periodic checkpoint (plan.checkpoint_every): m is
 * the model as it was at the end of step `step` (counted from the run's
 * start), with the growth rounds done and the epoch's sums at that point.
 * Called from the thread that runs `run`. */
typedef enum gn_status (*gn_backend_snapshot_fn)(void *ctx, const struct gn_model *m, int64_t step,
                                                 int64_t grow_round,
                                                 const struct gn_epoch_sums *sums);

/* A whole-run backend's growth trace (plan.trace), in step order: after
 * step `step` (counted from the run's start), the step's loss sum, hits and
 * rows, the model's records as they were then (groups, edges, order and
 * counters: enough for trace.h, no parameters) and the step's growth
 * events; trace_epoch after an epoch's report, io->progress holding the
 * epoch's figures. Called from the thread that runs `run`. */
typedef enum gn_status (*gn_backend_trace_fn)(void *ctx, const struct gn_model *m, int64_t step,
                                              double loss_sum, int64_t hits, int32_t rows,
                                              const struct gn_grow_event *events,
                                              int32_t n_events,
                                              const struct gn_prune_log *prune);
typedef enum gn_status (*gn_backend_trace_epoch_fn)(void *ctx);

struct gn_backend_io {
    const struct gn_plan *plan;
    struct gn_model *m;     /* the model (the trainer may restore it: reload) */
    struct gn_buffers *buf; /* step and forward work on buf (x, y and rows set) */
    struct gn_counters *c;  /* add tasks, phase times, queue high water */
    struct gn_grow_log *events; /* the last step's growth events */
    struct gn_profile *profile; /* where the workers' time went (filled by run) */
    struct gn_setup *setup;     /* open adds the parts of its set-up it times */
    int64_t *grow_round;        /* growth rounds done (the alternate policy) */

    /* for a whole-run backend (run) */
    const struct gn_data *test;   /* evaluated at every epoch's end (may be NULL) */
    const struct gn_data *train;  /* the training set batch reads (normalized; plan.n_train rows used) */
    struct gn_progress *progress; /* the run's last progress record */
    struct gn_epoch_sums *sums;   /* the epoch's sums where the run stopped */
    double *loss_log;             /* (log_len) mean loss of each step */
    int64_t *time_log;            /* (log_len) ns since the start, at each step's end */
    int64_t log_len;
    gn_atomic_u32 *stop; /* nonzero: stop after the current step (relaxed loads) */
    gn_backend_batch_fn batch;
    gn_backend_order_fn order;
    gn_backend_report_fn report;
    gn_backend_snapshot_fn snapshot;
    gn_backend_trace_fn trace;
    gn_backend_trace_epoch_fn trace_epoch;
    void *cb_ctx; /* for batch, order, report and snapshot */
};

struct gn_backend_ops {
    const char *name;
    /* Can this backend run here? GN_OK or GN_ERR_UNSUPPORTED; why (a
     * sentence for the user) either way. */
    enum gn_status (*probe)(char *why, size_t len);
    /* Open for io (kept until close). about: a few words on how it runs,
     * appended to the backend's reason (" (4 workers, tiles of 32 rows)"). */
    enum gn_status (*open)(void **ctx, struct gn_backend_io *io, char *about, size_t len);
    /* One step on io->buf: forward, loss, backward, gradients, update, and,
     * when grow is set, marking and duplication (events to io->events). */
    enum gn_status (*step)(void *ctx, int grow);
    /* Forward and loss only (evaluation) on io->buf. */
    enum gn_status (*forward)(void *ctx);
    /* The whole run (optional; replaces the host loop). */
    enum gn_status (*run)(void *ctx);
    /* The trainer replaced the model's contents between steps (--on-nan
     * skip restored it): rebuild what the backend derives from the graph
     * (optional). */
    enum gn_status (*reload)(void *ctx);
    void (*close)(void *ctx);
    /* Rank r's replica of the model under --ranks (0: the model io->m;
     * NULL past the last rank), for agreement checks (optional; ranks.h). */
    const struct gn_model *(*replica)(void *ctx, int32_t r);
    /* Set up now what the first open would otherwise wait for and what
     * needs no data, for a run of this precision (optional;
     * gn_settings_warm). Errors are left for probe and open to report. */
    void (*warm)(int precision);
};

extern const struct gn_backend_ops gn_backend_serial;
extern const struct gn_backend_ops gn_backend_cpu;
/* Defined in device/cuda.c; referenced only where GN_HAVE_CUDA_BACKEND. */
extern const struct gn_backend_ops gn_backend_cuda;

/* The data-free set-up of backend b (its warm op) for a run of this
 * precision (enum gn_precision), when it has one. */
void gn_backend_warm(enum gn_backend b, int precision);

/* The table of backend b when this build has it, else NULL. */
const struct gn_backend_ops *gn_backend_ops_of(enum gn_backend b);

/* Forward and loss over rows [0, b->rows) in canonical order: the serial
 * backend's forward, also what cuda evaluates with between runs. */
void gn_backend_host_forward(const struct gn_model *m, const struct gn_buffers *b);

/* Backward errors over rows [0, b->rows), order reversed: the serial
 * backend's backward pass (the output's error comes from the loss). */
void gn_backend_host_backward(const struct gn_model *m, const struct gn_buffers *b);

/* A growth round of the serial backend after step `step` (counted from the
 * run's start, 0-based): pruning when the plan prunes, then marking and
 * duplication; the events to log (cleared first). */
enum gn_status gn_backend_host_grow(struct gn_model *m, const struct gn_buffers *b,
                                    const struct gn_plan *p, int64_t step, int64_t *grow_round,
                                    struct gn_grow_log *log);

/* A monotonic clock in ns (phase timings). */
int64_t gn_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif
