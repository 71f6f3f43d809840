/*
 * Synthetic DAGs for scheduler stress runs (genet-stress and the tests):
 * seeded, reproducible edge lists of a few shapes, and the `grown` shape's
 * duplications between passes, which take new tasks and edges from pools.
 *
 * Every random choice is a pure function of (seed, task, draw) through
 * rng.h, so a shape is the same on every run, whatever the threads.
 */
#ifndef GN_RUNTIME_STRESS_DAG_H
#define GN_RUNTIME_STRESS_DAG_H

#include <stdint.h>

#include "dag.h"
#include "genet/genet.h"
#include "pool.h"

/* The shapes: id, name, what it is (for --help). */
#define GN_STRESS_SHAPES(X)                                                                      \
    X(CHAIN, "chain", "task i -> i+1: every task is one dependent hop")                          \
    X(LAYERED, "layered",                                                                        \
      "levels of --width tasks; each task takes --fanin distinct random predecessors in "        \
      "the level before")                                                                        \
    X(RANDOM, "random",                                                                          \
      "task i takes 0..--fanin distinct random predecessors among the 4*--width tasks "          \
      "before it")                                                                               \
    X(DIAMOND, "diamond",                                                                        \
      "a source fans out to --width tasks that join in a sink; each sink is the next "           \
      "source")                                                                                  \
    X(FANIN, "fanin", "every other task feeds one sink (one counter takes tasks-1 decrements)")  \
    X(FANOUT, "fanout", "one source feeds every other task (one release pushes tasks-1)")       \
    X(TREE, "tree", "a reduction tree: task i feeds task (i-1)/--fanin, the root is task 0")    \
    X(GROWN, "grown",                                                                            \
      "layered, then between passes random tasks are copied (same predecessors and "             \
      "successors) or edges split by a new task, from a pool until it is full")

enum gn_stress_shape {
#define GN_STRESS_ENUM(id, name, help) GN_STRESS_##id,
    GN_STRESS_SHAPES(GN_STRESS_ENUM)
#undef GN_STRESS_ENUM
    GN_STRESS_SHAPE_COUNT
};

struct gn_stress_params {
    enum gn_stress_shape shape;
    uint32_t tasks;  /* exactly this many tasks */
    uint32_t width;  /* layered, grown, diamond: tasks per level; random: window / 4 */
    uint32_t fanin;  /* layered, grown, random: predecessors per task; tree: children */
    uint32_t levels; /* layered, grown, diamond: if set, width = ceil(tasks / levels) */
    uint64_t seed;
};

/* An edge list with room to grow: src[i] -> dst[i], i < n_edges <= cap_edges. */
struct gn_stress_graph {
    uint32_t n_tasks;
    uint32_t n_edges;
    uint32_t cap_edges;
    uint32_t *src;
    uint32_t *dst;
};

/* The `grown` shape's state: tasks and edges come from pools over the graph. */
struct gn_stress_grower {
    struct gn_pool tasks; /* used = tasks in the graph, capacity = the limit */
    struct gn_pool edges; /* used = edges in the graph, capacity = graph.cap_edges */
    uint32_t base_tasks;
    uint32_t base_edges;
    uint64_t tried;   /* duplications asked for */
    uint64_t copies;  /* a task copied beside the original */
    uint64_t splits;  /* an edge split by a new task */
    uint64_t refused; /* refused because a pool was full (nothing changed) */
    uint32_t *pred_begin; /* the graph at the start of a round, by target */
    uint32_t *pred;
    uint32_t *succ_begin; /* and by source */
    uint32_t *succ;
};

#ifdef __cplusplus
extern "C" {
#endif

void gn_stress_default_params(struct gn_stress_params *p);

const char *gn_stress_shape_name(enum gn_stress_shape s);
const char *gn_stress_shape_help(enum gn_stress_shape s);
enum gn_status gn_stress_shape_parse(const char *name, enum gn_stress_shape *out);

/* Generate the shape's edge list, with room for extra_edges more. */
enum gn_status gn_stress_generate(struct gn_stress_graph *g, const struct gn_stress_params *p,
                                  uint32_t extra_edges);

/* Build (or rebuild) a DAG from the edge list. */
enum gn_status gn_stress_graph_to_dag(const struct gn_stress_graph *g, struct gn_dag *dag);

void gn_stress_graph_free(struct gn_stress_graph *g);

/* Pools over g: up to extra_tasks new tasks, and the edge room g already has. */
enum gn_status gn_stress_grow_init(struct gn_stress_grower *gr, const struct gn_stress_graph *g,
                                   uint32_t extra_tasks);

/*
 * One round of `count` duplications on g (its pools in gr), choices drawn
 * from (seed, round). Each picks, at random, a copy of a random task (new
 * task with the same predecessors and successors) or a split of a random
 * edge u -> w into u -> new -> w. A duplication whose task or edges do not
 * fit is refused and counted, and changes nothing. g stays acyclic. The
 * caller rebuilds its DAG from g afterwards.
 */
enum gn_status gn_stress_grow(struct gn_stress_grower *gr, struct gn_stress_graph *g,
                              uint32_t count, uint64_t seed, uint32_t round);

void gn_stress_grow_free(struct gn_stress_grower *gr);

#ifdef __cplusplus
}
#endif

#endif
