/*
 * The host's view of the CUDA backend: one plain C header shared by the
 * host code (cuda.c, gcc) and the device code (run.cuh, nvcc).
 *
 * struct gn_plan        what the kernel needs to know, fixed for the run
 *                        (runtime/train/plan.h, the run plan every backend gets);
 * struct gn_cuda_ctl     the control block in mapped (pinned, zero-copy)
 *                        host memory: the host writes the batch flags and the
 *                        stop request, the kernel writes its counters, what it
 *                        consumed, and an error record;
 * struct gn_cuda_epoch   one record per epoch, written by the kernel at the
 *                        epoch's end (training sums and the test evaluation).
 * All fields fixed-width, sizes checked, no #ifdef inside a struct.
 */
#ifndef GN_DEVICE_CUDA_API_H
#define GN_DEVICE_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"
#include "grow.h"
#include "model.h"
#include "plan.h"
#include "prune.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Minibatch slots in flight between the loader and the kernel. */
#define GN_CUDA_NBUF 4
/* Epoch orders in flight, for a training set kept on the device. */
#define GN_CUDA_NORDER 2
/* The kernel reads the host's stop word every this many steps. */
#define GN_CUDA_STOP_EVERY 8
/* The kernel publishes its live counters at most this often (ns), and at
 * every epoch's and the run's end: half the host's poll (every 2 ms,
 * cuda.c), so every poll sees counters at most ~1 ms old. Each publication
 * costs block 0 two system fences on a step's boundary, where every block
 * waits for it: at 50 us, as before, a small graph's step (one-group, 88
 * us) published at every step. */
#define GN_CUDA_PUBLISH_NS 1000000ull

/* Steps whose mean loss is logged (tests compare backends step by step). */
#define GN_CUDA_LOSS_LOG (1 << 20)

/* Threads per worker block (a multiple of 32 dividing the statistic's
 * lanes, GN_STAT_LANES: 64, 128 or 256), and the blocks an SM of the
 * kernel's two register budgets (kernel.cu): GN_CUDA_BLOCKS_FEW for graphs
 * whose levels hold fewer tasks than the SMs, GN_CUDA_BLOCKS_MANY for the
 * rest. 256 threads, 1 and 2 blocks, unless the CUDA compiler is told
 * otherwise (-D...: tools/bench/variants.sh builds such variants; e.g. 128
 * threads at 2 and 4 blocks, the same registers a thread and twice the
 * workers). No sum's order depends on them. */
#ifndef GN_CUDA_THREADS
#define GN_CUDA_THREADS 256
#endif
#ifndef GN_CUDA_BLOCKS_FEW
#define GN_CUDA_BLOCKS_FEW 1
#endif
#ifndef GN_CUDA_BLOCKS_MANY
#define GN_CUDA_BLOCKS_MANY 2
#endif

/* Error codes of the kernel's error record. */
enum gn_cuda_fault {
    GN_CUDA_FAULT_NONE = 0,
    GN_CUDA_FAULT_STUCK = 1,     /* a queue wait made no progress */
    GN_CUDA_FAULT_BARRIER = 2,   /* a grid barrier did not open in time */
    GN_CUDA_FAULT_NO_DATA = 3,   /* the loader sent no batch in time */
    GN_CUDA_FAULT_INVARIANT = 4, /* a broken scheduler invariant */
    GN_CUDA_FAULT_INDEX = 5,     /* a bad group, edge or task index */
    GN_CUDA_FAULT_NUMERIC = 6,   /* NaN or Inf in the loss or a gradient, or the loss
                                  * exploded (numguard.h); fault_loss, fault_index: the
                                  * step's loss sum and rows */
    GN_CUDA_FAULT_DIED = 7,      /* the network died (numguard.h): fault_loss, fault_index:
                                  * the epoch's loss sum and rows seen; fault_group: the dead
                                  * hidden groups */
    GN_CUDA_FAULT_SNAPSHOT = 8,  /* the host took no checkpoint snapshot in time */
};

#define GN_CUDA_RUNNING 0
#define GN_CUDA_FINISHED 1
#define GN_CUDA_FAILED 2
#define GN_CUDA_STOPPED 3

/* A slot's record, in device memory: the loader's copy of it follows the
 * slot's data on the same stream, so the kernel that sees ready == k + 1
 * sees the data, and its wait reads no host memory. A minibatch slot:
 * k is the step, rows its rows; an order slot (a training set kept on the
 * device): k is the epoch, rows the examples its order holds. */
struct gn_cuda_slot {
    int64_t ready;
    int32_t rows;
    int32_t pad_;
};

