/*
 * The cpu backend: worker threads run the whole training step through the
 * shared scheduler core (queue, in-degree counters, pools) — the same
 * protocol the persistent CUDA kernel runs.
 *
 * A step is one pass over the task DAG of taskgraph.h: forward and backward
 * tasks per (group, tile), an update task per group (gradients, the growth
 * statistic, the optimizer's update) released once the group's error is complete and nobody
 * needs its old weights any more. Each task calls the same reference math as
 * the serial backend, and every output element is computed in the same
 * order, so the two backends agree bitwise.
 *
 * Growth runs as three more passes with one task per hidden group: mark
 * (statistic against the rule), choose (marked, no marked predecessor),
 * duplicate (gn_grow_apply into the space the main thread granted in
 * position order and took from the pools in one bump; chosen groups are
 * never adjacent, so concurrent duplications touch disjoint edges). Then the main thread rebuilds the
 * topology with every child right after its parent, and the task DAGs.
 * The relative criterion first runs a rank pass: each task ranks its
 * group's statistic among the hidden groups' (gn_grow_rank) and the one
 * task holding the median's rank leaves its statistic for the rule.
 * Pruning (--prune-threshold), before growth at a growth round, is the
 * serial backend's round on the main thread (gn_prune_round), then the
 * task DAGs are rebuilt when it removed a group.
 *
 * When the pools cannot hold every duplication of a round, which ones get
 * the space is decided before the duplicate pass, in position order
 * (gn_grow_grant, the serial round's rule), not by which worker allocates
 * first: the cpu backend refuses the very groups serial refuses and puts
 * the new groups in the same slots.
 *
 * --ranks N (ranks.h): ranks.c drives the step and this backend runs its
 * work. Each rank's forward and backward is a pass over the training DAG
 * with the rank's replica and buffers (PASS_LOCAL: the update tasks idle,
 * the gradients are the reducer's), the ranks one after another; the
 * rank's rows are spread over all the DAG's tiles, so every worker has
 * work in each rank's pass. One after another, not side by side, because
 * the scheduler runs one pass over one DAG at a time and a task id names a
 * (kind, group, tile) of one model: ranks side by side would need a DAG of
 * N copies and the rank in the task map, while this reuses the DAG as it
 * is (all replicas have the same graph). The per-rank finish (statistic,
 * optimizer, the serial growth round on each replica) has no dependence
 * between ranks and runs side by side: a pass of N independent tasks
 * (PASS_EACH). The combine stays the reducer's ordered chain on the main
 * thread. After a growth round the DAGs follow rank 0's graph, which every
 * replica shares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "error.h"
#include "grow.h"
#include "prune.h"
#include "pool.h"
#include "ranks.h"
#include "stat.h"
#include "sched_cpu.h"
#include "taskgraph.h"

enum cpu_pass {
    PASS_TRAIN,
    PASS_EVAL,
    PASS_LOCAL, /* --ranks: one rank's forward and backward (training DAG, no updates) */
    PASS_EACH,  /* --ranks: one task per rank */
    PASS_RANK,
    PASS_MARK,
    PASS_CHOOSE,
    PASS_DUP
};

struct cpu_ctx {
    struct gn_backend_io *io;
    gn_sched *sched;
    struct gn_dag train, eval, grow;
    struct gn_taskmap tm;
    int32_t tile, tiles, workers;
    enum cpu_pass pass;
    /* what the step tasks of a pass work on: io->m, io->buf and the plan's
     * tile, or under --ranks a rank's replica, buffers and tile */
    struct gn_model *m;
    const struct gn_buffers *b;
    int32_t pass_tile;

    /* --ranks (NULL: one rank); PASS_EACH runs each_fn(each_arg, task) */
    struct gn_ranks *ranks;
    struct gn_dag each;
    gn_ranks_fn each_fn;
    void *each_arg;

