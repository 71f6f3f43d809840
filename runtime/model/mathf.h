/*
 * expf, logf and cos(pi x) that give the same bits on the host and the
 * device.
 *
 * The C library's expf/logf and CUDA's differ in the last bits, which is
 * enough for the serial and cuda backends to drift apart over a few hundred
 * steps. These use only IEEE single additions, multiplications and one
 * division, each rounded once (GN_FMUL/GN_FADD never contract into an fma:
 * on the device they are the _rn intrinsics; on the host the project is
 * built as ISO C, where GCC does not contract, and x86-64's baseline has no
 * fma), so every backend rounds identically. Accuracy: a few ulp over the
 * softmax's range, checked against the C library in the tests.
 *
 * expf: x = n ln2 + r, |r| <= ln2/2 (Cody-Waite with a two-part ln2),
 *       e^r by its Taylor polynomial to r^7 (Horner), scaled by 2^n.
 * logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1,
 *       s = f / (2 + f), log m = 2 atanh(s) by its odd series to s^11.
 * cospi (double, for the cosine learning-rate schedule): cos(pi p) for p
 *       in [0, 1]; p > 1/2 folds to -cos(pi (1 - p)), p > 1/4 turns into
 *       sin(pi (1/2 - p)) (both subtractions exact), so the series run on
 *       |x| <= pi/4: cos to x^16, sin to x^17 (Horner), below 1e-17. The
 *       ends and the middle are exact: cospi(0) = 1, cospi(1/2) = 0,
 *       cospi(1) = -1. Double operations are IEEE-rounded on both sides
 *       too (GN_DMUL..., the _rn intrinsics on the device).
 * GN_FSQRT / GN_DSQRT: the correctly rounded square root of both sides.
 * GN_FFMA(a, b, c): a * b + c rounded once (fmaf; __fmaf_rn), the
 *       multiply-add of the task math's canonical order (ops.h).
 */
#ifndef GN_RUNTIME_MATHF_H
#define GN_RUNTIME_MATHF_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDA_ARCH__
#define GN_MATHF_FN static inline __host__ __device__
#define GN_FMUL(a, b) __fmul_rn((a), (b))
#define GN_FADD(a, b) __fadd_rn((a), (b))
#define GN_FSUB(a, b) __fsub_rn((a), (b))
#define GN_FDIV(a, b) __fdiv_rn((a), (b))
#define GN_FSQRT(a) __fsqrt_rn(a)
#define GN_DMUL(a, b) __dmul_rn((a), (b))
#define GN_DADD(a, b) __dadd_rn((a), (b))
#define GN_DSUB(a, b) __dsub_rn((a), (b))
#define GN_DDIV(a, b) __ddiv_rn((a), (b))
#define GN_DSQRT(a) __dsqrt_rn(a)
#define GN_FFMA(a, b, c) __fmaf_rn((a), (b), (c))
#else
#if defined(__CUDACC__)
#define GN_MATHF_FN static inline __host__ __device__
#else
#define GN_MATHF_FN static inline
#endif
#define GN_FMUL(a, b) ((a) * (b))
#define GN_FADD(a, b) ((a) + (b))
#define GN_FSUB(a, b) ((a) - (b))
#define GN_FDIV(a, b) ((a) / (b))
#define GN_FSQRT(a) sqrtf(a)
#define GN_DMUL(a, b) ((a) * (b))
#define GN_DADD(a, b) ((a) + (b))
#define GN_DSUB(a, b) ((a) - (b))
#define GN_DDIV(a, b) ((a) / (b))
#define GN_DSQRT(a) sqrt(a)
#define GN_FFMA(a, b, c) fmaf((a), (b), (c))
#endif

