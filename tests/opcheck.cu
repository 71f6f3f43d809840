/*
 * The kernel tests' device half: one device block operation run alone, so
 * tests/test_kernel_ops.c can compare it with its host reference bit for
 * bit (the dav1d checkasm habit).
 *
 * gn_opcheck_run: every array of the host model (pools, lists) and buffers
 * (activations, errors, loss rows, the batch) is copied to a fresh device
 * allocation; a struct gn_model and a struct gn_buffers holding the device
 * pointers go to device memory, as the persistent kernel's state holds
 * them (launch.cu). One block of NT threads then runs the op with its
 * dynamic shared memory sized and carved as the persistent kernel carves
 * it (gn_block_smem_floats and gn_block_smem_carve; the lane sums static),
 * and every array comes back over the host's. All device memory is freed
 * on every path. Built only into the test program, never into libgenet.
 */
#include <stdio.h>

/* The task math's phase marks (block_ops.cuh) clock thread 0 here, as the
 * persistent kernel's profile does (worker.cuh): gn_opcheck_time reports
 * them; a plain run ignores them. */
enum { GN_OPT_EDGES, GN_OPT_STAGE, GN_OPT_MATH, GN_OPT_APPLY, GN_OPT_PHASES };
static __shared__ unsigned long long gn_opt_cyc[GN_OPT_PHASES];
static __shared__ unsigned long long gn_opt_at;
#define GN_BLOCK_MARK(phase)                                                                       \
    do {                                                                                           \
        if (threadIdx.x == 0) {                                                                    \
            const unsigned long long now_ = clock64();                                             \
            gn_opt_cyc[GN_OPT_##phase] += now_ - gn_opt_at;                                        \
            gn_opt_at = now_;                                                                      \
        }                                                                                          \
    } while (0)

#include "device/block_ops.cuh"
#include "grow.h"
#include "opcheck.h"

#ifndef GN_CUDA_ARCH_BUILT
#define GN_CUDA_ARCH_BUILT 90
#endif

/* The ops with products (forward, backward, update) at precision P. */
template <int P>
static __device__ __forceinline__ void gn_opcheck_products(struct gn_model *m, struct gn_buffers *b,
                                           const struct gn_opcheck_args &a,
                                           const struct gn_block_smem &sm)
{
    /* the op's group's record, as the worker hands it in (its position's) */
    const struct gn_group gr = m->groups[a.op == GN_OPCHECK_FORWARD_LOSS ? GN_SLOT_OUTPUT : a.g];
    switch (a.op) {
    case GN_OPCHECK_FORWARD: gn_op_forward_block<P>(m, b, gr, a.g, a.r0, a.r1, sm); break;
    case GN_OPCHECK_FORWARD_LOSS:
        /* as the worker runs the output's forward task (worker.cuh) */
        gn_op_forward_block<P>(m, b, gr, GN_SLOT_OUTPUT, a.r0, a.r1, sm);
        __syncthreads();
        gn_op_loss_block(m, b, a.r0, a.r1);
        break;
    case GN_OPCHECK_BACKWARD: gn_op_backward_block<P>(m, b, gr, a.g, a.r0, a.r1, sm); break;
    case GN_OPCHECK_UPDATE: {
        /* the step's constants computed here, on the device, as the
         * persistent kernel computes them at a step's start */
        const struct gn_optim_step k = gn_optim_at(&a.optim, a.step);
        gn_op_update_block<P>(m, b, gr, a.g, a.k0, a.k1, k, sm);
        break;
    }
    }
}

/* One run of op a by the block. Inlined, as the persistent kernel inlines
 * the ops into its worker loop: called, the op spills (ptxas) and the
 * timing measures the spills. */
static __device__ __forceinline__ void gn_opcheck_op(struct gn_model *m, struct gn_buffers *b,
                                     const struct gn_opcheck_args &a,
                                     const struct gn_block_smem &sm)
{
    switch (a.op) {
    case GN_OPCHECK_FORWARD:
    case GN_OPCHECK_FORWARD_LOSS:
    case GN_OPCHECK_BACKWARD:
    case GN_OPCHECK_UPDATE:
        if (a.precision == GN_PRECISION_TF32)
            gn_opcheck_products<GN_PRECISION_TF32>(m, b, a, sm);
        else if (a.precision == GN_PRECISION_BF16)
            gn_opcheck_products<GN_PRECISION_BF16>(m, b, a, sm);
        else
            gn_opcheck_products<GN_PRECISION_FP32>(m, b, a, sm);
        break;
    case GN_OPCHECK_LOSS: gn_op_loss_block(m, b, a.r0, a.r1); break;
    case GN_OPCHECK_STAT: gn_op_stat_block(m, a.g, sm); break;
    case GN_OPCHECK_GROW:
        gn_grow_apply(m, a.g, (enum gn_dup_kind)a.kind, a.child, a.e0, a.p0, a.step, a.seed,
                      a.noise, threadIdx.x, NT);
        break;
    case GN_OPCHECK_MARK: {
        __shared__ float median;
        const int32_t n = m->n_groups, mid = gn_grow_median_rank(n - 2);
        if (threadIdx.x == 0) median = 0.0f;
        __syncthreads();
        for (int32_t p = 1 + (int32_t)threadIdx.x; p < n - 1; p += NT)
            if (gn_grow_rank(m, p) == mid) median = m->groups[m->order[p]].grad_std;
        __syncthreads();
        const struct gn_grow_rule rule = {a.criterion, a.threshold, a.ratio,
                                          gn_grow_reference(n - 2, median)};
        for (int32_t g = (int32_t)threadIdx.x; g < n; g += NT) gn_grow_mark_one(m, g, &rule);
        break;
    }
    }
}

static_assert((int)GN_OPCHECK_VEC_A == (int)GN_BLOCK_VEC_A &&
                  (int)GN_OPCHECK_VEC_W == (int)GN_BLOCK_VEC_W &&
                  (int)GN_OPCHECK_VEC_N == (int)GN_BLOCK_VEC_N,
              "opcheck.h names block_ops.cuh's staging flags");

/* gn_block_vec_sm at the end of the last launch's ops */
static __device__ int gn_opcheck_vec_dev;
static int gn_opcheck_vec_host;

extern "C" int gn_opcheck_vec_flags(void)
{
    return gn_opcheck_vec_host;
}

/* reps rounds of the n_ops ops (each op in turn); with cyc, thread 0's
 * cycles of all of them by phase, then in all (cyc[GN_OPT_PHASES]), each
 * round between two __syncthreads. */
static __global__ void __launch_bounds__(NT)
    gn_opcheck_kernel(struct gn_model *m, struct gn_buffers *b,
                      const struct gn_opcheck_args *ops, int32_t n_ops, int32_t smem_stage,
                      int32_t smem_acc, int32_t reps, unsigned long long *cyc)
{
    __shared__ double lane_sums[GN_STAT_LANES];
    const struct gn_block_smem sm = gn_block_smem_carve(smem_stage, smem_acc, lane_sums);
    /* edges read through the model's lists (the kernel's records of them
     * are checked end to end by test_gpu) */
    if (threadIdx.x == 0) {
        gn_block_rec_sm[0] = gn_block_rec_sm[1] = NULL;
        gn_block_vec_sm = 0;
        gn_block_pre_reset();
        gn_block_tma_init();
        for (int i = 0; i < GN_OPT_PHASES; i++) gn_opt_cyc[i] = 0;
    }
    unsigned long long total = 0;
    for (int32_t rep = 0; rep < reps; rep++) {
        __syncthreads();
        const unsigned long long t0 = clock64();
        if (threadIdx.x == 0) gn_opt_at = t0;
        for (int32_t i = 0; i < n_ops; i++) {
            if (i > 0) __syncthreads();
            const struct gn_opcheck_args a = ops[i];
            gn_opcheck_op(m, b, a, sm);
        }
        __syncthreads();
        total += clock64() - t0;
    }
    if (threadIdx.x == 0) gn_opcheck_vec_dev = gn_block_vec_sm;
    if (cyc && threadIdx.x == 0) {
        for (int i = 0; i < GN_OPT_PHASES; i++) cyc[i] = gn_opt_cyc[i];
        cyc[GN_OPT_PHASES] = total;
    }
}

extern "C" int gn_opcheck_device(char *why, size_t len)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, len, "no usable CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    if (count <= 0) {
        snprintf(why, len, "no CUDA device present");
        return 0;
    }
    cudaDeviceProp p;
    e = cudaGetDeviceProperties(&p, 0);
    if (e != cudaSuccess) {
        snprintf(why, len, "cannot read device 0: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    if (p.major * 10 + p.minor < GN_CUDA_ARCH_BUILT) {
        snprintf(why, len, "%s has compute capability %d.%d; this build targets sm_%d", p.name,
                 p.major, p.minor, GN_CUDA_ARCH_BUILT);
        return 0;
    }
    e = cudaSetDevice(0);
    if (e != cudaSuccess) {
        snprintf(why, len, "cannot use device 0: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    snprintf(why, len, "%s (sm_%d%d, %d SMs)", p.name, p.major, p.minor,
             p.multiProcessorCount);
    return 1;
}

/* One array travelling both ways. */
struct gn_opcheck_array {
    void **dev;  /* where its device pointer goes */
    void *host;  /* uploaded from, downloaded into when back */
    size_t bytes;
    int back;
};

static enum gn_status gn_opcheck_launch(struct gn_model *m, struct gn_buffers *b,
                                        const struct gn_opcheck_args *ops, int32_t n_ops,
                                        int32_t reps, double *us)
{
    struct gn_opcheck_args *dops = NULL;
    const struct gn_opcheck_args *a = ops; /* the shared memory's size: the largest tile */
    for (int32_t i = 1; i < n_ops; i++)
        if (ops[i].tile > a->tile) a = &ops[i];
    enum gn_status st = GN_OK;
    struct gn_model hm = *m;   /* the scalars, then the device arrays */
    struct gn_buffers hb = *b;
    struct gn_model *dm = NULL;
    struct gn_buffers *db = NULL;
    float *dx = NULL;
    uint8_t *dy = NULL;
    const size_t MG = (size_t)m->max_groups, ME = (size_t)m->max_edges;
    const size_t MP = (size_t)m->max_params, B = (size_t)b->batch;
    const size_t nact = MG * B * (size_t)b->stride;
    struct gn_opcheck_array t[] = {
        {(void **)&hm.groups, m->groups, MG * sizeof *m->groups, 1},
        {(void **)&hm.edges, m->edges, ME * sizeof *m->edges, 1},
        {(void **)&hm.params, m->params, MP * sizeof(float), 1},
        {(void **)&hm.grads, m->grads, MP * sizeof(float), 1},
        {(void **)&hm.moment, m->moment, MP * sizeof(float), 1},
        {(void **)&hm.moment2, m->moment2, MP * sizeof(float), 1},
        {(void **)&hm.order, m->order, MG * sizeof(int32_t), 1},
        {(void **)&hm.in_list, m->in_list, ME * sizeof(int32_t), 1},
        {(void **)&hm.out_list, m->out_list, ME * sizeof(int32_t), 1},
        {(void **)&hb.act, b->act, nact * sizeof(float), 1},
        {(void **)&hb.dz, b->dz, nact * sizeof(float), 1},
        {(void **)&hb.row_loss, b->row_loss, B * sizeof(float), 1},
        {(void **)&hb.row_hit, b->row_hit, B, 1},
        {(void **)&dx, (void *)b->x, B * (size_t)m->inputs * sizeof(float), 0},
        {(void **)&dy, (void *)b->y, B, 0},
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    for (int i = 0; i < n; i++) *t[i].dev = NULL;
    unsigned long long hcyc[GN_OPT_PHASES + 1], *dcyc = NULL;

    int32_t sstage, sacc;
    gn_block_smem_floats(a->tile, m->max_width, &sstage, &sacc);
    const size_t smem = gn_block_smem_bytes(sstage, sacc);
    {
        int optin = 0;
        cudaFuncAttributes fa;
        GN_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
        GN_CUDA_TRY(cudaFuncGetAttributes(&fa, gn_opcheck_kernel));
        if (smem + fa.sharedSizeBytes > (size_t)optin) {
            st = gn_fail(GN_ERR_INVALID,
                         "tile %d, widths %d..%d: %zu B of shared memory (+%zu static), the "
                         "device allows %d",
                         a->tile, a->min_width, m->max_width, smem, fa.sharedSizeBytes, optin);
            goto error;
        }
        GN_CUDA_TRY(cudaFuncSetAttribute(gn_opcheck_kernel,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    }

    for (int i = 0; i < n; i++) {
        GN_CUDA_TRY(cudaMalloc(t[i].dev, t[i].bytes ? t[i].bytes : 1));
        if (t[i].bytes)
            GN_CUDA_TRY(cudaMemcpy(*t[i].dev, t[i].host, t[i].bytes, cudaMemcpyHostToDevice));
    }
    hb.x = dx;
    hb.y = dy;
    GN_CUDA_TRY(cudaMalloc(&dm, sizeof *dm));
    GN_CUDA_TRY(cudaMalloc(&db, sizeof *db));
    GN_CUDA_TRY(cudaMemcpy(dm, &hm, sizeof hm, cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(db, &hb, sizeof hb, cudaMemcpyHostToDevice));

    if (us) GN_CUDA_TRY(cudaMalloc(&dcyc, sizeof hcyc));
    GN_CUDA_TRY(cudaMalloc(&dops, (size_t)n_ops * sizeof *dops));
    GN_CUDA_TRY(cudaMemcpy(dops, ops, (size_t)n_ops * sizeof *dops, cudaMemcpyHostToDevice));
    gn_opcheck_kernel<<<1, NT, smem>>>(dm, db, dops, n_ops, sstage, sacc, reps, dcyc);
    GN_CUDA_TRY(cudaGetLastError());
    GN_CUDA_TRY(cudaDeviceSynchronize());
    GN_CUDA_TRY(cudaMemcpyFromSymbol(&gn_opcheck_vec_host, gn_opcheck_vec_dev, sizeof(int)));
    if (us) {
        int khz = 0;
        GN_CUDA_TRY(cudaMemcpy(hcyc, dcyc, sizeof hcyc, cudaMemcpyDeviceToHost));
        GN_CUDA_TRY(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
        for (int i = 0; i <= GN_OPT_PHASES; i++)
            us[i] = (double)hcyc[i] / ((double)khz * 1e-3) / (double)reps;
    }

    for (int i = 0; i < n; i++)
        if (t[i].back && t[i].bytes)
            GN_CUDA_TRY(cudaMemcpy(t[i].host, *t[i].dev, t[i].bytes, cudaMemcpyDeviceToHost));
error:
    for (int i = 0; i < n; i++) cudaFree(*t[i].dev);
    cudaFree(dm);
    cudaFree(db);
    cudaFree(dcyc);
    cudaFree(dops);
    return st;
}

extern "C" enum gn_status gn_opcheck_run(struct gn_model *m, struct gn_buffers *b,
                                         const struct gn_opcheck_args *a)
{
    return gn_opcheck_launch(m, b, a, 1, 1, NULL);
}

extern "C" enum gn_status gn_opcheck_time(struct gn_model *m, struct gn_buffers *b,
                                          const struct gn_opcheck_args *a, int32_t reps,
                                          double us[GN_OPCHECK_PHASES + 1])
{
    return gn_opcheck_time_mix(m, b, a, 1, reps, us);
}

extern "C" enum gn_status gn_opcheck_time_mix(struct gn_model *m, struct gn_buffers *b,
                                              const struct gn_opcheck_args *ops, int32_t n_ops,
                                              int32_t reps, double us[GN_OPCHECK_PHASES + 1])
{
    static_assert(GN_OPCHECK_PHASES == GN_OPT_PHASES, "the phases of opcheck.h");
    if (n_ops < 1) return gn_fail(GN_ERR_INVALID, "gn_opcheck_time_mix: no ops");
    return gn_opcheck_launch(m, b, ops, n_ops, reps < 1 ? 1 : reps, us);
}
