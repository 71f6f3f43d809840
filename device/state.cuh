/*
 * The device state: everything the persistent kernel works on, one instance
 * in device memory, built by the host half (launch.cu) and read by every
 * layer of the kernel.
 *
 * The network is a struct gn_model and the activations a struct
 * gn_buffers, the very structs the host backends use (their arrays here in
 * device memory), so the shared GN_HD rules (growth, task graph, statistic)
 * and the block task math take the same arguments as their host references.
 */
#ifndef GN_DEVICE_STATE_CUH
#define GN_DEVICE_STATE_CUH

#include "barrier.h"
#include "common.cuh"
#if defined(GN_DIAG_RELEASE) && defined(__CUDA_ARCH__)
__device__ static inline void gn_dev_clock_mark(int32_t phase);
#define GN_DAG_MARK(part) gn_dev_clock_mark(GN_CUDA_PROF_R_##part)
#endif
#if defined(GN_DIAG_TIMELINE) && defined(__CUDA_ARCH__)
__device__ static inline void gn_dev_tl_ready(uint32_t task);
#define GN_DAG_ON_READY(task) gn_dev_tl_ready(task)
#endif
#include "dag.h"
#include "grow.h"
#include "model.h"
#include "numguard.h"
#include "prune.h"
#include "ops.h"
#include "queue.h"
#include "taskgraph.h"

/* The record of position p for the task path (worker.cuh): the group at
 * order[p] and its record, in one 64-byte load where reading order[p] and
 * then groups[order[p]] took two dependent ones, each an L2 round trip
 * after the scheduler's fences (docs/PERF.md, ninth round). Derived data,
 * as the lists' records are: rebuilt with the task DAGs whenever the order
 * or a group's lists change (gn_dev_rebuild_dags), the model's arrays
 * staying the rule. What the task math reads of a group (its kind, width,
 * bias and lists) holds for a pass; grad_std and the pruning counters are
 * not kept current here and nothing reads them here. */
struct __align__(16) gn_pos_rec {
    struct gn_group gr;
    int32_t g, pad;
};
static_assert(sizeof(struct gn_pos_rec) == 64, "a position's record is one 64-byte load");

#ifdef GN_DIAG_TIMELINE
/* The diagnostic build's task timeline (-DGN_DIAG_TIMELINE for both
 * compilers; worker.cuh writes it, launch.cu dumps it): for each task of a
 * training pass, by task id, %globaltimer ns of its steps. Each pass
 * writes over the last; what is dumped is the run's last training step. */
struct gn_dev_tl {
    uint64_t ready; /* the release that made it ready, at its decrement (0: a root) */
    uint64_t take;  /* its worker began the take that returned it */
    uint64_t start; /* the block has it (after the take's barrier) */
    uint64_t done;  /* the op is over (after its closing barrier) */
    uint64_t rel;   /* its release is over */
    int64_t step;   /* the pass's step (ready's is rstep) */
    uint32_t maker; /* the task whose release made it ready */
    int32_t worker;
    int32_t pos;
    int16_t kind, tile;
    int64_t rstep;
    uint64_t pre; /* warp 1's read-ahead over, after the op (worker.cuh) */
    uint64_t upd_op, upd_stat; /* an update: its op over; its part's counter passed (0: not last) */
    uint64_t stat[3]; /* the statistic (block_ops.cuh, GN_STAT_MARK): pass 1's lane sums over,
                       * its tree over, pass 2's lane sums over */
    uint32_t ph[4]; /* ns in the op's marked phases (GN_BLOCK_MARK): edges, staging,
                     * arithmetic, the optimizer's apply */
    uint32_t ap[4]; /* the apply's own (GN_APPLY_MARK): the entries' offsets found, their
                     * loads arrived, the rule, the stores issued */
    int32_t ahead; /* its records came read ahead (worker.cuh: gn_dev_pre), 1; else 0 */
    int32_t pad_;
};
static_assert(sizeof(struct gn_dev_tl) == 160, "the dump's record");
#endif

struct gn_dev {
    struct gn_plan cfg;               /* the run plan (plan.h), fixed for the run */
    int32_t blocks;                   /* worker blocks of the launch */
    int32_t smem_stage, smem_acc;     /* floats of the task math's regions (block_ops.cuh) */
    struct gn_cuda_ctl *ctl;      /* mapped host memory */
    struct gn_cuda_epoch *epochs; /* mapped host memory */
    struct gn_cuda_block_stat *bstat; /* mapped: (blocks) live counters */
    struct gn_cuda_trace_step *tsteps; /* mapped: the trace's step ring (NULL: no trace) */
    unsigned char *tsnaps;             /* mapped: its snapshot slots */
    size_t tslot;                      /* bytes of a snapshot slot */
    double *step_loss;            /* mapped: mean loss of each step */
    int64_t *step_time;           /* mapped: ns since the kernel started, at each step's end */
    uint64_t t_start;

