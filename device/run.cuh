/*
 * The CUDA backend's device side: one persistent cooperative kernel runs the
 * whole training run. The layers, each a file:
 *
 *   common.cuh     block shape, the CUDA check macro, arithmetic macros
 *   state.cuh      the device state (struct gn_dev: the model, buffers,
 *                  queue, DAGs, barrier)
 *   block_ops.cuh  block-level task math beside its reference in ops.c
 *   worker.cuh     faults, the grid barrier, the worker loop and a pass
 *   grow.cuh       growth and the rebuild of the topology and task DAGs
 *   run.cuh        this file: the run, step by step
 *   kernel.cu,     its two entries (two blocks an SM, one), each its own
 *   kernel_1.cu    translation unit
 *   launch.cu      the host half: allocation, launch, polling
 *
 * Per step:
 *   1. block 0 waits for the step's batch flag in mapped memory (bounded);
 *                                                              grid barrier
 *      (after a plain step, one with no pruning or growth round, trace
 *      record, epoch end, checkpoint nor the run's end: gn_dev_plain_end,
 *      this happened before the previous step's closing barrier, which
 *      opened this step's pass: gn_dev_next_step, one grid barrier a step)
 *   2. a pass of the training DAG through the queue (worker.cuh): forward
 *      (group, tile), the output's forward with the loss, backward (group,
 *      tile), update (group part: weight gradients, the optimizer's rule
 *      at the step's rate (optim.h, shared with the host); the last part the
 *      growth statistic);
 *   3. block 0 sums the step's loss (warp 0, ops.h's order), publishes the counters,
 *      marks the batch slot consumed;
 *   4. on a growth step, a round of the shared growth rules (grow.cuh);
 *   5. at an epoch's end the test set is evaluated by forward passes
 *      through the same queue.
 *
 * Determinism: every output element is accumulated in a fixed order,
 * reductions have fixed shapes (the step loss too: ops.h's tiles and tree),
 * and growth decisions use positions, not the slots the pools
 * hand out. Two runs with the same seed give the same bits, and the same
 * bits as the serial backend (the products and sums rounded as the host
 * rounds them, expf/logf the shared gn_expf/gn_logf of mathf.h, the growth
 * statistic the shared formula of stat.h).
 */
#ifndef GN_DEVICE_RUN_CUH
#define GN_DEVICE_RUN_CUH

#include <stdio.h>
#include <string.h>

#include "grow.cuh"
#include "prune.cuh"

__device__ static void gn_dev_publish(struct gn_dev *d, int64_t step, double loss_sum,
                                      int64_t hits, int64_t seen)
{
    struct gn_cuda_ctl *c = d->ctl;
    c->loss_sum = loss_sum;
    c->hits = hits;
    c->seen = seen;
    c->tasks = (int64_t)gn_atomic_load_relaxed_u64(&d->tasks);
    c->groups = d->m.n_groups;
    c->edges = d->m.n_edges;
    c->params = d->m.n_params;
    c->duplications = d->m.duplications;
    c->refused = d->m.refused;
    c->pruned = d->m.pruned;
    c->t_forward_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_FORWARD]);
    c->t_backward_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_BACKWARD]);
    c->t_update_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_UPDATE]);
    c->high_water = gn_atomic_load_relaxed_u32(&d->high_water);
    gn_fence_system();
    c->step = step;
    gn_fence_system();
}

/* Block 0, every thread: the loss and hits of the pass's rows in the one
 * order of every backend (ops.h, gn_loss_sum_rows): warp 0's lane l sums
 * its rows of a tile (gn_loss_lane), the shuffles run the halving tree
 * (lane i takes lane i + w), the tiles add up in row order. Only warp 0
 * works and no block barrier is needed; the result is thread 0's (the
 * other threads get zero). */
