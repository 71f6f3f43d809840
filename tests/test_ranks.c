/*
 * --ranks N (ranks.h, reduce.h): N data-parallel ranks simulated in one
 * process on the serial and cpu backends. With growth on and several growth
 * rounds, N = 2, 3 and 4 ranks give the serial one-rank run bit for bit
 * (every step's loss, the final parameters, both moments, the grown graph),
 * on the serial backend and on the cpu backend with 2 and 3 worker threads,
 * with a short last minibatch that leaves some ranks no rows and a pool
 * that fills in the middle of a growth round; with a pool that never fills
 * (where the cpu backend's own growth round is serial's) the cpu backend's
 * N ranks also give its own one-rank run; after every growth round every
 * replica equals rank 0's (checked here through the backend's replica
 * table entry, beside the check the ranks run themselves); a run stopped
 * and resumed from a checkpoint with another rank count ends where the
 * one-rank run ends; a replica that diverges stops the run at the next
 * growth round (both backends); under --on-nan skip a NaN step is undone on
 * every replica (both backends); the agreement check and the reducer catch
 * what they must; bad --ranks values are refused with a message naming the
 * option.
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
#include "ranks.h"
#include "reduce.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

static char *dir;
static struct gn_data train, test;

/* Blobs: class c has its mean at a seeded point; 4 classes, 12 features. */
static const struct gn_test_blobs blobs = {4, 12, 0.3f, 0, 1};

static int setup(void **state)
{
    (void)state;
    dir = gn_test_tmpdir();
    /* 290 rows: 9 minibatches of 32 and one of 2 */
    if (gn_test_load_blobs(dir, 290, 100, gn_test_seed(), &blobs, &train, &test))
        return -1;
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

/* Growth every 7 steps with every unblocked group qualifying, to a pool
 * that fills: growth rounds with duplications, then refusals. */
static struct gn_settings small(void)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = GN_BACKEND_SERIAL;
    s.group_size = 8;
    s.batch = 32;
    s.epochs = 0;
    s.steps = 45; /* over an epoch's end (10 steps), past the 2-row minibatch */
    s.lr = 0.05f;
    s.lr_warmup = 5;
    s.grow_every = 7;
    s.grow_threshold = 0.0f;
    s.max_groups = 9;
    return s;
}

/* A backend's table (checked_base: serial or cpu) with a step that, after
 * each growth round, compares every replica with rank 0's. */
static struct gn_backend_ops checked;
static const struct gn_backend_ops *checked_base;
static int32_t checked_ranks;
static int64_t checked_rounds;

static enum gn_status checked_step(void *ctx, int grow)
{
    enum gn_status st = checked_base->step(ctx, grow);
    if (st || !grow) return st;
    const struct gn_model *m0 = checked_base->replica(ctx, 0);
    assert_non_null(m0);
    for (int32_t r = 1; r < checked_ranks; r++) {
        const struct gn_model *mr = checked_base->replica(ctx, r);
        assert_non_null(mr);
        assert_ptr_not_equal(mr, m0);
        char why[256];
        if (gn_ranks_agree(m0, mr, why, sizeof why))
            fail_msg("after growth round %lld: rank %d differs from rank 0: %s",
                     (long long)checked_rounds, r, why);
    }
    assert_null(checked_base->replica(ctx, checked_ranks));
    checked_rounds++;
    return GN_OK;
}

static const struct gn_backend_ops *table_of(enum gn_backend b)
{
    return b == GN_BACKEND_CPU ? &gn_backend_cpu : &gn_backend_serial;
}

static gn_trainer *open_checked(const struct gn_settings *s)
{
    checked_base = table_of(s->backend);
    checked = *checked_base;
    checked.step = checked_step;
    checked_ranks = s->ranks;
    checked_rounds = 0;
    gn_trainer *t;
    enum gn_status st = gn_trainer_open_with(&t, s, &train, &test, NULL, &checked);
    if (st) fail_msg("open with %d ranks: %s", s->ranks, gn_error_message());
    assert_int_equal(gn_trainer_backend(t), s->backend);
    return t;
}