    /* growth round state */
    struct gn_grow_rule rule;
    int32_t median_rank;
    float median; /* written by the one rank task holding median_rank */
    struct gn_grow_pools pools;
    int32_t *child_of; /* (max_groups) by slot, -1 when none */
    uint8_t *pick;     /* (max_groups) by slot: chosen in this round */
    struct gn_grow_space *space; /* (max_groups) by slot: where a granted duplication goes */
    gn_atomic_u32 chosen;
    gn_atomic_u64 dups, refused;
    int64_t step, round;
    struct gn_optim_step opt; /* the training pass's step constants (optim.h) */
    int stat_read;            /* the step's statistic is read (plan.h, gn_plan_stat_read) */

    gn_atomic_u64 kind_ns[GN_TASK_KIND_COUNT];
};

static int64_t now_ns(void)
{
    return gn_now_ns();
}

static void run_step_task(struct cpu_ctx *c, uint32_t id)
{
    struct gn_model *m = c->m;
    const struct gn_buffers *b = c->b;
    struct gn_task k = gn_task_decode(&c->tm, id);
    int32_t g = m->order[k.pos];
    int64_t t0 = now_ns();
    int32_t r0 = k.tile * c->pass_tile, r1 = r0 + c->pass_tile;
    if (r1 > b->rows) r1 = b->rows;
    switch (k.kind) {
    case GN_TASK_FORWARD:
        if (r0 < r1) {
            gn_op_forward(m, b, g, r0, r1);
            if (g == GN_SLOT_OUTPUT) gn_op_loss(m, b, r0, r1);
        }
        break;
    case GN_TASK_BACKWARD:
        if (r0 < r1) gn_op_backward(m, b, g, r0, r1);
        break;
    case GN_TASK_UPDATE:
        if (c->pass == PASS_LOCAL) break; /* the gradients are the reducer's */
        gn_op_grad_acc(m, b, g, 1);
        gn_stat_refresh(m, g, c->stat_read);
        gn_op_update(m, g, &c->opt);
        break;
    }
    /* relaxed: statistics, read after the pass. */
    gn_atomic_fetch_add_relaxed_u64(&c->kind_ns[k.kind], (uint64_t)(now_ns() - t0));
}

static void run_grow_task(struct cpu_ctx *c, uint32_t id)
{
    const struct gn_plan *pl = c->io->plan;
    struct gn_model *m = c->io->m;
    int32_t pos = (int32_t)id + 1;
    int32_t g = m->order[pos];
    switch (c->pass) {
    case PASS_RANK:
        if (gn_grow_rank(m, pos) == c->median_rank) c->median = m->groups[g].grad_std;
        break;
    case PASS_MARK: gn_grow_mark_one(m, g, &c->rule); break;
    case PASS_CHOOSE:
        /* the choice goes to a byte of its own: predecessors' flags are
         * being read by other workers; the main thread sets CHOSEN after */
        c->pick[g] = (uint8_t)gn_grow_should_choose(m, g);
        /* relaxed: a count read after the pass. */
        if (c->pick[g]) gn_atomic_fetch_add_relaxed_u32(&c->chosen, 1);
        break;
    case PASS_DUP: {
        if (!(m->groups[g].flags & GN_GROUP_CHOSEN)) break;
        /* space[g]: granted before the pass (gn_grow_grant), or refused */
        const struct gn_grow_space sp = c->space[g];
        if (sp.child < 0) {
            gn_atomic_fetch_add_relaxed_u64(&c->refused, 1);
            break;
        }
        gn_grow_apply(m, g, gn_grow_kind((enum gn_grow_policy)pl->grow, pl->seed, c->step, c->round, pos),
                      sp.child, sp.e0, sp.p0, c->step, pl->seed, pl->grow_noise, 0, 1);
        c->child_of[g] = sp.child;
        gn_atomic_fetch_add_relaxed_u64(&c->dups, 1);
        break;
    }
    default: break;
    }
}

static void run_task(void *ctx, uint32_t id, int worker)
{
    struct cpu_ctx *c = ctx;
    (void)worker;
    if (c->pass == PASS_TRAIN || c->pass == PASS_EVAL || c->pass == PASS_LOCAL)
        run_step_task(c, id);
    else if (c->pass == PASS_EACH)
        c->each_fn(c->each_arg, (int32_t)id);
    else
        run_grow_task(c, id);
}

