/*
 * Dependency release: a DAG of task ids in CSR form with one atomic
 * in-degree counter per task.
 *
 * succ_begin/succ list each task's successors (an edge u -> v means v may
 * start only after u finished); indeg_init holds each task's in-degree, the
 * value its counter starts a pass with, and roots the tasks of in-degree 0.
 * No topological sort is ever needed:
 *   - armed:   the counters are armed once, when the DAG is built
 *              (gn_dag_arm_one on every task), and stay armed between
 *              passes: the decrement that takes a counter from 1 to 0 puts
 *              its in-degree back (nothing else touches that counter again
 *              in the pass), and a continuation's counter is never
 *              touched. So a pass needs no arming and no barrier for it;
 *   - start:   gn_dag_begin_pass (one thread, then a barrier) opens the
 *              queue with the roots as its first tickets (queue.h);
 *   - release: a worker that finished task u decrements the counter of each
 *              successor; the one decrement that takes a counter from 1 to 0
 *              pushes that successor (gn_dag_release). Exactly one decrement
 *              sees 1, so each task is pushed exactly once per pass.
 * A pass that did not finish (a fault) leaves counters half decremented:
 * gn_dag_arm_all (host) or the kernel's rebuild arms them again.
 * More releases than edges push a task twice, and the pass's pushes past
 * its total are a fault (GN_ERR_INVALID, recorded in the queue); a counter
 * found at 0 before its decrement (a root released) is one too.
 *
 * After the graph changes, gn_dag_build() rebuilds the CSR from an edge list
 * (gn_dag_count_indegree() recomputes indeg_init from the CSR, gn_dag_arm_all
 * arms the counters and lists the roots); nothing else depends on the old
 * graph. Parallel edges are allowed (each counts).
 *
 * The pass functions are GN_HD: the persistent kernel calls them on a copy
 * of this struct whose arrays live in device memory. The rest is host code
 * (dag.c).
 */
#ifndef GN_RUNTIME_DAG_H
#define GN_RUNTIME_DAG_H

#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"
#include "queue.h"

struct gn_dag {
    uint32_t n_tasks;
    uint32_t n_edges;
    uint32_t cap_tasks;    /* entries allocated (host bookkeeping) */
    uint32_t cap_edges;
    uint32_t *succ_begin;  /* (n_tasks + 1) offsets into succ */
    uint32_t *succ;        /* (n_edges) successors, grouped by predecessor */
    uint32_t *indeg_init;  /* (n_tasks) in-degree: each counter's start value */
    gn_atomic_u32 *indeg;  /* (n_tasks) live counters: predecessors not finished */
    uint32_t *roots;       /* (n_roots) the tasks of in-degree 0, a pass's first tickets */
    uint32_t n_roots;
    uint32_t pad_;
};
GN_STATIC_ASSERT(sizeof(struct gn_dag) == 64, "gn_dag is shared with the device");

/* Arm task i's counter for the next pass (relaxed: the barrier before the
 * pass publishes it); 1 when i is a root (in-degree 0). */
GN_HD int gn_dag_arm_one(struct gn_dag *d, uint32_t i)
{
    const uint32_t k = d->indeg_init[i];
    gn_atomic_store_relaxed_u32(&d->indeg[i], k);
    return k == 0;
}

/* Open the queue for a pass over d: its roots are the first tickets. One
 * thread, while no worker touches the queue; a barrier must follow before
 * any gn_dag_take. */
GN_HD enum gn_status gn_dag_begin_pass(const struct gn_dag *d, struct gn_queue *q)
{
    return gn_queue_begin_pass(q, d->n_tasks, d->roots, d->n_roots);
}

/* A diagnostic build's marks inside the release (GN_DIAG_RELEASE: the
 * persistent kernel's clock, device/state.cuh; genet-stress's release
 * parts, device/stress.cu): nothing elsewhere. */
#ifndef GN_DAG_MARK
#define GN_DAG_MARK(part) ((void)0)
#endif
/* A diagnostic build's note of each task the release makes ready, as it
 * does (GN_DIAG_TIMELINE: the persistent kernel's task timeline,
 * device/worker.cuh): nothing elsewhere. */
