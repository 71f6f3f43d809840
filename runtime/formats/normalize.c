/*
 * Input normalization (rules in normalize.h): fit per-feature shift and
 * scale on the training rows, apply x' = (x - shift) * scale.
 *
 * Fitting walks the rows in order once (sum, min, max, max |x| per feature,
 * in double) and, for standard, a second time for the sum of squared
 * deviations from the mean (two passes: no cancellation). The float scale
 * of minmax and scale is then checked against the extremes it must map and
 * lowered by one ulp at a time while a training value would leave the range,
 * so the training set's range holds exactly in float arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "normalize.h"
#include "parts.h"

const char *gn_normalize_name(enum gn_normalize m)
{
    switch (m) {
    case GN_NORMALIZE_NONE: return "none";
    case GN_NORMALIZE_STANDARD: return "standard";
    case GN_NORMALIZE_MINMAX: return "minmax";
    case GN_NORMALIZE_SCALE: return "scale";
    }
    return "?";
}

enum gn_status gn_norm_init(struct gn_norm *n, enum gn_normalize mode, int32_t features)
{
    memset(n, 0, sizeof *n);
    if (mode < GN_NORMALIZE_NONE || mode > GN_NORMALIZE_SCALE)
        return gn_fail(GN_ERR_INVALID, "normalization mode %d is not none, standard, minmax or "
                                       "scale", (int)mode);
    if (features < 1) return gn_fail(GN_ERR_INVALID, "normalization of %d features", features);
    n->shift = malloc((size_t)features * sizeof *n->shift);
    n->scale = malloc((size_t)features * sizeof *n->scale);
    if (!n->shift || !n->scale) {
        gn_norm_free(n);
        return gn_fail(GN_ERR_NOMEM, "out of memory for the normalization of %d features",
                       features);
    }
    for (int32_t f = 0; f < features; f++) {
        n->shift[f] = 0.0f;
        n->scale[f] = 1.0f;
    }
    n->mode = (int32_t)mode;
    n->features = features;
    return GN_OK;
}

void gn_norm_free(struct gn_norm *n)
{
    if (!n) return;
    free(n->shift);
    free(n->scale);
    memset(n, 0, sizeof *n);
}

/* 1 when every value of x[0..n) is finite: x - x is 0 for a finite x and
 * NaN for an infinite or NaN one, which compares unequal to 0. An integer
 * OR of the comparisons, so it vectorizes. */
static int gn_norm_finite(const float *x, int32_t n)
{
    int bad = 0;
    for (int32_t f = 0; f < n; f++) bad |= x[f] - x[f] != 0.0f;
    return !bad;
}

/* The largest float scale <= want with (hi - shift) * scale <= top. */
static float gn_norm_fit_top(float hi, float shift, float want, float top)
{
    float s = want;
    while (s > 0.0f && (hi - shift) * s > top)
        s = nextafterf(s, 0.0f);
    return s;
}

/* The statistics of features [f0, f1) over the first rows rows, into the
 * shared per-feature arrays (each part writes only its own features). */
struct gn_norm_fit_part {
    const struct gn_data *d;
    int64_t rows;
    int32_t f0, f1, standard;
    double *sum, *sq, *mean;
    int64_t *cnt;
    float *lo, *hi;
};

/* Rows a block and features a chunk of the fit's blocked loops: a chunk's
 * accumulators (8 doubles, 8 lows, 8 highs) stay in registers while the
 * block's rows go by, instead of a load and a store of each per value. */
#define GN_NORM_FIT_ROWS 32
#define GN_NORM_FIT_LANES 8

/* The first pass over rows x[0..nb) (all finite in [f0, f1)): each feature
 * adds its values in row order, as the per-row loop does. */
