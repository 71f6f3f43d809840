/*
 * Pruning (prune.h, prune.c):
 *  - the contribution rule: the fixed-order norm of a group's outgoing
 *    weights (times the spread of its activations, checked below), on a
 *    hand-made model;
 *  - a round removes exactly the hidden groups below the threshold, in
 *    canonical order, after the patience asked for, and renames the slots
 *    that move down;
 *  - it never leaves a group without in-edges or out-edges (a depthwise
 *    chain's link is skipped; of parallel groups all below, one stays);
 *  - the function changes by at most the claimed bound: the output's input
 *    moves, row by row, by no more than |a_g - mean(a_g)| times the norm of
 *    g's outgoing weights (the mean part folded into the biases), for a
 *    group feeding the output; a group whose activation is constant over
 *    the batch goes without a change;
 *  - the freed space is taken by the next duplication: the pools' use
 *    comes back to what it was, not beyond; the compaction moves every
 *    kept block whole and packs them in their old offsets' order;
 *  - the options are checked, and the cuda backend refuses them.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "grow.h"
#include "model.h"
#include "ops.h"
#include "prune.h"
#include "rng.h"
#include "trainer.h"

#define S 4
#define IN 5
#define CL 3
#define ROWS 8

/* input -> `hidden` parallel groups (slots 2 and up) -> output, weights
 * He-initialised; the groups whose bit is set in `tiny` get their outgoing
 * weights scaled by 1e-3. */
static void build(struct gn_model *m, int32_t hidden, uint32_t tiny)
{
    assert_int_equal(gn_model_init(m, IN, CL, S, 16, 64, 4096), GN_OK);
    for (int32_t i = 0; i < hidden; i++) {
        int32_t h;
        assert_int_equal(gn_model_add_group(m, &h), GN_OK);
        assert_int_equal(gn_model_add_edge(m, GN_SLOT_INPUT, h, NULL), GN_OK);
        assert_int_equal(gn_model_add_edge(m, h, GN_SLOT_OUTPUT, NULL), GN_OK);
    }
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
    gn_model_init_weights(m, 7);
    for (int32_t g = GN_SLOT_FIRST_HIDDEN; g < m->n_groups; g++) {
        if (!(tiny & (1u << g))) continue;
        const struct gn_group *gr = &m->groups[g];
        for (int32_t i = 0; i < gr->out_count; i++) {
            const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
            for (int64_t q = 0; q < (int64_t)S * m->groups[e->dst].width; q++)
                m->params[e->w + q] *= 1e-3f;
        }
    }
}

static void test_score(void **state)
{
    (void)state;
    struct gn_model m;
    build(&m, 2, 0);
    for (int32_t g = 2; g < 4; g++) {
        const struct gn_group *gr = &m.groups[g];
        assert_int_equal(gr->out_count, 1);
        const struct gn_edge *e = &m.edges[m.out_list[gr->out_begin]];
        float sum = 0.0f;
        double ref = 0.0;
        for (int64_t q = 0; q < S * CL; q++) {
            sum += m.params[e->w + q] * m.params[e->w + q];
            ref += (double)m.params[e->w + q] * m.params[e->w + q];
        }
        const float got = gn_prune_score(&m, g, NULL, 0, NULL);
        assert_memory_equal(&got, &(float){sqrtf(sum)}, sizeof got); /* the fixed order */
        assert_true(fabs(got - sqrt(ref)) <= 1e-6 * sqrt(ref));
    }
    assert_true(gn_prune_score(&m, GN_SLOT_INPUT, NULL, 0, NULL) > 0.0f);
    gn_model_free(&m);
}

