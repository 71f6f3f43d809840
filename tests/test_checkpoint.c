/*
 * Checkpoints, --on-nan and the host memory check (runtime/checkpoint.c,
 * numguard.c, hostmem.c) through the public API on synthetic data:
 *
 *   - a run stopped at step k (at --steps k, by a stop request, mid-epoch,
 *     at an epoch's end) and resumed ends bitwise where the uninterrupted
 *     run ends: on serial the final checkpoints are the same bytes; on cpu
 *     and from serial to cpu they hold the same network position by
 *     position (cpu workers may number pool slots differently);
 *   - the same with adam and adamw under a warmup and a cosine or step
 *     schedule (both moments and the step's rate through the file);
 *   - a version 2 file (no optimizer settings, no second moment) still
 *     loads and resumes an sgd run exactly;
 *   - the same with the relative growth criterion, and for a run of the
 *     default length on a small training set (lengthened by its rule);
 *   - a truncated, corrupted, foreign, future-version or mismatched
 *     checkpoint is refused with a message naming what is wrong (the
 *     growth criterion and its own threshold or ratio included); a
 *     version-2 checkpoint (no criterion) resumes as std; every
 *     prefix and many single-byte changes of a checkpoint are refused or
 *     decoded without a fault;
 *   - a NaN in a step's gradients stops the run naming the group and the
 *     step, or (skip) the step is discarded and leaves the model as it was;
 *   - pools larger than the host's memory are refused at open.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "checkpoint.h"
#include "genet/genet.h"
#include "numguard.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

static char *dir;
static struct gn_data train, test;

/* 4 classes of 10 features with class-dependent means (900 rows: 29 steps
 * of 32 per epoch, the last one short). */
static struct gn_data make_data(int32_t count, uint64_t seed, uint64_t stream)
{
    const int32_t F = 10, C = 4;
    struct gn_data d = {count, F, C, NULL, NULL};
    d.x = malloc((size_t)count * F * sizeof(float));
    d.y = malloc((size_t)count);
    for (int32_t i = 0; i < count; i++) {
        int32_t c = (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 10 + stream, (uint64_t)i) % C);
        d.y[i] = (uint8_t)c;
        for (int32_t k = 0; k < F; k++) {
            float u = gn_rng_uniform(seed, GN_RNG_TEST, 20 + stream, (uint64_t)i * F + k);
            float mu = gn_rng_uniform(seed, GN_RNG_TEST, 3, (uint64_t)c * F + k);
            d.x[(int64_t)i * F + k] = 0.6f * mu + 0.4f * u;
        }
    }
    return d;
}

static int setup(void **state)
{
    (void)state;
    dir = gn_test_tmpdir();
    uint64_t seed = gn_test_seed();
    train = make_data(900, seed, 0);
    test = make_data(200, seed, 1);
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

static struct gn_settings small(enum gn_backend b)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = b;
    s.threads = 3;
    s.group_size = 6;
    s.batch = 32;
    s.epochs = 3;
    s.lr = 0.05f; /* 0.1 made a rare seed's loss explode (numguard.h) */
    s.grow = GN_GROW_ALTERNATE;
    s.grow_every = 6;
    s.grow_threshold = 0.03f;
    s.max_groups = 256;
    /* a constant rate: runs cut by --steps with --epochs 0 resume longer
     * ones here (a cosine spans the epochs asked for; tests of the
     * schedules through checkpoints set theirs) */
    s.lr_schedule = GN_LR_CONSTANT;
    s.lr_warmup = 0;
    return s;
}

static char *path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static unsigned char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *p, const unsigned char *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (x[i] != y[i]) fail_msg("%s and %s differ first at byte %zu", a, b, i);
    free(x);
    free(y);
}

/*
 * The two checkpoints hold the same state, position by position: the same
 * header (or, !whole_header, the same pool use and growth counters), and for the group at each
 * canonical position the same record (its parent named by position), bias, and in-edges (by source
 * position) with the same weights and both optimizer moments. Serial checkpoints are compared as bytes too; the
 * cpu backend's workers may hand out slots in another order (numbers that never reach the
 * arithmetic), so its files may differ there.
 */
static void assert_same_state_as(const char *fa, const char *fb, int whole_header, int stat)
{
    struct gn_checkpoint ca, cb;
    assert_int_equal(gn_checkpoint_load(fa, &ca), GN_OK);
    assert_int_equal(gn_checkpoint_load(fb, &cb), GN_OK);
    if (whole_header) {
        assert_memory_equal(&ca.h, &cb.h, sizeof ca.h);
    } else { /* the same network, perhaps at another position */
        assert_int_equal(ca.h.n_groups, cb.h.n_groups);
        assert_int_equal(ca.h.n_edges, cb.h.n_edges);
        assert_int_equal(ca.h.n_params, cb.h.n_params);
        assert_int_equal(ca.h.grow_round, cb.h.grow_round);
        assert_int_equal(ca.h.duplications, cb.h.duplications);
        assert_int_equal(ca.h.refused, cb.h.refused);
    }
    struct gn_model a, b;
    const struct gn_checkpoint_header *h = &ca.h;
    assert_int_equal(gn_model_init(&a, h->inputs, h->classes, h->group_size, h->n_groups,
                                   h->n_edges, h->n_params),
                     GN_OK);
    assert_int_equal(gn_model_init(&b, h->inputs, h->classes, h->group_size, h->n_groups,
                                   h->n_edges, h->n_params),
                     GN_OK);
    assert_int_equal(gn_checkpoint_model(&ca, &a), GN_OK);
    assert_int_equal(gn_checkpoint_model(&cb, &b), GN_OK);
    for (int32_t p = 0; p < a.n_groups; p++) {
        const struct gn_group *ga = &a.groups[a.order[p]], *gb = &b.groups[b.order[p]];
        assert_int_equal(ga->kind, gb->kind);
        assert_int_equal(ga->flags, gb->flags);
        assert_int_equal(ga->born, gb->born);
        if (stat) assert_memory_equal(&ga->grad_std, &gb->grad_std, sizeof ga->grad_std);
        assert_int_equal(ga->parent < 0 ? -1 : a.groups[ga->parent].pos,
                         gb->parent < 0 ? -1 : b.groups[gb->parent].pos);
        assert_int_equal(ga->in_count, gb->in_count);
        assert_int_equal(ga->out_count, gb->out_count);
        if (ga->kind == GN_GROUP_INPUT) continue;
        assert_memory_equal(a.params + ga->bias, b.params + gb->bias,
                            (size_t)ga->width * sizeof(float));
        assert_memory_equal(a.moment + ga->bias, b.moment + gb->bias,
                            (size_t)ga->width * sizeof(float));
        assert_memory_equal(a.moment2 + ga->bias, b.moment2 + gb->bias,
                            (size_t)ga->width * sizeof(float));
        for (int32_t k = 0; k < ga->in_count; k++) {
            const struct gn_edge *ea = &a.edges[a.in_list[ga->in_begin + k]];
            const struct gn_edge *eb = &b.edges[b.in_list[gb->in_begin + k]];
            assert_int_equal(a.groups[ea->src].pos, b.groups[eb->src].pos);
            size_t len = (size_t)a.groups[ea->src].width * ga->width * sizeof(float);
            assert_memory_equal(a.params + ea->w, b.params + eb->w, len);
            assert_memory_equal(a.moment + ea->w, b.moment + eb->w, len);
            assert_memory_equal(a.moment2 + ea->w, b.moment2 + eb->w, len);
        }
    }
    gn_model_free(&a);
    gn_model_free(&b);
    gn_checkpoint_free(&ca);
    gn_checkpoint_free(&cb);
}