/* Everything of two runs that must be equal bit for bit. */
/* Every step's loss, bit for bit. */
static void assert_same_losses(gn_trainer *a, gn_trainer *b, const char *what)
{
    const double *la, *lb;
    int64_t na = gn_trainer_step_log(a, &la, NULL), nb = gn_trainer_step_log(b, &lb, NULL);
    assert_int_equal(na, nb);
    for (int64_t i = 0; i < na; i++)
        if (memcmp(&la[i], &lb[i], sizeof la[i]))
            fail_msg("%s: step %lld's loss %.17g against %.17g", what, (long long)i, la[i], lb[i]);
}

static void assert_same_run(gn_trainer *a, gn_trainer *b, const char *what)
{
    assert_same_losses(a, b, what);
    struct gn_progress pa, pb;
    gn_trainer_progress(a, &pa);
    gn_trainer_progress(b, &pb);
    assert_int_equal(pa.step, pb.step);
    assert_memory_equal(&pa.loss, &pb.loss, sizeof pa.loss);
    assert_memory_equal(&pa.accuracy, &pb.accuracy, sizeof pa.accuracy);
    char why[256];
    if (gn_ranks_agree(gn_trainer_model(a), gn_trainer_model(b), why, sizeof why))
        fail_msg("%s: the final networks differ: %s", what, why);
}

/* The same network position by position and the same run's figures: what
 * the cpu backend's own growth round keeps of serial's (it numbers the new
 * slots in the order workers allocate them), as test_cpu.c compares. */
static void assert_same_run_by_position(gn_trainer *ta, gn_trainer *tb, const char *what)
{
    assert_same_losses(ta, tb, what);
    const struct gn_model *a = gn_trainer_model(ta), *b = gn_trainer_model(tb);
    assert_int_equal(a->n_groups, b->n_groups);
    assert_int_equal(a->n_edges, b->n_edges);
    assert_int_equal(a->duplications, b->duplications);
    assert_int_equal(a->refused, b->refused);
    gn_test_assert_same_network(a, b, what);
}

/* s with n ranks on backend b and, on cpu, `threads` workers, run and
 * compared with ref bit for bit; cpu_ref (may be NULL): also position by
 * position with the cpu backend's one-rank run. */
static void ranks_match_run(gn_trainer *ref, gn_trainer *cpu_ref, struct gn_settings s,
                            enum gn_backend b, int32_t threads, int32_t n)
{
    s.backend = b;
    s.threads = threads;
    s.ranks = n;
    gn_trainer *t = open_checked(&s);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    assert_int_equal(checked_rounds, s.steps / gn_settings_grow_every(&s));
    char what[128];
    snprintf(what, sizeof what, "%s, %d threads, %d ranks against serial, 1 rank",
             gn_backend_name(b), threads, n);
    assert_same_run(ref, t, what);
    if (cpu_ref) {
        snprintf(what, sizeof what, "cpu, %d threads, %d ranks against cpu, 1 rank", threads, n);
        assert_same_run_by_position(cpu_ref, t, what);
    }
    gn_trainer_close(t);
}

/* Serial one rank against serial and cpu (2 and 3 workers) with 2, 3 and 4
 * ranks: both backends' ranks run the serial growth round on each replica,
 * so even a pool that fills in the middle of a round gives serial's bits. */
