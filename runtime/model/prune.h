/*
 * Pruning: hidden groups whose contribution stays below a threshold are
 * removed at the growth rounds (--prune-threshold, --prune-after). The
 * rules are GN_HD functions (host C and CUDA device code), as growth's are;
 * prune.c holds the host's round over them and the compaction of the pools.
 *
 * Contribution. What g adds to a successor d's input is a_g W (W the
 * S x width(d) block of the edge g -> d). Removing g adds instead, to d's
 * bias, the batch's mean of it, mean(a_g) W (the fold), so d's input moves
 * row by row by (a_g - mean(a_g)) W, of norm at most
 * |a_g - mean(a_g)| |W|_F over every out-edge together. The contribution is
 * the mean of that bound over the rows of the last batch:
 *     mean over rows r of |a_g,r - mean(a_g)|_2  x  |all of g's out-blocks|_F
 * the activations as the step's forward pass left them. A dead group (all
 * zero) or one whose activation does not vary over the batch scores 0 and
 * goes without changing the function on that batch (to rounding). The
 * change passes through the successors' ReLUs, which do not amplify it
 * (their weights may: the bound at the output is then multiplied by their
 * norms). Every sum runs in one fixed order of float operations (rows,
 * then units; edges in canonical order, blocks row-major), so every
 * backend gets the same bits. Without activations (act NULL: hand-made
 * tests) the deviation factor is 1: the weight norm alone.
 *
 * Patience. Every round, each hidden group's `below` counts the rounds in a
 * row its contribution was below the threshold (0 again when it is not);
 * a group becomes a candidate once below >= prune_after.
 *
 * Connectivity. A candidate is removed, in canonical order, only when no
 * group is left without in-edges or out-edges: each of its successors keeps
 * an in-edge from a group not removed, and each hidden predecessor keeps an
 * out-edge to one. A link of a depthwise chain (the only way in or out of
 * its neighbour) is skipped, not bypassed. Every hidden group keeping an
 * in-edge and an out-edge in a DAG means every group still lies on a path
 * from the input to the output.
 */
#ifndef GN_RUNTIME_PRUNE_H
#define GN_RUNTIME_PRUNE_H

#include <stdint.h>

#include "genet/genet.h"
#include "mathf.h"
#include "model.h"

/* The batch's mean activation of g, unit by unit, into mean (width(g)):
 * act is g's (rows, width) block of the last forward pass. */
GN_HD void gn_prune_mean(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                         float *mean)
{
    const int32_t S = m->groups[g].width;
    for (int32_t j = 0; j < S; j++) {
        float s = 0.0f;
        for (int32_t r = 0; r < rows; r++) s = GN_FADD(s, act[(int64_t)r * S + j]);
        mean[j] = GN_FDIV(s, (float)rows);
    }
}

/* The mean over rows of |a_g,r - mean|_2 (mean from gn_prune_mean). */
GN_HD float gn_prune_spread(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                            const float *mean)
{
    const int32_t S = m->groups[g].width;
    float total = 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (int32_t j = 0; j < S; j++) {
            const float d = GN_FSUB(act[(int64_t)r * S + j], mean[j]);
            s = GN_FADD(s, GN_FMUL(d, d));
        }
        total = GN_FADD(total, GN_FSQRT(s));
    }
    return GN_FDIV(total, (float)rows);
}

/* The L2 norm of all of g's outgoing weights together. */
GN_HD float gn_prune_weight_norm(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    float sum = 0.0f;
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        const int64_t len = (int64_t)gr->width * m->groups[e->dst].width;
        for (int64_t q = 0; q < len; q++) {
            const float w = m->params[e->w + q];
            sum = GN_FADD(sum, GN_FMUL(w, w)); /* rounded apart, no fused multiply-add */
        }
    }
    return GN_FSQRT(sum);
}

/* The contribution of group g (see above): act (rows, width(g)) and mean
 * (width(g) floats of the caller's, left holding the mean activation), or
 * act NULL for the weight norm alone. 0 for a group without out-edges. */
GN_HD float gn_prune_score(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                           float *mean)
{
    const float w = gn_prune_weight_norm(m, g);
    if (!act || rows < 1) return w;
    gn_prune_mean(m, g, act, rows, mean);
    return GN_FMUL(gn_prune_spread(m, g, act, rows, mean), w);
}

