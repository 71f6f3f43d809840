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

/* Every block: the scheduler core's barrier on thread 0, between two
 * __syncthreads (the block's writes before, its reads after). Returns
 * false once the run is aborted. */
__device__ static bool gn_dev_barrier(struct gn_dev *d, int64_t step)
{
    __shared__ int ok;
    __syncthreads();
    if (threadIdx.x == 0) {
        gn_dev_clock_mark(-1);
        __threadfence();
        enum gn_status st =
            gn_barrier_wait(&d->bar, gridDim.x, &d->abort, (uint64_t)d->cfg.wait_timeout_ns);
        if (st == GN_ERR_DEVICE) gn_dev_fault(d, GN_CUDA_FAULT_BARRIER, -1, step, blockIdx.x);
        __threadfence();
        ok = !gn_dev_aborted(d);
        gn_dev_clock_mark(GN_CUDA_PROF_BARRIER);
    }
    __syncthreads();
    return ok;
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
    const int32_t *upd_rows, *upd_base;
    gn_atomic_u32 *upd_done;
    int32_t tile, inject_stuck_step;
};
static __shared__ struct gn_dev_view gn_dev_view_sm;

/* The successors of the block's task, read by thread GN_DEV_SUCC_THREAD
 * while the task runs (gn_dag_span_of, gn_dag_succ_fill), released by
 * thread 0 after it (gn_dag_finish_succ): the release starts at its
 * atomics. A thread of another warp than 0, whose lanes read the task's
 * edges meanwhile. */
static __shared__ struct gn_dag_succ gn_dev_succ_sm;
#define GN_DEV_SUCC_THREAD 32

/* Update part `part` of the group at pos: its slice of the gradients and
 * the optimizer's step, at the step's rate and bias corrections (the
 * block's gn_dev_optim_sm, set at the step's start); the part that
 * finishes last computes the group's statistic. */
__device__ static void gn_dev_update(struct gn_dev *d, const struct gn_block_smem &sm,
                                     const struct gn_group &gr, int32_t g, int32_t pos,
                                     int32_t part)
{
    __shared__ int s_last;
    struct gn_dev_view &v = gn_dev_view_sm;
    const int32_t KP = v.upd_rows[g];
    gn_op_update_block(&v.m, &v.b, gr, g, part * KP, (part + 1) * KP, gn_dev_optim_sm, sm);
    if (threadIdx.x == 0) {
        const int32_t parts = v.upd_base[pos + 1] - v.upd_base[pos];
        __threadfence();
        /* acq_rel: publishes this part's gradients; the last part's acquire
         * sees every other part's. */
        s_last = gn_atomic_fetch_add_acq_rel_u32(&v.upd_done[g], 1) == (uint32_t)parts - 1;
        __threadfence();
    }
    __syncthreads();
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

/* Run the pass's tasks until the queue says done. */
__device__ static void gn_dev_work(struct gn_dev *d, const struct gn_block_smem &sm,
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
        v.upd_rows = d->upd_rows;
        v.upd_base = d->upd_base;
        v.upd_done = d->upd_done;
        v.tile = d->cfg.tile;
        v.inject_stuck_step = d->cfg.inject_stuck_step;
#ifdef GN_DIAG_TWICE
        gn_dev_diag_run = 0;
#endif
    }
    __syncthreads();
    uint32_t next = GN_QUEUE_DONE; /* thread 0: the continuation */
    for (;;) {
        if (threadIdx.x == 0) {
            uint32_t task;
            gn_dev_clock_mark(-1);
            enum gn_status st = gn_dag_take(&d->queue, w, &next, &task);
            if (st == GN_ERR_DEVICE) gn_dev_fault(d, GN_CUDA_FAULT_STUCK, -1, step, w->worker);
            s_task = st == GN_OK ? task : GN_QUEUE_DONE;
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
        struct gn_dag_span span = {0, 0};
        if (succ_reader) span = gn_dag_span_of(&v.dag, id);
        const uint64_t t0 = threadIdx.x == 0 ? gn_clock_ns() : 0;
        const struct gn_task k = gn_task_decode(&v.tm, id);
        if (k.pos < 1 || k.pos >= v.m.n_groups) {
            if (threadIdx.x == 0) gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, id);
            break;
        }
        /* the group at the task's position and its record, one load
         * (gn_pos_rec) */
        const struct gn_pos_rec pr = v.pos_rec[k.pos];
        const int32_t g = pr.g;
        if (succ_reader) gn_dag_succ_fill(&v.dag, span, &gn_dev_succ_sm);
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
        __syncthreads();
        if (threadIdx.x == 0) {
            gn_dev_clock_mark(GN_CUDA_PROF_FORWARD + k.kind);
            /* the release of the block's results is gn_dag_finish_succ's
             * fence (cumulative over the block's writes, ordered before it
             * by the __syncthreads above, which also publishes the
             * successors read meanwhile); a continuation runs on this block */
            if (gn_dag_finish_succ(&v.dag, &d->queue, &gn_dev_succ_sm, w, &next) != GN_OK)
                gn_dev_fault(d, GN_CUDA_FAULT_INVARIANT, g, step, id);
            gn_dev_kind_ns_sm[k.kind] += gn_clock_ns() - t0;
            gn_dev_clock_mark(GN_CUDA_PROF_FINISH);
        }
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
 * grid barriers, the opening one and the closing one. begun: block 0
 * opened the queue (gn_dev_begin_pass) before a grid barrier every block
 * has passed since (the training step's data barrier), which saves this
 * pass its opening one. */
__device__ static bool gn_dev_pass(struct gn_dev *d, const struct gn_block_smem &sm,
                                   struct gn_dag *dag, struct gn_queue_worker *w, int64_t step,
                                   bool begun = false)
{
    if (!begun) {
        if (blockIdx.x == 0 && threadIdx.x == 0) gn_dev_begin_pass(d, dag, step);
        if (!gn_dev_barrier(d, step)) return false;
    }
    gn_dev_work(d, sm, dag, w, step);
    if (threadIdx.x == 0) gn_dev_kind_flush(d->kind_ns);
    return gn_dev_barrier(d, step);
}

#endif