static void assert_same_state(const char *fa, const char *fb, int whole_header)
{
    assert_same_state_as(fa, fb, whole_header, 1);
}

static void assert_same_progress(const struct gn_progress *a, const struct gn_progress *b)
{
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->groups, b->groups);
    assert_int_equal(a->edges, b->edges);
    assert_int_equal(a->duplications, b->duplications);
    assert_int_equal(a->refused, b->refused);
    assert_int_equal(a->pruned, b->pruned);
    assert_int_equal(a->skipped, b->skipped);
    assert_memory_equal(&a->loss, &b->loss, sizeof a->loss);
    assert_memory_equal(&a->accuracy, &b->accuracy, sizeof a->accuracy);
    assert_memory_equal(&a->test_accuracy, &b->test_accuracy, sizeof a->test_accuracy);
}

/* The uninterrupted run: its summary and final checkpoint (file ref). */
static void reference(struct gn_settings s, const char *ref, struct gn_progress *p)
{
    gn_trainer *t;
    s.checkpoint_path = ref;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_progress(t, p);
    gn_trainer_close(t);
}

struct stopper {
    gn_trainer *t;
    int64_t at;
};

static void stop_at(void *ctx, const struct gn_progress *p)
{
    struct stopper *s = ctx;
    if (p->step >= s->at) gn_trainer_request_stop(s->t);
}

/* Stop a run at step k (by --steps, or by a stop request when by_stop),
 * resume it with `resume_backend` and compare with the reference. */
static void stop_and_resume(struct gn_settings s, int64_t k, int by_stop,
                            enum gn_backend resume_backend, const char *ref,
                            const struct gn_progress *pr)
{
    const char *ck = path("part.ckpt"), *fin = path("final.ckpt");
    remove(ck);
    gn_trainer *t;
    struct gn_settings a = s;
    a.checkpoint_path = ck;
    if (!by_stop) a.steps = k;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    struct stopper sp = {t, k};
    enum gn_status st = gn_trainer_run(t, by_stop ? stop_at : NULL, &sp);
    struct gn_progress pa;
    gn_trainer_progress(t, &pa);
    assert_int_equal(pa.step, k);
    assert_int_equal(st, by_stop && k < pr->step ? GN_ERR_INTERRUPTED : GN_OK);
    gn_trainer_close(t);

    struct gn_settings b = s;
    b.backend = resume_backend;
    b.resume_path = ck;
    b.checkpoint_path = fin;
    assert_int_equal(gn_trainer_open(&t, &b, &train, &test, NULL), GN_OK);
    struct gn_progress pb;
    gn_trainer_progress(t, &pb);
    assert_int_equal(pb.step, k);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_progress(t, &pb);
    gn_trainer_close(t);
    assert_same_progress(&pb, pr);
    assert_same_state(fin, ref, 1);
    if (s.backend == GN_BACKEND_SERIAL && resume_backend == GN_BACKEND_SERIAL)
        assert_same_file(fin, ref);
}

static void resume_cases_of(struct gn_settings s, enum gn_backend second)
{
    const enum gn_backend first = s.backend;
    struct gn_progress pr;
    const char *ref = path("ref.ckpt");
    reference(s, ref, &pr);
    print_message("%s -> %s, %s %s %s: %lld steps, %d groups, %lld dup, %lld refused, loss %.6f\n",
                  gn_backend_name(first), gn_backend_name(second), gn_optimizer_name(s.optimizer),
                  gn_lr_schedule_name(s.lr_schedule),
                  gn_grow_criterion_name((enum gn_grow_criterion)s.grow_criterion),
                  (long long)pr.step, pr.groups,
                  (long long)pr.duplications, (long long)pr.refused, pr.loss);
    assert_true(pr.duplications > 0); /* growth happened: the graph is in the test */
    /* the numeric guard's epoch-rule word is in the file: a run whose last
     * epoch ended at most GN_GUARD_LEARNED x chance has its armed bit */
    {
        struct gn_checkpoint c;
        assert_int_equal(gn_checkpoint_load(ref, &c), GN_OK);
        const double chance = gn_guard_chance_loss(train.y, train.count, train.classes);
        print_message("  guard word %#x, last loss %.4f, chance %.4f\n", (unsigned)c.h.guard,
                      pr.loss, chance);
        if (pr.loss <= GN_GUARD_LEARNED * chance)
            assert_true(c.h.guard & GN_GUARD_HAS_LEARNED);
        assert_int_equal(c.h.guard & ~(GN_GUARD_COUNT_MASK | GN_GUARD_HAS_LEARNED), 0);
        gn_checkpoint_free(&c);
    }
    const int64_t spe = (train.count + s.batch - 1) / s.batch;
    const int64_t ks[] = {1, 7, spe - 1, spe, spe + 1, 2 * spe, pr.step - 1, pr.step};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (int by_stop = 0; by_stop < 2; by_stop++)
            /* --steps k makes a cosine decay over k steps: another run */
            if (by_stop || s.lr_schedule != GN_LR_COSINE)
                stop_and_resume(s, ks[i], by_stop, second, ref, &pr);
}

static void resume_cases(enum gn_backend first, enum gn_backend second,
                         enum gn_grow_criterion criterion)
{
    struct gn_settings s = small(first);
    s.grow_criterion = criterion;
    s.grow_ratio = 1.2f; /* low: several rounds grow */
    resume_cases_of(s, second);
}

static void test_resume_serial(void **state)
{
    (void)state;
    resume_cases(GN_BACKEND_SERIAL, GN_BACKEND_SERIAL, GN_GROW_CRITERION_STD);
}

static void test_resume_cpu(void **state)
{
    (void)state;
    resume_cases(GN_BACKEND_CPU, GN_BACKEND_CPU, GN_GROW_CRITERION_STD);
}

static void test_resume_serial_to_cpu(void **state)
{
    (void)state;
    resume_cases(GN_BACKEND_SERIAL, GN_BACKEND_CPU, GN_GROW_CRITERION_STD);
}

/* Pruning through checkpoints: the removed groups (the pools compacted),
 * the count and every group's patience survive a stop at any point (the
 * patience of 2 rounds means some stops fall between a group's first round
 * below and its removal); serial and cpu resume one another. Whatever the
 * data (a fresh seed each run): every group grows widthwise at every round
 * and every group that can go goes after two rounds, so groups are pruned
 * at every round from the third on. */
static void test_resume_prune(void **state)
{
    (void)state;
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    s.grow = GN_GROW_WIDTH;
    s.grow_threshold = 0.0f;
    s.prune_threshold = 1e30f;
    s.prune_after = 2;
    struct gn_progress pr;
    reference(s, path("ref.ckpt"), &pr);
    print_message("pruning: %lld pruned, %d groups\n", (long long)pr.pruned, pr.groups);
    assert_true(pr.pruned > 0);
    resume_cases_of(s, GN_BACKEND_CPU);
    s.backend = GN_BACKEND_CPU;
    resume_cases_of(s, GN_BACKEND_SERIAL);
}

static void test_resume_relative(void **state)
{
    (void)state;
    resume_cases(GN_BACKEND_SERIAL, GN_BACKEND_CPU, GN_GROW_CRITERION_RELATIVE);
}

