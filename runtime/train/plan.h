/*
 * The run plan: everything fixed for a training run, decided once by the
 * trainer (gn_plan_make, then gn_plan_start once the start position is
 * known) and handed to the backend, which only reads it.
 *
 * One plain struct of fixed-width fields, no pointers and no #ifdef, so
 * the same bytes serve the host backends and, copied to the device, the
 * persistent CUDA kernel (which reads it as `cfg`: cfg.optim.lr, cfg.tile...).
 * Values the launch derives (worker blocks, shared-memory regions) are not
 * in it: they belong to the device state.
 *
 * The tile rule lives here, once for every backend:
 *   cuda    --tile, else chosen at launch from the starting graph
 *           (gn_plan_cuda_tile; 32 until then); at most the batch and at
 *           most 64;
 *   cpu     gn_taskgraph_tiles: --tile, else two tiles per worker on the
 *           first level, at least 8 rows; at most the batch;
 *   serial  one tile of the whole batch (it does not tile).
 */
#ifndef GN_RUNTIME_PLAN_H
#define GN_RUNTIME_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's wall-clock bounds before --cuda-timeout-scale. */
#define GN_PLAN_DATA_TIMEOUT_NS (120ll * 1000000000)
#define GN_PLAN_WAIT_TIMEOUT_NS (20ll * 1000000000)

struct gn_plan {
    /* shapes: rows, tiles (rows per task and tiles per batch), the data,
     * the network and its pools */
    int32_t batch, tile, tiles, inputs;
    int32_t classes, group_size, max_width, max_groups;
    int32_t max_edges, grow, grow_every, test_count; /* grow: enum gn_grow_policy */
    int64_t max_params;
    /* length: the steps of the run (counted from its start) and of an epoch */
    int64_t steps_total, steps_per_epoch;
    int64_t grow_round; /* growth rounds done before the run (alternate policy) */
    uint64_t seed;
    float grow_threshold, grow_noise;
    /* Fault injection for the gpu tests (0 = off): one task of this step
     * (1-based) spins without finishing, so the queue's no-progress
     * detection must fire (settings.cuda_inject_stuck). */
    int32_t inject_stuck_step;
    int32_t tile_asked; /* --tile as given (0: chosen; cuda: at launch, gn_plan_cuda_tile) */
    int64_t data_timeout_ns; /* cuda: a batch that does not come within this: error */
    int64_t wait_timeout_ns; /* cuda: a barrier that does not open within this: error */
    /* A resumed run (--resume): steps done before it, and the sums of the
     * epoch it starts in so far (zero at an epoch's start). */
    int64_t first_step;
    double first_loss_sum;
    int64_t first_hits, first_seen;
    int64_t n_train;       /* training examples used (--limit-train applied) */
    int32_t backend;       /* enum gn_backend the plan was made for */
    int32_t threads;       /* cpu: worker threads asked for (0 = cores online) */
    int32_t workers;       /* cpu: the workers the tile rule assumed (threads resolved) */
    int32_t blocks_per_sm; /* cuda: worker blocks per SM (0 = chosen at launch) */
    /* The optimizer, its learning rate and schedule (optim.h; its
     * steps_total is the run's). */
    struct gn_optim optim;
    /* The numeric guard's limits (numguard.h): a step's mean loss above
     * explode_loss has exploded; an epoch's at or near chance_loss (the
     * training labels' entropy) may be a dead network's. on_nan: enum
     * gn_nan_policy. */
    double explode_loss, chance_loss;
    int32_t on_nan;
    /* The passes over the training set the run plans (gn_plan_epochs: the
     * settings' epochs, or the default length's; 0: a run of --steps
     * alone). The host's; the kernel counts in steps. */
    int32_t epochs;
    /* A checkpoint every this many steps (0: none while the run goes; the
     * trainer writes the one at the end). The cuda kernel pauses at such a
     * step's end for the host to copy the model (cuda_api.h). */
    int64_t checkpoint_every;
    /* --trace: 1 when the run is traced, and a record every trace_every
     * steps (trace.h; the cuda kernel records steps for the host then). */
    int32_t trace, trace_every;
    /* what marks a group: enum gn_grow_criterion, with grow_threshold (std)
     * or grow_ratio (relative) */
    int32_t grow_criterion;
    float grow_ratio;
    /* pruning at the growth rounds (prune.h): off when prune_threshold is 0 */
    float prune_threshold;
    int32_t prune_after;
    /* --ranks: data-parallel ranks simulated in one process (ranks.h; the
     * host backends; 1: off). first_guard: the numeric guard's epoch-rule
     * state word (numguard.h, gn_guard_epoch) where the run starts. */
    int32_t ranks, first_guard;
    /* the task math's products (enum gn_precision; not fp32: cuda only) */
    int32_t precision;
    int32_t stream_data; /* cuda: 1 streams minibatches even where the training set fits */
};
GN_STATIC_ASSERT(sizeof(struct gn_plan) == 312, "gn_plan is shared with the device");
GN_STATIC_ASSERT(offsetof(struct gn_plan, inject_stuck_step) == 96, "gn_plan layout");
GN_STATIC_ASSERT(offsetof(struct gn_plan, first_step) == 120, "gn_plan layout");
GN_STATIC_ASSERT(offsetof(struct gn_plan, n_train) == 152, "gn_plan layout");
GN_STATIC_ASSERT(offsetof(struct gn_plan, optim) == 176, "gn_plan layout");
GN_STATIC_ASSERT(offsetof(struct gn_plan, explode_loss) == 240, "gn_plan layout");
GN_STATIC_ASSERT(offsetof(struct gn_plan, grow_criterion) == 280, "gn_plan layout");

