/*
 * Block-level task math: each op is its reference in runtime/model/ops.c
 * run by one thread block, with the reference's name plus `_block`, its
 * arguments in the same order (outputs first: the model and buffers, then
 * the group and row range), and the shared memory the caller owns for the
 * whole run last (struct gn_block_smem, cub's TempStorage habit: the
 * persistent worker and the kernel tests hand in the same layout).
 *
 * Every output element is accumulated in the reference's order (in-edges by
 * source position, k, j or rows increasing, MAC: two roundings, no fma), so
 * the results match the host bit for bit (the backward error's per-edge
 * sums are chunked by KC = GN_OPS_CHUNK, which ops.c follows).
 *
 *   gn_op_forward_block   a_g (ReLU) or logits for rows [r0, r1)
 *   gn_op_loss_block      softmax cross-entropy of rows [r0, r1), a thread a row
 *   gn_op_backward_block  dz_g for rows [r0, r1), masked by ReLU'
 *   gn_op_update_block    weight gradients of input rows [k0, k1) (and the
 *                         bias when k0 == 0) over the whole batch, then the
 *                         optimizer's rule (optim.h, shared with the host)
 *   gn_op_stat_block      the growth statistic of stat.h, the block's threads
 *                         as its lanes
 */
#ifndef GN_DEVICE_BLOCK_OPS_CUH
#define GN_DEVICE_BLOCK_OPS_CUH

#include "common.cuh"
#include "mathf.h"
#include "model.h"
#include "ops.h"
#include "optim.h"
#include "stat.h"

static_assert(NT == GN_STAT_LANES, "the block's threads are the statistic's lanes");

/* Shared memory of the task math, owned by the caller. */
struct gn_block_smem {
    float *a;    /* (max(tile, KC...), KC)  staged activations or errors */
    float *w;    /* (KC + 1, max_width) staged weights */
    float *acc;  /* (max(tile, KC), max_width) accumulators */
    double *lane; /* (NT) the statistic's lane sums */
};

/* Floats of each region for a run (the host half sizes the dynamic shared
 * memory with it; the kernel carves it the same way). */
__host__ __device__ static inline void gn_block_smem_floats(int32_t tile, int32_t max_width,
                                                           int32_t min_width, int32_t *a,
                                                           int32_t *w, int32_t *acc)
{
    const int32_t upd = KC * (4 * NT / min_width + 2);
    *a = tile * KC > upd ? tile * KC : upd;
    *w = (KC + 1) * max_width;
    *acc = (tile > KC ? tile : KC) * max_width;
}

__device__ static inline const float *gn_block_src(const struct gn_buffers *b, int32_t s)
{
    return s == GN_SLOT_INPUT ? b->x : gn_act(b, s);
}

__device__ static void gn_op_forward_block(const struct gn_model *m, const struct gn_buffers *b,
                                           int32_t g, int32_t r0, int32_t r1,
                                           const struct gn_block_smem &sm)
{
    const struct gn_group gr = m->groups[g];
    const int32_t n = gr.width, R = r1 - r0, tid = threadIdx.x;
    const float *bias = m->params + gr.bias;
    for (int32_t i = tid; i < R * n; i += NT) sm.acc[i] = __ldcg(bias + i % n);
    for (int32_t e = 0; e < gr.in_count; e++) {
        const struct gn_edge ed = m->edges[m->in_list[gr.in_begin + e]];
        const int32_t K = m->groups[ed.src].width;
        const float *a = gn_block_src(b, ed.src) + (int64_t)r0 * K;
        const float *W = m->params + ed.w;
        for (int32_t k0 = 0; k0 < K; k0 += KC) {
            const int32_t kc = min(KC, K - k0);
            __syncthreads();
            for (int32_t i = tid; i < R * KC; i += NT) {
                int32_t r = i / KC, kk = i % KC;
                sm.a[i] = kk < kc ? __ldcg(a + (int64_t)r * K + k0 + kk) : 0.0f;
            }
            for (int32_t i = tid; i < kc * n; i += NT) sm.w[i] = __ldcg(W + (int64_t)k0 * n + i);
            __syncthreads();
            for (int32_t i = tid; i < R * n; i += NT) {
                const int32_t r = i / n, j = i % n;
                const float *ar = sm.a + r * KC;
                float s = sm.acc[i];
                for (int32_t kk = 0; kk < kc; kk++) s = MAC(s, ar[kk], sm.w[kk * n + j]);
                sm.acc[i] = s;
            }
        }
    }
    __syncthreads();
    float *out = gn_act(b, g) + (int64_t)r0 * n;
    const bool relu = gr.kind == GN_GROUP_HIDDEN;
    for (int32_t i = tid; i < R * n; i += NT) {
        float v = sm.acc[i];
        out[i] = relu ? fmaxf(v, 0.0f) : v;
    }
}