/* A run of the default length (epochs and steps 0) on a small training set:
 * 900 examples at batch 32 are 29 steps an epoch, so 18 epochs, 522 steps,
 * under the default warmup and cosine. Stopped (mid-epoch, at an epoch's
 * end) and resumed with the same settings, it plans the same length and
 * ends where the uninterrupted run ends; resumed with --epochs 10, the
 * length of before the rule, it is refused (the cosine's span differs). */
static void test_resume_default_length(void **state)
{
    (void)state;
    struct gn_settings d, s = small(GN_BACKEND_SERIAL);
    gn_default_settings(&d);
    s.epochs = d.epochs;
    s.steps = d.steps;
    s.lr_schedule = d.lr_schedule;
    s.lr_warmup = d.lr_warmup;
    s.grow_every = 40;
    s.grow_threshold = 0.01f; /* small()'s 0.03 grew nothing on some seeds (the warmup) */
    struct gn_progress pr;
    const char *ref = path("ref.ckpt");
    reference(s, ref, &pr);
    print_message("default length: %lld steps, %d epochs, %d groups, loss %.6f\n",
                  (long long)pr.step, pr.epoch, pr.groups, pr.loss);
    assert_int_equal(pr.step, 522);
    assert_int_equal(pr.epoch, 18);
    assert_true(pr.duplications > 0);
    stop_and_resume(s, 290, 1, GN_BACKEND_CPU, ref, &pr); /* the end of epoch 10 */
    stop_and_resume(s, 300, 1, GN_BACKEND_SERIAL, ref, &pr);

    struct gn_settings b = s;
    b.epochs = 10;
    b.resume_path = path("part.ckpt"); /* step 300's */
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &b, &train, &test, NULL), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "cosine"));
}

/* kill -9 in miniature: a checkpoint every 5 steps; at step 43 the file on
 * disk (step 40's) is copied away as if the process died there; the run
 * resumed from the copy ends where the uninterrupted one ends. */
struct copier {
    const char *from, *to;
    int64_t at;
};

static void copy_at(void *ctx, const struct gn_progress *p)
{
    struct copier *c = ctx;
    if (p->step != c->at || p->epoch_end) return;
    size_t n;
    unsigned char *b = slurp(c->from, &n);
    spit(c->to, b, n);
    free(b);
}

static void test_periodic(void **state)
{
    (void)state;
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    struct gn_progress pr;
    const char *ref = path("ref.ckpt"), *ck = path("periodic.ckpt"), *cp = path("copy.ckpt");
    reference(s, ref, &pr);
    gn_trainer *t;
    struct gn_settings a = s;
    a.checkpoint_path = ck;
    a.checkpoint_every = 5;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    struct copier cc = {ck, cp, 43};
    assert_int_equal(gn_trainer_run(t, copy_at, &cc), GN_OK);
    gn_trainer_close(t);
    struct gn_checkpoint c;
    assert_int_equal(gn_checkpoint_load(cp, &c), GN_OK);
    assert_int_equal(c.h.step, 40);
    gn_checkpoint_free(&c);
    s.resume_path = cp;
    s.checkpoint_path = path("final.ckpt");
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct gn_progress pb;
    gn_trainer_progress(t, &pb);
    gn_trainer_close(t);
    assert_same_progress(&pb, &pr);
    assert_same_state(s.checkpoint_path, ref, 1);
    assert_same_file(s.checkpoint_path, ref);
}

/* open with resume_path = ck must fail with st and a message holding want. */
static void refused(const char *ck, struct gn_settings s, const struct gn_data *tr,
                    enum gn_status st, const char *want)
{
    gn_trainer *t;
    s.resume_path = ck;
    enum gn_status got = gn_trainer_open(&t, &s, tr, &test, NULL);
    print_message("  %s: %s\n", gn_status_str(got), gn_error_message());
    assert_int_equal(got, st);
    if (!strstr(gn_error_message(), want))
        fail_msg("message '%s' does not say '%s'", gn_error_message(), want);
}

static void recrc(unsigned char *b, size_t n)
{
    uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)(n - 4));
    for (int k = 0; k < 4; k++)
        b[n - 4 + k] = (unsigned char)(c >> (8 * k));
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    const char *ck = path("good.ckpt"), *bad = path("bad.ckpt");
    struct gn_settings a = s;
    a.steps = 20;
    a.checkpoint_path = ck;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    size_t n;
    unsigned char *b = slurp(ck, &n);

    refused(path("missing.ckpt"), s, &train, GN_ERR_IO, "cannot open checkpoint");
    spit(bad, b, n - 10);
    refused(bad, s, &train, GN_ERR_FORMAT, "truncated");
    spit(bad, b, 100);
    refused(bad, s, &train, GN_ERR_FORMAT, "truncated");
    b[n / 2] ^= 0x10;
    spit(bad, b, n);
    refused(bad, s, &train, GN_ERR_FORMAT, "checksum mismatch");
    b[n / 2] ^= 0x10;
    spit(bad, (const unsigned char *)"{\"format\": \"genet-graph\"}", 25);
    refused(bad, s, &train, GN_ERR_FORMAT, "not a genet-rt checkpoint");
    b[8] = 5;
    spit(bad, b, n);
    refused(bad, s, &train, GN_ERR_UNSUPPORTED, "version 5");
    b[8] = 4;
    spit(bad, b, n);
    {
        struct gn_settings m = s;
        m.lr = 0.2f;
        refused(bad, m, &train, GN_ERR_INVALID, "--lr");
        m = s;
        m.seed = 9;
        refused(bad, m, &train, GN_ERR_INVALID, "--seed");
        m = s;
        m.batch = 16;
        refused(bad, m, &train, GN_ERR_INVALID, "--batch");
        m = s;
        m.group_size = 7;
        refused(bad, m, &train, GN_ERR_INVALID, "--group-size");
        m = s;
        m.momentum = 0.5f;
        refused(bad, m, &train, GN_ERR_INVALID, "--momentum");
        m = s;
        m.weight_decay = s.weight_decay + 0.01f;
        refused(bad, m, &train, GN_ERR_INVALID, "--weight-decay");
        m = s;
        m.optimizer = GN_OPTIM_ADAM;
        refused(bad, m, &train, GN_ERR_INVALID, "--optimizer adam, the checkpoint sgd");
        m = s;
        m.lr_schedule = GN_LR_COSINE;
        refused(bad, m, &train, GN_ERR_INVALID, "--lr-schedule cosine, the checkpoint constant");
        m = s;
        m.lr_warmup = 5;
        refused(bad, m, &train, GN_ERR_INVALID, "--warmup 5, the checkpoint 0");
        m = s;
        m.grow = GN_GROW_WIDTH;
        refused(bad, m, &train, GN_ERR_INVALID, "--grow width");
        m = s;
        m.grow_threshold = 0.5f;
        refused(bad, m, &train, GN_ERR_INVALID, "--grow-threshold");
        m = s;
        m.grow_criterion = GN_GROW_CRITERION_RELATIVE;
        refused(bad, m, &train, GN_ERR_INVALID, "--grow-criterion relative, the checkpoint std");
        m = s;
        m.grow_every = 3;
        refused(bad, m, &train, GN_ERR_INVALID, "--grow-every");
        m = s;
        m.grow_noise = s.grow_noise + 0.2f;
        refused(bad, m, &train, GN_ERR_INVALID, "--grow-noise");
        m = s;
        m.max_groups = 257;
        refused(bad, m, &train, GN_ERR_INVALID, "pools");
        m = s;
        m.limit_train = 800;
        refused(bad, m, &train, GN_ERR_INVALID, "--limit-train");
        m = s;
        m.steps = 10;
        refused(bad, m, &train, GN_ERR_INVALID, "past this run's last step");
        m = s;
        m.normalize = GN_NORMALIZE_NONE;
        refused(bad, m, &train, GN_ERR_INVALID, "--normalize none, the checkpoint standard");
    }
    {
        /* a checkpoint of a tf32 run (its precision word set, the CRC
         * fixed up), resumed at fp32: refused, naming both; a precision no
         * build knows: a corrupted header */
        assert_int_equal(b[316], 0);
        b[316] = GN_PRECISION_TF32;
        recrc(b, n);
        spit(bad, b, n);
        refused(bad, s, &train, GN_ERR_INVALID, "--precision fp32, the checkpoint tf32");
        b[316] = 7;
        recrc(b, n);
        spit(bad, b, n);
        refused(bad, s, &train, GN_ERR_FORMAT, "corrupted header: precision 7");
        b[316] = 0;
        recrc(b, n);
        spit(bad, b, n);
    }
    {
        /* the same shape, one value changed */
        struct gn_data other = make_data(900, gn_test_seed(), 0);
        other.x[123] += 0.25f;
        refused(bad, s, &other, GN_ERR_INVALID, "training data differ");
        gn_data_free(&other);
        other = make_data(900, gn_test_seed(), 0);
        free(other.x);
        other.features = 11;
        other.x = calloc((size_t)other.count * 11, sizeof(float));
        struct gn_data other_test = test;
        other_test.count = 0;
        gn_trainer *tt;
        struct gn_settings m = s;
        m.resume_path = bad;
        assert_int_equal(gn_trainer_open(&tt, &m, &other, &other_test, NULL), GN_ERR_INVALID);
        assert_non_null(strstr(gn_error_message(), "features"));
        gn_data_free(&other);
    }
    /* a well-formed checkpoint whose graph is broken: an edge into the input */
    {
        struct gn_checkpoint c;
        assert_int_equal(gn_checkpoint_parse(b, n, "good", &c), GN_OK);
        size_t e0 = GN_CHECKPOINT_HEADER + (size_t)c.h.n_groups * 36;
        gn_checkpoint_free(&c);
        b[e0 + 4] = 0; /* edge 0's dst = the input */
        b[e0 + 5] = b[e0 + 6] = b[e0 + 7] = 0;
        recrc(b, n);
        spit(bad, b, n);
        refused(bad, s, &train, GN_ERR_FORMAT, "edge 0");
    }
    free(b);
}

