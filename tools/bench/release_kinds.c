/*
 * How the tasks of a training step release their successors (no GPU):
 *
 *     release_kinds GRAPH.json [MORE.json ...]
 *
 * builds each graph's training task DAG by the runtime's own rules
 * (runtime/sched/taskgraph.h: gn_taskgraph_build, reduced as the runtime
 * reduces it; one update part a group, as the host backends split them)
 * and sorts every forward and backward task by what its release does
 * (dag.h, gn_dag_release_succ):
 *   fast:   one successor, of in-degree 1: handed on at once, no fence,
 *           no atomic;
 *   hold:   a first successor of in-degree 1 and others (at most a batch,
 *           GN_DAG_BATCH): handed on at once where decrements are held
 *           back (-DGN_DAG_DEFER), the others held; fenced otherwise;
 *   fenced: the rest (a release fence, the decrements, an acquire fence
 *           when one is ready).
 * Counts are per batch tile (every tile's tasks release alike), with the
 * mean number of other successors a hold keeps; the DAG is built with two
 * tiles, and any count above one gives the same (an update part then
 * waits for every tile, so its in-degree is never 1), as every benchmark
 * run on the card has. docs/PERF.md's
 * forty-fifth round reads `deep`'s backward hops from it. The table is
 * printed last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "graphfile.h"
#include "model.h"
#include "taskgraph.h"

enum { FAST, HOLD, FENCED, NONE, KINDS };

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout, "usage: release_kinds GRAPH.json [MORE.json ...]\n");
        return argc < 2 ? 2 : 0;
    }
    printf("| graph | kind | tasks | fast | hold | fenced | no successor | others held a hold |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    int bad = 0;
    for (int a = 1; a < argc; a++) {
        int32_t inputs, classes, size, groups, max_groups = 0, max_edges = 0;
        int64_t max_params = 0;
        struct gn_model m;
        enum gn_status st = gn_graph_peek(argv[a], &inputs, &classes, &size, &groups);
        if (st == GN_OK) {
            /* the capacities the trainer would give it (gn_model_capacity) */
            struct gn_settings s;
            gn_default_settings(&s);
            s.group_size = size;
            s.max_groups = groups + 2;
            gn_model_capacity(&s, inputs, classes, &max_groups, &max_edges, &max_params);
        }
        if (st == GN_OK)
            st = gn_graph_read(argv[a], &m, inputs, classes, size, max_groups, max_edges,
                               max_params);
        if (st != GN_OK) {
            const char *why = gn_error_message();
            fprintf(stderr, "release_kinds: %s\n", why && *why ? why : gn_status_str(st));
            bad = 1;
            continue;
        }
        struct gn_dag train, eval;
        memset(&train, 0, sizeof train);
        memset(&eval, 0, sizeof eval);
        struct gn_taskmap tm;
        if (gn_taskgraph_build(&train, &eval, &tm, &m, 1, 2) != GN_OK) {
            fprintf(stderr, "release_kinds: %s: the task DAG could not be built\n", argv[a]);
            bad = 1;
            gn_model_free(&m);
            continue;
        }
        long n[2][KINDS] = {{0}}, held[2] = {0};
        for (uint32_t t = 0; t < tm.upd0; t++) {
            if (gn_task_decode(&tm, t).tile != 0) continue; /* tile 0's */
            const struct gn_task k = gn_task_decode(&tm, t);
            struct gn_dag_succ sc;
            gn_dag_succ_fill(&train, gn_dag_span_of(&train, t), &sc);
            const uint32_t m = sc.end - sc.k;
            const int first1 = gn_dag_succ_wants_init0(&sc) && train.indeg_init[sc.v[0]] == 1;
            const int c = m == 0 ? NONE : first1 && m == 1 ? FAST : first1 ? HOLD : FENCED;
            n[k.kind][c]++;
            if (c == HOLD) held[k.kind] += (long)(m - 1);
        }
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        for (int k = 0; k < 2; k++)
            printf("| %s | %s | %ld | %ld | %ld | %ld | %ld | %.2f |\n", name,
                   gn_task_kind_name(k), n[k][FAST] + n[k][HOLD] + n[k][FENCED] + n[k][NONE],
                   n[k][FAST], n[k][HOLD], n[k][FENCED], n[k][NONE],
                   n[k][HOLD] ? (double)held[k] / (double)n[k][HOLD] : 0.0);
        gn_dag_free(&train);
        gn_dag_free(&eval);
        gn_model_free(&m);
    }
    return bad;
}