__device__ static void gn_op_loss_block(const struct gn_model *m, const struct gn_buffers *b,
                                        int32_t r0, int32_t r1)
{
    const int32_t C = m->classes;
    const float inv = 1.0f / (float)b->rows;
    for (int32_t r = r0 + (int32_t)threadIdx.x; r < r1; r += NT) {
        const float *z = gn_act(b, GN_SLOT_OUTPUT) + (int64_t)r * C;
        float *dz = gn_dz(b, GN_SLOT_OUTPUT) + (int64_t)r * C;
        int32_t best = 0;
        float mx = z[0];
        for (int32_t c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c], best = c;
        float sum = 0.0f;
        for (int32_t c = 0; c < C; c++) {
            float ex = gn_expf(__fsub_rn(z[c], mx));
            dz[c] = ex;
            sum += ex;
        }
        const int32_t y = b->y[r];
        b->row_loss[r] = __fsub_rn(gn_logf(sum), __fsub_rn(z[y], mx));
        b->row_hit[r] = best == y;
        const float is = 1.0f / sum;
        for (int32_t c = 0; c < C; c++)
            dz[c] = __fmul_rn(__fsub_rn(__fmul_rn(dz[c], is), c == y ? 1.0f : 0.0f), inv);
    }
}

__device__ static void gn_op_backward_block(const struct gn_model *m, const struct gn_buffers *b,
                                            int32_t g, int32_t r0, int32_t r1,
                                            const struct gn_block_smem &sm)
{
    const struct gn_group gr = m->groups[g];
    const int32_t K = gr.width, R = r1 - r0, tid = threadIdx.x;
    for (int32_t i = tid; i < R * K; i += NT) sm.acc[i] = 0.0f;
    for (int32_t e = 0; e < gr.out_count; e++) {
        const struct gn_edge ed = m->edges[m->out_list[gr.out_begin + e]];
        const int32_t n = m->groups[ed.dst].width;
        const float *dt = gn_dz(b, ed.dst) + (int64_t)r0 * n;
        const float *W = m->params + ed.w; /* (K, n) */
        for (int32_t j0 = 0; j0 < n; j0 += KC) {
            const int32_t jc = min(KC, n - j0);
            __syncthreads();
            for (int32_t i = tid; i < R * KC; i += NT) {
                int32_t r = i / KC, jj = i % KC;
                sm.a[i] = jj < jc ? __ldcg(dt + (int64_t)r * n + j0 + jj) : 0.0f;
            }
            /* rows padded to KC + 1 floats: the compute loop below reads one
             * column across a warp, which would otherwise hit one bank */
            for (int32_t i = tid; i < K * KC; i += NT) {
                int32_t k = i / KC, jj = i % KC;
                sm.w[k * (KC + 1) + jj] = jj < jc ? __ldcg(W + (int64_t)k * n + j0 + jj) : 0.0f;
            }
            __syncthreads();
            for (int32_t i = tid; i < R * K; i += NT) {
                const int32_t r = i / K, k = i % K;
                const float *dr = sm.a + r * KC, *wk = sm.w + k * (KC + 1);
                float s = 0.0f;
                for (int32_t jj = 0; jj < jc; jj++) s = MAC(s, dr[jj], wk[jj]);
                sm.acc[i] += s;
            }
        }
    }
    __syncthreads();
    const float *a = gn_act(b, g) + (int64_t)r0 * K;
    float *out = gn_dz(b, g) + (int64_t)r0 * K;
    for (int32_t i = tid; i < R * K; i += NT) out[i] = __ldcg(a + i) > 0.0f ? sm.acc[i] : 0.0f;
}

/* The gradient of entry q, then the optimizer's rule on it: the host's
 * very function (optim.h), so it rounds as the host rounds. weight: 1 for
 * a weight (decayed), 0 for a bias. */
__device__ static inline void gn_block_update(struct gn_model *m, int64_t q, float grad,
                                              int weight, const struct gn_optim_step &k)
{
    m->grads[q] = grad;
    gn_optim_apply(m->params + q, m->moment + q, m->moment2 + q, grad, weight, &k);
}

