/*
 * Growth: marking, the closest-to-input rule, the cap and the space from
 * the pools,
 * the two duplications and the order after a round, written once for every
 * backend (GN_HD: host C and CUDA device code). See grow.c for the rules
 * and why several duplications never touch the same edge.
 */
#ifndef GN_RUNTIME_GROW_H
#define GN_RUNTIME_GROW_H

#include <stdint.h>

#include "genet/genet.h"
#include "model.h"
#include "pool.h"
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

/* The three pools a duplication takes space from, as atomic bump
 * allocators over the model's arrays (pool.h). */
struct gn_grow_pools {
    struct gn_pool groups, edges, params;
};

/*
 * Everything below is GN_HD: the serial backend, the cpu backend's workers
 * and the persistent kernel's blocks run these very functions on a struct
 * gn_model (whose arrays are device memory in the kernel).
 */

/*
 * What marks a group (--grow-criterion), for one round:
 *   std       its gradient standard deviation (the statistic) exceeds
 *             `threshold`, an absolute value;
 *   relative  it exceeds `ratio` times the median of the hidden groups'
 *             statistics (the lower median when their number is even: the
 *             statistic of rank gn_grow_median_rank by gn_grow_rank). Scaling
 *             every statistic by the same factor (a dataset whose features
 *             or loss are larger) marks the same groups. A lone hidden group
 *             has no other to be compared with: it is marked when its
 *             statistic is above zero (gn_grow_reference), so a run from
 *             one group grows to two at the first check.
 */
struct gn_grow_rule {
    int32_t criterion; /* enum gn_grow_criterion */
    float threshold;   /* std */
    float ratio;       /* relative */
    float reference;   /* relative: this round's gn_grow_reference */
};

/* Does statistic a at position pa come before b at position pb: by value,
 * a NaN after every number, ties by position. A total order, so every
 * hidden group has a rank of its own whatever the values. */
GN_HD int gn_grow_before(float a, int32_t pa, float b, int32_t pb)
{
    const int na = a != a, nb = b != b;
    if (na != nb) return nb;
    if (!na && a != b) return a < b;
    return pa < pb;
}

/* The rank of the hidden group at position p among the hidden groups
 * (positions 1 .. n_groups - 2): how many come before it. O(hidden), so a
 * round that ranks every group is O(hidden^2): no sort and no scratch, and
 * on the device a thread per group; growth rounds are rare. */
GN_HD int32_t gn_grow_rank(const struct gn_model *m, int32_t p)
{
    const float v = m->groups[m->order[p]].grad_std;
    int32_t r = 0;
    for (int32_t q = 1; q < m->n_groups - 1; q++)
        r += gn_grow_before(m->groups[m->order[q]].grad_std, q, v, p);
    return r;
}

/* The rank whose statistic is the (lower) median of `hidden` groups. */
GN_HD int32_t gn_grow_median_rank(int32_t hidden)
{
    return (hidden - 1) / 2;
}

/* What the relative rule multiplies by its ratio: the median, or zero for
 * a lone hidden group. */
GN_HD float gn_grow_reference(int32_t hidden, float median)
{
    return hidden > 1 ? median : 0.0f;
}

/* Mark one group: GN_GROUP_MARKED when it is hidden and its statistic
 * passes the rule; clears CHOSEN. */
GN_HD void gn_grow_mark_one(struct gn_model *m, int32_t g, const struct gn_grow_rule *r)
{
    struct gn_group *gr = &m->groups[g];
    gr->flags &= ~(GN_GROUP_MARKED | GN_GROUP_CHOSEN);
    if (gr->kind != GN_GROUP_HIDDEN) return;
    const float limit =
        r->criterion == GN_GROW_CRITERION_RELATIVE ? r->ratio * r->reference : r->threshold;
    if (gr->grad_std > limit) gr->flags |= GN_GROUP_MARKED;
}

/* Closest to the input: g is duplicated iff it is marked and none of its
 * predecessors is. Reads only marks, so a parallel pass may run it while
 * others read g's flags (the choice goes to a word of the caller's). */
GN_HD int gn_grow_should_choose(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    if (!(gr->flags & GN_GROUP_MARKED)) return 0;
    for (int32_t i = 0; i < gr->in_count; i++) {
        int32_t s = m->edges[m->in_list[gr->in_begin + i]].src;
        if (m->groups[s].flags & GN_GROUP_MARKED) return 0;
    }
    return 1;
}

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

