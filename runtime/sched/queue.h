/*
 * The ready queue: a lock-free ticket queue in memory every worker shares
 * (host memory for the cpu backend, device memory for the persistent kernel).
 *
 * A pass runs a DAG of `total` tasks; each task becomes ready, and is
 * enqueued, exactly once in the pass. INVARIANT: at most `total` pushes per
 * pass, and total <= capacity, so slot i is written at most once per pass
 * and no slot is ever reused within a pass: the queue needs no wrap-around.
 *
 * Words: head (next consumer ticket), tail (next producer slot), done (tasks
 * finished this pass), fault (first error, 0 if none), each on its own 64-byte
 * line; slots[capacity], each 64-bit: (pass << 32) | task. A slot is full for
 * this pass iff its high half equals the pass tag, so zeroed memory is empty
 * (tags start at 1) and a value left from an earlier pass reads as empty: no
 * slot is cleared between passes (only when the 32-bit tag wraps, once in
 * 2^32 passes, gn_queue_begin_pass() zeroes them all).
 *
 * The roots. A pass's first tasks (those of in-degree 0, dag.h) need no
 * push: gn_queue_begin_pass() is given their list, tail starts at their
 * count, and ticket t below it is roots[t], read from the list (written
 * before the pass's opening barrier) without touching a slot. So opening a
 * pass is a few stores by one thread, however many roots there are.
 *
 * Protocol (per pass; gn_queue_begin_pass() by one thread, then a barrier):
 *   push(task):  i = tail++ (atomic add); slots[i] = tag|task (release).
 *   finish():    the task's successors are pushed; count it in the worker's
 *                `unflushed` (no atomic).
 *   pop():       t = head++ (atomic add); the ticket t is this worker's.
 *                t <  n_roots: run roots[t];
 *                t <  total: if slots[t] (acquire) holds the pass tag, run
 *                            that task; else flush and spin on the slot;
 *                t >= total: flush, then spin on done (acquire) until
 *                            done == total, then leave: the pass is over.
 *   flush:       done += unflushed (acq_rel); unflushed = 0.
 * A worker flushes before it ever waits, so when every worker waits, done
 * counts every finished task; while work flows, a worker runs many tasks
 * per add on done instead of one.
 *
 * Why no task is lost or run twice: slot i (i >= n_roots) is written by
 * exactly the one producer whose add on tail returned i, and read by exactly
 * the one consumer whose add on head returned i; atomic adds hand out each
 * index once. Slots below n_roots are the roots, filled from the start.
 * Because every other task is pushed exactly once and total - n_roots
 * pushes happen, slots 0..total-1 all get filled: every ticket below total
 * gets a task, and the total tickets below total get the total tasks, one
 * each.
 *
 * Why it cannot deadlock: a worker waits only while holding one ticket and
 * nothing else (no task in hand, no lock). Take the smallest ticket t a
 * worker is waiting on while done < total (never one below n_roots: a root
 * is taken without a wait). If t < tail, slot t was reserved
 * by a producer that is between its add and its store: it is running (on the
 * GPU, the cooperative launch makes every block resident), it does not wait
 * on anything, so the slot gets filled. If t >= tail, every slot below tail
 * is taken by a smaller ticket whose holder is not waiting: it is running
 * its task or has finished. If one is running it will finish and push or
 * count. If all have finished (and flushed, as they flush before waiting),
 * done == tail; and since the graph is acyclic, when done < total some
 * unfinished task has all its predecessors finished, so the last of them
 * pushed it and tail > done: a contradiction. Hence done == tail == total,
 * and every waiter (those with tickets >= total included) sees done ==
 * total and leaves. Termination needs no lock and no extra message: the
 * done counter reaching total is the signal. (The rule "wait holding
 * nothing else" is the caller's: a worker pushes only while releasing the
 * task it ran, never while it holds an unserved ticket.)
 *
 * Tickets in batches (dag.h, gn_dag_take_held): a worker may reserve n
 * tickets with one add (gn_queue_reserve) and serve them in increasing
 * order (gn_queue_ready without waiting, gn_queue_serve waiting), provided
 * it waits holding no task and nothing finished but unreleased. The
 * argument above then holds as it is: of the tickets below the smallest
 * one waited on, each holder has served its own in order, so every one is
 * served (its task run and released) or its holder is running, and a
 * worker's other reserved tickets are all larger than the one it waits on.
 *
 * Decrements held back (dag.h, gn_dag_release_succ with GN_DAG_DEFER): a
 * worker that hands a successor of in-degree 1 on at once may hold the
 * decrements of the task's other successors, but only while it has that
 * continuation to run: every release that keeps none issues them first
 * (gn_dag_finish_succ, gn_dag_release, gn_dag_hold_release,
 * gn_dag_finish_ahead), so a worker that pops, and so may wait, holds
 * none. A holding worker is running, not waiting, and its continuations
 * are tasks that finish; so "when every worker waits, every finished task
 * has been released" holds as above, and the argument with it.
 *
 * Bounded waits: a wait counts its spins and restarts the count whenever
 * done or tail moves (the pass is making progress). If spin_limit spins pass
 * with no progress, the waiter records a fault (GN_ERR_DEVICE, "stuck", with
 * its worker and ticket) and returns it; every other waiter sees the fault
 * word and returns GN_ERR_INTERRUPTED. A push past total (a broken
 * exactly-once invariant) records GN_ERR_INVALID. The first fault wins; the
 * host reads fault, fault_worker and fault_index after the pass.
 *
 * The cost per task: one add on head, one polled load (usually one) and an
 * acquire fence, one add on tail per batch of pushes and a store per push
 * (after the releasing worker's one fence, dag.h), and one add on done per
 * run of tasks between waits.
 */
