/*
 * The backend interface (backend.h) and the run plan (plan.h):
 *  - a backend whose open fails after it started work is still closed:
 *    the cpu backend's open failing after its workers started (a plan whose
 *    workers disagree with its threads), then its close, leaves no thread
 *    behind; through the trainer, a table whose open fails after the cpu
 *    backend opened is closed once, and again no thread is left (the ASan
 *    build checks that nothing leaks);
 *  - every backend's close takes NULL (an open that failed before
 *    allocating);
 *  - the plan's one tile rule: cuda (--tile or 32, at most the batch and
 *    64), cpu (two tiles per worker, at least 8 rows), serial (one tile);
 *  - the default length's rule (gn_plan_epochs): 10 epochs, at least 500
 *    steps on a small training set; given epochs, steps and batch win; the
 *    Fashion-MNIST default run (60000 examples) is planned exactly as
 *    before the rule; the trainer reports the length from open on;
 *  - the one minibatch rule (gn_plan_batch_rows): every example once an
 *    epoch, the last minibatch short;
 *  - gn_backend_probe answers for every backend, with a reason.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backend.h"
#include "error.h"
#include "genet/genet.h"
#include "gn_config.h"
#include "model.h"
#include "plan.h"
#include "rng.h"
#include "taskgraph.h"
#include "testutil.h"
#include "trainer.h"

/* Threads of this process now (/proc/self/task). */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* A joined thread can linger in /proc for a moment after pthread_join
 * returns: wait up to a second for the count to come down to want. */
static int threads_settle(int want)
{
    int n = count_threads();
    for (int i = 0; i < 100 && n > want; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        n = count_threads();
    }
    return n;
}

static void *idle(void *arg)
{
    return arg;
}

/* The thread count with no worker running, after one thread came and went:
 * a sanitizer's helper thread (ThreadSanitizer starts one at the first
 * pthread_create) is then already counted. The joined thread may linger a
 * moment; a count one above the start's that stays is the helper. */
static int baseline_threads(void)
{
    int n0 = count_threads();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, idle, NULL), 0);
    pthread_join(th, NULL);
    int n = threads_settle(n0);
    assert_true(n <= n0 + 1);
    return n;
}

static struct gn_data make_data(int32_t count, int32_t features, int32_t classes, uint64_t seed)
{
    struct gn_data d = {count, features, classes, NULL, NULL};
    d.x = malloc((size_t)count * features * sizeof(float));
    d.y = malloc((size_t)count);
    assert_non_null(d.x);
    assert_non_null(d.y);
    for (int32_t i = 0; i < count; i++) {
        d.y[i] = (uint8_t)(gn_rng_u64(seed, GN_RNG_TEST, 1, (uint64_t)i) % (uint64_t)classes);
        for (int32_t k = 0; k < features; k++)
            d.x[(int64_t)i * features + k] =
                gn_rng_uniform(seed, GN_RNG_TEST, 2, (uint64_t)i * features + k);
    }
    return d;
}

static struct gn_settings small(enum gn_backend b)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = b;
    s.group_size = 8;
    s.batch = 32;
    s.epochs = 1;
    s.threads = 3;
    return s;
}

static void test_cpu_open_fails_after_start(void **state)
{
    (void)state;
    struct gn_data d = make_data(100, 12, 4, 1);
    struct gn_settings s = small(GN_BACKEND_CPU);
    struct gn_plan plan;
    gn_plan_make(&plan, &s, GN_BACKEND_CPU, &d, NULL);
    assert_int_equal(plan.workers, 3);
    plan.workers = 2; /* the scheduler will start 3: open refuses after starting them */

    struct gn_model m;
    struct gn_buffers buf;
    assert_int_equal(gn_model_init(&m, plan.inputs, plan.classes, plan.group_size,
                                   plan.max_groups, plan.max_edges, plan.max_params),
                     GN_OK);
    assert_int_equal(gn_model_build_default(&m), GN_OK);
    assert_int_equal(gn_buffers_init(&buf, &m, plan.batch), GN_OK);
    struct gn_counters c = {0};
    struct gn_grow_log events = {0};
    int64_t round = 0;
    struct gn_backend_io io = {.plan = &plan, .m = &m, .buf = &buf, .c = &c, .events = &events,
                               .grow_round = &round};

    int before = baseline_threads();
    void *ctx = NULL;
    char about[128] = "";
    assert_int_equal(gn_backend_cpu.open(&ctx, &io, about, sizeof about), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "the plan assumed 2 workers"));
    assert_non_null(ctx);                          /* a partial context, for close */
    assert_int_equal(count_threads(), before + 2); /* the workers besides the caller */
    gn_backend_cpu.close(ctx);
    assert_int_equal(threads_settle(before), before);

    gn_buffers_free(&buf);
    gn_model_free(&m);
    gn_data_free(&d);
}

/* The cpu backend behind a table whose open fails once the real one
 * opened: what the trainer must close. */
static int closes;

static enum gn_status failing_open(void **ctx, struct gn_backend_io *io, char *about, size_t len)
{
    enum gn_status st = gn_backend_cpu.open(ctx, io, about, len);
    return st ? st : gn_fail(GN_ERR_INVALID, "planted: the open fails after the cpu backend's");
}

static void counting_close(void *ctx)
{
    closes++;
    gn_backend_cpu.close(ctx);
}