__device__ static void gn_dev_sum_rows(struct gn_dev *d, double *loss, int64_t *hits)
{
    double ls = 0.0;
    int64_t h = 0;
    if (threadIdx.x < GN_LOSS_LANES) {
        const int32_t rows = d->b.rows, lane = (int32_t)threadIdx.x;
        for (int32_t t0 = 0; t0 < rows; t0 += GN_LOSS_TILE) {
            uint32_t lh;
            double v = gn_loss_lane(d->b.row_loss + t0, d->b.row_hit + t0, min(GN_LOSS_TILE, rows - t0), lane,
                                    &lh);
#pragma unroll
            for (int32_t w = GN_LOSS_LANES / 2; w > 0; w >>= 1) {
                v = gn_loss_tree_step(v, __shfl_down_sync(0xffffffffu, v, w));
                lh += __shfl_down_sync(0xffffffffu, lh, w);
            }
            ls += v;
            h += lh;
        }
        if (lane != 0) ls = 0.0, h = 0;
    }
    *loss = ls;
    *hits = h;
}

/* Block 0's thread 0: when the counters were last published (shared
 * memory: a register live across the whole step loop would crowd the
 * inlined task math's allocation) */
static __shared__ uint64_t gn_dev_published_sm;

/* Block 0's thread 0: ns the leader waited for the host's data (slots'
 * and orders' records) so far. Shared memory, as gn_dev_published_sm. */
static __shared__ int64_t gn_dev_wait_ns_sm;

/* The leader: wait for a slot's record to say k (a minibatch slot: the
 * step; an order slot: the epoch), polling device memory, the host's stop
 * word every 32 polls; false when the host asked to stop or the data did
 * not come within the plan's data timeout (then the fault record says
 * GN_CUDA_FAULT_NO_DATA at `step`, with `index`). The wait adds to
 * gn_dev_wait_ns_sm. */
__device__ static __noinline__ bool gn_dev_wait_rec(struct gn_dev *d, const struct gn_cuda_slot *rec,
                                                    int64_t k, int64_t step, int32_t index)
{
    const uint64_t t0 = gn_clock_ns(), deadline = t0 + (uint64_t)d->cfg.data_timeout_ns;
    bool go = true;
    for (uint32_t spins = 0; gn_load_acquire_sys_i64(&rec->ready) != k + 1;) {
        if ((++spins & 31) == 0 && d->ctl->stop) {
            go = false;
            break;
        }
        if (spins > 32) __nanosleep(500);
        if ((spins & 1023) == 0 && gn_clock_ns() > deadline) {
            gn_dev_fault(d, GN_CUDA_FAULT_NO_DATA, -1, step, index);
            go = false;
            break;
        }
    }
    gn_dev_wait_ns_sm += (int64_t)(gn_clock_ns() - t0);
    return go;
}

/* Every block: its share of step `step`'s minibatch, assembled from the
 * training set on the device (rows gn_plan_batch_rows of the epoch's
 * order, whose slot the leader has waited for) into the pass's rows
 * (xring's first slot, yring's); a grid barrier must follow before any
 * task reads them. Rows go to blocks in turn, a row's floats to the
 * block's threads, 16 bytes at a time where the rows allow. */
__device__ static __noinline__ void gn_dev_gather(struct gn_dev *d, int64_t step)
{
    const struct gn_plan &cfg = d->cfg;
    int64_t i0;
    const int32_t n = gn_plan_batch_rows(&cfg, step, &i0);
    const int32_t *order =
        d->order + (step / cfg.steps_per_epoch % GN_CUDA_NORDER) * cfg.n_train + i0;
    const int32_t F = cfg.inputs;
    for (int32_t r = blockIdx.x; r < n; r += gridDim.x) {
        /* .cg: the loader rewrites the slot every other epoch */
        const int32_t src = __ldcg(order + r);
        const float *from = d->train_x + (int64_t)src * F;
        float *to = d->xring + (int64_t)r * F;
        if ((F & 3) == 0) {
            const float4 *f4 = reinterpret_cast<const float4 *>(from);
            float4 *t4 = reinterpret_cast<float4 *>(to);
            for (int32_t i = threadIdx.x; i < F / 4; i += NT) t4[i] = __ldg(f4 + i);
        } else {
            for (int32_t i = threadIdx.x; i < F; i += NT) to[i] = __ldg(from + i);
        }
        if (threadIdx.x == 0) d->yring[r] = __ldg(d->train_y + src);
    }
}

