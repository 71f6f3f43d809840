/*
 * Reference per-task math (see ops.h for the layout and the ordering rule).
 *
 * Loops are ordered so the innermost one runs over the destination width
 * with unit stride (it vectorises), and every reduction is accumulated in a
 * fixed order: forward z[r][j] = b[j] + sum over in-edges (by source
 * position) of sum over k of a[r][k] * W[k][j]; backward errors
 * dz[r][k] = sum over out-edges (by target position) of sum over chunks of
 * GN_OPS_CHUNK targets of (sum over j in the chunk of dz_t[r][j] W[k][j]);
 * weight gradients
 * dW[k][j] = sum over r in increasing order of a[r][k] * dz[r][j]; each
 * product and its sum in one fused multiply-add (fmaf), the GPU's
 * instruction (ops.h). The three multiply-add loops run in register blocks
 * (block_sums: 4 rows or k's by 16 columns, AVX2 where the processor has
 * it, else portable C), each element's terms in the same order as one
 * element at a time; what is left over (rows or k's short of a block)
 * runs the plain loops, built in two clones where the compiler can
 * (target_clones): one for the fma instruction, vectorised, and the
 * portable one calling fmaf. The same bits every way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gn_config.h"
#include "mathf.h"
#include "ops.h"
#include "stat.h"

enum gn_status gn_buffers_init(struct gn_buffers *b, const struct gn_model *m, int32_t batch)
{
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->rows = batch;
    b->stride = m->max_width;
    size_t n = (size_t)m->max_groups * (size_t)batch * (size_t)m->max_width;
    b->act = calloc(n, sizeof(float));
    b->dz = calloc(n, sizeof(float));
    b->row_loss = calloc((size_t)batch, sizeof(float));
    b->row_hit = calloc((size_t)batch, 1);
    if (!b->act || !b->dz || !b->row_loss || !b->row_hit) {
        gn_buffers_free(b);
        return gn_fail(GN_ERR_NOMEM,
                       "cannot allocate activations for %d groups x batch %d (%.1f MiB)",
                       m->max_groups, batch, 2.0 * (double)n * 4 / (1 << 20));
    }
    return GN_OK;
}

void gn_buffers_free(struct gn_buffers *b)
{
    free(b->act);
    free(b->dz);
    free(b->row_loss);
    free(b->row_hit);
    memset(b, 0, sizeof *b);
}

/* x86-64 with a compiler that takes target attributes: the register
 * blocks' AVX2 path, chosen at run time where the processor has it */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GN_OPS_AVX2 1
#else
#define GN_OPS_AVX2 0
#endif

#if GN_HAVE_FMA_CLONES
#define GN_OPS_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define GN_OPS_FMA_CLONES
#endif

static inline const float *src_act(const struct gn_model *m, const struct gn_buffers *b,
                                   int32_t s)
{
    return s == GN_SLOT_INPUT ? b->x : gn_act(b, s);
}

/* The register blocks of the host's multiply-add loops: GN_OPS_RB rows
 * (forward) or k's (weight gradient) by GN_OPS_JB columns, whose sums stay
 * in registers for a whole reduction, where the plain loops keep them in
 * memory and each multiply-add waits on the previous one's store. Every
 * element's sum runs the same terms in the same order either way, so the
 * blocks change no bit, only the speed (test_model: test_ops_blocked). */
#define GN_OPS_RB 4
#define GN_OPS_JB 16

/* One block's sums: for t in [0, steps) in order, and each q < GN_OPS_RB,
 * acc[q][j] = fmaf(a[q * qs + t * ts], bm[t * ldb + j], acc[q][j]) for the
 * block's first `cols` columns (1 to GN_OPS_JB; the rest of acc holds
 * nothing afterwards, and the callers store only the first cols). The forward runs it over k (a: the block's rows of the
 * source, qs = K, ts = 1; bm: the weights' columns), the weight gradient
 * over the rows (a: the block's k's of each row, qs = 1, ts = K; bm: the
 * errors). */
static inline __attribute__((always_inline)) void block_sums_plain(
    const float *a, int64_t qs, int64_t ts, const float *bm, int64_t ldb, int32_t steps,
    int32_t cols, float acc[GN_OPS_RB][GN_OPS_JB])
{
    for (int32_t t = 0; t < steps; t++)
        for (int32_t q = 0; q < GN_OPS_RB; q++) {
            const float av = a[q * qs + t * ts];
            for (int32_t j = 0; j < cols; j++) acc[q][j] = GN_FFMA(av, bm[t * ldb + j], acc[q][j]);
        }
}

