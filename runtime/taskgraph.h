/*
 * The tasks of one training step and their dependencies, for the backends
 * that run a step through the shared scheduler core (cpu, cuda).
 *
 * A task is one (kind, group position, batch tile). With n groups in the
 * canonical order (position 0 the input, n-1 the output, H = n-2 hidden)
 * and T tiles, task ids are dense:
 *   forward  (pos 1..n-1, tile t): fwd0 + (pos-1)*T + t   (the output's forward
 *                                   also computes the loss and its error)
 *   backward (pos 1..n-2, tile t): bwd0 + (pos-1)*T + t
 *   update   (pos 1..n-1):         upd0 + (pos-1)        (gradients over all
 *                                   rows, the growth statistic, SGD)
 * Dependencies (edge s -> g of the network, s hidden unless said):
 *   forward(s,t)   -> forward(g,t)
 *   forward(out,t) -> backward(s,t) for s -> out; -> update(out)
 *   backward(g,t)  -> backward(s,t) for s -> g;   -> update(g)
 *   backward(s,t)  -> update(g)     (update(g) rewrites W(s->g), which
 *                                    backward(s) reads)
 * The evaluation DAG has the forward tasks and their edges only.
 */
#ifndef GN_RUNTIME_TASKGRAPH_H
#define GN_RUNTIME_TASKGRAPH_H

#include <stdint.h>

#include "atomics.h"
#include "dag.h"
#include "model.h"

/* The task kinds: (kind, name). Dispatch switches, traces and tests all
 * iterate this list, so no kind is a magic number. */
#define GN_TASK_KINDS(X)                                                                           \
    X(FORWARD, "forward")                                                                          \
    X(BACKWARD, "backward")                                                                        \
    X(UPDATE, "update")

enum gn_task_kind {
#define GN_TASK_ENUM(kind, name) GN_TASK_##kind,
    GN_TASK_KINDS(GN_TASK_ENUM)
#undef GN_TASK_ENUM
    GN_TASK_KIND_COUNT
};

struct gn_taskmap {
    int32_t n;      /* groups in the order, input and output included */
    int32_t tiles;  /* T */
    int32_t tile;   /* rows per tile */
    uint32_t fwd0, bwd0, upd0, total;
};
GN_STATIC_ASSERT(sizeof(struct gn_taskmap) == 28, "gn_taskmap is shared with the device");

struct gn_task {
    int32_t kind; /* enum gn_task_kind */
    int32_t pos;
    int32_t tile; /* -1 for update */
};

GN_HD void gn_taskmap_init(struct gn_taskmap *tm, int32_t n_groups, int32_t tiles, int32_t tile)
{
    tm->n = n_groups;
    tm->tiles = tiles;
    tm->tile = tile;
    tm->fwd0 = 0;
    tm->bwd0 = (uint32_t)(n_groups - 1) * (uint32_t)tiles;
    tm->upd0 = tm->bwd0 + (uint32_t)(n_groups - 2) * (uint32_t)tiles;
    tm->total = tm->upd0 + (uint32_t)(n_groups - 1);
}

GN_HD uint32_t gn_task_forward(const struct gn_taskmap *tm, int32_t pos, int32_t t)
{
    return tm->fwd0 + (uint32_t)(pos - 1) * (uint32_t)tm->tiles + (uint32_t)t;
}

GN_HD uint32_t gn_task_backward(const struct gn_taskmap *tm, int32_t pos, int32_t t)
{
    return tm->bwd0 + (uint32_t)(pos - 1) * (uint32_t)tm->tiles + (uint32_t)t;
}

GN_HD uint32_t gn_task_update(const struct gn_taskmap *tm, int32_t pos)
{
    return tm->upd0 + (uint32_t)(pos - 1);
}

GN_HD struct gn_task gn_task_decode(const struct gn_taskmap *tm, uint32_t id)
{
    struct gn_task k;
    if (id >= tm->upd0) {
        k.kind = GN_TASK_UPDATE;
        k.pos = (int32_t)(id - tm->upd0) + 1;
        k.tile = -1;
    } else if (id >= tm->bwd0) {
        k.kind = GN_TASK_BACKWARD;
        k.pos = (int32_t)((id - tm->bwd0) / (uint32_t)tm->tiles) + 1;
        k.tile = (int32_t)((id - tm->bwd0) % (uint32_t)tm->tiles);
    } else {
        k.kind = GN_TASK_FORWARD;
        k.pos = (int32_t)(id / (uint32_t)tm->tiles) + 1;
        k.tile = (int32_t)(id % (uint32_t)tm->tiles);
    }
    return k;
}

#ifdef __cplusplus
extern "C" {
#endif

const char *gn_task_kind_name(int32_t kind);

/* Tiles for a batch: rows per tile, explicit or chosen so that the first
 * level (often a single group) still gives every worker work. */
void gn_taskgraph_tiles(int32_t batch, int32_t tile_opt, int32_t workers, int32_t *tile,
                        int32_t *tiles);

/* Build the training-step DAG and the evaluation DAG of m (rebuilt). */
enum gn_status gn_taskgraph_build(struct gn_dag *train, struct gn_dag *eval,
                                  struct gn_taskmap *tm, const struct gn_model *m, int32_t tile,
                                  int32_t tiles);

#ifdef __cplusplus
}
#endif

#endif
