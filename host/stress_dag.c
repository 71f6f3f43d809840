/*
 * Synthetic DAG shapes and the `grown` shape's duplications.
 *
 * Generation writes edges straight into preallocated src/dst arrays, O(edges)
 * with a few hash draws per edge; distinct random predecessors come from
 * Floyd's sampling (k draws for k of m, no rejection loop). Tasks are
 * numbered so that every edge goes from a lower id to a higher one, except
 * in `tree` where it goes from a child to its parent (lower id); acyclic
 * either way.
 *
 * Growth keeps acyclicity: a copy of v takes v's predecessors and successors
 * as they were at the start of the round, and a split u -> new -> w replaces
 * one current edge u -> w; neither changes which old tasks reach which, so
 * no cycle can appear. The task pool is taken first, then the edge pool; if
 * the edges are refused, the task is given back (gn_pool_return), so a
 * refusal never leaves a partial edit.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "stress_dag.h"

#define GN_STRESS_MAX_FANIN 1024u

static const char *const gn_stress_names[] = {
#define GN_STRESS_NAME(id, name, help) name,
    GN_STRESS_SHAPES(GN_STRESS_NAME)
#undef GN_STRESS_NAME
};

static const char *const gn_stress_helps[] = {
#define GN_STRESS_HELP(id, name, help) help,
    GN_STRESS_SHAPES(GN_STRESS_HELP)
#undef GN_STRESS_HELP
};

void gn_stress_default_params(struct gn_stress_params *p)
{
    memset(p, 0, sizeof *p);
    p->shape = GN_STRESS_LAYERED;
    p->tasks = 100000;
    p->width = 64;
    p->fanin = 4;
    p->levels = 0;
    p->seed = 1;
}

const char *gn_stress_shape_name(enum gn_stress_shape s)
{
    return (unsigned)s < GN_STRESS_SHAPE_COUNT ? gn_stress_names[s] : "unknown";
}

const char *gn_stress_shape_help(enum gn_stress_shape s)
{
    return (unsigned)s < GN_STRESS_SHAPE_COUNT ? gn_stress_helps[s] : "";
}

enum gn_status gn_stress_shape_parse(const char *name, enum gn_stress_shape *out)
{
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++) {
        if (name && strcmp(name, gn_stress_names[i]) == 0) {
            *out = (enum gn_stress_shape)i;
            return GN_OK;
        }
    }
    return gn_fail(GN_ERR_INVALID, "unknown shape '%s'", name ? name : "(null)");
}

/* A draw in [0, m) from (seed, a, b). */
static uint32_t gn_stress_draw(uint64_t seed, uint64_t a, uint64_t b, uint32_t m)
{
    return (uint32_t)(((gn_rng_u64(seed, GN_RNG_TEST, a, b) >> 32) * (uint64_t)m) >> 32);
}

/* Floyd: k distinct values of [0, m) into out (k <= m), draws keyed by task. */
static void gn_stress_sample(uint64_t seed, uint32_t task, uint32_t m, uint32_t k, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t j = m - k; j < m; j++) {
        uint32_t t = gn_stress_draw(seed, task, j, j + 1);
        for (uint32_t i = 0; i < n; i++) {
            if (out[i] == t) {
                t = j;
                break;
            }
        }
        out[n++] = t;
    }
}

static uint32_t gn_stress_width(const struct gn_stress_params *p)
{
    uint32_t w = p->width;
    if (p->levels)
        w = (uint32_t)(((uint64_t)p->tasks + p->levels - 1) / p->levels);
    return w ? w : 1;
}

static uint64_t gn_stress_max_edges(const struct gn_stress_params *p)
{
    uint64_t n = p->tasks;
    uint64_t w = gn_stress_width(p);
    switch (p->shape) {
    case GN_STRESS_LAYERED:
    case GN_STRESS_GROWN:
        return (n > w ? n - w : 0) * (p->fanin < w ? p->fanin : w);
    case GN_STRESS_RANDOM:
        return n * p->fanin;
    case GN_STRESS_DIAMOND:
        return 2 * n;
    default:
        return n ? n - 1 : 0;
    }
}

