/*
 * Growth of the network during training.
 *
 * Marking: a hidden group is marked when the standard deviation of its
 * gradients (measured in the backward pass) exceeds the threshold (the
 * std criterion), or exceeds a ratio times the median of the hidden
 * groups' (the relative criterion; the median is the statistic whose rank
 * is the middle one, so the kernel finds it with a thread per group and
 * no sort; rules in grow.h).
 * Closest to the input: of consecutive marked groups only the one nearest
 * the input is duplicated, i.e. a marked group is chosen iff none of its
 * predecessors is marked.
 *
 * Depthwise (g -> g' -> old successors of g): g' has W = I, b = 0, and g's
 * outgoing edges are re-pointed to leave from g'. Since a_g >= 0,
 * ReLU(a_g I + 0) = a_g exactly: the function is unchanged bitwise.
 * The moved edges keep their weights and optimizer state; the identity
 * starts with zero moments (first and second: a fresh parameter, whose
 * first adam steps the global bias corrections leave a little larger than
 * an old one's).
 *
 * Widthwise (g' beside g): g' gets copies of g's in-edges (weights and
 * both moments) and bias. Every outgoing block W of g is split into
 * W/2 (1 + n) for g and W/2 (1 - n) for g', n ~ noise * N(0,1) per element
 * (seeded by the step and g's position, so every backend draws the same
 * numbers whatever slots the pools hand out): since a_g' = a_g at the moment of the split, the successors see
 * a_g W exactly in real arithmetic (to rounding in float), while g and g'
 * now get different gradients. The first moment of the outgoing blocks
 * (sgd's momentum, adam's m) is halved the same way, so the momentum the
 * two halves carry moves the successors' input as the unsplit block's
 * would have: the optimizer state stays consistent with the weights. The
 * second moment (adam's v) is copied unchanged to both halves: it is an
 * average of squared gradients and follows the gradient, not the weight,
 * and at the split each half's gradient a_g'^T dz = a_g^T dz equals the
 * original block's (the two halves see the same input and the same
 * successor's error). With m halved and v kept, the momentum part of each
 * half's next adam step is half the unsplit block's, and the two together
 * move the successors' input as the unsplit block's would have: the rule
 * sgd's momentum follows. (Halving v too would make the pair's momentum
 * part sqrt(2) times larger; quartering it, twice.)
 *
 * The rules themselves are GN_HD functions in grow.h, run by every backend
 * (the kernel included); this file holds the host's serial round over them.
 *
 * Independence: chosen groups are never adjacent (a chosen group's
 * predecessors are unmarked), and a duplication of g touches only edges
 * incident to g, so several duplications can run at once without touching
 * the same memory. Space is granted in position order (gn_grow_fits):
 * when the pools cannot hold a chosen group's duplication beside those
 * before it, it and every later one of the round are refused and counted,
 * nothing changed. The round takes the granted groups' space from each pool
 * in one bump and carves it in position order (gn_grow_carve), so every
 * backend refuses the same groups and puts the new ones in the same slots.
 */
#include <stdlib.h>

#include "error.h"
#include "grow.h"

struct gn_grow_rule gn_grow_rule_make(const struct gn_model *m, int32_t criterion,
                                      float threshold, float ratio)
{
    struct gn_grow_rule r = {criterion, threshold, ratio, 0.0f};
    if (criterion != GN_GROW_CRITERION_RELATIVE) return r;
    const int32_t hidden = m->n_groups - 2, mid = gn_grow_median_rank(hidden);
    float median = 0.0f;
    for (int32_t p = 1; p < m->n_groups - 1; p++)
        if (gn_grow_rank(m, p) == mid) median = m->groups[m->order[p]].grad_std;
    r.reference = gn_grow_reference(hidden, median);
    return r;
}

int32_t gn_grow_mark(struct gn_model *m, const struct gn_grow_rule *rule)
{
    for (int32_t g = 0; g < m->n_groups; g++) gn_grow_mark_one(m, g, rule);
    int32_t chosen = 0;
    for (int32_t g = 0; g < m->n_groups; g++) {
        if (!gn_grow_should_choose(m, g)) continue;
        m->groups[g].flags |= GN_GROUP_CHOSEN;
        chosen++;
    }
    return chosen;
}

