/*
 * The optimizers and the learning-rate schedule (runtime/model/optim.h):
 *
 *   - the shared rule against plain C written from the textbook formulas
 *     (Adam: m/(1 - b1^t) over sqrt(v/(1 - b2^t)) + eps; AdamW's decoupled
 *     decay; L2 in Adam's gradient), in double with the C library's pow
 *     and cos, over many steps of a warmup and a cosine schedule, weights
 *     and biases; sgd bit for bit against the momentum rule it always had;
 *   - the schedule's values: the warmup's ramp, the cosine's ends and
 *     middle (exact) and every step against cos(), the step schedule's
 *     plateaus, the bias corrections near t = 1 and far past it;
 *   - gn_cospi against the C library's cos;
 *   - every new setting refused with a message naming it; adam and adamw
 *     runs that learn.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "genet/genet.h"
#include "mathf.h"
#include "optim.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

#define PI 3.14159265358979323846

/* A schedule: warmup W, cosine or step after it, over T steps. */
static struct gn_optim optim_of(enum gn_optimizer kind, enum gn_lr_schedule sched, int64_t W,
                                int64_t T)
{
    struct gn_optim o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.schedule = sched;
    o.warmup = W;
    o.steps_total = T;
    o.step_every = 7;
    o.lr = 0.01f;
    o.lr_min = 0.001f;
    o.gamma = 0.5f;
    o.momentum = 0.9f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    o.weight_decay = 0.05f;
    return o;
}

/* The textbook rate of step s, in double with the C library's cos. */
static double lr_ref(const struct gn_optim *o, int64_t s)
{
    if (s < o->warmup) return (double)o->lr * (double)(s + 1) / (double)o->warmup;
    const double u = (double)(s - o->warmup), U = (double)(o->steps_total - o->warmup);
    switch (o->schedule) {
    case GN_LR_COSINE:
        if (u >= U) return o->lr_min;
        return o->lr_min + 0.5 * ((double)o->lr - o->lr_min) * (1.0 + cos(PI * u / U));
    case GN_LR_STEP: return o->lr * pow(o->gamma, floor(u / (double)o->step_every));
    default: return o->lr;
    }
}

static int close_to(double a, double b, double rel, double abs_tol)
{
    return fabs(a - b) <= abs_tol + rel * fabs(b);
}

/* ---- the rule against the textbook ------------------------------------ */

#define N_ENTRIES 6
#define N_STEPS 300

/* Gradients of entry i at step s: a smooth drift, noise, a sign change
 * and a zero now and then (values a training step could give). */
static float grad_of(uint64_t seed, int i, int64_t s)
{
    if ((s + i) % 37 == 0) return 0.0f;
    float g = 0.3f * sinf(0.05f * (float)s + (float)i) +
              0.1f * gn_rng_normal(seed, GN_RNG_TEST, 40 + (uint64_t)i, (uint64_t)s);
    return i == 3 ? 100.0f * g : i == 4 ? 1e-4f * g : g;
}