/* small() with adam or adamw, a warmup and a cosine or step schedule. */
static struct gn_settings small_adam(enum gn_backend b, enum gn_optimizer o,
                                     enum gn_lr_schedule sched)
{
    struct gn_settings s = small(b);
    s.optimizer = o;
    s.lr = 0.01f;
    s.weight_decay = 1e-3f;
    s.lr_schedule = sched;
    s.lr_warmup = 10;
    s.lr_min = 1e-4f;
    s.lr_step_every = 20;
    s.lr_gamma = 0.5f;
    return s;
}

/* Adam's moments and its schedule through a checkpoint: the resumed run
 * ends bitwise where the uninterrupted one ends (serial files byte for
 * byte), from inside the warmup, mid-epoch and at epoch ends. */
static void test_resume_adam(void **state)
{
    (void)state;
    resume_cases_of(small_adam(GN_BACKEND_SERIAL, GN_OPTIM_ADAM, GN_LR_COSINE),
                    GN_BACKEND_SERIAL);
    resume_cases_of(small_adam(GN_BACKEND_CPU, GN_OPTIM_ADAMW, GN_LR_COSINE), GN_BACKEND_CPU);
    resume_cases_of(small_adam(GN_BACKEND_SERIAL, GN_OPTIM_ADAMW, GN_LR_STEP), GN_BACKEND_CPU);
}

/* An adam checkpoint refuses a run whose optimizer settings differ: betas,
 * epsilon, the cosine's floor and length, the step schedule's period and
 * factor, the optimizer itself. */
static void stopped_checkpoint(struct gn_settings s, const char *ck, int64_t at)
{
    gn_trainer *t;
    s.checkpoint_path = ck;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    struct stopper sp = {t, at};
    assert_int_equal(gn_trainer_run(t, stop_at, &sp), GN_ERR_INTERRUPTED);
    gn_trainer_close(t);
}