/* The leader: step `step`'s minibatch in d->b (a training set on the
 * device: the rows the blocks gather, gn_dev_gather; else the loader's
 * slot, waited for), and the host's stop request (a read of host memory,
 * every GN_CUDA_STOP_EVERY steps, and in the waits). False to stop. */
__device__ static inline bool gn_dev_batch_leader(struct gn_dev *d, int64_t step)
{
    const struct gn_plan &cfg = d->cfg;
    bool go = true;
    if (d->resident) {
        int64_t i0;
        d->b.x = d->xring;
        d->b.y = d->yring;
        d->b.rows = gn_plan_batch_rows(&cfg, step, &i0);
    } else {
        const int slot = (int)(step % GN_CUDA_NBUF);
        const struct gn_cuda_slot *rec = d->slot_rec + slot;
        go = gn_dev_wait_rec(d, rec, step, step, slot);
        d->b.x = d->xring + (int64_t)slot * cfg.batch * cfg.inputs;
        d->b.y = d->yring + (int64_t)slot * cfg.batch;
        d->b.rows = __ldcg(&rec->rows);
    }
    if (step % GN_CUDA_STOP_EVERY == 0 && d->ctl->stop) go = false;
    return go;
}

/* Every block, step `step`'s batch: a training set on the device is
 * assembled here from the epoch's order (whose slot the leader waits for
 * at the epoch's first step, behind a grid barrier of its own); else the
 * leader waits for the loader's slot. Then the leader opens the pass's
 * queue, and the grid barrier that opens the pass. False when the run ends
 * here (aborted, or the host asked to stop). Not inlined: its few live
 * values stay out of the step loop's register allocation, which the
 * inlined task math fills. */
__device__ static __noinline__ bool gn_dev_step_batch(struct gn_dev *d, int64_t step)
{
    const struct gn_plan &cfg = d->cfg;
    const bool leader = blockIdx.x == 0 && threadIdx.x == 0;
    if (d->resident && (step == cfg.first_step || step % cfg.steps_per_epoch == 0)) {
        if (leader) {
            gn_dev_clock_mark(-1);
            const int64_t ep = step / cfg.steps_per_epoch;
            const bool go = gn_dev_wait_rec(d, d->order_rec + ep % GN_CUDA_NORDER, ep, step,
                                            GN_CUDA_NBUF + (int32_t)(ep % GN_CUDA_NORDER));
            d->ctl->order_epoch = ep; /* the slot of epoch ep - 1 is free */
            gn_atomic_store_relaxed_u32(&d->stopping, go ? 0u : 1u);
            gn_dev_clock_mark(GN_CUDA_PROF_DATA);
        }
        if (!gn_dev_barrier(d, step) || gn_atomic_load_relaxed_u32(&d->stopping)) return false;
    }
    if (d->resident) gn_dev_gather(d, step);
    if (leader) {
        gn_dev_clock_mark(-1);
        const bool go = gn_dev_batch_leader(d, step);
        gn_atomic_store_relaxed_u32(&d->stopping, go ? 0u : 1u);
        /* the training pass's queue opens here: every block has left the
         * previous step's passes (their closing barriers), and the barrier
         * below is the pass's opening one */
        if (go) gn_dev_begin_pass(d, &d->train, step);
        gn_dev_clock_mark(GN_CUDA_PROF_DATA);
    }
    /* a stop request: every block sees the same word after the barrier */
    return gn_dev_barrier(d, step) && !gn_atomic_load_relaxed_u32(&d->stopping);
}

/* Thread 0: wait until the host makes ready() true (a checkpoint copied,
 * room in the trace's rings): true, or false when the host asked to stop,
 * the run aborted, or half the barrier timeout passed (then the fault
 * record says GN_CUDA_FAULT_SNAPSHOT at `step`, with `index`). */
