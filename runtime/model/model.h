/*
 * The network: groups, edges and parameter blocks in preallocated pools.
 *
 * Plain fixed-width structs shared by the host backends and the device
 * (no pointers inside the pooled records, only indices and offsets).
 *
 * Slots: group 0 is the input (width = features), group 1 is the output
 * (width = classes, linear, softmax cross-entropy), hidden groups take slots
 * from 2 up. An edge src -> dst owns a weight block of src.width x dst.width
 * floats (row-major, W[k][j] maps input unit k to output unit j); a group
 * owns a bias block of width floats. New groups, edges and parameter blocks
 * are bump-allocated. Only pruning (prune.h) frees space: it compacts the
 * three pools, so the bump counters go down and the next duplications
 * take the freed space (depthwise growth re-points existing edges instead
 * of deleting them).
 *
 * Canonical order. Every backend computes in the same order so results match
 * bitwise: groups in `order` (a topological order, input first, output last;
 * a duplicate is placed right after the group it came from), each group's
 * in-edges sorted by the source's position, out-edges by the target's
 * position. gn_model_rebuild() recomputes positions, the CSR lists and
 * validates the graph after any change.
 */
#ifndef GN_RUNTIME_MODEL_H
#define GN_RUNTIME_MODEL_H

#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"

#define GN_SLOT_INPUT 0
#define GN_SLOT_OUTPUT 1
#define GN_SLOT_FIRST_HIDDEN 2

enum gn_group_kind {
    GN_GROUP_INPUT = 0,
    GN_GROUP_HIDDEN = 1,
    GN_GROUP_OUTPUT = 2,
};

/* Group flags, set by growth. */
#define GN_GROUP_MARKED 1u /* gradient std above the threshold */
#define GN_GROUP_CHOSEN 2u /* marked and no predecessor marked: duplicate it */
#define GN_GROUP_PRUNED 4u /* removed by the pruning round under way (prune.h) */

struct gn_group {
    int32_t kind;
    int32_t width;
    int64_t bias; /* offset of the bias block in the parameter pool (-1 for input) */
    int32_t in_begin, in_count;   /* slice of model.in_list (edge indices) */
    int32_t out_begin, out_count; /* slice of model.out_list (edge indices) */
    int32_t pos;    /* position in model.order */
    uint32_t flags; /* GN_GROUP_* */
    int32_t parent; /* slot this group was duplicated from, -1 if original */
    int32_t born;   /* step at which it was created (0 for the start graph) */
    float grad_std; /* gradient standard deviation, as last made (stat.h: on the steps
                     * that read it; a NaN after a step with a non-finite entry) */
    int32_t below;  /* pruning rounds in a row its contribution was below the threshold */
};
GN_STATIC_ASSERT(sizeof(struct gn_group) == 56, "gn_group layout is shared with the device");

struct gn_edge {
    int32_t src, dst; /* both -1: a slot reserved by a refused duplication, unused */
    int64_t w; /* offset of the src.width x dst.width weight block */
};
GN_STATIC_ASSERT(sizeof(struct gn_edge) == 16, "gn_edge layout is shared with the device");

/* Every parameter block (a group's bias, an edge's weight block) starts on
 * a multiple of GN_PARAM_ALIGN floats, 16 bytes, so that the GPU stages a
 * block's rows with 16-byte loads (device/block_ops.cuh): a block takes its
 * size rounded up (gn_param_span) from the parameter pool, on every backend
 * alike. The floats between blocks stay zero and no op reads them;
 * n_params counts the pool's floats in use, padding included,
 * gn_model_param_count the parameters. */
#define GN_PARAM_ALIGN 4

GN_HD int64_t gn_param_span(int64_t n)
{
    return (n + GN_PARAM_ALIGN - 1) / GN_PARAM_ALIGN * GN_PARAM_ALIGN;
}

/* The most padding `blocks` parameter blocks add to their sizes: what a
 * pool sized from parameter counts needs beside them. */
GN_HD int64_t gn_param_slack(int64_t blocks)
{
    return (GN_PARAM_ALIGN - 1) * blocks;
}

struct gn_model {
    int32_t inputs, classes, group_size;
    int32_t max_width; /* max(group_size, classes) */

    /* pools: capacity and bump counters */
    struct gn_group *groups;
    int32_t n_groups, max_groups;
    struct gn_edge *edges;
    int32_t n_edges, max_edges;
    float *params;  /* weights and biases */
    float *grads;   /* gradients, same layout */
    float *moment;  /* sgd's momentum, adam's first moment; same layout */
    float *moment2; /* adam's second moment (sgd: unused, zero); same layout */
    int64_t n_params, max_params; /* floats in use (GN_PARAM_ALIGN) and in all */

