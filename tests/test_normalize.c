/*
 * Input normalization (runtime/formats/normalize.c) and its place in a run:
 *
 *   - the statistics of a small known matrix, exactly, for every mode;
 *   - constant features (and an all-zero one under scale) map to 0;
 *   - standard is the default;
 *   - NaN values are left out of the statistics and stay NaN;
 *   - every mode's output range on random data (standard: mean 0 and
 *     deviation 1; minmax: [0,1]; scale: [-1,1]; none: the same bits);
 *   - the fit's statistics against a plain per-value reference, bit for
 *     bit, on data with NaN and infinities in some rows, for 1 to 8
 *     threads; the threaded apply against the in-place one;
 *   - the trainer fits on the training examples in use, tests with those
 *     statistics (its epoch-end test accuracy equals gn_trainer_evaluate on
 *     the raw test set) and serial and cpu train bitwise alike;
 *   - a checkpoint keeps the mode and the statistics: a resumed run ends
 *     where the uninterrupted one ends, takes the stored statistics (a
 *     patched scale comes back) and refuses another --normalize.
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
#include "normalize.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

static char *dir;

/* rows x 3: f0 = 1,2,3,4; f1 = 5 (constant); f2 = -2,0,2,4 */
static const float known[4][3] = {{1, 5, -2}, {2, 5, 0}, {3, 5, 2}, {4, 5, 4}};

static struct gn_data matrix(const float *x, int32_t rows, int32_t features)
{
    struct gn_data d = {rows, features, 2, NULL, NULL};
    d.x = malloc((size_t)rows * features * sizeof(float));
    d.y = calloc((size_t)rows, 1);
    assert_non_null(d.x);
    assert_non_null(d.y);
    memcpy(d.x, x, (size_t)rows * features * sizeof(float));
    return d;
}

/* rows of F features, class-dependent, on a wide raw scale (feature k
 * around k * 100, some negative), 3 classes. */
static struct gn_data raw_data(int32_t rows, uint64_t seed, uint64_t stream)
{
    const int32_t F = 8, C = 3;
    struct gn_data d = {rows, F, C, malloc((size_t)rows * F * sizeof(float)), malloc((size_t)rows)};
    assert_non_null(d.x);
    assert_non_null(d.y);
    for (int32_t i = 0; i < rows; i++) {
        int32_t c = (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 40 + stream, (uint64_t)i) % C);
        d.y[i] = (uint8_t)c;
        for (int32_t k = 0; k < F; k++) {
            float u = gn_rng_uniform(seed, GN_RNG_TEST, 50 + stream, (uint64_t)i * F + k);
            float mu = gn_rng_uniform(seed, GN_RNG_TEST, 6, (uint64_t)c * F + k);
            d.x[(int64_t)i * F + k] = (float)(k * 100 - 150) + 40.0f * mu + 30.0f * u;
        }
    }
    return d;
}