#ifndef GN_DAG_ON_READY
#define GN_DAG_ON_READY(task) ((void)0)
#endif

/* Successors released per batch: their decrements issue back to back
 * (a variant build may set it, -DGN_DAG_BATCH=16u, for docs/PERF.md's
 * comparisons). */
#ifndef GN_DAG_BATCH
#define GN_DAG_BATCH 8u
#endif

/* A loop over a whole batch, unrolled (gn_dag_release_succ); not in the
 * host pass of CUDA sources, whose front end knows no GCC pragmas. */
#if defined(__CUDA_ARCH__)
#define GN_DAG_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define GN_DAG_UNROLL _Pragma("GCC unroll 8")
#else
#define GN_DAG_UNROLL
#endif

/*
 * A task's successors as its release needs them: their range in succ and
 * the first batch. Read from the pass's fixed arrays only (succ_begin,
 * succ), so any time after the task was taken: the persistent kernel has a
 * second thread of the block read them while the task runs, its two loads
 * in step with the task's own first loads (gn_dag_span_of, then
 * gn_dag_succ_fill), and the release then starts at its atomics instead of
 * behind dependent loads (on the GPU every acquire fence empties the SM's
 * L1, so each of them is an L2 round trip). The cpu executor reads them
 * just before the release (gn_dag_succ_read). The counters' start values
 * are read by the release itself, beside its atomics.
 */
struct gn_dag_succ {
    uint32_t k, end;          /* the task's successors: succ[k .. end) */
    uint32_t v[GN_DAG_BATCH]; /* succ[k + i], i < min(end - k, GN_DAG_BATCH) */
#if GN_DAG_DEFER
    /* indeg_init[v[0]] where gn_dag_succ_wants_init0, else 0 (read with
     * the successors: gn_dag_succ_read, or the kernel while the task runs,
     * so that the release knows its continuation without a load) */
    uint32_t init0;
#endif
};

struct gn_dag_span {
    uint32_t k, end;
};

GN_HD struct gn_dag_span gn_dag_span_of(const struct gn_dag *d, uint32_t task)
{
    struct gn_dag_span sp;
    sp.k = d->succ_begin[task];
    sp.end = d->succ_begin[task + 1];
    return sp;
}

/* The successors of span sp that struct gn_dag_succ holds: its first batch. */
GN_HD uint32_t gn_dag_succ_count(struct gn_dag_span sp)
{
    return sp.end - sp.k < GN_DAG_BATCH ? sp.end - sp.k : GN_DAG_BATCH;
}

GN_HD void gn_dag_succ_fill(const struct gn_dag *d, struct gn_dag_span sp, struct gn_dag_succ *s)
{
    const uint32_t m = gn_dag_succ_count(sp);
    uint32_t v[GN_DAG_BATCH]; /* every load issued before the first store */
    for (uint32_t i = 0; i < m; i++)
        v[i] = d->succ[sp.k + i];
    s->k = sp.k;
    s->end = sp.end;
    for (uint32_t i = 0; i < m; i++)
        s->v[i] = v[i];
}

/* Whether the release of s may hand its first successor on at once, given
 * that successor's start value (s->init0 with GN_DAG_DEFER): 1 to
 * GN_DAG_BATCH successors (tools/bench/release_kinds sorts tasks by it). */
GN_HD int gn_dag_succ_wants_init0(const struct gn_dag_succ *s)
{
    return s->end - s->k >= 1 && s->end - s->k <= GN_DAG_BATCH;
}

GN_HD void gn_dag_succ_read(const struct gn_dag *d, uint32_t task, struct gn_dag_succ *s)
{
    gn_dag_succ_fill(d, gn_dag_span_of(d, task), s);
#if GN_DAG_DEFER
    /* the persistent kernel reads it while the task runs instead
     * (device/worker.cuh) */
    s->init0 = gn_dag_succ_wants_init0(s) ? d->indeg_init[s->v[0]] : 0;
#endif
}