enum gn_status gn_grow_finish(struct gn_model *m, int32_t n_old, const int32_t *child_of,
                              enum gn_grow_policy policy, uint64_t seed, int64_t step,
                              int64_t round, struct gn_grow_event *events, int32_t max_events,
                              int32_t *n_events)
{
    int32_t ne = 0;
    for (int32_t i = 0; i < n_old; i++) {
        const int32_t g = m->order[i];
        if (!(m->groups[g].flags & GN_GROUP_CHOSEN)) continue;
        if (events && ne < max_events) {
            events[ne].parent = g;
            events[ne].child = child_of[g];
            events[ne].kind = gn_grow_kind(policy, seed, step, round, i);
            events[ne].grad_std = m->groups[g].grad_std;
        }
        ne++;
    }
    if (n_events) *n_events = ne < max_events ? ne : max_events;
    if (m->n_groups == n_old) return GN_OK;
    int32_t *order = malloc((size_t)m->n_groups * sizeof *order);
    if (!order) return gn_fail(GN_ERR_NOMEM, "out of memory for the order after growth");
    for (int32_t i = 0, at = 0; i < n_old; i++) at += gn_grow_place(m->order, child_of, i, at, order);
    enum gn_status st = gn_model_rebuild(m, order);
    free(order);
    return st;
}

int32_t gn_grow_grant(const struct gn_model *m, enum gn_grow_policy policy, uint64_t seed,
                      int64_t step, int64_t round, struct gn_grow_space *space,
                      struct gn_grow_sum *total)
{
    struct gn_grow_sum before = {0, 0, 0};
    *total = before;
    int32_t granted = 0;
    for (int32_t i = 0; i < m->n_groups; i++) {
        const int32_t g = m->order[i];
        space[g].child = -1;
        if (!(m->groups[g].flags & GN_GROUP_CHOSEN)) continue;
        int32_t ng, nedge;
        int64_t np;
        gn_grow_need(m, g, gn_grow_kind(policy, seed, step, round, i), &ng, &nedge, &np);
        if (gn_grow_grant_one(m, &before, nedge, np, &space[g])) {
            *total = before;
            gn_grow_sum_add(total, nedge, np);
            granted++;
        }
        gn_grow_sum_add(&before, nedge, np);
    }
    return granted;
}

enum gn_status gn_grow_round(struct gn_model *m, enum gn_grow_policy policy, uint64_t seed,
                             float noise, int64_t step, int64_t round,
                             struct gn_grow_event *events, int32_t max_events,
                             int32_t *n_events)
{
    const int32_t n_old = m->n_groups;
    int32_t *child_of = malloc((size_t)n_old * sizeof *child_of);
    struct gn_grow_space *space = malloc((size_t)n_old * sizeof *space);
    if (!child_of || !space) {
        free(child_of);
        free(space);
        return gn_fail(GN_ERR_NOMEM, "out of memory for a growth round");
    }
    struct gn_grow_sum total;
    gn_grow_grant(m, policy, seed, step, round, space, &total);
    struct gn_grow_pools pools;
    gn_grow_pools_init(&pools, m);
    const int took = gn_grow_take(&pools, m, &total);
    for (int32_t i = 0; i < n_old; i++) {
        const int32_t g = m->order[i];
        child_of[g] = -1;
        if (!(m->groups[g].flags & GN_GROUP_CHOSEN)) continue;
        const struct gn_grow_space sp = space[g];
        if (!took || sp.child < 0) {
            m->refused++;
            continue;
        }
        gn_grow_apply(m, g, gn_grow_kind(policy, seed, step, round, i), sp.child, sp.e0, sp.p0,
                      step, seed, noise, 0, 1);
        child_of[g] = sp.child;
        m->duplications++;
    }
    free(space);
    m->n_groups = (int32_t)gn_pool_used(&pools.groups);
    m->n_edges = (int32_t)gn_pool_used(&pools.edges);
    m->n_params = (int64_t)gn_pool_used(&pools.params);
    enum gn_status st = gn_grow_finish(m, n_old, child_of, policy, seed, step, round, events,
                                       max_events, n_events);
    free(child_of);
    return st;
}