static void test_known_matrix(void **state)
{
    (void)state;
    struct gn_data d = matrix(&known[0][0], 4, 3);
    struct gn_norm n;

    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_STANDARD, &d, 4), GN_OK);
    assert_int_equal(n.mode, GN_NORMALIZE_STANDARD);
    assert_true(n.shift[0] == 2.5f && n.scale[0] == (float)(1.0 / sqrt(1.25)));
    assert_true(n.shift[1] == 5.0f && n.scale[1] == 1.0f);
    assert_true(n.shift[2] == 1.0f && n.scale[2] == (float)(1.0 / sqrt(5.0)));
    float x[4][3];
    memcpy(x, known, sizeof x);
    gn_norm_apply(&n, &x[0][0], 4);
    for (int r = 0; r < 4; r++) {
        assert_true(x[r][0] == (known[r][0] - 2.5f) * (float)(1.0 / sqrt(1.25)));
        assert_true(x[r][1] == 0.0f); /* constant: 0 */
        assert_true(x[r][2] == (known[r][2] - 1.0f) * (float)(1.0 / sqrt(5.0)));
    }
    gn_norm_free(&n);

    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_MINMAX, &d, 4), GN_OK);
    assert_true(n.shift[0] == 1.0f && n.shift[1] == 5.0f && n.shift[2] == -2.0f);
    assert_true(n.scale[1] == 1.0f);
    assert_true(fabsf(n.scale[0] - 1.0f / 3.0f) <= 1e-7f && fabsf(n.scale[2] - 1.0f / 6.0f) <= 1e-7f);
    memcpy(x, known, sizeof x);
    gn_norm_apply(&n, &x[0][0], 4);
    assert_true(x[0][0] == 0.0f && x[0][2] == 0.0f && x[2][1] == 0.0f);
    assert_true(x[3][0] <= 1.0f && x[3][0] > 0.999999f);
    assert_true(x[3][2] <= 1.0f && x[3][2] > 0.999999f);
    gn_norm_free(&n);

    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_SCALE, &d, 4), GN_OK);
    assert_true(n.shift[0] == 0.0f && n.shift[1] == 0.0f && n.shift[2] == 0.0f);
    assert_true(n.scale[0] == 0.25f && n.scale[1] == 0.2f && n.scale[2] == 0.25f);
    gn_norm_free(&n);

    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_NONE, &d, 4), GN_OK);
    for (int f = 0; f < 3; f++)
        assert_true(n.shift[f] == 0.0f && n.scale[f] == 1.0f);
    gn_norm_free(&n);

    /* the first 2 rows only: f0 = 1,2 */
    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_STANDARD, &d, 2), GN_OK);
    assert_true(n.shift[0] == 1.5f && n.scale[0] == 2.0f);
    gn_norm_free(&n);
    gn_data_free(&d);
}

static void test_constant_and_special(void **state)
{
    (void)state;
    const float zeros[3][2] = {{0, 7}, {0, 7}, {0, 7}};
    struct gn_data d = matrix(&zeros[0][0], 3, 2);
    struct gn_norm n;
    for (int m = GN_NORMALIZE_STANDARD; m <= GN_NORMALIZE_SCALE; m++) {
        assert_int_equal(gn_norm_fit(&n, (enum gn_normalize)m, &d, 3), GN_OK);
        float x[3][2];
        memcpy(x, zeros, sizeof x);
        gn_norm_apply(&n, &x[0][0], 3);
        for (int r = 0; r < 3; r++) {
            assert_true(x[r][0] == 0.0f); /* all zero: 0 in every mode */
            /* constant 7: 0, except scale, which divides by max |x| */
            assert_true(x[r][1] == (m == GN_NORMALIZE_SCALE ? 1.0f : 0.0f));
        }
        assert_true(n.scale[0] == 1.0f);
        gn_norm_free(&n);
    }
    gn_data_free(&d);

    /* NaN: left out of the statistics, still NaN after */
    const float nan_rows[3][1] = {{1}, {NAN}, {3}};
    d = matrix(&nan_rows[0][0], 3, 1);
    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_STANDARD, &d, 3), GN_OK);
    assert_true(n.shift[0] == 2.0f && n.scale[0] == 1.0f);
    gn_norm_apply(&n, d.x, 3);
    assert_true(d.x[0] == -1.0f && isnan(d.x[1]) && d.x[2] == 1.0f);
    gn_norm_free(&n);
    gn_data_free(&d);

    /* a statistic beyond float is an error naming the feature */
    const float huge[2][1] = {{-3e38f}, {3e38f}};
    d = matrix(&huge[0][0], 2, 1);
    assert_int_equal(gn_norm_fit(&n, GN_NORMALIZE_MINMAX, &d, 2), GN_ERR_FORMAT);
    assert_non_null(strstr(gn_error_message(), "feature 0"));
    gn_data_free(&d);
}

