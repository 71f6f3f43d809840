/*
 * The cpu executor (sched_cpu.c) and genet-stress.
 *
 * Every stress shape, small, on fresh random DAGs each run (GN_TEST_SEED
 * replays one), through the library with 8 workers (more than the cores),
 * for several passes on one persistent pool: every task runs exactly once
 * per pass, and starts after each of its predecessors finished (stamps from
 * one atomic clock). Each task also computes, in plain memory, 1 + the
 * largest value of its predecessors: a data flow ordered only by the
 * scheduler's release/acquire chain, so ThreadSanitizer (the tsan build)
 * reports any missing edge, and the values are checked after the pass.
 * `grown` changes the graph between passes until its
 * pool refuses. Then the main thread waiting instead of working, one
 * worker, an empty DAG, and the faults: a counter that never reaches zero
 * ends in a bounded "stuck" error, a counter released below zero in an
 * invariant error, and the pool runs the next pass normally after either.
 * Last, the genet-stress binary (GN_STRESS_BIN): every shape with --json
 * must report zero violations; --help, --backend cuda and a bad option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "error.h"
#include "sched_cpu.h"
#include "stress_dag.h"
#include "testutil.h"

struct check {
    gn_atomic_u64 clock;
    gn_atomic_u32 bad_worker;
    int workers;
    gn_atomic_u32 *runs;
    gn_atomic_u64 *start, *finish;
    uint32_t *value; /* plain: written by the task, read by its successors */
    uint32_t *pred_begin, *pred; /* the DAG's transpose */
};

static void check_task(void *ctx, uint32_t task, int worker)
{
    struct check *c = ctx;
    uint64_t t0 = gn_atomic_fetch_add_relaxed_u64(&c->clock, 1);
    gn_atomic_store_relaxed_u64(&c->start[task], t0 + 1);
    gn_atomic_fetch_add_relaxed_u32(&c->runs[task], 1);
    uint32_t v = 0;
    for (uint32_t k = c->pred_begin[task]; k < c->pred_begin[task + 1]; k++) {
        if (c->value[c->pred[k]] > v)
            v = c->value[c->pred[k]];
    }
    c->value[task] = v + 1;
    if (worker < 0 || worker >= c->workers)
        gn_atomic_store_relaxed_u32(&c->bad_worker, 1);
    uint64_t t1 = gn_atomic_fetch_add_relaxed_u64(&c->clock, 1);
    gn_atomic_store_relaxed_u64(&c->finish[task], t1 + 1);
}

static struct check *check_new(uint32_t max_tasks, int workers)
{
    struct check *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->workers = workers;
    c->runs = calloc(max_tasks + 1, sizeof *c->runs);
    c->start = calloc(max_tasks + 1, sizeof *c->start);
    c->finish = calloc(max_tasks + 1, sizeof *c->finish);
    c->value = calloc(max_tasks + 1, sizeof *c->value);
    assert_true(c->runs && c->start && c->finish && c->value);
    return c;
}

/* The transpose of d, for the tasks to read their predecessors. */
static void check_index(struct check *c, const struct gn_dag *d)
{
    uint32_t n = d->n_tasks;
    free(c->pred_begin);
    free(c->pred);
    c->pred_begin = calloc((size_t)n + 2, sizeof *c->pred_begin);
    c->pred = calloc((size_t)d->n_edges + 1, sizeof *c->pred);
    assert_true(c->pred_begin && c->pred);
    for (uint32_t k = 0; k < d->n_edges; k++)
        c->pred_begin[d->succ[k] + 2]++;
    for (uint32_t i = 0; i < n; i++)
        c->pred_begin[i + 2] += c->pred_begin[i + 1];
    for (uint32_t u = 0; u < n; u++) {
        for (uint32_t k = d->succ_begin[u]; k < d->succ_begin[u + 1]; k++)
            c->pred[c->pred_begin[d->succ[k] + 1]++] = u;
    }
}

static void check_free(struct check *c)
{
    free((void *)c->runs);
    free((void *)c->start);
    free((void *)c->finish);
    free(c->value);
    free(c->pred_begin);
    free(c->pred);
    free(c);
}

