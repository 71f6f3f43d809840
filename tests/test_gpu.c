/*
 * The gpu suite: the cuda backend against the serial oracle. Exits 77 (skip)
 * where no usable CUDA device exists or the backend is not built.
 *
 *  - Fashion-MNIST (GN_FASHION_DIR, else /usr/share/datasets/fashion-mnist,
 *    else a synthetic 784-feature set), growth on: the mean loss of each of
 *    the first 200 steps within 1e-4 relative of serial, the same growth,
 *    under the std and the relative growth criterion;
 *  - one kernel launch for the whole run;
 *  - adam and adamw under a warmup and a cosine or step schedule: every
 *    step's loss, weight and optimizer moment bitwise serial's;
 *  - two runs with the same seed: bitwise the same weights and losses;
 *  - a NaN in the data at a step that makes no statistic: the same stop
 *    message and the same statistics (the fixed NaN) as serial;
 *  - pruning (the kernel's own round, device/prune.cuh) on random DAGs: the
 *    same pruned groups, losses and network as serial, bit for bit;
 *  - --precision tf32 and bf16: losses near the fp32 reference's, and
 *    the same bits run after run;
 *  - 256-wide groups asked for at two blocks an SM (the cooperative
 *    launch may take only one): serial's bits, in one launch;
 *  - networks shaped like every genet-stress DAG (each task a hidden
 *    group): after one training step (forward, backward, gradients,
 *    update) every parameter within float tolerance of serial.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "genet/genet.h"
#include "gn_config.h"
#include "graphfile.h"
#include "rng.h"
#include "stat.h"
#include "stress_dag.h"
#include "taskgraph.h"
#include "testutil.h"
#include "trainer.h"

static struct gn_data train, test;

static struct gn_data synthetic(int32_t count, uint64_t seed)
{
    return gn_test_make_data(count, 784, 10, seed, 0.5f);
}

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("GN_FASHION_DIR");
    struct stat sb;
    if (!dir && stat("/usr/share/datasets/fashion-mnist", &sb) == 0)
        dir = "/usr/share/datasets/fashion-mnist";
    if (dir && gn_data_load(dir, &train, &test) == GN_OK) {
        fprintf(stderr, "# dataset: %s\n", dir);
        return 0;
    }
    fprintf(stderr, "# dataset: synthetic (no Fashion-MNIST found)\n");
    train = synthetic(60000, 11);
    test = synthetic(2000, 12);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gn_data_free(&train);
    gn_data_free(&test);
    return 0;
}

static gn_trainer *run(struct gn_settings s, enum gn_backend b, const char *graph,
                       const struct gn_data *tr, const struct gn_data *te)
{
    s.backend = b;
    gn_trainer *t;
    enum gn_status st = gn_trainer_open(&t, &s, tr, te, graph);
    if (st) fail_msg("open %s: %s", gn_backend_name(b), gn_error_message());
    st = gn_trainer_run(t, NULL, NULL);
    if (st) fail_msg("run %s: %s", gn_backend_name(b), gn_error_message());
    return t;
}

/* 200 steps growing every 20 on serial and cuda: the same losses and the
 * same growth. The two trainers come back in *ref_out and *gpu_out for
 * more checks (the caller closes them), or are closed when those are NULL. */
static void against_serial_keep(struct gn_settings s, gn_trainer **ref_out, gn_trainer **gpu_out)
{
    s.epochs = 0;
    s.steps = 200;
    s.grow_every = 20;
    gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, &test);
    gn_trainer *gpu = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
    struct gn_progress pr, pg;
    gn_trainer_progress(ref, &pr);
    gn_trainer_progress(gpu, &pg);
    print_message("serial: loss %.6f groups %d dup %lld; cuda: loss %.6f groups %d dup %lld, "
                  "kernel launches %lld\n",
                  pr.loss, pr.groups, (long long)pr.duplications, pg.loss, pg.groups,
                  (long long)pg.duplications, (long long)pg.kernel_launches);
    int bad = 0;
    double worst = 0;
    const double *log_ref, *log_gpu;
    gn_trainer_step_log(ref, &log_ref, NULL);
    gn_trainer_step_log(gpu, &log_gpu, NULL);
    for (int64_t i = 0; i < 200; i++) {
        double a = log_ref[i], b = log_gpu[i];
        double rel = fabs(a - b) / fabs(a);
        if (rel > worst) worst = rel;
        if (rel > 1e-4 && bad++ < 5)
            print_error("step %lld: serial %.8f cuda %.8f (rel %.2e)\n", (long long)i + 1, a, b, rel);
    }
    print_message("worst relative loss difference over 200 steps: %.3e\n", worst);
    assert_int_equal(bad, 0);
    assert_int_equal(pg.groups, pr.groups);
    assert_int_equal(pg.duplications, pr.duplications);
    assert_int_equal(pg.kernel_launches, 1);
    assert_int_equal(gn_trainer_model(gpu)->n_groups, gn_trainer_model(ref)->n_groups);
    if (ref_out && gpu_out) {
        *ref_out = ref;
        *gpu_out = gpu;
        return;
    }
    gn_trainer_close(ref);
    gn_trainer_close(gpu);
}

