/*
 * The cpu backend against the serial oracle: on random DAGs (written as
 * graph files) and on a Fashion-MNIST-shaped synthetic run (784 features,
 * 10 classes), with growth on under both criteria (std, and relative,
 * whose median the cpu backend finds in a pass of its own), the two
 * backends must make the same growth decisions and end with
 * bitwise-identical weights, optimizer moments, losses and accuracies, for
 * 1, 2, 3 and 8 workers (more workers than cores included); with sgd, and
 * with adam and adamw under a warmup and a cosine or step schedule; and
 * with pruning on (groups removed and the pools compacted between growth
 * rounds, the freed space taken by later duplications).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "genet/genet.h"
#include "graphfile.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

/* sparse, image-like: many exact zeros, class-dependent means */
static struct gn_data make_data(int32_t count, int32_t features, int32_t classes, uint64_t seed)
{
    return gn_test_make_data(count, features, classes, seed, 0.4f);
}

/* The serial run's pruned groups, of the last compare_backends. */
static int64_t last_pruned;

/* Returns the serial run's duplications. */
static int64_t compare_backends(const struct gn_data *train, const struct gn_data *test,
                                struct gn_settings s, const char *graph)
{
    gn_trainer *ref;
    s.backend = GN_BACKEND_SERIAL;
    assert_int_equal(gn_trainer_open(&ref, &s, train, test, graph), GN_OK);
    /* A random network may die (numguard.h: back at chance with dead
     * groups): the run then stops with GN_ERR_NUMERIC at an epoch's end,
     * which is an outcome the backends must share like any other. */
    const enum gn_status ref_status = gn_trainer_run(ref, NULL, NULL);
    if (ref_status != GN_OK) {
        assert_int_equal(ref_status, GN_ERR_NUMERIC);
        print_message("serial: %s\n", gn_error_message());
    }
    struct gn_progress pr;
    gn_trainer_progress(ref, &pr);
    const int threads[] = {1, 2, 3, 8};
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        struct gn_settings c = s;
        c.backend = GN_BACKEND_CPU;
        c.threads = threads[i];
        c.tile = i == 2 ? 5 : 0; /* an odd tile size: short last tile */
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &c, train, test, graph), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), ref_status);
        struct gn_progress pc;
        gn_trainer_progress(t, &pc);
        print_message("threads %d: loss %.6f/%.6f test acc %.4f/%.4f groups %d/%d dup %lld\n",
                      threads[i], pc.loss, pr.loss, pc.test_accuracy, pr.test_accuracy,
                      pc.groups, pr.groups, (long long)pc.duplications);
        assert_int_equal(pc.groups, pr.groups);
        assert_int_equal(pc.edges, pr.edges);
        assert_int_equal(pc.duplications, pr.duplications);
        assert_int_equal(pc.refused, pr.refused);
        assert_int_equal(pc.pruned, pr.pruned);
        assert_int_equal(pc.step, pr.step);
        assert_int_equal(pc.died, pr.died);
        assert_memory_equal(&pc.loss, &pr.loss, sizeof pc.loss);
        assert_memory_equal(&pc.test_accuracy, &pr.test_accuracy, sizeof pc.test_accuracy);
        /* Same network position by position: parameters compared block by
         * block (slots and offsets may differ, positions may not). */
        gn_test_assert_same_network(gn_trainer_model(t), gn_trainer_model(ref), "cpu");
        gn_trainer_close(t);
    }
    gn_trainer_close(ref);
    last_pruned = pr.pruned;
    return pr.duplications;
}

/*
 * When a pool runs out in the middle of a round, the space goes to the
 * chosen groups in position order (gn_grow_grant), not to the worker that
 * allocates first: every thread count matches serial bit for bit, the
 * refusals included (compare_backends), and the group pool is full, the
 * refusals counted, the graph valid.
 */
static void pool_full(const struct gn_data *train, const struct gn_data *test,
                      struct gn_settings s, const char *graph)
{
    compare_backends(train, test, s, graph);
    s.backend = GN_BACKEND_CPU;
    for (int threads = 1; threads <= 8; threads *= 2) {
        s.threads = threads;
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &s, train, test, graph), GN_OK);
        const enum gn_status st = gn_trainer_run(t, NULL, NULL);
        struct gn_progress p;
        gn_trainer_progress(t, &p);
        /* a random network may die (compare_backends: serial's outcome
         * too, and the run stops at that epoch's end, GN_ERR_NUMERIC);
         * the pool filled before, at the first rounds */
        if (st != GN_OK) assert_int_equal(st, GN_ERR_NUMERIC);
        struct gn_model *m = gn_trainer_model(t);
        assert_int_equal(m->n_groups, m->max_groups);
        assert_true(p.refused > 0);
        assert_int_equal(gn_model_rebuild(m, m->order), GN_OK);
        gn_trainer_close(t);
    }
}