static void adam_against_textbook(enum gn_optimizer kind, enum gn_lr_schedule sched)
{
    const uint64_t seed = gn_test_seed();
    const struct gn_optim o = optim_of(kind, sched, 20, N_STEPS);
    float w[N_ENTRIES], m1[N_ENTRIES], m2[N_ENTRIES];
    double W[N_ENTRIES], M[N_ENTRIES], V[N_ENTRIES], G[N_ENTRIES];
    for (int i = 0; i < N_ENTRIES; i++) {
        w[i] = 0.5f - 0.2f * (float)i;
        W[i] = w[i];
        m1[i] = m2[i] = 0.0f;
        M[i] = V[i] = G[i] = 0.0;
    }
    double worst = 0.0;
    for (int64_t s = 0; s < N_STEPS; s++) {
        const struct gn_optim_step k = gn_optim_at(&o, s);
        const double lr = lr_ref(&o, s), t = (double)(s + 1);
        for (int i = 0; i < N_ENTRIES; i++) {
            const int weight = i != 5; /* entry 5 is a bias: no decay */
            const float g = grad_of(seed, i, s);
            gn_optim_apply(&w[i], &m1[i], &m2[i], g, weight, &k);
            /* the textbook, in double */
            const double wd = weight ? o.weight_decay : 0.0;
            double gd = g;
            if (kind == GN_OPTIM_ADAM) gd += wd * W[i];
            if (kind == GN_OPTIM_ADAMW) W[i] -= lr * wd * W[i];
            M[i] = o.beta1 * M[i] + (1.0 - o.beta1) * gd;
            V[i] = o.beta2 * V[i] + (1.0 - o.beta2) * gd * gd;
            const double mhat = M[i] / (1.0 - pow(o.beta1, t));
            const double vhat = V[i] / (1.0 - pow(o.beta2, t));
            W[i] -= lr * mhat / (sqrt(vhat) + o.eps);
            /* float against double: the weights (of order 1) drift apart by
             * the roundings of a few hundred steps, about 1e-6; the moments
             * by roundings of the gradients, at the scale of the largest
             * gradient so far (m may nearly cancel: no relative bound) */
            if (fabs(gd) > G[i]) G[i] = fabs(gd);
            const double err = fabs(w[i] - W[i]);
            if (err > worst) worst = err;
            if (!close_to(w[i], W[i], 1e-5, 2e-5) || !close_to(m1[i], M[i], 1e-5, 1e-5 * G[i]) ||
                !close_to(m2[i], V[i], 1e-5, 1e-5 * G[i] * G[i]))
                fail_msg("%s %s step %lld entry %d: w %.9g / %.9g, m %.9g / %.9g, v %.9g / "
                         "%.9g",
                         gn_optimizer_name(kind), gn_lr_schedule_name(sched), (long long)s, i,
                         (double)w[i], W[i], (double)m1[i], M[i], (double)m2[i], V[i]);
        }
    }
    print_message("%s, %s: %d steps, worst error of a weight %.2g\n",
                  gn_optimizer_name(kind), gn_lr_schedule_name(sched), N_STEPS, worst);
}

static void test_adam_textbook(void **state)
{
    (void)state;
    adam_against_textbook(GN_OPTIM_ADAM, GN_LR_COSINE);
    adam_against_textbook(GN_OPTIM_ADAM, GN_LR_CONSTANT);
}

static void test_adamw_textbook(void **state)
{
    (void)state;
    adam_against_textbook(GN_OPTIM_ADAMW, GN_LR_COSINE);
    adam_against_textbook(GN_OPTIM_ADAMW, GN_LR_STEP);
}

/* AdamW decays the weight, not the gradient: with a zero gradient from
 * zero moments, the weight only shrinks by lr wd w; Adam's L2 instead
 * moves it by about lr (the normalized step of the decay term). */
static void test_decay_kinds(void **state)
{
    (void)state;
    struct gn_optim o = optim_of(GN_OPTIM_ADAMW, GN_LR_CONSTANT, 0, 10);
    struct gn_optim_step k = gn_optim_at(&o, 0);
    float w = 2.0f, m1 = 0.0f, m2 = 0.0f;
    gn_optim_apply(&w, &m1, &m2, 0.0f, 1, &k);
    assert_true(w == 2.0f - (o.lr * o.weight_decay) * 2.0f);
    assert_true(m1 == 0.0f && m2 == 0.0f);
    float b = 2.0f; /* a bias: no decay at all */
    m1 = m2 = 0.0f;
    gn_optim_apply(&b, &m1, &m2, 0.0f, 0, &k);
    assert_true(b == 2.0f);
    o.kind = GN_OPTIM_ADAM;
    k = gn_optim_at(&o, 0);
    w = 2.0f;
    m1 = m2 = 0.0f;
    gn_optim_apply(&w, &m1, &m2, 0.0f, 1, &k);
    assert_true(fabsf(w - (2.0f - o.lr)) < 1e-6f); /* m/sqrt(v) = sign at t = 1 */
}

/* sgd is the rule it always was, bit for bit: v = mu v + g + wd w, w -= lr v
 * (the default optimizer's results must not move), and it leaves the
 * second moment alone. */