static void against_serial(struct gn_settings s)
{
    against_serial_keep(s, NULL, NULL);
}

/* The positions (of *total) where a's weights, biases or either optimizer
 * moment differ from b's in any bit, group by group in the order and edge
 * by edge in each in-list (the pools' layouts may differ); the first five
 * are printed, headed by what. */
static int64_t params_differ(const struct gn_model *a, const struct gn_model *b, const char *what,
                             int64_t *total)
{
    int64_t bad = 0;
    *total = 0;
    assert_int_equal(a->n_groups, b->n_groups);
    for (int32_t p = 1; p < b->n_groups; p++) {
        const struct gn_group *ga = &a->groups[a->order[p]];
        const struct gn_group *gb = &b->groups[b->order[p]];
        assert_int_equal(ga->in_count, gb->in_count);
        for (int32_t e = -1; e < ga->in_count; e++) {
            int64_t oa = ga->bias, ob = gb->bias, len = ga->width;
            if (e >= 0) {
                const struct gn_edge *ea = &a->edges[a->in_list[ga->in_begin + e]];
                const struct gn_edge *eb = &b->edges[b->in_list[gb->in_begin + e]];
                oa = ea->w, ob = eb->w, len = (int64_t)a->groups[ea->src].width * ga->width;
            }
            for (int64_t q = 0; q < len; q++, (*total)++) {
                if (!memcmp(a->params + oa + q, b->params + ob + q, 4) &&
                    !memcmp(a->moment + oa + q, b->moment + ob + q, 4) &&
                    !memcmp(a->moment2 + oa + q, b->moment2 + ob + q, 4))
                    continue;
                if (bad++ < 5)
                    print_error("%s: pos %d block %d [%lld]: w %a/%a m %a/%a v %a/%a\n", what, p, e,
                                (long long)q, (double)a->params[oa + q], (double)b->params[ob + q],
                                (double)a->moment[oa + q], (double)b->moment[ob + q],
                                (double)a->moment2[oa + q], (double)b->moment2[ob + q]);
            }
        }
    }
    return bad;
}

/* Adam under a warmup and a cosine schedule, AdamW under a step schedule,
 * growth on: the rule, the step's constants (computed on the device) and
 * the second moment through growth and the host/device copies give the
 * serial run's bits: every step's loss, then every weight and both
 * moments position by position. */
static void test_optimizers_against_serial(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        struct gn_settings s;
        gn_default_settings(&s);
        s.epochs = 0;
        s.steps = 200;
        s.grow_every = 20;
        s.optimizer = k ? GN_OPTIM_ADAMW : GN_OPTIM_ADAM;
        s.lr = 1e-3f;
        s.weight_decay = 1e-3f;
        s.lr_warmup = 30;
        s.lr_schedule = k ? GN_LR_STEP : GN_LR_COSINE;
        s.lr_step_every = 50;
        s.lr_gamma = 0.5f;
        gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, &test);
        gn_trainer *gpu = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
        const struct gn_model *mg = gn_trainer_model(gpu), *mr = gn_trainer_model(ref);
        const double *log_ref, *log_gpu;
        gn_trainer_step_log(ref, &log_ref, NULL);
        gn_trainer_step_log(gpu, &log_gpu, NULL);
        int64_t same_steps = 0, total = 0;
        for (int64_t i = 0; i < 200; i++) same_steps += log_ref[i] == log_gpu[i];
        const int64_t bad = params_differ(mg, mr, gn_optimizer_name(s.optimizer), &total);
        print_message("%s, %s: %lld of 200 step losses and %lld of %lld parameters (with both "
                      "moments) bitwise equal; %d groups\n",
                      gn_optimizer_name(s.optimizer), gn_lr_schedule_name(s.lr_schedule),
                      (long long)same_steps, (long long)(total - bad), (long long)total,
                      mr->n_groups - 2);
        assert_int_equal(same_steps, 200);
        assert_int_equal(bad, 0);
        gn_trainer_close(ref);
        gn_trainer_close(gpu);
    }
}

/* Pruning (--prune-threshold) on cuda: the kernel runs the shared pruning
 * round itself at each growth round (device/prune.cuh: scores, choice,
 * folds, the pools compacted, the DAGs rebuilt). Random DAGs (as
 * test_cpu's pruning cases), growth on, a patience of 1 or 2 rounds: the
 * same groups pruned, the same losses and the same network as serial, bit
 * for bit; at least one case prunes. */
