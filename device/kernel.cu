/*
 * The CUDA backend's device side: one persistent cooperative kernel runs the
 * whole training run.
 *
 * Workers are thread blocks (GN_CUDA_THREADS threads), as many as can be
 * resident (occupancy API; the cooperative launch guarantees co-residency,
 * which is what makes spinning on another block safe). Thread 0 of a block
 * talks to the scheduler (queue pops, dependency releases); the whole block
 * runs the task's math, with its shared memory owned for the whole run.
 *
 * Per step:
 *   1. block 0 waits for the step's batch flag in mapped memory (bounded),
 *      starts a queue pass;                                    grid barrier
 *   2. every block arms its slice of the task counters and pushes the roots
 *      (the shared core: gn_dag_arm);                          grid barrier
 *   3. every block pops tasks until the pass is done: forward (group, tile),
 *      the output's forward with the loss, backward (group, tile), update
 *      (group: weight gradients, the growth statistic by CUB block
 *      reductions, SGD); finishing a task releases its successors through
 *      the atomic in-degree counters (gn_dag_release);        grid barrier
 *   4. block 0 sums the step's loss in row order, publishes the counters,
 *      marks the batch slot consumed; at an epoch's end the test set is
 *      evaluated by forward passes through the same queue;
 *   5. on a growth step: mark (all blocks), choose (closest to the input),
 *      duplicate (each chosen group by one block, space bump-allocated from
 *      the pools with atomics, while the other blocks duplicate theirs),
 *      then block 0 rebuilds order, positions and edge lists, and all blocks
 *      rebuild the task DAG and its counters.
 *
 * No spin is unbounded: queue waits count spins without progress, barriers
 * and the data wait have deadlines on the global timer. A fault writes the
 * error record (what, which group, which step) and raises the abort flag;
 * every barrier and queue wait then falls through and the kernel exits.
 *
 * Determinism: every output element is accumulated in a fixed order (MAC,
 * in-edges by source position, k or rows increasing), block reductions have
 * a fixed shape, the step loss is summed by one thread in row order, and
 * growth decisions use positions, not the slots the pools hand out. Two runs
 * with the same seed give the same bits. Against the serial backend: the
 * products and sums are rounded as the host rounds them (no fma
 * contraction) and expf/logf are the shared gn_expf/gn_logf (mathf.h), so
 * the losses and weights match bitwise; only the growth statistic's
 * reduction has another shape (a tree of doubles instead of a sequence),
 * which can flip a decision only within ~1e-15 of the threshold.
 */
#include <stdio.h>
#include <string.h>

#include <cooperative_groups.h>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include "cuda_api.h"
#include "dag.h"
#include "grow.h"
#include "mathf.h"
#include "pool.h"
#include "queue.h"
#include "rng.h"
#include "taskgraph.h"

#define NT GN_CUDA_THREADS

/* Blocks per SM the register allocation must allow (occupancy). */
#ifndef GN_CUDA_MIN_BLOCKS
#define GN_CUDA_MIN_BLOCKS 2
#endif

/* acc + a * b rounded twice, never contracted into an fma: the same two
 * roundings as the host reference, so results match it to the last bit
 * wherever the order of operations matches. */
#define MAC(acc, a, b) __fadd_rn((acc), __fmul_rn((a), (b)))
#define KC 32 /* k (or j) chunk staged in shared memory */

/* Update tasks: a group's weight-gradient work is split into at most
 * GN_CUDA_MAX_PARTS parts of at least GN_CUDA_PART_ROWS input rows. */
#define GN_CUDA_MAX_PARTS 16
#define GN_CUDA_PART_ROWS 64

typedef cub::BlockReduce<double, NT> block_reduce;

/* Everything the kernel works on; one instance in device memory. */
struct gn_dev {
    struct gn_plan cfg;
    int32_t blocks;                   /* worker blocks of the launch */
    int32_t smem_a, smem_w, smem_acc; /* floats of each shared-memory region */
    struct gn_cuda_ctl *ctl;     /* mapped host memory */
    struct gn_cuda_epoch *epochs; /* mapped host memory */
    double *step_loss;            /* mapped: mean loss of each step */
    int64_t *step_time;           /* mapped: ns since the kernel started, at each step's end */
    uint64_t t_start;

    /* the model */
    struct gn_group *groups;
    struct gn_edge *edges;
    float *params, *grads, *moment;
    int32_t *order, *in_list, *out_list;
    int32_t *hid_in; /* (max_groups) in-edges from hidden groups */
    int32_t n_groups, n_edges;
    int64_t n_params;
    struct gn_pool pool_groups, pool_edges, pool_params;
    int64_t duplications, refused, grow_round;

    /* buffers */
    float *act, *dz, *row_loss;
    uint8_t *row_hit;
    float *xring;   /* (NBUF, batch, inputs) */
    uint8_t *yring; /* (NBUF, batch) */
    float *test_x;
    uint8_t *test_y;
    const float *x; /* this pass's input rows */
    const uint8_t *y;
    int32_t rows;

    /* the scheduler core */
    struct gn_queue queue;
    struct gn_dag train, eval;
    struct gn_taskmap tm;
    uint32_t dag_cap_tasks, dag_cap_edges;
    uint32_t *task_deg; /* scratch: successors per task while building */
    int32_t *upd_base;  /* (max_groups + 1) first update part of each position */
    int32_t *upd_pos;   /* (parts cap) position of each update part */
    int32_t *upd_rows;  /* (max_groups) input rows per update part, by slot */
    gn_atomic_u32 *upd_done; /* (max_groups) parts finished this step, by slot */
    double *part_sum, *part_sq; /* (parts cap) each part's gradient sums */
    uint32_t parts_cap;

    /* grid barrier and faults */
    gn_atomic_u32 bar_arrive, bar_gen, abort, chosen, stopping;
    gn_atomic_u64 kind_ns[GN_TASK_KIND_COUNT];
    gn_atomic_u64 tasks;
    gn_atomic_u32 high_water;

    /* growth scratch */
    int32_t *child_of; /* (max_groups) by slot */
    int32_t *scratch;  /* (max_groups) */
    int32_t *cursor;   /* (max_groups) */
};

/* ---- small device helpers -------------------------------------------- */