#if GN_OPS_AVX2
/* The same with AVX2's fused multiply-add (rounded once, as fmaf): the
 * block's 4 x 16 sums in eight registers; a block of fewer columns reads
 * bm through a mask (no load past its last column). */
static inline __attribute__((always_inline, target("avx2,fma"))) void block_sums_avx2_body(
    const float *a, int64_t qs, int64_t ts, const float *bm, int64_t ldb, int32_t steps,
    int32_t cols, float acc[GN_OPS_RB][GN_OPS_JB])
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
    __m256 c00 = _mm256_loadu_ps(acc[0]), c01 = _mm256_loadu_ps(acc[0] + 8);
    __m256 c10 = _mm256_loadu_ps(acc[1]), c11 = _mm256_loadu_ps(acc[1] + 8);
    __m256 c20 = _mm256_loadu_ps(acc[2]), c21 = _mm256_loadu_ps(acc[2] + 8);
    __m256 c30 = _mm256_loadu_ps(acc[3]), c31 = _mm256_loadu_ps(acc[3] + 8);
    for (int32_t t = 0; t < steps; t++, a += ts, bm += ldb) {
        __m256 b0, b1;
        if (cols == GN_OPS_JB) {
            b0 = _mm256_loadu_ps(bm);
            b1 = _mm256_loadu_ps(bm + 8);
        } else {
            b0 = _mm256_maskload_ps(bm, m0);
            b1 = _mm256_maskload_ps(bm + 8, m1);
        }
        __m256 av = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + qs);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2 * qs);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3 * qs);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
    }
    /* the columns past cols: no result (the callers store the first cols) */
    _mm256_storeu_ps(acc[0], c00), _mm256_storeu_ps(acc[0] + 8, c01);
    _mm256_storeu_ps(acc[1], c10), _mm256_storeu_ps(acc[1] + 8, c11);
    _mm256_storeu_ps(acc[2], c20), _mm256_storeu_ps(acc[2] + 8, c21);
    _mm256_storeu_ps(acc[3], c30), _mm256_storeu_ps(acc[3] + 8, c31);
}

/* Whole blocks, and blocks of fewer columns: the same body, compiled for
 * each (the whole blocks' loads unmasked). */
__attribute__((target("avx2,fma"))) static void block_sums_avx2(
    const float *a, int64_t qs, int64_t ts, const float *bm, int64_t ldb, int32_t steps,
    float acc[GN_OPS_RB][GN_OPS_JB])
{
    block_sums_avx2_body(a, qs, ts, bm, ldb, steps, GN_OPS_JB, acc);
}

__attribute__((target("avx2,fma"))) static void block_sums_avx2_cols(
    const float *a, int64_t qs, int64_t ts, const float *bm, int64_t ldb, int32_t steps,
    int32_t cols, float acc[GN_OPS_RB][GN_OPS_JB])
{
    block_sums_avx2_body(a, qs, ts, bm, ldb, steps, cols, acc);
}
#endif

/* A block's sums to start from: row q from src + q * ld, its first cols
 * values, the rest zero; all zero when src is NULL. A whole block's copy
 * has constant bounds, which the compiler turns into vector moves. */
static inline __attribute__((always_inline)) void block_start(float acc[GN_OPS_RB][GN_OPS_JB],
                                                              const float *src, int64_t ld,
                                                              int32_t cols)
{
    if (src && cols == GN_OPS_JB) {
        for (int32_t q = 0; q < GN_OPS_RB; q++)
            for (int32_t j = 0; j < GN_OPS_JB; j++) acc[q][j] = src[q * ld + j];
        return;
    }
    for (int32_t q = 0; q < GN_OPS_RB; q++)
        for (int32_t j = 0; j < GN_OPS_JB; j++) acc[q][j] = src && j < cols ? src[q * ld + j] : 0.0f;
}

/* 0: the portable blocks even where AVX2 is at hand (gn_ops_simd) */
static int ops_simd = 1;

