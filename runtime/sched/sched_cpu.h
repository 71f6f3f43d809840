/*
 * The cpu executor of the shared scheduler core: a persistent pool of
 * pthread workers that run passes over a DAG with the same queue, counters
 * and barrier protocol the persistent CUDA kernel uses (queue.h, dag.h).
 */
#ifndef GN_RUNTIME_SCHED_CPU_H
#define GN_RUNTIME_SCHED_CPU_H

#include <stdint.h>

#include "dag.h"
#include "genet/genet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gn_sched gn_sched;

/* Runs one task; worker is in [0, workers). Called at most once per task per
 * pass, only after every predecessor's call returned. */
typedef void (*gn_sched_task_fn)(void *ctx, uint32_t task, int worker);

struct gn_sched_settings {
    int32_t threads;     /* workers that run tasks (0 = cores online) */
    int32_t main_works;  /* 1: the calling thread is worker 0; 0: it only waits */
    uint64_t spin_limit; /* spins with no progress before a wait faults (0 = default) */
    int32_t hold;        /* finished tasks a worker releases at once (dag.h,
                          * gn_dag_take_held): 1 (the default) to GN_DAG_HOLD_MAX */
    int32_t tickets;     /* tickets it reserves at once: 1 to GN_DAG_HOLD_MAX, 0 (the
                          * default): as many as hold */
};

/* One pass, all workers summed. */
struct gn_sched_stats {
    uint64_t tasks;      /* tasks run */
    uint64_t pushed;     /* pushes */
    uint64_t continued;  /* tasks run as a worker's continuation, never pushed
                          * (pushed + continued = tasks in a pass without fault) */
    uint64_t spins;      /* wait iterations */
    uint32_t high_water; /* most ready tasks seen waiting in the queue (tail - head),
                          * sampled at every 16th push */
    uint32_t workers;
    double seconds;      /* wall time of gn_sched_run_pass, arming included */
};

void gn_sched_default_settings(struct gn_sched_settings *s);

/* Starts the workers; they wait, asleep after a moment, between passes. */
enum gn_status gn_sched_create(gn_sched **out, const struct gn_sched_settings *s);

/*
 * Run every task of dag once, in an order that respects its edges. Arms the
 * counters (each worker its slice), runs, and returns when all tasks ran.
 * A stuck wait (GN_ERR_DEVICE, "scheduler stuck") or a broken invariant
 * (GN_ERR_INVALID) comes back with its worker and task in
 * gn_error_message(); the pool stays usable for the next pass. One caller
 * at a time, and not from inside run_task.
 */
enum gn_status gn_sched_run_pass(gn_sched *sched, struct gn_dag *dag, gn_sched_task_fn run_task,
                                 void *ctx);

/* Statistics of the last pass. */
void gn_sched_last_stats(const gn_sched *sched, struct gn_sched_stats *out);

int gn_sched_workers(const gn_sched *sched);

/* The spins with no progress a wait of the next passes allows before it
 * faults (0: the default, GN_QUEUE_SPIN_LIMIT). Between passes only. */
void gn_sched_set_spin_limit(gn_sched *sched, uint64_t spin_limit);

/* Stops and joins the workers. Safe on NULL. */
void gn_sched_destroy(gn_sched *sched);

#ifdef __cplusplus
}
#endif

#endif
