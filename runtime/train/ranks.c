/*
 * --ranks N on the host (ranks.h): N replicas, their buffers and the
 * in-process reducer. The rules are here, once; a backend (serial.c,
 * cpu.c) only says where the work runs (struct gn_ranks_exec): each rank's
 * forward and backward (`local`, rank after rank), and step 4, which has
 * no dependence between ranks (`each`, side by side where the backend has
 * workers). Steps 3, 5 and 6 run on the calling thread.
 *
 * A step, as N processes of a multi-GPU run would take it:
 *   1. shares: rank r's buffer views rows [r*B/N, (r+1)*B/N) of io->buf
 *      (x, y), with loss_rows = B so dz(output) carries the global 1/B;
 *   2. every rank: forward, loss, backward on its replica (ex.local: the
 *      backend's own forward and backward, the same bits on every host
 *      backend);
 *   3. the exact combine (reduce.h): rank 0 sums its rows' gradients from
 *      zero (gn_op_grad_acc), each next rank receives the partial sums and
 *      continues over its rows; the last rank broadcasts the result;
 *   4. every rank: the growth statistic of each group from the combined
 *      gradients (gn_stat_grad_std), the optimizer's step, and at a growth
 *      round serial.c's round on its own replica with its own copy of the
 *      round counter; rank 0's events are the step's. The round is the
 *      serial one on every backend: the cpu backend's own round numbers
 *      the new slots (and gives out the last space of a pool that fills)
 *      in the order workers allocate, and replicas must agree slot for
 *      slot;
 *   5. the ranks' row_loss and row_hit gathered into io->buf in row order;
 *   6. after a growth round: every replica compared with rank 0's.
 * The per-row arithmetic and the order of every sum are the one-rank run's,
 * so the run is that run bit for bit (tests/test_ranks.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ranks.h"
#include "reduce.h"
#include "stat.h"

/* What step 4 leaves per rank, read by the calling thread after ex.each. */
struct rank_done {
    enum gn_status st;
    int64_t round;          /* the growth round count after the rank's round */
    int64_t update_ns, grow_ns;
    struct gn_grow_log log; /* the events of ranks 1.. (dropped) */
    char why[256];          /* the rank's error message (a worker's own) */
};

struct gn_ranks {
    int32_t n;
    struct gn_backend_io *io;
    struct gn_ranks_exec ex;
    struct gn_model *rep;   /* (n): replicas; rep[0] unused (rank 0's is io->m) */
    struct gn_buffers *buf; /* (n): each rank's buffers, ceil(batch / n) rows */
    struct rank_done *done; /* (n) */
    struct gn_reduce *rd;
    /* step 4's inputs, set before ex.each */
    struct gn_optim_step k;
    int64_t step, round0;
    int grow;
};

static struct gn_model *replica(struct gn_ranks *rk, int32_t r)
{
    return r == 0 ? rk->io->m : &rk->rep[r];
}

const struct gn_model *gn_ranks_replica(const struct gn_ranks *rk, int32_t r)
{
    if (r < 0 || r >= rk->n) return NULL;
    return r == 0 ? rk->io->m : &rk->rep[r];
}

enum gn_status gn_ranks_open(struct gn_ranks **out, struct gn_backend_io *io,
                             const struct gn_ranks_exec *ex)
{
    *out = NULL;
    const int32_t n = io->plan->ranks;
    if (n < 2 || n > io->plan->batch)
        return gn_fail(GN_ERR_INVALID, "--ranks %d: want 2..%d (the batch's rows)", n,
                       io->plan->batch);
    struct gn_ranks *rk = calloc(1, sizeof *rk);
    if (!rk) return gn_fail(GN_ERR_NOMEM, "out of memory for %d ranks", n);
    *out = rk; /* gn_ranks_close takes it in any state */
    rk->io = io;
    rk->ex = *ex;
    rk->rep = calloc((size_t)n, sizeof *rk->rep);
    rk->buf = calloc((size_t)n, sizeof *rk->buf);
    rk->done = calloc((size_t)n, sizeof *rk->done);
    if (!rk->rep || !rk->buf || !rk->done)
        return gn_fail(GN_ERR_NOMEM, "out of memory for %d ranks", n);
    const int32_t share = (io->plan->batch + n - 1) / n;
    enum gn_status st;
    for (int32_t r = 0; r < n; r++) {
        if (r > 0 && (st = gn_model_clone(&rk->rep[r], io->m))) return st;
        rk->n = r + 1; /* replicas 1..r exist: close frees them */
        if ((st = gn_buffers_init(&rk->buf[r], io->m, share))) return st;
    }
    return gn_reduce_open(&rk->rd, n, io->m->max_params);
}