static void test_removes_below_in_order(void **state)
{
    (void)state;
    struct gn_model m;
    build(&m, 4, (1u << 3) | (1u << 5)); /* slots 2..5; 3 and 5 tiny */
    float th = 0.0f;
    for (int32_t g = 2; g < 6; g++) {
        const float sc = gn_prune_score(&m, g, NULL, 0, NULL);
        print_message("group %d: contribution %g\n", g, sc);
        if ((g == 3 || g == 5) && sc * 10.0f > th) th = sc * 10.0f;
    }
    for (int32_t g = 2; g < 6; g++)
        if (g != 3 && g != 5) assert_true(gn_prune_score(&m, g, NULL, 0, NULL) > th);
    /* patience 2: the first round counts, the second removes */
    struct gn_prune_log log;
    assert_int_equal(gn_prune_round(&m, NULL, th, 2, &log), GN_OK);
    assert_int_equal(log.n_pruned, 0);
    assert_int_equal(m.groups[3].below, 1);
    assert_int_equal(m.groups[5].below, 1);
    assert_int_equal(m.groups[2].below, 0);
    const int32_t e0 = m.n_edges;
    const int64_t p0 = m.n_params;
    assert_int_equal(gn_prune_round(&m, NULL, th, 2, &log), GN_OK);
    assert_int_equal(log.n_pruned, 2);
    assert_int_equal(log.pruned[0], 3);
    assert_int_equal(log.pruned[1], 5);
    assert_int_equal(log.n_moved, 1); /* slot 4 moved down to 3 */
    assert_int_equal(log.moved[0][0], 4);
    assert_int_equal(log.moved[0][1], 3);
    assert_int_equal(m.n_groups, 4);
    assert_int_equal(m.n_edges, e0 - 4);
    assert_int_equal(m.n_params, p0 - 2 * (S + IN * S + S * CL));
    assert_int_equal(m.pruned, 2);
    for (int32_t g = 0; g < m.n_groups; g++)
        assert_int_equal(m.groups[g].flags & GN_GROUP_PRUNED, 0);
    assert_int_equal(gn_model_rebuild(&m, m.order), GN_OK);
    /* nothing below any more: a third round changes nothing */
    assert_int_equal(gn_prune_round(&m, NULL, th, 2, &log), GN_OK);
    assert_int_equal(log.n_pruned, 0);
    /* threshold 0: off */
    assert_int_equal(gn_prune_round(&m, NULL, 0.0f, 1, &log), GN_OK);
    assert_int_equal(m.n_groups, 4);
    gn_model_free(&m);
}

static void test_never_disconnects(void **state)
{
    (void)state;
    struct gn_model m;
    /* every parallel group below: all but the last go (the output keeps one) */
    build(&m, 4, 0);
    struct gn_prune_log log;
    assert_int_equal(gn_prune_round(&m, NULL, 1e30f, 1, &log), GN_OK);
    assert_int_equal(log.n_pruned, 3);
    assert_int_equal(m.n_groups, 3);
    assert_int_equal(m.groups[GN_SLOT_OUTPUT].in_count, 1);
    assert_int_equal(gn_model_rebuild(&m, m.order), GN_OK);
    gn_model_free(&m);

    /* a depthwise chain: 2 duplicated depthwise into 4 beside 3, so
     * in -> 2 -> 4 -> out and in -> 3 -> out, order in, 2, 4, 3, out. With
     * everything below: 2 is 4's only input and 4 is 2's only successor, so
     * neither goes (the link is skipped, not bypassed); 3 goes, the output
     * keeping 4. */
    build(&m, 2, 0);
    struct gn_grow_event ev[4];
    int32_t nev;
    m.groups[2].flags = GN_GROUP_CHOSEN;
    assert_int_equal(gn_grow_round(&m, GN_GROW_DEPTH, 1, 0.0f, 1, 0, ev, 4, &nev), GN_OK);
    assert_int_equal(m.n_groups, 5);
    assert_int_equal(gn_prune_round(&m, NULL, 1e30f, 1, &log), GN_OK);
    assert_int_equal(log.n_pruned, 1);
    assert_int_equal(log.pruned[0], 3);
    assert_int_equal(m.n_groups, 4);
    assert_int_equal(gn_model_rebuild(&m, m.order), GN_OK);
    for (int32_t g = 2; g < m.n_groups; g++) {
        assert_true(m.groups[g].in_count > 0);
        assert_true(m.groups[g].out_count > 0);
    }
    gn_model_free(&m);
}