static void test_prune_against_serial(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct gn_data tr = gn_test_make_data(300, 20, 5, seed, 0.4f);
    struct gn_data te = gn_test_make_data(100, 20, 5, seed + 1, 0.4f);
    char *dir = gn_test_tmpdir();
    int64_t pruned = 0;
    for (int k = 0; k < 4; k++) {
        char path[512];
        struct gn_settings s;
        gn_test_random_dag_case(dir, k, seed, &s, path, sizeof path);
        s.prune_threshold = 2.0f;
        s.prune_after = 1 + k % 2;
        gn_trainer *ref = run(s, GN_BACKEND_SERIAL, path, &tr, &te);
        gn_trainer *gpu = run(s, GN_BACKEND_CUDA, path, &tr, &te);
        struct gn_progress pr, pg;
        gn_trainer_progress(ref, &pr);
        gn_trainer_progress(gpu, &pg);
        print_message("%s, patience %d: serial loss %.6f groups %d pruned %lld; cuda loss %.6f "
                      "groups %d pruned %lld\n",
                      gn_grow_policy_name(s.grow), s.prune_after, pr.loss, pr.groups,
                      (long long)pr.pruned, pg.loss, pg.groups, (long long)pg.pruned);
        assert_int_equal(pg.pruned, pr.pruned);
        assert_int_equal(pg.groups, pr.groups);
        assert_int_equal(pg.duplications, pr.duplications);
        assert_memory_equal(&pg.loss, &pr.loss, sizeof pg.loss);
        assert_memory_equal(&pg.test_accuracy, &pr.test_accuracy, sizeof pg.test_accuracy);
        gn_test_assert_same_network(gn_trainer_model(gpu), gn_trainer_model(ref), "cuda");
        pruned += pr.pruned;
        gn_trainer_close(ref);
        gn_trainer_close(gpu);
    }
    assert_true(pruned > 0);
    gn_test_rmdir(dir);
    gn_data_free(&tr);
    gn_data_free(&te);
}

static void test_fashion_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    against_serial(s);
}

/* The relative criterion: the kernel's rank pass finds the same median
 * (a ratio of 1 marks the upper half: many rounds grow). */
static void test_relative_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.grow_criterion = GN_GROW_CRITERION_RELATIVE;
    s.grow_ratio = 1.0f;
    against_serial(s);
}

/* Long edge lists: widthwise growth of every group (threshold 0) doubles
 * a one-layer network each round until the pool is full, so the input's
 * out-list and the output's in-list grow past the length the kernel sorts
 * by one thread (grow.cuh: a block sorts them by ranks). The same losses
 * as serial, and the same order and lists entry by entry. */
static void test_long_lists_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.grow = GN_GROW_WIDTH;
    s.grow_threshold = 0.0f;
    s.max_groups = 100;
    gn_trainer *ref, *gpu;
    against_serial_keep(s, &ref, &gpu);
    const struct gn_model *a = gn_trainer_model(ref), *b = gn_trainer_model(gpu);
    assert_int_equal(a->n_groups, b->n_groups);
    assert_int_equal(a->n_edges, b->n_edges);
    print_message("%d groups, %d edges; the input's out-list %d long, the output's in-list %d\n",
                  a->n_groups, a->n_edges, a->groups[GN_SLOT_INPUT].out_count,
                  a->groups[GN_SLOT_OUTPUT].in_count);
    assert_true(a->groups[GN_SLOT_INPUT].out_count > 32);
    assert_memory_equal(a->order, b->order, (size_t)a->n_groups * sizeof *a->order);
    assert_memory_equal(a->in_list, b->in_list, (size_t)a->n_edges * sizeof *a->in_list);
    assert_memory_equal(a->out_list, b->out_list, (size_t)a->n_edges * sizeof *a->out_list);
    gn_trainer_close(ref);
    gn_trainer_close(gpu);
}

/* The training DAG the kernel built last (its rebuild after a growth
 * round, device/grow.cuh, reduction flags included) is the one
 * taskgraph.h's rules give on the downloaded model with the kernel's own
 * update parts: task by task the same successors in the same order and
 * the same in-degree. The random DAG of 33 groups grows widthwise every 5
 * steps at threshold 0 (to 96 on an H100): lists of more than 32 edges,
 * sorted by whole blocks, as in the 2,098-group run whose flags once read
 * lists mid-sort. GN_CUDA_DAG_OUT writes the kernel's DAG (launch.cu). */