__device__ static inline uint64_t now_ns()
{
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

__device__ static inline int64_t ld_acquire_sys(volatile int64_t *p)
{
    int64_t v;
    asm volatile("ld.acquire.sys.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

/* Record the first fault and raise the abort flag. */
__device__ static void fault(struct gn_dev *d, int32_t what, int32_t group, int64_t step,
                             int64_t index)
{
    if (gn_atomic_cas_acq_rel_u32(&d->abort, 0, 1) == 0) {
        d->ctl->fault_group = group;
        d->ctl->fault_block = (int32_t)blockIdx.x;
        d->ctl->fault_step = step;
        d->ctl->fault_index = index;
        __threadfence_system();
        d->ctl->fault = what;
        __threadfence_system();
        /* wake queue waiters too */
        gn_queue_fault(&d->queue, GN_ERR_INTERRUPTED, blockIdx.x, (uint32_t)index);
    }
}

__device__ static inline bool aborted(struct gn_dev *d)
{
    return gn_atomic_load_relaxed_u32(&d->abort) != 0;
}

/*
 * Grid barrier (sense by generation). Thread 0 arrives with an acq_rel add;
 * the last arriver resets the count and releases the new generation; the
 * others acquire it. Bounded: a barrier that does not open before the
 * deadline is a fault; an abort lets everyone through. Returns false once
 * the run is aborted.
 */
__device__ static bool grid_barrier(struct gn_dev *d, int64_t step)
{
    __shared__ int ok;
    __syncthreads();
    if (threadIdx.x == 0) {
        /* acquire: pairs with the release of the generation below. */
        uint32_t gen = gn_atomic_load_acquire_u32(&d->bar_gen);
        __threadfence();
        /* acq_rel: publishes this block's writes to whoever opens the
         * barrier, and (release sequence) sees the earlier arrivals'. */
        uint32_t arrived = gn_atomic_fetch_add_acq_rel_u32(&d->bar_arrive, 1);
        if (arrived == gridDim.x - 1) {
            gn_atomic_store_relaxed_u32(&d->bar_arrive, 0);
            /* release: pairs with the acquire loads of waiters. */
            gn_atomic_store_release_u32(&d->bar_gen, gen + 1);
        } else {
            uint64_t deadline = now_ns() + (uint64_t)d->cfg.wait_timeout_ns;
            uint32_t spins = 0;
            while (gn_atomic_load_acquire_u32(&d->bar_gen) == gen) {
                if (aborted(d)) break;
                if (++spins > 64) {
                    __nanosleep(200);
                    if ((spins & 255) == 0 && now_ns() > deadline) {
                        fault(d, GN_CUDA_FAULT_BARRIER, -1, step, blockIdx.x);
                        break;
                    }
                }
            }
        }
        __threadfence();
        ok = !aborted(d);
    }
    __syncthreads();
    return ok;
}

/* ---- per-task math ---------------------------------------------------- */

struct smem_layout {
    float *a;   /* (tile, KC)  staged activations or errors */
    float *w;   /* (KC, max_width) or (max_width, KC) staged weights */
    float *acc; /* (tile, max_width) accumulators */
    typename block_reduce::TempStorage *reduce;
};

__device__ static inline const float *src_act(const struct gn_dev *d, int32_t s)
{
    return s == GN_SLOT_INPUT ? d->x : d->act + (int64_t)s * d->cfg.batch * d->cfg.max_width;
}

__device__ static inline float *act_of(const struct gn_dev *d, int32_t g)
{
    return d->act + (int64_t)g * d->cfg.batch * d->cfg.max_width;
}

__device__ static inline float *dz_of(const struct gn_dev *d, int32_t g)
{
    return d->dz + (int64_t)g * d->cfg.batch * d->cfg.max_width;
}

/* a_g = ReLU(b + sum over in-edges of a_src W) for rows [r0, r1); the
 * output's logits without ReLU. */
__device__ static void task_forward(struct gn_dev *d, const struct smem_layout &sm, int32_t g,
                                    int32_t r0, int32_t r1)
{
    const struct gn_group gr = d->groups[g];
    const int32_t n = gr.width, R = r1 - r0, tid = threadIdx.x;
    const float *bias = d->params + gr.bias;
    for (int32_t i = tid; i < R * n; i += NT) sm.acc[i] = __ldcg(bias + i % n);
    for (int32_t e = 0; e < gr.in_count; e++) {
        const struct gn_edge ed = d->edges[d->in_list[gr.in_begin + e]];
        const int32_t K = d->groups[ed.src].width;
        const float *a = src_act(d, ed.src) + (int64_t)r0 * K;
        const float *W = d->params + ed.w;
        for (int32_t k0 = 0; k0 < K; k0 += KC) {
            const int32_t kc = min(KC, K - k0);
            __syncthreads();
            for (int32_t i = tid; i < R * KC; i += NT) {
                int32_t r = i / KC, kk = i % KC;
                sm.a[i] = kk < kc ? __ldcg(a + (int64_t)r * K + k0 + kk) : 0.0f;
            }
            for (int32_t i = tid; i < kc * n; i += NT) sm.w[i] = __ldcg(W + (int64_t)k0 * n + i);
            __syncthreads();
            for (int32_t i = tid; i < R * n; i += NT) {
                const int32_t r = i / n, j = i % n;
                const float *ar = sm.a + r * KC;
                float s = sm.acc[i];
                for (int32_t kk = 0; kk < kc; kk++) s = MAC(s, ar[kk], sm.w[kk * n + j]);
                sm.acc[i] = s;
            }
        }
    }
    __syncthreads();
    float *out = act_of(d, g) + (int64_t)r0 * n;
    const bool relu = gr.kind == GN_GROUP_HIDDEN;
    for (int32_t i = tid; i < R * n; i += NT) {
        float v = sm.acc[i];
        out[i] = relu ? fmaxf(v, 0.0f) : v;
    }
}

/* Softmax cross-entropy for rows [r0, r1): a thread per row. */
__device__ static void task_loss(struct gn_dev *d, int32_t r0, int32_t r1)
{
    const int32_t C = d->cfg.classes;
    const float inv = 1.0f / (float)d->rows;
    for (int32_t r = r0 + (int32_t)threadIdx.x; r < r1; r += NT) {
        const float *z = act_of(d, GN_SLOT_OUTPUT) + (int64_t)r * C;
        float *dz = dz_of(d, GN_SLOT_OUTPUT) + (int64_t)r * C;
        int32_t best = 0;
        float mx = z[0];
        for (int32_t c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c], best = c;
        float sum = 0.0f;
        for (int32_t c = 0; c < C; c++) {
            float ex = gn_expf(__fsub_rn(z[c], mx));
            dz[c] = ex;
            sum += ex;
        }
        const int32_t y = d->y[r];
        d->row_loss[r] = __fsub_rn(gn_logf(sum), __fsub_rn(z[y], mx));
        d->row_hit[r] = best == y;
        const float is = 1.0f / sum;
        for (int32_t c = 0; c < C; c++)
            dz[c] = __fmul_rn(__fsub_rn(__fmul_rn(dz[c], is), c == y ? 1.0f : 0.0f), inv);
    }
}

/* dz_g for rows [r0, r1): error pulled from the successors, masked by ReLU'. */
__device__ static void task_backward(struct gn_dev *d, const struct smem_layout &sm, int32_t g,
                                     int32_t r0, int32_t r1)
{
    const struct gn_group gr = d->groups[g];
    const int32_t K = gr.width, R = r1 - r0, tid = threadIdx.x;
    for (int32_t i = tid; i < R * K; i += NT) sm.acc[i] = 0.0f;
    for (int32_t e = 0; e < gr.out_count; e++) {
        const struct gn_edge ed = d->edges[d->out_list[gr.out_begin + e]];
        const int32_t n = d->groups[ed.dst].width;
        const float *dt = dz_of(d, ed.dst) + (int64_t)r0 * n;
        const float *W = d->params + ed.w; /* (K, n) */
        for (int32_t j0 = 0; j0 < n; j0 += KC) {
            const int32_t jc = min(KC, n - j0);
            __syncthreads();
            for (int32_t i = tid; i < R * KC; i += NT) {
                int32_t r = i / KC, jj = i % KC;
                sm.a[i] = jj < jc ? __ldcg(dt + (int64_t)r * n + j0 + jj) : 0.0f;
            }
            /* rows padded to KC + 1 floats: the compute loop below reads one
             * column across a warp, which would otherwise hit one bank */
            for (int32_t i = tid; i < K * KC; i += NT) {
                int32_t k = i / KC, jj = i % KC;
                sm.w[k * (KC + 1) + jj] = jj < jc ? __ldcg(W + (int64_t)k * n + j0 + jj) : 0.0f;
            }
            __syncthreads();
            for (int32_t i = tid; i < R * K; i += NT) {
                const int32_t r = i / K, k = i % K;
                const float *dr = sm.a + r * KC, *wk = sm.w + k * (KC + 1);
                float s = 0.0f;
                for (int32_t jj = 0; jj < jc; jj++) s = MAC(s, dr[jj], wk[jj]);
                sm.acc[i] += s;
            }
        }
    }
    __syncthreads();
    const float *a = act_of(d, g) + (int64_t)r0 * K;
    float *out = dz_of(d, g) + (int64_t)r0 * K;
    for (int32_t i = tid; i < R * K; i += NT) out[i] = __ldcg(a + i) > 0.0f ? sm.acc[i] : 0.0f;
}

/* SGD with momentum on one entry (weight decay on weights, not biases),
 * rounded as the host rounds it. */
__device__ static inline void sgd_entry(struct gn_dev *d, int64_t q, float grad, float wd)
{
    const float lr = d->cfg.lr, mu = d->cfg.momentum;
    d->grads[q] = grad;
    float v = __fadd_rn(__fadd_rn(__fmul_rn(mu, d->moment[q]), grad), __fmul_rn(wd, d->params[q]));
    d->moment[q] = v;
    d->params[q] = __fsub_rn(d->params[q], __fmul_rn(lr, v));
}

/*
 * Update part `part` of group g: the weight gradients of one slice of the
 * group's input rows (the in-edges' blocks stacked in canonical order,
 * rows [part*KP, (part+1)*KP) of them; part 0 also the bias), each summed
 * over all rows of the batch in row order, then SGD on them, then the
 * slice's sum and sum of squares for the growth statistic. The part that
 * finishes last combines the parts' sums in part order into the group's
 * standard deviation.
 */
__device__ static void task_update(struct gn_dev *d, const struct smem_layout &sm, int32_t g,
                                   int32_t pos, int32_t part)
{
    const struct gn_group gr = d->groups[g];
    const int32_t n = gr.width, rows = d->rows, tid = threadIdx.x;
    const int32_t KP = d->upd_rows[g];
    const int32_t k0 = part * KP, k1 = k0 + KP;
    const float wd = d->cfg.weight_decay;
    const float *dz = dz_of(d, g);
    double lsum = 0.0, lsq = 0.0;
    if (part == 0) {
        /* db[j] = sum over rows of dz[r][j], in row order, from shared memory */
        float s = 0.0f;
        for (int32_t r0 = 0; r0 < rows; r0 += KC) {
            const int32_t rc = min(KC, rows - r0);
            __syncthreads();
            for (int32_t i = tid; i < rc * n; i += NT) sm.acc[i] = __ldcg(dz + (int64_t)r0 * n + i);
            __syncthreads();
            if (tid < n)
                for (int32_t r = 0; r < rc; r++) s = __fadd_rn(s, sm.acc[r * n + tid]);
        }
        for (int32_t j = tid; j < n; j += NT) {
            sgd_entry(d, gr.bias + j, s, 0.0f);
            lsum += s;
            lsq += (double)s * s;
        }
    }
    /* dW[k][j] = sum over r of a[r][k] dz[r][j]: chunks of KC rows staged in
     * shared memory; each thread owns up to 4 outputs of a chunk of 4*NT. */
    int32_t off = 0;
    for (int32_t e = 0; e < gr.in_count && off < k1; e++) {
        const struct gn_edge ed = d->edges[d->in_list[gr.in_begin + e]];
        const int32_t K = d->groups[ed.src].width;
        const int32_t a0 = max(k0, off) - off, a1 = min(k1, off + K) - off;
        off += K;
        if (a0 >= a1) continue;
        const float *a = src_act(d, ed.src);
        const int32_t outs = (a1 - a0) * n;
        for (int32_t o0 = 0; o0 < outs; o0 += 4 * NT) {
            const int32_t kbase = a0 + o0 / n;
            const int32_t kspan = min(a1 - kbase, (4 * NT) / n + 2);
            float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int32_t r0 = 0; r0 < rows; r0 += KC) {
                const int32_t rc = min(KC, rows - r0);
                __syncthreads();
                for (int32_t i = tid; i < rc * n; i += NT)
                    sm.acc[i] = __ldcg(dz + (int64_t)r0 * n + i);
                for (int32_t i = tid; i < rc * kspan; i += NT)
                    sm.a[i] = __ldcg(a + (int64_t)(r0 + i / kspan) * K + kbase + i % kspan);
                __syncthreads();
                for (int32_t q = 0; q < 4; q++) {
                    const int32_t o = o0 + tid + q * NT;
                    if (o >= outs) break;
                    const int32_t k = a0 + o / n - kbase, j = o % n;
                    float s = acc[q];
                    for (int32_t r = 0; r < rc; r++) s = MAC(s, sm.a[r * kspan + k], sm.acc[r * n + j]);
                    acc[q] = s;
                }
            }
            for (int32_t q = 0; q < 4; q++) {
                const int32_t o = o0 + tid + q * NT;
                if (o >= outs) break;
                sgd_entry(d, ed.w + (int64_t)a0 * n + o, acc[q], wd);
                lsum += acc[q];
                lsq += (double)acc[q] * acc[q];
            }
        }
    }
    __syncthreads();
    double tsum = block_reduce(*sm.reduce).Sum(lsum);
    __syncthreads();
    double tsq = block_reduce(*sm.reduce).Sum(lsq);
    if (tid == 0) {
        const int32_t base = d->upd_base[pos], parts = d->upd_base[pos + 1] - base;
        d->part_sum[base + part] = tsum;
        d->part_sq[base + part] = tsq;
        __threadfence();
        /* acq_rel: publishes this part's sums; the last part's acquire sees
         * every other part's. */
        if (gn_atomic_fetch_add_acq_rel_u32(&d->upd_done[g], 1) == (uint32_t)parts - 1) {
            __threadfence();
            double S = 0.0, Q = 0.0, cnt = n;
            for (int32_t p = 0; p < parts; p++) {
                S += __ldcg(&d->part_sum[base + p]);
                Q += __ldcg(&d->part_sq[base + p]);
            }
            for (int32_t e = 0; e < gr.in_count; e++)
                cnt += (double)d->groups[d->edges[d->in_list[gr.in_begin + e]].src].width * n;
            const double mean = S / cnt, var = Q / cnt - mean * mean;
            d->groups[g].grad_std = (float)sqrt(var > 0.0 ? var : 0.0);
            gn_atomic_store_relaxed_u32(&d->upd_done[g], 0);
        }
    }
}

/* ---- one pass through the queue -------------------------------------- */

/* Fault injection (GN_CUDA_INJECT_STUCK, tests only): the block holding the
 * chosen task spins on it without finishing it. Its successors never become
 * ready, so every other worker ends up waiting in gn_queue_pop with no
 * progress, and the queue's bounded wait must record GN_CUDA_FAULT_STUCK.
 * The spin ends as soon as the run aborts, and after its own generous limit
 * (a detection that failed lets the run go on, which the test sees). */
#define GN_CUDA_INJECT_LIMIT_NS (60ull * 1000000000ull)

__device__ static void inject_stuck(struct gn_dev *d)
{
    if (threadIdx.x == 0) {
        const uint64_t end = now_ns() + GN_CUDA_INJECT_LIMIT_NS;
        while (!aborted(d) && now_ns() < end) __nanosleep(1000);
    }
    __syncthreads();
}

/* Run the pass's tasks until the queue says done. Thread 0 pops and
 * releases; the block runs the math. */
__device__ static void work(struct gn_dev *d, const struct smem_layout &sm, struct gn_dag *dag,
                            struct gn_queue_worker *w, int64_t step)
{
    __shared__ uint32_t s_task;
    uint32_t next = GN_QUEUE_DONE; /* thread 0: a successor this block made ready */
    for (;;) {
        if (threadIdx.x == 0) {
            uint32_t task = next;
            if (task == GN_QUEUE_DONE) {
                enum gn_status st = gn_queue_pop(&d->queue, &task, w);
                if (st == GN_ERR_DEVICE) fault(d, GN_CUDA_FAULT_STUCK, -1, step, w->worker);
                if (st != GN_OK) task = GN_QUEUE_DONE;
            }
            s_task = task;
            __threadfence();
        }
        __syncthreads();
        const uint32_t id = s_task;
        if (id == GN_QUEUE_DONE) break;
        uint64_t t0 = threadIdx.x == 0 ? now_ns() : 0;
        const struct gn_task k = gn_task_decode(&d->tm, id);
        if (k.pos < 1 || k.pos >= d->n_groups) {
            if (threadIdx.x == 0) fault(d, GN_CUDA_FAULT_INDEX, -1, step, id);
            break;
        }
        const int32_t g = d->order[k.pos];
        const int32_t r0 = k.tile * d->cfg.tile, r1 = min(d->rows, r0 + d->cfg.tile);
        /* the injected stuck task: the output's first forward tile of the
         * chosen training step */
        if (d->cfg.inject_stuck_step > 0 && step + 1 == d->cfg.inject_stuck_step &&
            dag == &d->train && k.kind == GN_TASK_FORWARD && k.pos == d->n_groups - 1 &&
            k.tile == 0)
            inject_stuck(d);
        switch (k.kind) {
        case GN_TASK_FORWARD:
            if (r0 < r1) {
                task_forward(d, sm, g, r0, r1);
                if (g == GN_SLOT_OUTPUT) {
                    __syncthreads();
                    task_loss(d, r0, r1);
                }
            }
            break;
        case GN_TASK_BACKWARD:
            if (r0 < r1) task_backward(d, sm, g, r0, r1);
            break;
        case GN_TASK_UPDATE: task_update(d, sm, g, k.pos, k.tile); break;
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            __threadfence();
            /* the first successor made ready runs next on this block: no
             * push and no wait on a chain's critical path */
            enum gn_status st = gn_dag_release_next(dag, &d->queue, id, w, &next);
            if (st != GN_OK) fault(d, GN_CUDA_FAULT_INVARIANT, g, step, id);
            gn_queue_finish(&d->queue, w);
            /* continuations must still count their tasks done now and then:
             * waiters judge progress by it */
            if (next != GN_QUEUE_DONE && w->unflushed >= 16) gn_queue_flush(&d->queue, w);
            gn_atomic_fetch_add_relaxed_u64(&d->kind_ns[k.kind], now_ns() - t0);
        }
    }
}

/* A whole queue pass over dag with the current x/y/rows. */
__device__ static bool pass(struct gn_dev *d, const struct smem_layout &sm, struct gn_dag *dag,
                            struct gn_queue_worker *w, int64_t step)
{
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        if (gn_queue_begin_pass(&d->queue, dag->n_tasks) != GN_OK)
            fault(d, GN_CUDA_FAULT_INVARIANT, -1, step, dag->n_tasks);
    }
    if (!grid_barrier(d, step)) return false;
    if (threadIdx.x == 0) {
        uint32_t per = (dag->n_tasks + gridDim.x - 1) / gridDim.x;
        uint32_t lo = min(dag->n_tasks, per * blockIdx.x), hi = min(dag->n_tasks, lo + per);
        if (gn_dag_arm(dag, &d->queue, lo, hi, w) != GN_OK)
            fault(d, GN_CUDA_FAULT_INVARIANT, -1, step, lo);
    }
    if (!grid_barrier(d, step)) return false;
    work(d, sm, dag, w, step);
    return grid_barrier(d, step);
}

/* ---- growth and rebuilding on the device ----------------------------- */

/* The block-parallel twin of gn_grow_apply() (grow.c): same records, same
 * weights, same seeded perturbation. */
__device__ static void dup_apply(struct gn_dev *d, int32_t g, int32_t pos, int kind,
                                 int32_t child, int32_t e0, int64_t p0, int64_t step)
{
    const struct gn_group gr = d->groups[g];
    const int32_t S = gr.width, tid = threadIdx.x;
    if (tid == 0) {
        struct gn_group c;
        memset(&c, 0, sizeof c);
        c.kind = GN_GROUP_HIDDEN;
        c.width = S;
        c.bias = p0;
        c.parent = g;
        c.born = (int32_t)step;
        c.grad_std = gr.grad_std;
        d->groups[child] = c;
    }
    int64_t p = p0 + S;
    if (kind == GN_DUP_DEPTH) {
        for (int32_t j = tid; j < S; j += NT) d->params[p0 + j] = d->moment[p0 + j] = 0.0f;
        for (int32_t i = tid; i < gr.out_count; i += NT) d->edges[d->out_list[gr.out_begin + i]].src = child;
        if (tid == 0) {
            struct gn_edge ne = {g, child, p};
            d->edges[e0] = ne;
        }
        for (int64_t q = tid; q < (int64_t)S * S; q += NT) {
            d->params[p + q] = (q / S == q % S) ? 1.0f : 0.0f;
            d->moment[p + q] = 0.0f;
        }
        return;
    }
    for (int32_t j = tid; j < S; j += NT) {
        d->params[p0 + j] = d->params[gr.bias + j];
        d->moment[p0 + j] = d->moment[gr.bias + j];
    }
    int32_t e = e0;
    for (int32_t i = 0; i < gr.in_count; i++, e++) {
        const struct gn_edge in = d->edges[d->in_list[gr.in_begin + i]];
        const int64_t len = (int64_t)d->groups[in.src].width * S;
        if (tid == 0) {
            struct gn_edge ne = {in.src, child, p};
            d->edges[e] = ne;
        }
        for (int64_t q = tid; q < len; q += NT) {
            d->params[p + q] = d->params[in.w + q];
            d->moment[p + q] = d->moment[in.w + q];
        }
        p += len;
    }
    const float noise = d->cfg.grow_noise;
    for (int32_t i = 0; i < gr.out_count; i++, e++) {
        const struct gn_edge out = d->edges[d->out_list[gr.out_begin + i]];
        const int64_t len = (int64_t)S * d->groups[out.dst].width;
        if (tid == 0) {
            struct gn_edge ne = {child, out.dst, p};
            d->edges[e] = ne;
        }
        for (int64_t q = tid; q < len; q += NT) {
            float nz = noise == 0.0f ? 0.0f
                                     : noise * gn_rng_normal(d->cfg.seed, GN_RNG_NOISE,
                                                             ((uint64_t)step << 24) ^ (uint64_t)pos,
                                                             ((uint64_t)i << 32) + (uint64_t)q);
            float half = 0.5f * d->params[out.w + q];
            d->params[out.w + q] = half * (1.0f + nz);
            d->params[p + q] = half * (1.0f - nz);
            float v = 0.5f * d->moment[out.w + q];
            d->moment[out.w + q] = v;
            d->moment[p + q] = v;
        }
        p += len;
    }
}

/* Space for one duplication: params, then edges, then the group; on a later
 * refusal the earlier blocks are given back when still the newest, else
 * left unused (edges marked unused). Thread 0 only. */
__device__ static bool dup_reserve(struct gn_dev *d, int32_t ne, int64_t np, int32_t *child,
                                   int32_t *e0, int64_t *p0)
{
    uint64_t p, e, g;
    /* The group pool is what usually runs out: refuse before taking edges
     * and parameters that a refusal could not give back. */
    if (gn_pool_used(&d->pool_groups) >= d->pool_groups.capacity) return false;
    if (gn_pool_alloc(&d->pool_params, (uint64_t)np, &p) != GN_OK) return false;
    if (gn_pool_alloc(&d->pool_edges, (uint64_t)ne, &e) != GN_OK) {
        gn_pool_return(&d->pool_params, p, (uint64_t)np);
        return false;
    }
    if (gn_pool_alloc(&d->pool_groups, 1, &g) != GN_OK) {
        if (gn_pool_return(&d->pool_edges, e, (uint64_t)ne) != GN_OK)
            for (int32_t i = 0; i < ne; i++) {
                d->edges[e + i].src = -1;
                d->edges[e + i].dst = -1;
            }
        gn_pool_return(&d->pool_params, p, (uint64_t)np);
        return false;
    }
    *child = (int32_t)g;
    *e0 = (int32_t)e;
    *p0 = (int64_t)p;
    return true;
}

/* Sort a short edge list by an endpoint's position (insertion sort). */
__device__ static void sort_list(struct gn_dev *d, int32_t *list, int32_t n, bool by_src)
{
    for (int32_t i = 1; i < n; i++) {
        int32_t e = list[i];
        int32_t key = d->groups[by_src ? d->edges[e].src : d->edges[e].dst].pos;
        int32_t j = i - 1;
        while (j >= 0 && d->groups[by_src ? d->edges[list[j]].src : d->edges[list[j]].dst].pos > key) {
            list[j + 1] = list[j];
            j--;
        }
        list[j + 1] = e;
    }
}

/* Block-wide exclusive prefix sum of value(i), i in [0, n), in tiles of NT
 * (CUB BlockScan); store(i, prefix) gets each result. Returns the total.
 * All threads of the block call it. */
typedef cub::BlockScan<int32_t, NT> block_scan;

template <typename V, typename S>
__device__ static int32_t block_prefix(int32_t n, V value, S store)
{
    __shared__ typename block_scan::TempStorage ts;
    __shared__ int32_t s_carry;
    if (threadIdx.x == 0) s_carry = 0;
    __syncthreads();
    for (int32_t base = 0; base < n; base += NT) {
        const int32_t i = base + (int32_t)threadIdx.x;
        const int32_t v = i < n ? value(i) : 0;
        int32_t excl, total;
        block_scan(ts).ExclusiveSum(v, excl, total);
        if (i < n) store(i, s_carry + excl);
        __syncthreads();
        if (threadIdx.x == 0) s_carry += total;
        __syncthreads();
    }
    return s_carry;
}

/* Block 0: the new order (each child right after its parent), positions,
 * CSR edge lists in canonical order, hidden in-degrees. */
__device__ static void rebuild_model(struct gn_dev *d, int32_t n_old)
{
    const int32_t tid = threadIdx.x;
    const int32_t n = d->n_groups, E = d->n_edges;
    /* new position of old position i: a prefix sum of (1 + has a child) */
    int32_t *order = d->order, *child_of = d->child_of, *scratch = d->scratch;
    block_prefix(
        n_old, [=](int32_t i) { return 1 + (child_of[order[i]] >= 0); },
        [=](int32_t i, int32_t at) {
            const int32_t g = order[i];
            scratch[at] = g;
            if (child_of[g] >= 0) scratch[at + 1] = child_of[g];
        });
    __syncthreads();
    for (int32_t i = tid; i < n; i += NT) {
        d->order[i] = d->scratch[i];
        d->groups[d->scratch[i]].pos = i;
        d->groups[i].in_count = d->groups[i].out_count = 0;
        d->cursor[i] = 0;
    }
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = d->edges[e];
        if (ed.src < 0) continue;
        atomicAdd(&d->groups[ed.dst].in_count, 1);
        atomicAdd(&d->groups[ed.src].out_count, 1);
    }
    __syncthreads();
    struct gn_group *groups = d->groups;
    block_prefix(
        n, [=](int32_t g) { return groups[g].in_count; },
        [=](int32_t g, int32_t at) { groups[g].in_begin = at; });
    block_prefix(
        n, [=](int32_t g) { return groups[g].out_count; },
        [=](int32_t g, int32_t at) { groups[g].out_begin = at; });
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = d->edges[e];
        if (ed.src < 0) continue;
        d->in_list[d->groups[ed.dst].in_begin + atomicAdd(&d->cursor[ed.dst], 1)] = e;
    }
    __syncthreads();
    for (int32_t i = tid; i < n; i += NT) d->cursor[i] = 0;
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = d->edges[e];
        if (ed.src < 0) continue;
        d->out_list[d->groups[ed.src].out_begin + atomicAdd(&d->cursor[ed.src], 1)] = e;
    }
    __syncthreads();
    for (int32_t g = tid; g < n; g += NT) {
        struct gn_group *gr = &d->groups[g];
        sort_list(d, d->in_list + gr->in_begin, gr->in_count, true);
        sort_list(d, d->out_list + gr->out_begin, gr->out_count, false);
        int32_t h = 0;
        for (int32_t i = 0; i < gr->in_count; i++)
            h += d->edges[d->in_list[gr->in_begin + i]].src != GN_SLOT_INPUT;
        d->hid_in[g] = h;
    }
}