struct gn_cuda_ctl {
    /* host -> kernel */
    volatile int32_t stop;                /* 1: finish the current step and exit */
    volatile int32_t pad0_;
    /* kernel -> host */
    volatile int64_t consumed[GN_CUDA_NBUF]; /* step + 1 of the last batch used up */
    volatile int64_t order_epoch;            /* the epoch whose order the kernel uses (earlier slots free) */
    volatile int64_t step;                   /* steps completed */
    volatile int64_t epochs;                 /* epoch records written */
    volatile double loss_sum;                /* this epoch so far */
    volatile int64_t hits, seen;
    volatile int64_t tasks;
    volatile int64_t groups, edges, params, duplications, refused;
    volatile int64_t t_forward_ns, t_backward_ns, t_update_ns, t_growth_ns;
    volatile int64_t t_wait_data_ns, high_water;
    volatile int32_t state; /* GN_CUDA_RUNNING / FINISHED / FAILED / STOPPED */
    /* the error record: what, which group, which step */
    volatile int32_t fault;
    volatile int32_t fault_group;
    volatile int32_t fault_block;
    volatile int64_t fault_step;
    volatile int64_t fault_index;
    volatile double fault_loss;
    /* A periodic checkpoint (plan.checkpoint_every): at the end of such a
     * step the kernel writes the epoch's sums and growth rounds, then
     * snap_step = step + 1, and waits (block 0; the others at the next
     * barrier) until the host, having copied the model, sets snap_done to
     * the same value. */
    volatile int64_t snap_step;
    volatile int64_t snap_done; /* host -> kernel */
    volatile double snap_loss_sum;
    volatile int64_t snap_hits, snap_seen, snap_grow_round;
    /* the growth trace (above) */
    volatile int64_t trace_steps, trace_snaps;           /* kernel -> host */
    volatile int64_t trace_steps_read, trace_snaps_read; /* host -> kernel */
    /* the numeric guard's epoch-rule state word (numguard.h) at the
     * periodic checkpoint's step, and where the run ended */
    volatile int32_t snap_guard, guard;
    /* groups removed by pruning rounds (device/prune.cuh), published with
     * the other counters */
    volatile int64_t pruned;
};

/*
 * Where the kernel's time goes: in-kernel counters of every block's thread
 * 0, in SM clock cycles (clock64), summed over the blocks, read once the
 * kernel has ended (gn_cuda_profile). Per block the phases add up to its
 * time in the kernel: taking tasks (the pop and its wait, idle time
 * included), running them by kind, finishing them (releases, pushes),
 * waiting in grid barriers; block 0 also waits for the host's minibatch and
 * keeps the books (loss sums, counters published); growth rounds (their
 * barriers excluded) in four parts: choosing (ranks, marks, choices and
 * block 0's grant), duplicating, rebuilding the order and edge lists,
 * rebuilding the task DAGs (the last also at the start and after a
 * pruning round); `other` is the rest (the loops).
 * Inside a task, the parts the task math marks (block_ops.cuh) are taken
 * out of its kind: reading its edges, staging operands (the loads and the
 * barrier after them), the multiply-adds, the optimizer's rule; the kind
 * keeps the rest (bias, stores, the loss, the statistic).
 */
#define GN_CUDA_PROFILE(X)                                                                         \
    X(TAKE, "take")                                                                                \
    X(FORWARD, "forward")                                                                          \
    X(BACKWARD, "backward")                                                                        \
    X(UPDATE, "update")                                                                            \
    X(FINISH, "finish")                                                                            \
    X(EDGES, "task_edges")                                                                         \
    X(STAGE, "task_loads")                                                                         \
    X(MATH, "task_math")                                                                           \
    X(APPLY, "task_optimizer")                                                                     \
    X(BARRIER, "barrier")                                                                          \
    X(DATA, "data")                                                                                \
    X(BOOK, "bookkeeping")                                                                         \
    X(GROW, "growth")                                                                              \
    X(GROW_DUP, "grow_duplicate")                                                                  \
    X(GROW_LISTS, "grow_lists")                                                                    \
    X(GROW_DAGS, "grow_dags")                                                                      \
    X(PRUNE, "prune")                                                                              \
    X(OTHER, "other")                                                                              \
    GN_CUDA_PROFILE_DIAG(X)

/* A diagnostic build's extra phases (-DGN_DIAG_TWICE for both the C and
 * the CUDA compiler, never the default; worker.cuh): a forward task's op
 * run twice in a row, each run's steps counted apart, the first (c_, as
 * every task runs) and the second (w_: its code and its data just used). */