#ifndef GN_RUNTIME_QUEUE_H
#define GN_RUNTIME_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"

/* gn_queue_pop() gives this instead of a task when the pass is over. */
#define GN_QUEUE_DONE UINT32_MAX

/* Largest total: tickets run up to total + workers, in 32 bits. */
#define GN_QUEUE_MAX_TASKS (UINT32_MAX / 2)

/* Default for spin_limit: spins with no progress before a wait gives up.
 * On the host a spin past the first GN_SPIN_YIELD sleeps ~50-100 us, so this
 * is about one to two minutes without a task finishing or being pushed; on
 * the device (1 us __nanosleep) about one second. */
#define GN_QUEUE_SPIN_LIMIT (1ull << 20)

/* The spin limit a queue takes for one asked: 0 is the default. */
GN_HD uint64_t gn_queue_spin_limit_of(uint64_t asked)
{
    return asked ? asked : GN_QUEUE_SPIN_LIMIT;
}

struct gn_queue {
    gn_atomic_u32 head; /* next consumer ticket */
    uint32_t pad_head_[15];
    gn_atomic_u32 tail; /* next producer slot */
    uint32_t pad_tail_[15];
    gn_atomic_u32 done; /* tasks finished this pass */
    uint32_t pad_done_[15];
    gn_atomic_u32 fault;   /* 0, or the negated enum gn_status of the first fault */
    uint32_t fault_worker; /* who recorded it */
    uint32_t fault_index;  /* the ticket, slot or task it is about */
    uint32_t total;        /* tasks in this pass */
    uint32_t capacity;     /* slots */
    uint32_t pass;         /* this pass's tag, never 0 */
    uint64_t spin_limit;   /* spins without progress before a wait faults */
    gn_atomic_u64 *slots;  /* (capacity) (pass << 32) | task */
    const uint32_t *roots; /* this pass's first n_roots tasks (its DAG's roots) */
    uint32_t n_roots;
    uint32_t pad_end_[3];
};
GN_STATIC_ASSERT(sizeof(void *) == 8, "host and device pointers are 64-bit");
GN_STATIC_ASSERT(offsetof(struct gn_queue, tail) == 64, "gn_queue: tail on its own line");
GN_STATIC_ASSERT(offsetof(struct gn_queue, done) == 128, "gn_queue: done on its own line");
GN_STATIC_ASSERT(offsetof(struct gn_queue, fault) == 192, "gn_queue: config line");
GN_STATIC_ASSERT(offsetof(struct gn_queue, spin_limit) == 216, "gn_queue layout");
GN_STATIC_ASSERT(offsetof(struct gn_queue, slots) == 224, "gn_queue layout");
GN_STATIC_ASSERT(offsetof(struct gn_queue, roots) == 232, "gn_queue layout");
GN_STATIC_ASSERT(sizeof(struct gn_queue) == 256, "gn_queue is shared with the device");

