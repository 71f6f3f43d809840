/*
 * The host's pruning round (rules in prune.h) and the compaction that
 * gives the freed space back to the pools. The kernel runs the same
 * functions of prune.h in parallel (device/prune.cuh); here they run in
 * loops, in the same phases: score and count every group, choose
 * (gn_prune_select), fold, compact.
 *
 * Compaction instead of free lists: every backend (and the kernel's task
 * maps) relies on slots [0, n_groups) being the live groups, all in the
 * order. So a round that removed groups compacts the three pools,
 * stably (what stays keeps its relative order), and lowers the bump
 * counters: the next duplications then take the freed space by the pools'
 * ordinary bump allocation, on every backend, with no change to the
 * reservation rule. Groups: the kept slots move down, in slot order (the
 * input and the output stay 0 and 1); edges, parents and the order are
 * renamed. Edges: the kept ones move down in index order (the dead ones go:
 * the removed groups', and unused slots a refused duplication left).
 * Parameters: the kept blocks (biases and weights) packed from 0 in their
 * offset order (gn_prune_packed_below), with their gradients and both
 * moments, through a copy. Edge lists are sorted by position, so the
 * canonical order of every sum is the same as before: the round changes
 * the arithmetic only by what the removed groups contributed. The cost is
 * a pass over the pools at a growth round, only when something was
 * removed (and the new offsets' count, quadratic in groups + edges).
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "prune.h"

/* Drop the groups flagged GN_GROUP_PRUNED and every dead edge; compact. */
static enum gn_status gn_prune_compact(struct gn_model *m, struct gn_prune_log *log)
{
    const int32_t n = m->n_groups, E = m->n_edges, B = n + E;
    int32_t *map = malloc((size_t)n * sizeof *map);
    int32_t *order = malloc((size_t)n * sizeof *order);
    struct gn_prune_block *blk = malloc((size_t)B * sizeof *blk);
    int64_t *at = malloc((size_t)B * sizeof *at);
    float *copy = malloc(((size_t)m->n_params + 1) * sizeof *copy);
    enum gn_status st = GN_OK;
    if (!map || !order || !blk || !at || !copy) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for a pruning round");
        goto error;
    }
    int32_t kept = 0;
    for (int32_t g = 0; g < n; g++) map[g] = (m->groups[g].flags & GN_GROUP_PRUNED) ? -1 : kept++;
    if (log) gn_prune_log_moves(log, map, n);

    /* parameters: the kept blocks packed in offset order, through a copy */
    int64_t top = 0;
    for (int32_t b = 0; b < B; b++) {
        blk[b] = gn_prune_block_of(m, map, b);
        top += blk[b].len;
    }
    for (int32_t b = 0; b < B; b++) at[b] = gn_prune_packed_below(blk, B, blk[b].at);
    float *arrays[4] = {m->params, m->grads, m->moment, m->moment2};
    for (int a = 0; a < 4; a++) {
        for (int32_t b = 0; b < B; b++)
            if (blk[b].len)
                memcpy(copy + at[b], arrays[a] + blk[b].at, (size_t)blk[b].len * sizeof(float));
        memcpy(arrays[a], copy, (size_t)top * sizeof(float));
        memset(arrays[a] + top, 0, (size_t)(m->n_params - top) * sizeof(float));
    }
    m->n_params = top;

    /* edges: the kept ones down, renamed (edge e moves to ne <= e: in
     * index order nothing is overwritten before it is read) */
    int32_t ne = 0;
    for (int32_t e = 0; e < E; e++)
        if (gn_prune_edge_kept(m, map, e)) {
            const struct gn_edge ed = gn_prune_edge_moved(m, map, e, at[n + e]);
            m->edges[ne++] = ed;
        }
    memset(m->edges + ne, 0, (size_t)(E - ne) * sizeof *m->edges);
    m->n_edges = ne;

    /* groups: the kept slots down (map[g] <= g), parents renamed */
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (map[m->order[i]] >= 0) order[k++] = map[m->order[i]];
    for (int32_t g = 0; g < n; g++)
        if (map[g] >= 0) {
            const struct gn_group gr = gn_prune_group_moved(m, map, g, at[g]);
            m->groups[map[g]] = gr;
        }
    memset(m->groups + kept, 0, (size_t)(n - kept) * sizeof *m->groups);
    m->n_groups = kept;
    st = gn_model_rebuild(m, order);
error:
    free(map);
    free(order);
    free(blk);
    free(at);
    free(copy);
    return st;
}

enum gn_status gn_prune_round(struct gn_model *m, const struct gn_buffers *b, float threshold,
                              int32_t after, struct gn_prune_log *log)
{
    if (log) log->n_pruned = log->n_moved = 0;
    if (!(threshold > 0.0f)) return GN_OK;
    float *mean = malloc((size_t)m->max_width * sizeof *mean);
    int32_t *candidate = calloc((size_t)m->n_groups, sizeof *candidate);
    if (!mean || !candidate) {
        free(mean);
        free(candidate);
        return gn_fail(GN_ERR_NOMEM, "out of memory for a pruning round");
    }
    /* score and count every hidden group, then choose, then fold */
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        const int32_t g = m->order[i];
        if (m->groups[g].kind != GN_GROUP_HIDDEN) continue;
        const float score = b ? gn_prune_score(m, g, gn_act(b, g), b->rows, mean)
                              : gn_prune_score(m, g, NULL, 0, NULL);
        candidate[g] = gn_prune_count(m, g, score, threshold, after);
    }
    const int32_t removed = gn_prune_select(m, candidate, log);
    if (b)
        for (int32_t i = 1; i < m->n_groups - 1 && removed; i++) {
            const int32_t g = m->order[i];
            if (!(m->groups[g].flags & GN_GROUP_PRUNED)) continue;
            gn_prune_mean(m, g, gn_act(b, g), b->rows, mean);
            gn_prune_fold(m, g, mean);
        }
    free(mean);
    free(candidate);
    if (removed == 0) return GN_OK;
    m->pruned += removed;
    return gn_prune_compact(m, log);
}