static void forward(const struct gn_model *m, struct gn_buffers *b)
{
    for (int32_t i = 1; i < m->n_groups; i++) gn_op_forward(m, b, m->order[i], 0, b->rows);
}

/* Removing group 3 (which feeds the output) on the batch its activations
 * came from: the output's input moves, row by row, by at most
 * |a_r - mean(a)| |W|_F (the fold keeps the mean part); the contribution
 * is the mean of that bound over the rows; a group whose activation does
 * not vary over the batch goes with no change beyond rounding. */
static void test_function_bound(void **state)
{
    (void)state;
    int tested = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct gn_model m;
        build(&m, 3, 0);
        gn_model_init_weights(&m, seed);
        const int constant = seed % 4 == 0; /* group 3's in-weights zero: a = relu(bias) */
        if (constant) {
            const struct gn_group *g3 = &m.groups[3];
            const struct gn_edge *in = &m.edges[m.in_list[g3->in_begin]];
            memset(m.params + in->w, 0, (size_t)IN * S * sizeof(float));
            for (int32_t j = 0; j < S; j++) m.params[g3->bias + j] = 0.5f + 0.1f * (float)j;
        }
        struct gn_buffers b;
        assert_int_equal(gn_buffers_init(&b, &m, ROWS), GN_OK);
        b.rows = ROWS;
        float x[ROWS * IN];
        uint8_t y[ROWS];
        for (int32_t i = 0; i < ROWS * IN; i++) x[i] = gn_rng_uniform(seed, GN_RNG_TEST, 1, i);
        for (int32_t r = 0; r < ROWS; r++) y[r] = (uint8_t)(r % CL);
        b.x = x;
        b.y = y;
        forward(&m, &b);
        float before[ROWS * CL], dev[ROWS], mean[S];
        memcpy(before, gn_act(&b, GN_SLOT_OUTPUT), sizeof before);
        const float *a = gn_act(&b, 3);
        const float score = gn_prune_score(&m, 3, a, ROWS, mean);
        const float wn = gn_prune_score(&m, 3, NULL, 0, NULL);
        double spread = 0;
        for (int32_t r = 0; r < ROWS; r++) {
            double d2 = 0;
            for (int32_t j = 0; j < S; j++) {
                const double d = (double)a[r * S + j] - mean[j];
                d2 += d * d;
            }
            dev[r] = (float)sqrt(d2);
            spread += dev[r] / ROWS;
        }
        assert_true(fabs(score - spread * wn) <= 1e-5 * (spread * wn) + 1e-7);
        const float th = score * 1.0001f + 1e-30f;
        float other[S];
        if (gn_prune_score(&m, 2, gn_act(&b, 2), ROWS, other) < th ||
            gn_prune_score(&m, 4, gn_act(&b, 4), ROWS, other) < th) {
            /* a dead neighbour would go too: not this case */
            gn_buffers_free(&b);
            gn_model_free(&m);
            continue;
        }
        tested++;
        struct gn_prune_log log;
        assert_int_equal(gn_prune_round(&m, &b, th, 1, &log), GN_OK);
        assert_int_equal(log.n_pruned, 1);
        assert_int_equal(log.pruned[0], 3);
        forward(&m, &b);
        double worst = 0, biggest = 0;
        for (int32_t r = 0; r < ROWS; r++) {
            double d = 0;
            for (int32_t j = 0; j < CL; j++) {
                double dj = gn_act(&b, GN_SLOT_OUTPUT)[r * CL + j] - before[r * CL + j];
                d += dj * dj;
            }
            d = sqrt(d);
            /* the claim: |dz_r| <= |a_r - mean(a)| |W|_F, to float rounding */
            const double bound = (double)dev[r] * wn;
            assert_true(d <= bound * (1 + 1e-4) + 1e-5);
            if (bound > 0 && d / bound > worst) worst = d / bound;
            if (d > biggest) biggest = d;
        }
        if (constant) assert_true(biggest <= 1e-5); /* a constant group goes for free */
        if (tested <= 2 || constant)
            print_message("seed %llu%s: contribution %.4g, largest change %.3g, "
                          "largest change / bound %.3f\n",
                          (unsigned long long)seed, constant ? " (constant)" : "", score, biggest,
                          worst);
        gn_buffers_free(&b);
        gn_model_free(&m);
    }
    print_message("%d seeds tested\n", tested);
    assert_true(tested >= 10);
}