static void test_dag_against_rules(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    char *dir = gn_test_tmpdir(), graph[512], out[600];
    struct gn_settings s;
    gn_test_random_dag_case(dir, 10, seed, &s, graph, sizeof graph);
    s.grow = GN_GROW_WIDTH;
    s.epochs = 0;
    s.steps = 31;
    snprintf(out, sizeof out, "%s/dag.bin", dir);
    struct gn_data tr = gn_test_make_data(300, 20, 5, seed, 0.4f);
    struct gn_data te = gn_test_make_data(100, 20, 5, seed + 1, 0.4f);
    assert_int_equal(setenv("GN_CUDA_DAG_OUT", out, 1), 0);
    gn_trainer *t = run(s, GN_BACKEND_CUDA, graph, &tr, &te);
    assert_int_equal(unsetenv("GN_CUDA_DAG_OUT"), 0);
    const struct gn_model *m = gn_trainer_model(t);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    char magic[8];
    int32_t hd[4];
    uint32_t n, e;
    assert_int_equal(fread(magic, 1, 8, f), 8);
    assert_memory_equal(magic, "GNDAG001", 8);
    assert_int_equal(fread(hd, sizeof hd, 1, f), 1);
    assert_int_equal(fread(&n, 4, 1, f), 1);
    assert_int_equal(fread(&e, 4, 1, f), 1);
    assert_int_equal(hd[0], m->n_groups);
    int32_t *base = malloc(((size_t)hd[0] + 1) * sizeof *base);
    int32_t *pos = malloc((size_t)hd[3] * 4 + 4);
    uint32_t *begin = malloc(((size_t)n + 1) * 4), *succ = malloc((size_t)e * 4 + 4);
    uint32_t *indeg = malloc((size_t)n * 4 + 4), *mine = malloc((size_t)e * 4 + 4);
    uint8_t *cut = calloc((size_t)m->n_edges, 1);
    assert_true(base && pos && begin && succ && indeg && mine && cut);
    assert_int_equal(fread(base, 4, (size_t)hd[0] + 1, f), (size_t)hd[0] + 1);
    assert_int_equal(fread(begin, 4, (size_t)n + 1, f), (size_t)n + 1);
    assert_int_equal(fread(succ, 4, e, f), e);
    assert_int_equal(fread(indeg, 4, n, f), n);
    fclose(f);
    /* the kernel's update parts, as its task map holds them */
    struct gn_taskmap tm;
    gn_taskmap_init(&tm, m->n_groups, hd[1], hd[2]);
    for (int32_t p = 1; p < m->n_groups; p++)
        for (int32_t i = base[p]; i < base[p + 1]; i++) pos[i] = p;
    tm.parts = (uint32_t)hd[3];
    tm.total = tm.upd0 + tm.parts;
    tm.upd_base = base;
    tm.upd_pos = pos;
    assert_int_equal(n, tm.total);
    uint32_t full = 0;
    for (uint32_t i = 0; i < n; i++) full += gn_task_succ(m, &tm, i, 0, NULL);
    for (int32_t p = 1; p < m->n_groups; p++) gn_task_cut_group(m, p, cut);
    tm.cut = cut;
    int32_t longest = 0;
    for (int32_t g = 0; g < m->n_groups; g++)
        if (m->groups[g].in_count > longest) longest = m->groups[g].in_count;
    print_message("%d groups, %d edges, longest in-list %d; the kernel's DAG: %u tasks, %u edges "
                  "(%u unreduced)\n",
                  m->n_groups, m->n_edges, longest, n, e, full);
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t c = gn_task_succ(m, &tm, i, 0, mine);
        const int same = c == begin[i + 1] - begin[i] &&
                         !memcmp(mine, succ + begin[i], (size_t)c * 4) &&
                         indeg[i] == gn_task_indeg(m, &tm, i);
        if (!same && bad++ < 5)
            print_error("task %u: %u successors (the kernel's %u), in-degree %u (the kernel's %u)\n",
                        i, c, begin[i + 1] - begin[i], gn_task_indeg(m, &tm, i), indeg[i]);
    }
    assert_int_equal(bad, 0);
    assert_true(e < full);          /* reduced */
    assert_true(longest > 32);      /* a list sorted by a block */
    assert_true(m->n_groups > 2 * 35); /* grown: more than doubled */
    free(base);
    free(pos);
    free(begin);
    free(succ);
    free(indeg);
    free(mine);
    free(cut);
    gn_trainer_close(t);
    gn_data_free(&tr);
    gn_data_free(&te);
    gn_test_rmdir(dir);
}

/* --precision tf32 and bf16 (the tensor cores) train the default network
 * (growth off, so both follow the same graph) for 300 steps: the mean loss
 * of the last 50 steps within 2% (tf32) or 5% (bf16) of serial fp32's, the
 * first step's loss within 0.5% (the same initial weights: only the
 * products' rounding differs), learning under way (the last 50 steps'
 * mean loss under 0.8 of the first 10's), and a second run of the same
 * precision the same bits, loss by loss. */
static double mean_loss(const double *log, int64_t from, int64_t to)
{
    double sum = 0;
    for (int64_t i = from; i < to; i++) sum += log[i];
    return sum / (double)(to - from);
}