/* The epochs of a run: the settings' epochs where epochs or steps were
 * given (steps > 0 with epochs 0: 0, a run of exactly those steps); else
 * (both 0) the default length: GN_DEFAULT_EPOCHS, or the fewest epochs of
 * steps_per_epoch steps that make at least GN_DEFAULT_MIN_STEPS steps when
 * that is more (genet.h). A function of the training examples in use and
 * the batch alone (steps_per_epoch), decided on the host before any backend
 * opens, so every backend and a resumed run plan the same length. */
int32_t gn_plan_epochs(int32_t epochs, int64_t steps, int64_t steps_per_epoch);

/* The cpu backend's workers for --threads `threads` (0: the processors
 * online), as its scheduler counts them. */
int32_t gn_plan_cpu_workers(int32_t threads);

/* Make the plan of a run of settings s (already checked) on backend b
 * (serial, cpu or cuda) over train (and test, may be NULL or empty):
 * everything but the start position, which gn_plan_start sets. */
void gn_plan_make(struct gn_plan *p, const struct gn_settings *s, enum gn_backend b,
                  const struct gn_data *train, const struct gn_data *test);

/* The start position: the step the run starts at, the growth rounds done
 * before it and the sums of its epoch so far (ignored at an epoch's start). */
/* The cuda backend's rows per task when --tile is not given, from the
 * starting graph and the launch's worker blocks: about one forward task
 * per worker on an average level (groups: the hidden groups and the
 * output; depth: the levels), i.e. batch x groups / (depth x workers) rows,
 * the nearest of 16, 32 and 64 (in ratio), at most the batch. The result's
 * bits do not depend on the tile (every sum runs over rows or within one
 * row in a fixed order), only its speed: docs/PERF.md has the measurements
 * the rule follows. */
int32_t gn_plan_cuda_tile(int32_t batch, int64_t groups, int64_t depth, int32_t workers);

/* Whether the cuda backend runs its two-block entry (two worker blocks an
 * SM; else one): when the starting graph's levels hold, on average, at
 * least one task an SM, groups x tiles >= sms x depth, the tiles of `tile`
 * rows (--tile as the plan keeps it) or, where tile is 0, of 32 rows or
 * the finer tiles one block an SM would run (gn_plan_cuda_tile for sms x
 * few workers): where those are 16 rows a level of one block's tasks takes
 * two waves, which two blocks run in one. Speed only (no sum's order
 * depends on the blocks); docs/PERF.md (fortieth round) has the graphs it
 * was measured on. */
int gn_plan_cuda_many(int32_t batch, int64_t groups, int64_t depth, int32_t sms, int32_t few,
                      int32_t tile);

void gn_plan_start(struct gn_plan *p, int64_t step, int64_t grow_round, int32_t guard, double loss_sum,
                   int64_t hits, int64_t seen);

#ifdef __cplusplus
}
#endif

/* The minibatch of step `step` (counted from the run's start): rows
 * [*first, *first + returned) of its epoch's order (the permutation of
 * the training examples, gn_backend_order_fn), the last of an epoch short
 * when the batch does not divide the examples. The one rule of the host
 * loop's assembly and of the cuda kernel's own (a training set kept on the
 * device). */
GN_HD int32_t gn_plan_batch_rows(const struct gn_plan *p, int64_t step, int64_t *first)
{
    const int64_t i0 = (step % p->steps_per_epoch) * (int64_t)p->batch;
    *first = i0;
    return (int32_t)(p->n_train - i0 < p->batch ? p->n_train - i0 : p->batch);
}

/* Whether the end of step `step` (counted from the run's start) is plain:
 * no pruning or growth round, trace record, epoch end, checkpoint, nor the
 * run's end follows it. The cuda kernel's step loop runs such an end
 * through one grid barrier; every backend skips the step's growth
 * statistic there (gn_plan_stat_read). */
GN_HD int gn_plan_plain_end(const struct gn_plan *p, int64_t step)
{
    const int64_t n = step + 1;
    /* a pruning or growth round (grow_every is read only where one may run) */
    const int round = (p->prune_threshold > 0.0f || p->grow != GN_GROW_OFF) && n % p->grow_every == 0;
    return n < p->steps_total && n % p->steps_per_epoch != 0 && !p->trace && !round &&
           !(p->checkpoint_every > 0 && n % p->checkpoint_every == 0);
}

/* Whether step `step`'s growth statistic (stat.h) is read after it: by a
 * growth round (the marks, the median), an epoch's end (the numeric
 * guard's dead-group rule), a trace record, a checkpoint or the run's end
 * (the saved model). Exactly the ends that are not plain. On any other
 * step no backend computes it; a group's grad_std keeps its last value,
 * unless one of its gradient entries is not finite, which makes it
 * gn_stat_nonfinite() (stat.h), the verdict the statistic would have given
 * (gn_stat_refresh; numguard.h tests it every step). */
GN_HD int gn_plan_stat_read(const struct gn_plan *p, int64_t step)
{
    return !gn_plan_plain_end(p, step);
}

#endif
