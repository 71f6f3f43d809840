/*
 * The model, the reference math and growth:
 *  - gradients of random small DAGs (fresh weights and inputs each run)
 *    against central finite differences, every parameter block;
 *  - function preservation of depthwise and widthwise duplication on random
 *    DAGs; with the perturbation on, the two copies differ; in the middle
 *    of an adam run, with both moments following growth's rules;
 *  - the closest-to-input rule on hand-built graphs;
 *  - the growth criteria on hand-made statistics: std as before; relative
 *    against the (lower) median of the hidden groups, ties, NaN, a lone
 *    group, and the same marks when every statistic is scaled (by 1000,
 *    and on random values by powers of two);
 *  - pool exhaustion: refused, counted, graph valid, training goes on;
 *  - the rows' loss summed in the GPU's order (tiles, lanes, a tree);
 *  - the host ops' register blocks against the canonical order, element
 *    by element; the host's walk of the statistic's lanes against the
 *    device's lane at a time; the host's update against the rule on one
 *    entry at a time.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "grow.h"
#include "mathf.h"
#include "model.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "stat.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

struct net {
    struct gn_model m;
    struct gn_buffers b;
    float *x;
    uint8_t *y;
};

static void net_free(struct net *n)
{
    gn_buffers_free(&n->b);
    gn_model_free(&n->m);
    free(n->x);
    free(n->y);
}

/* Mark and choose under the std criterion at threshold t. */
static int32_t mark_std(struct gn_model *m, float t)
{
    const struct gn_grow_rule r = gn_grow_rule_make(m, GN_GROW_CRITERION_STD, t, 0.0f);
    return gn_grow_mark(m, &r);
}

/* Random inputs, labels, and small random biases. */
static void net_fill(struct net *n, uint64_t seed)
{
    const struct gn_model *m = &n->m;
    for (int64_t i = 0; i < (int64_t)n->b.rows * m->inputs; i++)
        n->x[i] = gn_rng_uniform(seed, GN_RNG_TEST, 1, (uint64_t)i);
    for (int32_t r = 0; r < n->b.rows; r++)
        n->y[r] = (uint8_t)(gn_rng_u64(seed, GN_RNG_TEST, 2, (uint64_t)r) % (uint64_t)m->classes);
    for (int32_t g = 1; g < m->n_groups; g++)
        for (int32_t j = 0; j < m->groups[g].width; j++)
            n->m.params[m->groups[g].bias + j] =
                0.1f * gn_rng_normal(seed, GN_RNG_TEST, 3, (uint64_t)(g * 1000 + j));
    n->b.x = n->x;
    n->b.y = n->y;
}

static void net_make(struct net *n, uint64_t seed, int32_t hidden, int32_t inputs,
                     int32_t classes, int32_t S, int32_t rows, int32_t max_groups)
{
    memset(n, 0, sizeof *n);
    assert_int_equal(gn_model_init(&n->m, inputs, classes, S, max_groups, 16 * max_groups,
                                   (int64_t)max_groups * 64 * S * (inputs + S)),
                     GN_OK);
    gn_test_random_dag(&n->m, seed, hidden);
    gn_model_init_weights(&n->m, seed);
    assert_int_equal(gn_buffers_init(&n->b, &n->m, rows), GN_OK);
    n->b.rows = rows;
    n->x = malloc((size_t)rows * inputs * sizeof(float));
    n->y = malloc((size_t)rows);
    net_fill(n, seed);
}

static double net_loss(struct net *n)
{
    const struct gn_model *m = &n->m;
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_forward(m, &n->b, m->order[i], 0, n->b.rows);
    gn_op_loss(m, &n->b, 0, n->b.rows);
    double s;
    int64_t h;
    gn_op_reduce_loss(&n->b, &s, &h);
    return s / n->b.rows;
}

static void net_backward(struct net *n)
{
    struct gn_model *m = &n->m;
    net_loss(n);
    for (int32_t i = m->n_groups - 2; i >= 1; i--) gn_op_backward(m, &n->b, m->order[i], 0, n->b.rows);
    for (int32_t i = 1; i < m->n_groups; i++)
        m->groups[m->order[i]].grad_std = gn_op_grad(m, &n->b, m->order[i]);
}

/* ---- gradients against finite differences ----------------------------- */

static void check_gradients(uint64_t seed)
{
    struct net n;
    net_make(&n, seed, 2 + (int32_t)(seed % 5), 5, 3, 4, 6, 16);
    net_backward(&n);
    struct gn_model *m = &n.m;
    float *ana = malloc((size_t)m->n_params * sizeof(float));
    memcpy(ana, m->grads, (size_t)m->n_params * sizeof(float));
    int64_t checked = 0, kinks = 0, bad = 0;
    for (int64_t p = 0; p < m->n_params; p++) {
        /* Central differences at shrinking steps: a ReLU that switches
         * within [-eps, eps] of this point spoils the larger steps, so the
         * entry passes if one step agrees with the analytic value (the
         * tolerance grows at small steps by the float rounding of the loss).
         * A wrong gradient agrees at no step. */
        const float eps[] = {1e-2f, 3e-3f, 1e-3f, 3e-4f, 1e-4f, 3e-5f};
        float keep = m->params[p];
        int ok = 0;
        double num = 0;
        const double l0 = net_loss(&n);
        for (size_t i = 0; i < sizeof eps / sizeof eps[0] && !ok; i++) {
            m->params[p] = keep + eps[i];
            double lp = net_loss(&n);
            m->params[p] = keep - eps[i];
            double lm = net_loss(&n);
            num = (lp - lm) / (2.0 * eps[i]);
            double tol = 1e-4 + 1e-2 * fabs(num) + 4e-7 / eps[i];
            ok = fabs(num - ana[p]) <= tol;
            /* A ReLU exactly at its kink at this very point (a pre-activation
             * of exactly 0): the central difference averages the two sides
             * at every step, and the analytic value is one of them (ReLU's
             * derivative at 0 is taken as 0). Accept agreement with a
             * one-sided difference at the smallest steps; a wrong formula
             * matches neither side. */
            if (!ok && i >= 3) {
                const double fwd = (lp - l0) / eps[i], bwd = (l0 - lm) / eps[i];
                const double t1 = 1e-4 + 1e-2 * fabs(ana[p]) + 8e-7 / eps[i];
                ok = fabs(fwd - bwd) > t1 && (fabs(fwd - ana[p]) <= t1 || fabs(bwd - ana[p]) <= t1);
            }
            if (i > 2) kinks += ok; /* needed a step below 1e-3: near a kink */
        }
        m->params[p] = keep;
        checked++;
        if (!ok) {
            if (bad < 5)
                print_error("seed %llu param %lld: analytic %.6g numeric %.6g\n",
                            (unsigned long long)seed, (long long)p, ana[p], num);
            bad++;
        }
    }
    free(ana);
    net_free(&n);
    /* A ReLU that sits within 3e-5 of its kink for some row defeats every
     * step: allow one such entry per network (a wrong gradient formula
     * shows up in every block of its kind, so many entries, on every net). */
    assert_true(bad <= 1);
    assert_true(checked > 0 && kinks <= checked);
}

static void test_gradients_random_dags(void **state)
{
    (void)state;
    uint64_t base = gn_test_seed();
    for (uint64_t i = 0; i < 12; i++) check_gradients(base + i);
}

/* ---- function preservation -------------------------------------------- */

