/*
 * The optimizers and the learning-rate schedule, written once for every
 * backend (GN_HD): the host's update (gn_op_update, ops.c) and the
 * kernel's (gn_op_update_block, device/block_ops.cuh) run gn_optim_apply
 * on every entry, with the step's constants from gn_optim_at, which each
 * computes from the plan's struct gn_optim and the step's index.
 *
 * The step's constants (s: the step's index counted from the run's start,
 * 0-based, so a resumed run gets the same values; t = s + 1; W = warmup):
 *   lr_s       s < W: lr (s + 1) / W (linear warmup); from s = W on:
 *                constant  lr
 *                cosine    lr_min + (lr - lr_min) (1 + cos(pi u / U)) / 2,
 *                          u = s - W, U = steps_total - W; lr_min from u = U
 *                step      lr gamma^floor(u / step_every)
 *   adam(w)    step_size = lr_s / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t)
 *              (the bias corrections)
 * computed in double from IEEE-rounded +, -, *, / and sqrt only (beta^t
 * by squaring; the cosine is mathf.h's gn_cospi, not the C library's or
 * CUDA's cos, whose last bits differ) and rounded once to float, so every
 * backend gets the same bits. There is no optimizer state besides the two
 * moments: the bias corrections follow from the step's index, which a
 * checkpoint holds.
 *
 * The rule on one entry: w the parameter, m1 the first moment (sgd's
 * momentum), m2 the second moment (adam and adamw only), g the gradient;
 * wd is weight_decay on weights and 0 on biases (biases are never decayed):
 *   sgd    v = mu v + g + wd w                          w -= lr_s v
 *   adam   g' = g + wd w (L2 in the gradient)
 *          m = b1 m + (1 - b1) g'    v2 = b2 v2 + (1 - b2) (g' g')
 *          w -= step_size (m / (sqrt(v2) / bc2_sqrt + eps))
 *   adamw  w -= (lr_s wd) w (decoupled), then adam's rule with g' = g
 * (PyTorch's forms of Adam and AdamW). Each operation is rounded once to
 * float in that order and never contracted into an fma (GN_FMUL and the
 * others of mathf.h are the _rn intrinsics on the device; the host is ISO
 * C), so host and device agree bit for bit.
 */
#ifndef GN_RUNTIME_OPTIM_H
#define GN_RUNTIME_OPTIM_H

#include <math.h>
#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"
#include "mathf.h"

/* The optimizer's settings for a run: part of the plan (cfg.optim on the
 * device), fixed-width, no pointers. */
struct gn_optim {
    int32_t kind;            /* enum gn_optimizer */
    int32_t schedule;        /* enum gn_lr_schedule */
    int64_t warmup;          /* W: steps of linear warmup (0: none) */
    int64_t step_every;      /* step schedule: steps between two decays (>= 1 there) */
    int64_t steps_total;     /* the cosine's end, in steps from the run's start: the
                              * epochs asked for (plan.c), not where --steps stops */
    float lr, lr_min, gamma; /* the rate; the cosine's floor; the step schedule's factor */
    float momentum;          /* sgd */
    float beta1, beta2, eps; /* adam, adamw */
    float weight_decay;      /* weights only */
};
GN_STATIC_ASSERT(sizeof(struct gn_optim) == 64, "gn_optim is part of the plan the device reads");

/* What the rule needs at one step, the same for every entry. */
struct gn_optim_step {
    int32_t kind;               /* enum gn_optimizer */
    float lr;                   /* lr_s */
    float momentum;             /* sgd */
    float beta1, beta2, eps;    /* adam, adamw */
    float one_beta1, one_beta2; /* 1 - beta1, 1 - beta2 */
    float step_size;            /* adam, adamw: lr_s / (1 - beta1^t) */
    float bc2_sqrt;             /* adam, adamw: sqrt(1 - beta2^t) */
    float weight_decay;         /* sgd, adam: L2 in the gradient (adamw: 0) */
    float decay;                /* adamw: lr_s weight_decay (others: 0) */
};

/* b^n for n >= 0 by squaring (at most 63 squarings, each rounded once). */
GN_HD double gn_optim_pow(double b, int64_t n)
{
    double r = 1.0;
    while (n > 0) {
        if (n & 1) r = GN_DMUL(r, b);
        b = GN_DMUL(b, b);
        n >>= 1;
    }
    return r;
}

