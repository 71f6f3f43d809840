/*
 * The host's pruning round (rules in prune.h) and the compaction that
 * gives the freed space back to the pools.
 *
 * Compaction instead of free lists: every backend (and the kernel's task
 * maps) relies on slots [0, n_groups) being the live groups, all in the
 * order. So a round that removed groups compacts the three pools in place,
 * stably (what stays keeps its relative order), and lowers the bump
 * counters: the next duplications then take the freed space by the pools'
 * ordinary bump allocation, on every backend, with no change to the
 * reservation rule. Groups: the live slots move down, in slot order (the
 * input and the output stay 0 and 1); edges, parents and the order are
 * renamed. Edges: the live ones move down in index order (the dead ones go:
 * the removed groups', and unused slots a refused duplication left).
 * Parameters: the live blocks (biases, then weights, taken by offset) move
 * down with their gradients and both moments. Edge lists are sorted by
 * position with a stable sort, so the canonical order of every sum is the
 * same as before: the round changes the arithmetic only by what the removed
 * groups contributed. The cost is one pass over the pools, at a growth
 * round, and only when something was removed.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "prune.h"

/* A parameter block: its offset and length, and who points at it
 * (owner >= 0: the bias of group owner; < 0: the weights of edge -owner-1). */
struct gn_prune_block {
    int64_t at, len;
    int32_t owner;
};

static int gn_prune_block_cmp(const void *a, const void *b)
{
    const struct gn_prune_block *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void gn_prune_move(float *a, int64_t to, int64_t from, int64_t len)
{
    if (to != from) memmove(a + to, a + from, (size_t)len * sizeof(float));
}

/* Drop the groups flagged GN_GROUP_PRUNED and every dead edge; compact. */
static enum gn_status gn_prune_compact(struct gn_model *m, struct gn_prune_log *log)
{
    const int32_t n = m->n_groups;
    int32_t *map = malloc((size_t)n * sizeof *map);
    int32_t *order = malloc((size_t)n * sizeof *order);
    struct gn_prune_block *blk =
        malloc(((size_t)n + (size_t)m->n_edges) * sizeof *blk);
    enum gn_status st = GN_OK;
    if (!map || !order || !blk) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for a pruning round");
        goto error;
    }
    int32_t live = 0;
    for (int32_t g = 0; g < n; g++) {
        map[g] = (m->groups[g].flags & GN_GROUP_PRUNED) ? -1 : live++;
        if (map[g] >= 0 && map[g] != g && log && log->n_moved < GN_PRUNE_LOG_MAX) {
            log->moved[log->n_moved][0] = g;
            log->moved[log->n_moved][1] = map[g];
            log->n_moved++;
        }
    }

    /* parameters: the live blocks in offset order, moved down */
    int32_t nb = 0;
    for (int32_t g = 0; g < n; g++)
        if (map[g] >= 0 && m->groups[g].bias >= 0)
            blk[nb++] = (struct gn_prune_block){m->groups[g].bias, m->groups[g].width, g};
    for (int32_t e = 0; e < m->n_edges; e++) {
        const struct gn_edge *ed = &m->edges[e];
        if (ed->src < 0 || map[ed->src] < 0 || map[ed->dst] < 0) continue;
        blk[nb++] = (struct gn_prune_block){
            ed->w, (int64_t)m->groups[ed->src].width * m->groups[ed->dst].width, -e - 1};
    }
    qsort(blk, (size_t)nb, sizeof *blk, gn_prune_block_cmp); /* offsets are distinct */
    int64_t top = 0;
    for (int32_t i = 0; i < nb; i++) {
        gn_prune_move(m->params, top, blk[i].at, blk[i].len);
        gn_prune_move(m->grads, top, blk[i].at, blk[i].len);
        gn_prune_move(m->moment, top, blk[i].at, blk[i].len);
        gn_prune_move(m->moment2, top, blk[i].at, blk[i].len);
        if (blk[i].owner >= 0) m->groups[blk[i].owner].bias = top;
        else m->edges[-blk[i].owner - 1].w = top;
        top += blk[i].len;
    }
    const int64_t freed = m->n_params - top;
    memset(m->params + top, 0, (size_t)freed * sizeof(float));
    memset(m->grads + top, 0, (size_t)freed * sizeof(float));
    memset(m->moment + top, 0, (size_t)freed * sizeof(float));
    memset(m->moment2 + top, 0, (size_t)freed * sizeof(float));
    m->n_params = top;

    /* edges: the live ones down, renamed */
    int32_t ne = 0;
    for (int32_t e = 0; e < m->n_edges; e++) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0 || map[ed.src] < 0 || map[ed.dst] < 0) continue;
        m->edges[ne].src = map[ed.src];
        m->edges[ne].dst = map[ed.dst];
        m->edges[ne].w = ed.w;
        ne++;
    }
    memset(m->edges + ne, 0, (size_t)(m->n_edges - ne) * sizeof *m->edges);
    m->n_edges = ne;

    /* groups: the live slots down, parents renamed (-1 when pruned) */
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (map[m->order[i]] >= 0) order[k++] = map[m->order[i]];
    for (int32_t g = 0; g < n; g++) {
        if (map[g] < 0) continue;
        struct gn_group gr = m->groups[g];
        gr.parent = gr.parent >= 0 ? map[gr.parent] : -1;
        m->groups[map[g]] = gr;
    }
    memset(m->groups + live, 0, (size_t)(n - live) * sizeof *m->groups);
    m->n_groups = live;
    st = gn_model_rebuild(m, order);
error:
    free(map);
    free(order);
    free(blk);
    return st;
}

enum gn_status gn_prune_round(struct gn_model *m, const struct gn_buffers *b, float threshold,
                              int32_t after, struct gn_prune_log *log)
{
    if (log) log->n_pruned = log->n_moved = 0;
    if (!(threshold > 0.0f)) return GN_OK;
    float *mean = malloc((size_t)m->max_width * sizeof *mean);
    if (!mean) return gn_fail(GN_ERR_NOMEM, "out of memory for a pruning round");
    int32_t removed = 0;
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        const int32_t g = m->order[i];
        if (m->groups[g].kind != GN_GROUP_HIDDEN) continue;
        const float score = b ? gn_prune_score(m, g, gn_act(b, g), b->rows, mean)
                              : gn_prune_score(m, g, NULL, 0, NULL);
        if (!gn_prune_count(m, g, score, threshold, after) || !gn_prune_can_remove(m, g))
            continue;
        if (b) gn_prune_fold(m, g, mean);
        m->groups[g].flags |= GN_GROUP_PRUNED;
        if (log && log->n_pruned < GN_PRUNE_LOG_MAX) log->pruned[log->n_pruned++] = g;
        removed++;
    }
    free(mean);
    if (removed == 0) return GN_OK;
    m->pruned += removed;
    return gn_prune_compact(m, log);
}