static void logits(struct net *n, float *out)
{
    net_loss(n);
    memcpy(out, gn_act(&n->b, GN_SLOT_OUTPUT), (size_t)n->b.rows * n->m.classes * sizeof(float));
}

static void check_preserved(uint64_t seed, enum gn_grow_policy policy, float noise)
{
    struct net n;
    net_make(&n, seed, 3 + (int32_t)(seed % 4), 6, 4, 5, 7, 32);
    struct gn_model *m = &n.m;
    int32_t rows = n.b.rows, C = m->classes;
    float *before = malloc((size_t)rows * C * sizeof(float));
    float *after = malloc((size_t)rows * C * sizeof(float));
    logits(&n, before);
    /* Choose every hidden group with no chosen predecessor (an independent
     * set, as the rule guarantees), so several duplications run at once. */
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        int32_t g = m->order[i];
        m->groups[g].grad_std = 1.0f;
        for (int32_t k = 0; k < m->groups[g].in_count; k++) {
            int32_t s = m->edges[m->in_list[m->groups[g].in_begin + k]].src;
            if (m->groups[s].grad_std > 0.5f) m->groups[g].grad_std = 0.0f;
        }
    }
    int32_t chosen = mark_std(m, 0.5f);
    assert_true(chosen >= 1);
    struct gn_settings s;
    gn_default_settings(&s);
    s.grow = policy;
    s.grow_noise = noise;
    s.seed = seed;
    int32_t groups_before = m->n_groups;
    struct gn_grow_event ev[64];
    int32_t nev;
    assert_int_equal(gn_grow_round(m, s.grow, s.seed, s.grow_noise, 10, 0, ev, 64, &nev), GN_OK);
    assert_int_equal(m->n_groups, groups_before + chosen);
    assert_int_equal(m->duplications, chosen);
    logits(&n, after);
    int bad = 0;
    for (int32_t i = 0; i < rows * C; i++) {
        float tol = (noise == 0.0f ? 1e-5f : 1e-4f) * (1.0f + fabsf(before[i]));
        if (fabsf(after[i] - before[i]) > tol) {
            if (bad < 5)
                print_error("seed %llu policy %d: logit %d before %.8g after %.8g\n",
                            (unsigned long long)seed, (int)policy, i, before[i], after[i]);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    if (policy == GN_GROW_WIDTH) {
        /* The copies' outgoing blocks: equal without noise, different with. */
        int32_t parent = ev[0].parent, child = ev[0].child;
        const struct gn_group *pg = &m->groups[parent], *cg = &m->groups[child];
        assert_int_equal(pg->out_count, cg->out_count);
        const struct gn_edge *ep = &m->edges[m->out_list[pg->out_begin]];
        const struct gn_edge *ec = &m->edges[m->out_list[cg->out_begin]];
        int64_t len = (int64_t)pg->width * m->groups[ep->dst].width;
        int differ = memcmp(m->params + ep->w, m->params + ec->w, (size_t)len * sizeof(float));
        if (noise == 0.0f) assert_int_equal(differ, 0);
        else assert_int_not_equal(differ, 0);
    }
    free(before);
    free(after);
    net_free(&n);
}

static void test_depthwise_preserves(void **state)
{
    (void)state;
    uint64_t base = gn_test_seed();
    for (uint64_t i = 0; i < 10; i++) check_preserved(base + i, GN_GROW_DEPTH, 0.0f);
}

static void test_widthwise_preserves(void **state)
{
    (void)state;
    uint64_t base = gn_test_seed();
    for (uint64_t i = 0; i < 10; i++) check_preserved(base + i, GN_GROW_WIDTH, 0.0f);
}

static void test_widthwise_noise_breaks_symmetry(void **state)
{
    (void)state;
    uint64_t base = gn_test_seed();
    for (uint64_t i = 0; i < 10; i++) check_preserved(base + i, GN_GROW_WIDTH, 0.1f);
}

static void test_depthwise_bitwise(void **state)
{
    /* ReLU(a I + 0) = a exactly: the identity insertion changes no bit. */
    (void)state;
    struct net n;
    net_make(&n, gn_test_seed(), 4, 6, 3, 8, 5, 16);
    float before[5 * 3], after[5 * 3];
    logits(&n, before);
    n.m.groups[n.m.order[1]].grad_std = 1.0f;
    assert_int_equal(mark_std(&n.m, 0.5f), 1);
    struct gn_settings s;
    gn_default_settings(&s);
    s.grow = GN_GROW_DEPTH;
    assert_int_equal(gn_grow_round(&n.m, s.grow, s.seed, s.grow_noise, 1, 0, NULL, 0, NULL), GN_OK);
    logits(&n, after);
    assert_memory_equal(before, after, sizeof before);
    net_free(&n);
}

/* Growth in the middle of an adam run: after some steps (both moments
 * nonzero) every independent hidden group is duplicated; the function is
 * preserved as without adam, and the optimizer state follows grow.c's
 * rules: depthwise, the identity's moments are zero and the moved edges
 * keep theirs; widthwise, the copy's bias and in-edges carry the parent's
 * two moments, each outgoing block's first moment is halved between the
 * halves and its second moment copied unchanged to both. Training then
 * goes on with finite values. */
static void check_grow_adam(uint64_t seed, enum gn_grow_policy policy)
{
    struct net n;
    net_make(&n, seed, 3 + (int32_t)(seed % 4), 6, 4, 5, 7, 32);
    struct gn_model *m = &n.m;
    const struct gn_optim o = {.kind = GN_OPTIM_ADAM, .lr = 1e-2f, .beta1 = 0.9f,
                               .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f,
                               .steps_total = 100};
    int64_t step = 0;
    for (; step < 5; step++) {
        net_backward(&n);
        const struct gn_optim_step k = gn_optim_at(&o, step);
        for (int32_t i = 1; i < m->n_groups; i++) gn_op_update(m, m->order[i], &k);
    }
    struct gn_model old;
    assert_int_equal(gn_model_clone(&old, m), GN_OK);
    const int32_t rows = n.b.rows, C = m->classes;
    float *before = malloc((size_t)rows * C * sizeof(float));
    float *after = malloc((size_t)rows * C * sizeof(float));
    logits(&n, before);
    for (int32_t i = 1; i < m->n_groups - 1; i++) {
        int32_t g = m->order[i];
        m->groups[g].grad_std = 1.0f;
        for (int32_t k = 0; k < m->groups[g].in_count; k++) {
            int32_t s = m->edges[m->in_list[m->groups[g].in_begin + k]].src;
            if (m->groups[s].grad_std > 0.5f) m->groups[g].grad_std = 0.0f;
        }
    }
    const int32_t chosen = mark_std(m, 0.5f);
    assert_true(chosen >= 1);
    struct gn_grow_event ev[64];
    int32_t nev;
    assert_int_equal(gn_grow_round(m, policy, seed, 0.0f, step, 0, ev, 64, &nev), GN_OK);
    assert_int_equal(nev, chosen);
    logits(&n, after);
    for (int32_t i = 0; i < rows * C; i++)
        if (fabsf(after[i] - before[i]) > 1e-5f * (1.0f + fabsf(before[i])))
            fail_msg("seed %llu %s: logit %d before %.8g after %.8g", (unsigned long long)seed,
                     gn_grow_policy_name(policy), i, before[i], after[i]);
    for (int32_t e = 0; e < nev; e++) {
        const struct gn_group *pg = &m->groups[ev[e].parent], *cg = &m->groups[ev[e].child];
        const struct gn_group *og = &old.groups[ev[e].parent];
        const int64_t S = pg->width;
        if (policy == GN_GROW_DEPTH) {
            /* the identity g -> g': zero moments; g' -> successors: g's old blocks */
            const struct gn_edge *id = &m->edges[m->in_list[cg->in_begin]];
            for (int64_t q = 0; q < S; q++)
                assert_true(m->moment[cg->bias + q] == 0.0f && m->moment2[cg->bias + q] == 0.0f);
            for (int64_t q = 0; q < S * S; q++)
                assert_true(m->moment[id->w + q] == 0.0f && m->moment2[id->w + q] == 0.0f);
            for (int32_t i = 0; i < cg->out_count; i++) {
                const struct gn_edge *ed = &m->edges[m->out_list[cg->out_begin + i]];
                const size_t len = (size_t)(S * m->groups[ed->dst].width) * sizeof(float);
                assert_memory_equal(m->moment + ed->w, old.moment + ed->w, len);
                assert_memory_equal(m->moment2 + ed->w, old.moment2 + ed->w, len);
            }
            continue;
        }
        assert_memory_equal(m->moment + cg->bias, old.moment + og->bias, (size_t)S * 4);
        assert_memory_equal(m->moment2 + cg->bias, old.moment2 + og->bias, (size_t)S * 4);
        for (int32_t i = 0; i < cg->in_count; i++) {
            const struct gn_edge *ec = &m->edges[m->in_list[cg->in_begin + i]];
            const struct gn_edge *ep = &m->edges[m->in_list[pg->in_begin + i]];
            const size_t len = (size_t)(m->groups[ec->src].width * S) * sizeof(float);
            assert_memory_equal(m->moment + ec->w, old.moment + ep->w, len);
            assert_memory_equal(m->moment2 + ec->w, old.moment2 + ep->w, len);
        }
        for (int32_t i = 0; i < cg->out_count; i++) {
            const struct gn_edge *ec = &m->edges[m->out_list[cg->out_begin + i]];
            const struct gn_edge *ep = &m->edges[m->out_list[pg->out_begin + i]];
            assert_int_equal(ec->dst, ep->dst);
            const int64_t len = S * m->groups[ec->dst].width;
            for (int64_t q = 0; q < len; q++) {
                const float half = 0.5f * old.moment[ep->w + q];
                assert_true(m->moment[ep->w + q] == half && m->moment[ec->w + q] == half);
                assert_true(m->moment2[ep->w + q] == old.moment2[ep->w + q]);
                assert_true(m->moment2[ec->w + q] == old.moment2[ep->w + q]);
            }
        }
    }
    for (int64_t end = step + 5; step < end; step++) {
        net_backward(&n);
        const struct gn_optim_step k = gn_optim_at(&o, step);
        for (int32_t i = 1; i < m->n_groups; i++) gn_op_update(m, m->order[i], &k);
    }
    assert_true(isfinite(net_loss(&n)));
    for (int64_t q = 0; q < m->n_params; q++)
        assert_true(isfinite(m->params[q]) && m->moment2[q] >= 0.0f);
    free(before);
    free(after);
    gn_model_free(&old);
    net_free(&n);
}

static void test_grow_adam(void **state)
{
    (void)state;
    uint64_t base = gn_test_seed();
    for (uint64_t i = 0; i < 6; i++) {
        check_grow_adam(base + i, GN_GROW_DEPTH);
        check_grow_adam(base + i, GN_GROW_WIDTH);
    }
}

/* ---- the closest-to-input rule ---------------------------------------- */

/* Build from an edge list over slots (0 input, 1 output, hidden 2..). */
static void build(struct gn_model *m, int32_t hidden, const int32_t (*e)[2], int32_t ne)
{
    assert_int_equal(gn_model_init(m, 4, 2, 3, 32, 64, 100000), GN_OK);
    for (int32_t i = 0; i < hidden; i++) {
        int32_t g;
        assert_int_equal(gn_model_add_group(m, &g), GN_OK);
    }
    for (int32_t i = 0; i < ne; i++) assert_int_equal(gn_model_add_edge(m, e[i][0], e[i][1], NULL), GN_OK);
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
}

static void set_std(struct gn_model *m, const float *stds)
{
    for (int32_t g = GN_SLOT_FIRST_HIDDEN; g < m->n_groups; g++)
        m->groups[g].grad_std = stds[g - GN_SLOT_FIRST_HIDDEN];
}

static int chosen(const struct gn_model *m, int32_t g)
{
    return (m->groups[g].flags & GN_GROUP_CHOSEN) != 0;
}

static void test_rule_chain(void **state)
{
    (void)state;
    /* in -> 2 -> 3 -> 4 -> 5 -> out */
    const int32_t e[][2] = {{0, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 1}};
    struct gn_model m;
    build(&m, 4, e, 5);
    const float all[] = {1, 1, 1, 1};
    set_std(&m, all);
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_true(chosen(&m, 2));
    const float tail[] = {0, 0, 1, 1};
    set_std(&m, tail);
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_true(chosen(&m, 4));
    assert_false(chosen(&m, 5));
    const float gap[] = {1, 0, 1, 0}; /* marked, unmarked gap, marked */
    set_std(&m, gap);
    assert_int_equal(mark_std(&m, 0.5f), 2);
    assert_true(chosen(&m, 2) && chosen(&m, 4));
    const float none[] = {0.5f, 0.1f, 0, 0}; /* equal to the threshold is not above */
    set_std(&m, none);
    assert_int_equal(mark_std(&m, 0.5f), 0);
    gn_model_free(&m);
}

static void test_rule_diamond(void **state)
{
    (void)state;
    /* in -> 2, in -> 3, 2 -> 4, 3 -> 4, 4 -> out */
    const int32_t e[][2] = {{0, 2}, {0, 3}, {2, 4}, {3, 4}, {4, 1}};
    struct gn_model m;
    build(&m, 3, e, 5);
    const float all[] = {1, 1, 1};
    set_std(&m, all);
    assert_int_equal(mark_std(&m, 0.5f), 2);
    assert_true(chosen(&m, 2) && chosen(&m, 3) && !chosen(&m, 4));
    const float one_side[] = {1, 0, 1}; /* 4 has one marked predecessor */
    set_std(&m, one_side);
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_true(chosen(&m, 2) && !chosen(&m, 4));
    const float bottom[] = {0, 0, 1};
    set_std(&m, bottom);
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_true(chosen(&m, 4));
    gn_model_free(&m);
}

static void test_rule_skip_edge(void **state)
{
    (void)state;
    /* in -> 2 -> 3 -> out and a skip in -> 3: 3 still has marked pred 2 */
    const int32_t e[][2] = {{0, 2}, {2, 3}, {0, 3}, {3, 1}};
    struct gn_model m;
    build(&m, 2, e, 4);
    const float both[] = {1, 1};
    set_std(&m, both);
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_true(chosen(&m, 2) && !chosen(&m, 3));
    gn_model_free(&m);
}

/* ---- growth criteria --------------------------------------------------- */

/* h hidden groups side by side: in -> g -> out for each. */
static void build_fan(struct gn_model *m, int32_t h)
{
    int32_t e[2 * 16][2];
    assert_true(h <= 16);
    for (int32_t i = 0; i < h; i++) {
        e[2 * i][0] = GN_SLOT_INPUT, e[2 * i][1] = GN_SLOT_FIRST_HIDDEN + i;
        e[2 * i + 1][0] = GN_SLOT_FIRST_HIDDEN + i, e[2 * i + 1][1] = GN_SLOT_OUTPUT;
    }
    build(m, h, e, 2 * h);
}

/* The marked hidden groups under a rule, as a bit mask by slot - 2. */
static uint32_t marks(struct gn_model *m, int32_t criterion, float threshold, float ratio)
{
    const struct gn_grow_rule r = gn_grow_rule_make(m, criterion, threshold, ratio);
    gn_grow_mark(m, &r);
    uint32_t mask = 0;
    for (int32_t g = GN_SLOT_FIRST_HIDDEN; g < m->n_groups; g++)
        if (m->groups[g].flags & GN_GROUP_MARKED) mask |= 1u << (g - GN_SLOT_FIRST_HIDDEN);
    return mask;
}

static uint32_t marks_relative(struct gn_model *m, const float *stds, float ratio)
{
    set_std(m, stds);
    return marks(m, GN_GROW_CRITERION_RELATIVE, 0.004f, ratio);
}

static void test_criterion_relative(void **state)
{
    (void)state;
    struct gn_model m;
    build_fan(&m, 5);
    m.groups[GN_SLOT_OUTPUT].grad_std = 1e6f; /* the output is not in the median */
    const float v[] = {1, 2, 3, 10, 0.5f}; /* median 2 */
    assert_int_equal(marks_relative(&m, v, 1.5f), 1u << 3);
    assert_int_equal(marks_relative(&m, v, 1.4f), 1u << 2 | 1u << 3);
    assert_int_equal(marks_relative(&m, v, 1.0f), 1u << 2 | 1u << 3);
    assert_int_equal(marks_relative(&m, v, 6.0f), 0);
    /* the same statistics under std: the absolute threshold */
    set_std(&m, v);
    assert_int_equal(marks(&m, GN_GROW_CRITERION_STD, 2.5f, 1.5f), 1u << 2 | 1u << 3);
    /* every statistic times 1000: relative marks the same groups, std more */
    const float k[] = {1000, 2000, 3000, 10000, 500};
    assert_int_equal(marks_relative(&m, k, 1.5f), 1u << 3);
    assert_int_equal(marks_relative(&m, k, 1.4f), 1u << 2 | 1u << 3);
    set_std(&m, k);
    assert_int_equal(marks(&m, GN_GROW_CRITERION_STD, 2.5f, 1.5f), 0x1fu);
    /* ties: equal to ratio x median is not above */
    const float tie[] = {2, 2, 2, 4, 2};
    assert_int_equal(marks_relative(&m, tie, 1.0f), 1u << 3);
    assert_int_equal(marks_relative(&m, tie, 2.0f), 0);
    /* a NaN ranks after every number and is never marked: 1 2 3 100 NaN */
    const float nan[] = {1, NAN, 2, 3, 100};
    assert_int_equal(marks_relative(&m, nan, 2.0f), 1u << 4);
    gn_model_free(&m);

    /* even counts: the lower median (1 2 3 4: 2) */
    build_fan(&m, 4);
    const float four[] = {4, 1, 3, 2};
    assert_int_equal(marks_relative(&m, four, 1.5f), 1u << 0);
    assert_int_equal(marks_relative(&m, four, 1.0f), 1u << 0 | 1u << 2);
    gn_model_free(&m);
    build_fan(&m, 2);
    const float two[] = {1, 3};
    assert_int_equal(marks_relative(&m, two, 2.0f), 1u << 1);
    assert_int_equal(marks_relative(&m, two, 3.0f), 0);
    gn_model_free(&m);

    /* a lone hidden group: marked while its statistic is above zero */
    build_fan(&m, 1);
    const float one[] = {1e-20f}, zero[] = {0}, none[] = {NAN};
    assert_int_equal(marks_relative(&m, one, 1000.0f), 1u);
    assert_int_equal(marks_relative(&m, zero, 2.0f), 0);
    assert_int_equal(marks_relative(&m, none, 2.0f), 0);
    gn_model_free(&m);
}

/* Random statistics (with ties) on 1 to 16 groups, scaled by 2^k: exact in
 * float, so relative must mark exactly the same groups at every scale; and
 * the median is the lower middle of the sorted values. */
static void test_criterion_scale_free(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    static const float RATIO[] = {0.5f, 1.0f, 1.25f, 2.0f, 3.0f};
    for (int32_t c = 0; c < 400; c++) {
        const int32_t h = 1 + (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 40, (uint64_t)c) % 16);
        struct gn_model m;
        build_fan(&m, h);
        float v[16], sorted[16];
        for (int32_t i = 0; i < h; i++) {
            const uint64_t u = gn_rng_u64(seed, GN_RNG_TEST, 41, (uint64_t)(c * 16 + i));
            v[i] = u % 4 == 0 ? (float)(1 + u / 4 % 3) /* ties */
                              : gn_rng_uniform(seed, GN_RNG_TEST, 42, (uint64_t)(c * 16 + i));
            sorted[i] = v[i];
        }
        for (int32_t i = 1; i < h; i++)
            for (int32_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                const float t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        const float ratio = RATIO[c % 5];
        set_std(&m, v);
        const struct gn_grow_rule r =
            gn_grow_rule_make(&m, GN_GROW_CRITERION_RELATIVE, 0.0f, ratio);
        assert_true(r.reference == (h > 1 ? sorted[(h - 1) / 2] : 0.0f));
        const uint32_t want = marks_relative(&m, v, ratio);
        for (int32_t k = -30; k <= 30; k += 10) {
            float w[16];
            for (int32_t i = 0; i < h; i++) w[i] = ldexpf(v[i], k);
            if (marks_relative(&m, w, ratio) != want)
                fail_msg("case %d: %d groups, ratio %g: scaled by 2^%d the marks change", c, h,
                         (double)ratio, k);
        }
        gn_model_free(&m);
    }
}

/* ---- pool exhaustion -------------------------------------------------- */

static void test_pool_exhaustion(void **state)
{
    (void)state;
    struct net n;
    net_make(&n, gn_test_seed(), 2, 6, 3, 4, 8, 6); /* room for 2 more groups */
    struct gn_model *m = &n.m;
    struct gn_settings s;
    gn_default_settings(&s);
    s.grow = GN_GROW_ALTERNATE;
    int64_t total_chosen = 0;
    const struct gn_optim o = {.kind = GN_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f};
    for (int round = 0; round < 6; round++) {
        net_backward(&n);
        for (int32_t g = GN_SLOT_FIRST_HIDDEN; g < m->n_groups; g++) m->groups[g].grad_std = 1.0f;
        total_chosen += mark_std(m, 0.5f);
        assert_int_equal(gn_grow_round(m, s.grow, s.seed, s.grow_noise, round + 1, round, NULL, 0, NULL), GN_OK);
        assert_true(m->n_groups <= m->max_groups);
        assert_true(m->n_edges <= m->max_edges);
        assert_true(m->n_params <= m->max_params);
        const struct gn_optim_step k = gn_optim_at(&o, round);
        for (int32_t g = 1; g < m->n_groups; g++) gn_op_update(m, g, &k);
        assert_true(isfinite(net_loss(&n)));
    }
    assert_int_equal(m->n_groups, m->max_groups);
    assert_int_equal(m->duplications, m->max_groups - 4);
    assert_int_equal(m->refused, total_chosen - m->duplications);
    assert_true(m->refused > 0);
    assert_int_equal(gn_model_rebuild(m, m->order), GN_OK); /* still a valid graph */
    net_free(&n);
}

static void test_pool_refuses_cleanly(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 4, 2, 3, 3, 2, 1000), GN_OK);
    int32_t g;
    assert_int_equal(gn_model_add_group(&m, &g), GN_OK);
    assert_int_equal(gn_model_add_group(&m, &g), GN_ERR_FULL);
    assert_non_null(strstr(gn_error_message(), "--max-groups"));
    assert_int_equal(gn_model_add_edge(&m, 0, 2, NULL), GN_OK);
    assert_int_equal(gn_model_add_edge(&m, 2, 1, NULL), GN_OK);
    assert_int_equal(gn_model_add_edge(&m, 0, 1, NULL), GN_ERR_FULL);
    assert_int_equal(m.n_edges, 2);
    assert_int_equal(gn_model_rebuild(&m, NULL), GN_OK);
    gn_model_free(&m);
}