static void test_ranges(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct gn_data tr = raw_data(1000, seed, 0), te = raw_data(300, seed, 1);
    const int32_t F = tr.features;
    for (int m = GN_NORMALIZE_NONE; m <= GN_NORMALIZE_SCALE; m++) {
        struct gn_norm n;
        assert_int_equal(gn_norm_fit(&n, (enum gn_normalize)m, &tr, tr.count), GN_OK);
        float *x = malloc((size_t)tr.count * F * sizeof(float));
        float *y = malloc((size_t)te.count * F * sizeof(float));
        memcpy(x, tr.x, (size_t)tr.count * F * sizeof(float));
        memcpy(y, te.x, (size_t)te.count * F * sizeof(float));
        gn_norm_apply(&n, x, tr.count);
        gn_norm_apply(&n, y, te.count);
        for (int32_t f = 0; f < F; f++) {
            double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
            for (int32_t r = 0; r < tr.count; r++) {
                double v = x[(int64_t)r * F + f];
                sum += v;
                sq += v * v;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            double mean = sum / tr.count, sd = sqrt(sq / tr.count - mean * mean);
            /* the test set is mapped with the training statistics */
            for (int32_t r = 0; r < te.count; r++) {
                float raw = te.x[(int64_t)r * F + f];
                assert_true(y[(int64_t)r * F + f] == (raw - n.shift[f]) * n.scale[f]);
            }
            switch (m) {
            case GN_NORMALIZE_NONE:
                assert_memory_equal(x, tr.x, (size_t)tr.count * F * sizeof(float));
                break;
            case GN_NORMALIZE_STANDARD:
                assert_true(fabs(mean) < 1e-5 && fabs(sd - 1.0) < 1e-4);
                break;
            case GN_NORMALIZE_MINMAX:
                assert_true(lo == 0.0 && hi <= 1.0 && hi > 1.0 - 1e-6);
                break;
            case GN_NORMALIZE_SCALE:
                assert_true(lo >= -1.0 && hi <= 1.0 && fmax(-lo, hi) > 1.0 - 1e-6);
                break;
            }
        }
        free(x);
        free(y);
        gn_norm_free(&n);
    }
    gn_data_free(&tr);
    gn_data_free(&te);
}

static struct gn_settings small(enum gn_backend b, enum gn_normalize m)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = b;
    s.threads = 3;
    s.group_size = 6;
    s.batch = 32;
    s.epochs = 2;
    s.lr = 0.05f;
    s.grow_every = 6;
    s.grow_threshold = 0.03f;
    s.max_groups = 64;
    s.normalize = m;
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
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Run s to its end; the model's parameters and the test accuracy out. */
static float *run(const struct gn_settings *s, const struct gn_data *tr, const struct gn_data *te,
                  int64_t *n_params, double *test_acc)
{
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, s, tr, te, NULL), GN_OK);
    enum gn_status st = gn_trainer_run(t, NULL, NULL);
    if (st) fail_msg("run: %s", gn_error_message());
    struct gn_model *m = gn_trainer_model(t);
    float *p = malloc((size_t)m->n_params * sizeof(float));
    memcpy(p, m->params, (size_t)m->n_params * sizeof(float));
    *n_params = m->n_params;
    struct gn_progress pr;
    gn_trainer_progress(t, &pr);
    *test_acc = pr.test_accuracy;
    gn_trainer_close(t);
    return p;
}

/* The statistics as the plain definition computes them: per feature, the
 * finite values' sum, minimum and maximum in row order, then the squared
 * deviations from sum / count (the oracle of the fast fit). */
static void reference_stats(const struct gn_data *d, int64_t rows, double *sum, double *sq,
                            int64_t *cnt, float *lo, float *hi)
{
    const int32_t F = d->features;
    for (int32_t f = 0; f < F; f++) {
        sum[f] = sq[f] = 0.0;
        cnt[f] = 0;
        lo[f] = INFINITY;
        hi[f] = -INFINITY;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int32_t f = 0; f < F; f++) {
            const float x = d->x[r * F + f];
            if (!isfinite(x)) continue;
            sum[f] += (double)x;
            cnt[f]++;
            if (x < lo[f]) lo[f] = x;
            if (x > hi[f]) hi[f] = x;
        }
    for (int64_t r = 0; r < rows; r++)
        for (int32_t f = 0; f < F; f++) {
            const float x = d->x[r * F + f];
            if (!isfinite(x)) continue;
            double dev = (double)x - sum[f] / (double)cnt[f];
            sq[f] += dev * dev;
        }
}

