/*
 * Host side of the dependency DAG: building the CSR from an edge list by a
 * counting sort on the source (O(tasks + edges), stable), counting
 * in-degrees from the CSR, and an acyclicity check by Kahn's algorithm.
 */
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "error.h"

enum gn_status gn_dag_reserve(struct gn_dag *d, uint32_t n_tasks, uint32_t n_edges)
{
    if (n_tasks > GN_QUEUE_MAX_TASKS)
        return gn_fail(GN_ERR_INVALID, "dag: %u tasks, the most is %u", n_tasks,
                       (uint32_t)GN_QUEUE_MAX_TASKS);
    if (n_tasks > d->cap_tasks || !d->succ_begin) {
        uint32_t *begin = realloc(d->succ_begin, ((size_t)n_tasks + 1) * sizeof *begin);
        if (!begin)
            return gn_fail(GN_ERR_NOMEM, "dag: no memory for %u tasks", n_tasks);
        d->succ_begin = begin;
        uint32_t *init = realloc(d->indeg_init, ((size_t)n_tasks + 1) * sizeof *init);
        if (!init)
            return gn_fail(GN_ERR_NOMEM, "dag: no memory for %u tasks", n_tasks);
        d->indeg_init = init;
        gn_atomic_u32 *live = realloc((void *)d->indeg, ((size_t)n_tasks + 1) * sizeof *live);
        if (!live)
            return gn_fail(GN_ERR_NOMEM, "dag: no memory for %u tasks", n_tasks);
        d->indeg = live;
        uint32_t *roots = realloc(d->roots, ((size_t)n_tasks + 1) * sizeof *roots);
        if (!roots)
            return gn_fail(GN_ERR_NOMEM, "dag: no memory for %u tasks", n_tasks);
        d->roots = roots;
        d->cap_tasks = n_tasks;
    }
    if (n_edges > d->cap_edges || !d->succ) {
        uint32_t *succ = realloc(d->succ, ((size_t)n_edges + 1) * sizeof *succ);
        if (!succ)
            return gn_fail(GN_ERR_NOMEM, "dag: no memory for %u edges", n_edges);
        d->succ = succ;
        d->cap_edges = n_edges;
    }
    d->n_tasks = n_tasks;
    d->n_edges = n_edges;
    return GN_OK;
}

enum gn_status gn_dag_build(struct gn_dag *d, uint32_t n_tasks, uint32_t n_edges,
                            const uint32_t *src, const uint32_t *dst)
{
    if (!d || (n_edges && (!src || !dst)))
        return gn_fail(GN_ERR_INVALID, "dag: null argument");
    if (n_tasks > GN_QUEUE_MAX_TASKS)
        return gn_fail(GN_ERR_INVALID, "dag: %u tasks, the most is %u", n_tasks,
                       (uint32_t)GN_QUEUE_MAX_TASKS);
    for (uint32_t e = 0; e < n_edges; e++) {
        if (src[e] >= n_tasks || dst[e] >= n_tasks)
            return gn_fail(GN_ERR_INVALID, "dag: edge %u (%u -> %u) names a task >= %u", e,
                           src[e], dst[e], n_tasks);
    }
    enum gn_status s = gn_dag_reserve(d, n_tasks, n_edges);
    if (s != GN_OK)
        return s;
    d->n_tasks = n_tasks;
    d->n_edges = n_edges;

    uint32_t *begin = d->succ_begin;
    memset(begin, 0, ((size_t)n_tasks + 1) * sizeof *begin);
    for (uint32_t e = 0; e < n_edges; e++)
        begin[src[e] + 1]++;
    for (uint32_t i = 0; i < n_tasks; i++)
        begin[i + 1] += begin[i];
    /* Place each edge at its source's cursor; begin[u] walks to begin[u+1],
     * so afterwards begin[] is shifted one task left and is shifted back. */
    for (uint32_t e = 0; e < n_edges; e++)
        d->succ[begin[src[e]]++] = dst[e];
    memmove(begin + 1, begin, (size_t)n_tasks * sizeof *begin);
    begin[0] = 0;

    gn_dag_count_indegree(d);
    gn_dag_arm_all(d);
    return GN_OK;
}

void gn_dag_arm_all(struct gn_dag *d)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->n_tasks; i++)
        if (gn_dag_arm_one(d, i))
            d->roots[n++] = i;
    d->n_roots = n;
}

void gn_dag_count_indegree(struct gn_dag *d)
{
    memset(d->indeg_init, 0, (size_t)d->n_tasks * sizeof *d->indeg_init);
    for (uint32_t k = 0; k < d->n_edges; k++)
        d->indeg_init[d->succ[k]]++;
}

enum gn_status gn_dag_check_acyclic(const struct gn_dag *d)
{
    uint32_t n = d->n_tasks;
    uint32_t *left = malloc(((size_t)n + 1) * sizeof *left);
    uint32_t *ready = malloc(((size_t)n + 1) * sizeof *ready);
    if (!left || !ready) {
        free(left);
        free(ready);
        return gn_fail(GN_ERR_NOMEM, "dag: no memory to check %u tasks", n);
    }
    memcpy(left, d->indeg_init, (size_t)n * sizeof *left);
    uint32_t top = 0, seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (left[i] == 0)
            ready[top++] = i;
    }
    while (top > 0) {
        uint32_t u = ready[--top];
        seen++;
        for (uint32_t k = d->succ_begin[u]; k < d->succ_begin[u + 1]; k++) {
            if (--left[d->succ[k]] == 0)
                ready[top++] = d->succ[k];
        }
    }
    enum gn_status s = GN_OK;
    if (seen != n) {
        uint32_t bad = 0;
        while (left[bad] == 0)
            bad++;
        s = gn_fail(GN_ERR_INVALID,
                    "dag: not acyclic: %u of %u tasks never become ready (task %u waits on a "
                    "cycle)",
                    n - seen, n, bad);
    }
    free(left);
    free(ready);
    return s;
}

void gn_dag_free(struct gn_dag *d)
{
    if (!d)
        return;
    free(d->succ_begin);
    free(d->succ);
    free(d->indeg_init);
    free((void *)d->indeg);
    free(d->roots);
    memset(d, 0, sizeof *d);
}
