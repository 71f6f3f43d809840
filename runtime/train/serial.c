/*
 * The serial backend: one thread, plain canonical topological order. The
 * oracle every other backend is checked against.
 *
 * Step: forward over order[1..], loss, backward over order reversed (the
 * output's error comes from the loss), then per group the weight gradients
 * and the growth statistic, then the optimizer's update (after all gradients, since
 * the backward pass of a group reads its successors' weights), then pruning
 * (prune.h) and growth.
 * With --ranks N (plan.ranks > 1) the step is ranks.c's: N replicas, each
 * running these same pieces on its share of the rows, in turn on this
 * thread (ranks_local, ranks_each).
 * Its context is the io the trainer handed it and, with ranks, the ranks.
 */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "error.h"
#include "grow.h"
#include "prune.h"
#include "ranks.h"
#include "stat.h"

struct serial {
    struct gn_backend_io *io;
    struct gn_ranks *ranks; /* NULL: one rank */
};

static enum gn_status serial_probe(char *why, size_t len)
{
    snprintf(why, len, "the serial backend runs everywhere");
    return GN_OK;
}

static enum gn_status ranks_local(void *ctx, struct gn_model *m, const struct gn_buffers *b)
{
    (void)ctx;
    gn_backend_host_forward(m, b);
    gn_backend_host_backward(m, b);
    return GN_OK;
}

static enum gn_status ranks_each(void *ctx, int32_t n, gn_ranks_fn fn, void *arg)
{
    (void)ctx;
    for (int32_t r = 0; r < n; r++) fn(arg, r);
    return GN_OK;
}

static enum gn_status serial_open(void **ctx, struct gn_backend_io *io, char *about, size_t len)
{
    struct serial *s = calloc(1, sizeof *s);
    *ctx = s;
    if (!s) return gn_fail(GN_ERR_NOMEM, "out of memory for the serial backend");
    s->io = io;
    if (io->plan->ranks > 1) {
        snprintf(about, len, " (%d ranks simulated in one process)", io->plan->ranks);
        const struct gn_ranks_exec ex = {ranks_local, ranks_each, s};
        return gn_ranks_open(&s->ranks, io, &ex);
    }
    return GN_OK;
}

void gn_backend_host_forward(const struct gn_model *m, const struct gn_buffers *b)
{
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_forward(m, b, m->order[i], 0, b->rows);
    gn_op_loss(m, b, 0, b->rows);
}

void gn_backend_host_backward(const struct gn_model *m, const struct gn_buffers *b)
{
    for (int32_t i = m->n_groups - 2; i >= 1; i--) gn_op_backward(m, b, m->order[i], 0, b->rows);
}

enum gn_status gn_backend_host_grow(struct gn_model *m, const struct gn_buffers *b,
                                    const struct gn_plan *p, int64_t step, int64_t *grow_round,
                                    struct gn_grow_log *log)
{
    log->n = 0;
    log->prune.n_pruned = log->prune.n_moved = 0;
    enum gn_status st = GN_OK;
    if (p->prune_threshold > 0.0f)
        st = gn_prune_round(m, b, p->prune_threshold, p->prune_after, &log->prune);
    if (!st && p->grow != GN_GROW_OFF) {
        const struct gn_grow_rule rule =
            gn_grow_rule_make(m, p->grow_criterion, p->grow_threshold, p->grow_ratio);
        if (gn_grow_mark(m, &rule) > 0)
            st = gn_grow_round(m, (enum gn_grow_policy)p->grow, p->seed, p->grow_noise, step + 1,
                               (*grow_round)++, log->ev, GN_GROW_LOG_MAX, &log->n);
    }
    return st;
}

static enum gn_status serial_forward(void *ctx)
{
    const struct serial *s = ctx;
    gn_backend_host_forward(s->io->m, s->io->buf);
    return GN_OK;
}

static enum gn_status serial_step(void *ctx, int grow)
{
    struct serial *s = ctx;
    if (s->ranks) return gn_ranks_step(s->ranks, grow);
    struct gn_backend_io *io = s->io;
    const struct gn_plan *p = io->plan;
    struct gn_model *m = io->m;
    const struct gn_buffers *b = io->buf;
    struct gn_counters *c = io->c;
    int64_t t0 = gn_now_ns();
    gn_backend_host_forward(m, b);
    int64_t t1 = gn_now_ns();
    gn_backend_host_backward(m, b);
    const int read = gn_plan_stat_read(p, c->step);
    for (int32_t i = 1; i < m->n_groups; i++) {
        int32_t g = m->order[i];
        gn_op_grad_acc(m, b, g, 1);
        gn_stat_refresh(m, g, read);
    }
    int64_t t2 = gn_now_ns();
    const struct gn_optim_step k = gn_optim_at(&p->optim, c->step);
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_update(m, m->order[i], &k);
    int64_t t3 = gn_now_ns();
    c->tasks += 3 * (int64_t)(m->n_groups - 1);
    io->events->n = 0;
    io->events->prune.n_pruned = io->events->prune.n_moved = 0;
    enum gn_status st = grow ? gn_backend_host_grow(m, b, p, c->step, io->grow_round, io->events)
                             : GN_OK;
    int64_t t4 = gn_now_ns();
    c->t_forward_ns += t1 - t0;
    c->t_backward_ns += t2 - t1;
    c->t_update_ns += t3 - t2;
    c->t_growth_ns += t4 - t3;
    return st;
}

static enum gn_status serial_reload(void *ctx)
{
    struct serial *s = ctx;
    return s->ranks ? gn_ranks_reload(s->ranks) : GN_OK;
}

static const struct gn_model *serial_replica(void *ctx, int32_t r)
{
    struct serial *s = ctx;
    if (s->ranks) return gn_ranks_replica(s->ranks, r);
    return r == 0 ? s->io->m : NULL;
}

static void serial_close(void *ctx)
{
    struct serial *s = ctx;
    if (!s) return;
    gn_ranks_close(s->ranks);
    free(s);
}

const struct gn_backend_ops gn_backend_serial = {
    .name = "serial",
    .probe = serial_probe,
    .open = serial_open,
    .step = serial_step,
    .forward = serial_forward,
    .run = NULL,
    .reload = serial_reload,
    .close = serial_close,
    .replica = serial_replica,
};