enum gn_status gn_stress_generate(struct gn_stress_graph *g, const struct gn_stress_params *p,
                                  uint32_t extra_edges)
{
    memset(g, 0, sizeof *g);
    if ((unsigned)p->shape >= GN_STRESS_SHAPE_COUNT)
        return gn_fail(GN_ERR_INVALID, "stress: no shape %d", (int)p->shape);
    if (p->tasks < 1 || p->tasks > GN_QUEUE_MAX_TASKS)
        return gn_fail(GN_ERR_INVALID, "stress: --tasks %u, expected 1 to %u", p->tasks,
                       (uint32_t)GN_QUEUE_MAX_TASKS);
    if (p->fanin < 1 || p->fanin > GN_STRESS_MAX_FANIN)
        return gn_fail(GN_ERR_INVALID, "stress: --fanin %u, expected 1 to %u", p->fanin,
                       GN_STRESS_MAX_FANIN);
    uint64_t cap = gn_stress_max_edges(p) + extra_edges;
    if (cap >= UINT32_MAX)
        return gn_fail(GN_ERR_INVALID, "stress: %s with %u tasks would have %llu edges, over 2^32",
                       gn_stress_shape_name(p->shape), p->tasks, (unsigned long long)cap);
    g->src = malloc((cap + 1) * sizeof *g->src);
    g->dst = malloc((cap + 1) * sizeof *g->dst);
    if (!g->src || !g->dst) {
        gn_stress_graph_free(g);
        return gn_fail(GN_ERR_NOMEM, "stress: no memory for %llu edges", (unsigned long long)cap);
    }
    g->n_tasks = p->tasks;
    g->cap_edges = (uint32_t)cap;

    uint32_t n = p->tasks, w = gn_stress_width(p), e = 0;
    uint32_t pick[GN_STRESS_MAX_FANIN];
    switch (p->shape) {
    case GN_STRESS_CHAIN:
        for (uint32_t i = 1; i < n; i++, e++) {
            g->src[e] = i - 1;
            g->dst[e] = i;
        }
        break;
    case GN_STRESS_LAYERED:
    case GN_STRESS_GROWN: {
        uint32_t k = p->fanin < w ? p->fanin : w;
        for (uint32_t i = w; i < n; i++) {
            uint32_t prev = (i / w - 1) * w;
            gn_stress_sample(p->seed, i, w, k, pick);
            for (uint32_t j = 0; j < k; j++, e++) {
                g->src[e] = prev + pick[j];
                g->dst[e] = i;
            }
        }
        break;
    }
    case GN_STRESS_RANDOM: {
        uint64_t window = 4 * (uint64_t)w;
        for (uint32_t i = 1; i < n; i++) {
            uint32_t lo = i > window ? (uint32_t)(i - window) : 0;
            uint32_t k = gn_stress_draw(p->seed, i, UINT32_MAX, p->fanin + 1);
            if (k > i - lo)
                k = i - lo;
            gn_stress_sample(p->seed, i, i - lo, k, pick);
            for (uint32_t j = 0; j < k; j++, e++) {
                g->src[e] = lo + pick[j];
                g->dst[e] = i;
            }
        }
        break;
    }
    case GN_STRESS_DIAMOND:
        for (uint32_t i = 1; i < n; i++) {
            uint32_t block = (i - 1) / (w + 1), r = (i - 1) % (w + 1);
            uint32_t source = block * (w + 1), sink = source + w + 1;
            if (r == w)
                continue;
            g->src[e] = source;
            g->dst[e++] = i;
            if (sink < n) {
                g->src[e] = i;
                g->dst[e++] = sink;
            }
        }
        break;
    case GN_STRESS_FANIN:
        for (uint32_t i = 0; i + 1 < n; i++, e++) {
            g->src[e] = i;
            g->dst[e] = n - 1;
        }
        break;
    case GN_STRESS_FANOUT:
        for (uint32_t i = 1; i < n; i++, e++) {
            g->src[e] = 0;
            g->dst[e] = i;
        }
        break;
    case GN_STRESS_TREE:
        for (uint32_t i = 1; i < n; i++, e++) {
            g->src[e] = i;
            g->dst[e] = (i - 1) / p->fanin;
        }
        break;
    case GN_STRESS_SHAPE_COUNT:
        break;
    }
    g->n_edges = e;
    return GN_OK;
}

enum gn_status gn_stress_graph_to_dag(const struct gn_stress_graph *g, struct gn_dag *dag)
{
    return gn_dag_build(dag, g->n_tasks, g->n_edges, g->src, g->dst);
}

void gn_stress_graph_free(struct gn_stress_graph *g)
{
    free(g->src);
    free(g->dst);
    memset(g, 0, sizeof *g);
}