static void ranks_match_one_rank(struct gn_settings s)
{
    gn_trainer *ref;
    assert_int_equal(gn_trainer_open(&ref, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(ref, NULL, NULL), GN_OK);
    const struct gn_model *m = gn_trainer_model(ref);
    print_message("%s, 1 rank: %d groups, %lld duplications, %lld refused\n",
                  gn_optimizer_name(s.optimizer), m->n_groups - 2, (long long)m->duplications,
                  (long long)m->refused);
    assert_true(m->duplications >= 3); /* several growth rounds that grew */
    for (int32_t n = 2; n <= 4; n++) {
        ranks_match_run(ref, NULL, s, GN_BACKEND_SERIAL, 0, n);
        for (int32_t threads = 2; threads <= 3; threads++)
            ranks_match_run(ref, NULL, s, GN_BACKEND_CPU, threads, n);
    }
    gn_trainer_close(ref);
}

/* A pool that never fills, so the cpu backend's one-rank run (its own
 * growth round, in parallel) makes serial's decisions: the cpu backend's
 * 2, 3 and 4 ranks against serial's one rank bit for bit and against its
 * own one rank position by position (the one rank's round numbers new
 * slots in worker order; the ranks' replicas must agree slot for slot, so
 * they run the serial round), with 2 and 3 workers. */
static void test_cpu_ranks_match_cpu_one_rank(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.max_groups = 64;
    s.grow = GN_GROW_ALTERNATE;
    gn_trainer *serial;
    assert_int_equal(gn_trainer_open(&serial, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(serial, NULL, NULL), GN_OK);
    const struct gn_model *m = gn_trainer_model(serial);
    assert_true(m->duplications >= 3);
    assert_int_equal(m->refused, 0);
    for (int32_t threads = 2; threads <= 3; threads++) {
        struct gn_settings c = s;
        c.backend = GN_BACKEND_CPU;
        c.threads = threads;
        gn_trainer *ref;
        assert_int_equal(gn_trainer_open(&ref, &c, &train, &test, NULL), GN_OK);
        assert_int_equal(gn_trainer_run(ref, NULL, NULL), GN_OK);
        assert_same_run_by_position(serial, ref, "cpu, 1 rank against serial, 1 rank");
        for (int32_t n = 2; n <= 4; n++)
            ranks_match_run(serial, ref, s, GN_BACKEND_CPU, threads, n);
        gn_trainer_close(ref);
    }
    gn_trainer_close(serial);
}

static void test_ranks_match_one_rank_sgd(void **state)
{
    (void)state;
    ranks_match_one_rank(small());
}

static void test_ranks_match_one_rank_adamw_relative(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.optimizer = GN_OPTIM_ADAMW;
    s.lr = 0.01f;
    s.weight_decay = 0.01f;
    s.grow_criterion = GN_GROW_CRITERION_RELATIVE;
    s.grow_ratio = 0.5f;
    s.grow = GN_GROW_WIDTH;
    ranks_match_one_rank(s);
}

/* The run's first 20 steps with 3 ranks on serial, checkpointed, resumed
 * with 2 ranks on cpu: where the one-rank run ends. */
static void test_ranks_resume(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.lr_schedule = GN_LR_CONSTANT; /* the cosine's length is the run's, and this one is cut */
    gn_trainer *ref, *t;
    assert_int_equal(gn_trainer_open(&ref, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(ref, NULL, NULL), GN_OK);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/ranks.ckpt", dir);
    struct gn_settings a = s;
    a.ranks = 3;
    a.steps = 20;
    a.checkpoint_path = ck;
    assert_int_equal(gn_trainer_open(&t, &a, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    gn_trainer_close(t);
    struct gn_settings b = s;
    b.ranks = 2;
    b.backend = GN_BACKEND_CPU; /* a checkpoint of serial ranks, resumed on cpu ranks */
    b.threads = 2;
    b.resume_path = ck;
    if (gn_trainer_open(&t, &b, &train, &test, NULL)) fail_msg("resume: %s", gn_error_message());
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct gn_progress pa, pb;
    gn_trainer_progress(ref, &pa);
    gn_trainer_progress(t, &pb);
    assert_int_equal(pa.step, pb.step);
    assert_memory_equal(&pa.loss, &pb.loss, sizeof pa.loss);
    char why[256];
    if (gn_ranks_agree(gn_trainer_model(ref), gn_trainer_model(t), why, sizeof why))
        fail_msg("resumed with ranks: %s", why);
    gn_trainer_close(t);
    gn_trainer_close(ref);
}

/* A backend's table with a step that flips a bit of rank 1's last
 * parameter before the first growth round: the ranks' own check must stop
 * the run there. */
static enum gn_status corrupting_step(void *ctx, int grow)
{
    if (grow) {
        struct gn_model *m1 = (struct gn_model *)checked_base->replica(ctx, 1);
        uint32_t u;
        memcpy(&u, &m1->params[m1->n_params - 1], 4);
        u ^= 1u << 20; /* a change no rounding of the update can undo */
        memcpy(&m1->params[m1->n_params - 1], &u, 4);
    }
    return checked_base->step(ctx, grow);
}

static void test_ranks_check_stops_a_divergence(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        struct gn_settings s = small();
        s.ranks = 2;
        s.backend = k ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
        s.threads = 2;
        checked_base = table_of(s.backend);
        struct gn_backend_ops ops = *checked_base;
        ops.step = corrupting_step;
        gn_trainer *t;
        assert_int_equal(gn_trainer_open_with(&t, &s, &train, &test, NULL, &ops), GN_OK);
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_ERR_NUMERIC);
        print_message("%s: %s\n", gn_backend_name(s.backend), gn_error_message());
        assert_non_null(strstr(gn_error_message(), "rank 1's network differs from rank 0's after "
                                                   "the growth round of step 7: parameter"));
        gn_trainer_close(t);
    }
}

/* --on-nan skip: the last rank's replica gets a NaN output bias before
 * steps 5 and 11 (the one rank's model in the one-rank run), so the step's
 * loss is NaN; the trainer undoes the step on rank 0's model (its snapshot)
 * and the other replicas must be copied from it (reload), else the NaN
 * stays. Both runs skip the same steps and stay equal. */
static int64_t poison_calls;

static enum gn_status poisoning_step(void *ctx, int grow)
{
    poison_calls++;
    if (poison_calls == 5 || poison_calls == 11) {
        struct gn_model *m = (struct gn_model *)checked_base->replica(ctx, checked_ranks - 1);
        m->params[m->groups[GN_SLOT_OUTPUT].bias] = NAN;
    }
    return checked_step(ctx, grow);
}

static void test_ranks_skip(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.on_nan = GN_NAN_SKIP;
    s.threads = 2;
    gn_trainer *t[3];
    static struct gn_backend_ops ops[3]; /* each trainer keeps its table until close */
    for (int k = 0; k < 3; k++) { /* serial 1 rank, serial 3 ranks, cpu 3 ranks */
        s.ranks = k ? 3 : 1;
        s.backend = k == 2 ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
        checked_base = table_of(s.backend);
        ops[k] = *checked_base;
        ops[k].step = poisoning_step;
        checked_ranks = s.ranks;
        poison_calls = 0;
        assert_int_equal(gn_trainer_open_with(&t[k], &s, &train, &test, NULL, &ops[k]), GN_OK);
        assert_int_equal(gn_trainer_run(t[k], NULL, NULL), GN_OK);
        struct gn_progress p;
        gn_trainer_progress(t[k], &p);
        assert_int_equal(p.skipped, 2);
    }
    assert_same_run(t[0], t[1], "3 ranks under --on-nan skip");
    assert_same_run(t[0], t[2], "cpu, 3 ranks under --on-nan skip");
    for (int k = 0; k < 3; k++) gn_trainer_close(t[k]);
}

/* The agreement check sees one flipped bit of a parameter, of a moment, of
 * an edge and of a group's statistic. */
static void test_agree_catches(void **state)
{
    (void)state;
    struct gn_model a, b;
    assert_int_equal(gn_model_init(&a, 5, 3, 4, 16, 64, 4096), GN_OK);
    gn_test_random_dag(&a, gn_test_seed(), 5);
    gn_model_init_weights(&a, 7);
    char why[256] = "";
    assert_int_equal(gn_model_clone(&b, &a), GN_OK);
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 0);
    uint32_t u;
    memcpy(&u, &b.params[a.n_params - 1], 4);
    u ^= 1;
    memcpy(&b.params[a.n_params - 1], &u, 4);
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 1);
    assert_non_null(strstr(why, "parameter"));
    b.params[a.n_params - 1] = a.params[a.n_params - 1];
    b.moment[3] = 1e-30f;
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 1);
    assert_non_null(strstr(why, "moment 3"));
    b.moment[3] = a.moment[3];
    b.groups[a.order[1]].grad_std = 0.5f;
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 1);
    assert_non_null(strstr(why, "group"));
    b.groups[a.order[1]].grad_std = a.groups[a.order[1]].grad_std;
    b.edges[0].w++;
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 1);
    assert_non_null(strstr(why, "edge 0"));
    b.edges[0].w--;
    assert_int_equal(gn_ranks_agree(&a, &b, why, sizeof why), 0);
    gn_model_free(&a);
    gn_model_free(&b);
}

