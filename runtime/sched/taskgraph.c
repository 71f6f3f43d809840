/*
 * Building the task DAGs of a training step from the network (see
 * taskgraph.h for the numbering and the dependency rules). O(tiles x edges);
 * run once at start and after every growth round.
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

struct edges {
    uint32_t *src, *dst;
    uint32_t n, cap;
};

static int push(struct edges *e, uint32_t s, uint32_t d)
{
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? 2 * e->cap : 1024;
        uint32_t *a = realloc(e->src, cap * sizeof *a);
        if (!a) return -1;
        e->src = a;
        uint32_t *b = realloc(e->dst, cap * sizeof *b);
        if (!b) return -1;
        e->dst = b;
        e->cap = cap;
    }
    e->src[e->n] = s;
    e->dst[e->n] = d;
    e->n++;
    return 0;
}

enum gn_status gn_taskgraph_build(struct gn_dag *train, struct gn_dag *eval,
                                  struct gn_taskmap *tm, const struct gn_model *m, int32_t tile,
                                  int32_t tiles)
{
    const int32_t n = m->n_groups;
    gn_taskmap_init(tm, n, tiles, tile);
    struct edges fe = {0}, te = {0};
    enum gn_status st = GN_OK;
    int oom = 0;
    for (int32_t pos = 1; pos < n; pos++) {
        int32_t g = m->order[pos];
        const struct gn_group *gr = &m->groups[g];
        int out = g == GN_SLOT_OUTPUT;
        for (int32_t i = 0; i < gr->in_count; i++) {
            int32_t s = m->edges[m->in_list[gr->in_begin + i]].src;
            if (s == GN_SLOT_INPUT) continue;
            int32_t sp = m->groups[s].pos;
            for (int32_t t = 0; t < tiles; t++) {
                uint32_t f = gn_task_forward(tm, sp, t), d = gn_task_forward(tm, pos, t);
                oom |= push(&fe, f, d) | push(&te, f, d);
                /* the error of s flows back from g */
                oom |= push(&te, out ? gn_task_forward(tm, pos, t) : gn_task_backward(tm, pos, t),
                            gn_task_backward(tm, sp, t));
                /* update(g) rewrites W(s -> g): after backward(s) read it */
                oom |= push(&te, gn_task_backward(tm, sp, t), gn_task_update(tm, pos, 0));
            }
        }
        for (int32_t t = 0; t < tiles; t++)
            oom |= push(&te, out ? gn_task_forward(tm, pos, t) : gn_task_backward(tm, pos, t),
                        gn_task_update(tm, pos, 0));
    }
    if (oom) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory building the task graph");
        goto done;
    }
    if ((st = gn_dag_build(train, tm->total, te.n, te.src, te.dst))) goto done;
    st = gn_dag_build(eval, tm->bwd0, fe.n, fe.src, fe.dst);
done:
    free(fe.src);
    free(fe.dst);
    free(te.src);
    free(te.dst);
    return st;
}