static void test_precision_near_fp32(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 300;
    s.grow = GN_GROW_OFF;
    gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, &test);
    const double *lr;
    gn_trainer_step_log(ref, &lr, NULL);
    const double ref_end = mean_loss(lr, 250, 300);
    static const enum gn_precision P[2] = {GN_PRECISION_TF32, GN_PRECISION_BF16};
    static const double TOL[2] = {0.02, 0.05};
    for (int i = 0; i < 2; i++) {
        s.precision = P[i];
        gn_trainer *a = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
        gn_trainer *b = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
        const double *la, *lb;
        assert_true(gn_trainer_step_log(a, &la, NULL) >= 300);
        assert_true(gn_trainer_step_log(b, &lb, NULL) >= 300);
        const double end = mean_loss(la, 250, 300), start = mean_loss(la, 0, 10);
        print_message("%s: first loss %.6f (fp32 %.6f), last 50 steps %.6f (fp32 %.6f), "
                      "first 10 %.6f\n",
                      gn_precision_name(P[i]), la[0], lr[0], end, ref_end, start);
        assert_true(fabs(la[0] - lr[0]) <= 0.005 * lr[0]);
        assert_true(fabs(end - ref_end) <= TOL[i] * ref_end);
        assert_true(end < 0.8 * start);
        assert_memory_equal(la, lb, 300 * sizeof *la);
        gn_trainer_close(a);
        gn_trainer_close(b);
    }
    gn_trainer_close(ref);
}

static void test_reproducible(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 120;
    s.grow_every = 15;
    s.grow_threshold = 1e-4f; /* plenty of concurrent duplications */
    gn_trainer *a = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
    gn_trainer *b = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
    const struct gn_model *ma = gn_trainer_model(a), *mb = gn_trainer_model(b);
    const double *log_a, *log_b;
    gn_trainer_step_log(a, &log_a, NULL);
    gn_trainer_step_log(b, &log_b, NULL);
    assert_int_equal(ma->n_groups, mb->n_groups);
    assert_memory_equal(log_a, log_b, 120 * sizeof(double));
    /* weights position by position (slots may differ between runs) */
    for (int32_t p = 1; p < ma->n_groups; p++) {
        const struct gn_group *ga = &ma->groups[ma->order[p]], *gb = &mb->groups[mb->order[p]];
        assert_int_equal(ga->in_count, gb->in_count);
        assert_memory_equal(ma->params + ga->bias, mb->params + gb->bias,
                            (size_t)ga->width * sizeof(float));
        for (int32_t k = 0; k < ga->in_count; k++) {
            const struct gn_edge *ea = &ma->edges[ma->in_list[ga->in_begin + k]];
            const struct gn_edge *eb = &mb->edges[mb->in_list[gb->in_begin + k]];
            size_t len = (size_t)ma->groups[ea->src].width * ga->width;
            assert_memory_equal(ma->params + ea->w, mb->params + eb->w, len * sizeof(float));
        }
    }
    print_message("two runs: %d groups, bitwise equal\n", ma->n_groups - 2);
    gn_trainer_close(a);
    gn_trainer_close(b);
}

/* A run with no test set: the kernel's step loop records each epoch's end
 * straight after its training pass, with no evaluation passes between
 * (run.cuh). 600 examples at batch 256: epochs of three steps, the last
 * short, so that 13 steps cross four epoch ends and end inside the fifth
 * epoch, with growth every 4 steps. The serial run's bits step by step,
 * its epoch count, and no test accuracy (-1) on both. */
static void test_no_test_set_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 13;
    s.batch = 256;
    s.limit_train = 600;
    s.grow_every = 4;
    s.grow_threshold = 1e-3f;
    gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, NULL);
    gn_trainer *gpu = run(s, GN_BACKEND_CUDA, NULL, &train, NULL);
    const double *lr, *lg;
    gn_trainer_step_log(ref, &lr, NULL);
    gn_trainer_step_log(gpu, &lg, NULL);
    for (int i = 0; i < 13; i++)
        if (memcmp(&lr[i], &lg[i], sizeof(double)))
            fail_msg("step %d: serial %.9g, cuda %.9g", i + 1, lr[i], lg[i]);
    struct gn_progress pr, pg;
    gn_trainer_progress(ref, &pr);
    gn_trainer_progress(gpu, &pg);
    assert_int_equal(pg.step, 13);
    assert_int_equal(pg.epoch, pr.epoch);
    assert_true(pr.epoch >= 4);
    assert_int_equal(pg.groups, pr.groups);
    assert_true(pr.test_accuracy == -1.0 && pg.test_accuracy == -1.0);
    print_message("13 steps, %d epoch ends, no test set: serial and cuda bitwise equal (%d groups)\n",
                  pr.epoch, pr.groups);
    gn_trainer_close(ref);
    gn_trainer_close(gpu);
}

/* The two ways a minibatch reaches the kernel: the training set kept on
 * the device (the default where it fits; the kernel assembles each
 * minibatch from the epoch's order) and minibatches streamed by the host
 * loader (cuda_stream_data, --cuda-stream-data: what a training set too
 * large for the device gets). 1,000 examples at batch 256: epochs of four steps, the
 * last one short, so that 30 steps cross seven epoch ends (each an
 * evaluation of the test set and a new order, the two order slots reused
 * three times over), with growth every 5 steps: both give the serial run's
 * bits, step by step, and the same test accuracy. */