/* Decrements a worker may hold back (dag.h, gn_dag_release_succ: a task
 * whose first successor has in-degree 1 runs it at once as its
 * continuation and holds the other successors' decrements for a later
 * release fence); 0 (the default): none, every release fences at once. A
 * variant compiled only where asked (-DGN_DAG_DEFER=N, N <= GN_DAG_BATCH). */
#ifndef GN_DAG_DEFER
#define GN_DAG_DEFER 0
#endif

/* One worker's view: who it is (for fault reports) and its statistics.
 * Private to the worker (no atomics); summed by the host after a pass. */
struct gn_queue_worker {
    uint32_t worker;
    uint32_t high_water; /* most ready tasks seen waiting (tail - head), sampled at pushes */
    uint32_t unflushed;  /* finished tasks not yet added to done */
    uint32_t n_def;      /* decrements held back (GN_DAG_DEFER; else 0) */
    uint64_t pushed;
    uint64_t popped;
    uint64_t spins; /* wait iterations */
#if GN_DAG_DEFER
    uint32_t def[GN_DAG_DEFER]; /* their successors */
#endif
};
GN_STATIC_ASSERT(GN_DAG_DEFER || sizeof(struct gn_queue_worker) == 40, "gn_queue_worker layout");

/* slots: capacity zeroed words (zero is empty for every pass). */
GN_HD void gn_queue_init(struct gn_queue *q, gn_atomic_u64 *slots, uint32_t capacity,
                         uint64_t spin_limit)
{
    gn_atomic_store_relaxed_u32(&q->head, 0);
    gn_atomic_store_relaxed_u32(&q->tail, 0);
    gn_atomic_store_relaxed_u32(&q->done, 0);
    gn_atomic_store_relaxed_u32(&q->fault, 0);
    q->fault_worker = 0;
    q->fault_index = 0;
    q->total = 0;
    q->capacity = capacity;
    q->pass = 0;
    q->spin_limit = gn_queue_spin_limit_of(spin_limit);
    q->slots = slots;
    q->roots = NULL;
    q->n_roots = 0;
}

/*
 * Start a pass of `total` tasks whose first n_roots are roots[] (the rest
 * come by pushes). One thread, while no worker touches the queue; the
 * barrier that follows publishes these plain and relaxed stores (and the
 * list, written before it).
 */
GN_HD enum gn_status gn_queue_begin_pass(struct gn_queue *q, uint32_t total, const uint32_t *roots,
                                         uint32_t n_roots)
{
    if (total > q->capacity || total > GN_QUEUE_MAX_TASKS || n_roots > total ||
        (n_roots && !roots))
        return GN_ERR_INVALID;
    q->pass++;
    if (q->pass == 0) {
        for (uint32_t i = 0; i < q->capacity; i++)
            gn_atomic_store_relaxed_u64(&q->slots[i], 0);
        q->pass = 1;
    }
    q->total = total;
    q->fault_worker = 0;
    q->fault_index = 0;
    q->roots = roots;
    q->n_roots = n_roots;
    gn_atomic_store_relaxed_u32(&q->head, 0);
    gn_atomic_store_relaxed_u32(&q->tail, n_roots);
    gn_atomic_store_relaxed_u32(&q->done, 0);
    gn_atomic_store_relaxed_u32(&q->fault, 0);
    return GN_OK;
}

