/*
 * Growth of the network during training.
 *
 * Marking: a hidden group is marked when the standard deviation of its
 * gradients (measured in the backward pass) exceeds the threshold.
 * Closest to the input: of consecutive marked groups only the one nearest
 * the input is duplicated, i.e. a marked group is chosen iff none of its
 * predecessors is marked.
 *
 * Depthwise (g -> g' -> old successors of g): g' has W = I, b = 0, and g's
 * outgoing edges are re-pointed to leave from g'. Since a_g >= 0,
 * ReLU(a_g I + 0) = a_g exactly: the function is unchanged bitwise.
 * The moved edges keep their weights and momentum; the identity starts
 * with zero momentum.
 *
 * Widthwise (g' beside g): g' gets copies of g's in-edges (weights and
 * momentum) and bias. Every outgoing block W of g is split into
 * W/2 (1 + n) for g and W/2 (1 - n) for g', n ~ noise * N(0,1) per element
 * (seeded by the step and g's position, so every backend draws the same
 * numbers whatever slots the pools hand out): since a_g' = a_g at the moment of the split, the successors see
 * a_g W exactly in real arithmetic (to rounding in float), while g and g'
 * now get different gradients. Momentum of the outgoing blocks is halved
 * the same way, so the optimizer state stays consistent with the weights.
 *
 * Independence: chosen groups are never adjacent (a chosen group's
 * predecessors are unmarked), and a duplication of g touches only edges
 * incident to g, so several duplications can run at once without touching
 * the same memory. Space comes from the pools by bump allocation; when any
 * pool cannot hold a duplication it is refused and counted, nothing
 * changed.
 */
#include <string.h>

#include "error.h"
#include "grow.h"
#include "rng.h"

void gn_grow_mark_one(struct gn_model *m, int32_t g, float threshold)
{
    struct gn_group *gr = &m->groups[g];
    gr->flags &= ~(GN_GROUP_MARKED | GN_GROUP_CHOSEN);
    if (gr->kind == GN_GROUP_HIDDEN && gr->grad_std > threshold) gr->flags |= GN_GROUP_MARKED;
}

int gn_grow_should_choose(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    if (!(gr->flags & GN_GROUP_MARKED)) return 0;
    for (int32_t i = 0; i < gr->in_count; i++) {
        int32_t s = m->edges[m->in_list[gr->in_begin + i]].src;
        if (m->groups[s].flags & GN_GROUP_MARKED) return 0;
    }
    return 1;
}

int gn_grow_choose_one(struct gn_model *m, int32_t g)
{
    if (!gn_grow_should_choose(m, g)) return 0;
    m->groups[g].flags |= GN_GROUP_CHOSEN;
    return 1;
}

int32_t gn_grow_mark(struct gn_model *m, float threshold)
{
    for (int32_t g = 0; g < m->n_groups; g++) gn_grow_mark_one(m, g, threshold);
    int32_t chosen = 0;
    for (int32_t g = 0; g < m->n_groups; g++) chosen += gn_grow_choose_one(m, g);
    return chosen;
}

void gn_grow_need(const struct gn_model *m, int32_t g, enum gn_dup_kind kind, int32_t *groups,
                  int32_t *edges, int64_t *params)
{
    gn_grow_need_in(m->groups, m->edges, m->in_list, m->out_list, g, kind, groups, edges, params);
}