/* A growth round on pools sized for millions of groups (the CLI allows
 * --max-groups up to 2^24): its scratch was variable-length arrays of
 * max_groups entries on the stack (16 MiB here, over the default 8 MiB
 * stack), now heap arrays of the groups in use. The pools are calloc'd,
 * so their untouched pages cost nothing. */
static void test_grow_round_large_pools(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 5, 3, 4, 1 << 22, 64, 4096), GN_OK);
    assert_int_equal(gn_model_build_default(&m), GN_OK);
    gn_model_init_weights(&m, gn_test_seed());
    m.groups[m.order[1]].grad_std = 1.0f;
    assert_int_equal(mark_std(&m, 0.5f), 1);
    assert_int_equal(gn_grow_round(&m, GN_GROW_DEPTH, 1, 0.0f, 1, 0, NULL, 0, NULL), GN_OK);
    assert_int_equal(m.n_groups, 4);
    assert_int_equal(m.duplications, 1);
    gn_model_free(&m);
}

static void test_rebuild_rejects(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 4, 2, 3, 8, 16, 1000), GN_OK);
    int32_t a, b;
    gn_model_add_group(&m, &a);
    gn_model_add_group(&m, &b);
    gn_model_add_edge(&m, 0, a, NULL);
    gn_model_add_edge(&m, a, b, NULL);
    gn_model_add_edge(&m, b, a, NULL);
    gn_model_add_edge(&m, b, 1, NULL);
    assert_int_equal(gn_model_rebuild(&m, NULL), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "cycle"));
    gn_model_free(&m);
}

