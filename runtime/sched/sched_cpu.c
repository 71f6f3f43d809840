/*
 * The cpu executor: a persistent pool of pthread workers running passes over
 * a DAG with the shared scheduler core, the way the persistent kernel's
 * blocks will.
 *
 * The workers live across passes. Every pass is two phases between
 * barriers of all workers plus the calling thread:
 *   start:   the caller has set up the pass (the queue opened on the DAG's
 *            roots by gn_dag_begin_pass, the DAG, the task function); the
 *            barrier publishes it. The DAG's counters are armed already
 *            (dag.h: armed when built, each re-armed by its last release);
 *   run:     each worker runs the worker protocol of dag.h, the one the
 *            persistent kernel runs: take the continuation or a ticket, run
 *            the task, release its successors keeping the first ready one as
 *            its continuation, count it done; it leaves when the queue says
 *            the pass is over (or faulted);
 * then the end barrier hands the statistics and any fault back to the caller.
 *
 * The barrier is the scheduler core's (barrier.h), with the common back-off,
 * so idle workers sleep between passes. Waits inside a pass are bounded by
 * the queue's spin limit, so every worker reaches the in-pass barriers after
 * bounded time, as long as run_task returns; only the idle wait for the next
 * pass is unbounded, by design.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "error.h"
#include "sched_cpu.h"

#define GN_SCHED_MAX_THREADS 1024

struct gn_sched_worker {
    _Alignas(64) struct gn_queue_worker qw;
    uint64_t tasks;
    uint64_t continued; /* tasks run as a continuation, without a push */
    gn_sched *sched;
    pthread_t thread;
    int index;
    int started;
};

struct gn_sched {
    struct gn_queue queue;
    struct gn_barrier barrier;
    uint32_t n_barrier; /* participants: the started threads and the caller */
    struct gn_sched_worker *workers; /* (n_workers) worker 0 is the caller if main_works */
    int n_workers;
    int main_works;
    int hold;      /* dag.h's batches of releases; 1: none */
    int tickets;   /* and of tickets; 1: none */
    int n_threads; /* pthreads started */
    gn_atomic_u64 *slots;
    uint32_t slots_cap;
    uint64_t spin_limit;

    /* The pass, set by the caller before the start barrier. */
    struct gn_dag *dag;
    gn_sched_task_fn run_task;
    void *ctx;
    int quit;

    struct gn_sched_stats last;
};

/* Run tasks until the pass ends. */
static void gn_sched_work(gn_sched *s, struct gn_sched_worker *w)
{
    struct gn_queue *q = &s->queue;
    struct gn_dag *d = s->dag;
    uint32_t next = GN_QUEUE_DONE, task;
    if (s->hold > 1 || s->tickets > 1) {
        /* tickets and releases in batches (dag.h) */
        struct gn_dag_hold h;
        gn_dag_hold_init(&h, (uint32_t)s->tickets, (uint32_t)s->hold);
        for (;;) {
            if (gn_dag_take_held(d, q, &w->qw, &h, &next, &task) != GN_OK ||
                task == GN_QUEUE_DONE)
                return;
            w->continued += h.continued;
            s->run_task(s->ctx, task, w->index);
            w->tasks++;
            if (gn_dag_finish_held(d, q, task, &w->qw, &h, &next) != GN_OK)
                return;
        }
    }
    for (;;) {
        const int continued = next != GN_QUEUE_DONE;
        if (gn_dag_take(q, &w->qw, &next, &task) != GN_OK || task == GN_QUEUE_DONE)
            return;
        s->run_task(s->ctx, task, w->index);
        w->tasks++;
        w->continued += (uint64_t)continued;
        if (gn_dag_finish(d, q, task, &w->qw, &next) != GN_OK)
            return;
    }
}

static void *gn_sched_thread(void *arg)
{
    struct gn_sched_worker *w = arg;
    gn_sched *s = w->sched;
    for (;;) {
        gn_barrier_wait(&s->barrier, s->n_barrier, NULL, 0);
        if (s->quit)
            return NULL;
        gn_sched_work(s, w);
        gn_barrier_wait(&s->barrier, s->n_barrier, NULL, 0);
    }
}

void gn_sched_default_settings(struct gn_sched_settings *s)
{
    memset(s, 0, sizeof *s);
    s->threads = 0;
    s->main_works = 1;
    s->spin_limit = GN_QUEUE_SPIN_LIMIT;
    s->hold = 1;
}