static enum gn_status rebuild_tasks(struct cpu_ctx *c)
{
    struct gn_model *m = c->io->m;
    enum gn_status st = gn_taskgraph_build(&c->train, &c->eval, &c->tm, m, c->tile, c->tiles);
    if (st) return st;
    int32_t hidden = m->n_groups - 2;
    return gn_dag_build(&c->grow, (uint32_t)hidden, 0, NULL, NULL);
}

static enum gn_status run_pass(struct cpu_ctx *c, enum cpu_pass pass, struct gn_dag *d);

/* --ranks (ranks.h): rank after rank, each over the workers (see the top). */
static enum gn_status ranks_local(void *ctx, struct gn_model *m, const struct gn_buffers *b)
{
    struct cpu_ctx *c = ctx;
    c->m = m;
    c->b = b;
    /* the rank's rows over all the tiles: a row's arithmetic does not
     * depend on its tile, so any tile gives the same bits */
    c->pass_tile = b->rows > 0 ? (b->rows + c->tiles - 1) / c->tiles : 1;
    return run_pass(c, PASS_LOCAL, &c->train);
}

/* The ranks side by side: one task each. */
static enum gn_status ranks_each(void *ctx, int32_t n, gn_ranks_fn fn, void *arg)
{
    struct cpu_ctx *c = ctx;
    if ((uint32_t)n != c->each.n_tasks)
        return gn_fail(GN_ERR_INVALID, "cpu backend: %d ranks, a DAG of %u", n, c->each.n_tasks);
    c->each_fn = fn;
    c->each_arg = arg;
    return run_pass(c, PASS_EACH, &c->each);
}

static enum gn_status cpu_probe(char *why, size_t len)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(why, len, "worker threads on %ld cores", cores > 0 ? cores : 1);
    return GN_OK;
}

/* Everything open takes is released by cpu_close, whatever the point open
 * failed at: the context is handed out before anything else is made. */
static enum gn_status cpu_open(void **ctx, struct gn_backend_io *io, char *about, size_t len)
{
    const struct gn_plan *p = io->plan;
    struct cpu_ctx *c = calloc(1, sizeof *c);
    *ctx = c;
    if (!c) return gn_fail(GN_ERR_NOMEM, "out of memory");
    c->io = io;
    struct gn_sched_settings ss;
    gn_sched_default_settings(&ss);
    ss.threads = p->threads;
    ss.main_works = 1;
    enum gn_status st = gn_sched_create(&c->sched, &ss);
    if (st) return st;
    /* The plan's tiles assumed p->workers workers: the scheduler must
     * have started as many, or tiles (and so results) would differ. */
    c->workers = gn_sched_workers(c->sched);
    if (c->workers != p->workers)
        return gn_fail(GN_ERR_INVALID, "cpu backend: the plan assumed %d workers, the scheduler "
                                       "started %d", p->workers, c->workers);
    c->tile = p->tile;
    c->tiles = p->tiles;
    c->child_of = malloc((size_t)io->m->max_groups * sizeof(int32_t));
    c->pick = calloc((size_t)io->m->max_groups, 1);
    c->space = malloc((size_t)io->m->max_groups * sizeof *c->space);
    if (!c->child_of || !c->pick || !c->space) return gn_fail(GN_ERR_NOMEM, "out of memory");
    snprintf(about, len, " (%d workers, tiles of %d rows)", c->workers, c->tile);
    if ((st = rebuild_tasks(c))) return st;
    if (p->ranks > 1) {
        snprintf(about, len, " (%d workers, %d ranks simulated in one process)", c->workers,
                 p->ranks);
        if ((st = gn_dag_build(&c->each, (uint32_t)p->ranks, 0, NULL, NULL))) return st;
        const struct gn_ranks_exec ex = {ranks_local, ranks_each, c};
        return gn_ranks_open(&c->ranks, io, &ex);
    }
    return GN_OK;
}