/* Successors of a task in the training DAG (taskgraph.h), written to out
 * when not NULL; returns their number. */
__device__ static uint32_t task_succ(const struct gn_dev *d, uint32_t id, uint32_t *out)
{
    const struct gn_taskmap *tm = &d->tm;
    const struct gn_task k = gn_task_decode(tm, id);
    if (k.kind == GN_TASK_UPDATE) return 0;
    const int32_t g = d->order[k.pos];
    const struct gn_group *gr = &d->groups[g];
    uint32_t c = 0;
    if (k.kind == GN_TASK_FORWARD) {
        if (g != GN_SLOT_OUTPUT) {
            for (int32_t i = 0; i < gr->out_count; i++) {
                if (out) out[c] = gn_task_forward(tm, d->groups[d->edges[d->out_list[gr->out_begin + i]].dst].pos, k.tile);
                c++;
            }
            return c;
        }
    }
    /* forward of the output, or backward of a hidden group: the error flows
     * to the hidden predecessors; the group's update may run once all its
     * tiles are done. */
    for (int32_t i = 0; i < gr->in_count; i++) {
        int32_t s = d->edges[d->in_list[gr->in_begin + i]].src;
        if (s == GN_SLOT_INPUT) continue;
        if (out) out[c] = gn_task_backward(tm, d->groups[s].pos, k.tile);
        c++;
    }
    for (int32_t p = 0, np = gn_task_update_parts(tm, k.pos); p < np; p++) {
        if (out) out[c] = gn_task_update(tm, k.pos, p);
        c++;
    }
    if (k.kind == GN_TASK_BACKWARD) {
        /* backward(g) read W(g -> t): update(t) waits for it */
        for (int32_t i = 0; i < gr->out_count; i++) {
            const int32_t tp = d->groups[d->edges[d->out_list[gr->out_begin + i]].dst].pos;
            for (int32_t p = 0, np = gn_task_update_parts(tm, tp); p < np; p++) {
                if (out) out[c] = gn_task_update(tm, tp, p);
                c++;
            }
        }
    }
    return c;
}