static void test_data_paths_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 30;
    s.batch = 256;
    s.limit_train = 1000;
    s.grow_every = 5;
    s.grow_threshold = 1e-3f;
    struct gn_data te = test;
    if (te.count > 1000) te.count = 1000;
    gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, &te);
    gn_trainer *res = run(s, GN_BACKEND_CUDA, NULL, &train, &te);
    s.cuda_stream_data = 1;
    gn_trainer *str = run(s, GN_BACKEND_CUDA, NULL, &train, &te);
    const char *why_res = gn_trainer_backend_reason(res), *why_str = gn_trainer_backend_reason(str);
    print_message("resident: %s\nstreamed: %s\n", why_res, why_str);
    assert_non_null(strstr(why_res, "the training set on the device"));
    assert_non_null(strstr(why_str, "minibatches streamed from the host"));
    const double *lr, *la, *lb;
    gn_trainer_step_log(ref, &lr, NULL);
    gn_trainer_step_log(res, &la, NULL);
    gn_trainer_step_log(str, &lb, NULL);
    for (int i = 0; i < 30; i++)
        if (memcmp(&lr[i], &la[i], sizeof(double)) || memcmp(&lr[i], &lb[i], sizeof(double)))
            fail_msg("step %d: serial %.9g, resident %.9g, streamed %.9g", i + 1, lr[i], la[i], lb[i]);
    struct gn_progress pr, pa, pb;
    gn_trainer_progress(ref, &pr);
    gn_trainer_progress(res, &pa);
    gn_trainer_progress(str, &pb);
    assert_int_equal(pa.step, 30);
    assert_int_equal(pb.step, 30);
    assert_int_equal(pr.epoch, 7);
    assert_int_equal(pa.epoch, pr.epoch);
    assert_int_equal(pb.epoch, pr.epoch);
    assert_int_equal(pa.groups, pr.groups);
    assert_int_equal(pb.groups, pr.groups);
    assert_true(pa.test_accuracy == pr.test_accuracy && pb.test_accuracy == pr.test_accuracy);
    print_message("30 steps, %d epoch ends: serial, resident and streamed bitwise equal (%d groups, "
                  "test accuracy %.4f)\n",
                  pr.epoch, pr.groups, pr.test_accuracy);
    gn_trainer_close(ref);
    gn_trainer_close(res);
    gn_trainer_close(str);
}

/* A network whose hidden groups are the tasks of a stress DAG: sources read
 * the input, sinks feed the output. */
static void write_stress_graph(const char *path, enum gn_stress_shape shape, uint32_t tasks,
                               uint64_t seed, int32_t inputs, int32_t classes, int32_t S)
{
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.shape = shape == GN_STRESS_GROWN ? GN_STRESS_LAYERED : shape;
    p.tasks = tasks;
    p.width = 6;
    p.fanin = 3;
    p.levels = 0;
    p.seed = seed;
    struct gn_stress_graph g;
    memset(&g, 0, sizeof g);
    assert_int_equal(gn_stress_generate(&g, &p, 0), GN_OK);
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, inputs, classes, S, (int32_t)tasks + 2,
                                   (int32_t)(g.n_edges + 2 * tasks),
                                   (int64_t)(tasks + 2) * 4 * S * (inputs + S)),
                     GN_OK);
    uint8_t *has_in = calloc(tasks, 1), *has_out = calloc(tasks, 1);
    for (uint32_t i = 0; i < tasks; i++) {
        int32_t slot;
        assert_int_equal(gn_model_add_group(&m, &slot), GN_OK);
    }
    for (uint32_t e = 0; e < g.n_edges; e++) {
        assert_int_equal(gn_model_add_edge(&m, GN_SLOT_FIRST_HIDDEN + (int32_t)g.src[e],
                                           GN_SLOT_FIRST_HIDDEN + (int32_t)g.dst[e], NULL),
                         GN_OK);
        has_out[g.src[e]] = has_in[g.dst[e]] = 1;
    }
    for (uint32_t i = 0; i < tasks; i++) {
        if (!has_in[i]) gn_model_add_edge(&m, GN_SLOT_INPUT, GN_SLOT_FIRST_HIDDEN + (int32_t)i, NULL);
        if (!has_out[i]) gn_model_add_edge(&m, GN_SLOT_FIRST_HIDDEN + (int32_t)i, GN_SLOT_OUTPUT, NULL);
    }
    assert_int_equal(gn_model_rebuild(&m, NULL), GN_OK);
    assert_int_equal(gn_graph_write(path, &m), GN_OK);
    gn_model_free(&m);
    gn_stress_graph_free(&g);
    free(has_in);
    free(has_out);
}

