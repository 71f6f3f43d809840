/*
 * Growth traces: a run with growth writes a trace whose records, replayed
 * from the start graph (new groups, new and moved edges), give exactly the
 * run's final network, slot by slot and edge by edge, with its gradient
 * statistics and marks; on serial and cpu; every N steps or only at growth;
 * with pruning (a record that pruned lists the removed slots and then the
 * whole renamed graph, which replaces the replayed one); and the open
 * errors (an unwritable path) are clear.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "genet/genet.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

static char *dir;
static struct gn_data train, test;

/* Blobs: 3 classes of 10 features around seeded means. */
static void write_csv(const char *path, int n, uint64_t seed)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "label");
    for (int k = 0; k < 10; k++) fprintf(f, ",f%d", k);
    fprintf(f, "\n");
    for (int i = 0; i < n; i++) {
        int c = (int)(gn_rng_u64(seed, GN_RNG_TEST, 1, (uint64_t)i) % 3);
        fprintf(f, "%d", c);
        for (int k = 0; k < 10; k++) {
            float mu = gn_rng_uniform(seed, GN_RNG_TEST, 2, (uint64_t)(c * 10 + k));
            float v = mu + 0.2f * gn_rng_normal(seed, GN_RNG_TEST, 3, (uint64_t)(i * 10 + k));
            fprintf(f, ",%.4f", v < 0 ? 0 : (v > 1 ? 1 : v));
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    dir = gn_test_tmpdir();
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/trace-train.csv", dir);
    snprintf(b, sizeof b, "%s/trace-test.csv", dir);
    write_csv(a, 600, gn_test_seed());
    write_csv(b, 200, gn_test_seed() + 1);
    if (gn_data_load(a, &train, &test) != GN_OK) {
        fprintf(stderr, "%s\n", gn_error_message());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gn_data_free(&train);
    gn_data_free(&test);
    gn_test_rmdir(dir);
    return 0;
}

static struct gn_settings growing(enum gn_backend b, const char *path, int32_t every)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = b;
    s.threads = 2;
    s.group_size = 8;
    s.batch = 32;
    s.epochs = 3;
    s.lr = 0.03f; /* higher rates kill every ReLU on some seeds: no gradient, no growth */
    s.grow = GN_GROW_ALTERNATE;
    s.grow_every = 7;
    s.grow_threshold = 0.0f; /* every unblocked group qualifies: growth is certain */
    s.max_groups = 14;       /* and the pool fills: refusals are traced too */
    s.trace_path = path;
    s.trace_every = every;
    return s;
}

/* What replaying a trace gives. */
struct replay {
    int32_t n_groups, n_edges;
    int32_t parent[64], born[64];
    int32_t src[1024], dst[1024]; /* -1: no edge in this slot */
    json_t *last_step;            /* the last step record (a reference) */
    int64_t records, steps_with_change, last_step_no;
    int64_t refused_events;
    int64_t pruned; /* slots listed in pruned_groups */
    int saw_end, saw_epoch;
};

static void replay_groups(struct replay *r, json_t *list)
{
    size_t i;
    json_t *g;
    json_array_foreach(list, i, g) {
        int32_t id = (int32_t)json_integer_value(json_object_get(g, "id"));
        assert_int_equal(id, r->n_groups); /* slots arrive in order, none skipped */
        assert_true(id < 64);
        r->parent[id] = (int32_t)json_integer_value(json_object_get(g, "parent"));
        r->born[id] = (int32_t)json_integer_value(json_object_get(g, "born"));
        if (r->parent[id] >= 0) assert_true(r->parent[id] < id);
        r->n_groups++;
    }
}

static void replay_edges(struct replay *r, json_t *list, int moved)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        int32_t id = (int32_t)json_integer_value(json_array_get(e, 0));
        assert_true(id >= 0 && id < 1024);
        assert_int_equal(r->src[id] >= 0, moved); /* moved edges are known, new ones are not */
        r->src[id] = (int32_t)json_integer_value(json_array_get(e, 1));
        r->dst[id] = (int32_t)json_integer_value(json_array_get(e, 2));
        assert_true(r->src[id] < r->n_groups && r->dst[id] < r->n_groups);
        if (id >= r->n_edges) r->n_edges = id + 1;
    }
}