__device__ static uint32_t task_indeg(const struct gn_dev *d, uint32_t id)
{
    const struct gn_task k = gn_task_decode(&d->tm, id);
    const int32_t g = d->order[k.pos];
    const int32_t T = d->tm.tiles;
    switch (k.kind) {
    case GN_TASK_FORWARD: return (uint32_t)d->hid_in[g];
    case GN_TASK_BACKWARD: return (uint32_t)d->groups[g].out_count;
    default: return (uint32_t)(T + T * d->hid_in[g]);
    }
}

/* Rebuild both task DAGs from the model: block 0 counts and scans, then
 * every block fills its share. Eval DAG = the forward tasks with their
 * forward successors only (the first hid_out entries of each list). */
__device__ static bool rebuild_dags(struct gn_dev *d, int64_t step)
{
    __shared__ uint32_t s_part[NT];
    const int32_t tid = threadIdx.x;
    if (blockIdx.x == 0) {
        /* Update parts: a group's input rows (its in-edges' source widths,
         * summed) in at most GN_CUDA_MAX_PARTS slices of at least
         * GN_CUDA_PART_ROWS rows; their first-part offsets by a prefix sum
         * over positions 1 .. n-1 (entry 0 of the scan is position 1). */
        const struct gn_dev *cd = d;
        int32_t *upd_base = d->upd_base, *upd_rows = d->upd_rows;
        const int32_t acc = block_prefix(
            d->n_groups - 1,
            [=](int32_t i) {
                const int32_t g = cd->order[i + 1];
                const struct gn_group *gr = &cd->groups[g];
                int32_t ktot = 0;
                for (int32_t k = 0; k < gr->in_count; k++)
                    ktot += cd->groups[cd->edges[cd->in_list[gr->in_begin + k]].src].width;
                int32_t kp = (ktot + GN_CUDA_MAX_PARTS - 1) / GN_CUDA_MAX_PARTS;
                if (kp < GN_CUDA_PART_ROWS) kp = GN_CUDA_PART_ROWS;
                upd_rows[g] = kp;
                return ktot > 0 ? (ktot + kp - 1) / kp : 1;
            },
            [=](int32_t i, int32_t at) { upd_base[i + 1] = at; });
        if (tid == 0) {
            struct gn_taskmap *tm = &d->tm;
            gn_taskmap_init(tm, d->n_groups, d->cfg.tiles, d->cfg.tile);
            d->upd_base[0] = 0;
            d->upd_base[1] = 0;
            d->upd_base[d->n_groups] = acc;
            tm->parts = (uint32_t)acc;
            if ((uint32_t)acc > d->parts_cap) {
                fault(d, GN_CUDA_FAULT_INDEX, -1, step, acc);
                tm->parts = 0;
            }
            tm->total = tm->upd0 + tm->parts;
            tm->upd_base = d->upd_base;
            tm->upd_pos = d->upd_pos;
        }
        __syncthreads();
        for (int32_t p = 1 + tid; p < d->n_groups; p += NT)
            for (int32_t i = d->upd_base[p]; i < d->upd_base[p + 1] && (uint32_t)i < d->tm.parts; i++)
                d->upd_pos[i] = p;
        __syncthreads();
        const uint32_t n = d->tm.total;
        const uint32_t per = (n + NT - 1) / NT, lo = min(n, per * tid), hi = min(n, lo + per);
        uint32_t s = 0;
        for (uint32_t i = lo; i < hi; i++) {
            d->task_deg[i] = task_succ(d, i, NULL);
            s += d->task_deg[i];
        }
        s_part[tid] = s;
        __syncthreads();
        if (tid == 0) {
            uint32_t acc = 0;
            for (int32_t i = 0; i < NT; i++) {
                uint32_t v = s_part[i];
                s_part[i] = acc;
                acc += v;
            }
            d->train.n_tasks = n;
            d->train.n_edges = acc;
            d->eval.n_tasks = d->tm.bwd0;
            if (acc > d->dag_cap_edges || n > d->dag_cap_tasks)
                fault(d, GN_CUDA_FAULT_INDEX, -1, step, acc);
        }
        __syncthreads();
        uint32_t off = s_part[tid];
        for (uint32_t i = lo; i < hi; i++) {
            d->train.succ_begin[i] = off;
            off += d->task_deg[i];
        }
        if (tid == NT - 1) d->train.succ_begin[n] = d->train.n_edges;
    }
    if (!grid_barrier(d, step)) return false;
    const uint32_t n = d->tm.total;
    for (uint32_t i = blockIdx.x * NT + tid; i < n; i += gridDim.x * NT) {
        task_succ(d, i, d->train.succ + d->train.succ_begin[i]);
        d->train.indeg_init[i] = task_indeg(d, i);
        if (i <= d->tm.bwd0) {
            /* eval: the forward tasks. Their lists in the training DAG hold
             * only forward successors, except the output's (errors and the
             * update), which the eval DAG cuts to empty lists: it shares
             * the successor array and has its own offsets. */
            const uint32_t first_out = d->tm.bwd0 - (uint32_t)d->tm.tiles;
            d->eval.succ_begin[i] = d->train.succ_begin[i < first_out ? i : first_out];
            if (i < d->tm.bwd0) d->eval.indeg_init[i] = task_indeg(d, i);
        }
    }
    return grid_barrier(d, step);
}