static void test_space_reused(void **state)
{
    (void)state;
    struct gn_model m;
    build(&m, 3, 1u << 3);
    const int32_t g0 = m.n_groups, e0 = m.n_edges;
    const int64_t p0 = m.n_params;
    struct gn_prune_log log;
    assert_int_equal(
        gn_prune_round(&m, NULL, gn_prune_score(&m, 3, NULL, 0, NULL) * 1.0001f, 1, &log), GN_OK);
    assert_int_equal(log.n_pruned, 1);
    assert_true(m.n_groups < g0 && m.n_edges < e0 && m.n_params < p0);
    /* a widthwise duplication of a group of the same shape takes the freed
     * space: the pools' use is back to what it was, no further */
    m.groups[2].flags = GN_GROUP_CHOSEN;
    struct gn_grow_event ev[4];
    int32_t nev;
    assert_int_equal(gn_grow_round(&m, GN_GROW_WIDTH, 1, 0.0f, 1, 0, ev, 4, &nev), GN_OK);
    assert_int_equal(nev, 1);
    assert_int_equal(ev[0].child, 4); /* the slot freed at the top, taken again */
    assert_int_equal(m.n_groups, g0);
    assert_int_equal(m.n_edges, e0);
    assert_int_equal(m.n_params, p0);
    assert_int_equal(gn_model_rebuild(&m, m.order), GN_OK);
    gn_model_free(&m);
}

/* The options: checked (the cuda backend prunes too: test_gpu). */
/* The compaction moves every kept block whole: after a widthwise
 * duplication (its blocks at the top of the pool, above later slots') and
 * a round that removes three groups, each kept bias and weight block holds
 * the same floats as before in params, grads and both moments; the kept
 * blocks tile [0, n_params) in the order of their old offsets
 * (gn_prune_packed_below); what was freed is zero. */