/*
 * Release the successors s lists (gn_dag_succ_read of the finished task),
 * pushing every ready one but the first, which comes back in *next
 * (GN_QUEUE_DONE if none) for the caller to run at once: a continuation
 * that saves a push and a wait on the critical path of a chain. The caller
 * must then run *next before it pops again and count it finished as usual,
 * flushing its finished count now and then (gn_queue_flush) so waiters see
 * progress; the queue ends the pass by the done count, so tickets whose
 * slot is never filled are released (see gn_queue_pop).
 *
 * Ordering, with one fence per batch rather than one per atomic
 * (atomics.h): gn_release_fence() publishes this task's results, then the
 * successors' counters are decremented back to back (device: relaxed);
 * when some reached zero, gn_acquire_fence() makes every other
 * predecessor's results visible (each of them fenced before its own
 * decrement), and also releases them onward with the pushes (one add on
 * tail for the batch). A counter that reached zero is armed again for the
 * next pass at once (relaxed: its last decrement of this pass is done; the
 * barrier that ends the pass publishes it). The fast path of a chain: a
 * single successor whose in-degree is 1 depends on this task alone; it is
 * the continuation, its counter is not touched (it stays armed) and no
 * fence is needed, since the same worker runs it. Successors past the
 * first batch are read here, batch by batch.
 *
 * gn_dag_release_in is the body; fenced 1: the caller issued the release
 * fence and *next is its own (the first ready successor of an earlier
 * task, or GN_QUEUE_DONE), for gn_dag_release_set; the fast path is then
 * not taken (the counter is decremented and armed again as any other).
 * keep 0: no continuation, every ready successor is pushed and *next is
 * GN_QUEUE_DONE (gn_dag_finish_ahead; no fast path either).
 */
GN_HD enum gn_status gn_dag_release_in(struct gn_dag *d, struct gn_queue *q,
                                       const struct gn_dag_succ *s, struct gn_queue_worker *w,
                                       uint32_t *next, int fenced, int keep)
{
    uint32_t k = s->k;
    const uint32_t end = s->end;
    if (!fenced) {
        *next = GN_QUEUE_DONE;
        if (k == end)
            return GN_OK;
        if (keep && end - k == 1 && d->indeg_init[s->v[0]] == 1) {
            *next = s->v[0];
            GN_DAG_ON_READY(s->v[0]);
            return GN_OK;
        }
        gn_release_fence();
        GN_DAG_MARK(FENCE);
    }
    for (int first = 1; k < end; first = 0) {
        /* whole batches of fixed-size loops, so that on the GPU v, init
         * and old stay in registers: the start values' loads then issue
         * beside the decrements and are waited for after them (an array
         * in local memory would wait for each load before the next add) */
        uint32_t v[GN_DAG_BATCH], init[GN_DAG_BATCH], old[GN_DAG_BATCH], ready[GN_DAG_BATCH];
        const struct gn_dag_span sp = {k, end};
        const uint32_t m = gn_dag_succ_count(sp);
        GN_DAG_UNROLL
        for (uint32_t i = 0; i < GN_DAG_BATCH; i++)
            v[i] = i < m ? (first ? s->v[i] : d->succ[k + i]) : 0;
        GN_DAG_UNROLL
        for (uint32_t i = 0; i < GN_DAG_BATCH; i++)
            init[i] = i < m ? d->indeg_init[v[i]] : 0;
        GN_DAG_UNROLL
        for (uint32_t i = 0; i < GN_DAG_BATCH; i++)
            old[i] = i < m ? gn_atomic_fetch_add_released_u32(&d->indeg[v[i]], (uint32_t)-1) : 2;
        uint32_t n = 0;
        GN_DAG_UNROLL
        for (uint32_t i = 0; i < GN_DAG_BATCH; i++) {
            if (i >= m)
                break;
            if (old[i] == 1) {
                GN_DAG_ON_READY(v[i]);
                ready[n++] = v[i];
                gn_atomic_store_relaxed_u32(&d->indeg[v[i]], init[i]);
            } else if (old[i] == 0)
                return gn_queue_fault(q, GN_ERR_INVALID, w->worker, v[i]);
        }
        k += m;
        GN_DAG_MARK(ATOM);
        if (n == 0)
            continue;
        gn_acquire_fence();
        GN_DAG_MARK(ACQ);
        uint32_t first_ready = 0;
        if (keep && *next == GN_QUEUE_DONE) {
            *next = ready[0];
            first_ready = 1;
        }
        if (n > first_ready) {
            enum gn_status st = gn_queue_push_released(q, ready + first_ready, n - first_ready, w);
            if (st != GN_OK)
                return st;
            GN_DAG_MARK(PUSH);
        }
    }
    return GN_OK;
}