static void test_trainer_closes_failed_open(void **state)
{
    (void)state;
    struct gn_backend_ops failing = gn_backend_cpu;
    failing.name = "failing";
    failing.open = failing_open;
    failing.close = counting_close;
    struct gn_data d = make_data(100, 12, 4, 2);
    struct gn_settings s = small(GN_BACKEND_CPU);
    int before = baseline_threads();
    closes = 0;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open_with(&t, &s, &d, NULL, NULL, &failing), GN_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(gn_error_message(), "planted"));
    assert_int_equal(closes, 1);
    assert_int_equal(threads_settle(before), before);

    /* the same table without the failure trains, and is closed once */
    failing.open = gn_backend_cpu.open;
    closes = 0;
    assert_int_equal(gn_trainer_open_with(&t, &s, &d, NULL, NULL, &failing), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    assert_int_equal(closes, 1);
    assert_int_equal(threads_settle(before), before);
    gn_data_free(&d);
}

static void test_close_takes_null(void **state)
{
    (void)state;
    const enum gn_backend all[] = {GN_BACKEND_SERIAL, GN_BACKEND_CPU, GN_BACKEND_CUDA};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct gn_backend_ops *ops = gn_backend_ops_of(all[i]);
        if (ops) ops->close(NULL);
    }
}

/* The cuda backend's update parts (taskgraph.h): the least input rows of a
 * part on the benchmark graphs' shapes (hidden groups, worker blocks), and
 * the parts they give a group fed by the 784 inputs and the output. */
static void test_update_parts(void **state)
{
    (void)state;
    assert_int_equal(gn_task_part_rows(1024, 264), 128); /* layered */
    assert_int_equal(gn_task_part_rows(4096, 264), 128); /* many */
    assert_int_equal(gn_task_part_rows(1024, 132), 128); /* deep */
    assert_int_equal(gn_task_part_rows(64, 132), 64);    /* sweep-64-32 */
    assert_int_equal(gn_task_part_rows(1, 132), 64);     /* one group */
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 784, 10, 32, 8, 16, 1 << 20), GN_OK);
    assert_int_equal(gn_model_build_default(&m), GN_OK);
    const int32_t g = m.order[1];
    assert_int_not_equal(g, GN_SLOT_OUTPUT);
    int32_t rows = 0;
    /* 784 rows in at most 16 parts of at least min_rows */
    assert_int_equal(gn_task_parts_of(&m, g, 16, 64, &rows), 13);
    assert_int_equal(rows, 64);
    assert_int_equal(gn_task_parts_of(&m, g, 16, 128, &rows), 7);
    assert_int_equal(rows, 128);
    assert_int_equal(gn_task_parts_of(&m, g, 16, 16, &rows), 16);
    assert_int_equal(rows, 49);
    assert_int_equal(gn_task_parts_of(&m, g, 1, 64, &rows), 1);
    assert_int_equal(rows, 784);
    /* the output: its 32 input rows, one part */
    assert_int_equal(gn_task_parts_of(&m, GN_SLOT_OUTPUT, 16, 64, &rows), 1);
    gn_model_free(&m);
}

/* A model of n hidden groups (slots in order) and the edges e[i] = {src,
 * dst}: hidden group h as h, the input as -1, the output as -2. */
static void succ_model(struct gn_model *m, int32_t n, const int32_t (*e)[2], int32_t ne)
{
    assert_int_equal(gn_model_init(m, 8, 2, 4, n + 2, ne, 1 << 16), GN_OK);
    int32_t slot[16];
    for (int32_t h = 0; h < n; h++) assert_int_equal(gn_model_add_group(m, &slot[h]), GN_OK);
    for (int32_t i = 0; i < ne; i++) {
        const int32_t src = e[i][0] == -1 ? GN_SLOT_INPUT : slot[e[i][0]];
        const int32_t dst = e[i][1] == -2 ? GN_SLOT_OUTPUT : slot[e[i][1]];
        int32_t edge;
        assert_int_equal(gn_model_add_edge(m, src, dst, &edge), GN_OK);
    }
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
    for (int32_t h = 0; h < n; h++) assert_int_equal(m->groups[slot[h]].pos, h + 1);
}

/* The order of a task's successors (gn_task_succ): the one the task most
 * likely makes ready first, which the release keeps as the continuation
 * and the GPU worker reads ahead. */
