/*
 * Building the task DAGs of a training step from the network with the
 * rules of taskgraph.h (the numbering, gn_task_succ, gn_task_indeg: the
 * functions the kernel calls too). O(tiles x edges); run once at start and
 * after every growth round.
 */
#include <stdlib.h>

#include "error.h"
#include "taskgraph.h"

const char *gn_task_kind_name(int32_t kind)
{
    switch (kind) {
#define GN_TASK_NAME(k, name)                                                                      \
    case GN_TASK_##k: return name;
        GN_TASK_KINDS(GN_TASK_NAME)
#undef GN_TASK_NAME
    }
    return "?";
}

void gn_taskgraph_tiles(int32_t batch, int32_t tile_opt, int32_t workers, int32_t *tile,
                        int32_t *tiles)
{
    int32_t t = tile_opt;
    if (t <= 0) {
        /* Two tiles per worker on the first level, at least 8 rows each. */
        int32_t want = 2 * (workers > 0 ? workers : 1);
        t = (batch + want - 1) / want;
        if (t < 8) t = 8;
    }
    if (t > batch) t = batch;
    *tile = t;
    *tiles = (batch + t - 1) / t;
}

/* One DAG as CSR straight from the rules: count, prefix, fill. */
static enum gn_status build_one(struct gn_dag *d, const struct gn_model *m,
                                const struct gn_taskmap *tm, uint32_t n, int eval)
{
    uint32_t edges = 0;
    for (uint32_t i = 0; i < n; i++) edges += gn_task_succ(m, tm, i, eval, NULL);
    enum gn_status st = gn_dag_reserve(d, n, edges);
    if (st) return st;
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        d->succ_begin[i] = off;
        off += gn_task_succ(m, tm, i, eval, d->succ + off);
        d->indeg_init[i] = gn_task_indeg(m, tm, i);
    }
    d->succ_begin[n] = off;
    gn_dag_arm_all(d);
    return GN_OK;
}

enum gn_status gn_taskgraph_build(struct gn_dag *train, struct gn_dag *eval,
                                  struct gn_taskmap *tm, const struct gn_model *m, int32_t tile,
                                  int32_t tiles)
{
    gn_taskmap_init(tm, m->n_groups, tiles, tile);
    /* the reduction's flags, group by group (the kernel's warps take one
     * each: device/grow.cuh) */
    uint8_t *cut = calloc(m->n_edges > 0 ? (size_t)m->n_edges : 1, 1);
    if (!cut) return GN_ERR_NOMEM;
    for (int32_t p = 1; p < m->n_groups; p++) gn_task_cut_group(m, p, cut);
    tm->cut = cut;
    enum gn_status st = build_one(train, m, tm, tm->total, 0);
    if (!st) st = build_one(eval, m, tm, tm->bwd0, 1);
    tm->cut = NULL;
    free(cut);
    return st;
}