/* One pass, then every check. */
static void run_checked(gn_sched *s, struct gn_dag *d, struct check *c, const char *what)
{
    uint32_t n = d->n_tasks;
    check_index(c, d);
    memset(c->value, 0, (size_t)n * sizeof *c->value);
    memset((void *)c->runs, 0, (size_t)n * sizeof *c->runs);
    memset((void *)c->start, 0, (size_t)n * sizeof *c->start);
    memset((void *)c->finish, 0, (size_t)n * sizeof *c->finish);
    enum gn_status st = gn_sched_run_pass(s, d, check_task, c);
    if (st != GN_OK)
        fail_msg("%s: %s: %s", what, gn_status_str(st), gn_error_message());
    struct gn_sched_stats ss;
    gn_sched_last_stats(s, &ss);
    assert_int_equal(ss.tasks, n);
    /* the roots are the pass's first tickets, never pushed (queue.h) */
    assert_int_equal(ss.pushed + ss.continued + d->n_roots, n);
    assert_int_equal(ss.workers, (uint32_t)gn_sched_workers(s));
    assert_true(n == 0 || ss.high_water >= 1);
    assert_int_equal(gn_atomic_load_relaxed_u32(&c->bad_worker), 0);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = gn_atomic_load_relaxed_u32(&c->runs[i]);
        if (r != 1 && bad++ < 5)
            print_error("%s: task %u ran %u times\n", what, i, r);
    }
    for (uint32_t v = 0; v < n; v++) {
        uint32_t want = 0;
        for (uint32_t k = c->pred_begin[v]; k < c->pred_begin[v + 1]; k++)
            want = c->value[c->pred[k]] > want ? c->value[c->pred[k]] : want;
        if (c->value[v] != want + 1 && bad++ < 5)
            print_error("%s: task %u computed %u, its predecessors say %u\n", what, v,
                        c->value[v], want + 1);
    }
    for (uint32_t u = 0; u < n; u++) {
        uint64_t fu = gn_atomic_load_relaxed_u64(&c->finish[u]);
        for (uint32_t k = d->succ_begin[u]; k < d->succ_begin[u + 1]; k++) {
            uint64_t sv = gn_atomic_load_relaxed_u64(&c->start[d->succ[k]]);
            if (sv <= fu && bad++ < 5)
                print_error("%s: task %u started at %llu before predecessor %u finished at %llu\n",
                            what, d->succ[k], (unsigned long long)sv, u,
                            (unsigned long long)fu);
        }
    }
    assert_int_equal(bad, 0);
}

static gn_sched *sched_new_held(int threads, int main_works, uint64_t spin_limit, int hold,
                                int tickets)
{
    struct gn_sched_settings ss;
    gn_sched_default_settings(&ss);
    ss.threads = threads;
    ss.main_works = main_works;
    ss.hold = hold;
    ss.tickets = tickets;
    if (spin_limit)
        ss.spin_limit = spin_limit;
    gn_sched *s = NULL;
    assert_int_equal(gn_sched_create(&s, &ss), GN_OK);
    assert_int_equal(gn_sched_workers(s), threads);
    return s;
}

static gn_sched *sched_new(int threads, int main_works, uint64_t spin_limit)
{
    return sched_new_held(threads, main_works, spin_limit, 1, 0);
}

static void test_sched_create_errors(void **state)
{
    (void)state;
    struct gn_sched_settings ss;
    gn_sched *s = NULL;
    gn_sched_default_settings(&ss);
    ss.threads = -1;
    assert_int_equal(gn_sched_create(&s, &ss), GN_ERR_INVALID);
    ss.threads = 100000;
    assert_int_equal(gn_sched_create(&s, &ss), GN_ERR_INVALID);
    assert_int_equal(gn_sched_create(NULL, &ss), GN_ERR_INVALID);
    assert_int_equal(gn_sched_create(&s, NULL), GN_ERR_INVALID);
    assert_null(s);
    ss.threads = 2;
    ss.hold = (int32_t)GN_DAG_HOLD_MAX + 1;
    assert_int_equal(gn_sched_create(&s, &ss), GN_ERR_INVALID);
    assert_null(s);
    ss.hold = 1;
    ss.tickets = -1;
    assert_int_equal(gn_sched_create(&s, &ss), GN_ERR_INVALID);
    assert_null(s);
    ss.tickets = 0;
    ss.threads = 0; /* the cores online */
    assert_int_equal(gn_sched_create(&s, &ss), GN_OK);
    assert_true(gn_sched_workers(s) >= 1);
    assert_int_equal(gn_sched_run_pass(s, NULL, check_task, NULL), GN_ERR_INVALID);
    gn_sched_destroy(s);
    gn_sched_destroy(NULL);
}