static void test_stress_shapes_one_step(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed();
    char *dir = gn_test_tmpdir();
    struct gn_data tr = train, te = test;
    tr.count = 512;
    te.count = 256;
    for (int sh = 0; sh < GN_STRESS_SHAPE_COUNT; sh++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.json", dir, gn_stress_shape_name((enum gn_stress_shape)sh));
        write_stress_graph(path, (enum gn_stress_shape)sh, 40, seed + (uint64_t)sh, 784, 10, 16);
        struct gn_settings s;
        gn_default_settings(&s);
        s.group_size = 16;
        s.epochs = 0;
        s.steps = 1;
        s.grow = sh == GN_STRESS_GROWN ? GN_GROW_ALTERNATE : GN_GROW_OFF;
        s.grow_every = 1;
        s.grow_threshold = 0.0f;
        s.max_groups = 200;
        s.batch = 128;
        gn_trainer *ref = run(s, GN_BACKEND_SERIAL, path, &tr, &te);
        gn_trainer *gpu = run(s, GN_BACKEND_CUDA, path, &tr, &te);
        const struct gn_model *mg = gn_trainer_model(gpu), *mr = gn_trainer_model(ref);
        assert_int_equal(mg->n_groups, mr->n_groups);
        int64_t bad = 0, total = 0;
        double worst = 0;
        for (int32_t p = 1; p < mr->n_groups; p++) {
            const struct gn_group *ga = &mg->groups[mg->order[p]];
            const struct gn_group *gb = &mr->groups[mr->order[p]];
            assert_int_equal(ga->in_count, gb->in_count);
            for (int32_t k = -1; k < ga->in_count; k++) {
                int64_t oa, ob, len;
                if (k < 0) {
                    oa = ga->bias, ob = gb->bias, len = ga->width;
                } else {
                    const struct gn_edge *ea = &mg->edges[mg->in_list[ga->in_begin + k]];
                    const struct gn_edge *eb = &mr->edges[mr->in_list[gb->in_begin + k]];
                    oa = ea->w, ob = eb->w, len = (int64_t)mg->groups[ea->src].width * ga->width;
                }
                for (int64_t q = 0; q < len; q++) {
                    double a = mg->params[oa + q], b = mr->params[ob + q];
                    double ga_ = mg->grads[oa + q], gb_ = mr->grads[ob + q];
                    double err = fabs(ga_ - gb_) / (1e-6 + fabs(gb_));
                    if (fabs(ga_ - gb_) > 1e-6 + 1e-3 * fabs(gb_) || fabs(a - b) > 1e-6 + 1e-5 * fabs(b)) {
                        if (bad++ < 5)
                            print_error("%s: pos %d block %d [%lld]: param %.8g/%.8g grad %.8g/%.8g\n",
                                        gn_stress_shape_name((enum gn_stress_shape)sh), p, k,
                                        (long long)q, a, b, ga_, gb_);
                    }
                    if (err > worst && fabs(gb_) > 1e-6) worst = err;
                    total++;
                }
            }
        }
        print_message("%-8s %3d groups: %lld parameters and gradients, worst gradient rel. "
                      "difference %.2e\n",
                      gn_stress_shape_name((enum gn_stress_shape)sh), mr->n_groups - 2,
                      (long long)total, worst);
        assert_int_equal(bad, 0);
        gn_trainer_close(ref);
        gn_trainer_close(gpu);
    }
    gn_test_rmdir(dir);
}

/* A NaN in one training example: its step's gradients are not finite
 * while most steps make no statistic (plan.h, gn_plan_stat_read; here
 * growth rounds every 5 steps and epoch ends every 8). The kernel tests
 * each gradient entry as its update writes it and marks the group as the
 * host backends do (stat.h, gn_stat_refresh), so both backends stop with
 * the same message (step and group) and leave every group the same
 * statistic, bit for bit: the fixed NaN where a gradient was not finite.
 * (--on-nan skip is the host backends' alone.) */
static void test_nonfinite_against_serial(void **state)
{
    (void)state;
    struct gn_data d = gn_test_make_data(1000, 784, 10, 21, 0.5f);
    d.x[(int64_t)17 * d.features + 3] = NAN;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 24;
    s.batch = 128;
    s.grow_every = 5;
    s.grow_threshold = 1e-3f;
    char msg[2][512];
    gn_trainer *t[2];
    for (int b = 0; b < 2; b++) {
        s.backend = b ? GN_BACKEND_CUDA : GN_BACKEND_SERIAL;
        if (gn_trainer_open(&t[b], &s, &d, NULL, NULL)) fail_msg("open: %s", gn_error_message());
        assert_int_equal(gn_trainer_run(t[b], NULL, NULL), GN_ERR_NUMERIC);
        snprintf(msg[b], sizeof msg[b], "%s", gn_error_message());
    }
    print_message("stop: serial: %s\n      cuda:   %s\n", msg[0], msg[1]);
    assert_non_null(strstr(msg[0], "gradients of"));
    /* the seeded order puts example 17 in step 4, a step that makes no
     * statistic: what this test is for */
    assert_non_null(strstr(msg[0], "at step 4 "));
    assert_string_equal(msg[0], msg[1]);
    const struct gn_model *mr = gn_trainer_model(t[0]), *mg = gn_trainer_model(t[1]);
    assert_int_equal(mg->n_groups, mr->n_groups);
    const float marker = gn_stat_nonfinite();
    int32_t marked = 0;
    for (int32_t p = 1; p < mr->n_groups; p++) {
        const float a = mg->groups[mg->order[p]].grad_std, r = mr->groups[mr->order[p]].grad_std;
        if (memcmp(&a, &r, sizeof a))
            fail_msg("the statistic of the group at position %d: serial %.9g, cuda %.9g", p, r, a);
        marked += !memcmp(&r, &marker, sizeof r);
    }
    assert_true(marked >= 1);
    print_message("%d of %d groups marked with the fixed NaN: serial and cuda bitwise equal\n",
                  marked, mr->n_groups - 1);
    gn_trainer_close(t[0]);
    gn_trainer_close(t[1]);
    gn_data_free(&d);
}