static void test_succ_order(void **state)
{
    (void)state;
    struct gn_model m;
    struct gn_taskmap tm;
    uint32_t out[16];
    /* forward: A's targets C (whose last source is B) and D (fed by A
     * alone): D first, against the targets' position order */
    static const int32_t fwd[][2] = {{-1, 0}, {-1, 1}, {0, 2}, {1, 2}, {0, 3},
                                     {2, -2}, {3, -2}};
    succ_model(&m, 4, fwd, (int32_t)(sizeof fwd / sizeof fwd[0]));
    gn_taskmap_init(&tm, m.n_groups, 2, 4);
    assert_int_equal(gn_task_succ(&m, &tm, gn_task_forward(&tm, 1, 1), 0, out), 2);
    assert_int_equal(out[0], gn_task_forward(&tm, 4, 1));
    assert_int_equal(out[1], gn_task_forward(&tm, 3, 1));
    /* B's one target C, whose last source it is */
    assert_int_equal(gn_task_succ(&m, &tm, gn_task_forward(&tm, 2, 0), 0, out), 1);
    assert_int_equal(out[0], gn_task_forward(&tm, 3, 0));
    gn_model_free(&m);
    /* backward: E's sources A (whose one target is E) and C (whose first
     * target is D): A first, against nearest first; then the updates of
     * E and of its target (the output) */
    static const int32_t bwd[][2] = {{-1, 0}, {-1, 1}, {1, 2}, {2, 3}, {0, 4},
                                     {2, 4}, {3, -2}, {4, -2}};
    succ_model(&m, 5, bwd, (int32_t)(sizeof bwd / sizeof bwd[0]));
    gn_taskmap_init(&tm, m.n_groups, 2, 4);
    assert_int_equal(gn_task_succ(&m, &tm, gn_task_backward(&tm, 5, 0), 0, out), 4);
    assert_int_equal(out[0], gn_task_backward(&tm, 1, 0));
    assert_int_equal(out[1], gn_task_backward(&tm, 3, 0));
    assert_int_equal(out[2], gn_task_update(&tm, 5, 0));
    assert_int_equal(out[3], gn_task_update(&tm, 6, 0));
    /* D's source C, whose first target it is; then the updates */
    assert_int_equal(gn_task_succ(&m, &tm, gn_task_backward(&tm, 4, 1), 0, out), 3);
    assert_int_equal(out[0], gn_task_backward(&tm, 3, 1));
    assert_int_equal(out[1], gn_task_update(&tm, 4, 0));
    /* nearest first where both are first targets: the output's forward
     * lists the error's tasks of E, then D */
    assert_int_equal(gn_task_succ(&m, &tm, gn_task_forward(&tm, 6, 0), 0, out), 3);
    assert_int_equal(out[0], gn_task_backward(&tm, 5, 0));
    assert_int_equal(out[1], gn_task_backward(&tm, 4, 0));
    gn_model_free(&m);
}

/* A task DAG as CSR straight from gn_task_succ / gn_task_indeg under tm
 * (its cut array or none), and each task's reach: the tasks after it. */
struct red_dag {
    uint32_t n, *begin, *succ, *indeg;
    uint64_t *reach; /* n x words */
    uint32_t words;
};

static void red_build(struct red_dag *r, const struct gn_model *m, const struct gn_taskmap *tm)
{
    const uint32_t n = tm->total;
    r->n = n;
    r->words = (n + 63) / 64;
    r->begin = calloc(n + 1, sizeof *r->begin);
    r->indeg = calloc(n, sizeof *r->indeg);
    assert_non_null(r->begin);
    assert_non_null(r->indeg);
    uint32_t edges = 0;
    for (uint32_t i = 0; i < n; i++) edges += gn_task_succ(m, tm, i, 0, NULL);
    r->succ = calloc(edges + 1, sizeof *r->succ);
    assert_non_null(r->succ);
    uint32_t *count = calloc(n, sizeof *count);
    assert_non_null(count);
    for (uint32_t i = 0; i < n; i++) {
        r->begin[i + 1] = r->begin[i] + gn_task_succ(m, tm, i, 0, r->succ + r->begin[i]);
        r->indeg[i] = gn_task_indeg(m, tm, i);
    }
    assert_int_equal(r->begin[n], edges);
    for (uint32_t e = 0; e < edges; e++) count[r->succ[e]]++;
    for (uint32_t i = 0; i < n; i++) assert_int_equal(count[i], r->indeg[i]); /* both sides agree */
    /* the reach in reverse topological order (Kahn's, from the in-degrees) */
    uint32_t *topo = calloc(n, sizeof *topo), head = 0, tail = 0;
    assert_non_null(topo);
    for (uint32_t i = 0; i < n; i++)
        if (count[i] == 0) topo[tail++] = i;
    while (head < tail) {
        const uint32_t u = topo[head++];
        for (uint32_t e = r->begin[u]; e < r->begin[u + 1]; e++)
            if (--count[r->succ[e]] == 0) topo[tail++] = r->succ[e];
    }
    assert_int_equal(tail, n); /* acyclic, every task reached */
    r->reach = calloc((size_t)n * r->words, sizeof *r->reach);
    assert_non_null(r->reach);
    for (uint32_t k = n; k-- > 0;) {
        const uint32_t u = topo[k];
        uint64_t *ru = r->reach + (size_t)u * r->words;
        for (uint32_t e = r->begin[u]; e < r->begin[u + 1]; e++) {
            const uint32_t v = r->succ[e];
            const uint64_t *rv = r->reach + (size_t)v * r->words;
            for (uint32_t w = 0; w < r->words; w++) ru[w] |= rv[w];
            ru[v / 64] |= (uint64_t)1 << (v % 64);
        }
    }
    free(topo);
    free(count);
}

static int red_has(const struct red_dag *r, uint32_t u, uint32_t v)
{
    for (uint32_t e = r->begin[u]; e < r->begin[u + 1]; e++)
        if (r->succ[e] == v) return 1;
    return 0;
}

static int red_reaches(const struct red_dag *r, uint32_t u, uint32_t v)
{
    return (int)((r->reach[(size_t)u * r->words + v / 64] >> (v % 64)) & 1);
}

static void red_free(struct red_dag *r)
{
    free(r->begin);
    free(r->succ);
    free(r->indeg);
    free(r->reach);
}

/* A random DAG of `hidden` groups with no chain through them (unlike
 * gn_test_random_dag's): each reads 1-3 of the input and the `span` groups
 * before it; a group no one reads feeds the output. */