static void test_adam_mismatch(void **state)
{
    (void)state;
    const char *ck = path("adam.ckpt");
    struct gn_settings s = small_adam(GN_BACKEND_SERIAL, GN_OPTIM_ADAM, GN_LR_COSINE);
    stopped_checkpoint(s, ck, 20);
    gn_trainer *t;
    struct gn_settings m = s;
    m.beta1 = 0.8f;
    refused(ck, m, &train, GN_ERR_INVALID, "--beta1 0.8");
    m = s;
    m.beta2 = 0.99f;
    refused(ck, m, &train, GN_ERR_INVALID, "--beta2 0.99");
    m = s;
    m.eps = 1e-6f;
    refused(ck, m, &train, GN_ERR_INVALID, "--eps");
    m = s;
    m.optimizer = GN_OPTIM_ADAMW;
    refused(ck, m, &train, GN_ERR_INVALID, "--optimizer adamw, the checkpoint adam");
    m = s;
    m.lr_min = 0.0f;
    refused(ck, m, &train, GN_ERR_INVALID, "--lr-min 0, the checkpoint 0.0001");
    m = s;
    m.epochs = 4;
    refused(ck, m, &train, GN_ERR_INVALID, "the cosine schedule decays over this run's");
    m = s;
    m.momentum = 0.5f; /* adam reads no momentum: not refused */
    m.resume_path = ck;
    assert_int_equal(gn_trainer_open(&t, &m, &train, &test, NULL), GN_OK);
    gn_trainer_close(t);

    s.lr_schedule = GN_LR_STEP;
    stopped_checkpoint(s, ck, 20);
    m = s;
    m.lr_step_every = 21;
    refused(ck, m, &train, GN_ERR_INVALID, "--lr-step-every 21");
    m = s;
    m.lr_gamma = 0.25f;
    refused(ck, m, &train, GN_ERR_INVALID, "--lr-gamma 0.25");
    m = s;
    m.epochs = 4; /* a step schedule does not depend on the run's length */
    m.resume_path = ck;
    assert_int_equal(gn_trainer_open(&t, &m, &train, &test, NULL), GN_OK);
    gn_trainer_close(t);
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int k = 0; k < bytes; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* The version 3 file of the state a version 4 checkpoint of a run without
 * pruning holds: the same header without the pruning fields (reserved,
 * zero), group records of 32 bytes (no pruning patience). */
static unsigned char *to_v3(const unsigned char *b, size_t n, size_t *len)
{
    struct gn_checkpoint c;
    assert_int_equal(gn_checkpoint_parse(b, n, "v4", &c), GN_OK);
    assert_true(c.h.prune_threshold == 0.0f);
    const size_t H = GN_CHECKPOINT_HEADER, G = (size_t)c.h.n_groups;
    gn_checkpoint_free(&c);
    *len = n - 4 * G;
    unsigned char *v = calloc(*len, 1);
    assert_non_null(v);
    memcpy(v, b, 296); /* the fields version 3 has; then reserved bytes */
    put_le(v + 8, 3, 4);
    put_le(v + 16, *len, 8);
    for (size_t g = 0; g < G; g++) memcpy(v + H + 32 * g, b + H + 36 * g, 32);
    memcpy(v + H + 32 * G, b + H + 36 * G, n - H - 36 * G);
    recrc(v, *len);
    return v;
}

/* The version 2 file of the state a version 4 checkpoint of an sgd run
 * with a constant rate holds (what version 2 could hold): the 256-byte
 * header without the optimizer's fields, no second moment. */
static unsigned char *to_v2(const unsigned char *b4, size_t n4, size_t *len)
{
    size_t n;
    unsigned char *b = to_v3(b4, n4, &n);
    struct gn_checkpoint c;
    assert_int_equal(gn_checkpoint_parse(b, n, "v3", &c), GN_OK);
    assert_int_equal(c.h.optimizer, GN_OPTIM_SGD);
    const size_t H3 = GN_CHECKPOINT_HEADER, H2 = GN_CHECKPOINT_HEADER_V2;
    const size_t np = (size_t)c.h.n_params * 4, in = (size_t)c.h.inputs * 8;
    const size_t records = (size_t)c.h.n_groups * (32 + 4) + (size_t)c.h.n_edges * 16;
    gn_checkpoint_free(&c);
    *len = n - (H3 - H2) - np;
    unsigned char *v = calloc(*len, 1);
    assert_non_null(v);
    memcpy(v, b, 236); /* the fields version 2 has; then 20 reserved bytes */
    put_le(v + 8, 2, 4);
    put_le(v + 12, H2, 4);
    put_le(v + 16, *len, 8);
    memcpy(v + H2, b + H3, records + 2 * np);                       /* up to the moment */
    memcpy(v + H2 + records + 2 * np, b + H3 + records + 3 * np, in); /* the normalization */
    recrc(v, *len);
    free(b);
    return v;
}

/* Version 2 files (before the optimizer settings) still load: as sgd at a
 * constant rate with a zero second moment, and a resumed sgd run ends
 * where the uninterrupted one ends; an adam run refuses them. */
static void test_version2(void **state)
{
    (void)state;
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    struct gn_progress pr;
    const char *ref = path("ref.ckpt"), *ck = path("v3.ckpt"), *v2 = path("v2.ckpt");
    const char *fin = path("final.ckpt");
    reference(s, ref, &pr);
    struct gn_settings a = s;
    a.steps = 40;
    a.checkpoint_path = ck;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    size_t n, n2;
    unsigned char *b = slurp(ck, &n);
    unsigned char *c2 = to_v2(b, n, &n2);
    spit(v2, c2, n2);
    struct gn_checkpoint c;
    assert_int_equal(gn_checkpoint_load(v2, &c), GN_OK);
    assert_int_equal(c.h.version, 2);
    assert_int_equal(c.h.step, 40);
    for (int64_t i = 0; i < c.h.n_params; i++) assert_true(c.moment2[i] == 0.0f);
    gn_checkpoint_free(&c);

    struct gn_settings r = s;
    r.resume_path = v2;
    r.checkpoint_path = fin;
    assert_int_equal(gn_trainer_open(&t, &r, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct gn_progress pb;
    gn_trainer_progress(t, &pb);
    gn_trainer_close(t);
    assert_same_progress(&pb, &pr);
    assert_same_file(fin, ref);

    struct gn_settings m = s;
    m.optimizer = GN_OPTIM_ADAM;
    refused(v2, m, &train, GN_ERR_INVALID, "--optimizer adam, the checkpoint sgd");

    /* a version 3 file (before pruning) resumes the same run bitwise */
    const char *v3 = ck; /* read into b: its name holds the version 3 file now */
    size_t n3;
    unsigned char *c3 = to_v3(b, n, &n3);
    spit(v3, c3, n3);
    assert_int_equal(gn_checkpoint_load(v3, &c), GN_OK);
    assert_int_equal(c.h.version, 3);
    assert_int_equal(c.h.pruned, 0);
    assert_true(c.h.prune_threshold == 0.0f);
    gn_checkpoint_free(&c);
    r.resume_path = v3;
    assert_int_equal(gn_trainer_open(&t, &r, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_progress(t, &pb);
    gn_trainer_close(t);
    assert_same_progress(&pb, &pr);
    assert_same_file(fin, ref);
    m = s;
    m.prune_threshold = 0.5f;
    refused(v3, m, &train, GN_ERR_INVALID, "--prune-threshold 0.5, the checkpoint 0");
    free(b);
    free(c2);
    free(c3);
}

/* A small serial run of `steps` steps whose final checkpoint goes to
 * path(name); returns that path. */
static const char *run_to_checkpoint(const char *name, int64_t steps)
{
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    s.steps = steps;
    s.checkpoint_path = path(name);
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    return s.checkpoint_path;
}

/* A checkpoint of the layout before parameter blocks were aligned (blocks
 * end to end; the output's 10 biases leave every later block 8 bytes off):
 * its model loads aligned, each block with its values. */
static void test_legacy_layout(void **state)
{
    (void)state;
    const char *ck = run_to_checkpoint("aligned.ckpt", 20);
    struct gn_checkpoint c, orig;
    assert_int_equal(gn_checkpoint_load(ck, &c), GN_OK);
    assert_int_equal(gn_checkpoint_load(ck, &orig), GN_OK);
    /* move every block down end to end, in offset order */
    int64_t at = 0;
    for (int64_t off = 0; off < orig.h.n_params; off++) {
        for (int32_t g = 0; g < c.h.n_groups; g++) {
            if (orig.groups[g].bias != off) continue;
            const int32_t w = c.groups[g].width;
            memmove(c.params + at, c.params + off, (size_t)w * sizeof(float));
            memmove(c.moment + at, c.moment + off, (size_t)w * sizeof(float));
            memmove(c.moment2 + at, c.moment2 + off, (size_t)w * sizeof(float));
            c.groups[g].bias = at;
            at += w;
        }
        for (int32_t e = 0; e < c.h.n_edges; e++) {
            if (orig.edges[e].src < 0 || orig.edges[e].w != off) continue;
            const int64_t len =
                (int64_t)c.groups[c.edges[e].src].width * c.groups[c.edges[e].dst].width;
            memmove(c.params + at, c.params + off, (size_t)len * sizeof(float));
            memmove(c.moment + at, c.moment + off, (size_t)len * sizeof(float));
            memmove(c.moment2 + at, c.moment2 + off, (size_t)len * sizeof(float));
            c.edges[e].w = at;
            at += len;
        }
    }
    assert_true(at < orig.h.n_params); /* some block moved: the layout is the old one */
    const int64_t aligned_n = orig.h.n_params;
    c.h.n_params = at;
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, c.h.inputs, c.h.classes, c.h.group_size, c.h.max_groups,
                                   c.h.max_edges, c.h.max_params),
                     GN_OK);
    assert_int_equal(gn_checkpoint_model(&c, &m), GN_OK);
    assert_int_equal(m.n_params, aligned_n);
    for (int32_t g = 0; g < m.n_groups; g++) {
        if (m.groups[g].bias < 0) continue;
        assert_int_equal(m.groups[g].bias, orig.groups[g].bias);
        assert_memory_equal(m.params + m.groups[g].bias, orig.params + orig.groups[g].bias,
                            (size_t)m.groups[g].width * sizeof(float));
        assert_memory_equal(m.moment2 + m.groups[g].bias, orig.moment2 + orig.groups[g].bias,
                            (size_t)m.groups[g].width * sizeof(float));
    }
    for (int32_t e = 0; e < m.n_edges; e++) {
        if (m.edges[e].src < 0) continue;
        const size_t len =
            (size_t)m.groups[m.edges[e].src].width * (size_t)m.groups[m.edges[e].dst].width;
        assert_int_equal(m.edges[e].w, orig.edges[e].w);
        assert_memory_equal(m.params + m.edges[e].w, orig.params + orig.edges[e].w,
                            len * sizeof(float));
        assert_memory_equal(m.moment + m.edges[e].w, orig.moment + orig.edges[e].w,
                            len * sizeof(float));
    }
    gn_model_free(&m);

    /* Its pool full to the last float: the aligned blocks do not fit, and
     * the message names the pool that does; such a checkpoint (only one of
     * the old layout) may resume with a larger --max-params, which the
     * run's check accepts, and loads into it. */
    assert_true(gn_checkpoint_legacy_layout(&c));
    assert_false(gn_checkpoint_legacy_layout(&orig));
    c.h.max_params = at;
    assert_int_equal(gn_model_init(&m, c.h.inputs, c.h.classes, c.h.group_size, c.h.max_groups,
                                   c.h.max_edges, at),
                     GN_OK);
    assert_int_equal(gn_checkpoint_model(&c, &m), GN_ERR_FULL);
    char want[64];
    snprintf(want, sizeof want, "raise --max-params to %lld or more", (long long)aligned_n);
    assert_non_null(strstr(gn_error_message(), want));
    gn_model_free(&m);
    struct gn_settings st = small(GN_BACKEND_SERIAL);
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &st, &train, &test, NULL), GN_OK);
    struct gn_plan plan = *gn_trainer_plan(t);
    plan.max_params = at; /* the checkpoint's own pool: the same run */
    assert_int_equal(gn_checkpoint_match(&c, &plan, c.h.data_crc, gn_trainer_norm(t), "legacy"),
                     GN_OK);
    plan.max_params = aligned_n; /* larger: only the old layout may */
    assert_int_equal(gn_checkpoint_match(&c, &plan, c.h.data_crc, gn_trainer_norm(t), "legacy"),
                     GN_OK);
    plan.max_params = at - 1; /* smaller: never */
    assert_int_equal(gn_checkpoint_match(&c, &plan, c.h.data_crc, gn_trainer_norm(t), "legacy"),
                     GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "it also takes a larger --max-params"));
    plan.max_params = orig.h.max_params + 4;
    assert_int_equal(
        gn_checkpoint_match(&orig, &plan, orig.h.data_crc, gn_trainer_norm(t), "aligned"),
        GN_ERR_INVALID);
    plan.max_params = orig.h.max_params;
    assert_int_equal(
        gn_checkpoint_match(&orig, &plan, orig.h.data_crc, gn_trainer_norm(t), "aligned"), GN_OK);
    gn_trainer_close(t);
    assert_int_equal(gn_model_init(&m, c.h.inputs, c.h.classes, c.h.group_size, c.h.max_groups,
                                   c.h.max_edges, aligned_n),
                     GN_OK);
    assert_int_equal(gn_checkpoint_model(&c, &m), GN_OK);
    assert_int_equal(m.n_params, aligned_n);
    gn_model_free(&m);
    gn_checkpoint_free(&c);
    gn_checkpoint_free(&orig);
}