#ifdef GN_DIAG_TWICE
#define GN_CUDA_PROFILE_DIAG(X)                                                                    \
    X(C_GROUP, "c_group") X(C_BIAS, "c_bias") X(C_RECS, "c_recs") X(C_EDGES, "c_edges")            \
    X(C_ISSUE, "c_issue") X(C_WAIT, "c_wait") X(C_STAGE, "c_loads") X(C_MATH, "c_math")           \
    X(C_STORE, "c_store") X(W_GROUP, "w_group") X(W_BIAS, "w_bias") X(W_RECS, "w_recs")            \
    X(W_EDGES, "w_edges") X(W_ISSUE, "w_issue") X(W_WAIT, "w_wait") X(W_STAGE, "w_loads")          \
    X(W_MATH, "w_math") X(W_STORE, "w_store") X(C_ISSUE_A, "c_issue_a")                        \
    X(W_ISSUE_A, "w_issue_a")
#elif defined(GN_DIAG_RELEASE)
/* The release's parts (-DGN_DIAG_RELEASE, both compilers; dag.h's
 * GN_DAG_MARK): its release fence, the decrements (to their values), the
 * acquire fence, the pushes, the finished count; `finish` keeps the
 * kind's timer. r_read (the successors' loads of gn_dag_finish) stays 0
 * here: the kernel reads them while the task runs. */
#define GN_CUDA_PROFILE_DIAG(X)                                                                    \
    X(R_READ, "r_read") X(R_FENCE, "r_fence") X(R_ATOM, "r_atom") X(R_ACQ, "r_acq")               \
    X(R_PUSH, "r_push") X(R_DONE, "r_done")
#else
#define GN_CUDA_PROFILE_DIAG(X)
#endif

enum gn_cuda_prof {
#define GN_CUDA_PROF_ENUM(k, name) GN_CUDA_PROF_##k,
    GN_CUDA_PROFILE(GN_CUDA_PROF_ENUM)
#undef GN_CUDA_PROF_ENUM
    GN_CUDA_PROF_COUNT
};

/* Each worker block's live counters, in mapped memory: its thread 0 stores
 * them at every step's end (plain stores to its own slot, no atomics), the
 * host sums them when it samples. */
struct gn_cuda_block_stat {
    volatile int64_t tasks;      /* tasks the block has run since the launch */
    volatile int64_t high_water; /* most ready tasks it saw waiting in the queue */
};

/*
 * The growth trace of a cuda run (--trace), recorded by block 0 at every
 * step's end (after its growth) into mapped memory for the host to replay
 * through trace.h:
 *   a ring of GN_CUDA_TRACE_STEPS step records: the step's loss sum, hits
 *   and rows, and whether a snapshot of the model came with it;
 *   a ring of GN_CUDA_TRACE_SNAPS snapshot slots, at every step a trace
 *   record may fall on (every trace_every steps, every growth round, the
 *   last step): the group and edge records, the order, the counters and the
 *   growth round's events.
 * ctl->trace_steps / trace_snaps count what the kernel wrote; the host
 * answers with trace_steps_read / trace_snaps_read, and the kernel waits
 * for room (nothing is dropped; a run that does not trace never waits).
 */
#define GN_CUDA_TRACE_STEPS 4096
#define GN_CUDA_TRACE_SNAPS 4
#define GN_CUDA_TRACE_EVENTS 64 /* GN_GROW_LOG_MAX */

struct gn_cuda_trace_step {
    int64_t step; /* steps done */
    double loss_sum;
    int64_t hits;
    int32_t rows;
    int32_t snap; /* 1: the next snapshot slot holds this step's model */
};

struct gn_cuda_trace_snap {
    int64_t step;
    int32_t n_groups, n_edges;
    int64_t duplications, refused, pruned;
    int64_t n_params; /* the parameter pool's fill (the records' offsets are checked against it) */
    int32_t n_events, pad_;
    struct gn_grow_event events[GN_CUDA_TRACE_EVENTS];
    /* the step's pruning round, when it ran (plog.n_pruned 0: nothing
     * went) */
    int64_t prune_step;
    struct gn_prune_log plog;
    /* then groups (max_groups), edges (max_edges), order (max_groups) */
};

/* Bytes of a snapshot slot for pools of these capacities (16-aligned). */
static inline size_t gn_cuda_trace_slot_bytes(int32_t max_groups, int32_t max_edges)
{
    size_t b = sizeof(struct gn_cuda_trace_snap) + (size_t)max_groups * sizeof(struct gn_group) +
               (size_t)max_edges * sizeof(struct gn_edge) + (size_t)max_groups * sizeof(int32_t);
    return (b + 15) & ~(size_t)15;
}

struct gn_cuda_epoch {
    int64_t step;
    double loss_sum;
    int64_t hits, seen;
    double test_loss_sum;
    int64_t test_hits;
    int64_t groups, edges, duplications, refused;
    int64_t dead_groups; /* hidden groups dead at the epoch's last step (numguard.h) */
};
GN_STATIC_ASSERT(sizeof(struct gn_cuda_epoch) == 88, "gn_cuda_epoch layout");

struct gn_cuda_run;