static void loose_dag(struct gn_model *m, uint64_t seed, int32_t hidden, int32_t span)
{
    int32_t *slot = calloc((size_t)hidden, sizeof *slot);
    uint8_t *read = calloc((size_t)hidden, 1);
    assert_non_null(slot);
    assert_non_null(read);
    for (int32_t i = 0; i < hidden; i++) assert_int_equal(gn_model_add_group(m, &slot[i]), GN_OK);
    for (int32_t i = 0; i < hidden; i++) {
        const int32_t lo = i > span ? i - span : 0;
        const int32_t fanin = 1 + (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 400, (uint64_t)i) % 3);
        int32_t got[3], ng = 0;
        for (int32_t k = 0; k < fanin; k++) {
            /* -1: the input; else a group in [lo, i) */
            const uint64_t r = gn_rng_u64(seed, GN_RNG_TEST, 500 + (uint64_t)i, (uint64_t)k);
            const int32_t c = (int32_t)(r % (uint64_t)(i - lo + 1)) + lo - 1;
            int dup = 0;
            for (int32_t q = 0; q < ng; q++) dup |= got[q] == c;
            if (dup) continue;
            got[ng++] = c;
            const int32_t src = c < lo ? GN_SLOT_INPUT : slot[c];
            assert_int_equal(gn_model_add_edge(m, src, slot[i], NULL), GN_OK);
            if (c >= lo) read[c] = 1;
        }
        if (ng == 0) assert_int_equal(gn_model_add_edge(m, GN_SLOT_INPUT, slot[i], NULL), GN_OK);
    }
    for (int32_t i = 0; i < hidden; i++)
        if (!read[i] || gn_rng_u64(seed, GN_RNG_TEST, 600, (uint64_t)i) % 4 == 0)
            assert_int_equal(gn_model_add_edge(m, slot[i], GN_SLOT_OUTPUT, NULL), GN_OK);
    free(slot);
    free(read);
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
}

/* The reduced task DAGs (taskgraph.h, gn_task_cut_group) on random graphs,
 * with one update part a group and with several: the same order as the
 * full DAG (every task reaches the same tasks), only edges of it, each
 * task's in-degree that of its lists; where every edge lies within the
 * window (up to 64 hidden groups), exactly the full DAG's transitive
 * reduction, and beyond it at least that. gn_taskgraph_build gives the
 * reduced DAG, with tm->cut cleared. */
static void test_reduce(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    static const int32_t hidden[] = {1, 2, 5, 12, 40, 63, 64, 65, 90, 160};
    for (size_t c = 0; c < sizeof hidden / sizeof hidden[0]; c++)
        for (int kind = 0; kind < 4; kind++) {
            /* kind bit 0: several update parts; bit 1: the loose graph */
            const int32_t H = hidden[c], split = kind & 1;
            struct gn_model m;
            assert_int_equal(gn_model_init(&m, 8, 3, 4, H + 2, 8 * H + 8, 1 << 20), GN_OK);
            if (kind & 2) loose_dag(&m, seed + (uint64_t)c, H, 3 + (int32_t)c * 4);
            else gn_test_random_dag(&m, seed + (uint64_t)c, H);
            const int32_t n = m.n_groups, tiles = 2 + (int32_t)(c % 2);
            struct gn_taskmap tm;
            gn_taskmap_init(&tm, n, tiles, 4);
            int32_t *base = calloc((size_t)n + 1, sizeof *base), *pos = NULL;
            assert_non_null(base);
            if (split) { /* 1-3 parts a group, as the cuda backend splits them */
                for (int32_t p = 1; p < n; p++)
                    base[p + 1] = base[p] + 1 + (p * 7 + (int32_t)c) % 3;
                pos = calloc((size_t)base[n], sizeof *pos);
                assert_non_null(pos);
                for (int32_t p = 1; p < n; p++)
                    for (int32_t i = base[p]; i < base[p + 1]; i++) pos[i] = p;
                tm.parts = (uint32_t)base[n];
                tm.total = tm.upd0 + tm.parts;
                tm.upd_base = base;
                tm.upd_pos = pos;
            }
            struct red_dag full, red;
            red_build(&full, &m, &tm);
            uint8_t *cut = calloc((size_t)m.n_edges, 1);
            assert_non_null(cut);
            for (int32_t p = 1; p < n; p++) gn_task_cut_group(&m, p, cut);
            tm.cut = cut;
            red_build(&red, &m, &tm);
            assert_int_equal(red.n, full.n);
            uint32_t dropped = 0, implied = 0;
            for (uint32_t u = 0; u < full.n; u++) {
                assert_memory_equal(red.reach + (size_t)u * red.words,
                                    full.reach + (size_t)u * full.words,
                                    red.words * sizeof *red.reach);
                for (uint32_t e = red.begin[u]; e < red.begin[u + 1]; e++)
                    assert_true(red_has(&full, u, red.succ[e]));
                for (uint32_t e = full.begin[u]; e < full.begin[u + 1]; e++) {
                    const uint32_t v = full.succ[e];
                    int longer = 0;
                    for (uint32_t f = full.begin[u]; f < full.begin[u + 1] && !longer; f++)
                        longer = full.succ[f] != v && red_reaches(&full, full.succ[f], v);
                    implied += (uint32_t)longer;
                    dropped += (uint32_t)!red_has(&red, u, v);
                    if (!longer) assert_true(red_has(&red, u, v)); /* in every reduction */
                    else if (H <= 63) assert_false(red_has(&red, u, v));
                }
            }
            if (H <= 63) assert_int_equal(dropped, implied);
            if (H >= 5 && !(kind & 2)) assert_true(dropped > 0); /* the chain's skips at least */
            if (!split) {
                struct gn_dag train = {0}, eval = {0};
                struct gn_taskmap tb;
                assert_int_equal(gn_taskgraph_build(&train, &eval, &tb, &m, 4, tiles), GN_OK);
                assert_null(tb.cut);
                assert_int_equal(train.n_tasks, red.n);
                assert_memory_equal(train.succ_begin, red.begin, (red.n + 1) * sizeof *red.begin);
                assert_memory_equal(train.succ, red.succ, red.begin[red.n] * sizeof *red.succ);
                assert_memory_equal(train.indeg_init, red.indeg, red.n * sizeof *red.indeg);
                /* the eval DAG: the forward tasks, the same forward edges */
                assert_int_equal(eval.n_tasks, tb.bwd0);
                for (uint32_t u = 0; u < tb.bwd0; u++) {
                    assert_int_equal(eval.indeg_init[u], red.indeg[u]);
                    for (uint32_t e = eval.succ_begin[u]; e < eval.succ_begin[u + 1]; e++)
                        assert_true(eval.succ[e] < tb.bwd0 && red_has(&red, u, eval.succ[e]));
                }
                gn_dag_free(&train);
                gn_dag_free(&eval);
            }
            red_free(&full);
            red_free(&red);
            free(cut);
            free(base);
            free(pos);
            gn_model_free(&m);
        }
}