void gn_grow_apply(struct gn_model *m, int32_t g, enum gn_dup_kind kind, int32_t child,
                   int32_t e0, int64_t p0, int64_t step, uint64_t seed, float noise)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t S = gr->width;
    struct gn_group *c = &m->groups[child];
    memset(c, 0, sizeof *c);
    c->kind = GN_GROUP_HIDDEN;
    c->width = S;
    c->bias = p0;
    c->parent = g;
    c->born = (int32_t)step;
    c->grad_std = gr->grad_std;
    int64_t p = p0 + S;

    if (kind == GN_DUP_DEPTH) {
        memset(m->params + c->bias, 0, (size_t)S * sizeof(float));
        memset(m->moment + c->bias, 0, (size_t)S * sizeof(float));
        /* Re-point g's outgoing edges before adding g -> g'. */
        for (int32_t i = 0; i < gr->out_count; i++) m->edges[m->out_list[gr->out_begin + i]].src = child;
        struct gn_edge *e = &m->edges[e0];
        e->src = g;
        e->dst = child;
        e->w = p;
        float *W = m->params + p;
        memset(W, 0, (size_t)S * S * sizeof(float));
        memset(m->moment + p, 0, (size_t)S * S * sizeof(float));
        for (int32_t k = 0; k < S; k++) W[(int64_t)k * S + k] = 1.0f;
        return;
    }

    memcpy(m->params + c->bias, m->params + gr->bias, (size_t)S * sizeof(float));
    memcpy(m->moment + c->bias, m->moment + gr->bias, (size_t)S * sizeof(float));
    int32_t e = e0;
    for (int32_t i = 0; i < gr->in_count; i++, e++) {
        const struct gn_edge *in = &m->edges[m->in_list[gr->in_begin + i]];
        int64_t len = (int64_t)m->groups[in->src].width * S;
        m->edges[e].src = in->src;
        m->edges[e].dst = child;
        m->edges[e].w = p;
        memcpy(m->params + p, m->params + in->w, (size_t)len * sizeof(float));
        memcpy(m->moment + p, m->moment + in->w, (size_t)len * sizeof(float));
        p += len;
    }
    for (int32_t i = 0; i < gr->out_count; i++, e++) {
        const struct gn_edge *out = &m->edges[m->out_list[gr->out_begin + i]];
        int64_t len = (int64_t)S * m->groups[out->dst].width;
        m->edges[e].src = child;
        m->edges[e].dst = out->dst;
        m->edges[e].w = p;
        float *wg = m->params + out->w, *wc = m->params + p;
        float *vg = m->moment + out->w, *vc = m->moment + p;
        for (int64_t q = 0; q < len; q++) {
            float n = noise == 0.0f ? 0.0f
                                    : noise * gn_rng_normal(seed, GN_RNG_NOISE,
                                                            ((uint64_t)step << 24) ^ (uint64_t)gr->pos,
                                                            (uint64_t)(i * (int64_t)1 << 32) + q);
            float half = 0.5f * wg[q];
            wg[q] = half * (1.0f + n);
            wc[q] = half * (1.0f - n);
            vg[q] *= 0.5f;
            vc[q] = vg[q];
        }
        p += len;
    }
}

enum gn_status gn_grow_round(struct gn_model *m, const struct gn_settings *s, int64_t step,
                             int64_t round, struct gn_grow_event *events, int32_t max_events,
                             int32_t *n_events)
{
    int32_t ne = 0;
    int32_t n_old = m->n_groups;
    int32_t hint[m->max_groups];
    int32_t child_of[n_old];
    for (int32_t i = 0; i < n_old; i++) child_of[i] = -1;

    for (int32_t i = 0; i < n_old; i++) {
        int32_t g = m->order[i];
        if (!(m->groups[g].flags & GN_GROUP_CHOSEN)) continue;
        enum gn_dup_kind kind = gn_grow_kind(s->grow, s->seed, step, round, m->groups[g].pos);
        int32_t ng, nedge;
        int64_t np;
        gn_grow_need(m, g, kind, &ng, &nedge, &np);
        int ok = m->n_groups + ng <= m->max_groups && m->n_edges + nedge <= m->max_edges &&
                 m->n_params + np <= m->max_params;
        if (ne < max_events && events) {
            events[ne].parent = g;
            events[ne].kind = kind;
            events[ne].grad_std = m->groups[g].grad_std;
            events[ne].child = ok ? m->n_groups : -1;
        }
        ne++;
        if (!ok) {
            m->refused++;
            continue;
        }
        int32_t child = m->n_groups;
        int32_t e0 = m->n_edges;
        int64_t p0 = m->n_params;
        m->n_groups += ng;
        m->n_edges += nedge;
        m->n_params += np;
        gn_grow_apply(m, g, kind, child, e0, p0, step, s->seed, s->grow_noise);
        child_of[g] = child;
        m->duplications++;
    }
    if (n_events) *n_events = ne < max_events ? ne : max_events;
    if (m->n_groups == n_old) return GN_OK;
    int32_t k = 0;
    for (int32_t i = 0; i < n_old; i++) {
        int32_t g = m->order[i];
        hint[k++] = g;
        if (child_of[g] >= 0) hint[k++] = child_of[g];
    }
    return gn_model_rebuild(m, hint);
}