static enum gn_status run_pass(struct cpu_ctx *c, enum cpu_pass pass, struct gn_dag *d)
{
    if (d->n_tasks == 0) return GN_OK;
    c->pass = pass;
    enum gn_status st = gn_sched_run_pass(c->sched, d, run_task, c);
    struct gn_sched_stats ss;
    gn_sched_last_stats(c->sched, &ss);
    struct gn_counters *cn = c->io->c;
    if (!c->ranks) cn->tasks += (int64_t)ss.tasks; /* under --ranks ranks.c counts them */
    if (ss.high_water > cn->queue_high_water) cn->queue_high_water = ss.high_water;
    return st;
}

/* The model and buffers of the step tasks: the trainer's. */
static void work_on_io(struct cpu_ctx *c)
{
    c->m = c->io->m;
    c->b = c->io->buf;
    c->pass_tile = c->tile;
}

static enum gn_status cpu_forward(void *ctx)
{
    struct cpu_ctx *c = ctx;
    work_on_io(c);
    return run_pass(c, PASS_EVAL, &c->eval);
}

static enum gn_status grow_round(struct cpu_ctx *c)
{
    const struct gn_plan *pl = c->io->plan;
    struct gn_model *m = c->io->m;
    struct gn_grow_log *ev = c->io->events;
    enum gn_status st;
    ev->n = 0;
    c->rule = (struct gn_grow_rule){pl->grow_criterion, pl->grow_threshold, pl->grow_ratio, 0.0f};
    if (pl->grow_criterion == GN_GROW_CRITERION_RELATIVE) {
        const int32_t hidden = m->n_groups - 2;
        c->median_rank = gn_grow_median_rank(hidden);
        c->median = 0.0f;
        if ((st = run_pass(c, PASS_RANK, &c->grow))) return st;
        c->rule.reference = gn_grow_reference(hidden, c->median);
    }
    if ((st = run_pass(c, PASS_MARK, &c->grow))) return st;
    gn_atomic_store_relaxed_u32(&c->chosen, 0);
    if ((st = run_pass(c, PASS_CHOOSE, &c->grow))) return st;
    if (gn_atomic_load_relaxed_u32(&c->chosen) == 0) return GN_OK;
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        int32_t g = m->order[i];
        if (c->pick[g]) m->groups[g].flags |= GN_GROUP_CHOSEN;
    }

    int32_t n_old = m->n_groups;
    for (int32_t g = 0; g < n_old; g++) c->child_of[g] = -1;
    gn_grow_pools_init(&c->pools, m);
    gn_atomic_store_relaxed_u64(&c->dups, 0);
    gn_atomic_store_relaxed_u64(&c->refused, 0);
    c->step = c->io->c->step + 1;
    c->round = (*c->io->grow_round)++;
    /* the cap in position order and every granted group's space, decided
     * before the pass: the serial round's slots */
    struct gn_grow_sum total;
    gn_grow_grant(m, (enum gn_grow_policy)pl->grow, pl->seed, c->step, c->round, c->space, &total);
    if (!gn_grow_take(&c->pools, m, &total))
        return gn_fail(GN_ERR_FULL, "growth: a pool refused the space the round granted");
    if ((st = run_pass(c, PASS_DUP, &c->grow))) return st;
    m->n_groups = (int32_t)gn_pool_used(&c->pools.groups);
    m->n_edges = (int32_t)gn_pool_used(&c->pools.edges);
    m->n_params = (int64_t)gn_pool_used(&c->pools.params);
    m->duplications += (int64_t)gn_atomic_load_relaxed_u64(&c->dups);
    m->refused += (int64_t)gn_atomic_load_relaxed_u64(&c->refused);

    /* events, the new order and the topology: the serial round's close */
    st = gn_grow_finish(m, n_old, c->child_of, (enum gn_grow_policy)pl->grow, pl->seed, c->step,
                        c->round, ev->ev, GN_GROW_LOG_MAX, &ev->n);
    if (!st && m->n_groups != n_old) st = rebuild_tasks(c);
    return st;
}

