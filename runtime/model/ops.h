/*
 * Per-task math of one training step, the reference (plain C, fp32) that
 * every backend runs or is checked against.
 *
 * Buffers (struct gn_buffers): for every non-input slot g, an activation
 * block act(g) and an error block dz(g), each (B, width(g)) row-major at a
 * fixed offset g * B * max_width; the input's activations are the batch
 * itself, (B, inputs).
 *
 * The ops work on a row range [r0, r1) where rows are independent (forward,
 * loss, backward error), or on the whole batch where they reduce over rows
 * (weight gradients, statistics, update). Each output element is always
 * computed in the same order (in-edges by source position, then k, rows in
 * increasing order), whatever the row range: that is what makes the serial
 * and the threaded backends agree bitwise.
 *
 * The canonical order is the GPU's: every product joins its sum in one
 * fused multiply-add (fmaf, rounded once; GN_FFMA of mathf.h), the
 * instruction the device's block math runs; biases and the backward
 * error's KC-wide partial sums are added with plain, once-rounded adds.
 */
#ifndef GN_RUNTIME_OPS_H
#define GN_RUNTIME_OPS_H

#include <stdint.h>

#include "mathf.h"
#include "model.h"
#include "optim.h"

/* Targets per partial sum of the backward error (the canonical order: the
 * GPU's block math stages this many at a time; ops.c follows it). */
#define GN_OPS_CHUNK 32

struct gn_buffers {
    int32_t batch; /* B: rows allocated */
    int32_t rows;  /* rows of the current minibatch (<= batch) */
    int32_t stride; /* max_width */
    const float *x;   /* (rows, inputs): the minibatch */
    const uint8_t *y; /* (rows) */
    float *act;       /* (max_groups, B, max_width) */
    float *dz;        /* (max_groups, B, max_width) */
    float *row_loss;  /* (B): cross-entropy of each row */
    uint8_t *row_hit; /* (B): 1 when the row's argmax is its label */
    /* The rows the loss is a mean over: 0 means rows (every backend but
     * one); --ranks gives each rank's buffer the global minibatch's rows,
     * so its dz(output) is the single-rank run's. Host reference only: the
     * device's gn_op_loss_block divides by rows (both run gn_loss_row).
     * Last, so the fields the device reads keep their offsets. */
    int32_t loss_rows;
};

#ifdef __cplusplus
extern "C" {
#endif

enum gn_status gn_buffers_init(struct gn_buffers *b, const struct gn_model *m, int32_t batch);
void gn_buffers_free(struct gn_buffers *b);

GN_HD float *gn_act(const struct gn_buffers *b, int32_t g)
{
    return b->act + (int64_t)g * b->batch * b->stride;
}

GN_HD float *gn_dz(const struct gn_buffers *b, int32_t g)
{
    return b->dz + (int64_t)g * b->batch * b->stride;
}

/* Activations of group g (hidden: ReLU, output: logits) for rows [r0, r1). */
void gn_op_forward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                   int32_t r1);

/* Softmax cross-entropy on the output logits for rows [r0, r1): row_loss,
 * row_hit, and dz(output) = (softmax - onehot) / rows (loss_rows when set). */
void gn_op_loss(const struct gn_model *m, const struct gn_buffers *b, int32_t r0, int32_t r1);

/* The loss's rule for row r, which gn_op_loss and the device's loss task
 * both run: softmax cross-entropy of the output's C logits against the
 * row's label (the maximum subtracted first, the exponentials summed in
 * class order) into row_loss[r]; row_hit[r] = 1 when the first maximum is
 * at the label; dz(output)[r][c] = (softmax_c - [c == label]) * inv. */
GN_HD void gn_loss_row(const struct gn_buffers *b, int32_t C, int32_t r, float inv)
{
    const float *z = gn_act(b, GN_SLOT_OUTPUT) + (int64_t)r * C;
    float *dz = gn_dz(b, GN_SLOT_OUTPUT) + (int64_t)r * C;
    int32_t best = 0;
    float mx = z[0];
    for (int32_t c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c], best = c;
    float sum = 0.0f;
    for (int32_t c = 0; c < C; c++) {
        const float ex = gn_expf(GN_FSUB(z[c], mx));
        dz[c] = ex;
        sum += ex;
    }
    const int32_t y = b->y[r];
    b->row_loss[r] = GN_FSUB(gn_logf(sum), GN_FSUB(z[y], mx));
    b->row_hit[r] = best == y;
    const float is = 1.0f / sum;
    for (int32_t c = 0; c < C; c++)
        dz[c] = GN_FMUL(GN_FSUB(GN_FMUL(dz[c], is), c == y ? 1.0f : 0.0f), inv);
}

