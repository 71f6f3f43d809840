/*
 * The worker loop of the persistent kernel: faults, the grid barrier, and
 * one pass of a task DAG through the ready queue.
 *
 * Workers are thread blocks (NT threads), all resident (the cooperative
 * launch). Thread 0 of a block runs the scheduler core's worker protocol
 * (dag.h: gn_dag_take / gn_dag_finish, the one the cpu executor runs):
 * pop or continue, and release successors through the atomic in-degree
 * counters; the whole block runs the task's math (block_ops.cuh).
 *
 * No spin is unbounded: queue waits count spins without progress, the
 * barrier (barrier.h) has a deadline. A fault writes the error record
 * (what, which group, which step), raises the abort flag and the queue's
 * fault word; every barrier and queue wait then falls through and the
 * kernel exits.
 */
#ifndef GN_DEVICE_WORKER_CUH
#define GN_DEVICE_WORKER_CUH

#include "state.cuh"
/* the task math's phases go to the block's clock (thread 0) */
#ifndef GN_DIAG_TWICE
#define GN_BLOCK_MARK(phase)                                                                       \
    do {                                                                                           \
        if (threadIdx.x == 0) gn_dev_clock_mark(GN_CUDA_PROF_##phase);                             \
    } while (0)
#ifdef GN_DIAG_TIMELINE
/* the timeline's marks inside the optimizer's apply (block_ops.cuh) */
#define GN_APPLY_MARK(i)                                                                           \
    do {                                                                                           \
        if (threadIdx.x == 0) gn_dev_apply_mark(i);                                                \
    } while (0)
#define GN_APPLY_WAIT(v)                                                                           \
    do {                                                                                           \
        if (threadIdx.x == 0) gn_dev_tl_sink = (v);                                                \
    } while (0)
#endif
#else
/*
 * The diagnostic build (-DGN_DIAG_TWICE; docs/PERF.md, ninth round): every
 * forward task runs its op twice in a row (it is idempotent: the same
 * activations from the same inputs), each run's steps to their own phases
 * (cuda_api.h, c_ and w_), finer than the ops' marks: the group's record,
 * the bias, the edges' records, the edge table's barrier, the copies
 * issued, waited for, the staging's barrier, the arithmetic, the stores.
 * GN_BLOCK_DIAG's value is used so that thread 0 waits for the load that
 * made it before reading the clock. The arithmetic touches only shared
 * memory, so what the second run saves there is what having its code at
 * hand saves.
 */
static __shared__ int gn_dev_diag_run; /* 0: not a forward; 1, 2: its first, second run */
static __shared__ uint32_t gn_dev_diag_sink;
#define GN_DIAG_PHASE(sub) (gn_dev_diag_run == 1 ? GN_CUDA_PROF_C_##sub : GN_CUDA_PROF_W_##sub)
#define GN_BLOCK_MARK(phase)                                                                       \
    do {                                                                                           \
        if (threadIdx.x == 0)                                                                      \
            gn_dev_clock_mark(!gn_dev_diag_run                          ? GN_CUDA_PROF_##phase     \
                              : GN_CUDA_PROF_##phase == GN_CUDA_PROF_EDGES ? GN_DIAG_PHASE(EDGES) \
                              : GN_CUDA_PROF_##phase == GN_CUDA_PROF_STAGE ? GN_DIAG_PHASE(STAGE) \
                                                                           : GN_DIAG_PHASE(MATH)); \
    } while (0)
#define GN_BLOCK_DIAG(sub, val)                                                                    \
    do {                                                                                           \
        if (threadIdx.x == 0 && gn_dev_diag_run) {                                                 \
            gn_dev_diag_sink += (uint32_t)(val);                                                   \
            gn_dev_clock_mark(GN_DIAG_PHASE(sub));                                                 \
        }                                                                                          \
    } while (0)
#endif
#ifdef GN_DIAG_TIMELINE
/* thread 0's mark k inside the statistic (state.cuh's gn_dev_tl.stat) */
#define GN_STAT_MARK(k)                                                                            \
    do {                                                                                           \
        if (threadIdx.x == 0 && gn_dev_tl_sm) gn_dev_tl_sm[gn_dev_tl_run].stat[k] = gn_clock_ns(); \
    } while (0)
#endif
/* Whether the worker reads its next task's records ahead (below; 0: not,
 * to measure it). */
#ifndef GN_DEV_PRE
#define GN_DEV_PRE 1
#endif
/* Whether the read-ahead's second copies are issued inside the task's op,
 * after its first staging barrier (gn_dev_pre_mid, 1), or after the task
 * (0, the default: main's machine code exactly, kernel.cu dc19803e8d0d).
 * Compiled only where asked (-DGN_DEV_PRE_MID=1 for the CUDA compiler).
 * Measured on an H100 (docs/PERF.md, forty-fourth round): deep 0.957x,
 * sweep-64-32 0.982x, one-group 0.978x, but layered 1.004x and many
 * 1.007x (warp 1's work inside ops whose release fences anyway), so not
 * the default. 2: only where the task has one successor (the release may
 * hand it on at once), and with GN_DAG_DEFER also where its first
 * successor has in-degree 1 (gn_dev_pre_mid looks); built, not yet run
 * on a card. */
#ifndef GN_DEV_PRE_MID
#define GN_DEV_PRE_MID 0
#endif
/* The read-ahead's second copies (gn_dev_pre_mid): 0 none, 1 to issue
 * (set with a read-ahead begun), 2 issued, 3 issued and their weights
 * prefetched (GN_DEV_L2PF, gn_dev_pre_l2) */
static __shared__ int32_t gn_dev_pre_mid_sm;
#if GN_DEV_PRE && GN_DEV_PRE_MID
/* warp 1: GN_DEV_SUCC_THREAD's (static_assert below) */
__device__ static __noinline__ void gn_dev_pre_mid();
#define GN_BLOCK_STAGED()                                                                          \
    do {                                                                                           \
        if (threadIdx.x / 32 == 1 && gn_dev_pre_mid_sm == 1) gn_dev_pre_mid();                    \
    } while (0)
#endif
/* A variant (1; 0, the default: not compiled; needs GN_DEV_PRE_MID=1):
 * once the op's arithmetic is done, warp 1 prefetches into L2 the weight
 * blocks the read-ahead's task will stage (gn_dev_pre_l2), from the
 * records gn_dev_pre_mid copied. Not yet run on a card either. */
#ifndef GN_DEV_L2PF
#define GN_DEV_L2PF 0
#endif
#if GN_DEV_PRE && GN_DEV_PRE_MID && GN_DEV_L2PF
__device__ static __noinline__ void gn_dev_pre_l2();
#define GN_BLOCK_COMPUTED()                                                                        \
    do {                                                                                           \
        if (threadIdx.x / 32 == 1 && gn_dev_pre_mid_sm == 2) gn_dev_pre_l2();                     \
    } while (0)
#endif
#include "block_ops.cuh"

static_assert(GN_CUDA_PROF_FORWARD + GN_TASK_FORWARD == GN_CUDA_PROF_FORWARD &&
                  GN_CUDA_PROF_FORWARD + GN_TASK_BACKWARD == GN_CUDA_PROF_BACKWARD &&
                  GN_CUDA_PROF_FORWARD + GN_TASK_UPDATE == GN_CUDA_PROF_UPDATE,
              "the profile's task phases follow the task kinds");

/* Record the first fault and raise the abort flag. */
__device__ static void gn_dev_fault(struct gn_dev *d, int32_t what, int32_t group, int64_t step,
                                    int64_t index)
{
    if (gn_atomic_cas_acq_rel_u32(&d->abort, 0, 1) == 0) {
        d->ctl->fault_group = group;
        d->ctl->fault_block = (int32_t)blockIdx.x;
        d->ctl->fault_step = step;
        d->ctl->fault_index = index;
        gn_fence_system();
        d->ctl->fault = what;
        gn_fence_system();
        /* wake queue waiters too */
        gn_queue_fault(&d->queue, GN_ERR_INTERRUPTED, blockIdx.x, (uint32_t)index);
    }
}

__device__ static inline bool gn_dev_aborted(struct gn_dev *d)
{
    return gn_atomic_load_relaxed_u32(&d->abort) != 0;
}

/* Every block: the scheduler core's barrier (barrier.h) on thread 0,
 * between two __syncthreads (the block's writes before, its reads after),
 * the last block to arrive running last() on its thread 0 before it opens
 * the barrier, while every other block waits: last() sees what every block
 * wrote before it arrived, and every block sees what last() wrote once it
 * is out. Returns false once the run is aborted. */
template <class Last>
__device__ static bool gn_dev_barrier_then(struct gn_dev *d, int64_t step, Last last)
{
    __shared__ int ok;
    __syncthreads();
    if (threadIdx.x == 0) {
        gn_dev_clock_mark(-1);
        __threadfence();
        uint32_t gen;
        enum gn_status st = GN_OK;
        if (gn_barrier_arrive(&d->bar, gridDim.x, &gen)) {
            last();
            gn_barrier_open(&d->bar, gen);
        } else {
            st = gn_barrier_await(&d->bar, gen, &d->abort, (uint64_t)d->cfg.wait_timeout_ns);
        }
        if (st == GN_ERR_DEVICE) gn_dev_fault(d, GN_CUDA_FAULT_BARRIER, -1, step, blockIdx.x);
        __threadfence();
        ok = !gn_dev_aborted(d);
        gn_dev_clock_mark(GN_CUDA_PROF_BARRIER);
    }
    __syncthreads();
    return ok;
}

/* Every block: the grid barrier, nothing run by the last arrival. */
__device__ static bool gn_dev_barrier(struct gn_dev *d, int64_t step)
{
    return gn_dev_barrier_then(d, step, [] {});
}

/* Fault injection (inject_stuck_step, tests only): the block holding the
 * chosen task spins on it without finishing it. Its successors never become
 * ready, so every other worker ends up waiting in gn_queue_pop with no
 * progress, and the queue's bounded wait must record GN_CUDA_FAULT_STUCK.
 * The spin ends as soon as the run aborts, and after its own generous limit
 * (a detection that failed lets the run go on, which the test sees). */
#define GN_CUDA_INJECT_LIMIT_NS (60ull * 1000000000ull)

__device__ static void gn_dev_inject_stuck(struct gn_dev *d)
{
    if (threadIdx.x == 0) {
        const uint64_t end = gn_clock_ns() + GN_CUDA_INJECT_LIMIT_NS;
        while (!gn_dev_aborted(d) && gn_clock_ns() < end) __nanosleep(1000);
    }
    __syncthreads();
}

/*
 * The pass's view of the device state: what the task path reads of it (the
 * model's and buffers' arrays and sizes, the task map, the DAG's arrays),
 * copied to the block's shared memory as the pass starts. Every acquire
 * fence of the scheduler (fence.acq_rel.gpu: MEMBAR, then CCTL.IVALL, read
 * off the SASS) empties the SM's L1, and `tools/bench/sync_cost.cu`
 * measures a load after one at an L2 round trip; a task path that read
 * d->m.order, then order[pos], then d->m.groups, ... paid one per link.
 * Shared memory is not touched by the fences. Fixed for the pass: nothing
 * in a pass writes these fields (growth, pruning, the rebuild and the
 * step's rows are set between passes, behind grid barriers), and what the
 * task path writes or counts (d's flags and atomics) it still reaches
 * through d.
 */
struct gn_dev_view {
    struct gn_model m;
    struct gn_buffers b;
    struct gn_taskmap tm;
    struct gn_dag dag;
    const struct gn_pos_rec *pos_rec;
#if GN_BLOCK_TAKE_REC
    const struct gn_edge_rec *pos_first; /* block_ops.cuh: gn_block_take */
#endif
    const int32_t *upd_rows, *upd_base;
    gn_atomic_u32 *upd_done;
    int32_t tile, inject_stuck_step;
    int32_t stat; /* the step's statistic is made (plan.h, gn_plan_stat_read) */
};
static __shared__ struct gn_dev_view gn_dev_view_sm;

/* The successors of the block's task, read by thread GN_DEV_SUCC_THREAD
 * while the task runs (gn_dag_span_of, gn_dag_succ_fill), released by
 * thread 0 after it (gn_dag_finish_succ): the release starts at its
 * atomics. A thread of another warp than 0, whose lanes read the task's
 * edges meanwhile. */
static __shared__ struct gn_dag_succ gn_dev_succ_sm;
#define GN_DEV_SUCC_THREAD 32
static_assert(GN_DEV_SUCC_THREAD / 32 == 1, "GN_BLOCK_STAGED names the warp of GN_DEV_SUCC_THREAD");

/* Tickets a block reserves with one add on the queue's head (dag.h's
 * gn_dag_take_held; its tasks are still released one by one): 1, one a
 * pop, is the default; a variant build (-DGN_DEV_TICKETS=N for the CUDA
 * compiler) for docs/PERF.md's comparisons. Holding finished tasks (a
 * release batch) is not offered here: the read-ahead guesses that a task's
 * continuation is its first successor, which a held release defers. */
#ifndef GN_DEV_TICKETS
#define GN_DEV_TICKETS 1
#endif

/*
 * Reading the next task's records ahead. A task's first loads are
 * dependent L2 round trips (every acquire fence empties L1): its
 * position's record, then its edges' records, and on thread
 * GN_DEV_SUCC_THREAD its successors' span, then the successors. All of
 * them are fixed for the pass, so they may be read before the task is
 * ready. The release keeps the first ready successor as the continuation
 * (dag.h), and the task graph lists first the successor a task most
 * likely makes ready (gn_task_succ): so while a task runs, warp 1 reads
 * the records of the task's first successor:
 *   1. as the task starts, thread GN_DEV_SUCC_THREAD, once it has the
 *      task's successors: the first one's position record and successor
 *      span, by asynchronous copies that nobody waits for
 *      (gn_dev_pre_begin);
 *   2. after the task, while thread 0 releases its successors (a fence,
 *      the decrements, another fence on any task with more than one
 *      successor), warp 1: that successor's edges' records and first
 *      successors, then its edge table into sm.edge by the rule
 *      gn_block_edges runs (gn_block_table_warp), and the records into
 *      the ready copies (gn_dev_pre_fetch).
 * If the task taken next is that one, its position's record and its
 * successors come from the ready copies and gn_block_edges finds its
 * table in place (gn_block_pre_sm): the task starts at its staging's
 * loads. Forward and backward successors only (an update task's position
 * takes two more loads to decode), lists of at most 32 edges.
 *
 * A guess that misses costs warp 1's work and the loop's barrier waiting
 * for it. So thread 0 scores the guesses, run or not, as it takes each
 * task (gn_dev_pre_score): a running hit rate, score / GN_DEV_PRE_FULL,
 * the last ~16 tasks weighed most, and the read-ahead runs while it is at
 * least GN_DEV_PRE_MIN / GN_DEV_PRE_FULL, a quarter. Measured on the H200
 * (docs/PERF.md, fifteenth round): `deep`'s step 0.942 of what it was
 * without, the wide graphs' 1.000-1.011 (their guesses hit often enough
 * to stay on; at a threshold of 5/8 `layered` turns it off and is no
 * faster).
 */
#define GN_DEV_PRE_EDGES 32
#define GN_DEV_PRE_FULL 256
#ifndef GN_DEV_PRE_MIN
#define GN_DEV_PRE_MIN (GN_DEV_PRE_FULL / 4) /* the least score that reads ahead */
#endif
enum { GN_DEV_PRE_IDLE, GN_DEV_PRE_BEGUN };
struct gn_dev_pre {
    struct gn_pos_rec pend_pos, ready_pos;    /* 64 bytes each, on 16 */
    struct gn_edge_rec rec[GN_DEV_PRE_EDGES]; /* 16 bytes each */
    uint32_t pend_span[8]; /* the blocks of succ_begin holding the span (on 16) */
    uint32_t span_at;      /* where in them */
    struct gn_dag_succ ready_succ;
    uint32_t pend_task, ready_task; /* ready_task: GN_QUEUE_DONE if none */
    uint32_t guess;                 /* the running task's first successor */
    int32_t state, out, r0;
    int32_t score, on; /* thread 0's */
};
static __shared__ __align__(16) struct gn_dev_pre gn_dev_pre_sm;
static_assert(offsetof(struct gn_dev_pre, ready_pos) % 16 == 0 &&
                  offsetof(struct gn_dev_pre, rec) % 16 == 0 &&
                  offsetof(struct gn_dev_pre, pend_span) % 16 == 0,
              "the read-ahead's copies land on 16 bytes");
/* 16-byte blocks of succ holding the read-ahead's first batch of
 * successors, wherever it starts (gn_dev_pre_mid's copies, on 16) */
#define GN_DEV_PRE_SUCC_BLOCKS ((GN_DAG_BATCH + 3u) / 4u + 1u)
static __shared__ __align__(16) uint32_t gn_dev_pre_succ_sm[4 * GN_DEV_PRE_SUCC_BLOCKS];

/*
 * The next ticket reserved during the release (dag.h, gn_dag_finish_ahead;
 * 1: on where the queue stays full, 0: off, the default; compiled only
 * where asked: measured slower on an H100, 1.05-1.13x the step, since on
 * the wide graphs a level's tasks are taken as they are pushed and the
 * reserved ticket mostly lies past the tail; docs/PERF.md, twenty-ninth
 * round). Thread 0 pops a ticket and often
 * finds its slot filled: the queue is full, and a pop's two round trips
 * (the add on head, the slot) and the task's first reads (its position's
 * record, then its edges') sit between two tasks. Where the pops found
 * their slots filled at the first look (a running score, as the
 * read-ahead's, at least GN_DEV_AHEAD_MIN / GN_DEV_PRE_FULL), warp 1
 * reserves the next ticket while thread 0 releases the task, looks at its
 * slot once, and, found, reads its records ahead as for a guess
 * (gn_dev_pre_begin<true>, gn_dev_pre_fetch); the release then keeps no
 * continuation. Thread 0 takes the task found, or serves the ticket.
 */
#ifndef GN_DEV_AHEAD
#define GN_DEV_AHEAD 0
#endif
#ifndef GN_DEV_AHEAD_MIN
#define GN_DEV_AHEAD_MIN (GN_DEV_PRE_FULL / 2)
#endif
#if GN_DEV_AHEAD
struct gn_dev_ahead {
    uint32_t ticket, task; /* task: ticket's, or GN_QUEUE_DONE if the look found none */
    int32_t held;          /* a ticket is reserved */
    int32_t on;            /* this task's release runs ahead (thread 0, at the take) */
    int32_t score;         /* thread 0's */
};
static __shared__ struct gn_dev_ahead gn_dev_ahead_sm;
#endif

/* Thread 0, as the run starts: the read-ahead on. */
__device__ static void gn_dev_pre_init()
{
    gn_dev_pre_sm.score = GN_DEV_PRE_FULL;
    gn_dev_pre_sm.on = 1;
#if GN_DEV_AHEAD
    gn_dev_ahead_sm.score = 0;
#endif
}

/* Thread 0, as a pass starts (before a __syncthreads): nothing read ahead;
 * the records may have changed since the last pass. */
__device__ static void gn_dev_pre_reset()
{
    gn_dev_pre_sm.state = GN_DEV_PRE_IDLE;
    gn_dev_pre_sm.ready_task = GN_QUEUE_DONE;
    gn_dev_pre_sm.guess = GN_QUEUE_DONE;
    if (GN_DEV_PRE_MID) gn_dev_pre_mid_sm = 0;
    gn_block_pre_reset();
#if GN_DEV_AHEAD
    gn_dev_ahead_sm.held = 0;
    gn_dev_ahead_sm.on = 0;
#endif
}

/* Thread 0, having taken `task` (before the loop's __syncthreads): score
 * the last task's guess. */
__device__ static void gn_dev_pre_score(uint32_t task)
{
    struct gn_dev_pre &p = gn_dev_pre_sm;
    if (task == GN_QUEUE_DONE || p.guess == GN_QUEUE_DONE) return;
    p.score += (task == p.guess ? GN_DEV_PRE_FULL / 16 : 0) - p.score / 16;
    p.on = p.score >= GN_DEV_PRE_MIN;
}

/* 1. Thread GN_DEV_SUCC_THREAD, the task's successors in gn_dev_succ_sm:
 * guess the first, and start reading ahead for it if the scores allow;
 * or (TICKET, gn_dev_ahead_fetch) for `ticket`, the task of the ticket
 * reserved beside the release: the same copies, no guess. */
template <bool TICKET = false>
__device__ static void gn_dev_pre_begin(const struct gn_dev_view &v, uint32_t ticket = 0)
{
    struct gn_dev_pre &p = gn_dev_pre_sm;
    const struct gn_dag_succ &s = gn_dev_succ_sm;
    const uint32_t next = TICKET ? ticket : s.k < s.end ? s.v[0] : GN_QUEUE_DONE;
    if (!TICKET) p.guess = next;
    if ((!TICKET && !p.on) || next >= v.tm.upd0) return; /* GN_QUEUE_DONE too */
    const struct gn_task k = gn_task_decode(&v.tm, next);
    if (k.pos < 1 || k.pos >= v.m.n_groups) return;
    p.pend_task = next;
    p.out = k.kind == GN_TASK_BACKWARD;
    p.r0 = k.tile * v.tile;
    const float *pos = reinterpret_cast<const float *>(v.pos_rec + k.pos);
    float *dst = reinterpret_cast<float *>(&p.pend_pos);
    for (int i = 0; i < (int)(sizeof p.pend_pos / 16); i++)
        gn_block_copy16(dst + 4 * i, pos + 4 * i);
    /* succ_begin[next], [next + 1]: the 16-byte blocks holding them, L2
     * copies (a 16-byte block holding an element lies inside its buffer:
     * launch.cu's buffers start and end on 256 bytes) */
    const float *span = reinterpret_cast<const float *>(v.dag.succ_begin + (next & ~3u));
    gn_block_copy16(reinterpret_cast<float *>(p.pend_span), span);
    if ((next & 3) == 3) gn_block_copy16(reinterpret_cast<float *>(p.pend_span + 4), span + 4);
    p.span_at = next & 3;
    /* 2: only for a task of one successor (where the release may hand it
     * on at once; with more, the release's fence hides the second copies) */
    if (GN_DEV_PRE_MID) {
        /* with decrements held back (GN_DAG_DEFER), also a task whose
         * first successor's start value (in flight now) may allow it:
         * gn_dev_pre_mid looks once it has landed */
        const bool once = GN_DAG_DEFER ? s.end - s.k <= GN_DAG_BATCH : s.end - s.k == 1;
        gn_dev_pre_mid_sm = GN_DEV_PRE_MID == 2 && (TICKET || !once) ? 0 : 1;
    }
    p.state = GN_DEV_PRE_BEGUN;
}

/* The read-ahead's edges: whether its lists allow it, and its list's
 * first entry and length (gn_dev_pre_mid and gn_dev_pre_fetch alike). */
__device__ static __forceinline__ bool gn_dev_pre_edges(const struct gn_group &gr, int32_t out,
                                                       int32_t *begin, int32_t *ne,
                                                       const struct gn_edge_rec **rec)
{
    *ne = out ? gr.out_count : gr.in_count;
    *begin = out ? gr.out_begin : gr.in_begin;
    *rec = gn_block_rec_sm[out];
    return *rec && *ne >= 1 && *ne <= GN_DEV_PRE_EDGES;
}

/* 1b. Every thread, inside the task's op after its first staging barrier
 * (GN_BLOCK_STAGED in block_ops.cuh): thread GN_DEV_SUCC_THREAD waited
 * for its copies of step 1 there, so the first successor's position record
 * and span are at hand; warp 1 issues the second copies (its edges'
 * records into rec, the blocks of its first successors into
 * gn_dev_pre_succ_sm),
 * which land while the op runs, instead of reading them after the task
 * (step 2), where a continuation taken at once (dag.h's fast path) would
 * wait a round trip for them. Once a task (gn_dev_pre_mid_sm: later
 * chunks find it past 1). */
__device__ static __noinline__ void gn_dev_pre_mid()
{
    struct gn_dev_pre &p = gn_dev_pre_sm;
    const struct gn_dev_view &v = gn_dev_view_sm;
    const int32_t lane = threadIdx.x & 31;
#if GN_DAG_DEFER
    /* the gated form: only where the release will hand the successor on
     * at once (one successor, or a first one of in-degree 1: init0, which
     * GN_DEV_SUCC_THREAD waited for before the op's staging barrier) */
    if (GN_DEV_PRE_MID == 2 && gn_dev_succ_sm.end - gn_dev_succ_sm.k != 1 &&
        gn_dev_succ_sm.init0 != 1) {
        __syncwarp(); /* every lane has read the flag */
        if (lane == 0) gn_dev_pre_mid_sm = 0;
        return;
    }
#endif
    int32_t begin, ne;
    const struct gn_edge_rec *rec;
    const bool ok = gn_dev_pre_edges(p.pend_pos.gr, p.out, &begin, &ne, &rec);
    if (ok) {
        if (lane < ne)
            gn_block_copy16(reinterpret_cast<float *>(&p.rec[lane]),
                            reinterpret_cast<const float *>(rec + begin + lane));
        const struct gn_dag_span sp = {p.pend_span[p.span_at], p.pend_span[p.span_at + 1]};
        const uint32_t m = gn_dag_succ_count(sp);
        /* the 16-byte blocks holding succ[sp.k .. sp.k + m) (inside the
         * buffer, as in gn_dev_pre_begin) */
        const uint32_t blocks = m ? ((sp.k + m - 1) >> 2) - (sp.k >> 2) + 1 : 0;
        if ((uint32_t)lane < blocks)
            gn_block_copy16(reinterpret_cast<float *>(gn_dev_pre_succ_sm + 4 * lane),
                            reinterpret_cast<const float *>(v.dag.succ + (sp.k & ~3u)) + 4 * lane);
    }
    __syncwarp(); /* every lane has read the flag */
    if (lane == 0) gn_dev_pre_mid_sm = 2;
}

/* 1c. (GN_DEV_L2PF) Warp 1, after the op's arithmetic (GN_BLOCK_COMPUTED),
 * the second copies issued: waits for gn_dev_pre_mid's records and
 * prefetches the weight blocks they name into L2, one bulk prefetch a
 * block (the blocks start on 16 bytes and span their size rounded up to
 * 16: model.h, GN_PARAM_ALIGN). */
__device__ static __noinline__ void gn_dev_pre_l2()
{
    struct gn_dev_pre &p = gn_dev_pre_sm;
    const int32_t lane = threadIdx.x & 31;
    gn_block_stage_wait(); /* this lane's record */
    __syncwarp();
    int32_t begin, ne;
    const struct gn_edge_rec *rec;
    const bool ok = gn_dev_pre_edges(p.pend_pos.gr, p.out, &begin, &ne, &rec);
    if (ok && lane < ne) {
        const struct gn_edge_rec r = p.rec[lane];
        const float *w = gn_dev_view_sm.m.params + r.w;
        const uint32_t bytes = ((uint32_t)r.K * (uint32_t)p.pend_pos.gr.width * 4u + 15u) & ~15u;
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(w), "r"(bytes)
                     : "memory");
    }
    __syncwarp(); /* every lane has read the flag */
    if (lane == 0) gn_dev_pre_mid_sm = 3;
}