/* A chain where each group also reads the one two before (deep's shape):
 * reduced, every forward hop is one successor of in-degree 1 (the release's
 * fast path) and every backward hop too, besides the update parts. */
static void test_reduce_chain(void **state)
{
    (void)state;
    int32_t e[2 * 8 + 2][2], ne = 0;
    e[ne][0] = -1, e[ne++][1] = 0;
    for (int32_t h = 1; h < 8; h++) {
        e[ne][0] = h - 1, e[ne++][1] = h;
        if (h >= 2) e[ne][0] = h - 2, e[ne++][1] = h;
    }
    e[ne][0] = 7, e[ne++][1] = -2;
    struct gn_model m;
    succ_model(&m, 8, e, ne);
    struct gn_dag train = {0}, eval = {0};
    struct gn_taskmap tm;
    assert_int_equal(gn_taskgraph_build(&train, &eval, &tm, &m, 4, 2), GN_OK);
    for (int32_t t = 0; t < 2; t++) {
        for (int32_t p = 1; p < 8; p++) { /* forward(p) -> forward(p + 1) alone */
            const uint32_t u = gn_task_forward(&tm, p, t), v = gn_task_forward(&tm, p + 1, t);
            assert_int_equal(train.succ_begin[u + 1] - train.succ_begin[u], 1);
            assert_int_equal(train.succ[train.succ_begin[u]], v);
            assert_int_equal(train.indeg_init[v], 1);
        }
        for (int32_t p = 8; p >= 2; p--) { /* backward(p) -> backward(p - 1) first, in-degree 1 */
            const uint32_t u = gn_task_backward(&tm, p, t), v = gn_task_backward(&tm, p - 1, t);
            assert_int_equal(train.succ[train.succ_begin[u]], v);
            assert_int_equal(train.indeg_init[v], 1);
        }
    }
    /* update(p) waits for its first input's backward alone, per tile */
    for (int32_t p = 1; p <= 9; p++)
        assert_int_equal(train.indeg_init[gn_task_update(&tm, p, 0)], 2);
    gn_dag_free(&train);
    gn_dag_free(&eval);
    gn_model_free(&m);
}