static void gn_norm_fit_sum_block(const float *x, int64_t nb, int32_t F, int32_t f0, int32_t f1,
                                  double *restrict sum, float *restrict lo, float *restrict hi)
{
    int32_t f = f0;
    for (; f + GN_NORM_FIT_LANES <= f1; f += GN_NORM_FIT_LANES) {
        double s[GN_NORM_FIT_LANES];
        float l[GN_NORM_FIT_LANES], h[GN_NORM_FIT_LANES];
        for (int j = 0; j < GN_NORM_FIT_LANES; j++) {
            s[j] = sum[f + j];
            l[j] = lo[f + j];
            h[j] = hi[f + j];
        }
        for (int64_t r = 0; r < nb; r++) {
            const float *v = x + r * F + f;
            for (int j = 0; j < GN_NORM_FIT_LANES; j++) {
                s[j] += (double)v[j];
                l[j] = v[j] < l[j] ? v[j] : l[j];
                h[j] = v[j] > h[j] ? v[j] : h[j];
            }
        }
        for (int j = 0; j < GN_NORM_FIT_LANES; j++) {
            sum[f + j] = s[j];
            lo[f + j] = l[j];
            hi[f + j] = h[j];
        }
    }
    for (int64_t r = 0; r < nb; r++) /* the range's last features */
        for (int32_t g = f; g < f1; g++) {
            const float v = x[r * F + g];
            sum[g] += (double)v;
            lo[g] = v < lo[g] ? v : lo[g];
            hi[g] = v > hi[g] ? v : hi[g];
        }
}

/* The second pass over rows x[0..nb) (all finite in [f0, f1)). */
static void gn_norm_fit_sq_block(const float *x, int64_t nb, int32_t F, int32_t f0, int32_t f1,
                                 const double *restrict mean, double *restrict sq)
{
    int32_t f = f0;
    for (; f + GN_NORM_FIT_LANES <= f1; f += GN_NORM_FIT_LANES) {
        double q[GN_NORM_FIT_LANES], m[GN_NORM_FIT_LANES];
        for (int j = 0; j < GN_NORM_FIT_LANES; j++) {
            q[j] = sq[f + j];
            m[j] = mean[f + j];
        }
        for (int64_t r = 0; r < nb; r++) {
            const float *v = x + r * F + f;
            for (int j = 0; j < GN_NORM_FIT_LANES; j++) {
                const double dev = (double)v[j] - m[j];
                q[j] += dev * dev;
            }
        }
        for (int j = 0; j < GN_NORM_FIT_LANES; j++) sq[f + j] = q[j];
    }
    for (int64_t r = 0; r < nb; r++)
        for (int32_t g = f; g < f1; g++) {
            const double dev = (double)x[r * F + g] - mean[g];
            sq[g] += dev * dev;
        }
}

/* 1 when rows x[0..nb) are all finite in [f0, f1). */
static int gn_norm_block_finite(const float *x, int64_t nb, int32_t F, int32_t f0, int32_t f1)
{
    int ok = 1;
    for (int64_t r = 0; r < nb; r++) ok &= gn_norm_finite(x + r * F + f0, f1 - f0);
    return ok;
}

/*
 * Each feature adds its rows in order, whatever the split, so the sums are
 * the same bits for any number of parts. Rows go by in blocks of
 * GN_NORM_FIT_ROWS; a block whose values in the range are all finite
 * (every block of most data sets) takes the blocked loops above, which
 * vectorize across features with their accumulators in registers. A block
 * with a non-finite value goes row by row, each value checked; the order
 * of each feature's additions is the same either way.
 */