/* 2. Warp 1, after the task (thread 0 releases its successors meanwhile),
 * the read-ahead begun: its second copies, its table and ready copies.
 * Not inlined: the kernel's register allocation is left as it was (the
 * task loop's values live across a call at its end, not across the task
 * math). */
__device__ static __noinline__ void gn_dev_pre_fetch(struct gn_block_edge *edge)
{
    struct gn_dev_pre &p = gn_dev_pre_sm;
    const struct gn_dev_view &v = gn_dev_view_sm;
    const int32_t lane = threadIdx.x & 31;
    /* the first copies (thread GN_DEV_SUCC_THREAD's) landed long ago, the
     * second (gn_dev_pre_mid's, each lane's own) most likely */
    gn_block_stage_wait();
    __syncwarp();
    const struct gn_group gr = p.pend_pos.gr;
    const int32_t out = p.out, r0 = p.r0;
    int32_t begin, ne;
    const struct gn_edge_rec *rec;
    const bool ok = gn_dev_pre_edges(gr, out, &begin, &ne, &rec);
    const struct gn_dag_span sp = {p.pend_span[p.span_at], p.pend_span[p.span_at + 1]};
    if (GN_DEV_PRE_MID && gn_dev_pre_mid_sm >= 2) {
        /* the second copies landed: the successors out of their blocks */
        if (ok && (uint32_t)lane < gn_dag_succ_count(sp))
            p.ready_succ.v[lane] = gn_dev_pre_succ_sm[(sp.k & 3u) + lane];
    } else {
        /* the second reads, waited for at once: through L2 (ld.cg), as
         * the task path reads them; straight into the ready copies of the
         * successors (read only as a task starts) */
        if (ok && lane < ne) {
            const int4 r = __ldcg(reinterpret_cast<const int4 *>(rec + begin + lane));
            *reinterpret_cast<int4 *>(&p.rec[lane]) = r;
        }
        if (ok && (uint32_t)lane < gn_dag_succ_count(sp))
            p.ready_succ.v[lane] = __ldcg(v.dag.succ + sp.k + lane);
    }
    __syncwarp();
    uint32_t ready = GN_QUEUE_DONE;
    if (ok) {
        int32_t total;
        const int vec = gn_block_table_warp(&v.m, &v.b, gr.width, p.rec, NULL, 0, ne, r0, out,
                                            edge, &total);
        const uint32_t *from = reinterpret_cast<const uint32_t *>(&p.pend_pos);
        uint32_t *to = reinterpret_cast<uint32_t *>(&p.ready_pos);
        if (lane < (int32_t)(sizeof p.pend_pos / 4)) to[lane] = from[lane];
        if (lane == 0) {
            p.ready_succ.k = sp.k;
            p.ready_succ.end = sp.end;
            gn_block_vec_sm = vec;
            gn_block_pre_sm.begin = begin;
            gn_block_pre_sm.out = out;
            gn_block_pre_sm.r0 = r0;
            gn_block_pre_sm.ne = ne;
            ready = p.pend_task;
        }
    }
    if (lane == 0) {
        p.ready_task = ready;
        p.state = GN_DEV_PRE_IDLE;
        if (GN_DEV_PRE_MID) gn_dev_pre_mid_sm = 0;
    }
}

