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

/* The batch's mean activation of g's unit j: act is g's (rows, width)
 * block of the last forward pass; the rows summed in order. */
GN_HD float gn_prune_mean_one(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                              int32_t j)
{
    const int32_t S = m->groups[g].width;
    float s = 0.0f;
    for (int32_t r = 0; r < rows; r++) s = GN_FADD(s, act[(int64_t)r * S + j]);
    return GN_FDIV(s, (float)rows);
}

/* Every unit's mean (gn_prune_mean_one) into mean (width(g)). */
GN_HD void gn_prune_mean(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                         float *mean)
{
    for (int32_t j = 0; j < m->groups[g].width; j++) mean[j] = gn_prune_mean_one(m, g, act, rows, j);
}

/* Row r's distance from the mean, |a_g,r - mean|_2 (units in order). */
GN_HD float gn_prune_row_spread(const struct gn_model *m, int32_t g, const float *act, int32_t r,
                                const float *mean)
{
    const int32_t S = m->groups[g].width;
    float s = 0.0f;
    for (int32_t j = 0; j < S; j++) {
        const float d = GN_FSUB(act[(int64_t)r * S + j], mean[j]);
        s = GN_FADD(s, GN_FMUL(d, d));
    }
    return GN_FSQRT(s);
}

/* s + v[0] + ... + v[n-1], added in that order: the rows' distances are
 * summed by it, in row order, a row or a chunk of rows at a time. */
GN_HD float gn_prune_sum_add(float s, const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) s = GN_FADD(s, v[i]);
    return s;
}

/* s + w[0]^2 + ... + w[n-1]^2, in that order, each square rounded apart
 * (no fused multiply-add): the out-blocks' weights go through it in
 * canonical order (edges as in g's out-list, each block row-major), a
 * block or a chunk at a time. */
GN_HD float gn_prune_norm_add(float s, const float *w, int64_t n)
{
    for (int64_t q = 0; q < n; q++) s = GN_FADD(s, GN_FMUL(w[q], w[q]));
    return s;
}

/* The sum of the squares of all of g's outgoing weights (its norm's
 * square), by gn_prune_norm_add in canonical order. */
GN_HD float gn_prune_norm_sum(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    float sum = 0.0f;
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        sum = gn_prune_norm_add(sum, m->params + e->w, (int64_t)gr->width * m->groups[e->dst].width);
    }
    return sum;
}

/* The contribution from its parts, as the kernel's blocks compute them:
 * the rows' distances summed (gn_prune_sum_add) over `rows` rows, and the
 * squared out-weights summed (gn_prune_norm_add); rows < 1: the weight
 * norm alone. */
GN_HD float gn_prune_score_of(float spread_sum, int32_t rows, float norm_sum)
{
    const float w = GN_FSQRT(norm_sum);
    if (rows < 1) return w;
    return GN_FMUL(GN_FDIV(spread_sum, (float)rows), w);
}

/* The contribution of group g (see above): act (rows, width(g)) and mean
 * (width(g) floats of the caller's, left holding the mean activation), or
 * act NULL for the weight norm alone. 0 for a group without out-edges. */
GN_HD float gn_prune_score(const struct gn_model *m, int32_t g, const float *act, int32_t rows,
                           float *mean)
{
    const float norm = gn_prune_norm_sum(m, g);
    if (!act || rows < 1) return gn_prune_score_of(0.0f, 0, norm);
    gn_prune_mean(m, g, act, rows, mean);
    float total = 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        const float d = gn_prune_row_spread(m, g, act, r, mean);
        total = gn_prune_sum_add(total, &d, 1);
    }
    return gn_prune_score_of(total, rows, norm);
}

/* Fold g's mean contribution into its successors' biases before it goes,
 * for unit j of the successor of out-edge i (g's out-list in canonical
 * order): bias_d[j] += sum over k of mean[k] W[k][j], k in order. The
 * canonical order of the adds to one bias: out-edges in list order (the
 * kernel runs the units of one out-edge at once, the edges one after
 * another), the groups removed in a round in canonical order (two may
 * share a successor). */
GN_HD void gn_prune_fold_one(struct gn_model *m, int32_t g, const float *mean, int32_t i,
                             int32_t j)
{
    const struct gn_group *gr = &m->groups[g];
    const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
    const int32_t D = m->groups[e->dst].width;
    float *bias = m->params + m->groups[e->dst].bias;
    float t = 0.0f;
    for (int32_t k = 0; k < gr->width; k++)
        t = GN_FADD(t, GN_FMUL(mean[k], m->params[e->w + (int64_t)k * D + j]));
    bias[j] = GN_FADD(bias[j], t);
}

