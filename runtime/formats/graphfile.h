/*
 * Graph files: a network's structure as JSON (DESIGN.md, "Graph file").
 *
 *   {"format": "genet-graph", "version": 1,
 *    "inputs": 784, "classes": 10, "group_size": 32,
 *    "groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [0, 1]}],
 *    "output": {"inputs": [2]}}
 *
 * Group 0 is the input; hidden group ids are positive integers, unique, and
 * every "inputs" list (non-empty, no repeats) names 0 or groups defined
 * earlier in "groups", so a file is a DAG by construction. Every hidden group
 * must feed a later group or the output. "inputs", "classes" and
 * "group_size" must match the dataset and the configured group size. Extra
 * fields are ignored; the informational per-group fields a writer adds
 * ("parent", "born", "grad_std") are type-checked and otherwise ignored.
 * Errors are GN_ERR_FORMAT (GN_ERR_IO for the file, GN_ERR_FULL when the
 * graph does not fit the pools) with a message giving the location, e.g.
 *   graph.json: groups[3] (id 7): inputs[1] names group 9, which is not
 *   defined before it (forward reference or cycle)
 */
#ifndef GN_RUNTIME_GRAPHFILE_H
#define GN_RUNTIME_GRAPHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "model.h"

/*
 * Read a graph file into m (uninitialised on entry): gn_model_init with the
 * given shape and capacities, hidden groups in file order, then
 * gn_model_rebuild with the file's order (input, groups, output) as the
 * canonical order. Weights are not initialised (call gn_model_init_weights).
 * On error m is freed and left zeroed.
 */
enum gn_status gn_graph_read(const char *path, struct gn_model *m, int32_t inputs,
                             int32_t classes, int32_t group_size, int32_t max_groups,
                             int32_t max_edges, int64_t max_params);

/* The same from len bytes of text; name (a file name) prefixes messages. */
enum gn_status gn_graph_parse(const char *text, size_t len, const char *name,
                              struct gn_model *m, int32_t inputs, int32_t classes,
                              int32_t group_size, int32_t max_groups, int32_t max_edges,
                              int64_t max_params);

/* The shape a graph file declares (inputs, classes, group size, hidden
 * groups), without building it: for tools that make data to fit a graph. */
enum gn_status gn_graph_peek(const char *path, int32_t *inputs, int32_t *classes,
                             int32_t *group_size, int32_t *groups);

/*
 * Write m's graph (m must be rebuilt) in canonical order: the hidden group at
 * position p gets id p, in-edges in in_list order, one group per line, with
 * "parent", "born" and "grad_std" where known. Atomic: written to
 * "<path>.tmp", synced, then renamed over path.
 */
enum gn_status gn_graph_write(const char *path, const struct gn_model *m);

/* The same text in memory: *text (malloc'd, NUL-terminated, free() it) and
 * its length *len. */
enum gn_status gn_graph_format(const struct gn_model *m, char **text, size_t *len);

#endif
