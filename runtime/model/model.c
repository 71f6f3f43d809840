/*
 * The model's pools and topology.
 *
 * Pools are allocated once at their capacities; allocation bumps a counter
 * and a full pool refuses (GN_ERR_FULL) without touching anything.
 * gn_model_rebuild() derives everything else from the pools: the canonical
 * topological order (the caller's hint, or Kahn's algorithm taking the
 * lowest ready slot first), positions, in/out CSR lists sorted by position,
 * and the depth; it rejects graphs that are not valid networks.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "rng.h"

void gn_model_capacity(const struct gn_settings *s, int32_t inputs, int32_t classes,
                       int32_t *max_groups, int32_t *max_edges, int64_t *max_params)
{
    int32_t g = s->max_groups > 0 ? s->max_groups : 64;
    if (g < 3) g = 3;
    int32_t e = s->max_edges > 0 ? s->max_edges : 8 * g;
    int64_t p = s->max_params;
    if (p <= 0) {
        /* Enough for every group to be fed from the input and to feed a
         * few groups of width S, plus the output's blocks: growth is then
         * limited by max_groups, not by parameter space. */
        int64_t S = s->group_size;
        int64_t wide = inputs > S ? inputs : S;
        p = (int64_t)g * (wide * S + 8 * S * S + S) + (int64_t)classes * (S * 8 + 1);
        /* and every block's padding (model.h: GN_PARAM_ALIGN) */
        p += gn_param_slack((int64_t)g + e + 1);
    }
    *max_groups = g;
    *max_edges = e;
    *max_params = p;
}

enum gn_status gn_model_init(struct gn_model *m, int32_t inputs, int32_t classes,
                             int32_t group_size, int32_t max_groups, int32_t max_edges,
                             int64_t max_params)
{
    memset(m, 0, sizeof *m);
    if (inputs < 1 || classes < 2 || group_size < 1 || max_groups < 2 || max_edges < 1 ||
        max_params < classes)
        return gn_fail(GN_ERR_INVALID,
                       "bad model shape: inputs %d, classes %d, group size %d, pools %d "
                       "groups / %d edges / %lld params",
                       inputs, classes, group_size, max_groups, max_edges,
                       (long long)max_params);
    m->inputs = inputs;
    m->classes = classes;
    m->group_size = group_size;
    m->max_width = group_size > classes ? group_size : classes;
    m->max_groups = max_groups;
    m->max_edges = max_edges;
    m->max_params = max_params;
    m->groups = calloc((size_t)max_groups, sizeof *m->groups);
    m->edges = calloc((size_t)max_edges, sizeof *m->edges);
    m->params = calloc((size_t)max_params, sizeof(float));
    m->grads = calloc((size_t)max_params, sizeof(float));
    m->moment = calloc((size_t)max_params, sizeof(float));
    m->moment2 = calloc((size_t)max_params, sizeof(float));
    m->order = calloc((size_t)max_groups, sizeof(int32_t));
    m->in_list = calloc((size_t)max_edges, sizeof(int32_t));
    m->out_list = calloc((size_t)max_edges, sizeof(int32_t));
    if (!m->groups || !m->edges || !m->params || !m->grads || !m->moment || !m->moment2 ||
        !m->order || !m->in_list || !m->out_list) {
        gn_model_free(m);
        return gn_fail(GN_ERR_NOMEM,
                       "cannot allocate the pools: %d groups, %d edges, %lld parameters "
                       "(%.1f MiB); lower --max-groups or --max-params",
                       max_groups, max_edges, (long long)max_params,
                       4.0 * (double)max_params * 4 / (1 << 20));
    }
    struct gn_group *in = &m->groups[GN_SLOT_INPUT];
    in->kind = GN_GROUP_INPUT;
    in->width = inputs;
    in->bias = -1;
    in->parent = -1;
    struct gn_group *out = &m->groups[GN_SLOT_OUTPUT];
    out->kind = GN_GROUP_OUTPUT;
    out->width = classes;
    out->bias = 0;
    out->parent = -1;
    m->n_groups = 2;
    m->n_params = gn_param_span(classes);
    return GN_OK;
}

void gn_model_free(struct gn_model *m)
{
    free(m->groups);
    free(m->edges);
    free(m->params);
    free(m->grads);
    free(m->moment);
    free(m->moment2);
    free(m->order);
    free(m->in_list);
    free(m->out_list);
    memset(m, 0, sizeof *m);
}