/* Warp 1, after the task: the read-ahead's end, or none. */
__device__ static __forceinline__ void gn_dev_pre_finish()
{
    __syncwarp(); /* thread GN_DEV_SUCC_THREAD's state to the warp */
    if (gn_dev_pre_sm.state != GN_DEV_PRE_IDLE) gn_dev_pre_fetch(gn_block_sm_edge());
    else if ((threadIdx.x & 31) == 0) gn_dev_pre_sm.ready_task = GN_QUEUE_DONE;
}

#if GN_DEV_AHEAD

/* Thread 0's take: the ticket warp 1 reserved during the release, its
 * task if the look found it, else served; or a plain take (gn_dag_take).
 * Scored: whether the slot was filled at the first look (a pop that did
 * not spin), the last ~16 pops weighed most; the task's release runs ahead
 * while the score is at least GN_DEV_AHEAD_MIN. Not inlined: the task
 * loop's allocation is disturbed less. */
__device__ static __noinline__ enum gn_status gn_dev_ahead_take(struct gn_queue *q,
                                                               struct gn_queue_worker *w,
                                                               uint32_t *next, uint32_t *task)
{
    struct gn_dev_ahead &a = gn_dev_ahead_sm;
    enum gn_status st = GN_OK;
    int32_t hit = -1;
    if (a.held) {
        a.held = 0;
        hit = a.task != GN_QUEUE_DONE;
        if (hit) {
            *task = a.task;
            w->popped++;
        } else {
            st = gn_queue_serve(q, a.ticket, task, w);
        }
    } else {
        const bool pop = *next == GN_QUEUE_DONE;
        const uint64_t spins = w->spins;
        st = gn_dag_take(q, w, next, task);
        if (pop) hit = w->spins == spins;
    }
    /* gn_dev_pre_score's running rule, written out: a helper shared with
     * it moved the default kernel's machine code (b41b8db59e5e) */
    if (hit >= 0) a.score += (hit ? GN_DEV_PRE_FULL / 16 : 0) - a.score / 16;
    a.on = a.score >= GN_DEV_AHEAD_MIN;
    return st;
}