#if GN_DAG_DEFER
GN_STATIC_ASSERT(GN_DAG_DEFER <= GN_DAG_BATCH, "the held decrements are one batch");
/*
 * The held decrements released (GN_DAG_DEFER), after the caller's release
 * fence (cumulative over every result this worker wrote, the held
 * successors' predecessors' among them): the held successors as one batch,
 * every ready one pushed.
 */
GN_HD enum gn_status gn_dag_flush_fenced(struct gn_dag *d, struct gn_queue *q,
                                         struct gn_queue_worker *w)
{
    struct gn_dag_succ held;
    held.k = 0;
    held.end = w->n_def;
    for (uint32_t i = 0; i < GN_DAG_BATCH; i++)
        held.v[i] = 0;
    for (uint32_t i = 0; i < GN_DAG_DEFER; i++)
        if (i < w->n_def)
            held.v[i] = w->def[i];
    held.init0 = 0;
    w->n_def = 0;
    uint32_t none = GN_QUEUE_DONE;
    return gn_dag_release_in(d, q, &held, w, &none, 1, 0);
}

/* The held decrements released, with their own fence: before a worker
 * may wait (it then holds nothing back: queue.h's argument). */
GN_HD enum gn_status gn_dag_flush_deferred(struct gn_dag *d, struct gn_queue *q,
                                           struct gn_queue_worker *w)
{
    if (w->n_def == 0)
        return GN_OK;
    gn_release_fence();
    GN_DAG_MARK(FENCE);
    return gn_dag_flush_fenced(d, q, w);
}
#endif

/*
 * A task's release keeping its first ready successor as the continuation
 * (gn_dag_release_in). Where a worker may hold decrements back (GN_DAG_DEFER), a task whose first successor has
 * in-degree 1 (s->init0, read with the successors) hands it on at once as
 * the fast path does, with no fence or atomic, and holds the other
 * successors' decrements back (at most GN_DAG_DEFER in all), so a chain
 * whose hops each also feed an update pays no fence a hop: the held
 * decrements go out under the next release fence this worker issues
 * anyway, and before it takes a task from the queue (gn_dag_finish_succ,
 * gn_dag_release, gn_dag_hold_release and gn_dag_finish_ahead flush them
 * when they keep no continuation): a worker that may wait holds nothing
 * back, and a continuation always runs to its end, so every held
 * decrement is issued. The held successors become ready a few tasks of
 * this worker later; none of them is on this chain.
 */
GN_HD enum gn_status gn_dag_release_succ(struct gn_dag *d, struct gn_queue *q,
                                         const struct gn_dag_succ *s, struct gn_queue_worker *w,
                                         uint32_t *next)
{
#if GN_DAG_DEFER
    const uint32_t m = s->end - s->k;
    *next = GN_QUEUE_DONE;
    if (m == 0)
        return GN_OK;
    if (s->init0 == 1 && m - 1 <= GN_DAG_DEFER) {
        if (w->n_def + m - 1 > GN_DAG_DEFER) {
            /* full: what is held goes out now, under one fence; the
             * hand-off below still needs no atomic */
            const enum gn_status st = gn_dag_flush_deferred(d, q, w);
            if (st != GN_OK)
                return st;
        }
        *next = s->v[0];
        GN_DAG_ON_READY(s->v[0]);
        for (uint32_t i = 1; i < m; i++)
            w->def[w->n_def++] = s->v[i];
        return GN_OK;
    }
    gn_release_fence();
    GN_DAG_MARK(FENCE);
    if (w->n_def) {
        const enum gn_status st = gn_dag_flush_fenced(d, q, w);
        if (st != GN_OK)
            return st;
    }
    return gn_dag_release_in(d, q, s, w, next, 1, 1);
#else
    return gn_dag_release_in(d, q, s, w, next, 0, 1);
#endif
}