int gn_ops_simd(int on)
{
    const int was = ops_simd;
    ops_simd = on;
#if GN_OPS_AVX2
    return was && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static void block_sums(const float *a, int64_t qs, int64_t ts, const float *bm, int64_t ldb,
                       int32_t steps, int32_t cols, float acc[GN_OPS_RB][GN_OPS_JB])
{
#if GN_OPS_AVX2
    if (ops_simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        if (cols == GN_OPS_JB)
            block_sums_avx2(a, qs, ts, bm, ldb, steps, acc);
        else
            block_sums_avx2_cols(a, qs, ts, bm, ldb, steps, cols, acc);
        return;
    }
#endif
    block_sums_plain(a, qs, ts, bm, ldb, steps, cols, acc);
}

/* Forward, plain: rows [r0, r1) of group g (the rows short of a block). */
static inline __attribute__((always_inline)) void forward_plain(const struct gn_model *m,
                                                                const struct gn_buffers *b,
                                                                int32_t g, int32_t r0, int32_t r1)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t n = gr->width;
    const float *bias = m->params + gr->bias;
    float *out = gn_act(b, g);
    for (int32_t r = r0; r < r1; r++) {
        float *z = out + (int64_t)r * n;
        for (int32_t j = 0; j < n; j++) z[j] = bias[j];
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        const int32_t K = m->groups[e->src].width;
        const float *a = src_act(m, b, e->src);
        const float *W = m->params + e->w;
        for (int32_t r = r0; r < r1; r++) {
            const float *ar = a + (int64_t)r * K;
            float *z = out + (int64_t)r * n;
            /* no skip of zero inputs: fmaf(0, w, -0) is +0, so skipping
             * would keep a -0 the device's fma turns into +0 */
            for (int32_t k = 0; k < K; k++) {
                const float av = ar[k];
                const float *w = W + (int64_t)k * n;
                for (int32_t j = 0; j < n; j++) z[j] = GN_FFMA(av, w[j], z[j]);
            }
        }
    }
    if (gr->kind == GN_GROUP_HIDDEN) {
        for (int32_t r = r0; r < r1; r++) {
            float *z = out + (int64_t)r * n;
            for (int32_t j = 0; j < n; j++) z[j] = z[j] > 0.0f ? z[j] : 0.0f;
        }
    }
}

GN_OPS_FMA_CLONES void gn_op_forward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                   int32_t r1)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t n = gr->width;
    const int32_t rn = r0 + (r1 - r0) / GN_OPS_RB * GN_OPS_RB; /* rows in whole blocks */
    const int hidden = gr->kind == GN_GROUP_HIDDEN;
    const float *bias = m->params + gr->bias;
    float *out = gn_act(b, g);
    for (int32_t r = r0; r < rn; r += GN_OPS_RB) {
        for (int32_t j0 = 0; j0 < n; j0 += GN_OPS_JB) {
            const int32_t cols = n - j0 < GN_OPS_JB ? n - j0 : GN_OPS_JB;
            float acc[GN_OPS_RB][GN_OPS_JB];
            block_start(acc, bias + j0, 0, cols); /* every row from the bias */
            for (int32_t i = 0; i < gr->in_count; i++) {
                const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
                const int32_t K = m->groups[e->src].width;
                block_sums(src_act(m, b, e->src) + (int64_t)r * K, K, 1, m->params + e->w + j0, n, K,
                           cols, acc);
            }
            for (int32_t q = 0; q < GN_OPS_RB; q++) {
                float *z = out + (int64_t)(r + q) * n + j0;
                for (int32_t j = 0; j < cols; j++)
                    z[j] = hidden ? (acc[q][j] > 0.0f ? acc[q][j] : 0.0f) : acc[q][j];
            }
        }
    }
    if (rn < r1) forward_plain(m, b, g, rn, r1);
}

void gn_op_loss(const struct gn_model *m, const struct gn_buffers *b, int32_t r0, int32_t r1)
{
    const int32_t C = m->classes;
    const float inv = 1.0f / (float)(b->loss_rows > 0 ? b->loss_rows : b->rows);
    for (int32_t r = r0; r < r1; r++)
        gn_loss_row(b, C, r, inv);
}

/* Backward, plain: rows [r0, r1) of group g's error, out-edge e's part
 * (the rows short of a block). */