static void test_random_dags(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed();
    struct gn_data train = make_data(300, 20, 5, seed), test = make_data(100, 20, 5, seed + 1);
    char *dir = gn_test_tmpdir();
    int64_t pruned = 0;
    for (int k = 0; k < 4; k++) {
        char path[512];
        struct gn_settings s; /* room for every duplication: see pool_full */
        gn_test_random_dag_case(dir, k, seed, &s, path, sizeof path);
        compare_backends(&train, &test, s, path);
        /* relative, at a ratio that marks the upper half each round */
        struct gn_settings r = s;
        r.grow_criterion = GN_GROW_CRITERION_RELATIVE;
        r.grow_ratio = 1.0f;
        assert_true(compare_backends(&train, &test, r, path) > 0);
        /* pruning, with a patience of 1 or 2 rounds, and growth */
        struct gn_settings p = s;
        p.prune_threshold = 2.0f;
        p.prune_after = 1 + k % 2;
        compare_backends(&train, &test, p, path);
        print_message("pruning %s after %d: %lld pruned\n", gn_grow_policy_name(p.grow),
                      p.prune_after, (long long)last_pruned);
        pruned += last_pruned;
        s.max_groups = 2 + (3 + k * 3) + 2; /* room for two: the pool runs out mid-round */
        pool_full(&train, &test, s, path);
    }
    assert_true(pruned > 0); /* the pruning cases pruned */
    gn_test_rmdir(dir);
    gn_data_free(&train);
    gn_data_free(&test);
}

/* Adam and AdamW under a warmup and a decaying schedule, with growth of
 * every kind: the same bits on both backends (weights, both moments,
 * losses, growth), so the shared rule, the step's rate and bias
 * corrections and growth's handling of the second moment agree. */
static void test_optimizers(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed();
    struct gn_data train = make_data(300, 20, 5, seed), test = make_data(100, 20, 5, seed + 1);
    char *dir = gn_test_tmpdir();
    for (int k = 0; k < 4; k++) {
        struct gn_model m;
        assert_int_equal(gn_model_init(&m, 20, 5, 6, 64, 512, 1 << 20), GN_OK);
        gn_test_random_dag(&m, seed + 11 + (uint64_t)k, 3 + k * 2);
        char path[512];
        snprintf(path, sizeof path, "%s/dag%d.json", dir, k);
        assert_int_equal(gn_graph_write(path, &m), GN_OK);
        gn_model_free(&m);
        struct gn_settings s;
        gn_default_settings(&s);
        s.group_size = 6;
        s.batch = 32;
        s.epochs = 3;
        s.grow_every = 5;
        s.grow_threshold = 0.0f;
        s.max_groups = 400;
        s.grow = (enum gn_grow_policy)(GN_GROW_DEPTH + k % 4);
        s.seed = seed + 5 * (uint64_t)k;
        s.optimizer = k % 2 ? GN_OPTIM_ADAMW : GN_OPTIM_ADAM;
        s.lr = 3e-3f;
        s.weight_decay = k < 2 ? 1e-2f : 0.0f;
        s.lr_warmup = 7;
        s.lr_schedule = k < 3 ? GN_LR_COSINE : GN_LR_STEP;
        s.lr_min = k == 1 ? 1e-4f : 0.0f;
        s.lr_step_every = 9;
        s.lr_gamma = 0.7f;
        print_message("%s, %s schedule, grow %s\n", gn_optimizer_name(s.optimizer),
                      gn_lr_schedule_name(s.lr_schedule), gn_grow_policy_name(s.grow));
        compare_backends(&train, &test, s, path);
    }
    gn_test_rmdir(dir);
    gn_data_free(&train);
    gn_data_free(&test);
}

static void test_fashion_shaped(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed();
    struct gn_data train = make_data(1024, 784, 10, seed), test = make_data(256, 784, 10, seed + 1);
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 2;
    s.batch = 128;
    s.grow_every = 2;
    /* alternate: widthwise rounds double the network each time and run the
     * group pool out in the middle of a round, where which duplications get
     * the last slots is the one documented difference between backends */
    s.grow = GN_GROW_ALTERNATE;
    s.grow_threshold = 1e-4f;
    s.seed = seed;
    compare_backends(&train, &test, s, NULL);
    s.optimizer = GN_OPTIM_ADAMW;
    s.lr = 1e-3f;
    s.weight_decay = 1e-2f;
    s.lr_schedule = GN_LR_COSINE;
    s.lr_warmup = 5;
    compare_backends(&train, &test, s, NULL);
    s.grow_criterion = GN_GROW_CRITERION_RELATIVE;
    s.grow_ratio = 1.0f;
    assert_true(compare_backends(&train, &test, s, NULL) > 0);
    gn_data_free(&train);
    gn_data_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_dags),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_fashion_shaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