/* The learning rate of step `step` (0-based, from the run's start). */
GN_HD float gn_optim_lr(const struct gn_optim *o, int64_t step)
{
    const double lr = o->lr;
    if (step < 0) step = 0;
    if (o->warmup > 0 && step < o->warmup)
        return (float)GN_DDIV(GN_DMUL(lr, (double)(step + 1)), (double)o->warmup);
    const int64_t u = step - o->warmup;
    switch (o->schedule) {
    case GN_LR_COSINE: {
        const int64_t U = o->steps_total - o->warmup;
        if (u >= U) return o->lr_min;
        const double lo = o->lr_min;
        const double c = gn_cospi(GN_DDIV((double)u, (double)U));
        return (float)GN_DADD(lo, GN_DMUL(GN_DMUL(GN_DSUB(lr, lo), 0.5), GN_DADD(1.0, c)));
    }
    case GN_LR_STEP: {
        const int64_t k = o->step_every > 0 ? u / o->step_every : 0;
        return (float)GN_DMUL(lr, gn_optim_pow(o->gamma, k));
    }
    default: return o->lr;
    }
}

/* The constants of step `step` (0-based, from the run's start): its rate
 * and, for adam and adamw, the bias corrections of t = step + 1. */
GN_HD struct gn_optim_step gn_optim_at(const struct gn_optim *o, int64_t step)
{
    struct gn_optim_step k;
    k.kind = o->kind;
    k.lr = gn_optim_lr(o, step);
    k.momentum = o->momentum;
    k.beta1 = o->beta1;
    k.beta2 = o->beta2;
    k.eps = o->eps;
    k.one_beta1 = GN_FSUB(1.0f, o->beta1);
    k.one_beta2 = GN_FSUB(1.0f, o->beta2);
    k.step_size = k.lr;
    k.bc2_sqrt = 1.0f;
    k.weight_decay = o->kind == GN_OPTIM_ADAMW ? 0.0f : o->weight_decay;
    k.decay = o->kind == GN_OPTIM_ADAMW ? GN_FMUL(k.lr, o->weight_decay) : 0.0f;
    if (o->kind != GN_OPTIM_SGD) {
        const int64_t t = (step < 0 ? 0 : step) + 1;
        const double bc1 = GN_DSUB(1.0, gn_optim_pow(o->beta1, t));
        const double bc2 = GN_DSUB(1.0, gn_optim_pow(o->beta2, t));
        k.step_size = (float)GN_DDIV((double)k.lr, bc1);
        k.bc2_sqrt = (float)GN_DSQRT(bc2);
    }
    return k;
}

/* The rule on one entry: *w, *m1 and (adam, adamw) *m2 updated from the
 * gradient g; weight: 1 for a weight, 0 for a bias (no decay). sgd neither
 * reads nor writes *m2. */
GN_HD void gn_optim_apply(float *w, float *m1, float *m2, float g, int weight,
                          const struct gn_optim_step *k)
{
    float p = *w;
    if (k->kind == GN_OPTIM_SGD) {
        const float wd = weight ? k->weight_decay : 0.0f;
        const float v = GN_FADD(GN_FADD(GN_FMUL(k->momentum, *m1), g), GN_FMUL(wd, p));
        *m1 = v;
        *w = GN_FSUB(p, GN_FMUL(k->lr, v));
        return;
    }
    if (weight && k->weight_decay != 0.0f) g = GN_FADD(g, GN_FMUL(k->weight_decay, p));
    if (weight && k->decay != 0.0f) p = GN_FSUB(p, GN_FMUL(k->decay, p));
    const float m = GN_FADD(GN_FMUL(k->beta1, *m1), GN_FMUL(k->one_beta1, g));
    const float v = GN_FADD(GN_FMUL(k->beta2, *m2), GN_FMUL(k->one_beta2, GN_FMUL(g, g)));
    *m1 = m;
    *m2 = v;
    const float denom = GN_FADD(GN_FDIV(GN_FSQRT(v), k->bc2_sqrt), k->eps);
    *w = GN_FSUB(p, GN_FMUL(k->step_size, GN_FDIV(m, denom)));
}

#endif