/* Space one duplication of g needs from each pool. */
GN_HD void gn_grow_need(const struct gn_model *m, int32_t g, enum gn_dup_kind kind,
                        int32_t *groups, int32_t *edges, int64_t *params)
{
    const struct gn_group *gr = &m->groups[g];
    const int64_t S = gr->width;
    *groups = 1;
    /* each block its span (model.h: GN_PARAM_ALIGN), as gn_grow_apply lays
     * them out */
    if (kind == GN_DUP_DEPTH) {
        *edges = 1;
        *params = gn_param_span(S) + gn_param_span(S * S);
        return;
    }
    int64_t p = gn_param_span(S);
    for (int32_t i = 0; i < gr->in_count; i++)
        p += gn_param_span((int64_t)m->groups[m->edges[m->in_list[gr->in_begin + i]].src].width * S);
    for (int32_t i = 0; i < gr->out_count; i++)
        p += gn_param_span(S * m->groups[m->edges[m->out_list[gr->out_begin + i]].dst].width);
    *edges = gr->in_count + gr->out_count;
    *params = p;
}

/* Pools over the model's arrays, starting at what is in use. One thread,
 * before the round's duplications. */
GN_HD void gn_grow_pools_init(struct gn_grow_pools *p, const struct gn_model *m)
{
    gn_pool_init(&p->groups, (uint64_t)m->n_groups, (uint64_t)m->max_groups);
    gn_pool_init(&p->edges, (uint64_t)m->n_edges, (uint64_t)m->max_edges);
    gn_pool_init(&p->params, (uint64_t)m->n_params, (uint64_t)m->max_params);
}

/*
 * The cap, in position order: the round's chosen groups are granted their
 * space one after another, closest to the input first, and the first whose
 * duplication does not fit in every pool beside those before it is
 * refused, with every later one of the round. `before`: what the chosen
 * groups at earlier positions need (gn_grow_need of each, granted or not);
 * the free space is the pools' as the round started (m's counts, which the
 * round leaves as they are until its close). Sums only grow along the
 * order, so "fits after those before" is "fits after those granted", and
 * no race decides who gets the last space: a parallel backend decides every
 * chosen group at once from prefix sums (the kernel: a block scan), and
 * every backend refuses the very groups the serial round refuses.
 */
struct gn_grow_sum {
    int64_t groups, edges, params;
};

GN_HD int gn_grow_fits(const struct gn_model *m, const struct gn_grow_sum *before, int32_t edges,
                       int64_t params)
{
    return (int64_t)m->n_groups + before->groups + 1 <= (int64_t)m->max_groups &&
           (int64_t)m->n_edges + before->edges + edges <= (int64_t)m->max_edges &&
           m->n_params + before->params + params <= m->max_params;
}

/* before += one chosen group's need */
GN_HD void gn_grow_sum_add(struct gn_grow_sum *before, int32_t edges, int64_t params)
{
    before->groups += 1;
    before->edges += edges;
    before->params += params;
}

/*
 * Where a granted duplication goes. The round takes one block from each
 * pool, the granted groups' whole need (gn_grow_take: one atomic bump per
 * pool), and carves it in position order: the granted group whose
 * predecessors in the order needed `before` gets slot child, edges from e0,
 * parameters from p0 (gn_grow_carve). The slots are the serial round's, on
 * every backend and in every run: traces, checkpoints and model files name
 * the same groups and edges. A refused group: child -1.
 */
struct gn_grow_space {
    int32_t child, e0;
    int64_t p0;
};

GN_HD struct gn_grow_space gn_grow_carve(const struct gn_model *m, const struct gn_grow_sum *before)
{
    struct gn_grow_space s;
    s.child = m->n_groups + (int32_t)before->groups;
    s.e0 = m->n_edges + (int32_t)before->edges;
    s.p0 = m->n_params + before->params;
    return s;
}

/* The grant of one chosen group after those before it (gn_grow_fits): its
 * space (gn_grow_carve) where it fits, else child -1. Returns 1 when
 * granted. Every backend's grant goes through it. */
GN_HD int gn_grow_grant_one(const struct gn_model *m, const struct gn_grow_sum *before,
                            int32_t edges, int64_t params, struct gn_grow_space *space)
{
    space->child = -1;
    if (!gn_grow_fits(m, before, edges, params)) return 0;
    *space = gn_grow_carve(m, before);
    return 1;
}

