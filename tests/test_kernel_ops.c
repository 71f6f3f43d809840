/*
 * Kernel tests in the checkasm style: every block operation of the
 * persistent kernel (device/block_ops.cuh), growth's duplication run by a
 * block's threads, and growth's marking under both criteria (the relative
 * one's median ranked by the threads; statistics with ties, zeros,
 * denormals, infinities and NaNs), against its host reference
 * (runtime/model/ops.c, stat.h, grow.h), bit for bit. Suite gpu: exits 77
 * where no device is.
 *
 * A case builds a small network around one group T: p hidden sources
 * (each fed by the input) and maybe the input feed T; T feeds q hidden
 * targets (each feeding the output) and maybe the output; 0 to 2
 * bystander groups sit beside them. Roles take shuffled slots and the
 * edges are added in shuffled order, so slots, positions and weight blocks
 * all disagree with the canonical order. Every array is filled with random
 * values of the case's profile (plain; sparse with exact and negative
 * zeros; magnitudes 2^-60..2^20; denormals and large values mixed in; a
 * few small integers, for ties and exact cancellations), space no op may
 * read or write with a NaN sentinel. The host state is cloned twice: the
 * reference runs on one clone, the device op (opcheck.cu: one block of NT
 * threads) on the other, and then EVERY array (pools, lists, activations,
 * errors, loss rows) is compared as uint32 bit patterns, so a write out of
 * place shows as well as a wrong value. The first mismatches of a case are
 * printed with the op, the shape, the place and both values in %a.
 *
 * Shapes are adversarial: hidden widths 1, 7, 31, 32, 33, 64, 256 in turn,
 * classes 2 to 256, inputs 1 to 784 (mostly not multiples of 32), batches
 * not multiples of 32, row ranges [r0, r1) of 1 to 64 rows anywhere in the
 * batch (shared memory sized for exactly r1 - r0 rows: the tightest the
 * contract allows), fan-in and fan-out 1 to 8, update slices [k0, k1)
 * cutting through edge blocks (and running past the end). The update's
 * reference is gn_op_grad then gn_op_update with only the slice's entries
 * kept (the bias when k0 == 0); everything else must stay as it was. It
 * runs sgd, adam and adamw under every schedule at steps in and past the
 * warmup and the run, each side computing the step's rate and bias
 * corrections itself (gn_optim_at of optim.h), so the device's schedule
 * is checked against the host's too.
 *
 * Biases are never -0.0f: the host's forward skips zero activations
 * (adding nothing) where the device adds a * w (+0), which differ only for
 * a -0.0f bias, a value training cannot produce. The seed is fresh every
 * run and printed; GN_TEST_SEED=<n> replays a run.
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
#include "grow.h"
#include "model.h"
#include "opcheck.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "stat.h"
#include "testutil.h"

#define MAX_FAN 8
#define MAX_ROWS 161       /* rows of a batch at most */
#define MAX_PARAMS 1500000 /* parameters of a case at most: keeps a run short */
#define SHOW_CASES 8       /* bad cases printed in detail per test */
#define SHOW_VALUES 4      /* mismatches printed per bad case */

static const uint32_t SENTINEL = 0x7fc0beefu; /* a quiet NaN no op computes */

/* 16, 32, 64 and 128: every layout of the update's register tiles */
static const int32_t WIDTHS[] = {1, 7, 16, 31, 32, 33, 64, 128, 256};
#define N_WIDTHS 9
static const int32_t CLASSES[] = {2, 10, 33, 3, 100, 256, 31};
static const int32_t INPUTS[] = {1, 5, 100, 784, 33, 250, 47, 17};
static const int32_t ROWS[] = {1, 2, 31, 33, 63, 65, 97, 100, 127, 129, 150, 160};
static const int32_t SPANS[] = {1, 2, 31, 32, 33, 63, 64};

/* ---- random numbers: a splitmix64 sequence per case ---- */

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int32_t below(struct rng *r, int32_t n)
{
    return (int32_t)(rnd(r) % (uint64_t)n);
}