/* Opens (and closes) a run resuming from ck: GN_OK or the error. */
static enum gn_status resume_opens(const char *ck, struct gn_settings s)
{
    gn_trainer *t;
    s.resume_path = ck;
    enum gn_status st = gn_trainer_open(&t, &s, &train, &test, NULL);
    if (st == GN_OK) gn_trainer_close(t);
    return st;
}

/* The growth criterion in checkpoints: a relative run's checkpoint holds
 * its ratio (a different one is refused, a different --grow-threshold,
 * which it does not read, is not); a version-2 checkpoint, written before
 * criteria, resumes as std. */
static void test_criterion_checkpoints(void **state)
{
    (void)state;
    const char *ck = path("crit.ckpt"), *old = path("v2.ckpt");
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    s.grow_criterion = GN_GROW_CRITERION_RELATIVE;
    s.grow_ratio = 1.5f;
    struct gn_settings a = s;
    a.steps = 20;
    a.checkpoint_path = ck;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    assert_int_equal(resume_opens(ck, s), GN_OK);
    struct gn_settings m = s;
    m.grow_threshold = 0.5f;
    assert_int_equal(resume_opens(ck, m), GN_OK);
    m = s;
    m.grow_ratio = 2.5f;
    refused(ck, m, &train, GN_ERR_INVALID, "--grow-ratio 2.5, the checkpoint 1.5");
    m = s;
    m.grow_criterion = GN_GROW_CRITERION_STD;
    refused(ck, m, &train, GN_ERR_INVALID, "--grow-criterion std, the checkpoint relative");

    /* version 2: the same run's checkpoint in the version-2 layout (no
     * optimizer settings, no criterion: the reserved zeros, no second
     * moment) */
    size_t n, n2;
    unsigned char *b3 = slurp(ck, &n);
    unsigned char *b = to_v2(b3, n, &n2);
    free(b3);
    spit(old, b, n2);
    struct gn_checkpoint c;
    assert_int_equal(gn_checkpoint_parse(b, n2, "v2", &c), GN_OK);
    assert_int_equal(c.h.grow_criterion, GN_GROW_CRITERION_STD);
    gn_checkpoint_free(&c);
    free(b);
    m = s;
    m.grow_criterion = GN_GROW_CRITERION_STD;
    assert_int_equal(resume_opens(old, m), GN_OK);
    refused(old, s, &train, GN_ERR_INVALID, "--grow-criterion relative, the checkpoint std");
}

/* Every prefix and every single-byte change (checksum fixed up, so the
 * decoder's own checks are reached) is refused or decoded: no fault, no
 * leak (the sanitizer builds run this too). */
static void test_parse_mutations(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = slurp(run_to_checkpoint("m.ckpt", 9), &n);
    struct gn_checkpoint c;
    for (size_t k = 0; k < n; k++) {
        assert_int_not_equal(gn_checkpoint_parse(b, k, "prefix", &c), GN_OK);
    }
    int ok = 0, bad = 0;
    unsigned char *m = malloc(n);
    const size_t limit = n < 2048 ? n : 2048; /* header, groups, edges, order, first params */
    for (size_t k = 0; k < limit; k++) {
        for (int v = 0; v < 3; v++) {
            memcpy(m, b, n);
            m[k] = v == 0 ? (unsigned char)(m[k] ^ 0x80) : v == 1 ? 0xff : 0x00;
            recrc(m, n);
            if (gn_checkpoint_parse(m, n, "mutant", &c) == GN_OK) {
                struct gn_model mm;
                int32_t ng = c.h.n_groups, ne = c.h.n_edges > 0 ? c.h.n_edges : 1;
                if (gn_model_init(&mm, c.h.inputs, c.h.classes, c.h.group_size, ng, ne,
                                  c.h.n_params) == GN_OK) {
                    (void)gn_checkpoint_model(&c, &mm);
                    gn_model_free(&mm);
                }
                gn_checkpoint_free(&c);
                ok++;
            } else {
                bad++;
            }
        }
    }
    print_message("%d mutants decoded, %d refused\n", ok, bad);
    free(m);
    free(b);
}