/* ---- the kernel ------------------------------------------------------ */

__device__ static void publish_step(struct gn_dev *d, int64_t step, double loss_sum,
                                    int64_t hits, int64_t seen)
{
    struct gn_cuda_ctl *c = d->ctl;
    c->loss_sum = loss_sum;
    c->hits = hits;
    c->seen = seen;
    c->tasks = (int64_t)gn_atomic_load_relaxed_u64(&d->tasks);
    c->groups = d->n_groups;
    c->edges = d->n_edges;
    c->params = d->n_params;
    c->duplications = d->duplications;
    c->refused = d->refused;
    c->t_forward_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_FORWARD]);
    c->t_backward_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_BACKWARD]);
    c->t_update_ns = (int64_t)gn_atomic_load_relaxed_u64(&d->kind_ns[GN_TASK_UPDATE]);
    c->high_water = gn_atomic_load_relaxed_u32(&d->high_water);
    __threadfence_system();
    c->step = step;
    __threadfence_system();
}

extern "C" __global__ void __launch_bounds__(NT, GN_CUDA_MIN_BLOCKS) gn_persistent_kernel(struct gn_dev *d)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    __shared__ typename block_reduce::TempStorage reduce;
    struct smem_layout sm;
    sm.a = reinterpret_cast<float *>(smem_raw);
    sm.w = sm.a + d->smem_a;
    sm.acc = sm.w + d->smem_w;
    sm.reduce = &reduce;

    __shared__ int s_go;
    struct gn_queue_worker w;
    memset(&w, 0, sizeof w);
    w.worker = blockIdx.x;
    const bool leader = blockIdx.x == 0 && threadIdx.x == 0;
    const struct gn_plan cfg = d->cfg;
    /* a resumed run starts at first_step with its epoch's sums so far */
    double loss_sum = cfg.first_loss_sum;
    int64_t hits = cfg.first_hits, seen = cfg.first_seen, wait_ns = 0, grow_ns = 0;
    int64_t epochs_done = 0;

    if (leader) d->t_start = now_ns();
    if (!rebuild_dags(d, 0)) goto out;

    for (int64_t step = cfg.first_step; step < cfg.steps_total; step++) {
        const int slot = (int)(step % GN_CUDA_NBUF);
        /* 1. the batch */
        if (leader) {
            s_go = 1;
            uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)cfg.data_timeout_ns;
            uint32_t spins = 0;
            while (ld_acquire_sys(&d->ctl->ready[slot]) != step + 1) {
                if (d->ctl->stop) {
                    s_go = 0;
                    break;
                }
                if (++spins > 32) __nanosleep(500);
                if ((spins & 1023) == 0 && now_ns() > deadline) {
                    fault(d, GN_CUDA_FAULT_NO_DATA, -1, step, slot);
                    s_go = 0;
                    break;
                }
            }
            if (d->ctl->stop) s_go = 0;
            wait_ns += (int64_t)(now_ns() - t0);
            d->x = d->xring + (int64_t)slot * cfg.batch * cfg.inputs;
            d->y = d->yring + (int64_t)slot * cfg.batch;
            d->rows = d->ctl->rows[slot];
            gn_atomic_store_relaxed_u32(&d->stopping, s_go ? 0u : 1u);
        }
        if (!grid_barrier(d, step)) goto out;
        /* a stop request: every block sees the same word after the barrier */
        if (gn_atomic_load_relaxed_u32(&d->stopping)) goto out;

        /* 2-3. the step's tasks */
        if (!pass(d, sm, &d->train, &w, step)) goto out;

        /* 4. bookkeeping by block 0 */
        if (leader) {
            double ls = 0.0;
            int64_t h = 0;
            for (int32_t r = 0; r < d->rows; r++) {
                ls += d->row_loss[r];
                h += d->row_hit[r];
            }
            if (!isfinite(ls)) fault(d, GN_CUDA_FAULT_NUMERIC, GN_SLOT_OUTPUT, step + 1, 0);
            loss_sum += ls;
            hits += h;
            seen += d->rows;
            if (step < GN_CUDA_LOSS_LOG) {
                d->step_loss[step] = ls / d->rows;
                d->step_time[step] = (int64_t)(now_ns() - d->t_start);
            }
            d->ctl->consumed[slot] = step + 1;
            d->ctl->t_wait_data_ns = wait_ns;
            publish_step(d, step + 1, loss_sum, hits, seen);
        }

        /* 5. growth */
        if (cfg.grow != GN_GROW_OFF && (step + 1) % cfg.grow_every == 0) {
            uint64_t g0 = now_ns();
            const int32_t n_old = d->n_groups;
            if (blockIdx.x == 0 && threadIdx.x == 0) gn_atomic_store_relaxed_u32(&d->chosen, 0);
            for (int32_t p = blockIdx.x * NT + threadIdx.x + 1; p < n_old - 1; p += gridDim.x * NT) {
                struct gn_group *gr = &d->groups[d->order[p]];
                gr->flags &= ~(GN_GROUP_MARKED | GN_GROUP_CHOSEN);
                if (gr->grad_std > cfg.grow_threshold) gr->flags |= GN_GROUP_MARKED;
            }
            if (!grid_barrier(d, step)) goto out;
            for (int32_t p = blockIdx.x * NT + threadIdx.x + 1; p < n_old - 1; p += gridDim.x * NT) {
                const int32_t g = d->order[p];
                struct gn_group *gr = &d->groups[g];
                d->child_of[g] = -1;
                d->scratch[g] = 0;
                if (!(gr->flags & GN_GROUP_MARKED)) continue;
                bool free_of_marked = true;
                for (int32_t i = 0; i < gr->in_count; i++)
                    if (d->groups[d->edges[d->in_list[gr->in_begin + i]].src].flags & GN_GROUP_MARKED)
                        free_of_marked = false;
                /* the choice goes to a word of its own (scratch): other
                 * threads are reading this group's flags for its marks */
                d->scratch[g] = free_of_marked;
                if (free_of_marked) gn_atomic_fetch_add_relaxed_u32(&d->chosen, 1);
            }
            if (blockIdx.x == 0 && threadIdx.x < 2) d->child_of[threadIdx.x == 0 ? GN_SLOT_INPUT : GN_SLOT_OUTPUT] = -1;
            if (!grid_barrier(d, step)) goto out;
            if (gn_atomic_load_relaxed_u32(&d->chosen) > 0) {
                const int64_t round = d->grow_round;
                __shared__ int32_t s_child, s_e0, s_kind;
                __shared__ int64_t s_p0;
                for (int32_t p = blockIdx.x + 1; p < n_old - 1; p += gridDim.x) {
                    const int32_t g = d->order[p];
                    if (!d->scratch[g]) continue;
                    if (threadIdx.x == 0) d->groups[g].flags |= GN_GROUP_CHOSEN;
                    if (threadIdx.x == 0) {
                        enum gn_dup_kind kind = gn_grow_kind((enum gn_grow_policy)cfg.grow, cfg.seed, step + 1, round, p);
                        int32_t ng, ne;
                        int64_t np;
                        gn_grow_need_in(d->groups, d->edges, d->in_list, d->out_list, g, kind, &ng,
                                        &ne, &np);
                        s_kind = kind;
                        if (!dup_reserve(d, ne, np, &s_child, &s_e0, &s_p0)) {
                            s_child = -1;
                            atomicAdd((unsigned long long *)&d->refused, 1ull);
                        }
                    }
                    __syncthreads();
                    if (s_child >= 0) {
                        dup_apply(d, g, p, s_kind, s_child, s_e0, s_p0, step + 1);
                        __syncthreads();
                        if (threadIdx.x == 0) {
                            d->child_of[g] = s_child;
                            atomicAdd((unsigned long long *)&d->duplications, 1ull);
                        }
                    }
                    __syncthreads();
                }
                if (!grid_barrier(d, step)) goto out;
                if (blockIdx.x == 0) {
                    if (threadIdx.x == 0) {
                        d->grow_round = round + 1;
                        d->n_groups = (int32_t)gn_pool_used(&d->pool_groups);
                        d->n_edges = (int32_t)gn_pool_used(&d->pool_edges);
                        d->n_params = (int64_t)gn_pool_used(&d->pool_params);
                    }
                    __syncthreads();
                    if (d->n_groups != n_old) rebuild_model(d, n_old);
                }
                if (!grid_barrier(d, step)) goto out;
                if (d->n_groups != n_old && !rebuild_dags(d, step)) goto out;
            }
            grow_ns += (int64_t)(now_ns() - g0);
            if (leader) {
                d->ctl->t_growth_ns = grow_ns;
                publish_step(d, step + 1, loss_sum, hits, seen);
            }
        }

        /* epoch end: evaluate the test set on the device */
        if ((step + 1) % cfg.steps_per_epoch == 0 || step + 1 == cfg.steps_total) {
            double tl = 0.0;
            int64_t th = 0;
            for (int64_t i0 = 0; i0 < cfg.test_count; i0 += cfg.batch) {
                if (leader) {
                    d->x = d->test_x + i0 * cfg.inputs;
                    d->y = d->test_y + i0;
                    d->rows = (int32_t)min((int64_t)cfg.batch, cfg.test_count - i0);
                }
                if (!pass(d, sm, &d->eval, &w, step)) goto out;
                if (leader) {
                    for (int32_t r = 0; r < d->rows; r++) {
                        tl += d->row_loss[r];
                        th += d->row_hit[r];
                    }
                }
            }
            if (leader) {
                struct gn_cuda_epoch *e = &d->epochs[epochs_done];
                e->step = step + 1;
                e->loss_sum = loss_sum;
                e->hits = hits;
                e->seen = seen;
                e->test_loss_sum = tl;
                e->test_hits = th;
                e->groups = d->n_groups;
                e->edges = d->n_edges;
                e->duplications = d->duplications;
                e->refused = d->refused;
                __threadfence_system();
                d->ctl->epochs = epochs_done + 1;
                __threadfence_system();
            }
            epochs_done++;
            if ((step + 1) % cfg.steps_per_epoch == 0) {
                loss_sum = 0.0;
                hits = seen = 0;
            }
        }
    }