static void test_plan_tiles(void **state)
{
    (void)state;
    struct gn_data d = {1000, 12, 4, NULL, NULL};
    struct gn_settings s = small(GN_BACKEND_AUTO);
    struct gn_plan p;
    s.batch = 256;
    s.threads = 4;

    gn_plan_make(&p, &s, GN_BACKEND_CUDA, &d, NULL);
    assert_int_equal(p.tile, 32); /* until the launch chooses */
    assert_int_equal(p.tiles, 8);
    assert_int_equal(p.tile_asked, 0);
    s.tile = 100;
    gn_plan_make(&p, &s, GN_BACKEND_CUDA, &d, NULL);
    assert_int_equal(p.tile, 64);
    assert_int_equal(p.tiles, 4);
    assert_int_equal(p.tile_asked, 100);
    /* the launch's choice, on the benchmark graphs' shapes (batch 256,
     * hidden groups + output, depth, workers): about a forward task per
     * worker on an average level */
    assert_int_equal(gn_plan_cuda_tile(256, 1025, 33, 264), 32);  /* layered */
    assert_int_equal(gn_plan_cuda_tile(256, 4097, 65, 264), 64);  /* many */
    assert_int_equal(gn_plan_cuda_tile(256, 2, 2, 132), 16);      /* one group */
    assert_int_equal(gn_plan_cuda_tile(256, 1025, 1025, 132), 16); /* deep */
    assert_int_equal(gn_plan_cuda_tile(256, 65, 9, 132), 16);     /* sweep-64-32 */
    assert_int_equal(gn_plan_cuda_tile(256, 257, 17, 132), 32);   /* sweep-256-32 */
    assert_int_equal(gn_plan_cuda_tile(12, 2, 2, 132), 12);       /* at most the batch */
    /* two blocks an SM where a level holds a task an SM in 32-row tiles
     * or in the finer ones of one block (132 SMs; fortieth round) */
    assert_true(gn_plan_cuda_many(256, 1025, 33, 132, 1, 0));    /* layered: 8 tiles */
    assert_true(gn_plan_cuda_many(256, 4097, 65, 132, 1, 0));    /* many */
    assert_false(gn_plan_cuda_many(256, 1025, 1025, 132, 1, 0)); /* deep */
    assert_false(gn_plan_cuda_many(256, 2, 2, 132, 1, 0));       /* one group */
    assert_false(gn_plan_cuda_many(256, 65, 9, 132, 1, 0));      /* sweep-64-32 */
    assert_false(gn_plan_cuda_many(256, 257, 17, 132, 1, 0));    /* sweep-256-32 */
    /* 2 levels of 16 groups: one block's 16-row tiles, 528 tasks >= 396
     * (in 32-row tiles 264: two blocks were 0.88-0.91x the step) */
    assert_true(gn_plan_cuda_many(256, 33, 3, 132, 1, 0));
    assert_false(gn_plan_cuda_many(256, 17, 3, 132, 1, 0));      /* 2 levels of 8 */
    assert_false(gn_plan_cuda_many(256, 129, 9, 132, 1, 0));     /* 8 levels of 16 */
    assert_false(gn_plan_cuda_many(256, 33, 3, 132, 1, 32));     /* --tile 32: 264 tasks */
    assert_true(gn_plan_cuda_many(256, 33, 3, 132, 1, 16));      /* --tile 16 */
    assert_false(gn_plan_cuda_many(256, 0, 0, 132, 1, 0));       /* no hidden group yet */
    s.tile = 0;
    s.batch = 20;
    gn_plan_make(&p, &s, GN_BACKEND_CUDA, &d, NULL);
    assert_int_equal(p.tile, 20);
    assert_int_equal(p.tiles, 1);

    s.batch = 256;
    gn_plan_make(&p, &s, GN_BACKEND_CPU, &d, NULL);
    assert_int_equal(p.workers, 4);
    assert_int_equal(p.tile, 32); /* 256 rows over 2 x 4 tiles */
    assert_int_equal(p.tiles, 8);
    s.threads = 64;
    gn_plan_make(&p, &s, GN_BACKEND_CPU, &d, NULL);
    assert_int_equal(p.tile, 8); /* at least 8 rows */
    assert_int_equal(p.tiles, 32);
    s.tile = 5;
    gn_plan_make(&p, &s, GN_BACKEND_CPU, &d, NULL);
    assert_int_equal(p.tile, 5);
    assert_int_equal(p.tiles, 52);

    gn_plan_make(&p, &s, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.tile, 256);
    assert_int_equal(p.tiles, 1);

    /* the batch is clamped to the examples used, and the run's length */
    s.limit_train = 100;
    s.epochs = 3;
    s.steps = 0;
    gn_plan_make(&p, &s, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.n_train, 100);
    assert_int_equal(p.batch, 100);
    assert_int_equal(p.steps_per_epoch, 1);
    assert_int_equal(p.steps_total, 3);
    assert_int_equal(p.data_timeout_ns, GN_PLAN_DATA_TIMEOUT_NS);
    s.cuda_timeout_scale = 10;
    gn_plan_make(&p, &s, GN_BACKEND_CUDA, &d, NULL);
    assert_int_equal(p.wait_timeout_ns, 10 * GN_PLAN_WAIT_TIMEOUT_NS);

    /* a resumed run mid-epoch starts with the epoch's sums */
    s.limit_train = 0;
    s.batch = 100;
    gn_plan_make(&p, &s, GN_BACKEND_CUDA, &d, NULL);
    gn_plan_start(&p, 12, 3, 0, 1.5, 7, 200);
    assert_int_equal(p.first_step, 12);
    assert_int_equal(p.grow_round, 3);
    assert_int_equal(p.first_seen, 200);
    gn_plan_start(&p, 10, 3, 0, 1.5, 7, 200); /* an epoch's start: no sums */
    assert_int_equal(p.first_seen, 0);
    assert_true(p.first_loss_sum == 0.0);
}

/* The one minibatch rule (gn_plan_batch_rows: the host loop's assembly
 * and the cuda kernel's own from a training set kept on the device): step
 * s takes rows [(s mod steps_per_epoch) x batch, ...) of its epoch's
 * order, the last of an epoch short, every example once an epoch. */
static void test_batch_rows(void **state)
{
    (void)state;
    struct gn_plan p;
    memset(&p, 0, sizeof p);
    p.batch = 256;
    p.n_train = 1000;
    p.steps_per_epoch = 4;
    int64_t i0 = -1;
    assert_int_equal(gn_plan_batch_rows(&p, 0, &i0), 256);
    assert_int_equal(i0, 0);
    assert_int_equal(gn_plan_batch_rows(&p, 2, &i0), 256);
    assert_int_equal(i0, 512);
    assert_int_equal(gn_plan_batch_rows(&p, 3, &i0), 232); /* the short last one */
    assert_int_equal(i0, 768);
    assert_int_equal(gn_plan_batch_rows(&p, 9, &i0), 256); /* epoch 2, its second */
    assert_int_equal(i0, 256);
    for (int64_t e = 0; e < 3; e++) {
        int64_t covered = 0, next = 0;
        for (int64_t st = e * 4; st < (e + 1) * 4; st++) {
            const int32_t n = gn_plan_batch_rows(&p, st, &i0);
            assert_int_equal(i0, next);
            next += n;
            covered += n;
        }
        assert_int_equal(covered, 1000);
    }
    /* a training set smaller than a batch: one short minibatch an epoch */
    p.n_train = 100;
    p.steps_per_epoch = 1;
    assert_int_equal(gn_plan_batch_rows(&p, 5, &i0), 100);
    assert_int_equal(i0, 0);
}