/* The reducer: the chain and the broadcast in order deliver; a receive
 * with nothing pending, or out of order, is an error. */
static void test_reducer_order(void **state)
{
    (void)state;
    struct gn_reduce *rd;
    assert_int_equal(gn_reduce_open(&rd, 3, 4), GN_OK);
    float x[4] = {1, 2, 3, 4}, y[4] = {0};
    assert_int_equal(gn_reduce_recv_prev(rd, 1, y, 4), GN_ERR_INVALID);
    assert_int_equal(gn_reduce_send_next(rd, 0, x, 4), GN_OK);
    assert_int_equal(gn_reduce_recv_prev(rd, 2, y, 4), GN_ERR_INVALID); /* not from rank 1 */
    assert_int_equal(gn_reduce_recv_prev(rd, 1, y, 4), GN_OK);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(gn_reduce_recv_prev(rd, 1, y, 4), GN_ERR_INVALID); /* consumed */
    assert_int_equal(gn_reduce_send_next(rd, 2, x, 4), GN_ERR_INVALID); /* no next rank */
    assert_int_equal(gn_reduce_send_next(rd, 0, x, 5), GN_ERR_INVALID); /* too long */
    float z[4] = {0}, w[4] = {0};
    assert_int_equal(gn_reduce_broadcast(rd, 2, 0, z, 4), GN_ERR_INVALID); /* root first */
    assert_int_equal(gn_reduce_broadcast(rd, 2, 2, x, 4), GN_OK);
    assert_int_equal(gn_reduce_broadcast(rd, 2, 0, z, 4), GN_OK);
    assert_int_equal(gn_reduce_broadcast(rd, 2, 1, w, 4), GN_OK);
    assert_memory_equal(x, z, sizeof x);
    assert_memory_equal(x, w, sizeof x);
    gn_reduce_close(rd);
}