static inline __attribute__((always_inline)) void backward_plain(const struct gn_model *m,
                                                                 const struct gn_buffers *b,
                                                                 const struct gn_edge *e, float *dz,
                                                                 int32_t K, int32_t r0, int32_t r1)
{
    const int32_t n = m->groups[e->dst].width;
    const float *dt = gn_dz(b, e->dst);
    const float *W = m->params + e->w;
    for (int32_t r = r0; r < r1; r++) {
        const float *dr = dt + (int64_t)r * n;
        float *d = dz + (int64_t)r * K;
        for (int32_t k = 0; k < K; k++) {
            const float *w = W + (int64_t)k * n;
            /* partial sums over chunks of GN_OPS_CHUNK targets, each
             * added on its own: the order the block math stages them */
            for (int32_t j0 = 0; j0 < n; j0 += GN_OPS_CHUNK) {
                const int32_t j1 = j0 + GN_OPS_CHUNK < n ? j0 + GN_OPS_CHUNK : n;
                float s = 0.0f;
                for (int32_t j = j0; j < j1; j++) s = GN_FFMA(dr[j], w[j], s);
                d[k] += s;
            }
        }
    }
}

/* The error: for each out-edge in order, each chunk of GN_OPS_CHUNK
 * targets in order, the chunk's sum from zero (over j in order) added to
 * dz[r][k]. In blocks of 4 rows by 16 k's: a chunk's weights for the
 * block's k's are copied transposed (wt[j][k], a copy: no arithmetic), so
 * the chunk's sums are the blocks' sums over j (block_sums), each element's
 * terms in the same order. */
GN_OPS_FMA_CLONES void gn_op_backward(const struct gn_model *m, const struct gn_buffers *b, int32_t g, int32_t r0,
                    int32_t r1)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t K = gr->width;
    const int32_t rn = r0 + (r1 - r0) / GN_OPS_RB * GN_OPS_RB; /* rows in whole blocks */
    const float *a = gn_act(b, g);
    float *dz = gn_dz(b, g);
    for (int32_t r = r0; r < r1; r++) memset(dz + (int64_t)r * K, 0, (size_t)K * sizeof(float));
    for (int32_t i = 0; i < gr->out_count; i++) {
        const struct gn_edge *e = &m->edges[m->out_list[gr->out_begin + i]];
        const int32_t n = m->groups[e->dst].width;
        const float *dt = gn_dz(b, e->dst);
        const float *W = m->params + e->w;
        for (int32_t k0 = 0; k0 < K && r0 < rn; k0 += GN_OPS_JB) {
            const int32_t cols = K - k0 < GN_OPS_JB ? K - k0 : GN_OPS_JB;
            for (int32_t j0 = 0; j0 < n; j0 += GN_OPS_CHUNK) {
                const int32_t len = n - j0 < GN_OPS_CHUNK ? n - j0 : GN_OPS_CHUNK;
                float wt[GN_OPS_CHUNK][GN_OPS_JB];
                for (int32_t j = 0; j < len; j++)
                    for (int32_t c = 0; c < GN_OPS_JB; c++)
                        wt[j][c] = c < cols ? W[(int64_t)(k0 + c) * n + j0 + j] : 0.0f;
                for (int32_t r = r0; r < rn; r += GN_OPS_RB) {
                    float acc[GN_OPS_RB][GN_OPS_JB];
                    block_start(acc, NULL, 0, cols);
                    block_sums(dt + (int64_t)r * n + j0, n, 1, &wt[0][0], GN_OPS_JB, len, cols, acc);
                    for (int32_t q = 0; q < GN_OPS_RB; q++) {
                        float *d = dz + (int64_t)(r + q) * K + k0;
                        for (int32_t c = 0; c < cols; c++) d[c] += acc[q][c];
                    }
                }
            }
        }
        if (rn < r1) backward_plain(m, b, e, dz, K, rn, r1);
    }
    for (int32_t r = r0; r < r1; r++) {
        const float *ar = a + (int64_t)r * K;
        float *d = dz + (int64_t)r * K;
        for (int32_t k = 0; k < K; k++)
            if (!(ar[k] > 0.0f)) d[k] = 0.0f;
    }
}

/* The weight gradient of one in-edge, plain: dW[k][j] for k in [k0, k1)
 * (the k's short of a block), over every row in order. */