/* Warp 1, beside the release: reserve the next ticket, look at it once,
 * read its task's records ahead if it is there. */
__device__ static __noinline__ void gn_dev_ahead_fetch(struct gn_queue *q)
{
    struct gn_dev_ahead &a = gn_dev_ahead_sm;
    if ((threadIdx.x & 31) == 0) {
        const struct gn_queue_pass p = gn_queue_pass_of(q);
        const uint32_t t = gn_queue_reserve(q, 1);
        uint32_t task;
        if (!gn_queue_peek(q, p, t, &task)) task = GN_QUEUE_DONE;
        a.ticket = t;
        a.task = task;
        a.held = 1;
        gn_dev_pre_sm.guess = GN_QUEUE_DONE; /* no guess to score */
        gn_dev_pre_sm.state = GN_DEV_PRE_IDLE;
        gn_dev_pre_begin<true>(gn_dev_view_sm, task);
    }
    gn_dev_pre_finish();
}
#endif

/* Whether a group of one update part skips the parts' counter and its
 * fences (1; 0: off, the default until measured on the card: PERF.md,
 * twenty-sixth round, Next 3). Compiled only where asked. */
#ifndef GN_DEV_UPD_ONE
#define GN_DEV_UPD_ONE 0
#endif

/* Update part `part` of the group at pos: its slice of the gradients and
 * the optimizer's step, at the step's rate and bias corrections (the
 * block's gn_dev_optim_sm, set at the step's start); on a step whose
 * statistic is made (v.stat), the part that finishes last computes the
 * group's statistic; on any other, each part that wrote an entry that is
 * not finite sets grad_std to gn_stat_nonfinite() (stat.h's rule), and no
 * part waits for another. */