/* Record the first fault of the pass; later ones are dropped. */
GN_HD enum gn_status gn_queue_fault(struct gn_queue *q, enum gn_status s, uint32_t worker,
                                    uint32_t index)
{
    /* acq_rel: only the winner writes the details; the host reads them after
     * the end-of-pass barrier, which orders them. Waiters only test != 0. */
    if (gn_atomic_cas_acq_rel_u32(&q->fault, 0, (uint32_t)-(int32_t)s) == 0) {
        q->fault_worker = worker;
        q->fault_index = index;
    }
    return s;
}

/*
 * The pass's constants, set by gn_queue_begin_pass before the pass's
 * opening barrier. Pop and pushes read them before their atomic add, so
 * the loads overlap its round trip (on the device the last acquire fence
 * emptied L1, so each is one); unused fields cost no load.
 */
struct gn_queue_pass {
    uint32_t total, n_roots;
    uint64_t tag; /* the pass's tag in a slot's high half */
    gn_atomic_u64 *slots;
    const uint32_t *roots;
};

GN_HD struct gn_queue_pass gn_queue_pass_of(const struct gn_queue *q)
{
    struct gn_queue_pass p;
    p.n_roots = q->n_roots;
    p.total = q->total;
    p.tag = (uint64_t)q->pass << 32;
    p.slots = q->slots;
    p.roots = q->roots;
    return p;
}

GN_HD enum gn_status gn_queue_push(struct gn_queue *q, uint32_t task, struct gn_queue_worker *w)
{
    const struct gn_queue_pass p = gn_queue_pass_of(q);
    /* relaxed: the add only has to hand out each slot once; what the slot
     * publishes is ordered by the release store below. */
    uint32_t i = gn_atomic_fetch_add_relaxed_u32(&q->tail, 1);
    if (i >= p.total)
        return gn_queue_fault(q, GN_ERR_INVALID, w->worker, task);
    /* release: pairs with the acquire load of this slot in gn_queue_pop(); the
     * consumer then sees everything this producer saw, which includes every
     * predecessor's results (they reached us through the acq_rel in-degree
     * counter in gn_dag_release_succ()). */
    gn_atomic_store_release_u64(&p.slots[i], p.tag | task);
    w->pushed++;
    /* relaxed: a statistic, sampled every 16th slot (on the device each load
     * is an L2 round trip); head may be ahead of tail (waiting tickets). */
    if ((i & 15) == 0) {
        uint32_t h = gn_atomic_load_relaxed_u32(&q->head);
        if (i + 1 > h && i + 1 - h > w->high_water)
            w->high_water = i + 1 - h;
    }
    return GN_OK;
}

/*
 * Push n >= 1 tasks after a release fence (gn_release_fence() or the
 * acquire fence that follows the decrements that made them ready: either
 * publishes this worker's view): one add on tail reserves n consecutive
 * slots, and each slot is a plain store on the device (a release store on
 * the host).
 */
GN_HD enum gn_status gn_queue_push_released(struct gn_queue *q, const uint32_t *tasks, uint32_t n,
                                            struct gn_queue_worker *w)
{
    const struct gn_queue_pass p = gn_queue_pass_of(q);
    /* relaxed: the add only hands out the slots; the fence before orders
     * what they publish. */
    uint32_t i = gn_atomic_fetch_add_relaxed_u32(&q->tail, n);
    if (i >= p.total || p.total - i < n)
        return gn_queue_fault(q, GN_ERR_INVALID, w->worker, tasks[0]);
    for (uint32_t k = 0; k < n; k++)
        gn_atomic_store_released_u64(&p.slots[i + k], p.tag | tasks[k]);
    w->pushed += n;
    /* relaxed: the high-water statistic, sampled as in gn_queue_push() */
    if (((i + n - 1) >> 4) != (i >> 4) || (i & 15) == 0) {
        uint32_t h = gn_atomic_load_relaxed_u32(&q->head);
        if (i + n > h && i + n - h > w->high_water)
            w->high_water = i + n - h;
    }
    return GN_OK;
}

