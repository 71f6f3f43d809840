/*
 * Reference per-task math (see ops.h for the layout and the ordering rule).
 *
 * Loops are ordered so the innermost one runs over the destination width
 * with unit stride (it vectorises), and every reduction is accumulated in a
 * fixed order: forward z[r][j] = b[j] + sum over in-edges (by source
 * position) of sum over k of a[r][k] * W[k][j]; backward errors
 * dz[r][k] = sum over out-edges (by target position) of sum over chunks of
 * GN_OPS_CHUNK targets of (sum over j in the chunk of dz_t[r][j] W[k][j]);
 * weight gradients
 * dW[k][j] = sum over r in increasing order of a[r][k] * dz[r][j]; each
 * product and its sum in one fused multiply-add (fmaf), the GPU's
 * instruction (ops.h). The three multiply-add loops come in two clones where
 * the compiler can (target_clones): one built for the fma instruction,
 * vectorised, and the portable one calling fmaf; the same bits either way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gn_config.h"
#include "mathf.h"
#include "ops.h"
#include "stat.h"

enum gn_status gn_buffers_init(struct gn_buffers *b, const struct gn_model *m, int32_t batch)
{
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->rows = batch;
    b->stride = m->max_width;
    size_t n = (size_t)m->max_groups * (size_t)batch * (size_t)m->max_width;
    b->act = calloc(n, sizeof(float));
    b->dz = calloc(n, sizeof(float));
    b->row_loss = calloc((size_t)batch, sizeof(float));
    b->row_hit = calloc((size_t)batch, 1);
    if (!b->act || !b->dz || !b->row_loss || !b->row_hit) {
        gn_buffers_free(b);
        return gn_fail(GN_ERR_NOMEM,
                       "cannot allocate activations for %d groups x batch %d (%.1f MiB)",
                       m->max_groups, batch, 2.0 * (double)n * 4 / (1 << 20));
    }
    return GN_OK;
}

void gn_buffers_free(struct gn_buffers *b)
{
    free(b->act);
    free(b->dz);
    free(b->row_loss);
    free(b->row_hit);
    memset(b, 0, sizeof *b);
}

#if GN_HAVE_FMA_CLONES
#define GN_OPS_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define GN_OPS_FMA_CLONES
#endif

static inline const float *src_act(const struct gn_model *m, const struct gn_buffers *b,
                                   int32_t s)
{
    return s == GN_SLOT_INPUT ? b->x : gn_act(b, s);
}

GN_OPS_FMA_CLONES void gn_op_forward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                   int32_t r1)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t n = gr->width;
    const float *bias = m->params + gr->bias;
    float *out = gn_act(b, g);
    for (int32_t r = r0; r < r1; r++) {
        float *z = out + (int64_t)r * n;
        for (int32_t j = 0; j < n; j++) z[j] = bias[j];
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        const int32_t K = m->groups[e->src].width;
        const float *a = src_act(m, b, e->src);
        const float *W = m->params + e->w;
        for (int32_t r = r0; r < r1; r++) {
            const float *ar = a + (int64_t)r * K;
            float *z = out + (int64_t)r * n;
            /* no skip of zero inputs: fmaf(0, w, -0) is +0, so skipping
             * would keep a -0 the device's fma turns into +0 */
            for (int32_t k = 0; k < K; k++) {
                const float av = ar[k];
                const float *w = W + (int64_t)k * n;
                for (int32_t j = 0; j < n; j++) z[j] = GN_FFMA(av, w[j], z[j]);
            }
        }
    }
    if (gr->kind == GN_GROUP_HIDDEN) {
        for (int32_t r = r0; r < r1; r++) {
            float *z = out + (int64_t)r * n;
            for (int32_t j = 0; j < n; j++) z[j] = z[j] > 0.0f ? z[j] : 0.0f;
        }
    }
}

void gn_op_loss(const struct gn_model *m, const struct gn_buffers *b, int32_t r0, int32_t r1)
{
    const int32_t C = m->classes;
    const float inv = 1.0f / (float)(b->loss_rows > 0 ? b->loss_rows : b->rows);
    for (int32_t r = r0; r < r1; r++)
        gn_loss_row(b, C, r, inv);
}