/* Task `task` finished: release its successors, read now, pushing every
 * ready one (gn_dag_release_succ, then the continuation pushed too). */
GN_HD enum gn_status gn_dag_release(struct gn_dag *d, struct gn_queue *q, uint32_t task,
                                    struct gn_queue_worker *w)
{
    struct gn_dag_succ succ;
    gn_dag_succ_read(d, task, &succ);
    uint32_t next;
    enum gn_status s = gn_dag_release_succ(d, q, &succ, w, &next);
#if GN_DAG_DEFER
    if (s == GN_OK) /* nothing held past a release that keeps no continuation */
        s = gn_dag_flush_deferred(d, q, w);
#endif
    if (s == GN_OK && next != GN_QUEUE_DONE)
        s = gn_queue_push(q, next, w);
    return s;
}

/*
 * The worker protocol of a pass, written once for the cpu executor and the
 * persistent kernel (where thread 0 of a block runs it):
 *
 *     next = GN_QUEUE_DONE;
 *     while (gn_dag_take(q, w, &next, &task) == GN_OK && task != GN_QUEUE_DONE) {
 *         run(task);
 *         gn_dag_finish(d, q, task, w, &next);
 *     }
 *
 * gn_dag_take runs the continuation the last finish kept (no queue
 * traffic on a chain's critical path), else pops a ticket (which may wait;
 * GN_QUEUE_DONE once the pass is over, an error status on a fault).
 * gn_dag_finish releases the task's successors keeping the first ready
 * one as the continuation, counts the task finished, and flushes the count
 * every GN_DAG_FLUSH_EVERY tasks of a continuation run (waiters judge
 * progress by done; a worker flushes anyway before it waits).
 */
#define GN_DAG_FLUSH_EVERY 16u

GN_HD enum gn_status gn_dag_take(struct gn_queue *q, struct gn_queue_worker *w, uint32_t *next,
                                 uint32_t *task)
{
    if (*next != GN_QUEUE_DONE) {
        *task = *next;
        *next = GN_QUEUE_DONE;
        w->popped++;
        return GN_OK;
    }
    *task = GN_QUEUE_DONE;
    return gn_queue_pop(q, task, w);
}

/* gn_dag_finish with the task's successors read already (gn_dag_succ_read,
 * any time after the take): the persistent kernel's form. */
GN_HD enum gn_status gn_dag_finish_succ(struct gn_dag *d, struct gn_queue *q,
                                        const struct gn_dag_succ *s, struct gn_queue_worker *w,
                                        uint32_t *next)
{
    enum gn_status st = gn_dag_release_succ(d, q, s, w, next);
#if GN_DAG_DEFER
    if (st == GN_OK && *next == GN_QUEUE_DONE) /* it may wait next */
        st = gn_dag_flush_deferred(d, q, w);
#endif
    gn_queue_finish(q, w);
    if (*next != GN_QUEUE_DONE && w->unflushed >= GN_DAG_FLUSH_EVERY)
        gn_queue_flush(q, w);
    GN_DAG_MARK(DONE);
    return st;
}