/* Add this worker's finished tasks to done. */
GN_HD void gn_queue_flush(struct gn_queue *q, struct gn_queue_worker *w)
{
    if (w->unflushed == 0)
        return;
    /* acq_rel: the release half pairs with the acquire load of done in
     * gn_queue_pop(), so workers leaving the pass see every task's effects
     * (later adds of other workers continue this add's release sequence);
     * the acquire half is not needed, acq_rel is simply the ordered add. */
    gn_atomic_fetch_add_acq_rel_u32(&q->done, w->unflushed);
    w->unflushed = 0;
}

/* A number that changes whenever the pass makes progress: done and tail only
 * grow within a pass. relaxed: only whether it moved matters. */
GN_HD uint32_t gn_queue_progress(struct gn_queue *q)
{
    return gn_atomic_load_relaxed_u32(&q->done) + gn_atomic_load_relaxed_u32(&q->tail);
}

/* Count one finished task, after its successors were pushed. */
GN_HD void gn_queue_finish(struct gn_queue *q, struct gn_queue_worker *w)
{
    (void)q;
    w->unflushed++;
}

/* Reserve n consecutive tickets; returns the first. relaxed: a ticket only
 * has to be unique; the slot's acquire orders the task's data. */
GN_HD uint32_t gn_queue_reserve(struct gn_queue *q, uint32_t n)
{
    return gn_atomic_fetch_add_relaxed_u32(&q->head, n);
}

/* Ticket t below n_roots is a root, in the list since before the pass's
 * opening barrier: 1 with it in *task, else 0. */
GN_HD int gn_queue_root(const struct gn_queue_pass p, uint32_t t, uint32_t *task,
                        struct gn_queue_worker *w)
{
    if (t >= p.n_roots)
        return 0;
    *task = p.roots[t];
    w->popped++;
    return 1;
}

/* One look at ticket t (>= n_roots): 1 with its task in *task, or with
 * GN_QUEUE_DONE when t >= total and the pass is over (this worker's
 * finished tasks flushed); 0 when its slot is not filled yet, or past
 * total while the pass runs. */
GN_HD int gn_queue_look(struct gn_queue *q, const struct gn_queue_pass p, uint32_t t,
                        uint32_t *task, struct gn_queue_worker *w)
{
    if (t < p.total) {
        /* polled (device: relaxed), then the acquire fence on a hit:
         * pairs with the release store or fence of the push. */
        uint64_t v = gn_atomic_load_polled_u64(&p.slots[t]);
        if ((v & 0xffffffff00000000ull) == p.tag) {
            gn_acquire_fence();
            *task = (uint32_t)v;
            w->popped++;
            return 1;
        }
    } else if (w->unflushed == 0) {
        /* acquire: pairs with the acq_rel add in gn_queue_flush(), so a
         * worker leaving the pass has seen every task's effects. */
        if (gn_atomic_load_acquire_u32(&q->done) == p.total) {
            *task = GN_QUEUE_DONE;
            return 1;
        }
    }
    return 0;
}

/* Ticket t's task if it is there now, without waiting and without the
 * worker's books (another thread of the worker looks while the release
 * runs: dag.h, gn_dag_finish_ahead): 1 with a root or a filled slot's task
 * (gn_queue_root, gn_queue_look), 0 when the slot is not filled yet or
 * t >= total; the ticket is then served as any other (gn_queue_serve,
 * whose holder flushes and tests done). The scratch books' unflushed 1
 * keeps gn_queue_look from that test. */