GN_OPS_FMA_CLONES void gn_op_backward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                    int32_t r1)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t K = gr->width;
    const float *a = gn_act(b, g);
    float *dz = gn_dz(b, g);
    for (int32_t r = r0; r < r1; r++) memset(dz + (int64_t)r * K, 0, (size_t)K * sizeof(float));
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        const int32_t n = m->groups[e->dst].width;
        const float *dt = gn_dz(b, e->dst);
        const float *W = m->params + e->w;
        for (int32_t r = r0; r < r1; r++) {
            const float *dr = dt + (int64_t)r * n;
            float *d = dz + (int64_t)r * K;
            for (int32_t k = 0; k < K; k++) {
                const float *w = W + (int64_t)k * n;
                /* partial sums over chunks of GN_OPS_CHUNK targets, each
                 * added on its own: the order the block math stages them */
                for (int32_t j0 = 0; j0 < n; j0 += GN_OPS_CHUNK) {
                    const int32_t j1 = j0 + GN_OPS_CHUNK < n ? j0 + GN_OPS_CHUNK : n;
                    float s = 0.0f;
                    for (int32_t j = j0; j < j1; j++) s = GN_FFMA(dr[j], w[j], s);
                    d[k] += s;
                }
            }
        }
    }
    for (int32_t r = r0; r < r1; r++) {
        const float *ar = a + (int64_t)r * K;
        float *d = dz + (int64_t)r * K;
        for (int32_t k = 0; k < K; k++)
            if (!(ar[k] > 0.0f)) d[k] = 0.0f;
    }
}

GN_OPS_FMA_CLONES void gn_op_grad_acc(struct gn_model *m, const struct gn_buffers *b, int32_t g, int from_zero)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t n = gr->width;
    const int32_t rows = b->rows;
    const float *dz = gn_dz(b, g);
    float *db = m->grads + gr->bias;
    if (from_zero)
        for (int32_t j = 0; j < n; j++) db[j] = 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        const float *d = dz + (int64_t)r * n;
        for (int32_t j = 0; j < n; j++) db[j] += d[j];
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        const int32_t K = m->groups[e->src].width;
        const float *a = src_act(m, b, e->src);
        float *dW = m->grads + e->w;
        if (from_zero) memset(dW, 0, (size_t)K * n * sizeof(float));
        for (int32_t r = 0; r < rows; r++) {
            const float *ar = a + (int64_t)r * K;
            const float *d = dz + (int64_t)r * n;
            for (int32_t k = 0; k < K; k++) {
                const float av = ar[k]; /* every term, zeros too (forward's note) */
                float *w = dW + (int64_t)k * n;
                for (int32_t j = 0; j < n; j++) w[j] = GN_FFMA(av, d[j], w[j]);
            }
        }
    }
}

float gn_op_grad(struct gn_model *m, const struct gn_buffers *b, int32_t g)
{
    gn_op_grad_acc(m, b, g, 1);
    /* the growth statistic: one formula for every backend (stat.h) */
    return gn_stat_grad_std(m, g);
}

/* One block of len entries at offset o: the shared rule on each. */
static void update_block(struct gn_model *m, int64_t o, int64_t len, int weight,
                         const struct gn_optim_step *k)
{
    float *w = m->params + o, *m1 = m->moment + o, *m2 = m->moment2 + o;
    const float *gr = m->grads + o;
    for (int64_t i = 0; i < len; i++) gn_optim_apply(w + i, m1 + i, m2 + i, gr[i], weight, k);
}

void gn_op_update(struct gn_model *m, int32_t g, const struct gn_optim_step *k)
{
    const struct gn_group *gr = &m->groups[g];
    update_block(m, gr->bias, gr->width, 0, k);
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        update_block(m, e->w, (int64_t)m->groups[e->src].width * gr->width, 1, k);
    }
}

void gn_op_reduce_loss(const struct gn_buffers *b, double *loss_sum, int64_t *hits)
{
    *loss_sum = 0.0;
    *hits = 0;
    gn_loss_sum_rows(b->row_loss, b->row_hit, b->rows, loss_sum, hits);
}
