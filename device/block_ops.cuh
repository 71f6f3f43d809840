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
 *                         bias when k0 == 0) over the whole batch, then SGD
 *   gn_op_stat_block      the growth statistic of stat.h, the block's threads
 *                         as its lanes
 */
#ifndef GN_DEVICE_BLOCK_OPS_CUH
#define GN_DEVICE_BLOCK_OPS_CUH

#include "common.cuh"
#include "mathf.h"
#include "model.h"
#include "ops.h"
#include "stat.h"

static_assert(NT == GN_STAT_LANES, "the block's threads are the statistic's lanes");

/* Edge metadata a task stages once, in parallel, before its loops: the
 * weight block, the group at the edge's other end and its width. */
#define GN_BLOCK_EDGES 32
struct gn_block_edge {
    int64_t w;     /* offset of the weight block */
    int32_t other; /* the source (in-edges) or the target (out-edges) */
    int32_t width; /* its width */
};

/* Shared memory of the task math, owned by the caller. The staging regions
 * are double: chunk c + 1 is copied in (cp.async) while chunk c is computed. */
struct gn_block_smem {
    float *a;    /* 2 x (max(tile, KC...), KC)  staged activations or errors */
    float *w;    /* 2 x (KC + 1, max_width) staged weights (update: errors) */
    float *acc;  /* (max(tile, KC), max_width) accumulators */
    double *lane; /* (NT) the statistic's lane sums */
    struct gn_block_edge *edge; /* (GN_BLOCK_EDGES) */
    int32_t a_half, w_half;     /* floats from one staging buffer to the other */
};

/* Floats of each region for a run (the host half sizes the dynamic shared
 * memory with it; gn_block_smem_carve cuts it the same way). */
__host__ __device__ static inline void gn_block_smem_floats(int32_t tile, int32_t max_width,
                                                           int32_t min_width, int32_t *a,
                                                           int32_t *w, int32_t *acc)
{
    const int32_t upd = KC * (4 * NT / min_width + 2);
    *a = 2 * (tile * KC > upd ? tile * KC : upd);
    *w = 2 * (KC + 1) * max_width;
    *acc = (tile > KC ? tile : KC) * max_width;
}

/* The regions in the dynamic shared memory raw (a, w floats as sized by
 * gn_block_smem_floats), with the caller's lane sums and edge metadata. */
__device__ static inline void gn_block_smem_carve(struct gn_block_smem *sm, void *raw, int32_t a,
                                                  int32_t w, double *lane,
                                                  struct gn_block_edge *edge)
{
    sm->a = reinterpret_cast<float *>(raw);
    sm->w = sm->a + a;
    sm->acc = sm->w + w;
    sm->lane = lane;
    sm->edge = edge;
    sm->a_half = a / 2;
    sm->w_half = w / 2;
}

__device__ static inline const float *gn_block_src(const struct gn_buffers *b, int32_t s)
{
    return s == GN_SLOT_INPUT ? b->x : gn_act(b, s);
}

/* Asynchronous 4-byte copies global -> shared (cp.async; zero-filled when
 * !valid, src must still be a mapped address), grouped and waited for. */
__device__ static inline void gn_cp4(float *dst, const float *src, bool valid)
{
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src),
                 "r"(valid ? 4 : 0)
                 : "memory");
}

__device__ static inline void gn_cp_commit(void)
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/* Wait for every group but the newest (the chunk being prefetched). */
__device__ static inline void gn_cp_wait_prev(void)
{
    asm volatile("cp.async.wait_group 1;\n" ::: "memory");
}

/* Threads [0, n) stage the metadata of entries [begin, begin + n) of an
 * edge list (in-edges: the source; out-edges: the target). */
__device__ static void gn_block_edges_load(const struct gn_model *m, const int32_t *list,
                                           int32_t begin, int32_t n, bool in,
                                           struct gn_block_edge *out)
{
    __syncthreads(); /* the previous batch is no longer read */
    const int32_t t = threadIdx.x;
    if (t < n) {
        const struct gn_edge ed = m->edges[list[begin + t]];
        const int32_t o = in ? ed.src : ed.dst;
        out[t].w = ed.w;
        out[t].other = o;
        out[t].width = m->groups[o].width;
    }
    __syncthreads();
}