    /* topology, rebuilt by gn_model_rebuild() */
    int32_t *order;    /* max_groups: slots in canonical topological order */
    int32_t *in_list;  /* max_edges: in-edges grouped by dst */
    int32_t *out_list; /* max_edges: out-edges grouped by src */
    int32_t depth;     /* longest path input -> output, in edges */

    /* growth counters; pruned: hidden groups removed by pruning */
    int64_t duplications, refused, pruned;
};

/* An edge's place in a canonical list: the position of its other end
 * (by_src: its source's, in-lists; else its target's, out-lists) above,
 * the edge's index below, so ties (parallel edges) go by index, as the
 * host's lists are filled. Distinct for distinct edges: a total order. */
GN_HD int64_t gn_model_edge_key(const struct gn_model *m, int32_t e, int by_src)
{
    const int32_t end = by_src ? m->edges[e].src : m->edges[e].dst;
    return (int64_t)m->groups[end].pos * 4294967296ll + (int64_t)(uint32_t)e;
}

/* Sort a list of edge indices by gn_model_edge_key (insertion sort: the
 * host's lists are short and mostly sorted after growth; the kernel sorts
 * long lists by ranks in shared memory, grow.cuh, to the same order).
 * GN_HD: the host's rebuild and the kernel's run this one rule. */
GN_HD void gn_model_sort_edges(const struct gn_model *m, int32_t *list, int32_t n, int by_src)
{
    for (int32_t i = 1; i < n; i++) {
        const int32_t e = list[i];
        const int64_t key = gn_model_edge_key(m, e, by_src);
        int32_t j = i - 1;
        while (j >= 0 && gn_model_edge_key(m, list[j], by_src) > key) {
            list[j + 1] = list[j];
            j--;
        }
        list[j + 1] = e;
    }
}

/* The canonical order of g's lists: in-edges by the source's position,
 * out-edges by the target's (positions already set). */
GN_HD void gn_model_sort_lists(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    gn_model_sort_edges(m, m->in_list + gr->in_begin, gr->in_count, 1);
    gn_model_sort_edges(m, m->out_list + gr->out_begin, gr->out_count, 0);
}

/* In-edges of g from hidden groups (not from the input). */
GN_HD int32_t gn_model_hidden_inputs(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    int32_t h = 0;
    for (int32_t i = 0; i < gr->in_count; i++)
        h += m->edges[m->in_list[gr->in_begin + i]].src != GN_SLOT_INPUT;
    return h;
}

#ifdef __cplusplus
extern "C" {
#endif

/* Pool capacities derived from settings and data shape (0 fields = auto). */
void gn_model_capacity(const struct gn_settings *s, int32_t inputs, int32_t classes,
                       int32_t *max_groups, int32_t *max_edges, int64_t *max_params);

/* An empty model: input and output groups, no edges. */
enum gn_status gn_model_init(struct gn_model *m, int32_t inputs, int32_t classes,
                             int32_t group_size, int32_t max_groups, int32_t max_edges,
                             int64_t max_params);
void gn_model_free(struct gn_model *m);

/* Bump allocations. GN_ERR_FULL when the pool is full (nothing allocated). */
enum gn_status gn_model_add_group(struct gn_model *m, int32_t *slot);
enum gn_status gn_model_add_edge(struct gn_model *m, int32_t src, int32_t dst, int32_t *edge);

/*
 * Recompute order, positions, CSR lists and depth from the pools, and check
 * the graph: every hidden group has an in-edge and an out-edge, the output has
 * an in-edge, no edge into the input, no cycle, widths consistent.
 * `order_hint`, if not NULL, gives the desired order of all n_groups slots
 * (it must be topological); otherwise a stable topological sort by slot.
 */
enum gn_status gn_model_rebuild(struct gn_model *m, const int32_t *order_hint);

/* The default start: input -> one hidden group -> output. */
enum gn_status gn_model_build_default(struct gn_model *m);

/* Initialise every weight (He normal over the group's total fan-in, seeded
 * per edge and element) and zero biases, gradients and both moments. */
void gn_model_init_weights(struct gn_model *m, uint64_t seed);

/* Deep copy (same capacities); dst must be uninitialised. */
enum gn_status gn_model_clone(struct gn_model *dst, const struct gn_model *src);

/* Lay the parameter blocks out at their spans (GN_PARAM_ALIGN), in offset
 * order, where some block does not start on a multiple of GN_PARAM_ALIGN
 * (a checkpoint written before the pools aligned their blocks): the
 * parameters, gradients and both moments move with their blocks, values
 * unchanged. GN_OK at once when every block is aligned; GN_ERR_FULL when
 * the aligned blocks do not fit max_params; GN_ERR_NOMEM. */
enum gn_status gn_model_align_params(struct gn_model *m);

/* The parameters in use (weights + biases of the live groups and edges),
 * without the pool's padding between blocks. */
int64_t gn_model_param_count(const struct gn_model *m);

#ifdef __cplusplus
}
#endif

#endif