static void test_sgd_unchanged(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    const struct gn_optim o = optim_of(GN_OPTIM_SGD, GN_LR_CONSTANT, 0, N_STEPS);
    float w[N_ENTRIES], v[N_ENTRIES], m2[N_ENTRIES], rw[N_ENTRIES], rv[N_ENTRIES];
    for (int i = 0; i < N_ENTRIES; i++) {
        w[i] = rw[i] = 0.3f * (float)i - 0.7f;
        v[i] = rv[i] = 0.0f;
        m2[i] = 12.5f;
    }
    for (int64_t s = 0; s < N_STEPS; s++) {
        const struct gn_optim_step k = gn_optim_at(&o, s);
        assert_true(k.lr == o.lr);
        for (int i = 0; i < N_ENTRIES; i++) {
            const float g = grad_of(seed, i, s), wd = i != 5 ? o.weight_decay : 0.0f;
            gn_optim_apply(&w[i], &v[i], &m2[i], g, i != 5, &k);
            rv[i] = o.momentum * rv[i] + g + wd * rw[i];
            rw[i] -= o.lr * rv[i];
        }
        assert_memory_equal(w, rw, sizeof w);
        assert_memory_equal(v, rv, sizeof v);
    }
    for (int i = 0; i < N_ENTRIES; i++) assert_true(m2[i] == 12.5f);
}

/* ---- the schedule ------------------------------------------------------ */

static void test_warmup(void **state)
{
    (void)state;
    const struct gn_optim o = optim_of(GN_OPTIM_SGD, GN_LR_CONSTANT, 8, 100);
    assert_true(gn_optim_lr(&o, 0) == o.lr / 8.0f);
    assert_true(gn_optim_lr(&o, 3) == o.lr / 2.0f);
    assert_true(gn_optim_lr(&o, 7) == o.lr); /* the ramp ends exactly at lr */
    for (int64_t s = 0; s < 8; s++) {
        assert_true(gn_optim_lr(&o, s) == (float)((double)o.lr * (double)(s + 1) / 8.0));
        assert_true(gn_optim_lr(&o, s) < gn_optim_lr(&o, s + 1) || s == 7);
    }
    for (int64_t s = 8; s < 200; s++) assert_true(gn_optim_lr(&o, s) == o.lr);
    const struct gn_optim none = optim_of(GN_OPTIM_SGD, GN_LR_CONSTANT, 0, 100);
    assert_true(gn_optim_lr(&none, 0) == none.lr);
}

static void test_cosine(void **state)
{
    (void)state;
    const int64_t W = 10, T = 110; /* 100 steps of decay: u = 50 is the middle */
    struct gn_optim o = optim_of(GN_OPTIM_ADAM, GN_LR_COSINE, W, T);
    assert_true(gn_optim_lr(&o, W) == o.lr);                                  /* u = 0 */
    assert_true(gn_optim_lr(&o, W + 50) == (float)(((double)o.lr + o.lr_min) / 2.0)); /* middle */
    assert_true(gn_optim_lr(&o, T) == o.lr_min);                              /* u = U */
    assert_true(gn_optim_lr(&o, T + 1000) == o.lr_min);
    assert_true(gn_optim_lr(&o, T - 1) > o.lr_min);
    assert_true(gn_optim_lr(&o, W - 1) == o.lr); /* the warmup's last step */
    float prev = o.lr;
    for (int64_t s = W; s <= T; s++) {
        const float lr = gn_optim_lr(&o, s);
        assert_true(lr <= prev);
        if (!close_to(lr, lr_ref(&o, s), 2e-7, 0.0))
            fail_msg("cosine step %lld: %.9g, cos() says %.9g", (long long)s, (double)lr,
                     lr_ref(&o, s));
        prev = lr;
    }
    /* to zero, no warmup: the whole run decays */
    o.lr_min = 0.0f;
    o.warmup = 0;
    o.steps_total = 1000;
    assert_true(gn_optim_lr(&o, 0) == o.lr);
    assert_true(gn_optim_lr(&o, 500) == o.lr / 2.0f);
    assert_true(gn_optim_lr(&o, 999) > 0.0f && gn_optim_lr(&o, 1000) == 0.0f);
    for (int64_t s = 0; s < 1000; s++)
        assert_true(close_to(gn_optim_lr(&o, s), lr_ref(&o, s), 2e-7, 1e-12));
    /* a warmup as long as the run: the decay never starts */
    o.warmup = 1000;
    assert_true(gn_optim_lr(&o, 999) == o.lr);
    assert_true(gn_optim_lr(&o, 1000) == o.lr_min);
}