static void expect_refused(struct gn_settings s, enum gn_status want, const char *needle)
{
    gn_trainer *t;
    enum gn_status st = gn_trainer_open(&t, &s, &train, &test, NULL);
    if (st == GN_OK) gn_trainer_close(t);
    assert_int_equal(st, want);
    if (!strstr(gn_error_message(), needle))
        fail_msg("message \"%s\" lacks \"%s\"", gn_error_message(), needle);
}

static void test_bad_ranks(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.ranks = 0;
    expect_refused(s, GN_ERR_INVALID, "--ranks must be in 1..32");
    s.ranks = -3;
    expect_refused(s, GN_ERR_INVALID, "--ranks");
    s.ranks = 33; /* more ranks than the batch's rows */
    expect_refused(s, GN_ERR_INVALID, "(--batch)");
    s = small();
    s.ranks = 2;
    s.backend = GN_BACKEND_CUDA;
    expect_refused(s, GN_ERR_UNSUPPORTED, "--gpus and a multi-GPU machine");
    s.backend = GN_BACKEND_SERIAL;
    s.prune_threshold = 0.01f;
    expect_refused(s, GN_ERR_UNSUPPORTED, "--prune-threshold");
    s.backend = GN_BACKEND_CPU;
    expect_refused(s, GN_ERR_UNSUPPORTED, "--prune-threshold");
    /* auto: the cpu backend here, a refusal where a GPU was found */
    s = small();
    s.ranks = 32;
    s.steps = 2;
    s.backend = GN_BACKEND_AUTO;
    gn_trainer *t;
    enum gn_status st = gn_trainer_open(&t, &s, &train, &test, NULL);
    if (st == GN_OK) {
        assert_int_equal(gn_trainer_backend(t), GN_BACKEND_CPU);
        assert_non_null(strstr(gn_trainer_backend_reason(t), "--ranks"));
        assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
        gn_trainer_close(t);
    } else {
        assert_int_equal(st, GN_ERR_UNSUPPORTED);
        assert_non_null(strstr(gn_error_message(), "--gpus"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_match_one_rank_sgd),
        cmocka_unit_test(test_ranks_match_one_rank_adamw_relative),
        cmocka_unit_test(test_cpu_ranks_match_cpu_one_rank),
        cmocka_unit_test(test_ranks_resume),
        cmocka_unit_test(test_ranks_check_stops_a_divergence),
        cmocka_unit_test(test_ranks_skip),
        cmocka_unit_test(test_agree_catches),
        cmocka_unit_test(test_reducer_order),
        cmocka_unit_test(test_bad_ranks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