/* gn_expf / gn_logf (the same bits on every backend) against the C library:
 * within 4 ulp over the softmax's range. */
static int32_t bits(float f)
{
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static void test_mathf(void **state)
{
    (void)state;
    int worst_e = 0, worst_l = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -100.0f + 188.0f * (float)i / 200000.0f;
        float a = gn_expf(x), b = expf(x);
        if (b > 1e-37f) {
            int ulp = abs(bits(a) - bits(b));
            if (ulp > worst_e) worst_e = ulp;
        }
        float y = ldexpf(1.0f + (float)i / 200000.0f, i % 80 - 40);
        float c = gn_logf(y), d = logf(y);
        if (fabsf(d) > 1e-3f) {
            int ulp = abs(bits(c) - bits(d));
            if (ulp > worst_l) worst_l = ulp;
        } else {
            assert_true(fabsf(c - d) < 1e-9f);
        }
    }
    print_message("gn_expf worst %d ulp, gn_logf worst %d ulp\n", worst_e, worst_l);
    assert_true(worst_e <= 4);
    assert_true(worst_l <= 4);
    assert_true(gn_expf(0.0f) == 1.0f);
    assert_true(gn_logf(1.0f) == 0.0f);
    assert_true(isinf(gn_expf(100.0f)) && gn_expf(-200.0f) == 0.0f);
}