enum gn_status gn_model_add_group(struct gn_model *m, int32_t *slot)
{
    int64_t need = gn_param_span(m->group_size);
    if (m->n_groups >= m->max_groups)
        return gn_fail(GN_ERR_FULL, "group pool full (%d groups; raise --max-groups)",
                       m->max_groups);
    if (m->n_params + need > m->max_params)
        return gn_fail(GN_ERR_FULL, "parameter pool full (%lld floats; raise --max-params)",
                       (long long)m->max_params);
    int32_t g = m->n_groups++;
    struct gn_group *gr = &m->groups[g];
    memset(gr, 0, sizeof *gr);
    gr->kind = GN_GROUP_HIDDEN;
    gr->width = m->group_size;
    gr->bias = m->n_params;
    gr->parent = -1;
    m->n_params += need;
    *slot = g;
    return GN_OK;
}

enum gn_status gn_model_add_edge(struct gn_model *m, int32_t src, int32_t dst, int32_t *edge)
{
    if (src < 0 || src >= m->n_groups || dst < 0 || dst >= m->n_groups)
        return gn_fail(GN_ERR_INVALID, "edge %d -> %d names a group that does not exist", src,
                       dst);
    if (dst == GN_SLOT_INPUT || src == GN_SLOT_OUTPUT || src == dst)
        return gn_fail(GN_ERR_INVALID, "edge %d -> %d is not allowed", src, dst);
    int64_t need = gn_param_span((int64_t)m->groups[src].width * m->groups[dst].width);
    if (m->n_edges >= m->max_edges)
        return gn_fail(GN_ERR_FULL, "edge pool full (%d edges; raise --max-edges)",
                       m->max_edges);
    if (m->n_params + need > m->max_params)
        return gn_fail(GN_ERR_FULL, "parameter pool full (%lld floats; raise --max-params)",
                       (long long)m->max_params);
    int32_t e = m->n_edges++;
    m->edges[e].src = src;
    m->edges[e].dst = dst;
    m->edges[e].w = m->n_params;
    m->n_params += need;
    if (edge) *edge = e;
    return GN_OK;
}

enum gn_status gn_model_rebuild(struct gn_model *m, const int32_t *order_hint)
{
    int32_t n = m->n_groups;
    struct gn_group *G = m->groups;
    enum gn_status st = GN_OK;
    int32_t *indeg = calloc((size_t)n, sizeof(int32_t));
    int32_t *cursor = calloc((size_t)n, sizeof(int32_t));
    if (!indeg || !cursor) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory rebuilding the graph");
        goto error;
    }

    /* CSR slices by slot, then order within each slice fixed below. */
    for (int32_t g = 0; g < n; g++) G[g].in_count = G[g].out_count = 0;
    for (int32_t e = 0; e < m->n_edges; e++) {
        const struct gn_edge *ed = &m->edges[e];
        if (ed->src == -1 && ed->dst == -1) continue; /* unused slot */
        if (ed->src < 0 || ed->src >= n || ed->dst < 0 || ed->dst >= n) {
            st = gn_fail(GN_ERR_INVALID, "edge %d (%d -> %d) names a missing group", e, ed->src,
                         ed->dst);
            goto error;
        }
        if ((int64_t)G[ed->src].width * G[ed->dst].width + ed->w > m->n_params) {
            st = gn_fail(GN_ERR_INVALID, "edge %d has a weight block outside the pool", e);
            goto error;
        }
        G[ed->dst].in_count++;
        G[ed->src].out_count++;
    }
    int32_t acc_in = 0, acc_out = 0;
    for (int32_t g = 0; g < n; g++) {
        G[g].in_begin = acc_in;
        G[g].out_begin = acc_out;
        acc_in += G[g].in_count;
        acc_out += G[g].out_count;
    }
    for (int32_t e = 0; e < m->n_edges; e++) {
        int32_t d = m->edges[e].dst;
        if (d < 0) continue;
        m->in_list[G[d].in_begin + cursor[d]++] = e;
    }
    memset(cursor, 0, (size_t)n * sizeof(int32_t));
    for (int32_t e = 0; e < m->n_edges; e++) {
        int32_t s = m->edges[e].src;
        if (s < 0) continue;
        m->out_list[G[s].out_begin + cursor[s]++] = e;
    }

    /* Order: the hint, checked to be a topological permutation; or Kahn. */
    for (int32_t g = 0; g < n; g++) G[g].pos = -1;
    if (order_hint) {
        for (int32_t i = 0; i < n; i++) {
            int32_t g = order_hint[i];
            if (g < 0 || g >= n || G[g].pos >= 0) {
                st = gn_fail(GN_ERR_INVALID, "order hint is not a permutation of the groups");
                goto error;
            }
            G[g].pos = i;
            m->order[i] = g;
        }
    } else {
        for (int32_t g = 0; g < n; g++) indeg[g] = G[g].in_count;
        int32_t done = 0;
        /* Lowest ready slot first, the output last: O(n^2) worst case, only
         * for graphs built without a hint (tests, small files). */
        while (done < n) {
            int32_t pick = -1;
            for (int32_t g = 0; g < n; g++) {
                if (G[g].pos < 0 && indeg[g] == 0 && (g != GN_SLOT_OUTPUT || done == n - 1)) {
                    pick = g;
                    break;
                }
            }
            if (pick < 0) {
                st = gn_fail(GN_ERR_INVALID, "the graph has a cycle");
                goto error;
            }
            G[pick].pos = done;
            m->order[done++] = pick;
            for (int32_t i = 0; i < G[pick].out_count; i++)
                indeg[m->edges[m->out_list[G[pick].out_begin + i]].dst]--;
        }
    }
    if (m->order[0] != GN_SLOT_INPUT || m->order[n - 1] != GN_SLOT_OUTPUT) {
        st = gn_fail(GN_ERR_INVALID, "order must start with the input and end with the output");
        goto error;
    }

    /* Validate and sort the lists by position; compute depth. */
    int32_t *depth = indeg; /* reuse: longest path from the input */
    for (int32_t i = 0; i < n; i++) {
        int32_t g = m->order[i];
        struct gn_group *gr = &G[g];
        gn_model_sort_lists(m, g);
        if (gr->kind == GN_GROUP_HIDDEN && (gr->in_count == 0 || gr->out_count == 0)) {
            st = gn_fail(GN_ERR_INVALID, "hidden group %d has no %s", g,
                         gr->in_count == 0 ? "inputs" : "successors");
            goto error;
        }
        if (gr->kind == GN_GROUP_OUTPUT && gr->in_count == 0) {
            st = gn_fail(GN_ERR_INVALID, "the output group has no inputs");
            goto error;
        }
        depth[g] = 0;
        for (int32_t k = 0; k < gr->in_count; k++) {
            int32_t s = m->edges[m->in_list[gr->in_begin + k]].src;
            if (G[s].pos >= gr->pos) {
                st = gn_fail(GN_ERR_INVALID, "edge %d -> %d goes against the order (cycle)", s, g);
                goto error;
            }
            if (depth[s] + 1 > depth[g]) depth[g] = depth[s] + 1;
        }
    }
    m->depth = depth[GN_SLOT_OUTPUT];