static void *gn_norm_fit_range(void *arg)
{
    const struct gn_norm_fit_part *p = arg;
    const int32_t F = p->d->features, f0 = p->f0, f1 = p->f1;
    double *sum = p->sum, *sq = p->sq, *mean = p->mean;
    int64_t *cnt = p->cnt;
    float *lo = p->lo, *hi = p->hi;
    int64_t finite_rows = 0;
    for (int32_t f = f0; f < f1; f++) {
        lo[f] = INFINITY;
        hi[f] = -INFINITY;
    }
    for (int64_t r0 = 0; r0 < p->rows; r0 += GN_NORM_FIT_ROWS) {
        const int64_t nb = p->rows - r0 < GN_NORM_FIT_ROWS ? p->rows - r0 : GN_NORM_FIT_ROWS;
        const float *xb = p->d->x + r0 * F;
        if (gn_norm_block_finite(xb, nb, F, f0, f1)) {
            gn_norm_fit_sum_block(xb, nb, F, f0, f1, sum, lo, hi);
            finite_rows += nb;
            continue;
        }
        for (int64_t r = 0; r < nb; r++) {
            const float *x = xb + r * F;
            if (gn_norm_finite(x + f0, f1 - f0)) {
                gn_norm_fit_sum_block(x, 1, F, f0, f1, sum, lo, hi);
                finite_rows++;
                continue;
            }
            for (int32_t f = f0; f < f1; f++) {
                if (!isfinite(x[f])) continue; /* left as it is: --on-nan sees it */
                sum[f] += (double)x[f];
                cnt[f]++;
                if (x[f] < lo[f]) lo[f] = x[f];
                if (x[f] > hi[f]) hi[f] = x[f];
            }
        }
    }
    for (int32_t f = f0; f < f1; f++) cnt[f] += finite_rows;
    if (!p->standard) return NULL;
    /* the second pass: squared deviations from the mean (no cancellation),
     * the mean divided out once per feature */
    for (int32_t f = f0; f < f1; f++) mean[f] = cnt[f] ? sum[f] / (double)cnt[f] : 0.0;
    for (int64_t r0 = 0; r0 < p->rows; r0 += GN_NORM_FIT_ROWS) {
        const int64_t nb = p->rows - r0 < GN_NORM_FIT_ROWS ? p->rows - r0 : GN_NORM_FIT_ROWS;
        const float *xb = p->d->x + r0 * F;
        if (gn_norm_block_finite(xb, nb, F, f0, f1)) {
            gn_norm_fit_sq_block(xb, nb, F, f0, f1, mean, sq);
            continue;
        }
        for (int64_t r = 0; r < nb; r++) {
            const float *x = xb + r * F;
            if (gn_norm_finite(x + f0, f1 - f0)) {
                gn_norm_fit_sq_block(x, 1, F, f0, f1, mean, sq);
                continue;
            }
            for (int32_t f = f0; f < f1; f++) {
                if (!isfinite(x[f])) continue;
                const double dev = (double)x[f] - mean[f];
                sq[f] += dev * dev;
            }
        }
    }
    return NULL;
}

enum gn_status gn_norm_fit(struct gn_norm *n, enum gn_normalize mode, const struct gn_data *d,
                           int64_t rows)
{
    return gn_norm_fit_threads(n, mode, d, rows, 1);
}