/* A row with a NaN feature (the API takes any floats; the CSV and IDX
 * readers never produce one): the gradients of every group the input feeds
 * become NaN (NaN * 0 is NaN), whatever the weights, in the one step per
 * epoch whose batch holds the row. */
static struct gn_data poisoned(void)
{
    struct gn_data d = make_data(900, gn_test_seed(), 0);
    d.x[(int64_t)500 * d.features + 3] = NAN;
    return d;
}

/* The first step at which a run discarded a step. */
static void first_skip(void *ctx, const struct gn_progress *p)
{
    int64_t *k = ctx;
    if (*k == 0 && p->skipped > 0) *k = p->step;
}

static void test_nan(void **state)
{
    (void)state;
    struct gn_data d = poisoned();
    for (int b = 0; b < 4; b++) {
        /* sgd on serial and cpu; adam (both moments restored; a step
         * schedule, which --steps below does not change) on cpu; and sgd
         * on cpu with pruning at every round (the restored model may have
         * been compacted by the rounds before) */
        struct gn_settings s = b < 2 ? small(b ? GN_BACKEND_CPU : GN_BACKEND_SERIAL)
                               : b == 2 ? small_adam(GN_BACKEND_CPU, GN_OPTIM_ADAM, GN_LR_STEP)
                                        : small(GN_BACKEND_CPU);
        if (b == 3) {
            s.grow = GN_GROW_WIDTH;
            s.grow_threshold = 0.0f;
            s.prune_threshold = 1e30f;
            s.prune_after = 2;
        }
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &s, &d, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_ERR_NUMERIC);
        print_message("stop: %s\n", gn_error_message());
        assert_non_null(strstr(gn_error_message(), "at step"));
        assert_non_null(strstr(gn_error_message(), "group"));
        gn_trainer_close(t);

        s.on_nan = GN_NAN_SKIP;
        assert_int_equal(gn_trainer_open(&t, &s, &d, &test, NULL), GN_OK);
        int64_t k = 0;
        assert_int_equal(gn_trainer_run(t, first_skip, &k), GN_OK);
        struct gn_progress p;
        gn_trainer_progress(t, &p);
        print_message("skip: %lld steps discarded (the first at step %lld), loss %.4f\n",
                      (long long)p.skipped, (long long)k, p.loss);
        assert_int_equal(p.skipped, s.epochs); /* the poisoned row's step, once per epoch */
        assert_true(isfinite(p.loss));
        const struct gn_model *tm = gn_trainer_model(t);
        for (int64_t i = 0; i < tm->n_params; i++)
            assert_true(isfinite(tm->params[i]));
        gn_trainer_close(t);

        /* the discarded step changed nothing: the model after step k is the
         * model after step k - 1 */
        struct gn_settings u = s;
        u.steps = k - 1;
        u.checkpoint_path = path("before.ckpt");
        assert_int_equal(gn_trainer_open(&t, &u, &d, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
        gn_trainer_close(t);
        u.steps = k;
        u.checkpoint_path = path("after.ckpt");
        assert_int_equal(gn_trainer_open(&t, &u, &d, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
        gn_trainer_progress(t, &p);
        assert_int_equal(p.skipped, 1);
        gn_trainer_close(t);
        /* but for the statistic: made only where it is read (plan.h,
         * gn_plan_stat_read), the run's end among them, so the shorter run
         * holds its last step's, while the longer one, whose end was
         * discarded, holds that of the last step before it that made one */
        assert_same_state_as(path("before.ckpt"), path("after.ckpt"), 0, 0);
    }
    gn_data_free(&d);
    /* an unknown policy */
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    s.on_nan = (enum gn_nan_policy)7;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_ERR_INVALID);
}

/* A gradient that is not finite while the loss is: the guard names the
 * group (graph-file id and slot) and the step. */
static void test_nan_gradient(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 10, 4, 6, 8, 32, 4096), GN_OK);
    gn_test_random_dag(&m, gn_test_seed(), 3);
    assert_int_equal(gn_numguard_check(&m, 1.5, 5), GN_OK);
    int32_t g = m.order[2];
    m.groups[g].grad_std = NAN;
    assert_int_equal(gn_numguard_check(&m, 1.5, 5), GN_ERR_NUMERIC);
    print_message("%s\n", gn_error_message());
    char want[64];
    snprintf(want, sizeof want, "hidden group 2 (its graph-file id; slot %d) at step 5", g);
    assert_non_null(strstr(gn_error_message(), want));
    m.groups[g].grad_std = 0.0f;
    m.groups[GN_SLOT_OUTPUT].grad_std = INFINITY;
    assert_int_equal(gn_numguard_check(&m, 1.5, 6), GN_ERR_NUMERIC);
    assert_non_null(strstr(gn_error_message(), "output group"));
    assert_int_equal(gn_numguard_check(&m, NAN, 7), GN_ERR_NUMERIC);
    assert_non_null(strstr(gn_error_message(), "loss is nan at step 7"));
    gn_model_free(&m);
}

/* The guard's rules (numguard.h), as every backend runs them. */
static void test_guard_rules(void **state)
{
    (void)state;
    const double limit = gn_guard_explode_loss(4);
    assert_true(fabs(limit - GN_GUARD_EXPLODE * log(4.0)) < 1e-12);
    assert_int_equal(gn_guard_loss(10.0 * limit, 10, limit), GN_GUARD_LOSS_OK); /* at it */
    assert_int_equal(gn_guard_loss(10.0 * limit + 1e-6, 10, limit), GN_GUARD_LOSS_EXPLODED);
    assert_int_equal(gn_guard_loss(NAN, 10, limit), GN_GUARD_LOSS_NONFINITE);
    assert_int_equal(gn_guard_loss(-INFINITY, 10, limit), GN_GUARD_LOSS_NONFINITE);

    /* chance: the entropy of the labels */
    uint8_t y[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    assert_true(fabs(gn_guard_chance_loss(y, 8, 4) - log(4.0)) < 1e-12);
    uint8_t z[4] = {2, 2, 2, 2};
    assert_true(gn_guard_chance_loss(z, 4, 4) == 0.0);

    /* dead epochs: in a row only, and only with a dead group while the
     * loss has never been at most GN_GUARD_LEARNED x chance */
    int32_t k = 0;
    const double h = log(4.0);
    assert_false(gn_guard_epoch(&k, h * 100, 100, h, 1, 1));
    assert_int_equal(k, 1);
    assert_false(gn_guard_epoch(&k, h * 70, 100, h, 1, 1)); /* learning: the count resets */
    assert_int_equal(k, 0);
    assert_false(gn_guard_epoch(&k, h * 100, 100, h, 0, 1)); /* no dead group, never learnt */
    assert_int_equal(k, 0);
    assert_false(gn_guard_epoch(&k, h * 99, 100, h, 3, 1));
    assert_true(gn_guard_epoch(&k, h * 99, 100, h, 2, 1));
    /* collapse: at chance with no dead group, after an epoch at most
     * GN_GUARD_LEARNED x chance */
    k = 0;
    assert_false(gn_guard_epoch(&k, h * 30, 100, h, 0, 1));
    assert_int_equal(k, GN_GUARD_HAS_LEARNED);
    assert_false(gn_guard_epoch(&k, h * 100, 100, h, 0, 1));
    assert_int_equal(k & GN_GUARD_COUNT_MASK, 1);
    assert_false(gn_guard_epoch(&k, h * 60, 100, h, 0, 1)); /* not at chance: resets, stays armed */
    assert_int_equal(k, GN_GUARD_HAS_LEARNED);
    assert_false(gn_guard_epoch(&k, h * 98.5, 100, h, 0, 1));
    assert_true(gn_guard_epoch(&k, h * 100, 100, h, 0, 1));
    /* a run's end inside an epoch: judged, not kept (the epoch goes on
     * after a resume and is judged whole at its end) */
    k = GN_GUARD_HAS_LEARNED | 1;
    assert_true(gn_guard_epoch(&k, h * 100, 100, h, 0, 0));
    assert_int_equal(k, GN_GUARD_HAS_LEARNED | 1);
    k = 0;
    assert_false(gn_guard_epoch(&k, h * 30, 100, h, 0, 0));
    assert_int_equal(k, 0);
    assert_false(gn_guard_epoch(&k, h * 100, 100, h, 1, 0));
    assert_int_equal(k, 0);
    assert_int_equal(gn_numguard_died(12, 5628, h, h, 0), GN_ERR_NUMERIC);
    assert_non_null(strstr(gn_error_message(), "back at chance"));
    assert_int_equal(gn_numguard_died(12, 5628, h, h, 2), GN_ERR_NUMERIC);
    assert_non_null(strstr(gn_error_message(), "2 hidden groups have every ReLU off"));

    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 10, 4, 6, 8, 32, 4096), GN_OK);
    gn_test_random_dag(&m, gn_test_seed(), 3);
    for (int32_t g = 0; g < m.n_groups; g++) m.groups[g].grad_std = 0.5f;
    assert_int_equal(gn_guard_dead_groups(&m), 0);
    assert_int_equal(gn_guard_bad_group(&m), 0);
    m.groups[m.order[2]].grad_std = 0.0f;
    m.groups[GN_SLOT_OUTPUT].grad_std = 0.0f; /* not a hidden group */
    assert_int_equal(gn_guard_dead_groups(&m), 1);
    m.groups[m.order[3]].grad_std = NAN;
    m.groups[m.order[2]].grad_std = INFINITY;
    assert_int_equal(gn_guard_bad_group(&m), 2);
    gn_model_free(&m);
}