/* The rows' loss in the GPU's order (ops.h): tiles of GN_LOSS_TILE rows in
 * row order; in a tile, lanes of consecutive rows each from zero, combined
 * by the halving tree. Computed here apart: lane l of a tile holds rows
 * [l * 8, l * 8 + 8); T(i, w), the sum of the lanes congruent to i mod w,
 * is T(i, 2w) + T(i + w, 2w), with T(i, 32) lane i, and the tile's sum is
 * T(0, 1). On random losses of mixed magnitudes; then on rows made so
 * that the order shows in the bits: 1 and fifteen rows of 2^-53, where a
 * walk in row order rounds each small row away (1 + 2^-53 is a tie, to
 * even: 1) and the tree adds lane 1's eight rows first (2^-50), then to
 * lane 0's 1: 1 + 2^-50. */
static double tree_of(const double *lane, int i, int w)
{
    if (w == GN_LOSS_LANES) return lane[i];
    return tree_of(lane, i, 2 * w) + tree_of(lane, i + w, 2 * w);
}

static void test_loss_sum_order(void **state)
{
    (void)state;
    assert_int_equal(GN_LOSS_TILE, 256);
    assert_int_equal(GN_LOSS_LANES, 32);
    const int32_t sizes[] = {1, 7, 8, 9, 100, 255, 256, 257, 600, 1024};
    uint64_t seed = gn_test_seed();
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int32_t n = sizes[k];
        float *loss = malloc((size_t)n * sizeof *loss);
        uint8_t *hit = malloc((size_t)n);
        assert_non_null(loss);
        assert_non_null(hit);
        int64_t want_h = 0;
        for (int32_t r = 0; r < n; r++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const uint32_t u = (uint32_t)(seed >> 33);
            loss[r] = ldexpf(1.0f + (float)(u & 0xffff) / 65536.0f, (int)((u >> 16) % 120) - 60);
            hit[r] = (uint8_t)((u >> 24) & 1);
            want_h += hit[r];
        }
        double want = 3.0; /* the sums continue from what they hold */
        for (int32_t t0 = 0; t0 < n; t0 += 256) {
            double lane[32] = {0};
            for (int32_t r = t0; r < n && r < t0 + 256; r++) lane[(r - t0) / 8] += loss[r];
            want += tree_of(lane, 0, 1);
        }
        double got = 3.0;
        int64_t got_h = 5;
        gn_loss_sum_rows(loss, hit, n, &got, &got_h);
        assert_memory_equal(&got, &want, sizeof got);
        assert_int_equal(got_h, 5 + want_h);
        /* gn_op_reduce_loss: the same from zero over the buffers' rows */
        struct gn_buffers b = {0};
        b.row_loss = loss;
        b.row_hit = hit;
        b.rows = n;
        double s = 1.0;
        int64_t h = 1;
        gn_op_reduce_loss(&b, &s, &h);
        double want0 = 0.0;
        int64_t want0_h = 0;
        gn_loss_sum_rows(loss, hit, n, &want0, &want0_h);
        assert_memory_equal(&s, &want0, sizeof s);
        assert_int_equal(h, want_h);
        free(loss);
        free(hit);
    }
    /* the order in the bits */
    float rows16[16];
    uint8_t hits16[16] = {0};
    rows16[0] = 1.0f;
    for (int r = 1; r < 16; r++) rows16[r] = ldexpf(1.0f, -53);
    double walk = 0.0, tree = 0.0;
    int64_t h16 = 0;
    for (int r = 0; r < 16; r++) walk += rows16[r];
    gn_loss_sum_rows(rows16, hits16, 16, &tree, &h16);
    assert_true(walk == 1.0);
    assert_true(tree == 1.0 + ldexp(1.0, -50));
    assert_int_equal(h16, 0);
}