/*
 * Weight gradients and the optimizer's step for input rows [k0, k1) of g
 * (the in-edges' blocks stacked in canonical order; k0 == 0 also does the
 * bias), each gradient summed over all rows of the batch in row order
 * (gn_op_grad and gn_op_update of the reference, for one slice of the
 * group's parameters); k: the step's constants (gn_optim_at).
 */
__device__ static void gn_op_update_block(struct gn_model *m, const struct gn_buffers *b,
                                          int32_t g, int32_t k0, int32_t k1,
                                          const struct gn_optim_step &k,
                                          const struct gn_block_smem &sm)
{
    const struct gn_group gr = m->groups[g];
    const int32_t n = gr.width, rows = b->rows, tid = threadIdx.x;
    const float *dz = gn_dz(b, g);
    if (k0 == 0) {
        /* db[j] = sum over rows of dz[r][j], in row order, from shared memory */
        float s = 0.0f;
        for (int32_t r0 = 0; r0 < rows; r0 += KC) {
            const int32_t rc = min(KC, rows - r0);
            __syncthreads();
            for (int32_t i = tid; i < rc * n; i += NT) sm.acc[i] = __ldcg(dz + (int64_t)r0 * n + i);
            __syncthreads();
            if (tid < n)
                for (int32_t r = 0; r < rc; r++) s = __fadd_rn(s, sm.acc[r * n + tid]);
        }
        for (int32_t j = tid; j < n; j += NT) gn_block_update(m, gr.bias + j, s, 0, k);
    }
    /* dW[k][j] = sum over r of a[r][k] dz[r][j]: chunks of KC rows staged in
     * shared memory; each thread owns up to 4 outputs of a chunk of 4*NT. */
    int32_t off = 0;
    for (int32_t e = 0; e < gr.in_count && off < k1; e++) {
        const struct gn_edge ed = m->edges[m->in_list[gr.in_begin + e]];
        const int32_t K = m->groups[ed.src].width;
        const int32_t a0 = max(k0, off) - off, a1 = min(k1, off + K) - off;
        off += K;
        if (a0 >= a1) continue;
        const float *a = gn_block_src(b, ed.src);
        const int32_t outs = (a1 - a0) * n;
        for (int32_t o0 = 0; o0 < outs; o0 += 4 * NT) {
            const int32_t kbase = a0 + o0 / n;
            const int32_t kspan = min(a1 - kbase, (4 * NT) / n + 2);
            float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int32_t r0 = 0; r0 < rows; r0 += KC) {
                const int32_t rc = min(KC, rows - r0);
                __syncthreads();
                for (int32_t i = tid; i < rc * n; i += NT)
                    sm.acc[i] = __ldcg(dz + (int64_t)r0 * n + i);
                for (int32_t i = tid; i < rc * kspan; i += NT)
                    sm.a[i] = __ldcg(a + (int64_t)(r0 + i / kspan) * K + kbase + i % kspan);
                __syncthreads();
                for (int32_t q = 0; q < 4; q++) {
                    const int32_t o = o0 + tid + q * NT;
                    if (o >= outs) break;
                    const int32_t k = a0 + o / n - kbase, j = o % n;
                    float s = acc[q];
                    for (int32_t r = 0; r < rc; r++) s = MAC(s, sm.a[r * kspan + k], sm.acc[r * n + j]);
                    acc[q] = s;
                }
            }
            for (int32_t q = 0; q < 4; q++) {
                const int32_t o = o0 + tid + q * NT;
                if (o >= outs) break;
                gn_block_update(m, ed.w + (int64_t)a0 * n + o, acc[q], 1, k);
            }
        }
    }
    __syncthreads();
}

/* The growth statistic of g (stat.h) into groups[g].grad_std: thread i is
 * lane i; the halving tree in shared memory. Every part of g's update must
 * be finished and visible (the caller's acquire). */
__device__ static void gn_op_stat_block(struct gn_model *m, int32_t g,
                                        const struct gn_block_smem &sm)
{
    const uint32_t lane = threadIdx.x;
    const double cnt = gn_stat_count(m, g);
    double mean = 0.0;
    for (int centred = 0; centred < 2; centred++) {
        sm.lane[lane] = gn_stat_lane(m, g, lane, centred, mean);
        __syncthreads();
        for (uint32_t stride = GN_STAT_LANES / 2; stride > 0; stride /= 2) {
            gn_stat_tree_step(sm.lane, lane, stride);
            __syncthreads();
        }
        const double total = sm.lane[0];
        __syncthreads();
        if (!centred) mean = total / cnt;
        else if (lane == 0) m->groups[g].grad_std = (float)sqrt(total / cnt);
    }
}

#endif