static enum gn_status cpu_step(void *ctx, int grow)
{
    struct cpu_ctx *c = ctx;
    struct gn_counters *cn = c->io->c;
    if (c->ranks) {
        const int32_t groups = c->io->m->n_groups;
        enum gn_status st = gn_ranks_step(c->ranks, grow);
        /* the DAGs follow the graph, the same on every replica */
        if (!st && c->io->m->n_groups != groups) st = rebuild_tasks(c);
        return st;
    }
    work_on_io(c);
    for (int i = 0; i < GN_TASK_KIND_COUNT; i++) gn_atomic_store_relaxed_u64(&c->kind_ns[i], 0);
    /* read by the workers after the pass starts (the scheduler's release) */
    c->opt = gn_optim_at(&c->io->plan->optim, cn->step);
    c->stat_read = gn_plan_stat_read(c->io->plan, cn->step);
    enum gn_status st = run_pass(c, PASS_TRAIN, &c->train);
    if (st) return st;
    /* Phase times: task time summed over workers, scaled to wall time. */
    uint64_t f = gn_atomic_load_relaxed_u64(&c->kind_ns[GN_TASK_FORWARD]);
    uint64_t b = gn_atomic_load_relaxed_u64(&c->kind_ns[GN_TASK_BACKWARD]);
    uint64_t u = gn_atomic_load_relaxed_u64(&c->kind_ns[GN_TASK_UPDATE]);
    int w = c->workers > 0 ? c->workers : 1;
    cn->t_forward_ns += (int64_t)(f / (uint64_t)w);
    cn->t_backward_ns += (int64_t)(b / (uint64_t)w);
    cn->t_update_ns += (int64_t)(u / (uint64_t)w);
    c->io->events->n = 0;
    c->io->events->prune.n_pruned = c->io->events->prune.n_moved = 0;
    if (!grow) return GN_OK;
    int64_t g0 = gn_now_ns();
    const struct gn_plan *pl = c->io->plan;
    if (pl->prune_threshold > 0.0f) {
        /* the serial backend's round (rare, and a pass over the pools) */
        st = gn_prune_round(c->io->m, c->io->buf, pl->prune_threshold, pl->prune_after,
                            &c->io->events->prune);
        if (!st && c->io->events->prune.n_pruned > 0) st = rebuild_tasks(c);
    }
    if (!st && pl->grow != GN_GROW_OFF) st = grow_round(c);
    cn->t_growth_ns += gn_now_ns() - g0;
    return st;
}

/* Safe on any context cpu_open left, NULL included: the scheduler joins
 * its workers; freeing a NULL or never-built DAG is a no-op. */
static void cpu_close(void *ctx)
{
    struct cpu_ctx *c = ctx;
    if (!c) return;
    gn_sched_destroy(c->sched);
    gn_ranks_close(c->ranks);
    gn_dag_free(&c->each);
    gn_dag_free(&c->train);
    gn_dag_free(&c->eval);
    gn_dag_free(&c->grow);
    free(c->child_of);
    free(c->pick);
    free(c->space);
    free(c);
}

/* The trainer restored the model (--on-nan skip): the task DAGs follow the
 * graph, which a growth in the discarded step may have changed; under
 * --ranks every replica becomes a copy of it. */
static enum gn_status cpu_reload(void *ctx)
{
    struct cpu_ctx *c = ctx;
    enum gn_status st = rebuild_tasks(c);
    if (!st && c->ranks) st = gn_ranks_reload(c->ranks);
    return st;
}

static const struct gn_model *cpu_replica(void *ctx, int32_t r)
{
    struct cpu_ctx *c = ctx;
    if (c->ranks) return gn_ranks_replica(c->ranks, r);
    return r == 0 ? c->io->m : NULL;
}

const struct gn_backend_ops gn_backend_cpu = {
    .name = "cpu",
    .probe = cpu_probe,
    .open = cpu_open,
    .step = cpu_step,
    .forward = cpu_forward,
    .run = NULL,
    .reload = cpu_reload,
    .close = cpu_close,
    .replica = cpu_replica,
};