static void test_step_schedule(void **state)
{
    (void)state;
    struct gn_optim o = optim_of(GN_OPTIM_SGD, GN_LR_STEP, 2, 100);
    o.lr = 0.1f;
    o.gamma = 0.5f;
    o.step_every = 3;
    const float want[] = {0.05f, 0.1f, 0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f};
    for (int64_t s = 0; s < 10; s++)
        if (gn_optim_lr(&o, s) != want[s])
            fail_msg("step schedule, step %lld: %.9g, want %.9g", (long long)s,
                     (double)gn_optim_lr(&o, s), (double)want[s]);
    o.gamma = 0.1f;
    o.warmup = 0;
    for (int64_t s = 0; s < 40; s++)
        assert_true(close_to(gn_optim_lr(&o, s), lr_ref(&o, s), 1e-7, 0.0));
    o.gamma = 1.0f;
    for (int64_t s = 0; s < 40; s++) assert_true(gn_optim_lr(&o, s) == o.lr);
}

/* step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t): at t = 1 the
 * corrected moments are g and g^2; far past 1 / (1 - b2) both are 1. */
static void test_bias_corrections(void **state)
{
    (void)state;
    const struct gn_optim o = optim_of(GN_OPTIM_ADAM, GN_LR_CONSTANT, 0, 10);
    for (int64_t s = 0; s < 20000; s += s < 50 ? 1 : 97) {
        const struct gn_optim_step k = gn_optim_at(&o, s);
        const double t = (double)(s + 1);
        assert_true(close_to(k.step_size, o.lr / (1.0 - pow(o.beta1, t)), 1e-7, 0.0));
        assert_true(close_to(k.bc2_sqrt, sqrt(1.0 - pow(o.beta2, t)), 1e-7, 0.0));
    }
    struct gn_optim_step k = gn_optim_at(&o, 0);
    assert_true(close_to(k.step_size, o.lr / (1.0 - o.beta1), 1e-7, 0.0)); /* t = 1 */
    assert_true(close_to(k.bc2_sqrt, sqrt(1.0 - o.beta2), 1e-7, 0.0));
    k = gn_optim_at(&o, INT64_C(1) << 40); /* beta2^t underflows: no correction */
    assert_true(k.step_size == o.lr && k.bc2_sqrt == 1.0f);
    const struct gn_optim w = optim_of(GN_OPTIM_ADAMW, GN_LR_CONSTANT, 0, 10);
    k = gn_optim_at(&w, 3);
    assert_true(k.weight_decay == 0.0f && k.decay == w.lr * w.weight_decay);
    k = gn_optim_at(&o, 3);
    assert_true(k.weight_decay == o.weight_decay && k.decay == 0.0f);
    assert_true(gn_optim_pow(0.999, 0) == 1.0 && gn_optim_pow(0.5, 10) == 1.0 / 1024.0);
}

static void test_cospi(void **state)
{
    (void)state;
    assert_true(gn_cospi(0.0) == 1.0);
    assert_true(gn_cospi(0.5) == 0.0);
    assert_true(gn_cospi(1.0) == -1.0);
    assert_true(gn_cospi(-0.1) == 1.0 && gn_cospi(1.5) == -1.0);
    double worst = 0.0;
    for (int i = 0; i <= 100000; i++) {
        const double p = (double)i / 100000.0, err = fabs(gn_cospi(p) - cos(PI * p));
        if (err > worst) worst = err;
    }
    print_message("gn_cospi: worst error %.3g against cos(pi p)\n", worst);
    assert_true(worst < 1e-15);
}

/* ---- settings ---------------------------------------------------------- */

static struct gn_data make_data(int32_t count, uint64_t seed, uint64_t stream)
{
    const int32_t F = 8, C = 3;
    struct gn_data d = {count, F, C, malloc((size_t)count * F * sizeof(float)),
                        malloc((size_t)count)};
    for (int32_t i = 0; i < count; i++) {
        const int32_t c = (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 50 + stream, (uint64_t)i) % C);
        d.y[i] = (uint8_t)c;
        for (int32_t k = 0; k < F; k++)
            d.x[(int64_t)i * F + k] =
                (k % C == c ? 1.0f : 0.0f) +
                0.3f * gn_rng_uniform(seed, GN_RNG_TEST, 60 + stream, (uint64_t)i * F + k);
    }
    return d;
}