/* Fold g's mean contribution into its successors' biases before it goes:
 * bias_d[j] += sum over k of mean[k] W[k][j], for each out-edge g -> d in
 * canonical order (k in order). */
GN_HD void gn_prune_fold(struct gn_model *m, int32_t g, const float *mean)
{
    const struct gn_group *gr = &m->groups[g];
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        const int32_t D = m->groups[e->dst].width;
        float *bias = m->params + m->groups[e->dst].bias;
        for (int32_t j = 0; j < D; j++) {
            float t = 0.0f;
            for (int32_t k = 0; k < gr->width; k++)
                t = GN_FADD(t, GN_FMUL(mean[k], m->params[e->w + (int64_t)k * D + j]));
            bias[j] = GN_FADD(bias[j], t);
        }
    }
}

/* One round's patience of a hidden group, whose contribution is score:
 * count the round, return 1 when it is a candidate. Other kinds are never
 * candidates. */
GN_HD int gn_prune_count(struct gn_model *m, int32_t g, float score, float threshold,
                         int32_t after)
{
    struct gn_group *gr = &m->groups[g];
    if (gr->kind != GN_GROUP_HIDDEN) return 0;
    if (score < threshold) gr->below++;
    else gr->below = 0;
    return gr->below >= after;
}

/* Does another edge than `skip` lead into d from a group not pruned
 * (GN_GROUP_PRUNED) -- or, by_src, out of d into one? */
GN_HD int gn_prune_has_other(const struct gn_model *m, int32_t d, int32_t skip, int by_src)
{
    const struct gn_group *gr = &m->groups[d];
    const int32_t n = by_src ? gr->out_count : gr->in_count;
    for (int32_t i = 0; i < n; i++) {
        const int32_t e = by_src ? m->out_list[gr->out_begin + i] : m->in_list[gr->in_begin + i];
        const int32_t other = by_src ? m->edges[e].dst : m->edges[e].src;
        if (other != skip && !(m->groups[other].flags & GN_GROUP_PRUNED)) return 1;
    }
    return 0;
}

/* Can hidden group g go, given the groups already pruned this round:
 * every successor keeps an input and every hidden predecessor a successor. */
GN_HD int gn_prune_can_remove(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    if (gr->kind != GN_GROUP_HIDDEN) return 0;
    for (int32_t i = 0; i < gr->out_count; i++) {
        const int32_t d = m->edges[m->out_list[gr->out_begin + i]].dst;
        if (!gn_prune_has_other(m, d, g, 0)) return 0;
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        const int32_t s = m->edges[m->in_list[gr->in_begin + i]].src;
        if (m->groups[s].kind == GN_GROUP_HIDDEN && !(m->groups[s].flags & GN_GROUP_PRUNED) &&
            !gn_prune_has_other(m, s, g, 1))
            return 0;
    }
    return 1;
}

/* What one pruning round did, for logs and traces: the slots removed (as
 * numbered before the round, in canonical order) and the slots that moved
 * down into the freed ones (from, to). */
#define GN_PRUNE_LOG_MAX 64
struct gn_prune_log {
    int32_t pruned[GN_PRUNE_LOG_MAX];
    int32_t moved[GN_PRUNE_LOG_MAX][2];
    int32_t n_pruned, n_moved;
};

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One pruning round over the hidden groups in canonical order: score each
 * (gn_prune_score on b's activations of the last forward pass; b NULL: the
 * weight norm alone), count its patience (gn_prune_count), and remove the
 * candidates that can go (gn_prune_can_remove): their mean contribution
 * folded into their successors' biases (gn_prune_fold; not without b),
 * then the pools compacted (prune.c) and the topology rebuilt. Adds to
 * m->pruned; log (may be NULL) gets the slots. A threshold <= 0 does
 * nothing.
 */
struct gn_buffers;
enum gn_status gn_prune_round(struct gn_model *m, const struct gn_buffers *b, float threshold,
                              int32_t after, struct gn_prune_log *log);

#ifdef __cplusplus
}
#endif

#endif