/* The round's blocks: `total` (the granted groups' need) from each pool,
 * which must start at m's counts (gn_grow_pools_init). Returns 1, or 0 when
 * a pool refused (the grant rule makes that impossible; a caller treats it
 * as a fault and grows nothing). */
GN_HD int gn_grow_take(struct gn_grow_pools *p, const struct gn_model *m,
                       const struct gn_grow_sum *total)
{
    uint64_t first;
    if (total->groups == 0) return 1;
    if (gn_pool_alloc(&p->groups, (uint64_t)total->groups, &first) != GN_OK ||
        first != (uint64_t)m->n_groups)
        return 0;
    if (total->edges > 0 && (gn_pool_alloc(&p->edges, (uint64_t)total->edges, &first) != GN_OK ||
                             first != (uint64_t)m->n_edges))
        return 0;
    if (total->params > 0 &&
        (gn_pool_alloc(&p->params, (uint64_t)total->params, &first) != GN_OK ||
         first != (uint64_t)m->n_params))
        return 0;
    return 1;
}

/*
 * Duplicate g into the granted slot `child`, edges [e0, e0 + edges) and
 * params [p0, p0 + params), as sized by gn_grow_need(): the child's record,
 * the new edges, their weights and optimizer moments, and g's outgoing edges. No
 * topology rebuild. `lane` of `lanes` workers do their share of every
 * array (the serial and cpu backends: 0 of 1; the kernel: a block's
 * threads); lane 0 writes the records. No lane reads what another writes,
 * so the lanes need no synchronisation until the caller's barrier after.
 * Concurrent duplications of different chosen groups are safe too (chosen
 * groups are never adjacent, and a duplication touches only g's edges).
 */
GN_HD void gn_grow_apply(struct gn_model *m, int32_t g, enum gn_dup_kind kind, int32_t child,
                         int32_t e0, int64_t p0, int64_t step, uint64_t seed, float noise,
                         uint32_t lane, uint32_t lanes)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t S = gr->width;
    float *P = m->params, *V = m->moment, *V2 = m->moment2;
    if (lane == 0) {
        struct gn_group *c = &m->groups[child];
        c->kind = GN_GROUP_HIDDEN;
        c->width = S;
        c->bias = p0;
        c->in_begin = c->in_count = c->out_begin = c->out_count = 0;
        c->pos = 0;
        c->flags = 0;
        c->parent = g;
        c->born = (int32_t)step;
        c->grad_std = gr->grad_std;
        c->below = 0;
    }
    int64_t p = p0 + gn_param_span(S); /* each block at its span (gn_grow_need) */
    if (kind == GN_DUP_DEPTH) {
        /* g -> g' -> (g's old successors): g's outgoing edges leave from g'
         * now, g' is the identity with zero bias and zero moments. */
        for (int32_t j = (int32_t)lane; j < S; j += (int32_t)lanes)
            P[p0 + j] = V[p0 + j] = V2[p0 + j] = 0.0f;
        for (int32_t i = (int32_t)lane; i < gr->out_count; i += (int32_t)lanes)
            m->edges[m->out_list[gr->out_begin + i]].src = child;
        if (lane == 0) {
            m->edges[e0].src = g;
            m->edges[e0].dst = child;
            m->edges[e0].w = p;
        }
        for (int64_t q = lane; q < (int64_t)S * S; q += lanes) {
            P[p + q] = (q / S == q % S) ? 1.0f : 0.0f;
            V[p + q] = V2[p + q] = 0.0f;
        }
        return;
    }
    /* g' beside g: copies of g's bias and in-edges (weights and both
     * moments), and an equal, perturbed half of each outgoing block (its
     * first moment halved too, its second moment kept: grow.c says why). */
    for (int32_t j = (int32_t)lane; j < S; j += (int32_t)lanes) {
        P[p0 + j] = P[gr->bias + j];
        V[p0 + j] = V[gr->bias + j];
        V2[p0 + j] = V2[gr->bias + j];
    }
    int32_t e = e0;
    for (int32_t i = 0; i < gr->in_count; i++, e++) {
        const struct gn_edge in = m->edges[m->in_list[gr->in_begin + i]];
        const int64_t len = (int64_t)m->groups[in.src].width * S;
        if (lane == 0) {
            m->edges[e].src = in.src;
            m->edges[e].dst = child;
            m->edges[e].w = p;
        }
        for (int64_t q = lane; q < len; q += lanes) {
            P[p + q] = P[in.w + q];
            V[p + q] = V[in.w + q];
            V2[p + q] = V2[in.w + q];
        }
        p += gn_param_span(len);
    }
    for (int32_t i = 0; i < gr->out_count; i++, e++) {
        const struct gn_edge out = m->edges[m->out_list[gr->out_begin + i]];
        const int64_t len = (int64_t)S * m->groups[out.dst].width;
        if (lane == 0) {
            m->edges[e].src = child;
            m->edges[e].dst = out.dst;
            m->edges[e].w = p;
        }
        for (int64_t q = lane; q < len; q += lanes) {
            const float n =
                noise == 0.0f ? 0.0f
                              : noise * gn_rng_normal(seed, GN_RNG_NOISE,
                                                      ((uint64_t)step << 24) ^ (uint64_t)gr->pos,
                                                      ((uint64_t)i << 32) + (uint64_t)q);
            const float half = 0.5f * P[out.w + q];
            P[out.w + q] = half * (1.0f + n);
            P[p + q] = half * (1.0f - n);
            const float v = 0.5f * V[out.w + q];
            V[out.w + q] = v;
            V[p + q] = v;
            V2[p + q] = V2[out.w + q];
        }
        p += gn_param_span(len);
    }
}