    struct gn_model m;         /* the network (device arrays) */
    struct gn_grow_pools pools; /* bump allocation over m's arrays */
    int64_t grow_round;

    struct gn_buffers b; /* activations, errors, the pass's rows (x, y, rows) */
    float *xring;        /* (NBUF, batch, inputs) */
    uint8_t *yring;      /* (NBUF, batch) */
    struct gn_cuda_slot *slot_rec; /* (NBUF): each slot's record, written by the loader's copies */
    float *test_x;
    uint8_t *test_y;
    /* a training set kept on the device (resident): the examples, and the
     * epochs' orders the loader copies (GN_CUDA_NORDER slots of n_train) */
    int32_t resident;
    float *train_x;
    uint8_t *train_y;
    int32_t *order;
    struct gn_cuda_slot *order_rec; /* (NORDER) */

    /* the scheduler core */
    struct gn_queue queue;
    struct gn_barrier bar;
    struct gn_dag train, eval;
    struct gn_taskmap tm;
    uint32_t dag_cap_tasks, dag_cap_edges;
    uint32_t *task_deg; /* scratch while building: a task's first successor within its block's share */
    int32_t *upd_base;  /* (max_groups + 1) first update part of each position */
    int32_t *upd_pos;   /* (parts cap) position of each update part */
    int32_t *upd_rows;  /* (max_groups) input rows per update part, by slot */
    uint8_t *edge_cut;  /* (max_edges) the DAGs' reduction, by edge (taskgraph.h: tm.cut) */
    struct gn_edge_rec *in_rec, *out_rec; /* (max_edges) the lists' records (block_ops.cuh) */
    struct gn_pos_rec *pos_rec;           /* (max_groups) the positions' records (below) */
#if GN_BLOCK_TAKE_REC
    /* (max_groups x 2 x GN_BLOCK_TAKE_REC) each position's first records of
     * its in-list and out-list (block_ops.cuh: gn_block_take, gn_block_take_at) */
    struct gn_edge_rec *pos_first;
#endif
    gn_atomic_u32 *upd_done; /* (max_groups) parts finished this step, by slot */
    uint32_t parts_cap;

    /* faults and statistics */
    gn_atomic_u32 abort, chosen, stopping;
    gn_atomic_u32 stat_bad; /* a group's statistic this step is not finite (numguard.h) */
    gn_atomic_u64 kind_ns[GN_TASK_KIND_COUNT];
    gn_atomic_u64 prof[GN_CUDA_PROF_COUNT]; /* cycles by phase, summed at the end */
    gn_atomic_u64 tasks;
    gn_atomic_u32 high_water;

    /* growth scratch */
    float grow_median; /* relative criterion: written by the thread of the median's rank */
    int32_t *child_of; /* (max_groups) by slot */
    int32_t *scratch;  /* (max_groups) by slot: chosen in this round */
    struct gn_grow_space *space; /* (max_groups) by slot: where a granted duplication goes */
    int32_t *cursor;   /* (max_groups) */
    struct gn_grow_event *ev; /* (max_groups) the last round's events, by old position */
    int32_t ev_n;             /* the group count before that round */
    uint32_t *blk_sum;        /* (blocks) scratch of the task DAGs' rebuild: each block's share */

    /* pruning (plan.prune_threshold > 0; prune.cuh), else one-element arrays */
    int32_t *prune_map;                /* (max_groups) a slot's new number, -1: removed */
    int32_t *prune_emap;               /* (max_edges) an edge's new index, -1: gone */
    struct gn_prune_block *prune_blk;  /* (max_groups + max_edges) the parameter blocks */
    int64_t *prune_at;                 /* (max_groups + max_edges) their new offsets */
    unsigned char *prune_buf;          /* the compaction's copy (launch.cu sizes it) */
    size_t prune_ecopy;                /* where the edges' copy starts in it */
    int32_t prune_removed, prune_kept, prune_edges; /* the round's counts (block 0 -> all) */
    unsigned long long prune_top;      /* parameters kept */
    struct gn_prune_log plog;          /* the last round's slots, for the trace */
    int64_t plog_step;                 /* its step */
#ifdef GN_DIAG_TIMELINE
    struct gn_dev_tl *tl; /* (dag_cap_tasks) */
#endif
};

/* A block's thread 0 clocks its phases here, in the block's shared memory
 * (clock64 cycles): each mark gives the time since the last mark to a
 * phase; `other` is where time outside the named phases goes (growth sets
 * it to its own phase while it runs). */
struct gn_dev_clock {
    uint64_t at;                      /* the last mark */
    int32_t other;                    /* the phase of unnamed time */
    int32_t pad_;
    uint64_t cyc[GN_CUDA_PROF_COUNT]; /* per phase */
};

static __shared__ struct gn_dev_clock gn_dev_clock_sm;