template <class Ready>
__device__ static bool gn_dev_wait_host(struct gn_dev *d, int64_t step, int64_t index, Ready ready)
{
    const uint64_t deadline = gn_clock_ns() + (uint64_t)d->cfg.wait_timeout_ns / 2;
    for (uint32_t spins = 0; !ready();) {
        if (d->ctl->stop || gn_dev_aborted(d)) return false;
        if (++spins > 32) __nanosleep(1000);
        if ((spins & 1023) == 0 && gn_clock_ns() > deadline) {
            gn_dev_fault(d, GN_CUDA_FAULT_SNAPSHOT, -1, step, index);
            return false;
        }
    }
    return true;
}

/* Block 0, every thread: the trace's record of the step that made `done`
 * steps (cuda_api.h), after its growth; a snapshot of the model where a
 * trace record may fall. Thread 0 waits for room in the rings first; it
 * keeps the counts of records written in *n_steps and *n_snaps (thread 0's
 * alone: the other threads' copies stay 0). */
__device__ static __noinline__ void gn_dev_trace(struct gn_dev *d, int64_t done, bool grew,
                                                 bool pruned, double loss_sum, int64_t hits,
                                                 int64_t *n_steps, int64_t *n_snaps)
{
    const struct gn_plan &cfg = d->cfg;
    struct gn_cuda_ctl *c = d->ctl;
    const struct gn_model *m = &d->m;
    const bool snap = (cfg.trace_every > 0 && done % cfg.trace_every == 0) || grew || pruned ||
                      done == cfg.steps_total;
    /* the counts are thread 0's: the block learns the slot from it */
    __shared__ int s_ok;
    __shared__ int64_t s_slot;
    if (threadIdx.x == 0) {
        const int64_t ns = *n_steps, nn = *n_snaps;
        s_ok = gn_dev_wait_host(d, done, 1, [=] {
            return ns - gn_load_acquire_sys_i64(&c->trace_steps_read) < GN_CUDA_TRACE_STEPS &&
                   !(snap && nn - gn_load_acquire_sys_i64(&c->trace_snaps_read) >= GN_CUDA_TRACE_SNAPS);
        });
        s_slot = nn % GN_CUDA_TRACE_SNAPS;
    }
    __syncthreads();
    if (!s_ok) return;
    if (snap) {
        unsigned char *slot = d->tsnaps + (size_t)s_slot * d->tslot;
        struct gn_cuda_trace_snap *h = (struct gn_cuda_trace_snap *)slot;
        const int32_t ng = m->n_groups, ne = m->n_edges;
        /* the records other blocks wrote (statistics, growth): through L2 */
        const int32_t *src_g = (const int32_t *)m->groups;
        int32_t *dst_g = (int32_t *)(slot + sizeof *h);
        const int32_t wg = ng * (int32_t)(sizeof(struct gn_group) / 4);
        for (int32_t i = threadIdx.x; i < wg; i += NT) dst_g[i] = __ldcg(src_g + i);
        const int32_t *src_e = (const int32_t *)m->edges;
        int32_t *dst_e = (int32_t *)(slot + sizeof *h + (size_t)m->max_groups * sizeof(struct gn_group));
        const int32_t we = ne * (int32_t)(sizeof(struct gn_edge) / 4);
        for (int32_t i = threadIdx.x; i < we; i += NT) dst_e[i] = __ldcg(src_e + i);
        int32_t *dst_o = (int32_t *)((unsigned char *)dst_e + (size_t)m->max_edges * sizeof(struct gn_edge));
        for (int32_t i = threadIdx.x; i < ng; i += NT) dst_o[i] = __ldcg(m->order + i);
        if (threadIdx.x == 0) {
            h->step = done;
            h->n_groups = ng;
            h->n_edges = ne;
            h->duplications = m->duplications;
            h->refused = m->refused;
            h->pruned = m->pruned;
            h->n_params = m->n_params;
            int32_t n = 0;
            if (grew)
                for (int32_t p = 1; p < d->ev_n - 1 && n < GN_CUDA_TRACE_EVENTS; p++) {
                    if (__ldcg(&d->ev[p].parent) < 0) continue;
                    h->events[n].parent = __ldcg(&d->ev[p].parent);
                    h->events[n].child = __ldcg(&d->ev[p].child);
                    h->events[n].kind = __ldcg(&d->ev[p].kind);
                    h->events[n].grad_std = __ldcg(&d->ev[p].grad_std);
                    n++;
                }
            h->n_events = n;
            h->prune_step = pruned ? done : 0;
            h->plog.n_pruned = h->plog.n_moved = 0;
            if (pruned && d->plog_step == done) h->plog = d->plog;
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        struct gn_cuda_trace_step *r = &d->tsteps[*n_steps % GN_CUDA_TRACE_STEPS];
        r->step = done;
        r->loss_sum = loss_sum;
        r->hits = hits;
        r->rows = d->b.rows;
        r->snap = snap;
        gn_fence_system(); /* the records before the counts the host acquires */
        if (snap) c->trace_snaps = ++*n_snaps;
        c->trace_steps = ++*n_steps;
        gn_fence_system();
    }
}

/* Block 0's thread 0's books of the run (other blocks' copies are
 * unused): the epoch's sums, the step's, the epochs and trace records
 * written, the numeric guard's epoch state. In shared memory: values live
 * across the whole step loop take registers from the inlined task math
 * (docs/PERF.md, twelfth round: the one-block entry's task math ran up to
 * 18% faster without them, the two-block entry's within 1-2%). */
struct gn_dev_books {
    double loss_sum, step_loss;
    /* steps_done: the steps whose sums are in loss_sum, hits and seen (the
     * run's last publication says this step, not the last one published
     * during the run, which may be older) */
    int64_t hits, seen, grow_ns, epochs_done, step_hits, trace_steps, trace_snaps, steps_done;
    int32_t dead_epochs, pad_;
};
static __shared__ struct gn_dev_books gn_dev_books_sm;

/* Block 0, every thread: the books of step `step` once its pass is over:
 * the loss and hits of its rows summed (ops.h's order), the epoch's sums, the
 * step's log entries, its minibatch slot marked consumed, and the live
 * counters published for the host's poll. */
__device__ static __noinline__ void gn_dev_book(struct gn_dev *d, int64_t step)
{
    struct gn_dev_books &bk = gn_dev_books_sm;
    if (threadIdx.x == 0) gn_dev_clock_mark(-1);
    double ls;
    int64_t h;
    gn_dev_sum_rows(d, &ls, &h);
    if (threadIdx.x == 0) {
        bk.step_loss = ls;
        bk.step_hits = h;
        bk.loss_sum += ls;
        bk.hits += h;
        bk.seen += d->b.rows;
        bk.steps_done = step + 1;
        if (step < GN_CUDA_LOSS_LOG) {
            d->step_loss[step] = ls / d->b.rows;
            d->step_time[step] = (int64_t)(gn_clock_ns() - d->t_start);
        }
        d->ctl->consumed[step % GN_CUDA_NBUF] = step + 1;
        d->ctl->t_wait_data_ns = gn_dev_wait_ns_sm;
        /* the counters for the host's poll (every few ms): at most every
         * GN_CUDA_PUBLISH_NS, and at an epoch's and the run's end (their
         * two system fences cost microseconds) */
        const uint64_t now = gn_clock_ns();
        if (now - gn_dev_published_sm >= GN_CUDA_PUBLISH_NS || step + 1 == d->cfg.steps_total ||
            (step + 1) % d->cfg.steps_per_epoch == 0) {
            gn_dev_publish(d, step + 1, bk.loss_sum, bk.hits, bk.seen);
            gn_dev_published_sm = now;
        }
        gn_dev_clock_mark(GN_CUDA_PROF_BOOK);
    }
}

/* The leader, after step `step`'s books (and its growth): the numeric guard
 * of numguard.h, where the host backends run it (the groups' statistics
 * were tested as the update tasks made them: stat_bad). The host words the
 * message from the model it downloads (gn_numguard_step), so it is theirs. */
__device__ static void gn_dev_guard_step(struct gn_dev *d, int64_t step)
{
    const struct gn_dev_books &bk = gn_dev_books_sm;
    if (gn_guard_loss(bk.step_loss, d->b.rows, d->cfg.explode_loss) ||
        gn_atomic_load_relaxed_u32(&d->stat_bad)) {
        d->ctl->fault_loss = bk.step_loss;
        gn_dev_fault(d, GN_CUDA_FAULT_NUMERIC, -1, step + 1, d->b.rows);
    }
}

/* Whether the end of step `step` is plain (plan.h, gn_plan_plain_end: the
 * rule every backend's statistic follows too). */
__device__ static inline bool gn_dev_plain_end(const struct gn_plan &cfg, int64_t step)
{
    return gn_plan_plain_end(&cfg, step) != 0;
}

/* Every block, at a plain end (gn_dev_plain_end) of step `step`: the next
 * step's pass opens at this pass's closing barrier, one grid barrier
 * instead of two. Once any block is out of its work every task of the pass
 * has finished (the queue's done count), so before that barrier each block
 * gathers its rows of the next minibatch (a training set on the device),
 * block 0 keeps the step's books and the leader runs the numeric guard,
 * puts the next minibatch in d->b and reads the host's stop request, side
 * by side; the last block to arrive opens the next pass's queue while the
 * others wait (gn_dev_barrier_then). False when the run ends here. */
__device__ static __noinline__ bool gn_dev_next_step(struct gn_dev *d, int64_t step)
{
    const int64_t next = step + 1;
    if (d->resident) gn_dev_gather(d, next);
    if (blockIdx.x == 0) {
        gn_dev_book(d, step);
        __syncthreads(); /* the block's reads of d->b.rows are over */
        if (threadIdx.x == 0) {
            gn_dev_guard_step(d, step);
            gn_dev_clock_mark(-1);
            gn_atomic_store_relaxed_u32(&d->stopping, gn_dev_batch_leader(d, next) ? 0u : 1u);
            gn_dev_clock_mark(GN_CUDA_PROF_DATA);
        }
    }
    const bool ok = gn_dev_barrier_then(d, step, [=] {
        if (!gn_atomic_load_relaxed_u32(&d->stopping)) gn_dev_begin_pass(d, &d->train, next);
    });
    return ok && !gn_atomic_load_relaxed_u32(&d->stopping);
}

/* The whole run, the body of both entries below. */
__device__ static __forceinline__ void gn_persistent_run(struct gn_dev *d)
{
    __shared__ double lane_sums[GN_STAT_LANES];
    const struct gn_block_smem sm =
        gn_block_smem_carve(d->smem_stage, d->smem_acc, lane_sums);

    struct gn_queue_worker w;
    memset(&w, 0, sizeof w);
    w.worker = blockIdx.x;
    const bool leader = blockIdx.x == 0 && threadIdx.x == 0;
    const struct gn_plan cfg = d->cfg;
    struct gn_dev_books &bk = gn_dev_books_sm;
    bool opened = false; /* the step's pass opened at the previous step's end */
    /* the step loop's pass (below): eval at an epoch's end, over the test
     * rows from i0, their loss and hits summed so far in tl and th */
    bool eval = false;
    int64_t i0 = 0;
    double tl = 0.0;
    int64_t th = 0;

    if (threadIdx.x == 0) {
        /* the task math reads edges through the lists' records (published
         * to the block by the rebuild's barriers below) */
        gn_block_rec_sm[0] = d->in_rec;
        gn_block_rec_sm[1] = d->out_rec;
        gn_dev_pre_init();
        gn_block_tma_init();
        memset(gn_dev_kind_ns_sm, 0, sizeof gn_dev_kind_ns_sm);
        memset(&gn_dev_clock_sm, 0, sizeof gn_dev_clock_sm);
        gn_dev_clock_sm.other = GN_CUDA_PROF_OTHER;
        gn_dev_clock_sm.at = clock64();
        gn_dev_published_sm = 0;
        gn_dev_wait_ns_sm = 0;
        /* a resumed run starts at first_step with its epoch's sums so far */
        memset(&bk, 0, sizeof bk);
        bk.loss_sum = d->cfg.first_loss_sum;
        bk.hits = d->cfg.first_hits;
        bk.seen = d->cfg.first_seen;
        bk.dead_epochs = d->cfg.first_guard;
        bk.steps_done = d->cfg.first_step;
    }
    __syncthreads();
    if (leader) d->t_start = gn_clock_ns();
    if (!gn_dev_rebuild_dags(d, 0)) goto out;

    /* The step loop runs one pass an iteration: the training pass of
     * `step`, or at its epoch's end (eval) one evaluation pass over the
     * test rows from i0. One call site of gn_dev_pass for both: NVVM
     * inlines the worker loop, and every op under it, at each call site,
     * and a second site (the evaluation's, run once an epoch) was ~60 % of
     * the entry's machine code and half its compile (docs/PERF.md,
     * thirty-third and thirty-fourth rounds). */
    for (int64_t step = cfg.first_step; step < cfg.steps_total;) {
        /* 1. the pass's rows: the training batch, then the pass's opening
         * barrier (unless opened); or the leader points d->b at the test
         * rows, which the pass's opening barrier publishes */
        bool plain = false;
        if (!eval) {
            if (!opened && !gn_dev_step_batch(d, step)) goto out;
            opened = false;
            /* the step's optimizer constants (the pass's first barrier
             * publishes them to the block); a plain end leaves the pass
             * without its closing barrier: gn_dev_next_step's closes it
             * and opens the next */
            if (threadIdx.x == 0) gn_dev_optim_sm = gn_optim_at(&cfg.optim, step);
            plain = gn_dev_plain_end(cfg, step);
        } else if (leader) {
            d->b.x = d->test_x + i0 * cfg.inputs;
            d->b.y = d->test_y + i0;
            d->b.rows = (int32_t)min((int64_t)cfg.batch, cfg.test_count - i0);
        }

        /* 2. the pass's tasks */
        if (!gn_dev_pass(d, sm, eval ? &d->eval : &d->train, &w, step, !eval, eval || !plain))
            goto out;

        bool record; /* the epoch's record is due */
        if (eval) {
            if (blockIdx.x == 0) {
                double l;
                int64_t h;
                gn_dev_sum_rows(d, &l, &h);
                tl += l;
                th += h;
            }
            i0 += cfg.batch;
            if (i0 < cfg.test_count) continue;
            eval = false;
            record = true;
        } else {
            if (threadIdx.x == 0) {
                /* the live counters: this block's own slot, no atomics */
                d->bstat[blockIdx.x].tasks = (int64_t)w.popped;
                d->bstat[blockIdx.x].high_water = w.high_water;
            }
            if (plain) {
                if (!gn_dev_next_step(d, step)) goto out;
                opened = true;
                step++;
                continue;
            }

            /* 3. bookkeeping by block 0 */
            if (blockIdx.x == 0) gn_dev_book(d, step);

            /* 4. pruning (prune.cuh), then growth */
            const bool grew = cfg.grow != GN_GROW_OFF && (step + 1) % cfg.grow_every == 0;
            if (cfg.prune_threshold > 0.0f && (step + 1) % cfg.grow_every == 0 &&
                !gn_dev_prune(d, step))
                goto out;
            if (grew) {
                const uint64_t g0 = gn_clock_ns();
                gn_dev_phase(GN_CUDA_PROF_GROW);
                const bool grown = gn_dev_grow(d, step);
                gn_dev_phase(GN_CUDA_PROF_OTHER);
                if (!grown) goto out;
                if (leader) {
                    bk.grow_ns += (int64_t)(gn_clock_ns() - g0);
                    d->ctl->t_growth_ns = bk.grow_ns;
                    gn_dev_publish(d, step + 1, bk.loss_sum, bk.hits, bk.seen);
                }
            }

            /* the numeric guard, after the step's growth */
            if (leader) gn_dev_guard_step(d, step);
            /* the growth trace (--trace): the step's record, then its epoch's */
            if (cfg.trace && blockIdx.x == 0)
                gn_dev_trace(d, step + 1, grew,
                             cfg.prune_threshold > 0.0f && (step + 1) % cfg.grow_every == 0,
                             bk.step_loss, bk.step_hits, &bk.trace_steps, &bk.trace_snaps);

            /* 5. epoch end (and the run's): the test set's passes next, on
             * the device, then the epoch's record */
            record = (step + 1) % cfg.steps_per_epoch == 0 || step + 1 == cfg.steps_total;
            if (record) {
                tl = 0.0;
                th = 0;
                i0 = 0;
                if (cfg.test_count > 0) {
                    eval = true;
                    continue;
                }
            }
        }

        if (record && leader) {
            const bool epoch_end = (step + 1) % cfg.steps_per_epoch == 0;
            struct gn_cuda_epoch *e = &d->epochs[bk.epochs_done];
            e->step = step + 1;
            e->loss_sum = bk.loss_sum;
            e->hits = bk.hits;
            e->seen = bk.seen;
            e->test_loss_sum = tl;
            e->test_hits = th;
            e->groups = d->m.n_groups;
            e->edges = d->m.n_edges;
            e->duplications = d->m.duplications;
            e->refused = d->m.refused;
            e->dead_groups = gn_guard_dead_groups(&d->m);
            if (gn_guard_epoch(&bk.dead_epochs, bk.loss_sum, bk.seen, cfg.chance_loss,
                               (int32_t)e->dead_groups, epoch_end) &&
                cfg.on_nan == GN_NAN_STOP) {
                d->ctl->fault_loss = bk.loss_sum;
                gn_dev_fault(d, GN_CUDA_FAULT_DIED, (int32_t)e->dead_groups, step + 1, bk.seen);
            }
            gn_fence_system();
            d->ctl->epochs = bk.epochs_done + 1;
            gn_fence_system();
            bk.epochs_done++;
            if (epoch_end) {
                bk.loss_sum = 0.0;
                bk.hits = bk.seen = 0;
            }
        }

        /* 6. a periodic checkpoint: a pause at the step's end while the host
         * copies the model (every block is past the step's last barrier) */
        if (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0 &&
            step + 1 < cfg.steps_total) {
            if (leader) {
                struct gn_cuda_ctl *c = d->ctl;
                c->snap_loss_sum = bk.loss_sum;
                c->snap_hits = bk.hits;
                c->snap_seen = bk.seen;
                c->snap_grow_round = d->grow_round;
                c->snap_guard = bk.dead_epochs;
                gn_fence_system();
                c->snap_step = step + 1;
                gn_fence_system();
                gn_dev_wait_host(d, step + 1, 0,
                                 [=] { return gn_load_acquire_sys_i64(&c->snap_done) == step + 1; });
            }
            if (!gn_dev_barrier(d, step)) goto out;
        }
        step++;
    }

out:
    if (threadIdx.x == 0) {
        /* relaxed: statistics */
        gn_atomic_fetch_add_relaxed_u64(&d->tasks, w.popped);
        atomicMax(&d->high_water, w.high_water);
        gn_dev_clock_mark(-1);
        for (int i = 0; i < GN_CUDA_PROF_COUNT; i++)
            gn_atomic_fetch_add_relaxed_u64(&d->prof[i], gn_dev_clock_sm.cyc[i]);
    }
    if (!gn_dev_barrier(d, -1)) {
        /* aborted: fall through, the error record says why */
    }
    if (leader) {
        gn_dev_publish(d, bk.steps_done, bk.loss_sum, bk.hits, bk.seen);
        d->ctl->guard = bk.dead_epochs;
        d->ctl->state = gn_dev_aborted(d) ? GN_CUDA_FAILED
                                          : (d->ctl->stop ? GN_CUDA_STOPPED : GN_CUDA_FINISHED);
        gn_fence_system();
    }
}

#endif
