/*
 * Growth: marking, the closest-to-input rule, and the two duplications.
 * See grow.c for the rules and why several duplications never touch the
 * same edge.
 */
#ifndef GN_RUNTIME_GROW_H
#define GN_RUNTIME_GROW_H

#include <stdint.h>

#include "genet/genet.h"
#include "model.h"
#include "rng.h"

enum gn_dup_kind {
    GN_DUP_DEPTH = 0,
    GN_DUP_WIDTH = 1,
};

/* What one growth round did, for logs and traces. */
struct gn_grow_event {
    int32_t parent, child; /* slots; child -1 when refused */
    int32_t kind;          /* enum gn_dup_kind */
    float grad_std;
};

/* Set GN_GROUP_MARKED from grad_std > threshold, then GN_GROUP_CHOSEN for
 * marked groups with no marked predecessor. Returns the number chosen. */
int32_t gn_grow_mark(struct gn_model *m, float threshold);

/* The two halves of gn_grow_mark for one group, for backends that run them
 * as parallel passes: first every group's mark, then every group's choice
 * (which reads its predecessors' marks). gn_grow_choose_one returns 1 when
 * g is chosen. */
void gn_grow_mark_one(struct gn_model *m, int32_t g, float threshold);
int gn_grow_choose_one(struct gn_model *m, int32_t g);

/* The choice alone, reading only marks: what a parallel pass runs (it
 * must not set CHOSEN in a flags word a successor is reading). */
int gn_grow_should_choose(const struct gn_model *m, int32_t g);

#ifdef __cplusplus
extern "C" {
#endif

/* Which duplication a chosen group gets under a policy. `round` counts the
 * growth rounds that chose at least one group (alternate flips per round);
 * `pos` is the group's position (random draws from it, not the slot). */
GN_HD enum gn_dup_kind gn_grow_kind(enum gn_grow_policy p, uint64_t seed, int64_t step,
                                    int64_t round, int32_t pos)
{
    switch (p) {
    case GN_GROW_DEPTH: return GN_DUP_DEPTH;
    case GN_GROW_WIDTH: return GN_DUP_WIDTH;
    case GN_GROW_ALTERNATE: return (round & 1) ? GN_DUP_WIDTH : GN_DUP_DEPTH;
    case GN_GROW_RANDOM:
        return (gn_rng_u64(seed, GN_RNG_GROW, (uint64_t)step, (uint64_t)pos) & 1) ? GN_DUP_WIDTH
                                                                                    : GN_DUP_DEPTH;
    case GN_GROW_OFF: break;
    }
    return GN_DUP_DEPTH;
}

/* Space one duplication needs from each pool, from the graph's arrays:
 * shared by the host backends and the persistent kernel. */
GN_HD void gn_grow_need_in(const struct gn_group *G, const struct gn_edge *E,
                           const int32_t *in_list, const int32_t *out_list, int32_t g,
                           enum gn_dup_kind kind, int32_t *groups, int32_t *edges, int64_t *params)
{
    const struct gn_group *gr = &G[g];
    const int64_t S = gr->width;
    *groups = 1;
    if (kind == GN_DUP_DEPTH) {
        *edges = 1;
        *params = S + S * S;
        return;
    }
    int64_t p = S;
    for (int32_t i = 0; i < gr->in_count; i++)
        p += (int64_t)G[E[in_list[gr->in_begin + i]].src].width * S;
    for (int32_t i = 0; i < gr->out_count; i++)
        p += S * G[E[out_list[gr->out_begin + i]].dst].width;
    *edges = gr->in_count + gr->out_count;
    *params = p;
}

/* The same for a host model. */
void gn_grow_need(const struct gn_model *m, int32_t g, enum gn_dup_kind kind, int32_t *groups,
                  int32_t *edges, int64_t *params);

/*
 * Duplicate g into the already-reserved slot `child`, edges [e0, e0+edges)
 * and params [p0, p0+params), as sized by gn_grow_need(). Writes the
 * child's group record, the new edges and their weights and momentum, and
 * edits g's outgoing edges. It does not rebuild the topology. Safe to run
 * concurrently for chosen groups (no two are adjacent).
 */
void gn_grow_apply(struct gn_model *m, int32_t g, enum gn_dup_kind kind, int32_t child,
                   int32_t e0, int64_t p0, int64_t step, uint64_t seed, float noise);

/*
 * One serial growth round over the chosen groups in canonical order:
 * reserve (refusing and counting when a pool is full), apply, then rebuild
 * with each child placed right after its parent. `events` (may be NULL)
 * receives up to max_events records. Returns GN_OK or a rebuild error.
 */
enum gn_status gn_grow_round(struct gn_model *m, const struct gn_settings *s, int64_t step,
                             int64_t round, struct gn_grow_event *events, int32_t max_events,
                             int32_t *n_events);

#ifdef __cplusplus
}
#endif

#endif