static void run_shape_held(enum gn_stress_shape shape, int threads, int main_works, int passes,
                           int hold, int tickets)
{
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.shape = shape;
    p.tasks = 3000;
    p.width = 12;
    p.fanin = 3;
    p.seed = gn_test_seed() + (uint64_t)shape;
    const uint32_t pool = 400;
    int grown = shape == GN_STRESS_GROWN;
    struct gn_stress_graph g;
    struct gn_stress_grower gr;
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    memset(&gr, 0, sizeof gr);
    assert_int_equal(gn_stress_generate(&g, &p, grown ? 8 * pool : 0), GN_OK);
    assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
    assert_int_equal(gn_dag_check_acyclic(&d), GN_OK);
    assert_int_equal(d.n_tasks, p.tasks);
    if (grown)
        assert_int_equal(gn_stress_grow_init(&gr, &g, pool), GN_OK);
    gn_sched *s = sched_new_held(threads, main_works, 0, hold, tickets);
    struct check *c = check_new(p.tasks + pool, threads);
    for (int pass = 1; pass <= passes; pass++) {
        if (grown && pass > 1) {
            assert_int_equal(gn_stress_grow(&gr, &g, 300, p.seed, (uint32_t)pass), GN_OK);
            assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
        }
        run_checked(s, &d, c, gn_stress_shape_name(shape));
    }
    if (grown) {
        /* 300, 300, 300 tried against a pool of 400: 400 made, 500 refused */
        assert_int_equal(d.n_tasks, p.tasks + pool);
        assert_int_equal(gn_pool_used(&gr.tasks), p.tasks + pool);
        assert_int_equal(gr.copies + gr.splits, pool);
        assert_int_equal(gr.refused, 300 * (uint64_t)(passes - 1) - pool);
        assert_int_equal(gn_pool_refusals(&gr.tasks) + gn_pool_refusals(&gr.edges), gr.refused);
    }
    gn_sched_destroy(s);
    check_free(c);
    gn_stress_grow_free(&gr);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

static void run_shape(enum gn_stress_shape shape, int threads, int main_works, int passes)
{
    run_shape_held(shape, threads, main_works, passes, 1, 0);
}

static void test_sched_every_shape(void **state)
{
    (void)state;
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++)
        run_shape((enum gn_stress_shape)i, 8, 1, 4);
}

/* The batched protocol (dag.h, gn_dag_take_held): tickets reserved and
 * finished tasks released in batches of 2 to 8, together or apart, every
 * shape, the same checks (exactly once, after every predecessor, the data
 * flow). */
static void test_sched_held(void **state)
{
    (void)state;
    static const int holds[][2] = {{2, 0}, {3, 0}, {8, 0}, {1, 4}, {4, 1}, {2, 8}};
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++)
        run_shape_held((enum gn_stress_shape)i, 8, 1, 3, holds[i % 6][0], holds[i % 6][1]);
    run_shape_held(GN_STRESS_LAYERED, 3, 0, 2, 4, 0);
    run_shape_held(GN_STRESS_RANDOM, 3, 0, 2, 1, 8);
    run_shape_held(GN_STRESS_CHAIN, 1, 1, 2, 8, 0);
}

static void test_sched_main_waits(void **state)
{
    (void)state;
    run_shape(GN_STRESS_LAYERED, 3, 0, 3);
    run_shape(GN_STRESS_DIAMOND, 3, 0, 3);
}