/* The steps whose growth statistic is made (gn_plan_stat_read): exactly
 * the ends that are not plain: a growth or pruning round, an epoch's end,
 * a checkpoint, the run's end, and every step of a traced run. */
static void test_stat_steps(void **state)
{
    (void)state;
    struct gn_plan p;
    memset(&p, 0, sizeof p);
    p.steps_total = 100;
    p.steps_per_epoch = 30;
    p.grow_every = 7;
    for (int c = 0; c < 5; c++) {
        p.grow = c == 1 || c == 4 ? GN_GROW_WIDTH : GN_GROW_OFF;
        p.prune_threshold = c == 2 ? 0.5f : 0.0f;
        p.checkpoint_every = c == 3 || c == 4 ? 11 : 0;
        int64_t made = 0;
        for (int64_t step = 0; step < p.steps_total; step++) {
            const int64_t n = step + 1;
            const int want = n % 30 == 0 || n == 100 || ((c == 1 || c == 2 || c == 4) && n % 7 == 0) ||
                             ((c == 3 || c == 4) && n % 11 == 0);
            assert_int_equal(gn_plan_stat_read(&p, step), want);
            assert_int_equal(gn_plan_plain_end(&p, step), !want);
            made += want;
        }
        /* growth off, no checkpoints: the three epoch ends and the run's */
        if (c == 0) assert_int_equal(made, 4);
    }
    p.trace = 1;
    for (int64_t step = 0; step < p.steps_total; step++) assert_true(gn_plan_stat_read(&p, step));
}

/* The default length: gn_default_settings leaves epochs and steps 0, and
 * gn_plan_epochs makes that 10 epochs, or the fewest that take at least
 * 500 steps; any given epochs or steps are kept as they are. */
static void test_default_length(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    assert_int_equal(s.epochs, 0);
    assert_int_equal(s.steps, 0);
    assert_int_equal(s.batch, 128);
    assert_int_equal(s.grow_every, 0);
    assert_int_equal(gn_settings_grow_every(&s), 200);
    s.grow = GN_GROW_DEPTH;
    assert_int_equal(gn_settings_grow_every(&s), 400);
    s.grow_every = 7;
    assert_int_equal(gn_settings_grow_every(&s), 7);
    gn_default_settings(&s);
    assert_int_equal(GN_DEFAULT_EPOCHS, 10);
    assert_int_equal(GN_DEFAULT_MIN_STEPS, 500);

    /* the rule, by steps per epoch */
    assert_int_equal(gn_plan_epochs(0, 0, 469), 10); /* Fashion-MNIST: 4690 steps */
    assert_int_equal(gn_plan_epochs(0, 0, 50), 10);  /* 500 steps exactly */
    assert_int_equal(gn_plan_epochs(0, 0, 49), 11);  /* 6272 examples: 539 steps */
    assert_int_equal(gn_plan_epochs(0, 0, 10), 50);  /* digits, 1258 examples */
    assert_int_equal(gn_plan_epochs(0, 0, 4), 125);  /* breast_cancer, 398 */
    assert_int_equal(gn_plan_epochs(0, 0, 3), 167);  /* 501 steps */
    assert_int_equal(gn_plan_epochs(0, 0, 1), 500);  /* wine, iris: one minibatch */
    assert_int_equal(gn_plan_epochs(0, 0, 0), 500);
    /* given epochs or steps win */
    assert_int_equal(gn_plan_epochs(10, 0, 1), 10);
    assert_int_equal(gn_plan_epochs(3, 0, 469), 3);
    assert_int_equal(gn_plan_epochs(0, 7, 1), 0); /* --steps alone: exactly 7 steps */
    assert_int_equal(gn_plan_epochs(2, 7, 1), 2);

    /* Fashion-MNIST's size at the defaults: the plan the defaults made
     * before the rule (--epochs 10), every byte of it */
    struct gn_data big = make_data(60000, 2, 10, 5);
    struct gn_plan p, q;
    gn_plan_make(&p, &s, GN_BACKEND_CPU, &big, NULL);
    assert_int_equal(p.batch, 128);
    assert_int_equal(p.steps_per_epoch, 469);
    assert_int_equal(p.epochs, 10);
    assert_int_equal(p.steps_total, 4690);
    assert_int_equal(p.optim.steps_total, 4690);
    assert_int_equal(p.grow_every, 200);
    struct gn_settings e = s;
    e.epochs = 10;
    gn_plan_make(&q, &e, GN_BACKEND_CPU, &big, NULL);
    assert_memory_equal(&p, &q, sizeof p);
    /* a share of it small enough: 1000 examples, 8 steps an epoch */
    e = s;
    e.limit_train = 1000;
    gn_plan_make(&p, &e, GN_BACKEND_CPU, &big, NULL);
    assert_int_equal(p.epochs, 63);
    assert_int_equal(p.steps_total, 504);
    gn_data_free(&big);

    /* a small set (iris's 105 examples): one minibatch of 105, 500 epochs;
     * the schedule spans them; growth checks as ever */
    struct gn_data d = make_data(105, 4, 3, 6);
    gn_plan_make(&p, &s, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.batch, 105);
    assert_int_equal(p.epochs, 500);
    assert_int_equal(p.steps_total, 500);
    assert_int_equal(p.optim.steps_total, 500);
    assert_int_equal(p.grow_every, 200);
    /* --batch given: kept, and the length follows it (7 steps an epoch) */
    e = s;
    e.batch = 16;
    gn_plan_make(&p, &e, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.batch, 16);
    assert_int_equal(p.epochs, 72);
    assert_int_equal(p.steps_total, 504);
    /* --epochs given */
    e = s;
    e.epochs = 10;
    gn_plan_make(&p, &e, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.epochs, 10);
    assert_int_equal(p.steps_total, 10);
    assert_int_equal(p.optim.steps_total, 10);
    /* --steps alone: exactly those, the schedule over them */
    e = s;
    e.steps = 40;
    gn_plan_make(&p, &e, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.epochs, 0);
    assert_int_equal(p.steps_total, 40);
    assert_int_equal(p.optim.steps_total, 40);
    /* both: cut short, the schedule over the epochs */
    e.epochs = 20;
    gn_plan_make(&p, &e, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.epochs, 20);
    assert_int_equal(p.steps_total, 20);
    e.steps = 15;
    gn_plan_make(&p, &e, GN_BACKEND_SERIAL, &d, NULL);
    assert_int_equal(p.steps_total, 15);
    assert_int_equal(p.optim.steps_total, 20);

    /* the trainer tells the length from open on */
    gn_trainer *t;
    s.backend = GN_BACKEND_SERIAL;
    assert_int_equal(gn_trainer_open(&t, &s, &d, NULL, NULL), GN_OK);
    int32_t epochs = -1;
    int64_t steps = -1;
    gn_trainer_length(t, &epochs, &steps);
    assert_int_equal(epochs, 500);
    assert_int_equal(steps, 500);
    gn_trainer_length(t, NULL, NULL);
    gn_trainer_close(t);
    gn_data_free(&d);
}

