/*
 * genet-rt bench GRAPH: the time of a training step (forward, backward,
 * update; growth off unless asked) of the network in a graph file, on
 * seeded synthetic data of the graph's shape, for any backend.
 *
 * The first `warmup` steps are not timed; the figure is the median of the
 * per-step times after them (each backend logs the end of every step: the
 * host loop for serial and cpu, the kernel's global timer for cuda). Also
 * reported: the FLOPs of a step and the rate they imply, and the mean loss
 * of the first `batch` rows under the initial weights, which another
 * implementation started from --save-init-weights must reproduce.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "graphfile.h"
#include "rng.h"
#include "trainer.h"
#include "weights.h"

void gn_bench_usage(FILE *f)
{
    fprintf(f,
            "usage: genet-rt bench GRAPH [options]\n"
            "\n"
            "Time training steps (forward, backward, update) of the network in the graph\n"
            "file GRAPH on seeded synthetic data of its shape. Growth is off unless --grow\n"
            "is given. Prints the median time per step after the warm-up.\n"
            "\n"
            "  --backend B              serial|cpu|cuda|auto (default auto)\n"
            "  --steps N                timed steps after the warm-up (default 200)\n"
            "  --warmup N               steps run before timing (default 20)\n"
            "  --batch N                rows per step (default 256)\n"
            "  --threads N, --tile N    as for train\n"
            "  --precision P            fp32|tf32|bf16, as for train (default fp32)\n"
            "  --grow P, --grow-every N, --grow-criterion C, --grow-threshold X,\n"
            "  --grow-ratio R, --max-groups N\n"
            "                           turn growth on, as for train\n"
            "  --lr X                   learning rate (default 0.01)\n"
            "  --optimizer O, --lr-schedule S and their options\n"
            "                           as for train (here --warmup is the untimed steps)\n"
            "  --seed N                 data and weight seed (default 1)\n"
            "  --save-init-weights F    write the initial weights (weights.h format)\n"
            "  --save-batch F           write the first batch: f32 x[batch][inputs], u8 y[batch]\n"
            "  --json                   one JSON object on stdout\n");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* FLOPs of one step: forward a W, the error through W for hidden sources,
 * the weight gradient, and ~4 per parameter for the update. */
static double step_flops(const struct gn_model *m, int32_t batch)
{
    double f = 0;
    for (int32_t e = 0; e < m->n_edges; e++) {
        const struct gn_edge *ed = &m->edges[e];
        double kn = (double)m->groups[ed->src].width * m->groups[ed->dst].width;
        f += 2.0 * batch * kn * (ed->src == GN_SLOT_INPUT ? 2 : 3);
    }
    return f + 4.0 * (double)m->n_params;
}

