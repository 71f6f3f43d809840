/*
 * The growth statistic: the standard deviation of every gradient entry of a
 * group (its bias and its in-edges' weight blocks), one formula for every
 * backend, in an order the GPU computes fast and the host follows exactly.
 *
 * Entries in canonical order: the bias (width n), then each in-edge's block
 * (K x n, row-major) by the source's position; N entries in all. Lanes:
 * GN_STAT_LANES of them (a block's threads on the GPU); lane l takes the
 * entries whose index is l modulo the lane count, in increasing index.
 *   pass 1: each lane sums its entries in double; the lane sums are added
 *           by a halving tree (stride L/2, L/4, ..., 1: s[l] += s[l +
 *           stride] for l < stride); mean = s[0] / N;
 *   pass 2: each lane sums (x - mean)^2 in double, the same tree; the
 *           statistic is (float)sqrt(s[0] / N).
 * The centred two-pass form is exact enough where a group's mean gradient
 * is far from zero relative to its spread (one-pass E[x^2] - mean^2 is
 * not). Each double operation is an IEEE-rounded add, subtract, multiply,
 * divide or square root, never contracted (the device code is built with
 * -fmad=false), so host and device produce the same bits.
 *
 * When it is made: only on the steps whose statistic is read (plan.h,
 * gn_plan_stat_read: growth rounds, epoch ends, trace records, checkpoints,
 * the run's end). On every other step each backend tests the gradient
 * entries for finiteness alone (the numeric guard's question, numguard.h):
 * grad_std keeps its value when every entry is finite and becomes
 * gn_stat_nonfinite() when one is not (gn_stat_refresh; the cuda kernel
 * tests each entry as its update writes it). The statistic is finite
 * exactly when every entry is, so the guard's verdict is the one the
 * statistic would have given.
 */
#ifndef GN_RUNTIME_STAT_H
#define GN_RUNTIME_STAT_H

#include <math.h>
#include <stdint.h>

#include "model.h"

#define GN_STAT_LANES 256u

/* The statistic of a step that did not make it, where a gradient entry is
 * not finite: a quiet NaN of fixed bits, the same on every backend. */
GN_HD float gn_stat_nonfinite(void)
{
    union {
        uint32_t u;
        float f;
    } v;
    v.u = 0x7fc00000u;
    return v.f;
}

/* Whether one gradient entry passes the test of a step that makes no
 * statistic (the host's gn_stat_refresh, the kernel's gn_block_apply). */
GN_HD int gn_stat_entry_ok(float v)
{
    return isfinite(v) != 0;
}

/* Gradient entries of g (N above). */
GN_HD double gn_stat_count(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    double cnt = gr->width;
    for (int32_t i = 0; i < gr->in_count; i++)
        cnt += (double)m->groups[m->edges[m->in_list[gr->in_begin + i]].src].width * gr->width;
    return cnt;
}

/* Segment i of the group gr's entries (-1: the bias; else in-edge i's
 * block): where it starts, and its length in *len; n is gr's width, which
 * the caller reads once (the device's loads of the entries are volatile,
 * so a read here would be repeated for every segment). */
GN_HD const float *gn_stat_segment(const struct gn_model *m, const struct gn_group *gr, int64_t n,
                                   int32_t i, int64_t *len)
{
    const float *x;
    if (i < 0) {
        x = m->grads + gr->bias;
        *len = n;
    } else {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        x = m->grads + e->w;
        *len = (int64_t)m->groups[e->src].width * n;
    }
    return x;
}

/* An entry's term in a lane's sum: x (pass 1: centred = 0) or (x - mean)^2
 * (pass 2: centred = 1). */
GN_HD double gn_stat_term(double v, int centred, double mean)
{
    return centred ? (v - mean) * (v - mean) : v;
}

/* Lane `lane`'s sum over its entries (the device: a thread a lane). With
 * keep (not NULL), each entry is also kept: the lane's j-th entry at
 * keep[j GN_STAT_LANES + lane], and their count in *count, so that the
 * second pass can read them there (the device's stash, in shared memory). */
GN_HD double gn_stat_lane_keep(const struct gn_model *m, int32_t g, uint32_t lane, int centred,
                               double mean, float *keep, int32_t *count)
{
    const struct gn_group *gr = &m->groups[g];
    const int64_t n = gr->width;
    double acc = 0.0;
    int64_t base = 0; /* index of the segment's first entry */
    int32_t j = 0;    /* the lane's entries so far */
    for (int32_t i = -1; i < gr->in_count; i++) {
        int64_t len;
        const float *x = gn_stat_segment(m, gr, n, i, &len);
        const int64_t first = ((int64_t)lane - base % GN_STAT_LANES + GN_STAT_LANES) % GN_STAT_LANES;
        for (int64_t q = first; q < len; q += GN_STAT_LANES) {
            const float v = gn_load_cg_f32(x + q);
            if (keep) keep[(int64_t)j++ * GN_STAT_LANES + lane] = v;
            acc += gn_stat_term(v, centred, mean);
        }
        base += len;
    }
    if (count) *count = j;
    return acc;
}