static void test_probe(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(gn_backend_probe(GN_BACKEND_SERIAL, why, sizeof why), GN_OK);
    assert_true(why[0] != '\0');
    assert_int_equal(gn_backend_probe(GN_BACKEND_CPU, why, sizeof why), GN_OK);
    assert_true(why[0] != '\0');
    enum gn_status st = gn_backend_probe(GN_BACKEND_CUDA, why, sizeof why);
    print_message("cuda: %s (%s)\n", gn_status_str(st), why);
    assert_true(st == GN_OK || st == GN_ERR_UNSUPPORTED);
    assert_true(why[0] != '\0');
    if (!GN_HAVE_CUDA_BACKEND) assert_int_equal(st, GN_ERR_UNSUPPORTED);
    if (st) assert_string_equal(gn_error_message(), why);
    assert_int_equal(gn_backend_probe(GN_BACKEND_AUTO, why, sizeof why), GN_OK);
    assert_non_null(strstr(why, st ? "auto picks the cpu backend" : "auto picks the cuda backend"));
    assert_int_equal(gn_backend_probe(GN_BACKEND_SERIAL, NULL, 0), GN_OK);
    assert_int_equal(gn_backend_probe((enum gn_backend)42, why, sizeof why), GN_ERR_UNSUPPORTED);
}

/* gn_settings_check: what gn_trainer_open refuses without data, refused
 * without data, with the same message; the defaults and every backend of
 * this build pass. */
static void test_settings_check(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    assert_int_equal(gn_settings_check(&s), GN_OK);
    s.backend = GN_BACKEND_SERIAL;
    assert_int_equal(gn_settings_check(&s), GN_OK);
    s.backend = GN_BACKEND_CPU;
    assert_int_equal(gn_settings_check(&s), GN_OK);
    s.backend = GN_BACKEND_CUDA; /* built or not; a GPU is not asked for */
    assert_int_equal(gn_settings_check(&s), GN_HAVE_CUDA_BACKEND ? GN_OK : GN_ERR_UNSUPPORTED);
    if (!GN_HAVE_CUDA_BACKEND)
        assert_non_null(strstr(gn_error_message(), "not available in this build"));
    s.backend = (enum gn_backend)42;
    assert_int_equal(gn_settings_check(&s), GN_ERR_UNSUPPORTED);

    gn_default_settings(&s);
    s.lr = -1.0f;
    assert_int_equal(gn_settings_check(&s), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "--lr"));
    struct gn_data d = {0};
    gn_trainer *t = (gn_trainer *)1;
    assert_int_equal(gn_trainer_open(&t, &s, &d, NULL, NULL), GN_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(gn_error_message(), "--lr")); /* before the empty set */

    gn_default_settings(&s);
    s.batch = 0;
    assert_int_equal(gn_settings_check(&s), GN_ERR_INVALID);
    gn_default_settings(&s);
    s.ranks = 2;
    s.backend = GN_BACKEND_CUDA; /* the ranks' message, built or not */
    assert_int_equal(gn_settings_check(&s), GN_ERR_UNSUPPORTED);
    assert_non_null(strstr(gn_error_message(), "--ranks 2 with --backend cuda"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_open_fails_after_start),
        cmocka_unit_test(test_trainer_closes_failed_open),
        cmocka_unit_test(test_close_takes_null),
        cmocka_unit_test(test_plan_tiles),
        cmocka_unit_test(test_update_parts),
        cmocka_unit_test(test_succ_order),
        cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_reduce_chain),
        cmocka_unit_test(test_default_length),
        cmocka_unit_test(test_batch_rows),
        cmocka_unit_test(test_stat_steps),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_settings_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