void gn_ranks_close(struct gn_ranks *rk)
{
    if (!rk) return;
    for (int32_t r = 0; r < rk->n; r++) {
        if (r > 0) gn_model_free(&rk->rep[r]);
        gn_buffers_free(&rk->buf[r]);
    }
    gn_reduce_close(rk->rd);
    free(rk->rep);
    free(rk->buf);
    free(rk->done);
    free(rk);
}

enum gn_status gn_ranks_reload(struct gn_ranks *rk)
{
    for (int32_t r = 1; r < rk->n; r++) {
        gn_model_free(&rk->rep[r]);
        enum gn_status st = gn_model_clone(&rk->rep[r], rk->io->m);
        if (st) return st;
    }
    return GN_OK;
}

#define DIFF(cond, ...)                                                                      \
    do {                                                                                     \
        if (cond) {                                                                          \
            snprintf(why, len, __VA_ARGS__);                                                 \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

static int64_t first_diff(const void *a, const void *b, size_t elem, int64_t n)
{
    if (!memcmp(a, b, (size_t)n * elem)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (memcmp((const char *)a + i * elem, (const char *)b + i * elem, elem)) return i;
    return -1;
}

int gn_ranks_agree(const struct gn_model *a, const struct gn_model *b, char *why, size_t len)
{
    DIFF(a->n_groups != b->n_groups || a->n_edges != b->n_edges || a->n_params != b->n_params,
         "pools: %d groups, %d edges, %lld parameters against %d, %d, %lld", a->n_groups,
         a->n_edges, (long long)a->n_params, b->n_groups, b->n_edges, (long long)b->n_params);
    DIFF(a->depth != b->depth || a->duplications != b->duplications || a->refused != b->refused ||
             a->pruned != b->pruned,
         "counters: depth %d, %lld duplications, %lld refused, %lld pruned against %d, %lld, "
         "%lld, %lld",
         a->depth, (long long)a->duplications, (long long)a->refused, (long long)a->pruned,
         b->depth, (long long)b->duplications, (long long)b->refused, (long long)b->pruned);
    int64_t i;
    DIFF((i = first_diff(a->groups, b->groups, sizeof *a->groups, a->n_groups)) >= 0,
         "group %lld differs", (long long)i);
    DIFF((i = first_diff(a->edges, b->edges, sizeof *a->edges, a->n_edges)) >= 0,
         "edge %lld differs", (long long)i);
    DIFF((i = first_diff(a->order, b->order, sizeof *a->order, a->n_groups)) >= 0,
         "order[%lld] differs", (long long)i);
    DIFF((i = first_diff(a->in_list, b->in_list, sizeof *a->in_list, a->n_edges)) >= 0,
         "in_list[%lld] differs", (long long)i);
    DIFF((i = first_diff(a->out_list, b->out_list, sizeof *a->out_list, a->n_edges)) >= 0,
         "out_list[%lld] differs", (long long)i);
    DIFF((i = first_diff(a->params, b->params, sizeof(float), a->n_params)) >= 0,
         "parameter %lld differs: %a against %a", (long long)i, (double)a->params[i],
         (double)b->params[i]);
    DIFF((i = first_diff(a->moment, b->moment, sizeof(float), a->n_params)) >= 0,
         "moment %lld differs: %a against %a", (long long)i, (double)a->moment[i],
         (double)b->moment[i]);
    DIFF((i = first_diff(a->moment2, b->moment2, sizeof(float), a->n_params)) >= 0,
         "second moment %lld differs: %a against %a", (long long)i, (double)a->moment2[i],
         (double)b->moment2[i]);
    return 0;
}

/* Step 3: the ordered chain of partial sums, then the last rank's sums to
 * every rank. Every replica has the same pools, so a gradient block has the
 * same offset in each and a message is grads[0, n_params). */
static enum gn_status combine(struct gn_ranks *rk)
{
    const int32_t n = rk->n;
    const int64_t np = rk->io->m->n_params;
    enum gn_status st;
    for (int32_t r = 0; r < n; r++) {
        struct gn_model *m = replica(rk, r);
        if (r > 0 && (st = gn_reduce_recv_prev(rk->rd, r, m->grads, np))) return st;
        for (int32_t i = 1; i < m->n_groups; i++)
            gn_op_grad_acc(m, &rk->buf[r], m->order[i], r == 0);
        if (r < n - 1 && (st = gn_reduce_send_next(rk->rd, r, m->grads, np))) return st;
    }
    for (int32_t k = 0; k < n; k++) { /* the root first */
        const int32_t r = (n - 1 + k) % n;
        if ((st = gn_reduce_broadcast(rk->rd, n - 1, r, replica(rk, r)->grads, np))) return st;
    }
    return GN_OK;
}

/* Step 4 for rank r: the statistic, the optimizer's step and the growth
 * round on its own replica, from the combined gradients. Rank r's state
 * only, so the ranks may run it side by side. */
static void finish_rank(void *arg, int32_t r)
{
    struct gn_ranks *rk = arg;
    struct rank_done *d = &rk->done[r];
    struct gn_model *m = replica(rk, r);
    const int64_t t0 = gn_now_ns();
    const int read = gn_plan_stat_read(rk->io->plan, rk->step);
    for (int32_t i = 1; i < m->n_groups; i++) gn_stat_refresh(m, m->order[i], read);
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_update(m, m->order[i], &rk->k);
    const int64_t t1 = gn_now_ns();
    d->st = GN_OK;
    d->round = rk->round0;
    if (rk->grow) {
        d->st = gn_backend_host_grow(m, &rk->buf[r], rk->io->plan, rk->step, &d->round,
                                     r == 0 ? rk->io->events : &d->log);
        if (d->st) snprintf(d->why, sizeof d->why, "%s", gn_error_message());
    }
    d->update_ns = t1 - t0;
    d->grow_ns = gn_now_ns() - t1;
}

enum gn_status gn_ranks_step(struct gn_ranks *rk, int grow)
{
    struct gn_backend_io *io = rk->io;
    const struct gn_plan *p = io->plan;
    const struct gn_buffers *gb = io->buf;
    struct gn_counters *c = io->c;
    const int32_t n = rk->n, rows = gb->rows, F = io->m->inputs;
    const int64_t step = c->step;
    enum gn_status st;
    int64_t t0 = gn_now_ns();
    for (int32_t r = 0; r < n; r++) { /* 1, 2 */
        const int32_t r0 = (int32_t)((int64_t)rows * r / n);
        const int32_t r1 = (int32_t)((int64_t)rows * (r + 1) / n);
        struct gn_buffers *b = &rk->buf[r];
        b->x = gb->x + (int64_t)r0 * F;
        b->y = gb->y + r0;
        b->rows = r1 - r0;
        b->loss_rows = rows;
        if ((st = rk->ex.local(rk->ex.ctx, replica(rk, r), b))) return st;
    }
    int64_t t1 = gn_now_ns();
    if ((st = combine(rk))) return st; /* 3 */
    int64_t t2 = gn_now_ns();
    io->events->n = 0;
    io->events->prune.n_pruned = io->events->prune.n_moved = 0;
    const int64_t groups = io->m->n_groups; /* before growth */
    rk->k = gn_optim_at(&p->optim, step);
    rk->step = step;
    rk->round0 = *io->grow_round;
    rk->grow = grow;
    if ((st = rk->ex.each(rk->ex.ctx, n, finish_rank, rk))) return st; /* 4 */
    int64_t update_ns = 0, grow_ns = 0;
    for (int32_t r = 0; r < n; r++) {
        const struct rank_done *d = &rk->done[r];
        if (d->st) return gn_fail(d->st, "--ranks: rank %d: %s", r, d->why);
        update_ns += d->update_ns;
        grow_ns += d->grow_ns;
    }
    *io->grow_round = rk->done[0].round;
    c->tasks += 3 * (groups - 1) * n;
    int64_t t3 = gn_now_ns();
    for (int32_t r = 0; r < n; r++) { /* 5 */
        const struct gn_buffers *b = &rk->buf[r];
        const size_t r0 = (size_t)((int64_t)rows * r / n);
        gn_reduce_gather(rk->rd, r, gb->row_loss, b->row_loss, (size_t)b->rows * sizeof(float),
                         r0 * sizeof(float));
        gn_reduce_gather(rk->rd, r, gb->row_hit, b->row_hit, (size_t)b->rows, r0);
    }
    if (grow) { /* 6 */
        for (int32_t r = 1; r < n; r++) {
            char why[256];
            if (gn_ranks_agree(io->m, replica(rk, r), why, sizeof why))
                return gn_fail(GN_ERR_NUMERIC,
                               "--ranks: rank %d's network differs from rank 0's after the "
                               "growth round of step %lld: %s",
                               r, (long long)(step + 1), why);
        }
    }
    int64_t t4 = gn_now_ns();
    /* step 4's wall time split between update and growth as the ranks'
     * own times split (side by side, their sum exceeds the wall time) */
    const int64_t busy = update_ns + grow_ns;
    const int64_t t_grow = busy > 0 ? (int64_t)((double)(t3 - t2) * (double)grow_ns / busy) : 0;
    c->t_forward_ns += t1 - t0; /* forward and backward: the ranks' local work */
    c->t_backward_ns += t2 - t1; /* the combine */
    c->t_update_ns += t4 - t2 - t_grow;
    c->t_growth_ns += t_grow;
    return GN_OK;
}
