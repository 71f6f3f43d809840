/*
 * The numeric guard (see numguard.h): the finite check of a step and the
 * snapshot that --on-nan skip restores.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "numguard.h"

enum gn_status gn_numguard_check(const struct gn_model *m, double loss, int64_t step)
{
    if (!isfinite(loss))
        return gn_fail(GN_ERR_NUMERIC,
                       "the training loss is %g at step %lld (output group, slot %d)", loss,
                       (long long)step, GN_SLOT_OUTPUT);
    const int32_t p = gn_guard_bad_group(m);
    if (!p) return GN_OK;
    const int32_t g = m->order[p];
    const float sd = m->groups[g].grad_std;
    if (g == GN_SLOT_OUTPUT)
        return gn_fail(GN_ERR_NUMERIC,
                       "NaN or Inf in the gradients of the output group (slot %d) at step "
                       "%lld (gradient std %g)",
                       g, (long long)step, (double)sd);
    return gn_fail(GN_ERR_NUMERIC,
                   "NaN or Inf in the gradients of hidden group %d (its graph-file id; "
                   "slot %d) at step %lld (gradient std %g)",
                   p, g, (long long)step, (double)sd);
}

enum gn_status gn_numguard_step(const struct gn_model *m, double loss_sum, int32_t rows,
                                double explode_loss, int64_t step)
{
    if (gn_guard_loss(loss_sum, rows, explode_loss) == GN_GUARD_LOSS_EXPLODED)
        return gn_fail(GN_ERR_NUMERIC,
                       "the training loss exploded at step %lld: %g a row, over %g (%g times "
                       "the loss of a uniform guess); lower --lr, or use --on-nan skip",
                       (long long)step, loss_sum / (double)rows, explode_loss, GN_GUARD_EXPLODE);
    return gn_numguard_check(m, loss_sum, step);
}

enum gn_status gn_numguard_died(int64_t epoch, int64_t step, double loss, double chance_loss,
                                int32_t dead_groups)
{
    if (dead_groups == 0)
        return gn_fail(GN_ERR_NUMERIC,
                       "the network died: at the end of epoch %lld (step %lld) the training loss "
                       "%.4f is back at chance (%.4f, the labels' entropy), at %d epoch ends in a "
                       "row, after it had been at most %g times that; lower --lr, or grow more "
                       "slowly (--grow-threshold, --grow-every)",
                       (long long)epoch, (long long)step, loss, chance_loss, GN_GUARD_DEAD_EPOCHS,
                       GN_GUARD_LEARNED);
    return gn_fail(GN_ERR_NUMERIC,
                   "the network died: at the end of epoch %lld (step %lld) the training loss "
                   "%.4f is at chance (%.4f, the labels' entropy) and %d hidden group%s every "
                   "ReLU off, at %d epoch ends in a row; lower --lr, or check the inputs",
                   (long long)epoch, (long long)step, loss, chance_loss, dead_groups,
                   dead_groups == 1 ? " has" : "s have", GN_GUARD_DEAD_EPOCHS);
}

double gn_guard_explode_loss(int32_t classes)
{
    return GN_GUARD_EXPLODE * log(classes > 1 ? (double)classes : 2.0);
}

double gn_guard_chance_loss(const uint8_t *y, int64_t n, int32_t classes)
{
    if (n <= 0 || classes <= 0 || !y) return 0.0;
    int64_t count[256] = {0};
    for (int64_t i = 0; i < n; i++) count[y[i]]++;
    double h = 0.0;
    for (int32_t c = 0; c < 256; c++)
        if (count[c] > 0) {
            const double q = (double)count[c] / (double)n;
            h -= q * log(q);
        }
    return h;
}

struct gn_snapshot {
    struct gn_model m; /* same capacities; only the used prefixes are copied */
    int64_t grow_round;
};

enum gn_status gn_snapshot_create(struct gn_snapshot **out, const struct gn_model *m)
{
    struct gn_snapshot *s = calloc(1, sizeof *s);
    if (!s) return gn_fail(GN_ERR_NOMEM, "out of memory for the --on-nan skip snapshot");
    enum gn_status st = gn_model_init(&s->m, m->inputs, m->classes, m->group_size, m->max_groups,
                                      m->max_edges, m->max_params);
    if (st) {
        free(s);
        return st;
    }
    *out = s;
    return GN_OK;
}

/* The used prefixes of every pool and list, and the counters. */
static void gn_snapshot_copy(struct gn_model *dst, const struct gn_model *src)
{
    memcpy(dst->groups, src->groups, (size_t)src->n_groups * sizeof *src->groups);
    memcpy(dst->edges, src->edges, (size_t)src->n_edges * sizeof *src->edges);
    memcpy(dst->order, src->order, (size_t)src->n_groups * sizeof *src->order);
    memcpy(dst->in_list, src->in_list, (size_t)src->n_edges * sizeof *src->in_list);
    memcpy(dst->out_list, src->out_list, (size_t)src->n_edges * sizeof *src->out_list);
    memcpy(dst->params, src->params, (size_t)src->n_params * sizeof(float));
    memcpy(dst->moment, src->moment, (size_t)src->n_params * sizeof(float));
    memcpy(dst->moment2, src->moment2, (size_t)src->n_params * sizeof(float));
    dst->n_groups = src->n_groups;
    dst->n_edges = src->n_edges;
    dst->n_params = src->n_params;
    dst->depth = src->depth;
    dst->duplications = src->duplications;
    dst->refused = src->refused;
    dst->pruned = src->pruned;
}

void gn_snapshot_take(struct gn_snapshot *s, const struct gn_model *m, int64_t grow_round)
{
    gn_snapshot_copy(&s->m, m);
    s->grow_round = grow_round;
}

void gn_snapshot_restore(const struct gn_snapshot *s, struct gn_model *m, int64_t *grow_round)
{
    const struct gn_model *o = &s->m;
    if (m->n_groups > o->n_groups)
        memset(m->groups + o->n_groups, 0, (size_t)(m->n_groups - o->n_groups) * sizeof *m->groups);
    if (m->n_edges > o->n_edges)
        memset(m->edges + o->n_edges, 0, (size_t)(m->n_edges - o->n_edges) * sizeof *m->edges);
    if (m->n_params > o->n_params) {
        size_t n = (size_t)(m->n_params - o->n_params) * sizeof(float);
        memset(m->params + o->n_params, 0, n);
        memset(m->grads + o->n_params, 0, n);
        memset(m->moment + o->n_params, 0, n);
        memset(m->moment2 + o->n_params, 0, n);
    }
    gn_snapshot_copy(m, o);
    *grow_round = s->grow_round;
}

void gn_snapshot_free(struct gn_snapshot *s)
{
    if (!s) return;
    gn_model_free(&s->m);
    free(s);
}