/* The host ops' register blocks (ops.c: 4 rows or k's by 16 columns, an
 * AVX2 path where the processor has one) against the canonical order
 * element by element, computed here one element at a time: widths with
 * and without whole blocks (16, 32, 20, 7, and 40: chunks of 32 targets
 * and a rest), row counts with and without (1, 5, 13, 32), the forward
 * and the errors on split row ranges, the weight gradients from zero and
 * continuing from given sums (--ranks). Bit for bit. */
static float expect_z(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r,
                      int32_t j)
{
    const struct gn_group *gr = &m->groups[g];
    float z = m->params[gr->bias + j];
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        const int32_t K = m->groups[e->src].width;
        const float *a = e->src == GN_SLOT_INPUT ? b->x : gn_act(b, e->src);
        for (int32_t k = 0; k < K; k++)
            z = fmaf(a[(int64_t)r * K + k], m->params[e->w + (int64_t)k * gr->width + j], z);
    }
    return gr->kind == GN_GROUP_HIDDEN && !(z > 0.0f) ? 0.0f : z;
}

static float expect_dz(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r,
                       int32_t k)
{
    const struct gn_group *gr = &m->groups[g];
    float d = 0.0f;
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        const int32_t n = m->groups[e->dst].width;
        const float *dt = gn_dz(b, e->dst);
        for (int32_t c = 0; c < n; c += GN_OPS_CHUNK) {
            float s = 0.0f;
            for (int32_t j = c; j < n && j < c + GN_OPS_CHUNK; j++)
                s = fmaf(dt[(int64_t)r * n + j], m->params[e->w + (int64_t)k * n + j], s);
            d += s;
        }
    }
    return gn_act(b, g)[(int64_t)r * gr->width + k] > 0.0f ? d : 0.0f;
}

static float expect_dw(const struct gn_model *m, const struct gn_buffers *b, int32_t e_id,
                       int32_t k, int32_t j, float from)
{
    const struct gn_edge *e = &m->edges[e_id];
    const int32_t K = m->groups[e->src].width, n = m->groups[e->dst].width;
    const float *a = e->src == GN_SLOT_INPUT ? b->x : gn_act(b, e->src);
    const float *dz = gn_dz(b, e->dst);
    float s = from;
    for (int32_t r = 0; r < b->rows; r++) s = fmaf(a[(int64_t)r * K + k], dz[(int64_t)r * n + j], s);
    return s;
}

/* Run a row op (forward or error) on group g over rows [0, cut) and
 * [cut, rows), then compare every element of its block with `expect`;
 * returns the elements checked. */
static int64_t check_rows(const struct gn_model *m, const struct gn_buffers *b, int32_t g,
                          int32_t cut,
                          void (*op)(const struct gn_model *, const struct gn_buffers *, int32_t,
                                     int32_t, int32_t),
                          float *(*block)(const struct gn_buffers *, int32_t),
                          float (*expect)(const struct gn_model *, const struct gn_buffers *,
                                          int32_t, int32_t, int32_t))
{
    op(m, b, g, 0, cut);
    op(m, b, g, cut, b->rows);
    const float *out = block(b, g);
    const int32_t w = m->groups[g].width;
    for (int32_t r = 0; r < b->rows; r++)
        for (int32_t j = 0; j < w; j++) {
            const float want = expect(m, b, g, r, j);
            assert_memory_equal(&out[(int64_t)r * w + j], &want, sizeof want);
        }
    return (int64_t)b->rows * w;
}

static void ops_blocked(void)
{
    const int32_t widths[] = {16, 32, 20, 7, 40}, rows[] = {1, 5, 13, 32};
    const uint64_t seed = gn_test_seed();
    int64_t checked = 0;
    for (int wi = 0; wi < 5; wi++)
        for (int ri = 0; ri < 4; ri++) {
            const int32_t S = widths[wi], R = rows[ri];
            struct net n;
            net_make(&n, seed + (uint64_t)(wi * 4 + ri), 5, 4 * S + 3, S + 1, S, R, 8);
            struct gn_model *m = &n.m;
            /* the forward, each group on two row ranges, in topological order */
            const int32_t cut = R / 2;
            for (int32_t i = 1; i < m->n_groups; i++)
                checked += check_rows(m, &n.b, m->order[i], cut, gn_op_forward, gn_act, expect_z);
            /* the errors, then every weight gradient from zero, and again
             * continuing from the sums it made */
            gn_op_loss(m, &n.b, 0, R);
            for (int32_t i = m->n_groups - 2; i >= 1; i--)
                checked += check_rows(m, &n.b, m->order[i], cut, gn_op_backward, gn_dz, expect_dz);
            for (int32_t pass = 0; pass < 2; pass++) {
                float *before = malloc((size_t)m->n_params * sizeof(float));
                assert_non_null(before);
                memcpy(before, m->grads, (size_t)m->n_params * sizeof(float));
                for (int32_t i = 1; i < m->n_groups; i++) gn_op_grad_acc(m, &n.b, m->order[i], pass == 0);
                for (int32_t e = 0; e < m->n_edges; e++) {
                    if (m->edges[e].src < 0) continue;
                    const int32_t K = m->groups[m->edges[e].src].width;
                    const int32_t w = m->groups[m->edges[e].dst].width;
                    for (int32_t k = 0; k < K; k++)
                        for (int32_t j = 0; j < w; j++) {
                            const int64_t o = m->edges[e].w + (int64_t)k * w + j;
                            const float want =
                                expect_dw(m, &n.b, e, k, j, pass == 0 ? 0.0f : before[o]);
                            assert_memory_equal(&m->grads[o], &want, sizeof want);
                            checked++;
                        }
                }
                free(before);
            }
            net_free(&n);
        }
    print_message("%lld outputs and weight gradients checked\n", (long long)checked);
}

static void test_ops_blocked(void **state)
{
    (void)state;
    const int simd = gn_ops_simd(0); /* the portable blocks */
    ops_blocked();
    gn_ops_simd(1);
    print_message("and with AVX2: %s\n", simd ? "yes" : "not on this processor");
    if (simd) ops_blocked();
}

/* The host's walk of the statistic's lanes (stat.h: gn_stat_lanes, the
 * entries in index order) against the device's, a lane at a time
 * (gn_stat_lane, and pass 2 from the entries pass 1 kept,
 * gn_stat_lane_keep): the same lane sums, bit for bit, in both passes, on
 * groups whose segments are not whole rounds of lanes (widths 7, 20, 32,
 * 33: a segment shorter than a round, segments across rounds, whole
 * rounds), and the statistic from them. */