/*
 * The protocol with the next ticket reserved during the release (the
 * persistent kernel's variant -DGN_DEV_AHEAD, where the queue stays full):
 *
 *     t = none;
 *     while ((t == none ? gn_queue_pop(q, w, &task)
 *                       : found ? (task = found, OK) : gn_queue_serve(q, t, &task, w)) == GN_OK
 *            && task != GN_QUEUE_DONE) {
 *         run(task);
 *         beside the release, another thread:
 *             t = gn_queue_reserve(q, 1); found = gn_queue_peek(pass, t) ? its task : none;
 *         gn_dag_finish_ahead(d, q, &succ, w);
 *     }
 *
 * so that the next task's pop and first reads overlap the release's fences
 * and atomics. A worker holding a reserved ticket must serve it next, so
 * the release keeps no continuation: every ready successor is pushed (one
 * add on tail for the batch, as before). The worker then waits (if the
 * look found nothing) holding its ticket and nothing else: queue.h's
 * argument, as with reserved tickets (gn_dag_take_ticket). Either protocol
 * may follow the other task by task. The finished count is flushed every
 * GN_DAG_FLUSH_EVERY tasks, as on a continuation run (a worker that never
 * waits would otherwise never flush before the pass's end).
 */
GN_HD enum gn_status gn_dag_finish_ahead(struct gn_dag *d, struct gn_queue *q,
                                         const struct gn_dag_succ *s, struct gn_queue_worker *w)
{
    uint32_t next;
#if GN_DAG_DEFER
    const enum gn_status sf = gn_dag_flush_deferred(d, q, w);
    if (sf != GN_OK)
        return sf;
#endif
    enum gn_status st = gn_dag_release_in(d, q, s, w, &next, 0, 0);
    gn_queue_finish(q, w);
    if (w->unflushed >= GN_DAG_FLUSH_EVERY)
        gn_queue_flush(q, w);
    GN_DAG_MARK(DONE);
    return st;
}

GN_HD enum gn_status gn_dag_finish(struct gn_dag *d, struct gn_queue *q, uint32_t task,
                                   struct gn_queue_worker *w, uint32_t *next)
{
    struct gn_dag_succ s;
    gn_dag_succ_read(d, task, &s);
    GN_DAG_MARK(READ);
    return gn_dag_finish_succ(d, q, &s, w, next);
}

/*
 * The protocol with tickets and releases in batches (a worker's "hold"),
 * for the widest DAGs, where every task's release pays a release fence and
 * every pop an add on the queue's one head word:
 *
 *     gn_dag_hold_init(&h, tickets, batch);  next = GN_QUEUE_DONE;
 *     while (gn_dag_take_held(d, q, w, &h, &next, &task) == GN_OK && task != GN_QUEUE_DONE) {
 *         run(task);
 *         gn_dag_finish_held(d, q, task, w, &h, &next);
 *     }
 *
 * gn_dag_take_held reserves `tickets` tickets with one add and serves them
 * in order (gn_queue_ready, gn_queue_serve); gn_dag_finish_held keeps a
 * finished task's successors (read at once) and releases every `batch`
 * tasks together (gn_dag_release_set: one release fence for all of them).
 * The two are independent: batch 1 releases each task at once (and with
 * nothing ever held, gn_dag_take_ticket takes as gn_dag_take_held would,
 * from a struct of three words: the persistent kernel's variant).
 * The rule that keeps it free of deadlock (queue.h's argument, which this
 * extends): a worker that is about to wait for a ticket's slot releases
 * what it holds first, and runs a continuation that release gives before
 * it waits. So a waiting worker holds no task in hand and none unreleased;
 * its other reserved tickets are larger than the one it waits on, which is
 * all the argument needs (the smallest ticket waited on has every smaller
 * one served and released). A held task is counted finished when it is
 * released. tickets 1 and batch 1 is gn_dag_take/gn_dag_finish's protocol
 * with the successors read at the finish.
 */
#define GN_DAG_HOLD_MAX 8u

/* A count for gn_dag_hold, in 1..GN_DAG_HOLD_MAX. */
GN_HD uint32_t gn_dag_hold_clamp(uint32_t n)
{
    return n < 1 ? 1 : n > GN_DAG_HOLD_MAX ? GN_DAG_HOLD_MAX : n;
}

/* The tickets a worker reserves at once for settings that give them apart
 * from the release batch `hold`, or as 0: as many as hold. */