/* Stop the started threads: the missing participants arrive as ghosts. */
static void gn_sched_stop(gn_sched *s)
{
    s->quit = 1;
    uint32_t missing = s->n_barrier - 1 - (uint32_t)s->n_threads;
    /* acq_rel: arrivals, as in gn_barrier_wait(); quit is published by the
     * caller's own arrival below, which every round still needs (so it
     * reads the generation before the round can complete). */
    if (missing)
        gn_atomic_fetch_add_acq_rel_u32(&s->barrier.arrived, missing);
    gn_barrier_wait(&s->barrier, s->n_barrier, NULL, 0);
    for (int i = 0; i < s->n_workers; i++) {
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
    }
}

enum gn_status gn_sched_create(gn_sched **out, const struct gn_sched_settings *settings)
{
    if (!out || !settings)
        return gn_fail(GN_ERR_INVALID, "sched: null argument");
    *out = NULL;
    int threads = settings->threads;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)(cores < GN_SCHED_MAX_THREADS ? cores : GN_SCHED_MAX_THREADS)
                            : 1;
    }
    if (threads < 1 || threads > GN_SCHED_MAX_THREADS)
        return gn_fail(GN_ERR_INVALID, "sched: %d threads, expected 1 to %d", settings->threads,
                       GN_SCHED_MAX_THREADS);
    if (settings->hold < 0 || settings->hold > (int32_t)GN_DAG_HOLD_MAX)
        return gn_fail(GN_ERR_INVALID, "sched: hold %d, expected 1 to %u", settings->hold,
                       GN_DAG_HOLD_MAX);
    if (settings->tickets < 0 || settings->tickets > (int32_t)GN_DAG_HOLD_MAX)
        return gn_fail(GN_ERR_INVALID, "sched: tickets %d, expected 1 to %u", settings->tickets,
                       GN_DAG_HOLD_MAX);

    size_t size = (sizeof(gn_sched) + 63) & ~(size_t)63;
    gn_sched *s = aligned_alloc(64, size);
    if (!s)
        return gn_fail(GN_ERR_NOMEM, "sched: no memory");
    memset(s, 0, size);
    s->n_workers = threads;
    s->main_works = settings->main_works ? 1 : 0;
    s->hold = settings->hold > 1 ? settings->hold : 1;
    s->tickets = (int)gn_dag_tickets_of((uint32_t)settings->tickets, (uint32_t)s->hold);
    s->spin_limit = gn_queue_spin_limit_of(settings->spin_limit);
    gn_queue_init(&s->queue, NULL, 0, s->spin_limit);
    s->workers = aligned_alloc(64, (size_t)threads * sizeof *s->workers);
    if (!s->workers) {
        free(s);
        return gn_fail(GN_ERR_NOMEM, "sched: no memory for %d workers", threads);
    }
    memset(s->workers, 0, (size_t)threads * sizeof *s->workers);
    int spawn = threads - s->main_works;
    gn_barrier_init(&s->barrier);
    s->n_barrier = (uint32_t)spawn + 1;
    for (int i = 0; i < threads; i++) {
        s->workers[i].sched = s;
        s->workers[i].index = i;
        s->workers[i].qw.worker = (uint32_t)i;
    }
    for (int i = s->main_works; i < threads; i++) {
        int e = pthread_create(&s->workers[i].thread, NULL, gn_sched_thread, &s->workers[i]);
        if (e != 0) {
            gn_sched_stop(s);
            free(s->workers);
            free(s);
            return gn_fail(GN_ERR_NOMEM, "sched: cannot start worker thread %d of %d: %s", i,
                           threads, strerror(e));
        }
        s->workers[i].started = 1;
        s->n_threads++;
    }
    *out = s;
    return GN_OK;
}

static double gn_sched_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static enum gn_status gn_sched_reserve(gn_sched *s, uint32_t n)
{
    if (n <= s->slots_cap && s->slots)
        return GN_OK;
    uint32_t cap = n > 1024 ? n : 1024;
    if (cap < GN_QUEUE_MAX_TASKS - cap / 4)
        cap += cap / 4;
    gn_atomic_u64 *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return gn_fail(GN_ERR_NOMEM, "sched: no memory for a queue of %u tasks", cap);
    free((void *)s->slots);
    s->slots = slots;
    s->slots_cap = cap;
    gn_queue_init(&s->queue, slots, cap, s->spin_limit);
    return GN_OK;
}