static void test_sched_one_worker(void **state)
{
    (void)state;
    run_shape(GN_STRESS_RANDOM, 1, 1, 2);
    run_shape(GN_STRESS_TREE, 1, 0, 2);
}

static void test_sched_empty(void **state)
{
    (void)state;
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 0, 0, NULL, NULL), GN_OK);
    gn_sched *s = sched_new(4, 1, 0);
    struct check *c = check_new(1, 4);
    run_checked(s, &d, c, "empty");
    run_checked(s, &d, c, "empty");
    gn_sched_destroy(s);
    check_free(c);
    gn_dag_free(&d);
}

/* A layered DAG and a task with predecessors, for the fault tests. */
static uint32_t fault_setup(struct gn_stress_graph *g, struct gn_dag *d)
{
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.tasks = 2000;
    p.width = 20;
    p.seed = gn_test_seed();
    memset(d, 0, sizeof *d);
    assert_int_equal(gn_stress_generate(g, &p, 0), GN_OK);
    assert_int_equal(gn_stress_graph_to_dag(g, d), GN_OK);
    return 1000;
}

static void test_sched_stuck_is_bounded(void **state)
{
    (void)state;
    struct gn_stress_graph g;
    struct gn_dag d;
    uint32_t v = fault_setup(&g, &d);
    gn_sched *s = sched_new(8, 1, 20000);
    struct check *c = check_new(d.n_tasks, 8);
    /* v waits for one predecessor too many: it never becomes ready */
    d.indeg_init[v]++;
    gn_dag_arm_all(&d);
    check_index(c, &d);
    enum gn_status st = gn_sched_run_pass(s, &d, check_task, c);
    assert_int_equal(st, GN_ERR_DEVICE);
    assert_non_null(strstr(gn_error_message(), "scheduler stuck"));
    d.indeg_init[v]--;
    gn_dag_arm_all(&d);
    /* the recovery pass under the default limit: 20000 spins is 1-2 s
     * without a task finishing, which 8 workers on 2 loaded cores under
     * ThreadSanitizer once went (CI, a false "scheduler stuck") */
    gn_sched_set_spin_limit(s, 0);
    run_checked(s, &d, c, "after stuck");
    gn_sched_destroy(s);
    check_free(c);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

static void test_sched_underflow_is_caught(void **state)
{
    (void)state;
    struct gn_stress_graph g;
    struct gn_dag d;
    uint32_t v = fault_setup(&g, &d);
    /* the default spin limit: the underflow is caught by the invariant, not
     * by a wait; under the stuck test's 20000 spins, 8 workers on 2 loaded
     * cores under ThreadSanitizer once timed out first (CI) */
    gn_sched *s = sched_new(8, 1, 0);
    struct check *c = check_new(d.n_tasks, 8);
    /* v claims no predecessors: pushed as a root, then released below zero */
    uint32_t keep = d.indeg_init[v];
    assert_true(keep > 0);
    d.indeg_init[v] = 0;
    gn_dag_arm_all(&d);
    check_index(c, &d);
    enum gn_status st = gn_sched_run_pass(s, &d, check_task, c);
    assert_int_equal(st, GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "invariant broken"));
    d.indeg_init[v] = keep;
    gn_dag_arm_all(&d);
    run_checked(s, &d, c, "after underflow");
    gn_sched_destroy(s);
    check_free(c);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

/* Run genet-stress with args; its stdout in out (at most n bytes), its exit status back. */
static int run_stress(const char *args, char *out, size_t n)
{
    const char *bin = getenv("GN_STRESS_BIN");
    if (!bin)
        fail_msg("GN_STRESS_BIN is not set (run through meson test)");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s", bin, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    int status = pclose(f);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_stress_binary_shapes(void **state)
{
    (void)state;
    static char out[1 << 16];
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++) {
        const char *name = gn_stress_shape_name((enum gn_stress_shape)i);
        char args[256];
        snprintf(args, sizeof args,
                 "--shape %s --tasks 4000 --width 16 --threads 4 --passes 3 --seed %llu --json",
                 name, (unsigned long long)gn_test_seed());
        int rc = run_stress(args, out, sizeof out);
        json_error_t err;
        json_t *j = json_loads(out, 0, &err);
        if (!j)
            fail_msg("%s: not JSON (%s): %s", name, err.text, out);
        assert_int_equal(rc, 0);
        assert_string_equal(json_string_value(json_object_get(j, "shape")), name);
        assert_int_equal(json_integer_value(json_object_get(j, "violations")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "passes")), 3);
        assert_true(json_real_value(json_object_get(j, "tasks_per_s")) > 0);
        json_int_t tasks = json_integer_value(json_object_get(j, "tasks"));
        json_int_t ran = json_integer_value(json_object_get(j, "tasks_run"));
        if (i == GN_STRESS_GROWN) {
            json_t *g = json_object_get(j, "grow");
            assert_non_null(g);
            /* pool 500, 500 tried per pass: full after the second pass, then refused */
            assert_int_equal(tasks, 4500);
            assert_int_equal(json_integer_value(json_object_get(g, "pool_used")), 500);
            assert_int_equal(json_integer_value(json_object_get(g, "refused")), 500);
            assert_int_equal(ran, 4000 + 4500 + 4500);
        } else {
            assert_int_equal(tasks, 4000);
            assert_int_equal(ran, 3 * 4000);
        }
        if (i == GN_STRESS_CHAIN)
            assert_true(json_real_value(json_object_get(j, "hop_ns")) > 0);
        json_decref(j);
    }
}

