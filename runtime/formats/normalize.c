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

/* The largest float scale <= want with (hi - shift) * scale <= top. */
static float gn_norm_fit_top(float hi, float shift, float want, float top)
{
    float s = want;
    while (s > 0.0f && (hi - shift) * s > top)
        s = nextafterf(s, 0.0f);
    return s;
}

enum gn_status gn_norm_fit(struct gn_norm *n, enum gn_normalize mode, const struct gn_data *d,
                           int64_t rows)
{
    const int32_t F = d->features;
    double *sum = NULL, *sq = NULL;
    int64_t *cnt = NULL;
    float *lo = NULL, *hi = NULL;
    enum gn_status st = GN_OK;
    memset(n, 0, sizeof *n);
    if (rows < 1 || rows > d->count)
        return gn_fail(GN_ERR_INVALID, "normalization from %lld of %d rows", (long long)rows,
                       d->count);
    sum = calloc((size_t)F, sizeof *sum);
    sq = calloc((size_t)F, sizeof *sq);
    cnt = calloc((size_t)F, sizeof *cnt);
    lo = malloc((size_t)F * sizeof *lo);
    hi = malloc((size_t)F * sizeof *hi);
    if (!sum || !sq || !cnt || !lo || !hi) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for the statistics of %d features", F);
        goto done;
    }
    for (int32_t f = 0; f < F; f++) {
        lo[f] = INFINITY;
        hi[f] = -INFINITY;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *x = d->x + r * F;
        for (int32_t f = 0; f < F; f++) {
            if (!isfinite(x[f])) continue; /* left as it is: --on-nan sees it */
            sum[f] += (double)x[f];
            cnt[f]++;
            if (x[f] < lo[f]) lo[f] = x[f];
            if (x[f] > hi[f]) hi[f] = x[f];
        }
    }
    if ((st = gn_norm_init(n, mode, F)) || mode == GN_NORMALIZE_NONE) goto done;
    if (mode == GN_NORMALIZE_STANDARD) {
        for (int64_t r = 0; r < rows; r++) {
            const float *x = d->x + r * F;
            for (int32_t f = 0; f < F; f++) {
                if (!isfinite(x[f])) continue;
                double dev = (double)x[f] - sum[f] / (double)cnt[f];
                sq[f] += dev * dev;
            }
        }
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
    free(cnt);
    free(lo);
    free(hi);
    return st;
}

void gn_norm_apply(const struct gn_norm *n, float *x, int64_t rows)
{
    const int32_t F = n->features;
    if (n->mode == GN_NORMALIZE_NONE) return;
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * F;
        for (int32_t f = 0; f < F; f++)
            row[f] = (row[f] - n->shift[f]) * n->scale[f];
    }
}
