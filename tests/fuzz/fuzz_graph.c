/*
 * libFuzzer target: the graph-file reader (runtime/formats/graphfile.c,
 * gn_graph_parse on a memory buffer).
 *
 * Input: the JSON text. The network shape is fixed (4 inputs, 3 classes,
 * groups of 2, pools of 24 groups / 96 edges) and the seed corpus uses it,
 * so the fuzzer gets past the header checks.
 *
 * Checks: no crash, leak or sanitizer report; a graph that parses is
 * written back with gn_graph_write, read again, and must give the same
 * groups, edges and order (the round trip the tools rely on).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "graphfile.h"
#include "model.h"

#define IN 4
#define CL 3
#define GS 2
#define MG 24
#define ME 96
#define MP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_model m, r;
    if (gn_graph_parse((const char *)data, size, "fuzz.json", &m, IN, CL, GS, MG, ME, MP)) return 0;
    char path[256];
    snprintf(path, sizeof path, "%s/graph.json", gn_fuzz_dir("graph"));
    if (gn_graph_write(path, &m)) abort();
    if (gn_graph_read(path, &r, IN, CL, GS, MG, ME, MP)) abort();
    if (r.n_groups != m.n_groups || r.n_edges != m.n_edges || r.depth != m.depth) abort();
    for (int32_t p = 0; p < m.n_groups; p++)
        if (m.groups[m.order[p]].in_count != r.groups[r.order[p]].in_count) abort();
    gn_model_free(&r);
    gn_model_free(&m);
    return 0;
}