static struct gn_settings small(void)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = GN_BACKEND_SERIAL;
    s.group_size = 8;
    s.batch = 32;
    s.epochs = 4;
    s.grow_every = 10;
    s.grow_threshold = 0.01f;
    return s;
}

static void refused(const struct gn_data *train, struct gn_settings s, const char *want)
{
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, train, NULL, NULL), GN_ERR_INVALID);
    if (!strstr(gn_error_message(), want))
        fail_msg("message '%s' does not say '%s'", gn_error_message(), want);
}

static void test_bad_settings(void **state)
{
    (void)state;
    struct gn_data train = make_data(200, gn_test_seed(), 0);
    struct gn_settings s = small();
    s.optimizer = (enum gn_optimizer)3;
    refused(&train, s, "--optimizer must be sgd, adam or adamw");
    s = small();
    s.beta1 = 1.0f;
    refused(&train, s, "--beta1 must be in [0, 1)");
    s = small();
    s.beta2 = -0.1f;
    refused(&train, s, "--beta2 must be in [0, 1)");
    s = small();
    s.eps = 0.0f;
    refused(&train, s, "--eps must be a positive number");
    s = small();
    s.eps = INFINITY;
    refused(&train, s, "--eps must be a positive number");
    s = small();
    s.lr_schedule = (enum gn_lr_schedule)5;
    refused(&train, s, "--lr-schedule must be constant, cosine or step");
    s = small();
    s.lr_warmup = -1;
    refused(&train, s, "--warmup");
    s = small();
    s.lr_schedule = GN_LR_STEP;
    refused(&train, s, "--lr-schedule step needs --lr-step-every");
    s = small();
    s.lr_gamma = 0.0f;
    refused(&train, s, "--lr-gamma must be in (0, 1]");
    s = small();
    s.lr_gamma = 1.5f;
    refused(&train, s, "--lr-gamma must be in (0, 1]");
    s = small();
    s.lr_min = s.lr * 2.0f;
    refused(&train, s, "--lr-min must be in [0, --lr]");
    s = small();
    s.lr_min = -1e-3f;
    refused(&train, s, "--lr-min must be in [0, --lr]");
    assert_string_equal(gn_optimizer_name(GN_OPTIM_ADAMW), "adamw");
    assert_string_equal(gn_lr_schedule_name(GN_LR_COSINE), "cosine");
    gn_data_free(&train);
}

/* adam and adamw under a warmup and a cosine schedule learn a separable
 * problem: the last epoch's loss well under the first's. */
static void test_adam_learns(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct gn_data train = make_data(600, seed, 0), test = make_data(200, seed, 1);
    for (int k = 0; k < 2; k++) {
        struct gn_settings s = small();
        s.backend = GN_BACKEND_CPU;
        s.threads = 2;
        s.optimizer = k ? GN_OPTIM_ADAMW : GN_OPTIM_ADAM;
        s.lr = 1e-2f;
        s.weight_decay = 1e-2f;
        s.lr_schedule = GN_LR_COSINE;
        s.lr_warmup = 10;
        s.epochs = 6;
        s.group_size = 16;
        s.seed = seed;
        gn_trainer *t;
        assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
        const double *loss;
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
        const int64_t n = gn_trainer_step_log(t, &loss, NULL);
        const int64_t spe = (train.count + s.batch - 1) / s.batch;
        double first = 0.0, last = 0.0;
        for (int64_t i = 0; i < spe; i++) {
            first += loss[i];
            last += loss[n - 1 - i];
        }
        struct gn_progress p;
        gn_trainer_progress(t, &p);
        print_message("%s: first epoch's loss %.4f, last %.4f, test accuracy %.3f, %d groups\n",
                      gn_optimizer_name(s.optimizer), first / spe, last / spe, p.test_accuracy,
                      p.groups);
        assert_true(last < 0.5 * first);
        assert_true(p.test_accuracy > 0.9);
        gn_trainer_close(t);
    }
    gn_data_free(&train);
    gn_data_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_textbook),
        cmocka_unit_test(test_adamw_textbook),
        cmocka_unit_test(test_decay_kinds),
        cmocka_unit_test(test_sgd_unchanged),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_step_schedule),
        cmocka_unit_test(test_bias_corrections),
        cmocka_unit_test(test_cospi),
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_adam_learns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