__device__ static void gn_dev_update(struct gn_dev *d, const struct gn_block_smem &sm,
                                     const struct gn_group &gr, int32_t g, int32_t pos,
                                     int32_t part)
{
    __shared__ int s_last;
    struct gn_dev_view &v = gn_dev_view_sm;
    const int32_t KP = v.upd_rows[g];
    gn_op_update_block(&v.m, &v.b, gr, g, part * KP, (part + 1) * KP, gn_dev_optim_sm, sm);
#ifdef GN_DIAG_TIMELINE
    if (threadIdx.x == 0 && gn_dev_tl_sm) {
        gn_dev_tl_sm[gn_dev_tl_run].upd_op = gn_clock_ns();
        gn_dev_tl_sm[gn_dev_tl_run].upd_stat = 0;
    }
#endif
    if (!v.stat) {
        /* the op's closing barrier ordered every thread's flag before this */
        if (threadIdx.x == 0 && gn_block_bad_sm) {
            gn_block_bad_sm = 0;
            v.m.groups[g].grad_std = gn_stat_nonfinite();
            /* relaxed: read after the pass's barrier (as below) */
            gn_atomic_store_relaxed_u32(&d->stat_bad, 1);
        }
        return;
    }
    if (threadIdx.x == 0) gn_block_bad_sm = 0;
#if GN_DEV_UPD_ONE
    /* a group of one part: this block made every gradient the statistic
     * reads, and its closing barrier (gn_op_update_block's) orders them
     * before the reads; no counter, no fences */
    const bool one = v.upd_base[pos + 1] - v.upd_base[pos] == 1;
    if (one) {
        if (threadIdx.x == 0) s_last = 1;
    } else
#endif
    if (threadIdx.x == 0) {
        const int32_t parts = v.upd_base[pos + 1] - v.upd_base[pos];
        __threadfence();
        /* acq_rel: publishes this part's gradients; the last part's acquire
         * sees every other part's. */
        s_last = gn_atomic_fetch_add_acq_rel_u32(&v.upd_done[g], 1) == (uint32_t)parts - 1;
        __threadfence();
    }
    __syncthreads();
#ifdef GN_DIAG_TIMELINE
    if (threadIdx.x == 0 && gn_dev_tl_sm && s_last) gn_dev_tl_sm[gn_dev_tl_run].upd_stat = gn_clock_ns();
#endif
    if (s_last) {
        gn_op_stat_block(&v.m, g, sm);
        /* relaxed: the next step's parts start after the grid barrier */
        if (threadIdx.x == 0) gn_atomic_store_relaxed_u32(&v.upd_done[g], 0);
        /* the numeric guard's test of g (numguard.h), where the statistic
         * is made, so that block 0 reads one word a step, not every group;
         * lane 0 wrote the statistic. Relaxed: read after the pass's barrier */
        if (threadIdx.x == 0 && !gn_guard_stat_ok(v.m.groups[g].grad_std))
            gn_atomic_store_relaxed_u32(&d->stat_bad, 1);
    }
}