error:
    free(indeg);
    free(cursor);
    return st;
}

enum gn_status gn_model_build_default(struct gn_model *m)
{
    int32_t h;
    enum gn_status st = gn_model_add_group(m, &h);
    if (st) return st;
    if ((st = gn_model_add_edge(m, GN_SLOT_INPUT, h, NULL))) return st;
    if ((st = gn_model_add_edge(m, h, GN_SLOT_OUTPUT, NULL))) return st;
    return gn_model_rebuild(m, NULL);
}

void gn_model_init_weights(struct gn_model *m, uint64_t seed)
{
    memset(m->params, 0, (size_t)m->n_params * sizeof(float));
    memset(m->grads, 0, (size_t)m->n_params * sizeof(float));
    memset(m->moment, 0, (size_t)m->n_params * sizeof(float));
    memset(m->moment2, 0, (size_t)m->n_params * sizeof(float));
    for (int32_t g = 0; g < m->n_groups; g++) {
        const struct gn_group *gr = &m->groups[g];
        if (gr->kind == GN_GROUP_INPUT) continue;
        int64_t fan_in = 0;
        for (int32_t k = 0; k < gr->in_count; k++)
            fan_in += m->groups[m->edges[m->in_list[gr->in_begin + k]].src].width;
        /* He for ReLU groups, Glorot-like for the linear output. */
        float scale = (float)sqrt((gr->kind == GN_GROUP_HIDDEN ? 2.0 : 1.0) /
                                  (double)(fan_in > 0 ? fan_in : 1));
        for (int32_t k = 0; k < gr->in_count; k++) {
            int32_t e = m->in_list[gr->in_begin + k];
            const struct gn_edge *ed = &m->edges[e];
            int64_t len = (int64_t)m->groups[ed->src].width * gr->width;
            for (int64_t i = 0; i < len; i++)
                m->params[ed->w + i] = scale * gn_rng_normal(seed, GN_RNG_INIT, (uint64_t)e,
                                                             (uint64_t)i);
        }
    }
}