/* Uniform in (-1, 1), never 0. */
static float unit(struct rng *r)
{
    float u = (float)((int32_t)(rnd(r) >> 40) - (1 << 23)) * (1.0f / 8388608.0f);
    return u == 0.0f ? 0.5f : u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

enum profile {
    P_PLAIN,  /* (-1, 1) */
    P_SPARSE, /* half exact zeros, some of them -0.0f */
    P_SCALES, /* magnitudes 2^-60 .. 2^20 */
    P_MIXED,  /* zeros, denormals, large values among plain ones */
    P_INTS,   /* -2 .. 2: ties, exact cancellations */
    P_COUNT,
};

/* One value of the profile; relu: a hidden activation (negatives become
 * +0, -0.0f stays). Magnitudes stay far from overflow. */
static float draw(struct rng *r, int profile, int relu)
{
    float v = unit(r);
    switch (profile) {
    case P_PLAIN: break;
    case P_SPARSE:
        if (below(r, 2)) v = below(r, 4) == 0 ? -0.0f : 0.0f;
        break;
    case P_SCALES: v = ldexpf(v, below(r, 81) - 60); break;
    case P_MIXED: {
        int32_t c = below(r, 20);
        if (c < 5) v = c == 0 ? -0.0f : 0.0f;
        else if (c < 7) v = ldexpf(v, -126 - below(r, 20)); /* denormal */
        else if (c < 9) v = ldexpf(v, 10 + below(r, 11));
        break;
    }
    case P_INTS: v = (float)(below(r, 5) - 2); break;
    }
    if (relu && v < 0.0f) v = 0.0f;
    return v;
}

/* ---- the network of a case ---- */

struct state {
    struct gn_model m;
    struct gn_buffers b;
};

struct net {
    int32_t S, C, I, batch, rows;
    int32_t p, from_input, q, to_output, extra;
    int32_t t_output; /* T is the output group */
    int32_t T;
    int32_t src[MAX_FAN], dst[MAX_FAN];
    int profile, signed_hidden;
    float *x;
    uint8_t *y;
    struct state s;
};

static int32_t t_width(const struct net *n)
{
    return n->t_output ? n->C : n->S;
}

/* Parameters, groups and edges the network needs, with room for one
 * duplication of T (either kind) when grow is set. */
static int64_t net_params(const struct net *n, int grow, int32_t *groups, int32_t *edges)
{
    const int64_t S = n->S, C = n->C, I = n->I, W = t_width(n);
    const int32_t hidden = n->p + !n->t_output + n->q + n->extra;
    /* each block at its span, as the model allocates it (model.h) */
    int64_t p = gn_param_span(C) + hidden * gn_param_span(S);
    p += n->p * (gn_param_span(I * S) + gn_param_span(S * W)) + n->from_input * gn_param_span(I * W);
    p += n->q * (gn_param_span(S * S) + gn_param_span(S * C)) + n->to_output * gn_param_span(S * C);
    p += n->extra * (gn_param_span(I * S) + gn_param_span(S * C));
    *groups = 2 + hidden;
    *edges = 2 * n->p + n->from_input + 2 * n->q + n->to_output + 2 * n->extra;
    if (grow) {
        const int64_t in = n->p * S + n->from_input * I, out = n->q * S + n->to_output * C;
        /* the duplication's blocks, each at most 3 floats of padding */
        const int64_t width = (in + out) * S + 3 * (n->p + n->from_input + n->q + n->to_output),
                      depth = gn_param_span(S * S);
        p += gn_param_span(S) + (width > depth ? width : depth);
        *groups += 1;
        *edges += n->p + n->from_input + n->q + n->to_output;
    }
    return p;
}

/* Draw a shape: case i takes hidden width WIDTHS[i % 7]; fan-in up to
 * fan_in, fan-out up to fan_out (0: T feeds only the output). */
static void net_shape(struct net *n, struct rng *r, int32_t i, int t_output, int32_t fan_in,
                      int32_t fan_out, int grow)
{
    memset(n, 0, sizeof *n);
    n->S = WIDTHS[i % N_WIDTHS];
    n->C = CLASSES[(i / N_WIDTHS + below(r, 2)) % 7];
    /* width 1 beside 256 classes: the update's staging and the widest
     * accumulators together do not fit one block's shared memory */
    if (n->S == 1 && n->C > 200) n->C = 200;
    n->I = INPUTS[below(r, 8)];
    n->rows = below(r, 2) ? ROWS[below(r, 12)] : 1 + below(r, MAX_ROWS);
    n->batch = n->rows + below(r, 4);
    n->t_output = t_output;
    const int32_t f = 1 + below(r, fan_in);
    n->from_input = below(r, 2);
    n->p = f - n->from_input;
    if (!t_output) {
        if (fan_out > 0) {
            const int32_t fo = 1 + below(r, fan_out);
            n->to_output = below(r, 2);
            n->q = fo - n->to_output;
        } else {
            n->to_output = 1;
        }
    }
    n->extra = below(r, 3);
    n->profile = below(r, P_COUNT);
    n->signed_hidden = below(r, 4) == 0;
    int32_t g, e;
    while (net_params(n, grow, &g, &e) > MAX_PARAMS) {
        if (n->I > 100) n->I = 100;
        else if (n->p > 1) n->p--;
        else if (n->q > 1) n->q--;
        else if (n->extra > 0) n->extra--;
        else break;
    }
}

static void shuffle(struct rng *r, int32_t *a, int32_t n)
{
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = below(r, i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void fill_f32(struct rng *r, float *v, int64_t n, int profile, int relu)
{
    for (int64_t i = 0; i < n; i++) v[i] = draw(r, profile, relu);
}

static void fill_sentinel(float *v, int64_t n)
{
    const float s = from_bits(SENTINEL);
    for (int64_t i = 0; i < n; i++) v[i] = s;
}

/* Build the network, rebuilt, and fill every array. */
static void net_build(struct net *n, struct rng *r, int grow)
{
    int32_t ng, ne;
    const int64_t np = net_params(n, grow, &ng, &ne);
    struct gn_model *m = &n->s.m;
    assert_int_equal(gn_model_init(m, n->I, n->C, n->S, ng, ne, np), GN_OK);
    const int32_t hidden = ng - 2 - (grow ? 1 : 0);
    int32_t slots[3 * MAX_FAN + 3];
    for (int32_t i = 0; i < hidden; i++)
        assert_int_equal(gn_model_add_group(m, &slots[i]), GN_OK);
    shuffle(r, slots, hidden);
    int32_t h = 0;
    for (int32_t i = 0; i < n->p; i++) n->src[i] = slots[h++];
    n->T = n->t_output ? GN_SLOT_OUTPUT : slots[h++];
    for (int32_t j = 0; j < n->q; j++) n->dst[j] = slots[h++];

    int32_t es[6 * MAX_FAN + 8][2], k = 0;
    for (int32_t i = 0; i < n->p; i++) {
        es[k][0] = GN_SLOT_INPUT, es[k++][1] = n->src[i];
        es[k][0] = n->src[i], es[k++][1] = n->T;
    }
    if (n->from_input) es[k][0] = GN_SLOT_INPUT, es[k++][1] = n->T;
    for (int32_t j = 0; j < n->q; j++) {
        es[k][0] = n->T, es[k++][1] = n->dst[j];
        es[k][0] = n->dst[j], es[k++][1] = GN_SLOT_OUTPUT;
    }
    if (n->to_output) es[k][0] = n->T, es[k++][1] = GN_SLOT_OUTPUT;
    for (int32_t i = 0; i < n->extra; i++) {
        es[k][0] = GN_SLOT_INPUT, es[k++][1] = slots[h];
        es[k][0] = slots[h++], es[k++][1] = GN_SLOT_OUTPUT;
    }
    int32_t perm[6 * MAX_FAN + 8];
    for (int32_t i = 0; i < k; i++) perm[i] = i;
    shuffle(r, perm, k);
    for (int32_t i = 0; i < k; i++)
        assert_int_equal(gn_model_add_edge(m, es[perm[i]][0], es[perm[i]][1], NULL), GN_OK);
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);

    /* parameters, gradients, both moments (the second, an average of
     * squares, never negative); biases never -0.0f (see the top) */
    fill_f32(r, m->params, m->n_params, n->profile, 0);
    fill_f32(r, m->grads, m->n_params, n->profile, 0);
    fill_f32(r, m->moment, m->n_params, n->profile, 0);
    fill_f32(r, m->moment2, m->n_params, n->profile, 0);
    for (int64_t q = 0; q < m->n_params; q++) m->moment2[q] = fabsf(m->moment2[q]);
    for (int32_t g = 1; g < m->n_groups; g++) {
        float *bias = m->params + m->groups[g].bias;
        for (int32_t j = 0; j < m->groups[g].width; j++)
            if (bias[j] == 0.0f) bias[j] = 0.0f;
        m->groups[g].grad_std = unit(r);
    }
    fill_sentinel(m->params + m->n_params, m->max_params - m->n_params);
    fill_sentinel(m->grads + m->n_params, m->max_params - m->n_params);
    fill_sentinel(m->moment + m->n_params, m->max_params - m->n_params);
    fill_sentinel(m->moment2 + m->n_params, m->max_params - m->n_params);

    /* the batch, activations and errors of every group, loss rows */
    struct gn_buffers *b = &n->s.b;
    assert_int_equal(gn_buffers_init(b, m, n->batch), GN_OK);
    b->rows = n->rows;
    n->x = malloc((size_t)n->batch * (size_t)n->I * sizeof(float));
    n->y = malloc((size_t)n->batch);
    assert_non_null(n->x);
    assert_non_null(n->y);
    fill_f32(r, n->x, (int64_t)n->batch * n->I, n->profile, 0);
    for (int32_t i = 0; i < n->batch; i++) n->y[i] = (uint8_t)below(r, n->C);
    b->x = n->x;
    b->y = n->y;
    const int64_t block = (int64_t)b->batch * b->stride;
    for (int32_t g = 0; g < m->max_groups; g++) {
        float *a = gn_act(b, g), *d = gn_dz(b, g);
        int64_t used = 0;
        if (g != GN_SLOT_INPUT && g < m->n_groups) {
            used = (int64_t)b->batch * m->groups[g].width;
            const int relu = m->groups[g].kind == GN_GROUP_HIDDEN && !n->signed_hidden;
            fill_f32(r, a, used, n->profile, relu);
            fill_f32(r, d, used, n->profile, 0);
        }
        fill_sentinel(a + used, block - used);
        fill_sentinel(d + used, block - used);
    }
    fill_sentinel(b->row_loss, b->batch);
    memset(b->row_hit, 0xa5, (size_t)b->batch);
}

static void state_clone(struct state *dst, const struct state *src)
{
    assert_int_equal(gn_model_clone(&dst->m, &src->m), GN_OK);
    assert_int_equal(gn_buffers_init(&dst->b, &src->m, src->b.batch), GN_OK);
    dst->b.rows = src->b.rows;
    dst->b.x = src->b.x;
    dst->b.y = src->b.y;
    const size_t nact = (size_t)src->m.max_groups * src->b.batch * src->b.stride;
    memcpy(dst->b.act, src->b.act, nact * sizeof(float));
    memcpy(dst->b.dz, src->b.dz, nact * sizeof(float));
    memcpy(dst->b.row_loss, src->b.row_loss, (size_t)src->b.batch * sizeof(float));
    memcpy(dst->b.row_hit, src->b.row_hit, (size_t)src->b.batch);
}

static void state_free(struct state *s)
{
    gn_model_free(&s->m);
    gn_buffers_free(&s->b);
}

static void net_free(struct net *n)
{
    state_free(&n->s);
    free(n->x);
    free(n->y);
}

/* ---- comparison ---- */

struct tally {
    const char *op;
    int32_t cases, bad_cases;
    int64_t compared, mismatches;
    int shown; /* mismatches printed for the current case */
    int32_t vec; /* cases whose edges all allowed 16-byte staging (check) */
    int32_t need_vec; /* the flags (opcheck.h) that count a case in vec; 0: none */
};

enum where_kind { W_PARAM, W_BUF, W_GROUP, W_EDGE, W_PLAIN };

/* The 32-bit words of struct gn_group and struct gn_edge (model.h). */
static const char *const GROUP_WORDS[14] = {
    "kind",  "width", "bias (low)", "bias (high)", "in_begin", "in_count", "out_begin",
    "out_count", "pos", "flags", "parent", "born", "grad_std", "below"};
#define GROUP_WORD_GRAD_STD 12
static const char *const EDGE_WORDS[4] = {"src", "dst", "w (low)", "w (high)"};

/* Where index i of an array lies, in words. */
static void where(char *out, size_t len, enum where_kind k, const struct state *s, int64_t i)
{
    const struct gn_model *m = &s->m;
    switch (k) {
    case W_PARAM:
        for (int32_t g = 1; g < m->n_groups; g++) {
            const struct gn_group *gr = &m->groups[g];
            if (gr->bias >= 0 && i >= gr->bias && i < gr->bias + gr->width) {
                snprintf(out, len, "bias of group %d [%lld]", g, (long long)(i - gr->bias));
                return;
            }
        }
        for (int32_t e = 0; e < m->n_edges; e++) {
            const struct gn_edge *ed = &m->edges[e];
            if (ed->src < 0) continue;
            const int64_t K = m->groups[ed->src].width, n = m->groups[ed->dst].width;
            if (i >= ed->w && i < ed->w + K * n) {
                snprintf(out, len, "edge %d (%d->%d) [k %lld, j %lld]", e, ed->src, ed->dst,
                         (long long)((i - ed->w) / n), (long long)((i - ed->w) % n));
                return;
            }
        }
        snprintf(out, len, "unused [%lld]", (long long)i);
        return;
    case W_BUF: {
        const int64_t blk = (int64_t)s->b.batch * s->b.stride;
        const int32_t g = (int32_t)(i / blk);
        const int64_t rem = i % blk;
        const int32_t w = g < m->n_groups ? m->groups[g].width : 0;
        if (g != GN_SLOT_INPUT && rem < (int64_t)s->b.batch * w)
            snprintf(out, len, "group %d row %lld col %lld", g, (long long)(rem / w),
                     (long long)(rem % w));
        else
            snprintf(out, len, "group %d unused [%lld]", g, (long long)rem);
        return;
    }
    case W_GROUP:
        snprintf(out, len, "slot %lld %s", (long long)(i / 14), GROUP_WORDS[i % 14]);
        return;
    case W_EDGE:
        snprintf(out, len, "%lld %s", (long long)(i / 4), EDGE_WORDS[i % 4]);
        return;
    case W_PLAIN: snprintf(out, len, "[%lld]", (long long)i); return;
    }
}

/* Compare n 32-bit words of host (ref) and device results. */
static void cmp_words(struct tally *t, const char *shape, const char *name, enum where_kind k,
                      int is_float, const struct state *ref, const void *a, const void *b,
                      int64_t n)
{
    const uint32_t *h = a, *d = b;
    t->compared += n;
    for (int64_t i = 0; i < n; i++) {
        if (h[i] == d[i]) continue;
        t->mismatches++;
        if (t->bad_cases >= SHOW_CASES || t->shown++ >= SHOW_VALUES) continue;
        char at[128];
        where(at, sizeof at, k, ref, i);
        if (is_float || (k == W_GROUP && i % 14 == GROUP_WORD_GRAD_STD))
            print_error("%s [%s]: %s %s: host %a (0x%08x) device %a (0x%08x)\n", t->op, shape,
                        name, at, (double)from_bits(h[i]), h[i], (double)from_bits(d[i]), d[i]);
        else
            print_error("%s [%s]: %s %s: host %d (0x%08x) device %d (0x%08x)\n", t->op, shape,
                        name, at, (int32_t)h[i], h[i], (int32_t)d[i], d[i]);
    }
}

/* The end of a case begun with `before` mismatches: its count printed
 * (`what`: how its values failed), the case tallied; 1 when it passed. */
static int case_end(struct tally *t, const char *shape, int64_t before, const char *what)
{
    const int64_t bad = t->mismatches - before;
    if (bad > 0 && t->bad_cases < SHOW_CASES)
        print_error("%s [%s]: %lld values %s\n", t->op, shape, (long long)bad, what);
    t->cases++;
    t->bad_cases += bad > 0;
    return bad == 0;
}

/* A case's shape, for its messages: the network around T and extra. */
static void case_shape(char *out, size_t len, const struct net *n, const char *extra)
{
    snprintf(out, len,
             "S=%d C=%d I=%d batch=%d rows=%d T=%d fan-in %d%s fan-out %d%s profile %d%s%s",
             n->S, n->C, n->I, n->batch, n->rows, n->T, n->p, n->from_input ? "+input" : "",
             n->q, n->to_output ? "+output" : "", n->profile,
             n->signed_hidden ? " signed-hidden" : "", extra);
}

/* Every array of the two states; returns 1 when all are equal. */
static int compare(struct tally *t, const char *shape, const struct state *ref,
                   const struct state *dev)
{
    const int64_t before = t->mismatches;
    const struct gn_model *a = &ref->m, *b = &dev->m;
    const int64_t MP = a->max_params, MG = a->max_groups, ME = a->max_edges;
    const int64_t nact = MG * ref->b.batch * ref->b.stride;
    t->shown = 0;
    GN_STATIC_ASSERT(sizeof(struct gn_group) == 14 * 4, "gn_group in words");
    GN_STATIC_ASSERT(offsetof(struct gn_group, grad_std) == GROUP_WORD_GRAD_STD * 4,
                     "gn_group's grad_std word");
    GN_STATIC_ASSERT(sizeof(struct gn_edge) == 4 * 4, "gn_edge in words");
    cmp_words(t, shape, "params", W_PARAM, 1, ref, a->params, b->params, MP);
    cmp_words(t, shape, "grads", W_PARAM, 1, ref, a->grads, b->grads, MP);
    cmp_words(t, shape, "moment", W_PARAM, 1, ref, a->moment, b->moment, MP);
    cmp_words(t, shape, "moment2", W_PARAM, 1, ref, a->moment2, b->moment2, MP);
    cmp_words(t, shape, "groups", W_GROUP, 0, ref, a->groups, b->groups, MG * 14);
    cmp_words(t, shape, "edges", W_EDGE, 0, ref, a->edges, b->edges, ME * 4);
    cmp_words(t, shape, "order", W_PLAIN, 0, ref, a->order, b->order, MG);
    cmp_words(t, shape, "in_list", W_PLAIN, 0, ref, a->in_list, b->in_list, ME);
    cmp_words(t, shape, "out_list", W_PLAIN, 0, ref, a->out_list, b->out_list, ME);
    cmp_words(t, shape, "act", W_BUF, 1, ref, ref->b.act, dev->b.act, nact);
    cmp_words(t, shape, "dz", W_BUF, 1, ref, ref->b.dz, dev->b.dz, nact);
    cmp_words(t, shape, "row_loss", W_PLAIN, 1, ref, ref->b.row_loss, dev->b.row_loss,
              ref->b.batch);
    t->compared += ref->b.batch;
    for (int32_t r = 0; r < ref->b.batch; r++) {
        if (ref->b.row_hit[r] == dev->b.row_hit[r]) continue;
        t->mismatches++;
        if (t->bad_cases < SHOW_CASES && t->shown++ < SHOW_VALUES)
            print_error("%s [%s]: row_hit [%d]: host %d device %d\n", t->op, shape, r,
                        ref->b.row_hit[r], dev->b.row_hit[r]);
    }
    return case_end(t, shape, before, "differ");
}

/* ---- the host references ---- */

/* Keep the update's slice of g (rows [k0, k1) of its stacked in-edge
 * blocks, the bias when k0 == 0) from done, the rest from before. */
static void keep_slice(struct state *out, const struct state *done, int32_t g, int32_t k0,
                       int32_t k1)
{
    struct gn_model *m = &out->m;
    const struct gn_group *gr = &m->groups[g];
    const int64_t n = gr->width;
    int64_t lo[MAX_FAN * 2 + 1], hi[MAX_FAN * 2 + 1];
    int32_t c = 0;
    if (k0 == 0) lo[c] = gr->bias, hi[c++] = gr->bias + n;
    int32_t off = 0;
    for (int32_t e = 0; e < gr->in_count; e++) {
        const struct gn_edge *ed = &m->edges[m->in_list[gr->in_begin + e]];
        const int32_t K = m->groups[ed->src].width;
        const int32_t a0 = (k0 > off ? k0 : off) - off, a1 = (k1 < off + K ? k1 : off + K) - off;
        off += K;
        if (a0 < a1) lo[c] = ed->w + a0 * n, hi[c++] = ed->w + a1 * n;
    }
    for (int32_t i = 0; i < c; i++) {
        const size_t len = (size_t)(hi[i] - lo[i]) * sizeof(float);
        memcpy(m->params + lo[i], done->m.params + lo[i], len);
        memcpy(m->grads + lo[i], done->m.grads + lo[i], len);
        memcpy(m->moment + lo[i], done->m.moment + lo[i], len);
        memcpy(m->moment2 + lo[i], done->m.moment2 + lo[i], len);
    }
}

static void reference(struct state *ref, const struct state *orig,
                      const struct gn_opcheck_args *a)
{
    struct gn_model *m = &ref->m;
    struct gn_buffers *b = &ref->b;
    switch (a->op) {
    case GN_OPCHECK_FORWARD: gn_op_forward(m, b, a->g, a->r0, a->r1); break;
    case GN_OPCHECK_LOSS: gn_op_loss(m, b, a->r0, a->r1); break;
    case GN_OPCHECK_FORWARD_LOSS:
        gn_op_forward(m, b, GN_SLOT_OUTPUT, a->r0, a->r1);
        gn_op_loss(m, b, a->r0, a->r1);
        break;
    case GN_OPCHECK_BACKWARD: gn_op_backward(m, b, a->g, a->r0, a->r1); break;
    case GN_OPCHECK_UPDATE: {
        struct state done;
        state_clone(&done, orig);
        gn_op_grad(&done.m, &done.b, a->g);
        const struct gn_optim_step k = gn_optim_at(&a->optim, a->step);
        gn_op_update(&done.m, a->g, &k);
        keep_slice(ref, &done, a->g, a->k0, a->k1);
        state_free(&done);
        break;
    }
    case GN_OPCHECK_STAT: m->groups[a->g].grad_std = gn_stat_grad_std(m, a->g); break;
    case GN_OPCHECK_GROW:
        gn_grow_apply(m, a->g, (enum gn_dup_kind)a->kind, a->child, a->e0, a->p0, a->step,
                      a->seed, a->noise, 0, 1);
        break;
    case GN_OPCHECK_MARK: {
        const struct gn_grow_rule rule =
            gn_grow_rule_make(m, a->criterion, a->threshold, a->ratio);
        for (int32_t g = 0; g < m->n_groups; g++) gn_grow_mark_one(m, g, &rule);
        break;
    }
    }
}

/* One case: reference and device on clones of n's state, compared. */
static void check(struct tally *t, const struct net *n, const struct gn_opcheck_args *a,
                  const char *extra)
{
    char shape[320];
    case_shape(shape, sizeof shape, n, extra);
    struct state ref, dev;
    state_clone(&ref, &n->s);
    state_clone(&dev, &n->s);
    reference(&ref, &n->s, a);
    if (gn_opcheck_run(&dev.m, &dev.b, a) != GN_OK)
        fail_msg("%s [%s]: device run failed: %s", t->op, shape, gn_error_message());
    if (t->need_vec && (gn_opcheck_vec_flags() & t->need_vec) == t->need_vec) t->vec++;
    compare(t, shape, &ref, &dev);
    state_free(&ref);
    state_free(&dev);
}

static void report(const struct tally *t)
{
    print_message("%-14s %4d cases, %11lld values compared, %d cases differ\n", t->op, t->cases,
                  (long long)t->compared, t->bad_cases);
    /* both staging paths ran: 16-byte loads where every edge allows them,
     * one float at a time elsewhere (block_ops.cuh, gn_block_vec_sm) */
    if (t->need_vec) {
        print_message("%-14s %4d cases staged 16 bytes a load, %d a float at a time\n", t->op,
                      t->vec, t->cases - t->vec);
        if (t->vec == 0 || t->vec == t->cases)
            fail_msg("%s: the cases ran only one of the two staging paths (%d of %d 16-byte)",
                     t->op, t->vec, t->cases);
    }
    if (t->bad_cases)
        fail_msg("%s: %d of %d cases differ (%lld values); replay with GN_TEST_SEED=%llu", t->op,
                 t->bad_cases, t->cases, (long long)t->mismatches,
                 (unsigned long long)gn_test_seed());
}

static struct rng case_rng(int stream, int32_t i)
{
    struct rng r = {gn_rng_u64(gn_test_seed(), GN_RNG_TEST, (uint64_t)stream, (uint64_t)i)};
    return r;
}

static struct gn_opcheck_args args_of(int op, const struct net *n)
{
    struct gn_opcheck_args a;
    memset(&a, 0, sizeof a);
    a.op = op;
    a.g = n->T;
    a.tile = 1;
    a.min_width = n->S < n->C ? n->S : n->C;
    return a;
}

/* A row range of 1 to 64 rows (often 1, 31, 32, 33, 63, 64) anywhere in
 * the batch's rows; the shared memory sized for exactly that many. */
static void pick_rows(struct rng *r, const struct net *n, struct gn_opcheck_args *a)
{
    int32_t R = below(r, 2) ? SPANS[below(r, 7)] : 1 + below(r, 64);
    if (R > n->rows) R = n->rows;
    a->r0 = below(r, n->rows - R + 1);
    a->r1 = a->r0 + R;
    a->tile = R;
}

/* ---- the tests ---- */

static void rows_test(const char *op_name, int op, int stream, int32_t cases, int t_output,
                      int32_t fan_in, int32_t fan_out)
{
    struct tally t = {op_name, 0, 0, 0, 0, 0, 0, 0};
    /* the forward stages its inputs and weight rows, the backward the
     * targets' errors and weight columns (the loss stages nothing; the
     * output's forward with it has too few cases to need both paths) */
    if (op == GN_OPCHECK_FORWARD)
        t.need_vec = GN_OPCHECK_VEC_A | GN_OPCHECK_VEC_N;
    else if (op == GN_OPCHECK_BACKWARD)
        t.need_vec = GN_OPCHECK_VEC_A | GN_OPCHECK_VEC_W;
    for (int32_t i = 0; i < cases; i++) {
        struct rng r = case_rng(stream, i);
        struct net n;
        net_shape(&n, &r, i, t_output, fan_in, fan_out, 0);
        net_build(&n, &r, 0);
        struct gn_opcheck_args a = args_of(op, &n);
        pick_rows(&r, &n, &a);
        char extra[64];
        snprintf(extra, sizeof extra, " rows [%d, %d) case %d", a.r0, a.r1, i);
        check(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

static void test_forward_hidden(void **state)
{
    (void)state;
    rows_test("forward", GN_OPCHECK_FORWARD, 1, 12 * N_WIDTHS, 0, MAX_FAN, 3);
}

static void test_forward_output(void **state)
{
    (void)state;
    rows_test("forward(out)", GN_OPCHECK_FORWARD, 2, 6 * N_WIDTHS, 1, MAX_FAN, 0);
}

static void test_loss(void **state)
{
    (void)state;
    rows_test("loss", GN_OPCHECK_LOSS, 3, 6 * N_WIDTHS, 1, 2, 0);
}

static void test_forward_loss(void **state)
{
    (void)state;
    rows_test("forward+loss", GN_OPCHECK_FORWARD_LOSS, 4, 3 * N_WIDTHS, 1, MAX_FAN, 0);
}

static void test_backward(void **state)
{
    (void)state;
    rows_test("backward", GN_OPCHECK_BACKWARD, 5, 12 * N_WIDTHS, 0, 2, MAX_FAN);
}

/* Update slices [k0, k1) of the stacked in-edge rows (ktot of them): the
 * whole group; from 0 (with the bias); from inside; around an edge's first
 * row; or the persistent kernel's own parts (at least 64 rows, at most 16
 * parts), the last running past ktot. */
static void pick_slice(struct rng *r, const struct state *s, int32_t g,
                       struct gn_opcheck_args *a)
{
    const struct gn_model *m = &s->m;
    const struct gn_group *gr = &m->groups[g];
    int32_t ktot = 0, bounds[MAX_FAN * 2 + 1], nb = 0;
    for (int32_t e = 0; e < gr->in_count; e++) {
        bounds[nb++] = ktot;
        ktot += m->groups[m->edges[m->in_list[gr->in_begin + e]].src].width;
    }
    switch (below(r, 5)) {
    case 0: a->k0 = 0, a->k1 = ktot; break;
    case 1: a->k0 = 0, a->k1 = 1 + below(r, ktot); break;
    case 2:
        a->k0 = below(r, ktot);
        a->k1 = a->k0 + 1 + below(r, ktot - a->k0 + 40);
        break;
    case 3: {
        const int32_t at = bounds[below(r, nb)];
        a->k0 = at > 0 ? at - below(r, 2) : 0;
        a->k1 = at + 1 + below(r, 3);
        break;
    }
    default: {
        int32_t kp = (ktot + 15) / 16;
        if (kp < 64) kp = 64;
        const int32_t parts = (ktot + kp - 1) / kp;
        a->k0 = below(r, parts) * kp;
        a->k1 = a->k0 + kp;
        break;
    }
    }
}

/* An optimizer and schedule for an update case, and the step it runs:
 * rates, momenta, betas, epsilons and decays from small tables, a
 * schedule of each kind with or without warmup, and a step inside the
 * warmup, at its end, on the schedule, at the run's end, or far past it
 * (bias corrections near 1, beta2^t underflowing). */
static void pick_optim(struct rng *r, enum gn_optimizer kind, struct gn_opcheck_args *a)
{
    static const float LR[] = {0.05f, 0.1f, 1e-3f, 0.7f}, MU[] = {0.9f, 0.0f, 0.99f, 0.5f},
                       WD[] = {5e-4f, 0.0f, 1e-2f, 3e-5f}, B1[] = {0.9f, 0.0f, 0.5f, 0.99f},
                       B2[] = {0.999f, 0.9f, 0.0f, 0.9999f}, EPS[] = {1e-8f, 1e-3f, 1e-20f, 0.1f},
                       GAMMA[] = {0.1f, 0.5f, 1.0f, 0.97f};
    struct gn_optim *o = &a->optim;
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->schedule = below(r, 3);
    o->warmup = below(r, 2) ? 0 : 1 + below(r, 500);
    o->steps_total = o->warmup + 1 + below(r, 5000);
    o->step_every = 1 + below(r, 700);
    o->lr = LR[below(r, 4)];
    o->lr_min = below(r, 2) ? 0.0f : o->lr * 0.01f;
    o->gamma = GAMMA[below(r, 4)];
    o->momentum = MU[below(r, 4)];
    o->beta1 = B1[below(r, 4)];
    o->beta2 = B2[below(r, 4)];
    o->eps = EPS[below(r, 4)];
    o->weight_decay = WD[below(r, 4)];
    const int64_t steps[] = {0,
                             1,
                             o->warmup > 0 ? o->warmup - 1 : 2,
                             o->warmup,
                             o->warmup + below(r, (int32_t)(o->steps_total - o->warmup)),
                             o->steps_total - 1,
                             o->steps_total + 1000000};
    a->step = steps[below(r, 7)];
}

static void update_test(const char *op_name, enum gn_optimizer kind, int stream)
{
    /* (the update's transposed staging is by 4-byte loads only) */
    struct tally t = {op_name, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < 12 * N_WIDTHS; i++) {
        struct rng r = case_rng(stream, i);
        struct net n;
        net_shape(&n, &r, i, i % 3 == 2, MAX_FAN, 2, 0);
        net_build(&n, &r, 0);
        struct gn_opcheck_args a = args_of(GN_OPCHECK_UPDATE, &n);
        pick_slice(&r, &n.s, n.T, &a);
        pick_optim(&r, kind, &a);
        a.tile = 1 + below(&r, 64);
        const struct gn_optim *o = &a.optim;
        const struct gn_optim_step k = gn_optim_at(o, a.step);
        char extra[256];
        snprintf(extra, sizeof extra,
                 " k [%d, %d) %s %s warmup %lld of %lld step %lld (lr %g) lr %g mu %g b1 %g "
                 "b2 %g eps %g wd %g case %d",
                 a.k0, a.k1, gn_optimizer_name(kind),
                 gn_lr_schedule_name((enum gn_lr_schedule)o->schedule), (long long)o->warmup,
                 (long long)o->steps_total, (long long)a.step, (double)k.lr, (double)o->lr,
                 (double)o->momentum, (double)o->beta1, (double)o->beta2, (double)o->eps,
                 (double)o->weight_decay, i);
        check(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

static void test_update(void **state)
{
    (void)state;
    update_test("update(sgd)", GN_OPTIM_SGD, 6);
}

static void test_update_adam(void **state)
{
    (void)state;
    update_test("update(adam)", GN_OPTIM_ADAM, 10);
}

static void test_update_adamw(void **state)
{
    (void)state;
    update_test("update(adamw)", GN_OPTIM_ADAMW, 11);
}

static void test_stat(void **state)
{
    (void)state;
    static const float MEAN[] = {0.0f, 1e3f, -1e-3f, 1.0f};
    struct tally t = {"stat", 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < 6 * N_WIDTHS; i++) {
        struct rng r = case_rng(7, i);
        struct net n;
        net_shape(&n, &r, i, i % 3 == 2, MAX_FAN, 2, 0);
        net_build(&n, &r, 0);
        /* gradients far from zero on average: the centred pass matters */
        const float mean = MEAN[below(&r, 4)];
        float *gd = n.s.m.grads;
        for (int64_t q = 0; q < n.s.m.n_params; q++) gd[q] += mean;
        struct gn_opcheck_args a = args_of(GN_OPCHECK_STAT, &n);
        char extra[64];
        snprintf(extra, sizeof extra, " mean %g case %d", (double)mean, i);
        check(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

/* Duplications of T: space reserved as the serial round reserves it
 * (bumping the model's counters), its contents the sentinel until applied. */
static void grow_test(const char *op_name, enum gn_dup_kind kind, int stream, int32_t cases)
{
    static const float NOISE[] = {0.0f, 0.1f, 0.5f, 0.999f};
    struct tally t = {op_name, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < cases; i++) {
        struct rng r = case_rng(stream, i);
        struct net n;
        net_shape(&n, &r, i, 0, MAX_FAN, MAX_FAN, 1);
        net_build(&n, &r, 1);
        struct gn_model *m = &n.s.m;
        struct gn_opcheck_args a = args_of(GN_OPCHECK_GROW, &n);
        int32_t ng, ne;
        int64_t np;
        gn_grow_need(m, n.T, kind, &ng, &ne, &np);
        assert_true(m->n_groups + ng <= m->max_groups);
        assert_true(m->n_edges + ne <= m->max_edges);
        assert_true(m->n_params + np <= m->max_params);
        a.kind = kind;
        a.child = m->n_groups;
        a.e0 = m->n_edges;
        a.p0 = m->n_params;
        m->n_groups += ng;
        m->n_edges += ne;
        m->n_params += np;
        a.step = (int64_t)(rnd(&r) % 1000000);
        a.seed = rnd(&r);
        a.noise = kind == GN_DUP_WIDTH ? NOISE[below(&r, 4)] : 0.1f;
        char extra[96];
        snprintf(extra, sizeof extra, " child %d e0 %d p0 %lld noise %g case %d", a.child, a.e0,
                 (long long)a.p0, (double)a.noise, i);
        check(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

/* Marking: every group's statistic drawn from a few values (ties), the
 * case's profile, or a special (0, -0, a denormal, 1e30, inf, NaN); flags
 * random; the criterion, threshold and ratio varied. */
static void test_mark(void **state)
{
    (void)state;
    static const float RATIO[] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f};
    static const float THRESHOLD[] = {0.0f, 1e-3f, 0.5f, 1.0f};
    struct tally t = {"mark", 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < 12 * N_WIDTHS; i++) {
        struct rng r = case_rng(10, i);
        struct net n;
        net_shape(&n, &r, i, 0, MAX_FAN, MAX_FAN, 0);
        net_build(&n, &r, 0);
        struct gn_model *m = &n.s.m;
        for (int32_t g = 0; g < m->n_groups; g++) {
            float v;
            switch (below(&r, 4)) {
            case 0: v = (float)(1 + below(&r, 3)); break;
            case 1: {
                static const float SPECIAL[] = {0.0f, -0.0f, 1e-40f, 1e30f, INFINITY, NAN};
                v = SPECIAL[below(&r, 6)];
                break;
            }
            default: v = fabsf(draw(&r, n.profile, 0)); break;
            }
            m->groups[g].grad_std = v;
            m->groups[g].flags = (uint32_t)below(&r, 4);
        }
        struct gn_opcheck_args a = args_of(GN_OPCHECK_MARK, &n);
        a.criterion = below(&r, 2) ? GN_GROW_CRITERION_RELATIVE : GN_GROW_CRITERION_STD;
        a.threshold = THRESHOLD[below(&r, 4)];
        a.ratio = RATIO[below(&r, 6)];
        char extra[96];
        snprintf(extra, sizeof extra, " %s threshold %g ratio %g hidden %d case %d",
                 gn_grow_criterion_name((enum gn_grow_criterion)a.criterion),
                 (double)a.threshold, (double)a.ratio, m->n_groups - 2, i);
        check(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

static void test_grow_depth(void **state)
{
    (void)state;
    grow_test("grow(depth)", GN_DUP_DEPTH, 8, 4 * N_WIDTHS);
}

static void test_grow_width(void **state)
{
    (void)state;
    grow_test("grow(width)", GN_DUP_WIDTH, 9, 6 * N_WIDTHS);
}

/* ---- tf32 and bf16 (--precision): the tensor cores against fp32 ----
 *
 * The same cases as above, the device at a reduced precision against the
 * fp32 reference. Every array must keep the reference's bits except the
 * op's products: the forward's activations, the backward's errors, the
 * update's gradients, momenta and weights of its slice. Those must lie
 * within tol x B of the reference, B the same op run in fp32 on the
 * absolute values of every operand (|bias| + sum |a||w|: a bound on what
 * rounding the operands can change), tol per precision: an operand
 * rounded to nearest at 11 significant bits (tf32) errs by at most 2^-11
 * of itself, a product by 2^-10; at 8 bits (bf16) 2^-8; the fp32 sums add
 * about K 2^-24; tol is twice the product's, so a mis-placed fragment or a
 * lost k-step (errors of the order of B) cannot pass. The update runs sgd
 * without momentum or decay at lr 1/4: v = g, w' = w - v/4, so the
 * momenta's bound is the gradients' and the weights' a quarter of it
 * (plus their own rounding). */
static const float PRECISION_TOL[3] = {0.0f, 0x1p-9f, 0x1p-7f};

/* Every float of s (pools, activations, errors) and its batch as
 * |value|, for the bound's run; x: room for the batch. */
static void abs_state(struct state *s, float *x, const struct net *n)
{
    struct gn_model *m = &s->m;
    for (int64_t i = 0; i < m->n_params; i++) {
        m->params[i] = fabsf(m->params[i]);
        m->grads[i] = fabsf(m->grads[i]);
    }
    const int64_t nact = (int64_t)m->max_groups * s->b.batch * s->b.stride;
    for (int64_t i = 0; i < nact; i++) {
        s->b.act[i] = fabsf(s->b.act[i]);
        s->b.dz[i] = fabsf(s->b.dz[i]);
    }
    for (int64_t i = 0; i < (int64_t)n->batch * n->I; i++) x[i] = fabsf(n->x[i]);
    s->b.x = x;
}

/* Floats of the reference (h) and the device (d), n of them: equal bits,
 * or (bound given) within scale (tol bound + 2^-22 |h| + 2^-100). */
static void cmp_tol(struct tally *t, const char *shape, const char *name, enum where_kind k,
                    const struct state *ref, const float *h, const float *d, const float *bound,
                    float tol, float scale, int64_t n)
{
    t->compared += n;
    for (int64_t i = 0; i < n; i++) {
        uint32_t hb, db;
        memcpy(&hb, &h[i], 4);
        memcpy(&db, &d[i], 4);
        if (hb == db) continue;
        const double lim =
            bound ? scale * (tol * (double)bound[i]) + 0x1p-22 * fabs(h[i]) + 0x1p-100 : -1.0;
        if (fabs((double)h[i] - (double)d[i]) <= lim) continue;
        t->mismatches++;
        if (t->bad_cases >= SHOW_CASES || t->shown++ >= SHOW_VALUES) continue;
        char at[128];
        where(at, sizeof at, k, ref, i);
        print_error("%s [%s]: %s %s: fp32 %a, device %a, |difference| %.3g over the bound %.3g\n",
                    t->op, shape, name, at, (double)h[i], (double)d[i],
                    fabs((double)h[i] - (double)d[i]), lim);
    }
}

static void precision_case(struct tally *t, const struct net *n, const struct gn_opcheck_args *a,
                           const char *extra)
{
    char shape[320];
    case_shape(shape, sizeof shape, n, extra);
    struct state ref, dev, bnd;
    state_clone(&ref, &n->s);
    state_clone(&dev, &n->s);
    state_clone(&bnd, &n->s);
    float *xa = malloc((size_t)n->batch * (size_t)n->I * sizeof(float));
    assert_non_null(xa);
    abs_state(&bnd, xa, n);
    struct gn_opcheck_args fp32 = *a;
    fp32.precision = GN_PRECISION_FP32;
    reference(&ref, &n->s, &fp32);
    if (a->op == GN_OPCHECK_UPDATE) gn_op_grad(&bnd.m, &bnd.b, a->g); /* the gradients' bound */
    else reference(&bnd, &bnd, &fp32);
    if (gn_opcheck_run(&dev.m, &dev.b, a) != GN_OK)
        fail_msg("%s [%s]: device run failed: %s", t->op, shape, gn_error_message());

    const int64_t before = t->mismatches;
    const struct gn_model *rm = &ref.m, *dm = &dev.m;
    const int64_t MP = rm->max_params, MG = rm->max_groups, ME = rm->max_edges;
    const int64_t nact = MG * ref.b.batch * ref.b.stride;
    const float tol = PRECISION_TOL[a->precision];
    const int upd = a->op == GN_OPCHECK_UPDATE;
    const float *gb = upd ? bnd.m.grads : NULL;
    t->shown = 0;
    cmp_tol(t, shape, "params", W_PARAM, &ref, rm->params, dm->params, gb, tol, 0.25f, MP);
    cmp_tol(t, shape, "grads", W_PARAM, &ref, rm->grads, dm->grads, gb, tol, 1.0f, MP);
    cmp_tol(t, shape, "moment", W_PARAM, &ref, rm->moment, dm->moment, gb, tol, 1.0f, MP);
    cmp_tol(t, shape, "moment2", W_PARAM, &ref, rm->moment2, dm->moment2, NULL, 0, 0, MP);
    cmp_tol(t, shape, "act", W_BUF, &ref, ref.b.act, dev.b.act,
            a->op == GN_OPCHECK_FORWARD ? bnd.b.act : NULL, tol, 1.0f, nact);
    cmp_tol(t, shape, "dz", W_BUF, &ref, ref.b.dz, dev.b.dz,
            a->op == GN_OPCHECK_BACKWARD ? bnd.b.dz : NULL, tol, 1.0f, nact);
    cmp_words(t, shape, "groups", W_GROUP, 0, &ref, rm->groups, dm->groups, MG * 14);
    cmp_words(t, shape, "edges", W_EDGE, 0, &ref, rm->edges, dm->edges, ME * 4);
    cmp_words(t, shape, "in_list", W_PLAIN, 0, &ref, rm->in_list, dm->in_list, ME);
    cmp_words(t, shape, "out_list", W_PLAIN, 0, &ref, rm->out_list, dm->out_list, ME);
    cmp_words(t, shape, "row_loss", W_PLAIN, 1, &ref, ref.b.row_loss, dev.b.row_loss,
              ref.b.batch);
    case_end(t, shape, before, "out of bounds");
    state_free(&ref);
    state_free(&dev);
    state_free(&bnd);
    free(xa);
}

static void precision_test(const char *op_name, int op, int precision, int stream)
{
    struct tally t = {op_name, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < 6 * N_WIDTHS; i++) {
        struct rng r = case_rng(stream, i);
        struct net n;
        const int up = op == GN_OPCHECK_UPDATE;
        net_shape(&n, &r, i, op == GN_OPCHECK_FORWARD ? i % 3 == 2 : 0, up || op ==
                  GN_OPCHECK_FORWARD ? MAX_FAN : 2, op == GN_OPCHECK_BACKWARD ? MAX_FAN : 2, 0);
        net_build(&n, &r, 0);
        struct gn_opcheck_args a = args_of(op, &n);
        a.precision = precision;
        char extra[96];
        if (up) {
            pick_slice(&r, &n.s, n.T, &a);
            a.tile = 1 + below(&r, 64);
            a.optim.kind = GN_OPTIM_SGD;
            a.optim.lr = 0.25f;
            a.optim.steps_total = 1000;
            snprintf(extra, sizeof extra, " k [%d, %d) case %d", a.k0, a.k1, i);
        } else {
            pick_rows(&r, &n, &a);
            snprintf(extra, sizeof extra, " rows [%d, %d) case %d", a.r0, a.r1, i);
        }
        precision_case(&t, &n, &a, extra);
        net_free(&n);
    }
    report(&t);
}

static void test_forward_tf32(void **state)
{
    (void)state;
    precision_test("forward(tf32)", GN_OPCHECK_FORWARD, GN_PRECISION_TF32, 20);
}

static void test_forward_bf16(void **state)
{
    (void)state;
    precision_test("forward(bf16)", GN_OPCHECK_FORWARD, GN_PRECISION_BF16, 21);
}

static void test_backward_tf32(void **state)
{
    (void)state;
    precision_test("backward(tf32)", GN_OPCHECK_BACKWARD, GN_PRECISION_TF32, 22);
}

static void test_backward_bf16(void **state)
{
    (void)state;
    precision_test("backward(bf16)", GN_OPCHECK_BACKWARD, GN_PRECISION_BF16, 23);
}

static void test_update_tf32(void **state)
{
    (void)state;
    precision_test("update(tf32)", GN_OPCHECK_UPDATE, GN_PRECISION_TF32, 24);
}

static void test_update_bf16(void **state)
{
    (void)state;
    precision_test("update(bf16)", GN_OPCHECK_UPDATE, GN_PRECISION_BF16, 25);
}

/* ---- timing (opt-in: GN_OPCHECK_TIME=1) ----
 *
 * Not a correctness test: the task math of the benchmark graphs' shapes
 * timed alone, one block, no scheduler, so docs/PERF.md can set it beside
 * the persistent kernel's profile of the same tasks. A hidden group T of
 * width S fed by four groups of S (each fed by the input) and feeding four
 * more: its forward and backward read 4 S columns, as on `layered` and
 * `deep`; a source's forward reads the 784 inputs, as the one-group graph.
 * What it asserts: a pure op (forward, backward) run many times gives the
 * bits of one run. */
static void time_case(const char *name, struct net *n, int op, int32_t g, int32_t r0,
                      int32_t r1, int32_t k0, int32_t k1, int precision)
{
    const int32_t reps = 200;
    struct gn_opcheck_args a = args_of(op, n);
    a.precision = precision;
    a.g = g;
    a.r0 = r0;
    a.r1 = r1;
    a.k0 = k0;
    a.k1 = k1;
    a.tile = r1 > r0 ? r1 - r0 : 16;
    a.optim.kind = GN_OPTIM_SGD;
    a.optim.lr = 0.01f;
    struct state once, many;
    state_clone(&once, &n->s);
    state_clone(&many, &n->s);
    double us[GN_OPCHECK_PHASES + 1];
    if (gn_opcheck_run(&once.m, &once.b, &a) != GN_OK ||
        gn_opcheck_time(&many.m, &many.b, &a, reps, us) != GN_OK)
        fail_msg("%s: device run failed: %s", name, gn_error_message());
    print_message("| %-26s | %s | %3d | %6.2f | %6.2f | %6.2f | %6.2f | %6.2f |\n", name,
                  gn_precision_name((enum gn_precision)precision), r1 - r0, us[0], us[1], us[2],
                  us[3], us[4]);
    if (op != GN_OPCHECK_UPDATE) {
        const size_t nact = (size_t)n->s.m.max_groups * n->s.b.batch * n->s.b.stride;
        assert_memory_equal(once.b.act, many.b.act, nact * sizeof(float));
        assert_memory_equal(once.b.dz, many.b.dz, nact * sizeof(float));
    }
    state_free(&once);
    state_free(&many);
}

/* The three ops of a group of n (a 16-row forward and backward, a 64-row
 * update part) timed alone and then in turn, each after the others, as a
 * persistent worker runs them: what running them back to back costs
 * beyond running each on its own (their code no longer at hand, if the
 * instruction caches matter). Printed, not asserted. */
static void time_mix(struct net *n)
{
    const int32_t reps = 200, T = n->T;
    struct gn_opcheck_args ops[3];
    const int kinds[3] = {GN_OPCHECK_FORWARD, GN_OPCHECK_BACKWARD, GN_OPCHECK_UPDATE};
    double alone = 0, us[GN_OPCHECK_PHASES + 1];
    for (int i = 0; i < 3; i++) {
        ops[i] = args_of(kinds[i], n);
        ops[i].g = T;
        ops[i].r1 = kinds[i] == GN_OPCHECK_UPDATE ? 0 : 16;
        ops[i].k1 = kinds[i] == GN_OPCHECK_UPDATE ? 64 : 0;
        ops[i].tile = 16;
        ops[i].optim.kind = GN_OPTIM_SGD;
        ops[i].optim.lr = 0.01f;
        struct state st;
        state_clone(&st, &n->s);
        if (gn_opcheck_time(&st.m, &st.b, &ops[i], reps, us) != GN_OK)
            fail_msg("mix: device run failed: %s", gn_error_message());
        alone += us[GN_OPCHECK_PHASES];
        state_free(&st);
    }
    struct state st;
    state_clone(&st, &n->s);
    if (gn_opcheck_time_mix(&st.m, &st.b, ops, 3, reps, us) != GN_OK)
        fail_msg("mix: device run failed: %s", gn_error_message());
    state_free(&st);
    print_message("| forward, backward, update in turn (S=%d) | fp32 | 16 | %6.2f | %6.2f | %6.2f | "
                  "%6.2f | %6.2f | (alone, one after another: %.2f) |\n",
                  n->S, us[0], us[1], us[2], us[3], us[4], alone);
}

static void test_time_tasks(void **state)
{
    (void)state;
    const char *env = getenv("GN_OPCHECK_TIME");
    if (!env || !*env || !strcmp(env, "0")) {
        print_message("timing off (GN_OPCHECK_TIME=1 runs it)\n");
        skip();
    }
    print_message("| op (S: group width) | precision | rows | edges us | stage us | math us | optimizer us "
                  "| all us |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    const int32_t widths[] = {32, 64, 16};
    for (int i = 0; i < 3; i++) {
        struct rng r = case_rng(40, i);
        struct net n;
        memset(&n, 0, sizeof n);
        n.S = widths[i];
        n.C = 10;
        n.I = 784;
        n.rows = n.batch = 256;
        n.p = n.q = 4;
        net_build(&n, &r, 0);
        char name[64];
        const int32_t T = n.T;
        for (int P = GN_PRECISION_FP32; P <= GN_PRECISION_BF16; P++) {
            for (int32_t R = 8; R <= 64; R *= 2) {
                snprintf(name, sizeof name, "forward, 4x%d in (S=%d)", n.S, n.S);
                time_case(name, &n, GN_OPCHECK_FORWARD, T, 0, R, 0, 0, P);
                snprintf(name, sizeof name, "backward, 4x%d out (S=%d)", n.S, n.S);
                time_case(name, &n, GN_OPCHECK_BACKWARD, T, 0, R, 0, 0, P);
            }
            snprintf(name, sizeof name, "update, 64 of 4x%d (S=%d)", n.S, n.S);
            time_case(name, &n, GN_OPCHECK_UPDATE, T, 0, 0, 0, 64, P);
            if (i == 0) {
                time_case("forward, 784 in (S=32)", &n, GN_OPCHECK_FORWARD, n.src[0], 0, 16, 0,
                          0, P);
                time_case("update, 64 of 784 (S=32)", &n, GN_OPCHECK_UPDATE, n.src[0], 0, 0, 0,
                          64, P);
                /* the output's (10 columns: not a divisor of the block) */
                time_case("update, output, 128 of 4x32", &n, GN_OPCHECK_UPDATE, GN_SLOT_OUTPUT,
                          0, 0, 0, 128, P);
            }
        }
        time_mix(&n);
        net_free(&n);
    }
}

int main(void)
{
    char why[256];
    if (!gn_opcheck_device(why, sizeof why)) {
        fprintf(stderr, "skip: %s\n", why);
        return 77;
    }
    fprintf(stderr, "# device: %s\n", why);
    gn_test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_hidden), cmocka_unit_test(test_forward_output),
        cmocka_unit_test(test_loss),           cmocka_unit_test(test_forward_loss),
        cmocka_unit_test(test_backward),       cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_adam),    cmocka_unit_test(test_update_adamw),
        cmocka_unit_test(test_stat),           cmocka_unit_test(test_grow_depth),
        cmocka_unit_test(test_grow_width),     cmocka_unit_test(test_mark),
        cmocka_unit_test(test_forward_tf32),   cmocka_unit_test(test_forward_bf16),
        cmocka_unit_test(test_backward_tf32),  cmocka_unit_test(test_backward_bf16),
        cmocka_unit_test(test_update_tf32),    cmocka_unit_test(test_update_bf16),
        cmocka_unit_test(test_time_tasks),
    };
    /* the timing alone: the equality tests are the default run's */
    const char *timing = getenv("GN_OPCHECK_TIME");
    if (timing && *timing && strcmp(timing, "0") != 0) cmocka_set_test_filter("test_time_tasks");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