/* The optimizer's constants of the step being run (optim.h: its rate and
 * bias corrections, gn_optim_at of the plan's optim and the step's index),
 * one copy per block: thread 0 sets it at the step's start (run.cuh),
 * before the pass's first barrier; the block's update tasks read it. */
static __shared__ struct gn_optim_step gn_dev_optim_sm;

/* Thread 0's time in tasks of each kind since the block last added it to
 * the run's kind_ns (gn_dev_kind_flush, once a pass): no global atomic per
 * task. */
static __shared__ uint64_t gn_dev_kind_ns_sm[GN_TASK_KIND_COUNT];

/* Thread 0: add the block's task time to the run's counters. */
__device__ static inline void gn_dev_kind_flush(gn_atomic_u64 *kind_ns)
{
    for (int k = 0; k < GN_TASK_KIND_COUNT; k++)
        if (gn_dev_kind_ns_sm[k]) {
            gn_atomic_fetch_add_relaxed_u64(&kind_ns[k], gn_dev_kind_ns_sm[k]);
            gn_dev_kind_ns_sm[k] = 0;
        }
}

#ifdef GN_DIAG_TIMELINE
/* The task timeline (-DGN_DIAG_TIMELINE, state.cuh's gn_dev_tl): thread
 * 0's %globaltimer at each step of a training pass's tasks, and from the
 * release (dag.h's GN_DAG_ON_READY) which task made each one ready, and
 * when. tools/bench/timeline.py reads the dump for the step's critical
 * path. */
static __shared__ struct gn_dev_tl *gn_dev_tl_sm; /* NULL: not recording this pass */
static __shared__ uint32_t gn_dev_tl_cur;         /* the task being released */
static __shared__ uint32_t gn_dev_tl_run;         /* the task being run */
static __shared__ int64_t gn_dev_tl_step;
static __shared__ uint64_t gn_dev_tl_at; /* the task's last phase mark (its start first) */
static __shared__ uint64_t gn_dev_tl_ap_at; /* the apply's last mark (GN_APPLY_MARK) */
/* the running task's ph and ap, summed here and written to its record with
 * its done (a mark's read-modify-write of the record in global memory cost
 * ~0.45 us, counted in the next phase: PERF.md, thirty-ninth round) */
static __shared__ uint32_t gn_dev_tl_acc[8];
static __shared__ volatile float gn_dev_tl_sink; /* what the apply's marks wait for */

__device__ static inline void gn_dev_tl_ready(uint32_t task)
{
    if (!gn_dev_tl_sm) return;
    struct gn_dev_tl *r = gn_dev_tl_sm + task;
    r->ready = gn_clock_ns();
    r->maker = gn_dev_tl_cur;
    r->rstep = gn_dev_tl_step;
}
#endif

#ifdef GN_DIAG_TIMELINE
/* Thread 0 only: the optimizer apply's part i (ap; i < 0: its start). */
__device__ static inline void gn_dev_apply_mark(int32_t i)
{
    if (!gn_dev_tl_sm) return;
    const uint64_t ns = gn_clock_ns();
    if (i >= 0) gn_dev_tl_acc[4 + i] += (uint32_t)(ns - gn_dev_tl_ap_at);
    gn_dev_tl_ap_at = ns;
}
#endif

/* Thread 0 only. */
__device__ static inline void gn_dev_clock_mark(int32_t phase)
{
#ifdef GN_DIAG_TIMELINE
    /* the op's phases, task by task (gn_dev_tl.ph, in the profile's order) */
    static_assert(GN_CUDA_PROF_STAGE == GN_CUDA_PROF_EDGES + 1 &&
                      GN_CUDA_PROF_MATH == GN_CUDA_PROF_EDGES + 2 &&
                      GN_CUDA_PROF_APPLY == GN_CUDA_PROF_EDGES + 3,
                  "the task math's phases follow each other in the profile");
    const uint32_t i = (uint32_t)(phase - GN_CUDA_PROF_EDGES);
    if (gn_dev_tl_sm && i < 4) {
        const uint64_t ns = gn_clock_ns();
        gn_dev_tl_acc[i] += (uint32_t)(ns - gn_dev_tl_at);
        gn_dev_tl_at = ns;
    }
#endif
    const uint64_t now = clock64();
    gn_dev_clock_sm.cyc[phase < 0 ? gn_dev_clock_sm.other : phase] += now - gn_dev_clock_sm.at;
    gn_dev_clock_sm.at = now;
}

/* Every block: the time from here on goes to phase p (thread 0's clock);
 * returns the phase it went to before. */
__device__ static inline int32_t gn_dev_phase(int32_t p)
{
    int32_t was = 0;
    if (threadIdx.x == 0) {
        gn_dev_clock_mark(-1);
        was = gn_dev_clock_sm.other;
        gn_dev_clock_sm.other = p;
    }
    return was;
}

#endif