GN_HD uint32_t gn_dag_tickets_of(uint32_t tickets, uint32_t hold)
{
    return gn_dag_hold_clamp(tickets ? tickets : hold);
}

/* A worker's reserved tickets, served in order; a pass's. */
struct gn_dag_tickets {
    uint32_t n;      /* tickets a reservation takes (1..GN_DAG_HOLD_MAX) */
    uint32_t tn, te; /* reserved, not served yet: [tn, te) */
};

GN_HD void gn_dag_tickets_init(struct gn_dag_tickets *t, uint32_t n)
{
    t->n = gn_dag_hold_clamp(n);
    t->tn = t->te = 0;
}

/* The next ticket to serve, reserving t->n more (one add) when none is
 * left; the caller serves it, then counts it served (t->tn++). */
GN_HD uint32_t gn_dag_ticket(struct gn_queue *q, struct gn_dag_tickets *t)
{
    if (t->tn == t->te) {
        t->tn = gn_queue_reserve(q, t->n);
        t->te = t->tn + t->n;
    }
    return t->tn;
}

/* gn_dag_take with reserved tickets and nothing held (every task released
 * at once): the continuation, else the next reserved ticket, served. The
 * persistent kernel's variant (-DGN_DEV_TICKETS). */
GN_HD enum gn_status gn_dag_take_ticket(struct gn_queue *q, struct gn_queue_worker *w,
                                        struct gn_dag_tickets *t, uint32_t *next, uint32_t *task)
{
    if (*next != GN_QUEUE_DONE)
        return gn_dag_take(q, w, next, task); /* the continuation */
    enum gn_status st = gn_queue_serve(q, gn_dag_ticket(q, t), task, w);
    t->tn++;
    return st;
}

struct gn_dag_hold {
    struct gn_dag_tickets t; /* the reserved tickets */
    uint32_t batch;          /* finished tasks a release takes (1..GN_DAG_HOLD_MAX) */
    uint32_t n;              /* finished tasks held, their successors in s */
    uint32_t continued;      /* 1: the last take gave a continuation (no ticket) */
    struct gn_dag_succ s[GN_DAG_HOLD_MAX];
};

/* Start a pass: no ticket reserved, nothing held (tickets are a pass's). */
GN_HD void gn_dag_hold_init(struct gn_dag_hold *h, uint32_t tickets, uint32_t batch)
{
    gn_dag_tickets_init(&h->t, tickets);
    h->batch = gn_dag_hold_clamp(batch);
    h->n = 0;
    h->continued = 0;
}

/*
 * Release the successors of ns finished tasks s[0..ns) under one release
 * fence, each task's as gn_dag_release_succ releases them (its batches, an
 * acquire fence and the pushes for each batch with ready successors), the
 * first ready one of all kept in *next. ns 1: gn_dag_release_succ itself,
 * its fast path included.
 */
GN_HD enum gn_status gn_dag_release_set(struct gn_dag *d, struct gn_queue *q,
                                        const struct gn_dag_succ *s, uint32_t ns,
                                        struct gn_queue_worker *w, uint32_t *next)
{
    if (ns == 1)
        return gn_dag_release_succ(d, q, s, w, next);
    *next = GN_QUEUE_DONE;
    int fenced = 0;
    for (uint32_t i = 0; i < ns; i++) {
        if (s[i].k == s[i].end)
            continue;
        if (!fenced) {
            gn_release_fence();
            GN_DAG_MARK(FENCE);
            fenced = 1;
        }
        enum gn_status st = gn_dag_release_in(d, q, &s[i], w, next, 1, 1);
        if (st != GN_OK)
            return st;
    }
    return GN_OK;
}

/* Release what h holds and count it finished (flushing the count now and
 * then on a continuation run, as gn_dag_finish_succ). *next: the
 * continuation, or GN_QUEUE_DONE. */