GN_HD double gn_stat_lane(const struct gn_model *m, int32_t g, uint32_t lane, int centred,
                          double mean)
{
    return gn_stat_lane_keep(m, g, lane, centred, mean, NULL, NULL);
}

/* Pass 2's sum of lane `lane` from the count entries gn_stat_lane_keep
 * kept: the same terms in the same order as gn_stat_lane's walk. */
GN_HD double gn_stat_lane_kept(const float *keep, int32_t count, uint32_t lane, double mean)
{
    double acc = 0.0;
    for (int32_t j = 0; j < count; j++)
        acc += gn_stat_term(keep[(int64_t)j * GN_STAT_LANES + lane], 1, mean);
    return acc;
}

/* Every lane's sum at once (the host): the entries walked in index order,
 * each added to its lane's sum s[index mod GN_STAT_LANES], so each lane
 * adds its entries in increasing index as gn_stat_lane does, the same
 * bits, with the memory read once in order (a lane's walk reads one entry
 * of every GN_STAT_LANES) and whole rounds of lanes as vectors. */
static inline void gn_stat_lanes(const struct gn_model *m, int32_t g, int centred, double mean,
                                 double s[GN_STAT_LANES])
{
    const struct gn_group *gr = &m->groups[g];
    const int64_t n = gr->width;
    for (uint32_t l = 0; l < GN_STAT_LANES; l++) s[l] = 0.0;
    uint32_t lane = 0; /* the lane of the segment's first entry */
    for (int32_t i = -1; i < gr->in_count; i++) {
        int64_t len;
        const float *x = gn_stat_segment(m, gr, n, i, &len);
        int64_t q = 0;
        for (; q < len && lane != 0; q++, lane = (lane + 1) % GN_STAT_LANES)
            s[lane] += gn_stat_term(x[q], centred, mean);
        for (; q + GN_STAT_LANES <= len; q += GN_STAT_LANES)
            for (uint32_t l = 0; l < GN_STAT_LANES; l++) s[l] += gn_stat_term(x[q + l], centred, mean);
        for (; q < len; q++, lane = (lane + 1) % GN_STAT_LANES)
            s[lane] += gn_stat_term(x[q], centred, mean);
    }
}

/* One level of the halving tree over the lane sums s. */
GN_HD void gn_stat_tree_step(double *s, uint32_t lane, uint32_t stride)
{
    if (lane < stride) s[lane] += s[lane + stride];
}

/* The host's run of the formula (gn_stat_lanes, then the tree). */
static inline float gn_stat_grad_std(const struct gn_model *m, int32_t g)
{
    double s[GN_STAT_LANES];
    const double cnt = gn_stat_count(m, g);
    gn_stat_lanes(m, g, 0, 0.0, s);
    for (uint32_t stride = GN_STAT_LANES / 2; stride > 0; stride /= 2)
        for (uint32_t l = 0; l < stride; l++) gn_stat_tree_step(s, l, stride);
    const double mean = s[0] / cnt;
    gn_stat_lanes(m, g, 1, mean, s);
    for (uint32_t stride = GN_STAT_LANES / 2; stride > 0; stride /= 2)
        for (uint32_t l = 0; l < stride; l++) gn_stat_tree_step(s, l, stride);
    return (float)sqrt(s[0] / cnt);
}

/* The host's statistic of g for a step (its gradients made): the formula
 * where the step's statistic is read (`read`, plan.h's gn_plan_stat_read),
 * else the finiteness test alone: grad_std kept, or gn_stat_nonfinite()
 * at the first entry that is not finite. */
static inline void gn_stat_refresh(struct gn_model *m, int32_t g, int read)
{
    struct gn_group *gr = &m->groups[g];
    if (read) {
        gr->grad_std = gn_stat_grad_std(m, g);
        return;
    }
    const int64_t n = gr->width;
    for (int32_t i = -1; i < gr->in_count; i++) {
        int64_t len;
        const float *x = gn_stat_segment(m, gr, n, i, &len);
        int ok = 1;
        for (int64_t q = 0; q < len; q++) ok &= gn_stat_entry_ok(x[q]);
        if (!ok) {
            gr->grad_std = gn_stat_nonfinite();
            return;
        }
    }
}

#endif