/* Whether thread 0's release of a task (below) is compiled apart, a call
 * (1), or inline (0, the default without GN_DEV_AHEAD): with the next
 * ticket reserved beside it, inline moved the kernel's register
 * allocation (spill stores 1216 -> 2588 bytes), apart it did not (1092).
 * Alone, apart costs ~0.7 us a task (1.02-1.09x the step on an H100,
 * docs/PERF.md, twenty-ninth round). */
#ifndef GN_DEV_RELEASE_APART
#define GN_DEV_RELEASE_APART GN_DEV_AHEAD
#endif
#if GN_DEV_RELEASE_APART
#define GN_DEV_RELEASE_FN __noinline__
#else
#define GN_DEV_RELEASE_FN __forceinline__
#endif

/* Thread 0, after the task: release its successors (read meanwhile into
 * gn_dev_succ_sm), keeping the first ready one as the continuation in
 * *next, or none when the next ticket is reserved beside it
 * (gn_dag_finish_ahead). */
__device__ static GN_DEV_RELEASE_FN enum gn_status gn_dev_release(struct gn_dag *dag,
                                                                  struct gn_queue *q,
                                                                  struct gn_queue_worker *w,
                                                                  uint32_t *next)
{
#if GN_DEV_AHEAD
    if (gn_dev_ahead_sm.on) return gn_dag_finish_ahead(dag, q, &gn_dev_succ_sm, w);
#endif
    return gn_dag_finish_succ(dag, q, &gn_dev_succ_sm, w, next);
}

/* How the worker loop below is compiled: 0 (the default) as NVVM sees
 * fit, which at its -O3 is inline at gn_dev_pass's one call site (run.cuh:
 * the training and the evaluation passes go through it; with a call site
 * each, the loop and its ops were inline twice, ~60 % of the entry's PTX,
 * and 1.66x the spill stores: docs/PERF.md, thirty-third and thirty-fourth
 * rounds) and at -O2 apart (a call; with -Xcicc -O2 and two call sites the
 * step 1.007-1.078x on an H100, its release 14 % longer: thirty-third
 * round); 1: always inline (it and gn_dev_pass, below). */
#ifndef GN_DEV_WORK_INLINE
#define GN_DEV_WORK_INLINE 0
#endif
#if GN_DEV_WORK_INLINE
#define GN_DEV_WORK_FN __forceinline__
#else
#define GN_DEV_WORK_FN
#endif

