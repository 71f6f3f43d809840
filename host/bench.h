/* genet-rt bench: time training steps of a graph file (bench.c). */
#ifndef GN_HOST_BENCH_H
#define GN_HOST_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "genet/genet.h"

struct gn_bench_options {
    int64_t warmup;           /* steps not timed */
    const char *save_weights; /* write the initial weights here */
    const char *save_batch;   /* write the first batch (the initial-loss rows) here */
    int max_groups_given;     /* --max-groups was on the command line */
};

void gn_bench_usage(FILE *f);
int gn_bench_run(const char *graph, struct gn_settings *s, const struct gn_bench_options *o,
                 int json, int graph_option_given);

#endif