static json_t *read_trace(const char *path, struct replay *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 1024; i++) r->src[i] = r->dst[i] = -1;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *all = json_array();
    char line[1 << 16];
    int64_t prev_step = -1;
    while (fgets(line, sizeof line, f)) {
        assert_non_null(strchr(line, '\n')); /* no line longer than the buffer here */
        json_error_t err;
        json_t *rec = json_loads(line, 0, &err);
        if (!rec) fail_msg("%s:%d: %s", path, err.line, err.text);
        json_array_append_new(all, rec);
        const char *type = json_string_value(json_object_get(rec, "type"));
        assert_non_null(type);
        if (r->records++ == 0) {
            assert_string_equal(type, "start");
            assert_string_equal(json_string_value(json_object_get(rec, "format")), "genet-trace");
            assert_int_equal(json_integer_value(json_object_get(rec, "version")), 1);
            assert_string_equal(json_string_value(json_object_get(rec, "precision")), "fp32");
            assert_string_equal(json_string_value(json_object_get(rec, "grow_criterion")), "std");
            assert_non_null(json_object_get(rec, "grow_ratio"));
        }
        assert_false(r->saw_end); /* nothing after the end */
        if (!strcmp(type, "epoch")) {
            r->saw_epoch = 1;
            continue;
        }
        if (!strcmp(type, "end")) {
            r->saw_end = 1;
            continue;
        }
        int64_t step = json_integer_value(json_object_get(rec, "step"));
        if (!strcmp(type, "step")) {
            assert_true(step > prev_step);
            r->last_step = rec;
            r->last_step_no = step;
        }
        prev_step = step;
        json_t *pg = json_object_get(rec, "pruned_groups");
        if (pg) {
            /* the whole graph follows, renamed: start the replay afresh */
            assert_non_null(json_object_get(rec, "renamed"));
            r->pruned += (int64_t)json_array_size(pg);
            r->n_groups = r->n_edges = 0;
            for (int i = 0; i < 1024; i++) r->src[i] = r->dst[i] = -1;
        }
        assert_int_equal(json_integer_value(json_object_get(rec, "pruned")), r->pruned);
        json_t *ng = json_object_get(rec, "new_groups");
        if (ng) replay_groups(r, ng);
        replay_edges(r, json_object_get(rec, "new_edges"), 0);
        replay_edges(r, json_object_get(rec, "moved_edges"), 1);
        if (json_object_get(rec, "events") || ng) r->steps_with_change++;
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(rec, "events"), i, ev)
            r->refused_events += json_integer_value(json_object_get(ev, "child")) < 0;
        /* the counts match the replayed graph at every record */
        assert_int_equal(json_integer_value(json_object_get(rec, "hidden")), r->n_groups - 2);
        int32_t live = 0;
        for (int32_t e = 0; e < r->n_edges; e++) live += r->src[e] >= 0;
        assert_int_equal(json_integer_value(json_object_get(rec, "edges")), live);
        assert_int_equal(json_array_size(json_object_get(rec, "grad")), (size_t)r->n_groups);
    }
    fclose(f);
    return all;
}

/* The replayed network is the trainer's final one. */
static void check_replay(const struct replay *r, gn_trainer *t)
{
    const struct gn_model *m = gn_trainer_model(t);
    struct gn_progress p;
    gn_trainer_progress(t, &p);
    assert_true(r->saw_end);
    assert_int_equal(r->n_groups, m->n_groups);
    assert_int_equal(r->last_step_no, p.step);
    for (int32_t g = 0; g < m->n_groups; g++) {
        assert_int_equal(r->parent[g], m->groups[g].parent);
        assert_int_equal(r->born[g], m->groups[g].born);
    }
    for (int32_t e = 0; e < m->n_edges; e++) {
        if (m->edges[e].src < 0) continue;
        assert_int_equal(r->src[e], m->edges[e].src);
        assert_int_equal(r->dst[e], m->edges[e].dst);
    }
    for (int32_t e = m->n_edges; e < r->n_edges; e++) assert_int_equal(r->src[e], -1);
    json_t *grad = json_object_get(r->last_step, "grad");
    for (int32_t g = 1; g < m->n_groups; g++) {
        double want = m->groups[g].grad_std, got = json_number_value(json_array_get(grad, (size_t)g));
        assert_true(fabs(got - want) <= 1e-3 * fabs(want) + 1e-12);
    }
    json_t *marked = json_object_get(r->last_step, "marked");
    int32_t n_marked = 0;
    for (int32_t g = 0; g < m->n_groups; g++) n_marked += (m->groups[g].flags & GN_GROUP_MARKED) != 0;
    assert_int_equal(json_array_size(marked), (size_t)n_marked);
    size_t i;
    json_t *v;
    json_array_foreach(marked, i, v)
        assert_true(m->groups[json_integer_value(v)].flags & GN_GROUP_MARKED);
}