static void test_stress_binary_cli(void **state)
{
    (void)state;
    static char out[1 << 16];
    assert_int_equal(run_stress("--help", out, sizeof out), 0);
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++)
        assert_non_null(strstr(out, gn_stress_shape_name((enum gn_stress_shape)i)));
    assert_non_null(strstr(out, "--json"));
    /* cuda: runs where a GPU exists; elsewhere a clear refusal, never a crash */
    int rc = run_stress("--backend cuda --tasks 10 2>&1", out, sizeof out);
    if (rc != 0) {
        assert_int_equal(rc, 1);
        assert_non_null(strstr(out, "--backend cuda"));
    } else {
        assert_non_null(strstr(out, "violations: 0"));
    }
    assert_int_equal(run_stress("--shape nope 2>&1", out, sizeof out), 2);
    assert_non_null(strstr(out, "--shape 'nope'"));
    assert_int_equal(run_stress("--tasks 0 2>&1", out, sizeof out), 2);
    assert_int_equal(run_stress("--work spin:500 --tasks 200 --threads 2 2>&1", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "violations: 0"));
    assert_int_equal(run_stress("--work math --shape chain --tasks 300 --threads 2 2>&1", out,
                                sizeof out),
                     0);
    assert_non_null(strstr(out, "per dependent hop"));
    /* --hold, --tickets: the batched protocol, checked as any run; out of
     * range refused; --blocks-per-sm is the cuda backend's */
    static const char *const batched[][2] = {
        {"--shape random --tasks 3000 --threads 4 --hold 4 --json 2>&1", "\"hold\":4"},
        {"--shape layered --tasks 3000 --threads 4 --tickets 3 --json 2>&1", "\"tickets\":3"},
    };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_stress(batched[i][0], out, sizeof out), 0);
        assert_non_null(strstr(out, batched[i][1]));
        assert_non_null(strstr(out, "\"violations\":0"));
    }
    assert_int_equal(run_stress("--hold 9 2>&1", out, sizeof out), 2);
    assert_non_null(strstr(out, "--hold '9'"));
    assert_int_equal(run_stress("--blocks-per-sm 1 2>&1", out, sizeof out), 2);
    assert_non_null(strstr(out, "--blocks-per-sm is for --backend cuda"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched_create_errors),
        cmocka_unit_test(test_sched_every_shape),
        cmocka_unit_test(test_sched_held),
        cmocka_unit_test(test_sched_main_waits),
        cmocka_unit_test(test_sched_one_worker),
        cmocka_unit_test(test_sched_empty),
        cmocka_unit_test(test_sched_stuck_is_bounded),
        cmocka_unit_test(test_sched_underflow_is_caught),
        cmocka_unit_test(test_stress_binary_shapes),
        cmocka_unit_test(test_stress_binary_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
