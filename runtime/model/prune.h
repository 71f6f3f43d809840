/*
 * Pruning: hidden groups whose contribution stays below a threshold are
 * removed at the growth rounds (--prune-threshold, --prune-after). The
 * rules are GN_HD functions (host C and CUDA device code), as growth's are;
 * prune.c holds the host's round over them and the compaction of the pools.
 *
 * Contribution. A group's contribution is the L2 norm of all its outgoing
 * weights together, sqrt(sum over its out-edges, in canonical order, of the
 * sum of squares of the block, row-major): one fixed sequence of float
 * operations, so every backend gets the same bits. It needs no extra pass
 * (no activation statistic): what g adds to a successor's input is a_g W,
 * and |a_g W| <= |a_g| |W|_F row by row, so removing g moves the output's
 * input by at most |a_g| times the contribution when g feeds the output
 * (through hidden successors the ReLUs do not amplify the change, but their
 * weights may: the bound is then multiplied by their norms).
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

/* The contribution of group g (see above); 0 for a group without out-edges. */
GN_HD float gn_prune_score(const struct gn_model *m, int32_t g)
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

/* One round's patience of a hidden group: count the round, return 1 when
 * it is a candidate. Other kinds are never candidates. */
GN_HD int gn_prune_count(struct gn_model *m, int32_t g, float threshold, int32_t after)
{
    struct gn_group *gr = &m->groups[g];
    if (gr->kind != GN_GROUP_HIDDEN) return 0;
    if (gn_prune_score(m, g) < threshold) gr->below++;
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
 * One pruning round over the hidden groups in canonical order: count each
 * group's patience (gn_prune_count), mark the candidates that can go
 * (gn_prune_can_remove) and remove them: their edges, then the pools
 * compacted (prune.c) and the topology rebuilt. Adds to m->pruned; log
 * (may be NULL) gets the slots. A threshold <= 0 does nothing.
 */
enum gn_status gn_prune_round(struct gn_model *m, float threshold, int32_t after,
                              struct gn_prune_log *log);

#ifdef __cplusplus
}
#endif

#endif