GN_MATHF_FN float gn_expf(float x)
{
    if (x > 88.0f) return INFINITY;
    if (x < -103.0f) return 0.0f;
    const float ln2_hi = 0.693145751953125f;  /* 12 significant bits: n*ln2_hi exact */
    const float ln2_lo = 1.428606765330187e-06f;
    const float inv_ln2 = 1.44269502162933349609375f;
    float fn = rintf(GN_FMUL(x, inv_ln2));
    int n = (int)fn;
    float r = GN_FSUB(GN_FSUB(x, GN_FMUL(fn, ln2_hi)), GN_FMUL(fn, ln2_lo));
    float p = 1.0f / 5040.0f;
    p = GN_FADD(GN_FMUL(p, r), 1.0f / 720.0f);
    p = GN_FADD(GN_FMUL(p, r), 1.0f / 120.0f);
    p = GN_FADD(GN_FMUL(p, r), 1.0f / 24.0f);
    p = GN_FADD(GN_FMUL(p, r), 1.0f / 6.0f);
    p = GN_FADD(GN_FMUL(p, r), 0.5f);
    p = GN_FADD(GN_FMUL(p, r), 1.0f);
    p = GN_FADD(GN_FMUL(p, r), 1.0f);
    return ldexpf(p, n);
}

GN_MATHF_FN float gn_logf(float x)
{
    if (!(x > 0.0f)) return x == 0.0f ? -INFINITY : NAN;
    if (isinf(x)) return x;
    int e;
    float m = frexpf(x, &e); /* x = m 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752f) {
        m = GN_FMUL(m, 2.0f);
        e -= 1;
    }
    float f = GN_FSUB(m, 1.0f);
    float s = GN_FDIV(f, GN_FADD(2.0f, f));
    float z = GN_FMUL(s, s);
    float p = 1.0f / 11.0f;
    p = GN_FADD(GN_FMUL(p, z), 1.0f / 9.0f);
    p = GN_FADD(GN_FMUL(p, z), 1.0f / 7.0f);
    p = GN_FADD(GN_FMUL(p, z), 1.0f / 5.0f);
    p = GN_FADD(GN_FMUL(p, z), 1.0f / 3.0f);
    p = GN_FADD(GN_FMUL(p, z), 1.0f);
    float logm = GN_FMUL(GN_FMUL(2.0f, s), p);
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
    float fe = (float)e;
    return GN_FADD(GN_FADD(GN_FMUL(fe, ln2_lo), logm), GN_FMUL(fe, ln2_hi));
}

GN_MATHF_FN double gn_cospi(double p)
{
    if (!(p > 0.0)) return 1.0; /* p <= 0 (and NaN): the start */
    if (p >= 1.0) return -1.0;
    double sign = 1.0;
    if (p > 0.5) {
        p = GN_DSUB(1.0, p);
        sign = -1.0;
    }
    const double pi = 3.14159265358979323846;
    if (p <= 0.25) { /* cos x, x = pi p */
        const double x = GN_DMUL(pi, p), z = GN_DMUL(x, x);
        double c = 1.0 / 20922789888000.0;
        c = GN_DSUB(GN_DMUL(c, z), 1.0 / 87178291200.0);
        c = GN_DADD(GN_DMUL(c, z), 1.0 / 479001600.0);
        c = GN_DSUB(GN_DMUL(c, z), 1.0 / 3628800.0);
        c = GN_DADD(GN_DMUL(c, z), 1.0 / 40320.0);
        c = GN_DSUB(GN_DMUL(c, z), 1.0 / 720.0);
        c = GN_DADD(GN_DMUL(c, z), 1.0 / 24.0);
        c = GN_DSUB(GN_DMUL(c, z), 0.5);
        c = GN_DADD(GN_DMUL(c, z), 1.0);
        return GN_DMUL(sign, c);
    }
    /* sin x, x = pi (1/2 - p) */
    const double x = GN_DMUL(pi, GN_DSUB(0.5, p)), z = GN_DMUL(x, x);
    double c = 1.0 / 355687428096000.0;
    c = GN_DSUB(GN_DMUL(c, z), 1.0 / 1307674368000.0);
    c = GN_DADD(GN_DMUL(c, z), 1.0 / 6227020800.0);
    c = GN_DSUB(GN_DMUL(c, z), 1.0 / 39916800.0);
    c = GN_DADD(GN_DMUL(c, z), 1.0 / 362880.0);
    c = GN_DSUB(GN_DMUL(c, z), 1.0 / 5040.0);
    c = GN_DADD(GN_DMUL(c, z), 1.0 / 120.0);
    c = GN_DSUB(GN_DMUL(c, z), 1.0 / 6.0);
    c = GN_DADD(GN_DMUL(c, z), 1.0);
    return GN_DMUL(sign, GN_DMUL(x, c));
}

#endif
