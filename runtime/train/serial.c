/*
 * The serial backend: one thread, plain canonical topological order. The
 * oracle every other backend is checked against.
 *
 * Step: forward over order[1..], loss, backward over order reversed (the
 * output's error comes from the loss), then per group the weight gradients
 * and the growth statistic, then the SGD update (after all gradients, since
 * the backward pass of a group reads its successors' weights), then growth.
 */
#include "error.h"
#include "grow.h"
#include "trainer.h"

static enum gn_status serial_open(struct gn_trainer *t)
{
    (void)t;
    return GN_OK;
}

static enum gn_status serial_forward(struct gn_trainer *t)
{
    const struct gn_model *m = &t->m;
    const struct gn_buffers *b = &t->buf;
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_forward(m, b, m->order[i], 0, b->rows);
    gn_op_loss(m, b, 0, b->rows);
    return GN_OK;
}

static enum gn_status serial_step(struct gn_trainer *t, int grow)
{
    struct gn_model *m = &t->m;
    const struct gn_buffers *b = &t->buf;
    int64_t t0 = gn_now_ns();
    serial_forward(t);
    int64_t t1 = gn_now_ns();
    for (int32_t i = m->n_groups - 2; i >= 1; i--) gn_op_backward(m, b, m->order[i], 0, b->rows);
    for (int32_t i = 1; i < m->n_groups; i++) {
        int32_t g = m->order[i];
        m->groups[g].grad_std = gn_op_grad(m, b, g);
    }
    int64_t t2 = gn_now_ns();
    for (int32_t i = 1; i < m->n_groups; i++)
        gn_op_update(m, m->order[i], t->s.lr, t->s.momentum, t->s.weight_decay);
    int64_t t3 = gn_now_ns();
    t->c.tasks += 3 * (int64_t)(m->n_groups - 1);
    t->n_events = 0;
    enum gn_status st = GN_OK;
    if (grow && gn_grow_mark(m, t->s.grow_threshold) > 0) {
        st = gn_grow_round(m, t->s.grow, t->s.seed, t->s.grow_noise, t->c.step + 1,
                           t->grow_round++, t->events, 64, &t->n_events);
    }
    int64_t t4 = gn_now_ns();
    t->c.t_forward_ns += t1 - t0;
    t->c.t_backward_ns += t2 - t1;
    t->c.t_update_ns += t3 - t2;
    t->c.t_growth_ns += t4 - t3;
    return st;
}

static void serial_close(struct gn_trainer *t)
{
    (void)t;
}

const struct gn_backend_ops gn_backend_serial = {
    .name = "serial",
    .open = serial_open,
    .step = serial_step,
    .forward = serial_forward,
    .run = NULL,
    .close = serial_close,
};