enum gn_status gn_stress_grow_init(struct gn_stress_grower *gr, const struct gn_stress_graph *g,
                                   uint32_t extra_tasks)
{
    memset(gr, 0, sizeof *gr);
    if ((uint64_t)g->n_tasks + extra_tasks > GN_QUEUE_MAX_TASKS)
        return gn_fail(GN_ERR_INVALID, "stress: %u tasks plus a pool of %u is over %u",
                       g->n_tasks, extra_tasks, (uint32_t)GN_QUEUE_MAX_TASKS);
    gn_pool_init(&gr->tasks, g->n_tasks, (uint64_t)g->n_tasks + extra_tasks);
    gn_pool_init(&gr->edges, g->n_edges, g->cap_edges);
    gr->base_tasks = g->n_tasks;
    gr->base_edges = g->n_edges;
    return GN_OK;
}

/* CSR of the edge list keyed by key[] (src or dst), listing other[]. */
static enum gn_status gn_stress_index(const struct gn_stress_graph *g, const uint32_t *key,
                                      const uint32_t *other, uint32_t **begin_out,
                                      uint32_t **list_out)
{
    uint32_t n = g->n_tasks;
    uint32_t *begin = realloc(*begin_out, ((size_t)n + 2) * sizeof *begin);
    if (begin)
        *begin_out = begin;
    uint32_t *list = realloc(*list_out, ((size_t)g->n_edges + 1) * sizeof *list);
    if (list)
        *list_out = list;
    if (!begin || !list)
        return gn_fail(GN_ERR_NOMEM, "stress: no memory to index %u edges", g->n_edges);
    memset(begin, 0, ((size_t)n + 2) * sizeof *begin);
    for (uint32_t e = 0; e < g->n_edges; e++)
        begin[key[e] + 2]++;
    for (uint32_t i = 0; i < n; i++)
        begin[i + 2] += begin[i + 1];
    for (uint32_t e = 0; e < g->n_edges; e++)
        list[begin[key[e] + 1]++] = other[e];
    return GN_OK;
}

enum gn_status gn_stress_grow(struct gn_stress_grower *gr, struct gn_stress_graph *g,
                              uint32_t count, uint64_t seed, uint32_t round)
{
    enum gn_status s = gn_stress_index(g, g->dst, g->src, &gr->pred_begin, &gr->pred);
    if (s == GN_OK)
        s = gn_stress_index(g, g->src, g->dst, &gr->succ_begin, &gr->succ);
    if (s != GN_OK)
        return s;
    uint32_t n_round = g->n_tasks; /* copies pick among the tasks of the round's start */
    for (uint32_t j = 0; j < count; j++) {
        uint64_t r = gn_rng_u64(seed, GN_RNG_GROW, round, j);
        uint32_t n_edges = (uint32_t)gn_pool_used(&gr->edges);
        int split = (r & 1) && n_edges > 0;
        uint32_t v = (uint32_t)(((r >> 32) * (uint64_t)(split ? n_edges : n_round)) >> 32);
        uint32_t in = 0, out = 0;
        if (!split) {
            in = gr->pred_begin[v + 1] - gr->pred_begin[v];
            out = gr->succ_begin[v + 1] - gr->succ_begin[v];
        }
        uint64_t need = split ? 1 : (uint64_t)in + out;
        gr->tried++;

        uint64_t task, first = 0;
        if (gn_pool_alloc(&gr->tasks, 1, &task) != GN_OK) {
            gr->refused++;
            continue;
        }
        if (need > 0 && gn_pool_alloc(&gr->edges, need, &first) != GN_OK) {
            if (gn_pool_return(&gr->tasks, task, 1) != GN_OK)
                return gn_fail(GN_ERR_INVALID, "stress: task %llu could not be given back",
                               (unsigned long long)task);
            gr->refused++;
            continue;
        }
        uint32_t t = (uint32_t)task, e = (uint32_t)first;
        if (split) {
            g->src[e] = t;
            g->dst[e] = g->dst[v];
            g->dst[v] = t;
            gr->splits++;
        } else {
            for (uint32_t k = gr->pred_begin[v]; k < gr->pred_begin[v + 1]; k++, e++) {
                g->src[e] = gr->pred[k];
                g->dst[e] = t;
            }
            for (uint32_t k = gr->succ_begin[v]; k < gr->succ_begin[v + 1]; k++, e++) {
                g->src[e] = t;
                g->dst[e] = gr->succ[k];
            }
            gr->copies++;
        }
        g->n_tasks = t + 1;
        g->n_edges = (uint32_t)gn_pool_used(&gr->edges);
    }
    return GN_OK;
}

void gn_stress_grow_free(struct gn_stress_grower *gr)
{
    free(gr->pred_begin);
    free(gr->pred);
    free(gr->succ_begin);
    free(gr->succ);
    memset(gr, 0, sizeof *gr);
}