/* Allocate every device buffer for the run (sizes printed into info),
 * upload the model and the test set, size the grid (the worker blocks and
 * shared memory are the launch's, kept in the device state). Nothing is
 * allocated after this. train_x, train_y (plan.n_train examples, may be
 * NULL): the training set, kept on the device where it fits beside the
 * rest (and the plan's stream_data is 0); the kernel
 * then assembles each minibatch itself from the epoch's order
 * (gn_cuda_push_order), else the loader streams minibatches
 * (gn_cuda_push_batch). setup (may be NULL) gets the parts' times
 * (gn_setup_mark), those reached: "dev_query" (the device's attributes,
 * free memory), "dev_alloc" (the buffers' allocation and zeroing),
 * "dev_train_set" (the training set's upload, its order buffers),
 * "dev_upload" (model, test set), "dev_pinned" (mapped and pinned host
 * buffers, streams), "dev_kernel" (the entry's attributes and occupancy:
 * its module's load, where the driver loads lazily and the warm thread
 * did not). */
enum gn_status gn_cuda_create(struct gn_cuda_run **out, const struct gn_plan *cfg,
                              const struct gn_model *m, const float *test_x,
                              const uint8_t *test_y, const float *train_x,
                              const uint8_t *train_y, char *info, size_t info_len,
                              struct gn_setup *setup);

/* 1: the training set is on the device (gn_cuda_push_order feeds the
 * kernel); 0: minibatches are streamed (gn_cuda_push_batch). */
int gn_cuda_resident(struct gn_cuda_run *r);

/* The pinned staging buffer of order slot `slot` (plan.n_train). */
int32_t *gn_cuda_staging_order(struct gn_cuda_run *r, int slot);

/* Copy a staged epoch order to the device, wait for the copy, then publish
 * it to the kernel for epoch `epoch`. */
enum gn_status gn_cuda_push_order(struct gn_cuda_run *r, int slot, int64_t epoch);

/* Launch the persistent cooperative kernel (once per run). */
enum gn_status gn_cuda_launch(struct gn_cuda_run *r);

/* Worker blocks of the grid gn_cuda_create sized. */
int32_t gn_cuda_blocks(struct gn_cuda_run *r);

/* The mapped control block and the epoch records (host pointers). */
struct gn_cuda_ctl *gn_cuda_ctl(struct gn_cuda_run *r);
const struct gn_cuda_epoch *gn_cuda_epochs(struct gn_cuda_run *r);
/* The trace rings (NULL when the run is not traced). */
const struct gn_cuda_trace_step *gn_cuda_trace_steps(struct gn_cuda_run *r);
const unsigned char *gn_cuda_trace_snaps(struct gn_cuda_run *r);
/* The blocks' live counters (gn_cuda_blocks of them). */
const struct gn_cuda_block_stat *gn_cuda_block_stats(struct gn_cuda_run *r);
const double *gn_cuda_step_loss(struct gn_cuda_run *r); /* (min(steps, GN_CUDA_LOSS_LOG)) */
const int64_t *gn_cuda_step_time(struct gn_cuda_run *r); /* ns since the kernel began */

/* The pinned staging buffers of a slot: (batch, inputs) and (batch). */
float *gn_cuda_staging_x(struct gn_cuda_run *r, int slot);
uint8_t *gn_cuda_staging_y(struct gn_cuda_run *r, int slot);

/* Copy a staged batch to the device (copy stream), wait for the copy, then
 * publish it to the kernel for step `step`. */
enum gn_status gn_cuda_push_batch(struct gn_cuda_run *r, int slot, int64_t step, int32_t rows);

/* Whether the kernel has ended, normally or not (a kernel that faults,
 * an illegal address say, never writes its state word: the host's poll
 * must not wait on that word alone). */
int gn_cuda_ended(struct gn_cuda_run *r);

/* Wait for the kernel to end; GN_ERR_DEVICE with a message if it failed. */
enum gn_status gn_cuda_wait(struct gn_cuda_run *r);

/* Copy the trained (and grown) model back into m (same capacities). */
enum gn_status gn_cuda_download(struct gn_cuda_run *r, struct gn_model *m);
/* The last error's detail (what failed, where). */
const char *gn_cuda_error(struct gn_cuda_run *r);

/* The kernel's profile once it has ended: ns[GN_CUDA_PROF_COUNT], each
 * phase's time summed over the blocks (cycles at the SM's rated clock),
 * and the number of blocks. */
enum gn_status gn_cuda_profile(struct gn_cuda_run *r, double *ns, int32_t *blocks);
const char *gn_cuda_profile_name(int32_t phase);

/* Growth rounds done (for the alternate policy), after a download. */
int64_t gn_cuda_grow_round(struct gn_cuda_run *r);

void gn_cuda_destroy(struct gn_cuda_run *r);

#ifdef __cplusplus
}
#endif

#endif