out:
    if (threadIdx.x == 0) {
        /* relaxed: statistics */
        gn_atomic_fetch_add_relaxed_u64(&d->tasks, w.popped);
        atomicMax(&d->high_water, w.high_water);
    }
    if (!grid_barrier(d, -1)) {
        /* aborted: fall through, the error record says why */
    }
    if (leader) {
        publish_step(d, d->ctl->step, loss_sum, hits, seen);
        d->ctl->state = aborted(d) ? GN_CUDA_FAILED : (d->ctl->stop ? GN_CUDA_STOPPED : GN_CUDA_FINISHED);
        __threadfence_system();
    }
}

/* ---- the host side of the launch -------------------------------------- */

#define CUDA_TRY(call)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            snprintf(r->err, sizeof r->err, "%s:%d: %s: %s", __FILE__, __LINE__, #call,            \
                     cudaGetErrorString(e_));                                                      \
            st = GN_ERR_DEVICE;                                                                    \
            goto error;                                                                            \
        }                                                                                          \
    } while (0)

struct gn_cuda_run {
    struct gn_dev h;     /* host copy of the device state (device pointers) */
    struct gn_dev *d;    /* the device state */
    struct gn_cuda_ctl *ctl;       /* mapped: host pointer */
    struct gn_cuda_epoch *epochs;  /* mapped: host pointer */
    double *step_loss;             /* mapped: host pointer */
    int64_t *step_time;            /* mapped: host pointer */
    float *stage_x[GN_CUDA_NBUF];
    uint8_t *stage_y[GN_CUDA_NBUF];
    cudaStream_t kstream, cstream;
    size_t smem;
    int64_t device_bytes;
    char err[384];
    void *allocs[64];
    int n_allocs;
};

static enum gn_status dev_alloc(struct gn_cuda_run *r, void **p, size_t bytes)
{
    enum gn_status st = GN_OK;
    if (bytes == 0) bytes = 16;
    CUDA_TRY(cudaMalloc(p, bytes));
    CUDA_TRY(cudaMemset(*p, 0, bytes));
    r->allocs[r->n_allocs++] = *p;
    r->device_bytes += (int64_t)bytes;
    return GN_OK;
error:
    return st;
}