enum gn_status gn_norm_fit_threads(struct gn_norm *n, enum gn_normalize mode,
                                   const struct gn_data *d, int64_t rows, int32_t threads)
{
    const int32_t F = d->features;
    double *sum = NULL, *sq = NULL, *mean = NULL;
    int64_t *cnt = NULL;
    float *lo = NULL, *hi = NULL;
    enum gn_status st = GN_OK;
    memset(n, 0, sizeof *n);
    if (rows < 1 || rows > d->count)
        return gn_fail(GN_ERR_INVALID, "normalization from %lld of %d rows", (long long)rows,
                       d->count);
    sum = calloc((size_t)F, sizeof *sum);
    sq = calloc((size_t)F, sizeof *sq);
    mean = calloc((size_t)F, sizeof *mean);
    cnt = calloc((size_t)F, sizeof *cnt);
    lo = malloc((size_t)F * sizeof *lo);
    hi = malloc((size_t)F * sizeof *hi);
    if (!sum || !sq || !mean || !cnt || !lo || !hi) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for the statistics of %d features", F);
        goto done;
    }
    if ((st = gn_norm_init(n, mode, F)) || mode == GN_NORMALIZE_NONE) goto done;
    {
        /* features split in runs of 16 (whole cache lines of the arrays) */
        int64_t start[GN_NORM_MAX_THREADS + 1];
        const int32_t k = gn_parts_split(F, threads, 16, start);
        struct gn_norm_fit_part part[GN_NORM_MAX_THREADS];
        for (int32_t i = 0; i < k; i++)
            part[i] = (struct gn_norm_fit_part){d, rows, (int32_t)start[i], (int32_t)start[i + 1],
                                                 mode == GN_NORMALIZE_STANDARD, sum, sq, mean,
                                                 cnt, lo, hi};
        gn_parts_run(gn_norm_fit_range, part, sizeof part[0], k);
    }
    for (int32_t f = 0; f < F; f++) {
        if (cnt[f] == 0) continue; /* no finite value: the identity */
        double mean = sum[f] / (double)cnt[f];
        double sd = sqrt(sq[f] / (double)cnt[f]);
        double amax = fabs((double)lo[f]) > fabs((double)hi[f]) ? fabs((double)lo[f])
                                                                : fabs((double)hi[f]);
        if (!isfinite((float)mean) || !isfinite((float)sd) ||
            !isfinite((float)((double)hi[f] - lo[f]))) {
            st = gn_fail(GN_ERR_FORMAT,
                         "feature %d: its statistics overflow float (mean %g, deviation %g, "
                         "range %g)", f, mean, sd, (double)hi[f] - lo[f]);
            goto done;
        }
        switch (mode) {
        case GN_NORMALIZE_STANDARD:
            n->shift[f] = (float)mean;
            /* constant: (x - mean) is 0; sd below float's range also counts */
            n->scale[f] = sd > 0.0 && isfinite((float)(1.0 / sd)) ? (float)(1.0 / sd) : 1.0f;
            break;
        case GN_NORMALIZE_MINMAX:
            n->shift[f] = lo[f];
            if (hi[f] > lo[f] && isfinite((float)(1.0 / ((double)hi[f] - lo[f]))))
                n->scale[f] = gn_norm_fit_top(hi[f], lo[f],
                                              (float)(1.0 / ((double)hi[f] - lo[f])), 1.0f);
            break;
        case GN_NORMALIZE_SCALE:
            if (amax > 0.0 && isfinite((float)(1.0 / amax))) {
                float s = (float)(1.0 / amax);
                s = gn_norm_fit_top(hi[f], 0.0f, s, 1.0f);
                s = gn_norm_fit_top(-lo[f], 0.0f, s, 1.0f);
                n->scale[f] = s;
            }
            break;
        default: break;
        }
    }
done:
    if (st) gn_norm_free(n);
    free(sum);
    free(sq);
    free(mean);
    free(cnt);
    free(lo);
    free(hi);
    return st;
}

struct gn_norm_apply_part {
    const struct gn_norm *n;
    const float *src;
    float *dst;
    int64_t r0, r1;
};

static void *gn_norm_apply_range(void *arg)
{
    const struct gn_norm_apply_part *p = arg;
    const int32_t F = p->n->features;
    const float *shift = p->n->shift, *scale = p->n->scale;
    if (p->dst != p->src)
        gn_parts_prefault(p->dst + p->r0 * F, (size_t)(p->r1 - p->r0) * (size_t)F * sizeof(float));
    for (int64_t r = p->r0; r < p->r1; r++) {
        const float *in = p->src + r * F;
        float *out = p->dst + r * F;
        for (int32_t f = 0; f < F; f++) out[f] = (in[f] - shift[f]) * scale[f];
    }
    return NULL;
}

void gn_norm_apply_threads(const struct gn_norm *n, const float *src, float *dst, int64_t rows,
                           int32_t threads)
{
    if (n->mode == GN_NORMALIZE_NONE) {
        if (src != dst) memcpy(dst, src, (size_t)rows * (size_t)n->features * sizeof(float));
        return;
    }
    int64_t start[GN_NORM_MAX_THREADS + 1];
    const int32_t k = gn_parts_split(rows, threads, 16, start);
    struct gn_norm_apply_part part[GN_NORM_MAX_THREADS];
    for (int32_t i = 0; i < k; i++)
        part[i] = (struct gn_norm_apply_part){n, src, dst, start[i], start[i + 1]};
    gn_parts_run(gn_norm_apply_range, part, sizeof part[0], k);
}

void gn_norm_apply_to(const struct gn_norm *n, const float *src, float *dst, int64_t rows)
{
    gn_norm_apply_threads(n, src, dst, rows, 1);
}

void gn_norm_apply(const struct gn_norm *n, float *x, int64_t rows)
{
    gn_norm_apply_to(n, x, x, rows);
}