GN_HD enum gn_status gn_dag_hold_release(struct gn_dag *d, struct gn_queue *q,
                                         struct gn_dag_hold *h, struct gn_queue_worker *w,
                                         uint32_t *next)
{
    *next = GN_QUEUE_DONE;
    if (h->n == 0)
#if GN_DAG_DEFER
        return gn_dag_flush_deferred(d, q, w);
#else
        return GN_OK;
#endif
    enum gn_status st = gn_dag_release_set(d, q, h->s, h->n, w, next);
#if GN_DAG_DEFER
    if (st == GN_OK && *next == GN_QUEUE_DONE) /* it may wait next */
        st = gn_dag_flush_deferred(d, q, w);
#endif
    for (uint32_t i = 0; i < h->n; i++)
        gn_queue_finish(q, w);
    h->n = 0;
    if (*next != GN_QUEUE_DONE && w->unflushed >= GN_DAG_FLUSH_EVERY)
        gn_queue_flush(q, w);
    GN_DAG_MARK(DONE);
    return st;
}

GN_HD enum gn_status gn_dag_take_held(struct gn_dag *d, struct gn_queue *q,
                                      struct gn_queue_worker *w, struct gn_dag_hold *h,
                                      uint32_t *next, uint32_t *task)
{
    h->continued = 0;
    if (*next == GN_QUEUE_DONE) {
        const uint32_t t = gn_dag_ticket(q, &h->t);
        if (gn_queue_ready(q, t, task, w)) {
            h->t.tn++;
            return GN_OK;
        }
        /* about to wait: release what is held, and run its continuation
         * first if it gives one (the ticket stays reserved) */
        enum gn_status st = gn_dag_hold_release(d, q, h, w, next);
        if (st != GN_OK)
            return st;
        if (*next == GN_QUEUE_DONE)
            return gn_dag_take_ticket(q, w, &h->t, next, task); /* t, still reserved */
    }
    h->continued = 1;
    return gn_dag_take(q, w, next, task); /* the continuation */
}

GN_HD enum gn_status gn_dag_finish_held(struct gn_dag *d, struct gn_queue *q, uint32_t task,
                                        struct gn_queue_worker *w, struct gn_dag_hold *h,
                                        uint32_t *next)
{
    if (h->batch == 1) {
        /* released at once: gn_dag_finish's very steps */
        return gn_dag_finish(d, q, task, w, next);
    }
    gn_dag_succ_read(d, task, &h->s[h->n++]);
    GN_DAG_MARK(READ);
    if (h->n < h->batch)
        return GN_OK;
    return gn_dag_hold_release(d, q, h, w, next);
}

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Build (or rebuild, reusing the arrays when they are big enough) the CSR of
 * n_tasks tasks from n_edges edges src[i] -> dst[i], by a counting sort on
 * the source (successors keep their order in the list), then count the
 * in-degrees. Ids out of range are an error; cycles are checked separately.
 */
enum gn_status gn_dag_build(struct gn_dag *d, uint32_t n_tasks, uint32_t n_edges,
                            const uint32_t *src, const uint32_t *dst);

/* Size the arrays for n_tasks tasks and n_edges edges (reusing them when
 * big enough) and set the counts; the caller fills succ_begin, succ and
 * indeg_init, then calls gn_dag_arm_all (taskgraph.c builds its DAGs this
 * way, straight as CSR). */
enum gn_status gn_dag_reserve(struct gn_dag *d, uint32_t n_tasks, uint32_t n_edges);

/* Recompute indeg_init from the CSR (after the graph changed). */
void gn_dag_count_indegree(struct gn_dag *d);

/* Arm every counter and list the roots (after indeg_init changed, or after
 * a pass that did not finish). gn_dag_build does it. */
void gn_dag_arm_all(struct gn_dag *d);

/* GN_ERR_INVALID, naming a task on a cycle, if the graph is not acyclic. */
enum gn_status gn_dag_check_acyclic(const struct gn_dag *d);

/* Frees the arrays and zeroes the struct; safe on a zeroed struct. */
void gn_dag_free(struct gn_dag *d);

#ifdef __cplusplus
}
#endif

#endif