/* The order after a round: each child right after its parent. Old position
 * i goes to `at` (the number of groups and children before it, a prefix
 * sum of 1 + has-a-child), its child to at + 1. Returns 1 + has-a-child. */
GN_HD int32_t gn_grow_place(const int32_t *order, const int32_t *child_of, int32_t i,
                            int32_t at, int32_t *new_order)
{
    const int32_t g = order[i];
    if (new_order) {
        new_order[at] = g;
        if (child_of[g] >= 0) new_order[at + 1] = child_of[g];
    }
    return 1 + (child_of[g] >= 0);
}

#ifdef __cplusplus
extern "C" {
#endif

/* The rule of a round under a plan's criterion; for relative, the median
 * found by ranking every hidden group, one after another. */
struct gn_grow_rule gn_grow_rule_make(const struct gn_model *m, int32_t criterion,
                                      float threshold, float ratio);

/* Serial marking and choosing over the whole model (gn_grow_mark_one, then
 * gn_grow_should_choose setting GN_GROUP_CHOSEN). Returns the number chosen. */
int32_t gn_grow_mark(struct gn_model *m, const struct gn_grow_rule *rule);

/*
 * Close a round whose duplications are done (child_of: by slot, -1 where
 * none; the chosen groups carry GN_GROUP_CHOSEN; n_groups/n_edges/n_params
 * already cover the pools' use): events in canonical order (events may be
 * NULL), then the new order (gn_grow_place) and the rebuilt topology.
 */
enum gn_status gn_grow_finish(struct gn_model *m, int32_t n_old, const int32_t *child_of,
                              enum gn_grow_policy policy, uint64_t seed, int64_t step,
                              int64_t round, struct gn_grow_event *events, int32_t max_events,
                              int32_t *n_events);

/*
 * The cap of gn_grow_fits over the chosen groups (GN_GROUP_CHOSEN) of the
 * round (step, round: as for gn_grow_kind) in position order: space[g] (by
 * slot, n_groups entries) is where g's duplication goes (gn_grow_carve), or
 * child -1 where g is not chosen or refused; *total: what the granted need
 * together (for gn_grow_take). Returns the number granted. The host
 * backends' scan; the kernel's is a block scan over the same rules.
 */
int32_t gn_grow_grant(const struct gn_model *m, enum gn_grow_policy policy, uint64_t seed,
                      int64_t step, int64_t round, struct gn_grow_space *space,
                      struct gn_grow_sum *total);

/*
 * One serial growth round over the chosen groups in canonical order:
 * grant (gn_grow_grant; the refused counted), take, apply, finish.
 * Returns GN_OK or a rebuild error.
 */
enum gn_status gn_grow_round(struct gn_model *m, enum gn_grow_policy policy, uint64_t seed,
                             float noise, int64_t step, int64_t round,
                             struct gn_grow_event *events, int32_t max_events,
                             int32_t *n_events);

#ifdef __cplusplus
}
#endif

#endif