/* Run the pass's tasks until the queue says done. */
__device__ static GN_DEV_WORK_FN void gn_dev_work(struct gn_dev *d, const struct gn_block_smem &sm,
                                   struct gn_dag *dag, struct gn_queue_worker *w, int64_t step)
{
    __shared__ uint32_t s_task;
    struct gn_dev_view &v = gn_dev_view_sm;
    if (threadIdx.x == 0) {
        /* after a grid barrier: this thread's fence there emptied L1, so
         * these loads see the fields as set before it */
        v.m = d->m;
        v.b = d->b;
        v.tm = d->tm;
        v.dag = *dag;
        v.pos_rec = d->pos_rec;
#if GN_BLOCK_TAKE_REC
        v.pos_first = d->pos_first;
#endif
        v.upd_rows = d->upd_rows;
        v.upd_base = d->upd_base;
        v.upd_done = d->upd_done;
        v.tile = d->cfg.tile;
        v.inject_stuck_step = d->cfg.inject_stuck_step;
        v.stat = gn_plan_stat_read(&d->cfg, step);
        gn_block_bad_sm = 0;
#ifdef GN_DIAG_TWICE
        gn_dev_diag_run = 0;
#endif
        gn_dev_pre_reset();
#ifdef GN_DIAG_TIMELINE
        gn_dev_tl_sm = dag == &d->train ? d->tl : NULL;
        gn_dev_tl_step = step;
#endif
    }
    gn_block_stage_wait(); /* a read-ahead a fault left in flight */
    __syncthreads();
    uint32_t next = GN_QUEUE_DONE; /* thread 0: the continuation */
#if GN_DEV_TICKETS > 1
    /* thread 0: tickets reserved GN_DEV_TICKETS at a time, each task
     * released at once (dag.h, gn_dag_take_ticket) */
    struct gn_dag_tickets tickets;
    if (threadIdx.x == 0) gn_dag_tickets_init(&tickets, GN_DEV_TICKETS);
#endif
#ifdef GN_DIAG_TIMELINE
    uint64_t tl_take = 0; /* thread 0 */
#endif
    for (;;) {
        if (threadIdx.x == 0) {
            uint32_t task;
            gn_dev_clock_mark(-1);
#ifdef GN_DIAG_TIMELINE
            tl_take = gn_clock_ns();
#endif
#if GN_DEV_TICKETS > 1
            enum gn_status st = gn_dag_take_ticket(&d->queue, w, &tickets, &next, &task);
#elif GN_DEV_AHEAD
            enum gn_status st = gn_dev_ahead_take(&d->queue, w, &next, &task);
#else
            enum gn_status st = gn_dag_take(&d->queue, w, &next, &task);
#endif
            if (st == GN_ERR_DEVICE) gn_dev_fault(d, GN_CUDA_FAULT_STUCK, -1, step, w->worker);
            s_task = st == GN_OK ? task : GN_QUEUE_DONE;
            if (GN_DEV_PRE) gn_dev_pre_score(s_task);
            gn_dev_clock_mark(GN_CUDA_PROF_TAKE);
        }
        __syncthreads();
        const uint32_t id = s_task;
        if (id == GN_QUEUE_DONE) break;
        /* the release's reads, while the task runs, by a thread of warp
         * 1: its successors' span loaded beside the position's record,
         * the successors beside the edges' records (in the op): two round
         * trips in step with warp 0's two (the position's record, its
         * edges) */
        const bool succ_reader = threadIdx.x == GN_DEV_SUCC_THREAD;
        /* the task read ahead (gn_dev_pre_finish wrote ready_task before
         * the barrier above and writes it again only after the task) */
        const bool ahead = id == gn_dev_pre_sm.ready_task;
        struct gn_dag_span span = {0, 0};
        if (succ_reader && !ahead) span = gn_dag_span_of(&v.dag, id);
        const uint64_t t0 = threadIdx.x == 0 ? gn_clock_ns() : 0;
        const struct gn_task k = gn_task_decode(&v.tm, id);
#ifdef GN_DIAG_TIMELINE
        if (threadIdx.x == 0 && gn_dev_tl_sm) {
            struct gn_dev_tl *r = gn_dev_tl_sm + id;
            r->take = tl_take;
            r->start = t0;
            r->step = step;
            r->worker = (int32_t)blockIdx.x;
            r->pos = k.pos;
            r->kind = (int16_t)k.kind;
            r->tile = (int16_t)k.tile;
            r->ahead = ahead;
            for (int i = 0; i < 8; i++) gn_dev_tl_acc[i] = 0;
            gn_dev_tl_run = id;
            gn_dev_tl_at = t0;
        }
#endif
        if (k.pos < 1 || k.pos >= v.m.n_groups) {
            if (threadIdx.x == 0) gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, id);
            break;
        }
#if GN_BLOCK_TAKE_REC
        /* a forward or backward task not read ahead: its list's first
         * records copied now, beside the position's record below
         * (block_ops.cuh: gn_block_take) */
        if (threadIdx.x < 32) {
            const bool tk = !ahead && id < v.tm.upd0;
            const int32_t lane = threadIdx.x;
            if (tk && lane < GN_BLOCK_TAKE_REC) {
                gn_block_stage_wait(); /* no earlier copy of this lane's still lands there */
                const size_t at = gn_block_take_at(k.pos, k.kind == GN_TASK_BACKWARD) + lane;
                gn_block_copy16(reinterpret_cast<float *>(&gn_block_take_sm.rec[lane]),
                                reinterpret_cast<const float *>(v.pos_first + at));
            }
            if (lane == 0) gn_block_take_sm.on = tk;
        }
#endif
        /* the group at the task's position and its record, one load
         * (gn_pos_rec), or its copy read ahead */
        const struct gn_pos_rec pr = *(ahead ? &gn_dev_pre_sm.ready_pos : v.pos_rec + k.pos);
        const int32_t g = pr.g;
        if (succ_reader) {
            if (ahead) gn_dev_succ_sm = gn_dev_pre_sm.ready_succ;
            else gn_dag_succ_fill(&v.dag, span, &gn_dev_succ_sm);
#if GN_DAG_DEFER
            /* the first successor's start value, for the release (dag.h,
             * gn_dag_release_succ): an asynchronous copy that lands while
             * the task runs, waited for after it */
            if (gn_dag_succ_wants_init0(&gn_dev_succ_sm))
                gn_block_copy4(reinterpret_cast<float *>(&gn_dev_succ_sm.init0),
                               reinterpret_cast<const float *>(v.dag.indeg_init +
                                                               gn_dev_succ_sm.v[0]));
            else gn_dev_succ_sm.init0 = 0;
#endif
#if GN_DEV_AHEAD
            /* a release ahead reads its ticket's task ahead instead: no
             * copies of a guess in flight into the same records */
            if (GN_DEV_PRE && !gn_dev_ahead_sm.on) gn_dev_pre_begin(v);
#else
            if (GN_DEV_PRE) gn_dev_pre_begin(v);
#endif
        }
        const int32_t r0 = k.tile * v.tile, r1 = min(v.b.rows, r0 + v.tile);
        /* the injected stuck task: the output's first forward tile of the
         * chosen training step */
        if (v.inject_stuck_step > 0 && step + 1 == v.inject_stuck_step && dag == &d->train &&
            k.kind == GN_TASK_FORWARD && k.pos == v.m.n_groups - 1 && k.tile == 0)
            gn_dev_inject_stuck(d);
        switch (k.kind) {
        case GN_TASK_FORWARD:
            if (r0 < r1) {
#ifdef GN_DIAG_TWICE
                for (int run = 1; run <= 2; run++) {
                    if (threadIdx.x == 0) gn_dev_diag_run = run;
                    __syncthreads();
                    gn_op_forward_block(&v.m, &v.b, pr.gr, g, r0, r1, sm);
                    __syncthreads();
#ifdef GN_DIAG_TWICE_FENCE
                    /* -DGN_DIAG_TWICE_FENCE: the first run's stores
                     * drained and L1 emptied before its last mark, so the
                     * second run finds its code at hand and its data
                     * where the first found it (docs/PERF.md,
                     * twenty-ninth round) */
                    if (run == 1) {
                        __threadfence();
                        __syncthreads();
                    }
#endif
                    if (threadIdx.x == 0) {
                        gn_dev_clock_mark(GN_DIAG_PHASE(STORE));
                        gn_dev_diag_run = 0;
                    }
                }
#else
                gn_op_forward_block(&v.m, &v.b, pr.gr, g, r0, r1, sm);
#endif
                if (g == GN_SLOT_OUTPUT) {
                    __syncthreads();
                    gn_op_loss_block(&v.m, &v.b, r0, r1);
                }
            }
            break;
        case GN_TASK_BACKWARD:
            if (r0 < r1) gn_op_backward_block(&v.m, &v.b, pr.gr, g, r0, r1, sm);
            break;
        case GN_TASK_UPDATE: gn_dev_update(d, sm, pr.gr, g, k.pos, k.tile); break;
        }
#if GN_DAG_DEFER
        if (succ_reader) gn_block_stage_wait(); /* init0 (landed long ago) */
#endif
        __syncthreads();
#if GN_DEV_AHEAD
        if (threadIdx.x / 32 == GN_DEV_SUCC_THREAD / 32) {
            if (gn_dev_ahead_sm.on) gn_dev_ahead_fetch(&d->queue);
            else if (GN_DEV_PRE) gn_dev_pre_finish();
        }
#else
        if (GN_DEV_PRE && threadIdx.x / 32 == GN_DEV_SUCC_THREAD / 32) gn_dev_pre_finish();
#endif
#ifdef GN_DIAG_TIMELINE
        if (threadIdx.x == GN_DEV_SUCC_THREAD && gn_dev_tl_sm) gn_dev_tl_sm[id].pre = gn_clock_ns();
#endif
        if (threadIdx.x == 0) {
            gn_dev_clock_mark(GN_CUDA_PROF_FORWARD + k.kind);
#ifdef GN_DIAG_TIMELINE
            if (gn_dev_tl_sm) {
                gn_dev_tl_sm[id].done = gn_clock_ns();
                for (int i = 0; i < 4; i++) {
                    gn_dev_tl_sm[id].ph[i] = gn_dev_tl_acc[i];
                    gn_dev_tl_sm[id].ap[i] = gn_dev_tl_acc[4 + i];
                }
            }
            gn_dev_tl_cur = id;
#endif
            /* the release of the block's results is gn_dag_finish_succ's
             * fence (cumulative over the block's writes, ordered before it
             * by the __syncthreads above, which also publishes the
             * successors read meanwhile); a continuation runs on this block
             * (none when the next ticket is reserved: gn_dag_finish_ahead) */
            if (gn_dev_release(&v.dag, &d->queue, w, &next) != GN_OK)
                gn_dev_fault(d, GN_CUDA_FAULT_INVARIANT, g, step, id);
            gn_dev_kind_ns_sm[k.kind] += gn_clock_ns() - t0;
#ifdef GN_DIAG_TIMELINE
            if (gn_dev_tl_sm) gn_dev_tl_sm[id].rel = gn_clock_ns();
#endif
            gn_dev_clock_mark(GN_CUDA_PROF_FINISH);
        }
#if GN_DEV_AHEAD
        /* warp 1's ticket and records before thread 0 takes; and every
         * thread has read `on` before thread 0 writes it again */
        __syncthreads();
#endif
    }
}