static void test_stat_lanes(void **state)
{
    (void)state;
    const int32_t widths[] = {7, 20, 32, 33};
    const uint64_t seed = gn_test_seed();
    for (int wi = 0; wi < 4; wi++) {
        struct net n;
        const int32_t S = widths[wi];
        net_make(&n, seed + (uint64_t)wi, 4, 3 * S + 5, 3, S, 2, 8);
        struct gn_model *m = &n.m;
        for (int64_t p = 0; p < m->n_params; p++)
            m->grads[p] = 1e-3f + 1e-2f * gn_rng_normal(seed, GN_RNG_TEST, 9, (uint64_t)p);
        for (int32_t i = 1; i < m->n_groups; i++) {
            const int32_t g = m->order[i];
            for (int centred = 0; centred < 2; centred++) {
                const double mean = centred ? 1e-3 : 0.0;
                double all[GN_STAT_LANES];
                gn_stat_lanes(m, g, centred, mean, all);
                for (uint32_t l = 0; l < GN_STAT_LANES; l++) {
                    const double one = gn_stat_lane(m, g, l, centred, mean);
                    assert_memory_equal(&all[l], &one, sizeof one);
                }
            }
            /* the statistic: the tree over the lanes, twice; pass 1 keeps
             * each lane's entries (gn_stat_lane_keep, the device's stash)
             * and pass 2 sums them from there, as the kernel does */
            double s[GN_STAT_LANES];
            const double cnt = gn_stat_count(m, g);
            const size_t per = (size_t)cnt / GN_STAT_LANES + 1;
            float *keep = calloc(per * GN_STAT_LANES, sizeof *keep);
            int32_t kept[GN_STAT_LANES], total = 0;
            assert_non_null(keep);
            for (uint32_t l = 0; l < GN_STAT_LANES; l++) {
                s[l] = gn_stat_lane_keep(m, g, l, 0, 0.0, keep, &kept[l]);
                const double one = gn_stat_lane(m, g, l, 0, 0.0);
                assert_memory_equal(&s[l], &one, sizeof one);
                assert_true((size_t)kept[l] <= per);
                total += kept[l];
            }
            assert_int_equal(total, (int32_t)cnt);
            for (uint32_t st = GN_STAT_LANES / 2; st > 0; st /= 2)
                for (uint32_t l = 0; l < st; l++) gn_stat_tree_step(s, l, st);
            const double mean = s[0] / cnt;
            for (uint32_t l = 0; l < GN_STAT_LANES; l++) {
                const double k = gn_stat_lane_kept(keep, kept[l], l, mean);
                s[l] = gn_stat_lane(m, g, l, 1, mean);
                assert_memory_equal(&s[l], &k, sizeof k);
            }
            free(keep);
            for (uint32_t st = GN_STAT_LANES / 2; st > 0; st /= 2)
                for (uint32_t l = 0; l < st; l++) gn_stat_tree_step(s, l, st);
            const float want = (float)sqrt(s[0] / cnt), got = gn_stat_grad_std(m, g);
            assert_memory_equal(&got, &want, sizeof got);
        }
        net_free(&n);
    }
}

/* gn_stat_refresh, the statistic's rule on a step (stat.h): where the
 * step's statistic is read, the formula's bits; elsewhere grad_std kept
 * while every entry is finite, and the fixed NaN as soon as one entry (the
 * bias, or any place of any in-edge block) is not, which is what the
 * numeric guard then finds. */
static void test_stat_refresh(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    struct net n;
    net_make(&n, seed, 5, 23, 4, 7, 2, 8);
    struct gn_model *m = &n.m;
    for (int64_t p = 0; p < m->n_params; p++)
        m->grads[p] = gn_rng_normal(seed, GN_RNG_TEST, 30, (uint64_t)p);
    const float bad[] = {INFINITY, -INFINITY, NAN};
    const float nan_bits = gn_stat_nonfinite();
    int tried = 0;
    for (int32_t i = 1; i < m->n_groups; i++) {
        const int32_t g = m->order[i];
        struct gn_group *gr = &m->groups[g];
        gn_stat_refresh(m, g, 1);
        const float want = gn_stat_grad_std(m, g);
        assert_memory_equal(&gr->grad_std, &want, sizeof want);
        assert_true(isfinite(want) && want > 0.0f);
        /* not read: kept, whatever it was */
        gr->grad_std = 0.125f;
        gn_stat_refresh(m, g, 0);
        assert_true(gr->grad_std == 0.125f);
        /* one entry not finite: the bias's first and last, then the last
         * in-edge block's middle and last entries */
        const int32_t segs[2] = {-1, gr->in_count - 1};
        for (int si = 0; si < (gr->in_count > 0 ? 2 : 1); si++) {
            const int32_t sseg = segs[si];
            int64_t len;
            float *x = (float *)gn_stat_segment(m, gr, gr->width, sseg, &len);
            const int64_t at[2] = {sseg < 0 ? 0 : len / 2, len - 1};
            for (int k = 0; k < 2; k++) {
                const float keep = x[at[k]];
                x[at[k]] = bad[(tried++) % 3];
                gr->grad_std = 0.125f;
                gn_stat_refresh(m, g, 0);
                assert_memory_equal(&gr->grad_std, &nan_bits, sizeof nan_bits);
                gn_stat_refresh(m, g, 1); /* the formula agrees: not finite */
                assert_false(isfinite(gr->grad_std));
                x[at[k]] = keep;
            }
        }
    }
    assert_true(tried >= 2 * (m->n_groups - 1));
    net_free(&n);
}

/* The host's update (ops.c: the rule vectorised over a block's entries)
 * against the rule on one entry at a time (gn_optim_apply), for sgd, adam
 * and adamw, on random gradients and moments: the same bits. */
static void test_update_entries(void **state)
{
    (void)state;
    const uint64_t seed = gn_test_seed();
    const enum gn_optimizer kinds[] = {GN_OPTIM_SGD, GN_OPTIM_ADAM, GN_OPTIM_ADAMW};
    for (int ki = 0; ki < 3; ki++) {
        struct net n;
        net_make(&n, seed + (uint64_t)ki, 4, 37, 5, 13, 2, 8);
        struct gn_model *m = &n.m;
        for (int64_t p = 0; p < m->n_params; p++) {
            m->grads[p] = gn_rng_normal(seed, GN_RNG_TEST, 20, (uint64_t)p);
            m->moment[p] = 0.1f * gn_rng_normal(seed, GN_RNG_TEST, 21, (uint64_t)p);
            m->moment2[p] = 0.01f * gn_rng_uniform(seed, GN_RNG_TEST, 22, (uint64_t)p);
        }
        const struct gn_optim o = {.kind = kinds[ki], .lr = 1e-2f, .momentum = 0.9f, .beta1 = 0.9f,
                                   .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f,
                                   .steps_total = 100};
        const struct gn_optim_step k = gn_optim_at(&o, 7);
        const size_t bytes = (size_t)m->n_params * sizeof(float);
        float *w = malloc(bytes), *m1 = malloc(bytes), *m2 = malloc(bytes);
        assert_true(w && m1 && m2);
        memcpy(w, m->params, bytes);
        memcpy(m1, m->moment, bytes);
        memcpy(m2, m->moment2, bytes);
        for (int32_t i = 1; i < m->n_groups; i++) {
            const int32_t g = m->order[i];
            const struct gn_group *gr = &m->groups[g];
            gn_op_update(m, g, &k);
            for (int32_t j = 0; j < gr->width; j++) {
                const int64_t q = gr->bias + j;
                gn_optim_apply(w + q, m1 + q, m2 + q, m->grads[q], 0, &k);
            }
            for (int32_t e = 0; e < gr->in_count; e++) {
                const struct gn_edge *ed = &m->edges[m->in_list[gr->in_begin + e]];
                const int64_t len = (int64_t)m->groups[ed->src].width * gr->width;
                for (int64_t q = ed->w; q < ed->w + len; q++)
                    gn_optim_apply(w + q, m1 + q, m2 + q, m->grads[q], 1, &k);
            }
        }
        assert_memory_equal(m->params, w, bytes);
        assert_memory_equal(m->moment, m1, bytes);
        if (kinds[ki] != GN_OPTIM_SGD) assert_memory_equal(m->moment2, m2, bytes);
        free(w);
        free(m1);
        free(m2);
        net_free(&n);
    }
}