static inline __attribute__((always_inline)) void grad_plain(float *dW, const float *a,
                                                             const float *dz, int32_t rows,
                                                             int32_t K, int32_t n, int32_t k0,
                                                             int32_t k1)
{
    for (int32_t r = 0; r < rows; r++) {
        const float *ar = a + (int64_t)r * K;
        const float *d = dz + (int64_t)r * n;
        for (int32_t k = k0; k < k1; k++) {
            const float av = ar[k]; /* every term, zeros too (forward's note) */
            float *w = dW + (int64_t)k * n;
            for (int32_t j = 0; j < n; j++) w[j] = GN_FFMA(av, d[j], w[j]);
        }
    }
}

GN_OPS_FMA_CLONES void gn_op_grad_acc(struct gn_model *m, const struct gn_buffers *b, int32_t g, int from_zero)
{
    const struct gn_group *gr = &m->groups[g];
    const int32_t n = gr->width;
    const int32_t rows = b->rows;
    const float *dz = gn_dz(b, g);
    float *db = m->grads + gr->bias;
    if (from_zero)
        for (int32_t j = 0; j < n; j++) db[j] = 0.0f;
    for (int32_t r = 0; r < rows; r++) {
        const float *d = dz + (int64_t)r * n;
        for (int32_t j = 0; j < n; j++) db[j] += d[j];
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        const int32_t K = m->groups[e->src].width;
        const int32_t kn = K - K % GN_OPS_RB; /* k's in whole blocks */
        const float *a = src_act(m, b, e->src);
        float *dW = m->grads + e->w;
        for (int32_t k0 = 0; k0 < kn; k0 += GN_OPS_RB) {
            for (int32_t j0 = 0; j0 < n; j0 += GN_OPS_JB) {
                const int32_t cols = n - j0 < GN_OPS_JB ? n - j0 : GN_OPS_JB;
                float acc[GN_OPS_RB][GN_OPS_JB];
                block_start(acc, from_zero ? NULL : dW + (int64_t)k0 * n + j0, n, cols);
                block_sums(a + k0, 1, K, dz + j0, n, rows, cols, acc);
                for (int32_t q = 0; q < GN_OPS_RB; q++)
                    for (int32_t j = 0; j < cols; j++) dW[(int64_t)(k0 + q) * n + j0 + j] = acc[q][j];
            }
        }
        if (kn < K) {
            if (from_zero) memset(dW + (int64_t)kn * n, 0, (size_t)(K - kn) * n * sizeof(float));
            grad_plain(dW, a, dz, rows, K, n, kn, K);
        }
    }
}

float gn_op_grad(struct gn_model *m, const struct gn_buffers *b, int32_t g)
{
    gn_op_grad_acc(m, b, g, 1);
    /* the growth statistic: one formula for every backend (stat.h) */
    return gn_stat_grad_std(m, g);
}

/* One block of len entries at offset o: the shared rule on each. The
 * step's constants are copied and the arrays marked apart (restrict), so
 * the compiler keeps the constants in registers across the stores and
 * runs the rule on a vector of entries at a time: each entry's operations
 * and their rounding are the rule's either way. */
static inline __attribute__((always_inline)) void update_block(struct gn_model *m, int64_t o, int64_t len, int weight,
                         const struct gn_optim_step *kp)
{
    const struct gn_optim_step k = *kp;
    float *restrict w = m->params + o, *restrict m1 = m->moment + o;
    float *restrict m2 = m->moment2 + o;
    const float *restrict gr = m->grads + o;
    for (int64_t i = 0; i < len; i++) gn_optim_apply(w + i, m1 + i, m2 + i, gr[i], weight, &k);
}

GN_OPS_FMA_CLONES void gn_op_update(struct gn_model *m, int32_t g, const struct gn_optim_step *k)
{
    const struct gn_group *gr = &m->groups[g];
    update_block(m, gr->bias, gr->width, 0, k);
    for (int32_t i = 0; i < gr->in_count; i++) {
        const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
        update_block(m, e->w, (int64_t)m->groups[e->src].width * gr->width, 1, k);
    }
}

void gn_op_reduce_loss(const struct gn_buffers *b, double *loss_sum, int64_t *hits)
{
    *loss_sum = 0.0;
    *hits = 0;
    gn_loss_sum_rows(b->row_loss, b->row_hit, b->rows, loss_sum, hits);
}
