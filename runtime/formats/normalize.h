/*
 * Input normalization: per-feature statistics of the training set, applied
 * to the training and test sets before training (--normalize).
 *
 * Every mode is one affine map per feature, applied with one fixed float
 * formula,
 *     x' = (x - shift[f]) * scale[f]          (float32 arithmetic)
 * so that the statistics, once computed (or read from a checkpoint), fix
 * the normalized data bit for bit. It happens on the host before a backend
 * sees any data, so serial, cpu and cuda train on the same floats.
 *
 *   none      shift 0, scale 1: the data as loaded
 *   standard  shift = mean, scale = 1 / standard deviation (population)
 *   minmax    shift = min, scale = 1 / (max - min): the training set to [0, 1]
 *   scale     shift 0, scale = 1 / max |x|: the training set to [-1, 1]
 *
 * Statistics are accumulated in double over the rows in a fixed order (row
 * by row, two passes for the deviation), so they are deterministic; NaN and
 * Inf values are left out of them (and stay NaN or Inf after the map). A
 * constant feature (deviation or range 0, or all zeros for scale) gets
 * scale 1 and a shift that maps it to 0. For minmax and scale the float
 * scale is nudged down until the training extremes map inside the range.
 */
#ifndef GN_RUNTIME_NORMALIZE_H
#define GN_RUNTIME_NORMALIZE_H

#include <stdint.h>

#include "genet/genet.h"
#include "parts.h"

struct gn_norm {
    int32_t mode;     /* enum gn_normalize */
    int32_t features;
    float *shift;     /* (features) */
    float *scale;     /* (features) */
};

/* Allocate n for features features with the identity map (shift 0, scale
 * 1) and the given mode. */
enum gn_status gn_norm_init(struct gn_norm *n, enum gn_normalize mode, int32_t features);

/* Compute the statistics of mode from the first rows rows of d into n
 * (allocated here). GN_ERR_FORMAT when a statistic overflows float. */
enum gn_status gn_norm_fit(struct gn_norm *n, enum gn_normalize mode, const struct gn_data *d,
                           int64_t rows);

/* The most threads the _threads forms use. */
#define GN_NORM_MAX_THREADS GN_PARTS_MAX

/* gn_norm_fit on up to `threads` threads, each taking a run of features
 * (every feature's statistics are still summed over the rows in order, so
 * n is the same bits for any thread count). */
enum gn_status gn_norm_fit_threads(struct gn_norm *n, enum gn_normalize mode,
                                   const struct gn_data *d, int64_t rows, int32_t threads);

/* x (rows, n->features) in place: x' = (x - shift) * scale. */
void gn_norm_apply(const struct gn_norm *n, float *x, int64_t rows);

/* The same from src into dst (rows, n->features each; the same array, or
 * two that do not overlap): one pass instead of a copy and an apply. */
void gn_norm_apply_to(const struct gn_norm *n, const float *src, float *dst, int64_t rows);

/* gn_norm_apply_to on up to `threads` threads, each taking a run of rows. */
void gn_norm_apply_threads(const struct gn_norm *n, const float *src, float *dst, int64_t rows,
                           int32_t threads);

void gn_norm_free(struct gn_norm *n);

#endif