/* Every live block starts on GN_PARAM_ALIGN floats, n_params is the sum
 * of their spans and gn_model_param_count of their sizes. */
static void assert_aligned_layout(const struct gn_model *m)
{
    int64_t spans = 0, sizes = 0;
    for (int32_t g = 0; g < m->n_groups; g++) {
        if (m->groups[g].bias < 0) continue;
        assert_int_equal(m->groups[g].bias % GN_PARAM_ALIGN, 0);
        spans += gn_param_span(m->groups[g].width);
        sizes += m->groups[g].width;
    }
    for (int32_t e = 0; e < m->n_edges; e++) {
        if (m->edges[e].src < 0) continue;
        const int64_t len = (int64_t)m->groups[m->edges[e].src].width *
                            m->groups[m->edges[e].dst].width;
        assert_int_equal(m->edges[e].w % GN_PARAM_ALIGN, 0);
        spans += gn_param_span(len);
        sizes += len;
    }
    assert_int_equal(m->n_params, spans);
    assert_int_equal(gn_model_param_count(m), sizes);
}

/* Odd widths (7 inputs, 3 classes, groups of 5): the blocks are aligned as
 * built, after growth of either kind, and a legacy layout (blocks end to
 * end, as checkpoints before the alignment hold them) is re-laid out with
 * every block's values, or refused when the aligned blocks do not fit. */
static void test_param_alignment(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        struct net n;
        net_make(&n, gn_test_seed() + (uint64_t)kind, 4, 7, 3, 5, 4, 16);
        assert_aligned_layout(&n.m);
        float before[4 * 3], after[4 * 3];
        logits(&n, before);
        n.m.groups[n.m.order[1]].grad_std = 1.0f;
        n.m.groups[n.m.order[3]].grad_std = 1.0f;
        assert_true(mark_std(&n.m, 0.5f) >= 1);
        assert_int_equal(gn_grow_round(&n.m, kind ? GN_GROW_WIDTH : GN_GROW_DEPTH, 1, 0.0f, 1, 0,
                                       NULL, 0, NULL),
                         GN_OK);
        assert_true(n.m.duplications >= 1);
        assert_aligned_layout(&n.m);
        logits(&n, after);
        if (kind == 0) assert_memory_equal(before, after, sizeof before);

        /* the legacy layout: every block moved down end to end */
        struct gn_model *m = &n.m;
        float *arrays[4] = {m->params, m->grads, m->moment, m->moment2};
        for (int a = 0; a < 4; a++) {
            for (int32_t q = 0; q < m->n_params; q++) arrays[a][q] = (float)q + 0.25f * a;
        }
        struct gn_model tagged;
        assert_int_equal(gn_model_clone(&tagged, m), GN_OK);
        int64_t at = 0;
        /* in offset order: the blocks were laid out by increasing offset */
        for (int64_t off = 0; off < tagged.n_params; off++) {
            for (int32_t g = 0; g < m->n_groups; g++)
                if (tagged.groups[g].bias == off) {
                    for (int a = 0; a < 4; a++)
                        memmove(arrays[a] + at, arrays[a] + off,
                                (size_t)m->groups[g].width * sizeof(float));
                    m->groups[g].bias = at;
                    at += m->groups[g].width;
                }
            for (int32_t e = 0; e < m->n_edges; e++)
                if (tagged.edges[e].src >= 0 && tagged.edges[e].w == off) {
                    const int64_t len =
                        (int64_t)m->groups[m->edges[e].src].width * m->groups[m->edges[e].dst].width;
                    for (int a = 0; a < 4; a++)
                        memmove(arrays[a] + at, arrays[a] + off, (size_t)len * sizeof(float));
                    m->edges[e].w = at;
                    at += len;
                }
        }
        m->n_params = at;
        assert_true(at < tagged.n_params); /* some block was misaligned */
        const int64_t cap = m->max_params;
        m->max_params = tagged.n_params - 1; /* the aligned blocks do not fit */
        assert_int_equal(gn_model_align_params(m), GN_ERR_FULL);
        assert_non_null(strstr(gn_error_message(), "raise --max-params"));
        m->max_params = cap;
        assert_int_equal(gn_model_align_params(m), GN_OK);
        assert_aligned_layout(m);
        /* each block's values, where the tagged model had them */
        for (int32_t g = 0; g < m->n_groups; g++) {
            if (m->groups[g].bias < 0) continue;
            assert_int_equal(m->groups[g].bias, tagged.groups[g].bias);
        }
        for (int32_t e = 0; e < m->n_edges; e++)
            if (m->edges[e].src >= 0) assert_int_equal(m->edges[e].w, tagged.edges[e].w);
        for (int a = 0; a < 4; a++) {
            const float *t = a == 0 ? tagged.params : a == 1 ? tagged.grads
                                                   : a == 2 ? tagged.moment : tagged.moment2;
            for (int32_t g = 0; g < m->n_groups; g++)
                if (m->groups[g].bias >= 0)
                    assert_memory_equal(arrays[a] + m->groups[g].bias, t + m->groups[g].bias,
                                        (size_t)m->groups[g].width * sizeof(float));
            for (int32_t e = 0; e < m->n_edges; e++)
                if (m->edges[e].src >= 0)
                    assert_memory_equal(arrays[a] + m->edges[e].w, t + m->edges[e].w,
                                        (size_t)m->groups[m->edges[e].src].width *
                                            m->groups[m->edges[e].dst].width * sizeof(float));
        }
        /* aligned already: nothing moves */
        assert_int_equal(gn_model_align_params(m), GN_OK);
        assert_aligned_layout(m);
        gn_model_free(&tagged);
        net_free(&n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mathf),
        cmocka_unit_test(test_loss_sum_order),
        cmocka_unit_test(test_ops_blocked),
        cmocka_unit_test(test_stat_lanes),
        cmocka_unit_test(test_stat_refresh),
        cmocka_unit_test(test_update_entries),
        cmocka_unit_test(test_gradients_random_dags),
        cmocka_unit_test(test_depthwise_preserves),
        cmocka_unit_test(test_depthwise_bitwise),
        cmocka_unit_test(test_widthwise_preserves),
        cmocka_unit_test(test_widthwise_noise_breaks_symmetry),
        cmocka_unit_test(test_grow_adam),
        cmocka_unit_test(test_rule_chain),
        cmocka_unit_test(test_rule_diamond),
        cmocka_unit_test(test_rule_skip_edge),
        cmocka_unit_test(test_criterion_relative),
        cmocka_unit_test(test_criterion_scale_free),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_pool_refuses_cleanly),
        cmocka_unit_test(test_rebuild_rejects),
        cmocka_unit_test(test_grow_round_large_pools),
        cmocka_unit_test(test_param_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