__device__ static void gn_op_forward_block(const struct gn_model *m, const struct gn_buffers *b,
                                           int32_t g, int32_t r0, int32_t r1,
                                           const struct gn_block_smem &sm)
{
    const struct gn_group gr = m->groups[g];
    const int32_t n = gr.width, R = r1 - r0, tid = threadIdx.x;
    const float *bias = m->params + gr.bias;
    for (int32_t i = tid; i < R * n; i += NT) sm.acc[i] = __ldcg(bias + i % n);
    for (int32_t e0 = 0; e0 < gr.in_count; e0 += GN_BLOCK_EDGES) {
        const int32_t ne = min(GN_BLOCK_EDGES, gr.in_count - e0);
        gn_block_edges_load(m, m->in_list, gr.in_begin + e0, ne, true, sm.edge);
        /* chunks (edge, k0) in canonical order; stage one ahead */
        int32_t se = 0, sk = 0, ce = 0, ck = 0, buf = 0;
        auto stage = [&](int32_t into) {
            if (se >= ne) return;
            const struct gn_block_edge E = sm.edge[se];
            const int32_t K = E.width, kc = min(KC, K - sk);
            const float *a = gn_block_src(b, E.other) + (int64_t)r0 * K + sk;
            const float *W = m->params + E.w + (int64_t)sk * n;
            float *A = sm.a + into * sm.a_half, *Wb = sm.w + into * sm.w_half;
            for (int32_t i = tid; i < R * KC; i += NT) {
                const int32_t r = i / KC, kk = i % KC;
                gn_cp4(A + i, a + (int64_t)r * K + (kk < kc ? kk : 0), kk < kc);
            }
            for (int32_t i = tid; i < kc * n; i += NT) gn_cp4(Wb + i, W + i, true);
            sk += KC;
            if (sk >= K) sk = 0, se++;
        };
        stage(0);
        gn_cp_commit();
        while (ce < ne) {
            stage(buf ^ 1);
            gn_cp_commit();
            gn_cp_wait_prev();
            __syncthreads();
            const int32_t K = sm.edge[ce].width, kc = min(KC, K - ck);
            const float *A = sm.a + buf * sm.a_half, *Wb = sm.w + buf * sm.w_half;
            for (int32_t i = tid; i < R * n; i += NT) {
                const int32_t r = i / n, j = i % n;
                const float *ar = A + r * KC;
                float s = sm.acc[i];
                for (int32_t kk = 0; kk < kc; kk++) s = MAC(s, ar[kk], Wb[kk * n + j]);
                sm.acc[i] = s;
            }
            ck += KC;
            if (ck >= K) ck = 0, ce++;
            buf ^= 1;
            __syncthreads(); /* the buffer just read is the next one staged */
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
    for (int32_t e0 = 0; e0 < gr.out_count; e0 += GN_BLOCK_EDGES) {
        const int32_t ne = min(GN_BLOCK_EDGES, gr.out_count - e0);
        gn_block_edges_load(m, m->out_list, gr.out_begin + e0, ne, false, sm.edge);
        /* chunks (edge, j0) in canonical order; stage one ahead */
        int32_t se = 0, sj = 0, ce = 0, cj = 0, buf = 0;
        auto stage = [&](int32_t into) {
            if (se >= ne) return;
            const struct gn_block_edge E = sm.edge[se];
            const int32_t n = E.width, jc = min(KC, n - sj);
            const float *dt = gn_dz(b, E.other) + (int64_t)r0 * n + sj;
            const float *W = m->params + E.w + sj; /* (K, n) */
            float *A = sm.a + into * sm.a_half, *Wb = sm.w + into * sm.w_half;
            for (int32_t i = tid; i < R * KC; i += NT) {
                const int32_t r = i / KC, jj = i % KC;
                gn_cp4(A + i, dt + (int64_t)r * n + (jj < jc ? jj : 0), jj < jc);
            }
            /* rows padded to KC + 1 floats: the compute loop reads one
             * column across a warp, which would otherwise hit one bank */
            for (int32_t i = tid; i < K * KC; i += NT) {
                const int32_t k = i / KC, jj = i % KC;
                gn_cp4(Wb + k * (KC + 1) + jj, W + (int64_t)k * n + (jj < jc ? jj : 0), jj < jc);
            }
            sj += KC;
            if (sj >= n) sj = 0, se++;
        };
        stage(0);
        gn_cp_commit();
        while (ce < ne) {
            stage(buf ^ 1);
            gn_cp_commit();
            gn_cp_wait_prev();
            __syncthreads();
            const int32_t n = sm.edge[ce].width, jc = min(KC, n - cj);
            const float *A = sm.a + buf * sm.a_half, *Wb = sm.w + buf * sm.w_half;
            for (int32_t i = tid; i < R * K; i += NT) {
                const int32_t r = i / K, k = i % K;
                const float *dr = A + r * KC, *wk = Wb + k * (KC + 1);
                float s = 0.0f;
                for (int32_t jj = 0; jj < jc; jj++) s = MAC(s, dr[jj], wk[jj]);
                sm.acc[i] += s;
            }
            cj += KC;
            if (cj >= n) cj = 0, ce++;
            buf ^= 1;
            __syncthreads(); /* the buffer just read is the next one staged */
        }
    }
    __syncthreads();
    const float *a = gn_act(b, g) + (int64_t)r0 * K;
    float *out = gn_dz(b, g) + (int64_t)r0 * K;
    for (int32_t i = tid; i < R * K; i += NT) out[i] = __ldcg(a + i) > 0.0f ? sm.acc[i] : 0.0f;
}

/* SGD with momentum on one entry (weight decay on weights, not biases),
 * rounded as the host rounds it. */
__device__ static inline void gn_block_sgd(struct gn_model *m, int64_t q, float grad, float lr,
                                           float mu, float wd)
{
    m->grads[q] = grad;
    float v = __fadd_rn(__fadd_rn(__fmul_rn(mu, m->moment[q]), grad), __fmul_rn(wd, m->params[q]));
    m->moment[q] = v;
    m->params[q] = __fsub_rn(m->params[q], __fmul_rn(lr, v));
}

/*
 * Weight gradients and SGD for input rows [k0, k1) of g (the in-edges'
 * blocks stacked in canonical order; k0 == 0 also does the bias), each
 * gradient summed over all rows of the batch in row order (gn_op_grad and
 * gn_op_update of the reference, for one slice of the group's parameters).
 */
__device__ static void gn_op_update_block(struct gn_model *m, const struct gn_buffers *b,
                                          int32_t g, int32_t k0, int32_t k1, float lr, float mu,
                                          float wd, const struct gn_block_smem &sm)
{
    const struct gn_group gr = m->groups[g];
    const int32_t n = gr.width, rows = b->rows, tid = threadIdx.x;
    const float *dz = gn_dz(b, g);
    /* dz rows [r0, r0 + KC) (and, for a weight slice, a's rows of columns
     * [kbase, kbase + kspan)) into staging buffer `into`: errors in the w
     * region, activations in the a region */
    auto stage = [&](int32_t into, int32_t r0, const float *a, int32_t K, int32_t kbase,
                     int32_t kspan) {
        if (r0 >= rows) return;
        const int32_t rc = min(KC, rows - r0);
        float *D = sm.w + into * sm.w_half, *A = sm.a + into * sm.a_half;
        for (int32_t i = tid; i < rc * n; i += NT) gn_cp4(D + i, dz + (int64_t)r0 * n + i, true);
        if (a)
            for (int32_t i = tid; i < rc * kspan; i += NT)
                gn_cp4(A + i, a + (int64_t)(r0 + i / kspan) * K + kbase + i % kspan, true);
    };
    if (k0 == 0) {
        /* db[j] = sum over rows of dz[r][j], in row order, from shared memory */
        float s = 0.0f;
        int32_t buf = 0;
        stage(0, 0, NULL, 0, 0, 0);
        gn_cp_commit();
        for (int32_t r0 = 0; r0 < rows; r0 += KC) {
            stage(buf ^ 1, r0 + KC, NULL, 0, 0, 0);
            gn_cp_commit();
            gn_cp_wait_prev();
            __syncthreads();
            const int32_t rc = min(KC, rows - r0);
            const float *D = sm.w + buf * sm.w_half;
            if (tid < n)
                for (int32_t r = 0; r < rc; r++) s = __fadd_rn(s, D[r * n + tid]);
            buf ^= 1;
            __syncthreads();
        }
        for (int32_t j = tid; j < n; j += NT) gn_block_sgd(m, gr.bias + j, s, lr, mu, 0.0f);
    }
    /* dW[k][j] = sum over r of a[r][k] dz[r][j]: chunks of KC rows staged in
     * shared memory, one ahead; each thread owns up to 4 outputs of a chunk
     * of 4*NT outputs. */
    int32_t off = 0;
    for (int32_t e0 = 0; e0 < gr.in_count && off < k1; e0 += GN_BLOCK_EDGES) {
        const int32_t ne = min(GN_BLOCK_EDGES, gr.in_count - e0);
        gn_block_edges_load(m, m->in_list, gr.in_begin + e0, ne, true, sm.edge);
        for (int32_t e = 0; e < ne && off < k1; e++) {
            const struct gn_block_edge E = sm.edge[e];
            const int32_t K = E.width;
            const int32_t a0 = max(k0, off) - off, a1 = min(k1, off + K) - off;
            off += K;
            if (a0 >= a1) continue;
            const float *a = gn_block_src(b, E.other);
            const int32_t outs = (a1 - a0) * n;
            for (int32_t o0 = 0; o0 < outs; o0 += 4 * NT) {
                const int32_t kbase = a0 + o0 / n;
                const int32_t kspan = min(a1 - kbase, (4 * NT) / n + 2);
                float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                int32_t buf = 0;
                stage(0, 0, a, K, kbase, kspan);
                gn_cp_commit();
                for (int32_t r0 = 0; r0 < rows; r0 += KC) {
                    stage(buf ^ 1, r0 + KC, a, K, kbase, kspan);
                    gn_cp_commit();
                    gn_cp_wait_prev();
                    __syncthreads();
                    const int32_t rc = min(KC, rows - r0);
                    const float *D = sm.w + buf * sm.w_half, *A = sm.a + buf * sm.a_half;
                    for (int32_t q = 0; q < 4; q++) {
                        const int32_t o = o0 + tid + q * NT;
                        if (o >= outs) break;
                        const int32_t k = a0 + o / n - kbase, j = o % n;
                        float s = acc[q];
                        for (int32_t r = 0; r < rc; r++) s = MAC(s, A[r * kspan + k], D[r * n + j]);
                        acc[q] = s;
                    }
                    buf ^= 1;
                    __syncthreads();
                }
                for (int32_t q = 0; q < 4; q++) {
                    const int32_t o = o0 + tid + q * NT;
                    if (o >= outs) break;
                    gn_block_sgd(m, E.w + (int64_t)a0 * n + o, acc[q], lr, mu, wd);
                }
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