static void test_fit_threads(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    /* the last shape keeps its non-finite values to rows 96..127 and 330:
     * whole blocks of finite rows (the fit's blocked loops) around one
     * block and a short last block that go row by row */
    const int32_t shapes[][2] = {{301, 37}, {64, 100}, {5, 3}, {1000, 17}, {333, 45}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const int32_t R = shapes[k][0], F = shapes[k][1];
        struct gn_data d = {R, F, 2, malloc((size_t)R * F * sizeof(float)), calloc((size_t)R, 1)};
        assert_non_null(d.x);
        assert_non_null(d.y);
        for (int64_t i = 0; i < (int64_t)R * F; i++) {
            const float u = gn_rng_uniform(seed, GN_RNG_TEST, 90 + k, (uint64_t)i);
            d.x[i] = (float)(i % F) * 3.0f - 20.0f + 10.0f * u;
            if (i % 3 == 0) d.x[i] = 0.0f; /* exact zeros, as in image data */
        }
        /* some rows carry a NaN, an infinity or both, at varying features
         * (the other rows take the fit's branch-free path); in one shape a
         * feature has no finite value at all */
        const int some = k == 4;
        if (some) { /* feature 2's sum depends on its order: 30 ones, then
                     * 3e16 (the ones' 30 rounds to a multiple of its ulp,
                     * 4), then -3e16; in another order the 30 is exact */
            for (int32_t r = 0; r < 30; r++) d.x[(int64_t)r * F + 2] = 1.0f;
            d.x[30 * F + 2] = 3e16f;
            d.x[31 * F + 2] = -3e16f;
        }
        for (int32_t r = 0; r < R; r += 7)
            if (!some || (r >= 96 && r < 128)) d.x[(int64_t)r * F + (r * 5) % F] = NAN;
        for (int32_t r = 3; r < R; r += 11)
            if (!some || (r >= 96 && r < 128) || r == 330)
                d.x[(int64_t)r * F + (r * 3) % F] = -INFINITY;
        if (k == 1)
            for (int32_t r = 0; r < R; r++) d.x[(int64_t)r * F + 1] = INFINITY;
        double *sum = malloc((size_t)F * sizeof *sum), *sq = malloc((size_t)F * sizeof *sq);
        int64_t *cnt = malloc((size_t)F * sizeof *cnt);
        float *lo = malloc((size_t)F * sizeof *lo), *hi = malloc((size_t)F * sizeof *hi);
        assert_true(sum && sq && cnt && lo && hi);
        reference_stats(&d, R, sum, sq, cnt, lo, hi);
        for (int m = GN_NORMALIZE_STANDARD; m <= GN_NORMALIZE_SCALE; m++) {
            struct gn_norm one;
            assert_int_equal(gn_norm_fit(&one, (enum gn_normalize)m, &d, R), GN_OK);
            for (int32_t f = 0; f < F; f++) {
                if (cnt[f] == 0) { /* no finite value: the identity */
                    assert_true(one.shift[f] == 0.0f && one.scale[f] == 1.0f);
                    continue;
                }
                const double mean = sum[f] / (double)cnt[f], sd = sqrt(sq[f] / (double)cnt[f]);
                if (m == GN_NORMALIZE_STANDARD) {
                    assert_true(one.shift[f] == (float)mean);
                    assert_true(one.scale[f] == (sd > 0.0 ? (float)(1.0 / sd) : 1.0f));
                } else if (m == GN_NORMALIZE_MINMAX) {
                    assert_true(one.shift[f] == lo[f]);
                    assert_true((hi[f] - lo[f]) * one.scale[f] <= 1.0f);
                } else {
                    assert_true(one.shift[f] == 0.0f);
                    assert_true(hi[f] * one.scale[f] <= 1.0f && -lo[f] * one.scale[f] <= 1.0f);
                }
            }
            for (int32_t threads = 2; threads <= 8; threads++) {
                struct gn_norm n;
                assert_int_equal(gn_norm_fit_threads(&n, (enum gn_normalize)m, &d, R, threads),
                                 GN_OK);
                assert_memory_equal(n.shift, one.shift, (size_t)F * sizeof(float));
                assert_memory_equal(n.scale, one.scale, (size_t)F * sizeof(float));
                float *a = malloc((size_t)R * F * sizeof(float));
                float *b = malloc((size_t)R * F * sizeof(float));
                assert_true(a && b);
                memcpy(a, d.x, (size_t)R * F * sizeof(float));
                gn_norm_apply(&one, a, R);
                gn_norm_apply_threads(&n, d.x, b, R, threads);
                assert_memory_equal(a, b, (size_t)R * F * sizeof(float));
                free(a);
                free(b);
                gn_norm_free(&n);
            }
            gn_norm_free(&one);
        }
        free(sum);
        free(sq);
        free(cnt);
        free(lo);
        free(hi);
        gn_data_free(&d);
    }
}