/* The whole fold of g (gn_prune_fold_one for every out-edge and unit). */
GN_HD void gn_prune_fold(struct gn_model *m, int32_t g, const float *mean)
{
    const struct gn_group *gr = &m->groups[g];
    for (int32_t i = 0; i < gr->out_count; i++) {
        const int32_t D = m->groups[m->edges[m->out_list[gr->out_begin + i]].dst].width;
        for (int32_t j = 0; j < D; j++) gn_prune_fold_one(m, g, mean, i, j);
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

/* A round's choice, serial in canonical order: each group whose patience
 * made it a candidate (candidate[g] != 0, by slot: gn_prune_count's
 * answer) and that can go, given the groups flagged before it
 * (gn_prune_can_remove), is flagged GN_GROUP_PRUNED and logged (log may be
 * NULL). Returns how many. The scores do not read what the folds write
 * (biases), so every backend scores all groups first, then chooses, then
 * folds. */
GN_HD int32_t gn_prune_select(struct gn_model *m, const int32_t *candidate,
                              struct gn_prune_log *log)
{
    int32_t removed = 0;
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        const int32_t g = m->order[i];
        if (!candidate[g] || !gn_prune_can_remove(m, g)) continue;
        m->groups[g].flags |= GN_GROUP_PRUNED;
        if (log && log->n_pruned < GN_PRUNE_LOG_MAX) log->pruned[log->n_pruned++] = g;
        removed++;
    }
    return removed;
}

/*
 * The compaction, as functions of one item each, which the host runs in
 * loops and the kernel in parallel (device/prune.cuh). `map` is the slots'
 * new numbers: kept slots numbered in slot order, -1 for a removed one.
 * Edges keep their index order, kept parameter blocks their offset order,
 * each packed from 0.
 */

/* Is edge e kept: in use, between kept groups? */
GN_HD int gn_prune_edge_kept(const struct gn_model *m, const int32_t *map, int32_t e)
{
    const struct gn_edge *ed = &m->edges[e];
    return ed->src >= 0 && map[ed->src] >= 0 && map[ed->dst] >= 0;
}

/* A parameter block: its offset and length (0: it goes, or there is none). */
struct gn_prune_block {
    int64_t at, len;
};

/* Parameter block b of the round: b < n_groups is group b's bias, the
 * others the weights of edge b - n_groups. */
GN_HD struct gn_prune_block gn_prune_block_of(const struct gn_model *m, const int32_t *map,
                                              int32_t b)
{
    struct gn_prune_block k = {0, 0};
    if (b < m->n_groups) {
        const struct gn_group *gr = &m->groups[b];
        if (map[b] >= 0 && gr->bias >= 0) {
            k.at = gr->bias;
            k.len = gn_param_span(gr->width); /* with its padding (model.h) */
        }
        return k;
    }
    const int32_t e = b - m->n_groups;
    const struct gn_edge *ed = &m->edges[e];
    if (gn_prune_edge_kept(m, map, e)) {
        k.at = ed->w;
        k.len = gn_param_span((int64_t)m->groups[ed->src].width * m->groups[ed->dst].width);
    }
    return k;
}

/* The kept length of blk[0 .. n) below offset `at`: summed over every
 * block, a block's new offset (offsets are distinct). */
GN_HD int64_t gn_prune_packed_below(const struct gn_prune_block *blk, int32_t n, int64_t at)
{
    int64_t s = 0;
    for (int32_t c = 0; c < n; c++) s += blk[c].at < at ? blk[c].len : 0;
    return s;
}

/* Edge e as it is after the round (kept: gn_prune_edge_kept), its weights
 * at w. */
GN_HD struct gn_edge gn_prune_edge_moved(const struct gn_model *m, const int32_t *map, int32_t e,
                                         int64_t w)
{
    struct gn_edge ed = m->edges[e];
    ed.src = map[ed.src];
    ed.dst = map[ed.dst];
    ed.w = w;
    return ed;
}

/* Group g's record after the round (kept), its bias at `bias` (when it
 * has one); a removed parent is -1. Lists and positions are rebuilt. */
GN_HD struct gn_group gn_prune_group_moved(const struct gn_model *m, const int32_t *map, int32_t g,
                                           int64_t bias)
{
    struct gn_group gr = m->groups[g];
    gr.parent = gr.parent >= 0 ? map[gr.parent] : -1;
    if (gr.bias >= 0) gr.bias = bias;
    return gr;
}

/* The log's moves: the kept slots whose number changed, in slot order. */
GN_HD void gn_prune_log_moves(struct gn_prune_log *log, const int32_t *map, int32_t n)
{
    for (int32_t g = 0; g < n && log->n_moved < GN_PRUNE_LOG_MAX; g++)
        if (map[g] >= 0 && map[g] != g) {
            log->moved[log->n_moved][0] = g;
            log->moved[log->n_moved][1] = map[g];
            log->n_moved++;
        }
}

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