static void run_and_check(enum gn_backend b, int32_t every)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run-%d-%d.jsonl", dir, (int)b, every);
    struct gn_settings s = growing(b, path, every);
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct replay r;
    json_t *all = read_trace(path, &r);
    print_message("%s, every %d: %lld records, %d groups, %lld changes, %lld refusals traced\n",
                  gn_backend_name(b), every, (long long)r.records, r.n_groups,
                  (long long)r.steps_with_change, (long long)r.refused_events);
    check_replay(&r, t);
    assert_true(r.n_groups > 3); /* it grew */
    assert_true(r.refused_events > 0);
    assert_true(r.saw_epoch);
    /* records: the start, every N steps, every growth round, epochs, the end */
    struct gn_progress p;
    gn_trainer_progress(t, &p);
    int64_t steps = p.step, expect_min = every ? steps / every : r.steps_with_change;
    int64_t step_records = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec) {
        if (strcmp(json_string_value(json_object_get(rec, "type")), "step")) continue;
        step_records++;
        int64_t st = json_integer_value(json_object_get(rec, "step"));
        int changed = json_object_get(rec, "events") || json_object_get(rec, "new_groups");
        if (every == 0 && st != steps) assert_true(changed); /* only growth, and the last step */
        if (every > 0 && st != steps && !changed) assert_int_equal(st % every, 0);
    }
    assert_true(step_records >= expect_min);
    json_decref(all);
    gn_trainer_close(t);
}

static void test_serial_every_5(void **state)
{
    (void)state;
    run_and_check(GN_BACKEND_SERIAL, 5);
}

static void test_serial_growth_only(void **state)
{
    (void)state;
    run_and_check(GN_BACKEND_SERIAL, 0);
}

static void test_cpu_every_3(void **state)
{
    (void)state;
    run_and_check(GN_BACKEND_CPU, 3);
}

/* Pruning in the trace, on both host backends. */
static void prune_and_check(enum gn_backend b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/prune-%d.jsonl", dir, (int)b);
    struct gn_settings s = growing(b, path, 0);
    s.max_groups = 24;
    s.prune_threshold = 5.0f;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct replay r;
    json_t *all = read_trace(path, &r);
    struct gn_progress p;
    gn_trainer_progress(t, &p);
    print_message("%s: %lld pruned (%lld in the trace), %d groups\n", gn_backend_name(b),
                  (long long)p.pruned, (long long)r.pruned, r.n_groups);
    assert_true(p.pruned > 0);
    assert_int_equal(r.pruned, p.pruned);
    check_replay(&r, t);
    json_decref(all);
    gn_trainer_close(t);
}

static void test_prune(void **state)
{
    (void)state;
    prune_and_check(GN_BACKEND_SERIAL);
    prune_and_check(GN_BACKEND_CPU);
}

static void test_open_errors(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/no-such-dir/run.jsonl", dir);
    struct gn_settings s = growing(GN_BACKEND_SERIAL, path, 5);
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_ERR_IO);
    assert_non_null(strstr(gn_error_message(), "no-such-dir/run.jsonl"));
    s = growing(GN_BACKEND_SERIAL, "", 5);
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_ERR_INVALID);
    s = growing(GN_BACKEND_SERIAL, path, -1);
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "--trace-every"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_every_5),
        cmocka_unit_test(test_serial_growth_only),
        cmocka_unit_test(test_cpu_every_3),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