static enum gn_status gn_sched_fault_status(gn_sched *s)
{
    struct gn_queue *q = &s->queue;
    uint32_t f = gn_atomic_load_relaxed_u32(&q->fault);
    if (f == 0)
        return GN_OK;
    enum gn_status st = (enum gn_status)-(int32_t)f;
    uint32_t done = gn_atomic_load_relaxed_u32(&q->done);
    uint32_t head = gn_atomic_load_relaxed_u32(&q->head);
    uint32_t tail = gn_atomic_load_relaxed_u32(&q->tail);
    if (st == GN_ERR_DEVICE)
        return gn_fail(st,
                       "scheduler stuck: worker %u waited %llu spins on ticket %u with no progress "
                       "(pass %u: %u of %u tasks done, %u pushed, %u tickets taken)",
                       q->fault_worker, (unsigned long long)q->spin_limit, q->fault_index, q->pass,
                       done, q->total, tail, head);
    if (st == GN_ERR_INVALID)
        return gn_fail(st,
                       "scheduler invariant broken: task %u (worker %u) was released more times "
                       "than it has predecessors, or pushed past the pass's %u tasks",
                       q->fault_index, q->fault_worker, q->total);
    return gn_fail(st, "scheduler fault %d (worker %u, index %u)", (int)st, q->fault_worker,
                   q->fault_index);
}

enum gn_status gn_sched_run_pass(gn_sched *s, struct gn_dag *dag, gn_sched_task_fn run_task,
                                 void *ctx)
{
    if (!s || !dag || !run_task)
        return gn_fail(GN_ERR_INVALID, "sched: null argument");
    if (dag->n_tasks && (!dag->succ_begin || !dag->indeg_init || !dag->indeg))
        return gn_fail(GN_ERR_INVALID, "sched: dag of %u tasks has no arrays", dag->n_tasks);
    enum gn_status st = gn_sched_reserve(s, dag->n_tasks);
    if (st != GN_OK)
        return st;
    st = gn_dag_begin_pass(dag, &s->queue);
    if (st != GN_OK)
        return gn_fail(st, "sched: a pass of %u tasks does not fit the queue", dag->n_tasks);
    s->dag = dag;
    s->run_task = run_task;
    s->ctx = ctx;
    for (int i = 0; i < s->n_workers; i++) {
        memset(&s->workers[i].qw, 0, sizeof s->workers[i].qw);
        s->workers[i].qw.worker = (uint32_t)i;
        s->workers[i].tasks = 0;
        s->workers[i].continued = 0;
    }

    double t0 = gn_sched_now();
    gn_barrier_wait(&s->barrier, s->n_barrier, NULL, 0);
    if (s->main_works)
        gn_sched_work(s, &s->workers[0]);
    gn_barrier_wait(&s->barrier, s->n_barrier, NULL, 0);
    double t1 = gn_sched_now();

    struct gn_sched_stats *t = &s->last;
    memset(t, 0, sizeof *t);
    t->workers = (uint32_t)s->n_workers;
    t->seconds = t1 - t0;
    for (int i = 0; i < s->n_workers; i++) {
        struct gn_sched_worker *w = &s->workers[i];
        t->tasks += w->tasks;
        t->pushed += w->qw.pushed;
        t->continued += w->continued;
        t->spins += w->qw.spins;
        if (w->qw.high_water > t->high_water)
            t->high_water = w->qw.high_water;
    }
    /* the roots were ready at once, a pass's first tickets */
    if (dag->n_roots > t->high_water)
        t->high_water = dag->n_roots;
    s->dag = NULL;
    st = gn_sched_fault_status(s);
    /* a pass that faulted left counters half decremented */
    if (st != GN_OK)
        gn_dag_arm_all(dag);
    return st;
}

void gn_sched_last_stats(const gn_sched *s, struct gn_sched_stats *out)
{
    *out = s->last;
}

void gn_sched_set_spin_limit(gn_sched *s, uint64_t spin_limit)
{
    /* the workers sleep between passes; the next pass's start publishes it */
    s->spin_limit = gn_queue_spin_limit_of(spin_limit);
    s->queue.spin_limit = s->spin_limit;
}

int gn_sched_workers(const gn_sched *s)
{
    return s->n_workers;
}

void gn_sched_destroy(gn_sched *s)
{
    if (!s)
        return;
    gn_sched_stop(s);
    free((void *)s->slots);
    free(s->workers);
    free(s);
}