int gn_bench_run(const char *graph, struct gn_settings *s, const struct gn_bench_options *o,
                 int json, int graph_option_given)
{
    if (graph_option_given) {
        fprintf(stderr, "genet-rt bench: the graph is the positional argument, not --graph\n");
        return 2;
    }
    int32_t inputs, classes, gs, groups;
    if (gn_graph_peek(graph, &inputs, &classes, &gs, &groups)) {
        fprintf(stderr, "genet-rt bench: %s\n", gn_error_message());
        return 1;
    }
    s->group_size = gs;
    /* room for the graph; with growth and no --max-groups, room to double */
    if (s->max_groups < groups + 2) s->max_groups = groups + 2;
    if (s->grow != GN_GROW_OFF && !o->max_groups_given && s->max_groups < 2 * groups + 2)
        s->max_groups = 2 * groups + 2;
    s->steps += o->warmup;

    /* synthetic data: 8 batches, image-like (half the inputs exactly zero) */
    struct gn_data d = {s->batch * 8, inputs, classes, NULL, NULL};
    d.x = malloc((size_t)d.count * inputs * sizeof(float));
    d.y = malloc((size_t)d.count);
    if (!d.x || !d.y) {
        fprintf(stderr, "genet-rt bench: out of memory for the data\n");
        return 1;
    }
    for (int64_t i = 0; i < (int64_t)d.count * inputs; i++) {
        float u = gn_rng_uniform(s->seed, GN_RNG_TEST, 1, (uint64_t)i);
        d.x[i] = u < 0.5f ? 0.0f : u;
    }
    for (int32_t i = 0; i < d.count; i++)
        d.y[i] = (uint8_t)(gn_rng_u64(s->seed, GN_RNG_TEST, 2, (uint64_t)i) % (uint64_t)classes);

    gn_trainer *t;
    if (gn_trainer_open(&t, s, &d, NULL, graph)) {
        fprintf(stderr, "genet-rt bench: %s\n", gn_error_message());
        free(d.x);
        free(d.y);
        return 1;
    }
    int rc = 0;
    struct gn_data first = {s->batch, inputs, classes, d.x, d.y};
    double init_loss = 0, init_acc = 0;
    gn_trainer_evaluate(t, &first, &init_loss, &init_acc);
    const struct gn_model *m = gn_trainer_model(t);
    if (o->save_weights && gn_weights_write(o->save_weights, m)) {
        fprintf(stderr, "genet-rt bench: %s\n", gn_error_message());
        rc = 1;
    }
    if (o->save_batch) {
        FILE *f = fopen(o->save_batch, "wb");
        if (!f || fwrite(d.x, sizeof(float), (size_t)s->batch * inputs, f) != (size_t)s->batch * inputs ||
            fwrite(d.y, 1, (size_t)s->batch, f) != (size_t)s->batch || fclose(f) != 0) {
            fprintf(stderr, "genet-rt bench: cannot write %s\n", o->save_batch);
            rc = 1;
        }
    }
    const double flops = step_flops(m, s->batch);
    const int32_t g0 = m->n_groups - 2, e0 = m->n_edges;
    const int32_t depth = m->depth;
    if (!rc && gn_trainer_run(t, NULL, NULL)) {
        fprintf(stderr, "genet-rt bench: %s\n", gn_error_message());
        rc = 1;
    }
    if (!rc) {
        struct gn_progress p;
        gn_trainer_progress(t, &p);
        struct gn_counters c;
        gn_trainer_counters(t, &c);
        const double *loss_log;
        const int64_t *time_log;
        int64_t log_len = gn_trainer_step_log(t, &loss_log, &time_log);
        int64_t n = p.step < log_len ? p.step : log_len;
        int64_t w = o->warmup < n - 1 ? o->warmup : 0;
        int64_t cnt = n - w - 1;
        if (cnt < 1) cnt = 1;
        int64_t *dt = malloc((size_t)cnt * sizeof(int64_t));
        int64_t k = 0;
        for (int64_t i = w + 1; i < n && k < cnt; i++) dt[k++] = time_log[i] - time_log[i - 1];
        if (k == 0) dt[k++] = time_log[0];
        qsort(dt, (size_t)k, sizeof *dt, cmp_i64);
        double med = (double)dt[k / 2] * 1e-6;
        double mean = (double)(time_log[n - 1] - time_log[w]) * 1e-6 / (double)(n - 1 - w > 0 ? n - 1 - w : 1);
        free(dt);
        double final_loss = loss_log[n - 1];
        struct gn_profile prof;
        gn_trainer_profile(t, &prof);
        /* the workers' time by phase, per step and worker (whole run) */
        char pj[2048] = "";
        if (prof.phases > 0 && prof.workers > 0) {
            size_t at = (size_t)snprintf(pj, sizeof pj, ", \"worker_us_per_step\": {\"workers\": %d",
                                         prof.workers);
            for (int32_t i = 0; i < prof.phases && at < sizeof pj; i++)
                at += (size_t)snprintf(pj + at, sizeof pj - at, ", \"%s\": %.3f", prof.name[i],
                                       prof.ns[i] * 1e-3 / prof.workers / (double)p.step);
            if (at < sizeof pj) snprintf(pj + at, sizeof pj - at, "}");
        }
        if (json)
            printf("{\"graph\": \"%s\", \"backend\": \"%s\", \"groups\": %d, \"edges\": %d, "
                   "\"depth\": %d, \"batch\": %d, \"precision\": \"%s\", \"steps\": %" PRId64 ", \"warmup\": %" PRId64
                   ", \"ms_per_step\": %.6f, \"ms_per_step_mean\": %.6f, "
                   "\"flops_per_step\": %.6e, \"tflops\": %.4f, \"initial_loss\": %.7f, "
                   "\"final_loss\": %.7f, \"groups_end\": %d, \"kernel_launches\": %" PRId64 ", "
                   "\"tasks_per_step\": %.1f, \"busy_ms_per_step\": {\"forward\": %.4f, "
                   "\"backward\": %.4f, \"update\": %.4f}, \"growth_ms_total\": %.4f, "
                   "\"growth_rounds\": %" PRId64 "%s, \"info\": \"%s\"}\n",
                   graph, gn_backend_name(gn_trainer_backend(t)), g0, e0, depth, s->batch,
                   gn_precision_name(s->precision), n - w, w, med, mean, flops, flops / (med * 1e-3) * 1e-12, init_loss, final_loss,
                   p.groups, p.kernel_launches, (double)c.tasks / (double)p.step,
                   (double)c.t_forward_ns * 1e-6 / (double)p.step,
                   (double)c.t_backward_ns * 1e-6 / (double)p.step,
                   (double)c.t_update_ns * 1e-6 / (double)p.step,
                   (double)c.t_growth_ns * 1e-6,
                   s->grow == GN_GROW_OFF ? (int64_t)0 : p.step / gn_settings_grow_every(s), pj,
                   gn_trainer_backend_reason(t));
        else
            printf("%s on %s (%s): %d groups, %d edges, depth %d, batch %d: %.4f ms/step (median of "
                   "%" PRId64 " after %" PRId64 " warm-up; mean %.4f), %.3g FLOP/step = %.3f "
                   "TFLOP/s, initial loss %.6f\n",
                   graph, gn_backend_name(gn_trainer_backend(t)), gn_precision_name(s->precision),
                   g0, e0, depth, s->batch, med, k, w, mean, flops, flops / (med * 1e-3) * 1e-12, init_loss);
        if (!json && prof.phases > 0 && prof.workers > 0) {
            printf("worker time per step (us, mean over %d workers):", prof.workers);
            for (int32_t i = 0; i < prof.phases; i++)
                printf(" %s %.2f", prof.name[i], prof.ns[i] * 1e-3 / prof.workers / (double)p.step);
            printf("\n");
        }
    }
    gn_trainer_close(t);
    free(d.x);
    free(d.y);
    return rc;
}