/* Block 0's thread 0: open the queue for a pass over dag, its roots the
 * first tickets (a barrier must follow before any block pops). The DAG's
 * counters are armed already (dag.h): by the rebuild, then each by its
 * last release of the pass before. */
__device__ static void gn_dev_begin_pass(struct gn_dev *d, struct gn_dag *dag, int64_t step)
{
    if (gn_dag_begin_pass(dag, &d->queue) != GN_OK)
        gn_dev_fault(d, GN_CUDA_FAULT_INVARIANT, -1, step, dag->n_tasks);
    /* the roots are ready at once: the queue's high water counts them */
    atomicMax(&d->high_water, dag->n_roots);
}

/* A whole queue pass over dag with the current rows (d->b.x, y, rows): two
 * grid barriers, the opening one and the closing one. begun: the queue was
 * opened (gn_dev_begin_pass) before a grid barrier every block has passed
 * since (the training step's data barrier, or the previous step's closing
 * one), which saves this pass its opening one. close false: the caller
 * closes it (every task has finished when a block returns: the queue's done
 * count; run.cuh, gn_dev_next_step). */
__device__ static GN_DEV_WORK_FN bool gn_dev_pass(struct gn_dev *d, const struct gn_block_smem &sm,
                                   struct gn_dag *dag, struct gn_queue_worker *w, int64_t step,
                                   bool begun = false, bool close = true)
{
    if (!begun) {
        if (blockIdx.x == 0 && threadIdx.x == 0) gn_dev_begin_pass(d, dag, step);
        if (!gn_dev_barrier(d, step)) return false;
    }
    gn_dev_work(d, sm, dag, w, step);
    if (threadIdx.x == 0) gn_dev_kind_flush(d->kind_ns);
    return !close || gn_dev_barrier(d, step);
}

#endif