static void test_trainer(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct gn_data tr = raw_data(600, seed, 0), te = raw_data(200, seed, 1);
    struct gn_data tr_copy = raw_data(600, seed, 0);
    struct gn_settings s;
    gn_default_settings(&s);
    assert_int_equal(s.normalize, GN_NORMALIZE_STANDARD);
    s = small(GN_BACKEND_SERIAL, GN_NORMALIZE_STANDARD);
    s.limit_train = 500;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &tr, &te, NULL), GN_OK);
    assert_int_equal(gn_trainer_normalize(t), GN_NORMALIZE_STANDARD);
    struct gn_norm want;
    assert_int_equal(gn_norm_fit(&want, GN_NORMALIZE_STANDARD, &tr, 500), GN_OK);
    const struct gn_norm *got = gn_trainer_norm(t);
    assert_memory_equal(got->shift, want.shift, (size_t)tr.features * sizeof(float));
    assert_memory_equal(got->scale, want.scale, (size_t)tr.features * sizeof(float));
    gn_norm_free(&want);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct gn_progress pr;
    gn_trainer_progress(t, &pr);
    double loss, acc;
    assert_int_equal(gn_trainer_evaluate(t, &te, &loss, &acc), GN_OK);
    print_message("standard: test accuracy %.4f (evaluate %.4f)\n", pr.test_accuracy, acc);
    assert_true(acc == pr.test_accuracy);
    assert_true(acc > 0.6); /* it learned (chance: 1/3) */
    gn_trainer_close(t);
    /* the caller's data are left as loaded */
    assert_memory_equal(tr.x, tr_copy.x, (size_t)tr.count * tr.features * sizeof(float));

    /* serial and cpu: the same floats, the same run (step losses and test
     * accuracy bitwise; cpu workers may number pool slots differently) */
    for (int m = GN_NORMALIZE_STANDARD; m <= GN_NORMALIZE_SCALE; m++) {
        gn_trainer *tb[2];
        const double *loss_of[2];
        int64_t len[2];
        for (int k = 0; k < 2; k++) {
            struct gn_settings a = small(k ? GN_BACKEND_CPU : GN_BACKEND_SERIAL,
                                         (enum gn_normalize)m);
            assert_int_equal(gn_trainer_open(&tb[k], &a, &tr, &te, NULL), GN_OK);
            assert_int_equal(gn_trainer_run(tb[k], NULL, NULL), GN_OK);
            len[k] = gn_trainer_step_log(tb[k], &loss_of[k], NULL);
        }
        struct gn_progress pa, pb;
        gn_trainer_progress(tb[0], &pa);
        gn_trainer_progress(tb[1], &pb);
        print_message("%s: test accuracy %.4f, %d groups\n",
                      gn_normalize_name((enum gn_normalize)m), pa.test_accuracy, pa.groups);
        assert_int_equal(len[0], len[1]);
        assert_memory_equal(loss_of[0], loss_of[1], (size_t)len[0] * sizeof(double));
        assert_true(pa.test_accuracy == pb.test_accuracy && pa.groups == pb.groups);
        gn_trainer_close(tb[0]);
        gn_trainer_close(tb[1]);
    }
    gn_data_free(&tr);
    gn_data_free(&te);
    gn_data_free(&tr_copy);
}