enum gn_status gn_model_clone(struct gn_model *dst, const struct gn_model *src)
{
    enum gn_status st = gn_model_init(dst, src->inputs, src->classes, src->group_size,
                                      src->max_groups, src->max_edges, src->max_params);
    if (st) return st;
    struct gn_model keep = *dst;
    *dst = *src;
    dst->groups = keep.groups;
    dst->edges = keep.edges;
    dst->params = keep.params;
    dst->grads = keep.grads;
    dst->moment = keep.moment;
    dst->moment2 = keep.moment2;
    dst->order = keep.order;
    dst->in_list = keep.in_list;
    dst->out_list = keep.out_list;
    memcpy(dst->groups, src->groups, (size_t)src->max_groups * sizeof *src->groups);
    memcpy(dst->edges, src->edges, (size_t)src->max_edges * sizeof *src->edges);
    memcpy(dst->params, src->params, (size_t)src->max_params * sizeof(float));
    memcpy(dst->grads, src->grads, (size_t)src->max_params * sizeof(float));
    memcpy(dst->moment, src->moment, (size_t)src->max_params * sizeof(float));
    memcpy(dst->moment2, src->moment2, (size_t)src->max_params * sizeof(float));
    memcpy(dst->order, src->order, (size_t)src->max_groups * sizeof(int32_t));
    memcpy(dst->in_list, src->in_list, (size_t)src->max_edges * sizeof(int32_t));
    memcpy(dst->out_list, src->out_list, (size_t)src->max_edges * sizeof(int32_t));
    return GN_OK;
}

struct gn_param_block {
    int64_t at, len;
    int32_t owner; /* a group (< n_groups) or n_groups + an edge */
};

static int gn_param_block_cmp(const void *a, const void *b)
{
    const int64_t x = ((const struct gn_param_block *)a)->at;
    const int64_t y = ((const struct gn_param_block *)b)->at;
    return (x > y) - (x < y);
}

enum gn_status gn_model_align_params(struct gn_model *m)
{
    const int32_t G = m->n_groups, B = m->n_groups + m->n_edges;
    int32_t n = 0, misaligned = 0;
    struct gn_param_block *blk = malloc((size_t)(B > 0 ? B : 1) * sizeof *blk);
    if (!blk) return gn_fail(GN_ERR_NOMEM, "out of memory aligning the parameter blocks");
    for (int32_t b = 0; b < B; b++) {
        struct gn_param_block k = {-1, 0, b};
        if (b < G && m->groups[b].bias >= 0) {
            k.at = m->groups[b].bias;
            k.len = m->groups[b].width;
        } else if (b >= G && m->edges[b - G].src >= 0) {
            const struct gn_edge *e = &m->edges[b - G];
            k.at = e->w;
            k.len = (int64_t)m->groups[e->src].width * m->groups[e->dst].width;
        }
        if (k.at < 0) continue;
        misaligned |= k.at % GN_PARAM_ALIGN != 0;
        blk[n++] = k;
    }
    if (!misaligned) {
        free(blk);
        return GN_OK;
    }
    qsort(blk, (size_t)n, sizeof *blk, gn_param_block_cmp);
    int64_t top = 0;
    for (int32_t i = 0; i < n; i++) top += gn_param_span(blk[i].len);
    if (top > m->max_params) {
        free(blk);
        return gn_fail(GN_ERR_FULL,
                       "the parameters need %lld floats once their blocks are aligned to %d "
                       "floats, the pool holds %lld; raise --max-params to %lld or more (a "
                       "checkpoint written before the blocks were aligned resumes with a larger "
                       "pool)",
                       (long long)top, GN_PARAM_ALIGN, (long long)m->max_params, (long long)top);
    }
    float *copy = calloc((size_t)m->max_params, sizeof *copy);
    if (!copy) {
        free(blk);
        return gn_fail(GN_ERR_NOMEM, "out of memory aligning the parameter blocks");
    }
    float *arrays[4] = {m->params, m->grads, m->moment, m->moment2};
    for (int a = 0; a < 4; a++) {
        memset(copy, 0, (size_t)m->max_params * sizeof *copy);
        int64_t at = 0;
        for (int32_t i = 0; i < n; i++) {
            memcpy(copy + at, arrays[a] + blk[i].at, (size_t)blk[i].len * sizeof(float));
            at += gn_param_span(blk[i].len);
        }
        memcpy(arrays[a], copy, (size_t)m->max_params * sizeof(float));
    }
    int64_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        if (blk[i].owner < G) m->groups[blk[i].owner].bias = at;
        else m->edges[blk[i].owner - G].w = at;
        at += gn_param_span(blk[i].len);
    }
    m->n_params = top;
    free(copy);
    free(blk);
    return GN_OK;
}

int64_t gn_model_param_count(const struct gn_model *m)
{
    int64_t n = 0;
    for (int32_t g = 0; g < m->n_groups; g++)
        if (m->groups[g].bias >= 0) n += m->groups[g].width;
    for (int32_t e = 0; e < m->n_edges; e++)
        if (m->edges[e].src >= 0)
            n += (int64_t)m->groups[m->edges[e].src].width * m->groups[m->edges[e].dst].width;
    return n;
}