#define DEV_ALLOC(ptr, count)                                                                      \
    do {                                                                                           \
        if ((st = dev_alloc(r, (void **)&(ptr), (size_t)(count) * sizeof *(ptr)))) goto error;     \
    } while (0)

extern "C" enum gn_status gn_cuda_create(struct gn_cuda_run **out, const struct gn_plan *cfg,
                                         const struct gn_model *m, const float *test_x,
                                         const uint8_t *test_y, char *info, size_t info_len)
{
    enum gn_status st = GN_OK;
    struct gn_cuda_run *r = (struct gn_cuda_run *)calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return GN_ERR_NOMEM;
    struct gn_dev *h = &r->h;
    const int32_t B = cfg->batch, mw = cfg->max_width, T = cfg->tiles;
    const int32_t MG = cfg->max_groups, ME = cfg->max_edges;
    const uint32_t parts_cap = (uint32_t)GN_CUDA_MAX_PARTS * (uint32_t)MG;
    const uint32_t cap_tasks = (uint32_t)(2 * MG) * (uint32_t)T + parts_cap;
    const uint32_t cap_edges =
        (uint32_t)T * (uint32_t)(3 * ME + 2 * MG + GN_CUDA_MAX_PARTS * (MG + ME));
    int32_t nmin = cfg->group_size < cfg->classes ? cfg->group_size : cfg->classes;
    h->smem_a = cfg->tile * KC > KC * (4 * NT / nmin + 2) ? cfg->tile * KC : KC * (4 * NT / nmin + 2);
    h->smem_w = (KC + 1) * mw;
    h->smem_acc = (cfg->tile > KC ? cfg->tile : KC) * mw;
    r->smem = (size_t)(h->smem_a + h->smem_w + h->smem_acc) * sizeof(float);
    {
        size_t free_b = 0, total_b = 0;
        CUDA_TRY(cudaSetDevice(0));
        CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
        size_t need = (size_t)m->max_groups * (sizeof(struct gn_group) + 4 * sizeof(int32_t) * 4) +
                      (size_t)m->max_edges * (sizeof(struct gn_edge) + 2 * sizeof(int32_t)) +
                      (size_t)m->max_params * 3 * sizeof(float) +
                      (size_t)MG * B * mw * 2 * sizeof(float) +
                      (size_t)GN_CUDA_NBUF * B * (cfg->inputs * sizeof(float) + 1) +
                      (size_t)cfg->test_count * (cfg->inputs * sizeof(float) + 1) +
                      (size_t)cap_tasks * 7 * sizeof(uint32_t) + (size_t)cap_edges * sizeof(uint32_t) +
                      (size_t)parts_cap * 20 +
                      (size_t)cap_tasks * sizeof(uint64_t);
        if (need + (64u << 20) > free_b) {
            snprintf(r->err, sizeof r->err,
                     "the run needs %.1f MiB of device memory, the device has %.1f MiB free "
                     "(lower --max-groups, --max-params or --batch)",
                     need / 1048576.0, free_b / 1048576.0);
            st = GN_ERR_NOMEM;
            goto error;
        }
    }
    h->cfg = *cfg;
    DEV_ALLOC(h->groups, m->max_groups);
    DEV_ALLOC(h->edges, m->max_edges);
    DEV_ALLOC(h->params, m->max_params);
    DEV_ALLOC(h->grads, m->max_params);
    DEV_ALLOC(h->moment, m->max_params);
    DEV_ALLOC(h->order, m->max_groups);
    DEV_ALLOC(h->in_list, m->max_edges);
    DEV_ALLOC(h->out_list, m->max_edges);
    DEV_ALLOC(h->hid_in, m->max_groups);
    DEV_ALLOC(h->child_of, m->max_groups);
    DEV_ALLOC(h->scratch, m->max_groups);
    DEV_ALLOC(h->cursor, m->max_groups);
    DEV_ALLOC(h->act, (size_t)MG * B * mw);
    DEV_ALLOC(h->dz, (size_t)MG * B * mw);
    DEV_ALLOC(h->row_loss, B);
    DEV_ALLOC(h->row_hit, B);
    DEV_ALLOC(h->xring, (size_t)GN_CUDA_NBUF * B * cfg->inputs);
    DEV_ALLOC(h->yring, (size_t)GN_CUDA_NBUF * B);
    DEV_ALLOC(h->test_x, (size_t)cfg->test_count * cfg->inputs);
    DEV_ALLOC(h->test_y, cfg->test_count);
    {
        gn_atomic_u64 *slots;
        DEV_ALLOC(slots, cap_tasks);
        /* The queue's no-progress bound (spins) stretches with the barrier
         * timeout when --cuda-timeout-scale raised it (plan.c; 20 s is its
         * default), for runs under compute-sanitizer. */
        const int64_t scale = cfg->wait_timeout_ns / (20ll * 1000000000);
        gn_queue_init(&h->queue, slots, cap_tasks,
                      scale > 1 ? GN_QUEUE_SPIN_LIMIT * (uint64_t)scale : 0);
    }
    DEV_ALLOC(h->train.succ_begin, cap_tasks + 1);
    DEV_ALLOC(h->train.succ, cap_edges);
    DEV_ALLOC(h->train.indeg_init, cap_tasks);
    DEV_ALLOC(h->train.indeg, cap_tasks);
    DEV_ALLOC(h->eval.succ_begin, cap_tasks + 1);
    DEV_ALLOC(h->eval.indeg_init, cap_tasks);
    DEV_ALLOC(h->eval.indeg, cap_tasks);
    DEV_ALLOC(h->task_deg, cap_tasks);
    DEV_ALLOC(h->upd_base, MG + 1);
    DEV_ALLOC(h->upd_pos, parts_cap);
    DEV_ALLOC(h->upd_rows, MG);
    DEV_ALLOC(h->upd_done, MG);
    DEV_ALLOC(h->part_sum, parts_cap);
    DEV_ALLOC(h->part_sq, parts_cap);
    h->parts_cap = parts_cap;
    h->eval.succ = h->train.succ;
    h->train.cap_tasks = h->eval.cap_tasks = cap_tasks;
    h->train.cap_edges = h->eval.cap_edges = cap_edges;
    h->dag_cap_tasks = cap_tasks;
    h->dag_cap_edges = cap_edges;
    h->n_groups = m->n_groups;
    h->n_edges = m->n_edges;
    h->n_params = m->n_params;
    h->duplications = m->duplications;
    h->refused = m->refused;
    h->grow_round = cfg->grow_round;
    gn_pool_init(&h->pool_groups, (uint64_t)m->n_groups, (uint64_t)m->max_groups);
    gn_pool_init(&h->pool_edges, (uint64_t)m->n_edges, (uint64_t)m->max_edges);
    gn_pool_init(&h->pool_params, (uint64_t)m->n_params, (uint64_t)m->max_params);

    /* the model, with the hidden in-degrees the task DAG needs */
    CUDA_TRY(cudaMemcpy(h->groups, m->groups, (size_t)m->n_groups * sizeof *m->groups, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->edges, m->edges, (size_t)m->n_edges * sizeof *m->edges, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->params, m->params, (size_t)m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->moment, m->moment, (size_t)m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->order, m->order, (size_t)m->n_groups * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->in_list, m->in_list, (size_t)m->n_edges * sizeof(int32_t), cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(h->out_list, m->out_list, (size_t)m->n_edges * sizeof(int32_t), cudaMemcpyHostToDevice));
    {
        int32_t *hid = (int32_t *)calloc((size_t)m->max_groups, sizeof(int32_t));
        if (!hid) {
            st = GN_ERR_NOMEM;
            goto error;
        }
        for (int32_t g = 0; g < m->n_groups; g++)
            for (int32_t i = 0; i < m->groups[g].in_count; i++)
                hid[g] += m->edges[m->in_list[m->groups[g].in_begin + i]].src != GN_SLOT_INPUT;
        cudaError_t e = cudaMemcpy(h->hid_in, hid, (size_t)m->n_groups * sizeof(int32_t), cudaMemcpyHostToDevice);
        free(hid);
        CUDA_TRY(e);
    }
    if (cfg->test_count > 0) {
        CUDA_TRY(cudaMemcpy(h->test_x, test_x, (size_t)cfg->test_count * cfg->inputs * sizeof(float), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemcpy(h->test_y, test_y, (size_t)cfg->test_count, cudaMemcpyHostToDevice));
    }

    /* mapped control block and epoch records; pinned staging */
    {
        void *p;
        CUDA_TRY(cudaHostAlloc(&p, sizeof(struct gn_cuda_ctl), cudaHostAllocMapped));
        r->ctl = (struct gn_cuda_ctl *)p;
        memset(p, 0, sizeof(struct gn_cuda_ctl));
        CUDA_TRY(cudaHostGetDevicePointer(&p, r->ctl, 0));
        h->ctl = (struct gn_cuda_ctl *)p;
        size_t nl = (size_t)(cfg->steps_total < GN_CUDA_LOSS_LOG ? cfg->steps_total : GN_CUDA_LOSS_LOG);
        CUDA_TRY(cudaHostAlloc(&p, (nl + 1) * sizeof(double), cudaHostAllocMapped));
        r->step_loss = (double *)p;
        CUDA_TRY(cudaHostGetDevicePointer(&p, r->step_loss, 0));
        h->step_loss = (double *)p;
        CUDA_TRY(cudaHostAlloc(&p, (nl + 1) * sizeof(int64_t), cudaHostAllocMapped));
        r->step_time = (int64_t *)p;
        CUDA_TRY(cudaHostGetDevicePointer(&p, r->step_time, 0));
        h->step_time = (int64_t *)p;
        size_t ne = (size_t)(cfg->steps_total / cfg->steps_per_epoch + 2);
        CUDA_TRY(cudaHostAlloc(&p, ne * sizeof(struct gn_cuda_epoch), cudaHostAllocMapped));
        r->epochs = (struct gn_cuda_epoch *)p;
        memset(p, 0, ne * sizeof(struct gn_cuda_epoch));
        CUDA_TRY(cudaHostGetDevicePointer(&p, r->epochs, 0));
        h->epochs = (struct gn_cuda_epoch *)p;
        for (int i = 0; i < GN_CUDA_NBUF; i++) {
            CUDA_TRY(cudaHostAlloc(&p, (size_t)B * cfg->inputs * sizeof(float), cudaHostAllocDefault));
            r->stage_x[i] = (float *)p;
            CUDA_TRY(cudaHostAlloc(&p, (size_t)B, cudaHostAllocDefault));
            r->stage_y[i] = (uint8_t *)p;
        }
    }
    DEV_ALLOC(r->d, 1);
    CUDA_TRY(cudaStreamCreateWithFlags(&r->kstream, cudaStreamNonBlocking));
    CUDA_TRY(cudaStreamCreateWithFlags(&r->cstream, cudaStreamNonBlocking));

    /* the grid: every block resident */
    {
        int dev = 0, sms = 0, per_sm = 0;
        CUDA_TRY(cudaGetDevice(&dev));
        CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        CUDA_TRY(cudaFuncSetAttribute(gn_persistent_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)r->smem));
        CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gn_persistent_kernel, NT, r->smem));
        if (per_sm < 1) {
            snprintf(r->err, sizeof r->err, "the kernel does not fit an SM (%zu bytes of shared memory)", r->smem);
            st = GN_ERR_DEVICE;
            goto error;
        }
        int want = per_sm;
        if (cfg->blocks_per_sm > 0) want = cfg->blocks_per_sm < per_sm ? cfg->blocks_per_sm : per_sm;
        else if (want > 2) want = 2;
        h->blocks = sms * want;
        snprintf(info, info_len,
                 "%d worker blocks (%d SMs x %d, %d resident possible) of %d threads, %zu B shared "
                 "memory each; %.1f MiB of device memory taken at start",
                 h->blocks, sms, want, per_sm, NT, r->smem, r->device_bytes / 1048576.0);
    }
    CUDA_TRY(cudaMemcpy(r->d, h, sizeof *h, cudaMemcpyHostToDevice));
    *out = r;
    return GN_OK;