static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *p, const unsigned char *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_checkpoint(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct gn_data tr = raw_data(600, seed, 0), te = raw_data(200, seed, 1);
    const int32_t F = tr.features;

    /* the uninterrupted run, and one stopped at step 7 then resumed */
    int64_t nr, nx;
    double ar, ax;
    struct gn_settings s = small(GN_BACKEND_SERIAL, GN_NORMALIZE_STANDARD);
    float *ref = run(&s, &tr, &te, &nr, &ar);
    struct gn_settings a = s;
    a.steps = 7;
    a.epochs = 0;
    a.checkpoint_path = path("norm.ckpt");
    free(run(&a, &tr, &te, &nx, &ax));

    struct gn_checkpoint ck;
    assert_int_equal(gn_checkpoint_load(a.checkpoint_path, &ck), GN_OK);
    assert_int_equal(ck.h.version, GN_CHECKPOINT_VERSION);
    assert_int_equal(ck.norm.mode, GN_NORMALIZE_STANDARD);
    struct gn_norm want;
    assert_int_equal(gn_norm_fit(&want, GN_NORMALIZE_STANDARD, &tr, tr.count), GN_OK);
    assert_memory_equal(ck.norm.shift, want.shift, (size_t)F * sizeof(float));
    assert_memory_equal(ck.norm.scale, want.scale, (size_t)F * sizeof(float));
    gn_checkpoint_free(&ck);

    struct gn_settings b = s;
    b.resume_path = a.checkpoint_path;
    float *res = run(&b, &tr, &te, &nx, &ax);
    assert_int_equal(nx, nr);
    assert_memory_equal(res, ref, (size_t)nr * sizeof(float));
    assert_true(ax == ar);
    free(res);
    free(ref);

    /* another --normalize is refused, naming both */
    gn_trainer *t;
    for (int m = GN_NORMALIZE_NONE; m <= GN_NORMALIZE_SCALE; m++) {
        if (m == GN_NORMALIZE_STANDARD) continue;
        struct gn_settings c = b;
        c.normalize = (enum gn_normalize)m;
        assert_int_equal(gn_trainer_open(&t, &c, &tr, &te, NULL), GN_ERR_INVALID);
        print_message("  %s\n", gn_error_message());
        char want_msg[64];
        snprintf(want_msg, sizeof want_msg, "--normalize %s, the checkpoint standard",
                 gn_normalize_name((enum gn_normalize)m));
        assert_non_null(strstr(gn_error_message(), want_msg));
    }
    /* the stored statistics are the ones used: patch the last scale (the
     * float before the CRC), fix the CRC, resume */
    size_t n;
    unsigned char *buf = slurp(a.checkpoint_path, &n);
    float patched = want.scale[F - 1] * 2.0f;
    memcpy(buf + n - 8, &patched, 4); /* little-endian hosts */
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(n - 4));
    for (int k = 0; k < 4; k++)
        buf[n - 4 + k] = (unsigned char)(crc >> (8 * k));
    spit(path("patched.ckpt"), buf, n);
    free(buf);
    struct gn_settings c = s;
    c.resume_path = path("patched.ckpt");
    assert_int_equal(gn_trainer_open(&t, &c, &tr, &te, NULL), GN_OK);
    assert_true(gn_trainer_norm(t)->scale[F - 1] == patched);
    assert_memory_equal(gn_trainer_norm(t)->shift, want.shift, (size_t)F * sizeof(float));
    gn_trainer_close(t);

    gn_norm_free(&want);
    gn_data_free(&tr);
    gn_data_free(&te);
}

static int setup(void **state)
{
    (void)state;
    dir = gn_test_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gn_test_rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_matrix),
        cmocka_unit_test(test_constant_and_special),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_fit_threads),
        cmocka_unit_test(test_trainer),
        cmocka_unit_test(test_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