/* A loss that explodes while every number is finite stops the run at the
 * same step with the same words on both host backends. */
static void test_explosion(void **state)
{
    (void)state;
    char msg[2][512];
    for (int b = 0; b < 2; b++) {
        struct gn_settings s = small(b ? GN_BACKEND_CPU : GN_BACKEND_SERIAL);
        s.lr = 200.0f;
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_ERR_NUMERIC);
        snprintf(msg[b], sizeof msg[b], "%s", gn_error_message());
        print_message("%s\n", msg[b]);
        gn_trainer_close(t);
    }
    assert_non_null(strstr(msg[0], "the training loss exploded at step"));
    assert_string_equal(msg[0], msg[1]);
}

/* Features that are all zero: the hidden group's ReLUs never open (its
 * gradients are exactly zero) and the loss can only reach the labels'
 * entropy. Stop: the run ends at the second epoch's end naming it; skip:
 * the run goes on and reports the death. */
static void test_died(void **state)
{
    (void)state;
    struct gn_data d = make_data(900, gn_test_seed(), 0);
    memset(d.x, 0, (size_t)d.count * (size_t)d.features * sizeof(float));
    char msg[2][512];
    for (int b = 0; b < 2; b++) {
        struct gn_settings s = small(b ? GN_BACKEND_CPU : GN_BACKEND_SERIAL);
        s.epochs = 4;
        s.grow = GN_GROW_OFF;
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &s, &d, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_ERR_NUMERIC);
        snprintf(msg[b], sizeof msg[b], "%s", gn_error_message());
        print_message("%s\n", msg[b]);
        gn_trainer_close(t);

        s.on_nan = GN_NAN_SKIP;
        struct gn_progress p;
        assert_int_equal(gn_trainer_open(&t, &s, &d, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
        gn_trainer_progress(t, &p);
        assert_int_equal(p.epoch, 4);
        assert_int_equal(p.died, 1);
        assert_int_equal(p.dead_groups, 1);
        gn_trainer_close(t);
    }
    assert_non_null(strstr(msg[0], "the network died: at the end of epoch 2 (step 58)"));
    assert_non_null(strstr(msg[0], "1 hidden group has every ReLU off"));
    assert_string_equal(msg[0], msg[1]);
    gn_data_free(&d);
}

/* The data set's CRC is zlib's CRC-32 of the used rows' floats, then their
 * labels, whichever library computes it (libdeflate where the build has
 * it): against zlib's crc32 here, on odd lengths, whole sets and prefixes
 * of their rows. */
static void test_data_crc(void **state)
{
    (void)state;
    const int32_t shapes[][2] = {{1, 1}, {3, 7}, {257, 13}, {4099, 31}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        struct gn_data d = {.count = shapes[s][0], .features = shapes[s][1], .classes = 10};
        d.x = malloc((size_t)d.count * (size_t)d.features * sizeof(float));
        d.y = malloc((size_t)d.count);
        assert_non_null(d.x);
        assert_non_null(d.y);
        for (int64_t i = 0; i < (int64_t)d.count * d.features; i++)
            d.x[i] = gn_rng_uniform(4242, 0, (uint64_t)s, (uint64_t)i) * 2.0f - 1.0f;
        for (int32_t i = 0; i < d.count; i++)
            d.y[i] = (uint8_t)(gn_rng_u64(4242, 1, (uint64_t)s, (uint64_t)i) % 10);
        for (int64_t n = d.count; n >= 1; n = n > 2 ? n / 2 : n - 1) {
            uLong want = crc32(0L, Z_NULL, 0);
            want = crc32(want, (const Bytef *)d.x, (uInt)((size_t)n * d.features * sizeof(float)));
            want = crc32(want, d.y, (uInt)n);
            assert_int_equal(gn_checkpoint_data_crc(&d, n), (uint32_t)want);
        }
        free(d.x);
        free(d.y);
    }
}

static void test_host_memory(void **state)
{
    (void)state;
    struct gn_settings s = small(GN_BACKEND_SERIAL);
    s.max_params = INT64_C(1) << 50; /* 4 PiB of floats, four times */
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_ERR_NOMEM);
    print_message("%s\n", gn_error_message());
    assert_non_null(strstr(gn_error_message(), "not enough host memory"));
    assert_non_null(strstr(gn_error_message(), "MiB are available"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_serial),
        cmocka_unit_test(test_resume_cpu),
        cmocka_unit_test(test_resume_serial_to_cpu),
        cmocka_unit_test(test_resume_adam),
        cmocka_unit_test(test_adam_mismatch),
        cmocka_unit_test(test_version2),
        cmocka_unit_test(test_legacy_layout),
        cmocka_unit_test(test_resume_relative),
        cmocka_unit_test(test_resume_default_length),
        cmocka_unit_test(test_resume_prune),
        cmocka_unit_test(test_periodic),
        cmocka_unit_test(test_bad_checkpoints),
        cmocka_unit_test(test_criterion_checkpoints),
        cmocka_unit_test(test_parse_mutations),
        cmocka_unit_test(test_nan),
        cmocka_unit_test(test_nan_gradient),
        cmocka_unit_test(test_guard_rules),
        cmocka_unit_test(test_explosion),
        cmocka_unit_test(test_died),
        cmocka_unit_test(test_host_memory),
        cmocka_unit_test(test_data_crc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
