/*
 * The serial backend: one thread, plain canonical topological order. The
 * oracle every other backend is checked against.
 *
 * Step: forward over order[1..], loss, backward over order reversed (the
 * output's error comes from the loss), then per group the weight gradients
 * and the growth statistic, then the optimizer's update (after all gradients, since
 * the backward pass of a group reads its successors' weights), then pruning
 * (prune.h) and growth.
 * Its context is the io the trainer handed it: it keeps nothing else.
 */
#include <stdio.h>

#include "backend.h"
#include "error.h"
#include "grow.h"
#include "prune.h"

static enum gn_status serial_probe(char *why, size_t len)
{
    snprintf(why, len, "the serial backend runs everywhere");
    return GN_OK;
}

static enum gn_status serial_open(void **ctx, struct gn_backend_io *io, char *about, size_t len)
{
    (void)about;
    (void)len;
    *ctx = io;
    return GN_OK;
}

void gn_backend_host_forward(const struct gn_model *m, const struct gn_buffers *b)
{
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_forward(m, b, m->order[i], 0, b->rows);
    gn_op_loss(m, b, 0, b->rows);
}

static enum gn_status serial_forward(void *ctx)
{
    const struct gn_backend_io *io = ctx;
    gn_backend_host_forward(io->m, io->buf);
    return GN_OK;
}

static enum gn_status serial_step(void *ctx, int grow)
{
    struct gn_backend_io *io = ctx;
    const struct gn_plan *p = io->plan;
    struct gn_model *m = io->m;
    const struct gn_buffers *b = io->buf;
    struct gn_counters *c = io->c;
    int64_t t0 = gn_now_ns();
    gn_backend_host_forward(m, b);
    int64_t t1 = gn_now_ns();
    for (int32_t i = m->n_groups - 2; i >= 1; i--) gn_op_backward(m, b, m->order[i], 0, b->rows);
    for (int32_t i = 1; i < m->n_groups; i++) {
        int32_t g = m->order[i];
        m->groups[g].grad_std = gn_op_grad(m, b, g);
    }
    int64_t t2 = gn_now_ns();
    const struct gn_optim_step k = gn_optim_at(&p->optim, c->step);
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_update(m, m->order[i], &k);
    int64_t t3 = gn_now_ns();
    c->tasks += 3 * (int64_t)(m->n_groups - 1);
    io->events->n = 0;
    io->events->prune.n_pruned = io->events->prune.n_moved = 0;
    enum gn_status st = GN_OK;
    if (grow && p->prune_threshold > 0.0f)
        st = gn_prune_round(m, b, p->prune_threshold, p->prune_after, &io->events->prune);
    if (grow && !st && p->grow != GN_GROW_OFF) {
        const struct gn_grow_rule rule =
            gn_grow_rule_make(m, p->grow_criterion, p->grow_threshold, p->grow_ratio);
        if (gn_grow_mark(m, &rule) > 0)
            st = gn_grow_round(m, (enum gn_grow_policy)p->grow, p->seed, p->grow_noise,
                               c->step + 1, (*io->grow_round)++, io->events->ev,
                               GN_GROW_LOG_MAX, &io->events->n);
    }
    int64_t t4 = gn_now_ns();
    c->t_forward_ns += t1 - t0;
    c->t_backward_ns += t2 - t1;
    c->t_update_ns += t3 - t2;
    c->t_growth_ns += t4 - t3;
    return st;
}

static void serial_close(void *ctx)
{
    (void)ctx;
}

const struct gn_backend_ops gn_backend_serial = {
    .name = "serial",
    .probe = serial_probe,
    .open = serial_open,
    .step = serial_step,
    .forward = serial_forward,
    .run = NULL,
    .close = serial_close,
};
