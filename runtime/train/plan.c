/*
 * The run plan (plan.h): every value fixed for a run, computed here and
 * nowhere else: the batch clamped to the examples used, the run's and the
 * epoch's length (with the default length's rule, gn_plan_epochs), the
 * pools, the optimizer and its schedule, the tile rule of each backend, the
 * cpu workers, the cuda backend's timeouts and debugging knobs.
 */
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "numguard.h"
#include "plan.h"
#include "taskgraph.h"

/* The cpu scheduler's worker limit and its rule for threads = 0
 * (sched_cpu.c): the plan resolves the count the same way, so that the
 * tile rule and the scheduler agree. */
#define GN_PLAN_MAX_THREADS 1024

int32_t gn_plan_cpu_workers(int32_t threads)
{
    if (threads > 0) return threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int32_t)(cores < GN_PLAN_MAX_THREADS ? cores : GN_PLAN_MAX_THREADS) : 1;
}

int32_t gn_plan_epochs(int32_t epochs, int64_t steps, int64_t steps_per_epoch)
{
    if (epochs > 0 || steps > 0) return epochs; /* asked for: as given */
    if (steps_per_epoch < 1) steps_per_epoch = 1;
    const int64_t least = (GN_DEFAULT_MIN_STEPS + steps_per_epoch - 1) / steps_per_epoch;
    return least > GN_DEFAULT_EPOCHS ? (int32_t)least : GN_DEFAULT_EPOCHS;
}

void gn_plan_make(struct gn_plan *p, const struct gn_settings *s, enum gn_backend b,
                  const struct gn_data *train, const struct gn_data *test)
{
    memset(p, 0, sizeof *p);
    p->backend = (int32_t)b;
    p->n_train = train->count;
    if (s->limit_train > 0 && s->limit_train < p->n_train) p->n_train = s->limit_train;
    p->batch = s->batch > p->n_train ? (int32_t)p->n_train : s->batch;
    p->steps_per_epoch = (p->n_train + p->batch - 1) / p->batch;
    p->epochs = gn_plan_epochs(s->epochs, s->steps, p->steps_per_epoch);
    p->steps_total = p->epochs > 0 ? (int64_t)p->epochs * p->steps_per_epoch : INT64_MAX;
    if (s->steps > 0 && s->steps < p->steps_total) p->steps_total = s->steps;

    p->inputs = train->features;
    p->classes = train->classes;
    if (test && test->count > 0 && test->classes > p->classes) p->classes = test->classes;
    p->test_count = test ? test->count : 0;
    p->group_size = s->group_size;
    p->max_width = s->group_size > p->classes ? s->group_size : p->classes;
    gn_model_capacity(s, p->inputs, p->classes, &p->max_groups, &p->max_edges, &p->max_params);

    p->seed = s->seed;
    p->optim.kind = (int32_t)s->optimizer;
    p->optim.schedule = (int32_t)s->lr_schedule;
    p->optim.warmup = s->lr_warmup;
    p->optim.step_every = s->lr_step_every;
    /* the schedule spans the run's epochs (--steps only when it has none):
     * --steps that stops a run early cuts it short, the schedule stays the
     * same, so runs in --steps segments resume one another */
    p->optim.steps_total =
        p->epochs > 0 ? (int64_t)p->epochs * p->steps_per_epoch : p->steps_total;
    p->optim.lr = s->lr;
    p->optim.lr_min = s->lr_min;
    p->optim.gamma = s->lr_gamma;
    p->optim.momentum = s->momentum;
    p->optim.beta1 = s->beta1;
    p->optim.beta2 = s->beta2;
    p->optim.eps = s->eps;
    p->optim.weight_decay = s->weight_decay;
    p->grow = (int32_t)s->grow;
    p->grow_every = gn_settings_grow_every(s);
    p->grow_criterion = (int32_t)s->grow_criterion;
    p->grow_threshold = s->grow_threshold;
    p->grow_ratio = s->grow_ratio;
    p->grow_noise = s->grow_noise;
    p->prune_threshold = s->prune_threshold;
    p->prune_after = s->prune_after;
    p->ranks = s->ranks;

    p->threads = s->threads;
    switch (b) {
    case GN_BACKEND_CUDA:
        p->workers = 1;
        p->tile_asked = s->tile;
        p->tile = s->tile > 0 ? s->tile : 32;
        if (p->tile > p->batch) p->tile = p->batch;
        if (p->tile > 64) p->tile = 64;
        p->tiles = (p->batch + p->tile - 1) / p->tile;
        break;
    case GN_BACKEND_CPU:
        p->workers = gn_plan_cpu_workers(s->threads);
        gn_taskgraph_tiles(p->batch, s->tile, p->workers, &p->tile, &p->tiles);
        break;
    default:
        p->workers = 1;
        p->tile = p->batch;
        p->tiles = 1;
        break;
    }

    int64_t scale = s->cuda_timeout_scale > 1 ? s->cuda_timeout_scale : 1;
    p->data_timeout_ns = GN_PLAN_DATA_TIMEOUT_NS * scale;
    p->wait_timeout_ns = GN_PLAN_WAIT_TIMEOUT_NS * scale;
    p->inject_stuck_step = s->cuda_inject_stuck;
    p->blocks_per_sm = s->cuda_blocks_per_sm;
    p->stream_data = s->cuda_stream_data;

    p->on_nan = (int32_t)s->on_nan;
    p->precision = (int32_t)s->precision;
    p->checkpoint_every = s->checkpoint_path ? s->checkpoint_every : 0;
    p->trace = s->trace_path != NULL;
    p->trace_every = s->trace_every;
    p->explode_loss = gn_guard_explode_loss(p->classes);
    p->chance_loss = gn_guard_chance_loss(train->y, p->n_train, p->classes);
}

int32_t gn_plan_cuda_tile(int32_t batch, int64_t groups, int64_t depth, int32_t workers)
{
    const double want = (double)batch * (double)(groups > 0 ? groups : 1) /
                        ((double)(depth > 0 ? depth : 1) * (double)(workers > 0 ? workers : 1));
    /* nearest in ratio: the boundaries are 16 sqrt 2 and 32 sqrt 2 */
    int32_t t = want < 22.627417 ? 16 : want < 45.254834 ? 32 : 64;
    return t > batch ? batch : t;
}

int gn_plan_cuda_many(int32_t batch, int64_t groups, int64_t depth, int32_t sms, int32_t few,
                      int32_t tile)
{
    if (groups < 1) groups = 1;
    if (depth < 1) depth = 1;
    if (tile <= 0) {
        tile = gn_plan_cuda_tile(batch, groups, depth, sms * few);
        if (tile > 32) tile = 32;
    }
    const int64_t tiles = ((int64_t)batch + tile - 1) / tile;
    return groups * tiles >= (int64_t)sms * depth;
}

void gn_plan_start(struct gn_plan *p, int64_t step, int64_t grow_round, int32_t guard,
                   double loss_sum, int64_t hits, int64_t seen)
{
    p->first_step = step;
    p->grow_round = grow_round;
    p->first_guard = guard;
    p->first_loss_sum = 0.0;
    p->first_hits = p->first_seen = 0;
    if (step % p->steps_per_epoch != 0) {
        p->first_loss_sum = loss_sum;
        p->first_hits = hits;
        p->first_seen = seen;
    }
}