static void test_compaction_packs(void **state)
{
    (void)state;
    struct gn_model m;
    build(&m, 6, (1u << 3) | (1u << 5) | (1u << 7)); /* slots 2..7, three tiny */
    struct gn_grow_event ev[4];
    int32_t nev;
    m.groups[2].flags = GN_GROUP_CHOSEN;
    assert_int_equal(gn_grow_round(&m, GN_GROW_WIDTH, 1, 0.0f, 1, 0, ev, 4, &nev), GN_OK);
    assert_int_equal(m.n_groups, 9); /* slot 8: 2's copy, its blocks on top */
    for (int64_t q = 0; q < m.n_params; q++) {
        m.grads[q] = (float)q + 0.25f;
        m.moment[q] = (float)q + 0.5f;
        m.moment2[q] = (float)q + 0.75f;
    }
    struct gn_model old;
    assert_int_equal(gn_model_clone(&old, &m), GN_OK);
    struct gn_prune_log log;
    float th = 0.0f;
    for (int32_t g = 3; g <= 7; g += 2) {
        const float sc = gn_prune_score(&m, g, NULL, 0, NULL) * 1.0001f;
        if (sc > th) th = sc;
    }
    assert_int_equal(gn_prune_round(&m, NULL, th, 1, &log), GN_OK);
    assert_int_equal(log.n_pruned, 3);
    int32_t map[16], kept = 0;
    for (int32_t g = 0; g < old.n_groups; g++) map[g] = (g == 3 || g == 5 || g == 7) ? -1 : kept++;
    assert_int_equal(m.n_groups, kept);
    int64_t total = 0;
    char *cover = calloc((size_t)m.n_params, 1);
    assert_non_null(cover);
    /* every kept block: the same floats, at a place no other block takes */
    float *const olds[4] = {old.params, old.grads, old.moment, old.moment2};
    float *const news[4] = {m.params, m.grads, m.moment, m.moment2};
    for (int32_t e = 0; e < old.n_edges; e++) {
        const struct gn_edge oe = old.edges[e];
        if (oe.src < 0 || map[oe.src] < 0 || map[oe.dst] < 0) continue;
        int32_t f = -1;
        for (int32_t k = 0; k < m.n_edges; k++)
            if (m.edges[k].src == map[oe.src] && m.edges[k].dst == map[oe.dst]) f = k;
        assert_true(f >= 0);
        const int64_t len = (int64_t)old.groups[oe.src].width * old.groups[oe.dst].width;
        for (int a = 0; a < 4; a++)
            assert_memory_equal(news[a] + m.edges[f].w, olds[a] + oe.w, (size_t)len * sizeof(float));
        for (int64_t q = 0; q < len; q++) assert_int_equal(cover[m.edges[f].w + q]++, 0);
        assert_int_equal(m.edges[f].w % GN_PARAM_ALIGN, 0);
        total += gn_param_span(len);
    }
    for (int32_t g = 0; g < old.n_groups; g++) {
        if (map[g] < 0 || old.groups[g].bias < 0) continue;
        const int32_t w = old.groups[g].width;
        for (int a = 0; a < 4; a++)
            assert_memory_equal(news[a] + m.groups[map[g]].bias, olds[a] + old.groups[g].bias,
                                (size_t)w * sizeof(float));
        for (int32_t q = 0; q < w; q++) assert_int_equal(cover[m.groups[map[g]].bias + q]++, 0);
        assert_int_equal(m.groups[map[g]].bias % GN_PARAM_ALIGN, 0);
        total += gn_param_span(w);
    }
    assert_int_equal(total, m.n_params);
    /* blocks keep their old offsets' order: 2's copy (slot 8, now 5) above all */
    assert_true(m.groups[5].bias > m.groups[map[6]].bias);
    for (int64_t q = m.n_params; q < old.n_params; q++)
        for (int a = 0; a < 4; a++) assert_true(news[a][q] == 0.0f);
    free(cover);
    gn_model_free(&old);
    gn_model_free(&m);
}

static void test_options(void **state)
{
    (void)state;
    float x[4 * IN] = {0};
    uint8_t y[4] = {0, 1, 2, 0};
    struct gn_data d = {4, IN, CL, x, y};
    struct gn_settings s;
    gn_default_settings(&s);
    gn_trainer *t = NULL;
    s.backend = GN_BACKEND_SERIAL;
    s.prune_threshold = -1.0f;
    assert_int_equal(gn_trainer_open(&t, &s, &d, NULL, NULL), GN_ERR_INVALID);
    s.prune_threshold = 1.0f;
    s.prune_after = 0;
    assert_int_equal(gn_trainer_open(&t, &s, &d, NULL, NULL), GN_ERR_INVALID);
    s.prune_after = 1;
    assert_int_equal(gn_trainer_open(&t, &s, &d, NULL, NULL), GN_OK);
    gn_trainer_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_removes_below_in_order),
        cmocka_unit_test(test_never_disconnects),
        cmocka_unit_test(test_function_bound),
        cmocka_unit_test(test_space_reused),
        cmocka_unit_test(test_compaction_packs),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