error:
    snprintf(info, info_len, "%s", r->err);
    gn_cuda_destroy(r);
    return st == GN_OK ? GN_ERR_DEVICE : st;
}

extern "C" enum gn_status gn_cuda_launch(struct gn_cuda_run *r)
{
    enum gn_status st = GN_OK;
    void *args[] = {&r->d};
    CUDA_TRY(cudaLaunchCooperativeKernel((void *)gn_persistent_kernel, dim3(r->h.blocks),
                                         dim3(NT), args, r->smem, r->kstream));
    return GN_OK;
error:
    return st;
}

extern "C" int32_t gn_cuda_blocks(struct gn_cuda_run *r)
{
    return r->h.blocks;
}

extern "C" struct gn_cuda_ctl *gn_cuda_ctl(struct gn_cuda_run *r)
{
    return r->ctl;
}

extern "C" const struct gn_cuda_epoch *gn_cuda_epochs(struct gn_cuda_run *r)
{
    return r->epochs;
}

extern "C" const double *gn_cuda_step_loss(struct gn_cuda_run *r)
{
    return r->step_loss;
}

extern "C" const int64_t *gn_cuda_step_time(struct gn_cuda_run *r)
{
    return r->step_time;
}

extern "C" float *gn_cuda_staging_x(struct gn_cuda_run *r, int slot)
{
    return r->stage_x[slot];
}

extern "C" uint8_t *gn_cuda_staging_y(struct gn_cuda_run *r, int slot)
{
    return r->stage_y[slot];
}

extern "C" enum gn_status gn_cuda_push_batch(struct gn_cuda_run *r, int slot, int64_t step, int32_t rows)
{
    enum gn_status st = GN_OK;
    const struct gn_plan *c = &r->h.cfg;
    CUDA_TRY(cudaMemcpyAsync(r->h.xring + (size_t)slot * c->batch * c->inputs, r->stage_x[slot],
                             (size_t)rows * c->inputs * sizeof(float), cudaMemcpyHostToDevice, r->cstream));
    CUDA_TRY(cudaMemcpyAsync(r->h.yring + (size_t)slot * c->batch, r->stage_y[slot], (size_t)rows,
                             cudaMemcpyHostToDevice, r->cstream));
    CUDA_TRY(cudaStreamSynchronize(r->cstream));
    r->ctl->rows[slot] = rows;
    __sync_synchronize();
    r->ctl->ready[slot] = step + 1;
    return GN_OK;
error:
    return st;
}

static const char *fault_name(int32_t f)
{
    switch (f) {
    case GN_CUDA_FAULT_STUCK: return "a queue wait made no progress (stuck task)";
    case GN_CUDA_FAULT_BARRIER: return "a grid barrier did not open in time";
    case GN_CUDA_FAULT_NO_DATA: return "no minibatch came from the host loader in time";
    case GN_CUDA_FAULT_INVARIANT: return "a scheduler invariant broke";
    case GN_CUDA_FAULT_INDEX: return "a bad group, edge or task index";
    case GN_CUDA_FAULT_NUMERIC: return "NaN or Inf in the training loss";
    }
    return "unknown fault";
}

extern "C" enum gn_status gn_cuda_wait(struct gn_cuda_run *r)
{
    enum gn_status st = GN_OK;
    CUDA_TRY(cudaStreamSynchronize(r->kstream));
    if (r->ctl->fault) {
        snprintf(r->err, sizeof r->err,
                 "the kernel stopped: %s (group %d, step %lld, block %d, index %lld)",
                 fault_name(r->ctl->fault), r->ctl->fault_group, (long long)r->ctl->fault_step,
                 r->ctl->fault_block, (long long)r->ctl->fault_index);
        return r->ctl->fault == GN_CUDA_FAULT_NUMERIC ? GN_ERR_NUMERIC : GN_ERR_DEVICE;
    }
    return GN_OK;
error:
    return st;
}

extern "C" const char *gn_cuda_error(struct gn_cuda_run *r)
{
    return r->err;
}

extern "C" enum gn_status gn_cuda_download(struct gn_cuda_run *r, struct gn_model *m)
{
    enum gn_status st = GN_OK;
    struct gn_dev h;
    CUDA_TRY(cudaMemcpy(&h, r->d, sizeof h, cudaMemcpyDeviceToHost));
    m->n_groups = h.n_groups;
    m->n_edges = h.n_edges;
    m->n_params = h.n_params;
    m->duplications = h.duplications;
    m->refused = h.refused;
    CUDA_TRY(cudaMemcpy(m->groups, h.groups, (size_t)h.n_groups * sizeof *m->groups, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->edges, h.edges, (size_t)h.n_edges * sizeof *m->edges, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->params, h.params, (size_t)h.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->grads, h.grads, (size_t)h.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->moment, h.moment, (size_t)h.n_params * sizeof(float), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->order, h.order, (size_t)h.n_groups * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->in_list, h.in_list, (size_t)h.n_edges * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->out_list, h.out_list, (size_t)h.n_edges * sizeof(int32_t), cudaMemcpyDeviceToHost));
    r->h.grow_round = h.grow_round;
    return GN_OK;
error:
    return st;
}

extern "C" int64_t gn_cuda_grow_round(struct gn_cuda_run *r)
{
    return r->h.grow_round;
}

extern "C" void gn_cuda_destroy(struct gn_cuda_run *r)
{
    if (!r) return;
    if (r->kstream) cudaStreamDestroy(r->kstream);
    if (r->cstream) cudaStreamDestroy(r->cstream);
    for (int i = 0; i < r->n_allocs; i++) cudaFree(r->allocs[i]);
    if (r->ctl) cudaFreeHost(r->ctl);
    if (r->epochs) cudaFreeHost(r->epochs);
    if (r->step_loss) cudaFreeHost(r->step_loss);
    if (r->step_time) cudaFreeHost(r->step_time);
    for (int i = 0; i < GN_CUDA_NBUF; i++) {
        if (r->stage_x[i]) cudaFreeHost(r->stage_x[i]);
        if (r->stage_y[i]) cudaFreeHost(r->stage_y[i]);
    }
    free(r);
}