/* dz(g) for rows [r0, r1) of a hidden group: the error pulled from its
 * successors through the outgoing weights, masked by ReLU'. */
void gn_op_backward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                    int32_t r1);

/* Gradients of g's in-edge weight blocks and bias over all rows, into
 * m->grads; returns their standard deviation (hidden groups' growth
 * statistic; computed for the output too). gn_op_grad_acc, then
 * gn_stat_grad_std. */
float gn_op_grad(struct gn_model *m, const struct gn_buffers *b, int32_t g);

/* The sums of gn_op_grad without the statistic: g's bias and in-edge weight
 * gradients over rows [0, b->rows) in row order, into m->grads, from zero
 * when from_zero, else continuing from the partial sums m->grads holds.
 * Rows split into consecutive shares, each continuing from the previous
 * share's sums, give the bits of one call over all of them (--ranks). */
void gn_op_grad_acc(struct gn_model *m, const struct gn_buffers *b, int32_t g, int from_zero);

/* The optimizer's step (optim.h: the rule gn_optim_apply with the step's
 * constants k from gn_optim_at) on g's bias and in-edge blocks, from
 * m->grads; weight decay on the weights only. */
void gn_op_update(struct gn_model *m, int32_t g, const struct gn_optim_step *k);

/* The rows' loss summed in the GPU's order, in double (the one rule of
 * every backend): the rows in tiles of GN_LOSS_TILE, the tiles added in
 * row order; in a tile, GN_LOSS_LANES lanes each sum GN_LOSS_TILE /
 * GN_LOSS_LANES consecutive rows from zero (gn_loss_lane), then a halving
 * tree combines the lanes (gn_loss_tree_step: lane i takes lane i + w, w =
 * 16, 8, 4, 2, 1), so one warp sums a tile side by side in a few dependent
 * adds, where a walk in row order is a tile's worth of them. A lane past
 * the tile's rows holds zero, which the tree adds exactly. The hits are
 * integers: any order gives the same count. */
#define GN_LOSS_TILE 256
#define GN_LOSS_LANES 32
#define GN_LOSS_LANE_ROWS (GN_LOSS_TILE / GN_LOSS_LANES)

/* Lane `lane`'s share of a tile of n rows: the sum of its rows' losses
 * from zero in row order, and their hits. The losses are other workers'
 * writes: the device reads them from L2 (gn_load_cg_f32, atomics.h). */
GN_HD double gn_loss_lane(const float *row_loss, const uint8_t *row_hit, int32_t n, int32_t lane,
                          uint32_t *hits)
{
    double s = 0.0;
    uint32_t h = 0;
    const int32_t r0 = lane * GN_LOSS_LANE_ROWS;
    const int32_t r1 = r0 + GN_LOSS_LANE_ROWS < n ? r0 + GN_LOSS_LANE_ROWS : n;
    for (int32_t r = r0; r < r1; r++) {
        s += gn_load_cg_f32(row_loss + r);
        h += row_hit[r];
    }
    *hits = h;
    return s;
}

/* One step of the tree: lane i's sum after taking lane i + w's. */
GN_HD double gn_loss_tree_step(double mine, double other)
{
    return mine + other;
}

/* The rows' loss and hits in that order: *loss_sum and *hits continue
 * from what they hold, a tile's sum added at a time. */
GN_HD void gn_loss_sum_rows(const float *row_loss, const uint8_t *row_hit, int32_t n,
                            double *loss_sum, int64_t *hits)
{
    double s = *loss_sum;
    int64_t h = *hits;
    for (int32_t t0 = 0; t0 < n; t0 += GN_LOSS_TILE) {
        const int32_t tn = n - t0 < GN_LOSS_TILE ? n - t0 : GN_LOSS_TILE;
        double lane[GN_LOSS_LANES];
        for (int32_t l = 0; l < GN_LOSS_LANES; l++) {
            uint32_t lh;
            lane[l] = gn_loss_lane(row_loss + t0, row_hit + t0, tn, l, &lh);
            h += lh;
        }
        for (int32_t w = GN_LOSS_LANES / 2; w > 0; w >>= 1)
            for (int32_t i = 0; i < w; i++) lane[i] = gn_loss_tree_step(lane[i], lane[i + w]);
        s += lane[0];
    }
    *loss_sum = s;
    *hits = h;
}

/* The host ops' register blocks by AVX2 where the processor has it (on,
 * the default) or portable C everywhere (off): the same bits either way.
 * For tests, before any op runs; returns whether AVX2 was in use. */
int gn_ops_simd(int on);

/* Sum of row_loss and row_hit over [0, rows) in that order (gn_loss_sum_rows). */
void gn_op_reduce_loss(const struct gn_buffers *b, double *loss_sum, int64_t *hits);

#ifdef __cplusplus
}
#endif

#endif