GN_HD int gn_queue_peek(struct gn_queue *q, const struct gn_queue_pass p, uint32_t t,
                        uint32_t *task)
{
#if GN_DAG_DEFER
    struct gn_queue_worker scratch = {0, 0, 1, 0, 0, 0, 0, {0}};
#else
    struct gn_queue_worker scratch = {0, 0, 1, 0, 0, 0, 0};
#endif
    return gn_queue_root(p, t, task, &scratch) || gn_queue_look(q, p, t, task, &scratch);
}

/*
 * Serve ticket t without waiting: 1 with its task in *task (a root, a
 * filled slot, or GN_QUEUE_DONE as gn_queue_look gives it), 0 when it is
 * not ready. A worker that holds finished tasks it has not released must
 * release them before it waits on t (gn_queue_serve): gn_dag_take_held.
 */
GN_HD int gn_queue_ready(struct gn_queue *q, uint32_t t, uint32_t *task, struct gn_queue_worker *w)
{
    const struct gn_queue_pass p = gn_queue_pass_of(q);
    return gn_queue_root(p, t, task, w) || gn_queue_look(q, p, t, task, w);
}

/*
 * Serve ticket t (gn_queue_reserve), waiting for its task as long as it
 * takes (p: the pass's constants, gn_queue_pass_of; gn_queue_serve reads
 * them): its task, or GN_QUEUE_DONE when the pass is over. Returns
 * GN_ERR_DEVICE when this wait went spin_limit spins without progress, and
 * GN_ERR_INTERRUPTED when another worker recorded a fault.
 */
GN_HD enum gn_status gn_queue_serve_in(struct gn_queue *q, const struct gn_queue_pass p,
                                       uint32_t t, uint32_t *task, struct gn_queue_worker *w)
{
    if (gn_queue_root(p, t, task, w))
        return GN_OK;
    uint32_t seen = 0;
    uint64_t quiet = 0;
    for (;;) {
        if (gn_queue_look(q, p, t, task, w))
            return GN_OK;
        if (w->unflushed) {
            gn_queue_flush(q, w);
            continue;
        }
        if (quiet == 0)
            seen = gn_queue_progress(q);
        w->spins++;
        quiet++;
        if ((quiet & 31) == 0) {
            /* relaxed: only whether the pass moves or failed matters here. */
            if (gn_atomic_load_relaxed_u32(&q->fault) != 0)
                return GN_ERR_INTERRUPTED;
            /* A worker that runs a ready successor itself (a continuation,
             * gn_dag_release_succ) pushes one task fewer, so a ticket below
             * total may never get its slot: its holder leaves once every
             * task is done. acquire: pairs with the acq_rel add in
             * gn_queue_flush(), as below. */
            if (t < p.total && gn_atomic_load_acquire_u32(&q->done) == p.total) {
                *task = GN_QUEUE_DONE;
                return GN_OK;
            }
            uint32_t d = gn_queue_progress(q);
            if (d != seen) {
                seen = d;
                quiet = 1;
            } else if (quiet >= q->spin_limit) {
                return gn_queue_fault(q, GN_ERR_DEVICE, w->worker, t);
            }
        }
        gn_spin_pause(quiet);
    }
}

GN_HD enum gn_status gn_queue_serve(struct gn_queue *q, uint32_t t, uint32_t *task,
                                    struct gn_queue_worker *w)
{
    return gn_queue_serve_in(q, gn_queue_pass_of(q), t, task, w);
}

/*
 * Take the next task, or GN_QUEUE_DONE when the pass is over: one ticket,
 * served (gn_queue_serve, whose statuses it returns). The pass's constants
 * are read before the add, so that their loads overlap its round trip.
 */
GN_HD enum gn_status gn_queue_pop(struct gn_queue *q, uint32_t *task, struct gn_queue_worker *w)
{
    const struct gn_queue_pass p = gn_queue_pass_of(q);
    const uint32_t t = gn_queue_reserve(q, 1);
    return gn_queue_serve_in(q, p, t, task, w);
}

#endif