/* 256-wide groups (the widest the cuda backend takes) asked for at two
 * worker blocks an SM, in 16-row tiles (two blocks' stages fit an SM) and
 * 32-row ones (112,640 B a block: one fits, so the launch must run the
 * one-block entry, with its own shared-memory attribute: before the
 * fortieth round it ran that entry without it, and the cooperative launch
 * refused the grid: docs/PERF.md), and a launch at two blocks an SM
 * taken as refused (the fall-back to one). Each trains, in one launch, to
 * serial's bits: every step's loss and every parameter. */
static void test_wide_groups_two_blocks_against_serial(void **state)
{
    (void)state;
    struct gn_settings s;
    gn_default_settings(&s);
    s.epochs = 0;
    s.steps = 12;
    s.group_size = 256;
    s.grow = GN_GROW_OFF;
    s.cuda_blocks_per_sm = 2;
    gn_trainer *ref = run(s, GN_BACKEND_SERIAL, NULL, &train, &test);
    const double *log_ref, *log_gpu;
    gn_trainer_step_log(ref, &log_ref, NULL);
    const struct gn_model *mr = gn_trainer_model(ref);
    /* 16-row tiles, 32-row tiles, then 16-row tiles with the first launch
     * taken as refused (GN_CUDA_INJECT_REFUSE): the fall-back to one block
     * an SM, on the plan made for two */
    for (int k = 0; k < 3; k++) {
        const int32_t tile = k == 1 ? 32 : 16;
        s.tile = tile;
        if (k == 2) setenv("GN_CUDA_INJECT_REFUSE", "1", 1);
        gn_trainer *gpu = run(s, GN_BACKEND_CUDA, NULL, &train, &test);
        unsetenv("GN_CUDA_INJECT_REFUSE");
        gn_trainer_step_log(gpu, &log_gpu, NULL);
        struct gn_progress pg;
        gn_trainer_progress(gpu, &pg);
        int64_t same = 0, total = 0;
        for (int64_t i = 0; i < s.steps; i++)
            same += !memcmp(&log_ref[i], &log_gpu[i], sizeof *log_ref);
        const int64_t bad = params_differ(gn_trainer_model(gpu), mr, "wide", &total);
        print_message("group size 256, two blocks an SM asked, %d-row tiles%s: %lld of %lld step "
                      "losses and %lld of %lld parameters (with both moments) bitwise serial's "
                      "(last loss %.6f), %lld kernel launch(es)\n",
                      tile, k == 2 ? ", the first launch refused" : "", (long long)same,
                      (long long)s.steps, (long long)(total - bad), (long long)total,
                      log_gpu[s.steps - 1], (long long)pg.kernel_launches);
        assert_int_equal(same, s.steps);
        assert_int_equal(bad, 0);
        assert_int_equal(pg.kernel_launches, 1);
        gn_trainer_close(gpu);
    }
    gn_trainer_close(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_shapes_one_step),
        cmocka_unit_test(test_fashion_against_serial),
        cmocka_unit_test(test_data_paths_against_serial),
        cmocka_unit_test(test_no_test_set_against_serial),
        cmocka_unit_test(test_nonfinite_against_serial),
        cmocka_unit_test(test_optimizers_against_serial),
        cmocka_unit_test(test_relative_against_serial),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_long_lists_against_serial),
        cmocka_unit_test(test_dag_against_rules),
        cmocka_unit_test(test_prune_against_serial),
        cmocka_unit_test(test_precision_near_fp32),
        cmocka_unit_test(test_wide_groups_two_blocks_against_serial),
    };
#if !GN_HAVE_CUDA_BACKEND
    (void)tests;
    (void)setup;
    (void)teardown;
    fprintf(stderr, "skip: this build has no cuda backend\n");
    return 77;
#else
    char why[256];
    if (gn_backend_probe(GN_BACKEND_CUDA, why, sizeof why) != GN_OK) {
        fprintf(stderr, "skip: %s\n", why);
        return 77;
    }
    fprintf(stderr, "# device: %s\n", why);
    return cmocka_run_group_tests(tests, setup, teardown);
#endif
}
