/*
 * The host half of the CUDA backend's device side: allocation, launch and
 * the calls the backend (cuda.c) polls and streams through.
 *
 * Allocation is planned before anything is taken: every device buffer of
 * the run goes into one table (what, how many bytes, where the pointer
 * goes); the table's sum is the run's device memory, checked against what
 * the device has free and printed; then the table is allocated. The sum is
 * the allocation, so the estimate cannot drift from it. Nothing is
 * allocated after gn_cuda_create().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "block_ops.cuh"
#include "device.h"
#include "state.cuh"

struct gn_cuda_alloc {
    void **ptr;   /* where the device pointer goes */
    size_t bytes;
};

struct gn_cuda_run {
    struct gn_dev h;     /* host copy of the device state (device pointers) */
    struct gn_dev *d;    /* the device state */
    struct gn_cuda_ctl *ctl;       /* mapped: host pointer */
    struct gn_cuda_epoch *epochs;  /* mapped: host pointer */
    struct gn_cuda_block_stat *bstat; /* mapped: host pointer */
    struct gn_cuda_trace_step *tsteps; /* mapped: host pointer (NULL: no trace) */
    unsigned char *tsnaps;             /* mapped: host pointer */
    double *step_loss;             /* mapped: host pointer */
    int64_t *step_time;            /* mapped: host pointer */
    float *stage_x[GN_CUDA_NBUF];
    uint8_t *stage_y[GN_CUDA_NBUF];
    struct gn_cuda_slot *stage_rec[GN_CUDA_NBUF]; /* pinned: the records the loader copies */
    int32_t *stage_order[GN_CUDA_NORDER];            /* pinned: epoch orders (resident) */
    struct gn_cuda_slot *stage_orec[GN_CUDA_NORDER];
    cudaStream_t kstream, cstream;
    size_t smem;
    int per_sm;                  /* worker blocks an SM: which entry runs */
    int64_t device_bytes;
    gn_atomic_u64 *slots;        /* the queue's slots */
    struct gn_cuda_alloc *table; /* (n_table) the planned device buffers */
    int n_table, cap_table;
    int n_allocated;             /* table entries allocated so far */
};

/* Plan one device buffer of count elements of *ptr's type. */
#define GN_PLAN(ptr, count) plan(r, (void **)&(ptr), (size_t)(count) * sizeof *(ptr))

static enum gn_status plan(struct gn_cuda_run *r, void **ptr, size_t bytes)
{
    if (r->n_table == r->cap_table) {
        int cap = r->cap_table ? 2 * r->cap_table : 64;
        void *t = realloc(r->table, (size_t)cap * sizeof *r->table);
        if (!t) return gn_fail(GN_ERR_NOMEM, "out of host memory planning device buffers");
        r->table = (struct gn_cuda_alloc *)t;
        r->cap_table = cap;
    }
    /* 256-byte granules: what cudaMalloc hands out at least */
    bytes = bytes ? (bytes + 255) & ~(size_t)255 : 256;
    r->table[r->n_table].ptr = ptr;
    r->table[r->n_table].bytes = bytes;
    r->n_table++;
    r->device_bytes += (int64_t)bytes;
    return GN_OK;
}

/* Allocate and zero every planned buffer. */
static enum gn_status allocate(struct gn_cuda_run *r)
{
    enum gn_status st = GN_OK;
    for (; r->n_allocated < r->n_table; r->n_allocated++) {
        const struct gn_cuda_alloc *a = &r->table[r->n_allocated];
        *a->ptr = NULL;
        GN_CUDA_TRY(cudaMalloc(a->ptr, a->bytes));
        GN_CUDA_TRY(cudaMemset(*a->ptr, 0, a->bytes));
    }
    return GN_OK;
error:
    if (r->n_allocated < r->n_table && *r->table[r->n_allocated].ptr) r->n_allocated++;
    return st;
}

/* Every device buffer of the run, planned. */
static enum gn_status plan_buffers(struct gn_cuda_run *r, const struct gn_plan *cfg,
                                   const struct gn_model *m, uint32_t cap_tasks,
                                   uint32_t cap_edges, uint32_t parts_cap, uint32_t blocks)
{
    struct gn_dev *h = &r->h;
    const size_t B = (size_t)cfg->batch, MG = (size_t)m->max_groups, mw = (size_t)m->max_width;
    enum gn_status st;
#define P(ptr, count)                                                                              \
    if ((st = GN_PLAN(ptr, count))) return st
    P(h->m.groups, m->max_groups);
    P(h->m.edges, m->max_edges);
    P(h->m.params, m->max_params);
    P(h->m.grads, m->max_params);
    P(h->m.moment, m->max_params);
    P(h->m.moment2, m->max_params);
    P(h->m.order, m->max_groups);
    P(h->m.in_list, m->max_edges);
    P(h->m.out_list, m->max_edges);
    P(h->child_of, MG);
    P(h->scratch, MG);
    P(h->cursor, MG);
    P(h->ev, MG);
    P(h->space, MG);
    P(h->b.act, MG * B * mw);
    P(h->b.dz, MG * B * mw);
    P(h->b.row_loss, B);
    P(h->b.row_hit, B);
    P(h->xring, (size_t)GN_CUDA_NBUF * B * cfg->inputs);
    P(h->yring, (size_t)GN_CUDA_NBUF * B);
    P(h->slot_rec, GN_CUDA_NBUF);
    P(h->test_x, (size_t)cfg->test_count * cfg->inputs);
    P(h->test_y, (size_t)cfg->test_count);
    P(r->slots, cap_tasks);
    P(h->train.succ_begin, cap_tasks + 1);
    P(h->train.succ, cap_edges);
    P(h->train.indeg_init, cap_tasks);
    P(h->train.indeg, cap_tasks);
    P(h->train.roots, cap_tasks);
    P(h->eval.succ_begin, cap_tasks + 1);
    P(h->eval.indeg_init, cap_tasks);
    P(h->eval.indeg, cap_tasks);
    P(h->eval.roots, cap_tasks);
    P(h->task_deg, cap_tasks);
    P(h->blk_sum, blocks);
    P(h->upd_base, MG + 1);
    P(h->upd_pos, parts_cap);
    P(h->upd_rows, MG);
    P(h->edge_cut, m->max_edges);
    P(h->upd_done, MG);
    P(h->in_rec, m->max_edges);
    P(h->out_rec, m->max_edges);
    P(h->pos_rec, MG);
#if GN_BLOCK_TAKE_REC
    P(h->pos_first, MG * 2 * GN_BLOCK_TAKE_REC);
#endif
#ifdef GN_DIAG_TIMELINE
    P(h->tl, cap_tasks); /* the task timeline (state.cuh) */
#endif
    /* pruning's scratch (prune.cuh): the maps, the parameter blocks and
     * their new offsets, and one copy of the largest array it compacts */
    const bool pruning = cfg->prune_threshold > 0.0f;
    const size_t PG = pruning ? MG : 1, PE = pruning ? (size_t)m->max_edges : 1;
    h->prune_ecopy = (PG * sizeof(struct gn_group) + 15) & ~(size_t)15;
    size_t copy = h->prune_ecopy + PE * sizeof(struct gn_edge);
    if (pruning && copy < (size_t)m->max_params * sizeof(float))
        copy = (size_t)m->max_params * sizeof(float);
    P(h->prune_map, PG);
    P(h->prune_emap, PE);
    P(h->prune_blk, PG + PE);
    P(h->prune_at, PG + PE);
    P(h->prune_buf, copy);
    P(r->d, 1);
#undef P
    return GN_OK;
}

/* Map a pinned host buffer of bytes into *host and its device alias. */
static enum gn_status mapped(void **host, void **dev, size_t bytes)
{
    enum gn_status st = GN_OK;
    GN_CUDA_TRY(cudaHostAlloc(host, bytes, cudaHostAllocMapped));
    memset(*host, 0, bytes);
    GN_CUDA_TRY(cudaHostGetDevicePointer(dev, *host, 0));
    return GN_OK;
error:
    return st;
}

/*
 * Blocks an SM when the plan leaves it open: two (twice the workers, 128
 * registers a thread) where the graph's levels hold at least as many
 * forward tasks as the card has SMs on average (its hidden and output
 * groups times the tiles, over its depth), else one (255 registers: a
 * task's math runs faster, and a step's critical path is what costs). Why
 * this line: docs/PERF.md ("One block or two an SM"). Decided at launch
 * from the starting graph; growth does not move it.
 */
/* The SMs of device 0, made current. */
static enum gn_status gn_cuda_sms(int *sms)
{
    enum gn_status st = GN_OK;
    int dev = 0;
    GN_CUDA_TRY(cudaSetDevice(0));
    GN_CUDA_TRY(cudaGetDevice(&dev));
    GN_CUDA_TRY(cudaDeviceGetAttribute(sms, cudaDevAttrMultiProcessorCount, dev));
    return GN_OK;
error:
    return st;
}

static int gn_cuda_blocks_per_sm(const struct gn_model *m, const struct gn_plan *cfg, int sms)
{
    return gn_plan_cuda_many(cfg->batch, m->n_groups - 1, m->depth, sms, GN_CUDA_BLOCKS_FEW,
                             cfg->tile_asked > 0 ? cfg->tile : 0)
               ? GN_CUDA_BLOCKS_MANY
               : GN_CUDA_BLOCKS_FEW;
}

extern "C" enum gn_status gn_cuda_create(struct gn_cuda_run **out, const struct gn_plan *asked,
                                         const struct gn_model *m, const float *test_x,
                                         const uint8_t *test_y, const float *train_x,
                                         const uint8_t *train_y, char *info, size_t info_len,
                                         struct gn_setup *setup)
{
    int64_t t_part = gn_now_ns();
    enum gn_status st = GN_OK;
    struct gn_cuda_run *r = (struct gn_cuda_run *)calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return gn_fail(GN_ERR_NOMEM, "out of memory");
    /* the plan, with the tile chosen here unless --tile gave it: from the
     * starting graph and the workers the launch will have (one or two
     * blocks an SM: gn_plan_cuda_many) */
    struct gn_plan pl = *asked;
    const struct gn_plan *cfg = &pl;
    int sms = 0, want = 1;
    if ((st = gn_cuda_sms(&sms))) {
        free(r);
        return st;
    }
    want = asked->blocks_per_sm > 0 ? asked->blocks_per_sm : gn_cuda_blocks_per_sm(m, asked, sms);
    if (asked->tile_asked <= 0) {
        pl.tile = gn_plan_cuda_tile(pl.batch, m->n_groups - 1, m->depth, sms * want);
        pl.tiles = (pl.batch + pl.tile - 1) / pl.tile;
    }
    struct gn_dev *h = &r->h;
    const uint32_t MG = (uint32_t)m->max_groups, ME = (uint32_t)m->max_edges;
    const uint32_t T = (uint32_t)cfg->tiles;
    const uint32_t parts_cap = (uint32_t)GN_CUDA_MAX_PARTS * MG;
    const uint32_t cap_tasks = 2 * MG * T + parts_cap;
    const uint32_t cap_edges = T * (3 * ME + 2 * MG + GN_CUDA_MAX_PARTS * (MG + ME));
    gn_block_smem_floats(cfg->tile, m->max_width, &h->smem_stage, &h->smem_acc);
    r->smem = gn_block_smem_bytes(h->smem_stage, h->smem_acc);
    /* sms x want blocks at most (the launch may lower want, below) */
    if ((st = plan_buffers(r, cfg, m, cap_tasks, cap_edges, parts_cap, (uint32_t)(sms * want))))
        goto error;
    {
        size_t free_b = 0, total_b = 0;
        GN_CUDA_TRY(cudaSetDevice(0));
        GN_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
        if ((size_t)r->device_bytes + (64u << 20) > free_b) {
            st = gn_fail(GN_ERR_NOMEM,
                         "the run needs %.1f MiB of device memory, the device has %.1f MiB free "
                         "(lower --max-groups, --max-params or --batch)",
                         r->device_bytes / 1048576.0, free_b / 1048576.0);
            goto error;
        }
        /* the training set on the device where it fits beside the rest,
         * with a quarter of the free memory to spare */
        const size_t nt = (size_t)cfg->n_train;
        const size_t tbytes =
            nt * (size_t)cfg->inputs * sizeof(float) + nt + GN_CUDA_NORDER * nt * sizeof(int32_t);
        if (train_x && train_y && nt > 0 && !cfg->stream_data &&
            (size_t)r->device_bytes + tbytes + (64u << 20) <= free_b - free_b / 4) {
            h->resident = 1;
            if ((st = GN_PLAN(h->train_x, nt * (size_t)cfg->inputs)) ||
                (st = GN_PLAN(h->train_y, nt)) || (st = GN_PLAN(h->order, GN_CUDA_NORDER * nt)) ||
                (st = GN_PLAN(h->order_rec, GN_CUDA_NORDER)))
                goto error;
        }
    }
    gn_setup_mark(setup, "dev_query", &t_part);
    if ((st = allocate(r))) goto error;
    gn_setup_mark(setup, "dev_alloc", &t_part);
    if (h->resident) {
        const size_t nt = (size_t)cfg->n_train;
        GN_CUDA_TRY(cudaMemcpy(h->train_x, train_x, nt * (size_t)cfg->inputs * sizeof(float),
                               cudaMemcpyHostToDevice));
        GN_CUDA_TRY(cudaMemcpy(h->train_y, train_y, nt, cudaMemcpyHostToDevice));
        for (int i = 0; i < GN_CUDA_NORDER; i++) {
            void *p;
            GN_CUDA_TRY(cudaHostAlloc(&p, nt * sizeof(int32_t), cudaHostAllocDefault));
            r->stage_order[i] = (int32_t *)p;
            GN_CUDA_TRY(cudaHostAlloc(&p, sizeof(struct gn_cuda_slot), cudaHostAllocDefault));
            r->stage_orec[i] = (struct gn_cuda_slot *)p;
        }
    }
    gn_setup_mark(setup, "dev_train_set", &t_part);

    h->cfg = *cfg;
    {
        /* the network: the host model's scalars, the device's arrays */
        struct gn_model dm = h->m;
        h->m = *m;
        h->m.groups = dm.groups;
        h->m.edges = dm.edges;
        h->m.params = dm.params;
        h->m.grads = dm.grads;
        h->m.moment = dm.moment;
        h->m.moment2 = dm.moment2;
        h->m.order = dm.order;
        h->m.in_list = dm.in_list;
        h->m.out_list = dm.out_list;
    }
    gn_grow_pools_init(&h->pools, m);
    h->grow_round = cfg->grow_round;
    h->b.batch = cfg->batch;
    h->b.rows = cfg->batch;
    h->b.stride = m->max_width;
    /* The queue's no-progress bound (spins) stretches with the barrier
     * timeout when the timeout scale raised it (20 s is its default), for
     * runs under compute-sanitizer. */
    {
        const int64_t scale = cfg->wait_timeout_ns / (20ll * 1000000000);
        gn_queue_init(&h->queue, r->slots, cap_tasks,
                      scale > 1 ? GN_QUEUE_SPIN_LIMIT * (uint64_t)scale : 0);
    }
    gn_barrier_init(&h->bar);
    h->parts_cap = parts_cap;
    h->eval.succ = h->train.succ;
    h->train.cap_tasks = h->eval.cap_tasks = cap_tasks;
    h->train.cap_edges = h->eval.cap_edges = cap_edges;
    h->dag_cap_tasks = cap_tasks;
    h->dag_cap_edges = cap_edges;

    GN_CUDA_TRY(cudaMemcpy(h->m.groups, m->groups, (size_t)m->n_groups * sizeof *m->groups, cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.edges, m->edges, (size_t)m->n_edges * sizeof *m->edges, cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.params, m->params, (size_t)m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.moment, m->moment, (size_t)m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.moment2, m->moment2, (size_t)m->n_params * sizeof(float), cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.order, m->order, (size_t)m->n_groups * sizeof(int32_t), cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.in_list, m->in_list, (size_t)m->n_edges * sizeof(int32_t), cudaMemcpyHostToDevice));
    GN_CUDA_TRY(cudaMemcpy(h->m.out_list, m->out_list, (size_t)m->n_edges * sizeof(int32_t), cudaMemcpyHostToDevice));
    if (cfg->test_count > 0) {
        GN_CUDA_TRY(cudaMemcpy(h->test_x, test_x, (size_t)cfg->test_count * cfg->inputs * sizeof(float), cudaMemcpyHostToDevice));
        GN_CUDA_TRY(cudaMemcpy(h->test_y, test_y, (size_t)cfg->test_count, cudaMemcpyHostToDevice));
    }
    gn_setup_mark(setup, "dev_upload", &t_part);

    /* mapped control block, loss and time logs, epoch records; pinned staging */
    {
        void *p;
        const size_t nl = (size_t)(cfg->steps_total < GN_CUDA_LOSS_LOG ? cfg->steps_total : GN_CUDA_LOSS_LOG);
        const size_t ne = (size_t)(cfg->steps_total / cfg->steps_per_epoch + 2);
        if ((st = mapped((void **)&r->ctl, &p, sizeof(struct gn_cuda_ctl)))) goto error;
        h->ctl = (struct gn_cuda_ctl *)p;
        if ((st = mapped((void **)&r->step_loss, &p, (nl + 1) * sizeof(double)))) goto error;
        h->step_loss = (double *)p;
        if ((st = mapped((void **)&r->step_time, &p, (nl + 1) * sizeof(int64_t)))) goto error;
        h->step_time = (int64_t *)p;
        if ((st = mapped((void **)&r->epochs, &p, ne * sizeof(struct gn_cuda_epoch)))) goto error;
        h->epochs = (struct gn_cuda_epoch *)p;
        for (int i = 0; i < GN_CUDA_NBUF; i++) {
            GN_CUDA_TRY(cudaHostAlloc(&p, (size_t)cfg->batch * cfg->inputs * sizeof(float), cudaHostAllocDefault));
            r->stage_x[i] = (float *)p;
            GN_CUDA_TRY(cudaHostAlloc(&p, (size_t)cfg->batch, cudaHostAllocDefault));
            r->stage_y[i] = (uint8_t *)p;
            GN_CUDA_TRY(cudaHostAlloc(&p, sizeof(struct gn_cuda_slot), cudaHostAllocDefault));
            r->stage_rec[i] = (struct gn_cuda_slot *)p;
        }
    }
    GN_CUDA_TRY(cudaStreamCreateWithFlags(&r->kstream, cudaStreamNonBlocking));
    GN_CUDA_TRY(cudaStreamCreateWithFlags(&r->cstream, cudaStreamNonBlocking));
    gn_setup_mark(setup, "dev_pinned", &t_part);

    /* the grid: every block resident; one or two blocks an SM (the
     * kernel's two entries of the plan's precision, kernel.cu),
     * gn_cuda_blocks_per_sm unless the plan says */
    {
        /* the entry that will run, asked with its own attribute set: where
         * fewer blocks fit an SM than wanted, the entry changes with their
         * count (the one-block entry has its own registers), so each count
         * is asked of its own entry; both entries may take the stage (the
         * launch's fall-back, gn_cuda_launch, runs the one-block entry) */
        int per_sm = 0;
        for (int k = 1; k <= 2; k++)
            GN_CUDA_TRY(cudaFuncSetAttribute(gn_cuda_kernel_entry(k, cfg->precision),
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)r->smem));
        for (;;) {
            GN_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                &per_sm, gn_cuda_kernel_entry(want, cfg->precision), NT, r->smem));
            if (per_sm >= want || want == 1) break;
            want = per_sm > 1 ? per_sm : 1;
        }
        if (per_sm < 1) {
            st = gn_fail(GN_ERR_DEVICE, "the kernel does not fit an SM (%zu bytes of shared memory)",
                         r->smem);
            goto error;
        }
        r->per_sm = want;
        h->blocks = sms * want;
        snprintf(info, info_len,
                 "%d worker blocks (%d SMs x %d, %d resident possible) of %d threads, %zu B shared "
                 "memory each; %.1f MiB of device memory in %d buffers taken at start; tiles of "
                 "%d rows%s; %s products; %s",
                 h->blocks, sms, want, per_sm, NT, r->smem, r->device_bytes / 1048576.0,
                 r->n_table, cfg->tile, asked->tile_asked > 0 ? " (--tile)" : "",
                 gn_precision_name((enum gn_precision)cfg->precision),
                 h->resident ? "the training set on the device, minibatches assembled there"
                             : "minibatches streamed from the host");
        void *p;
        if ((st = mapped((void **)&r->bstat, &p, (size_t)h->blocks * sizeof *r->bstat)))
            goto error;
        h->bstat = (struct gn_cuda_block_stat *)p;
        if (cfg->trace) {
            h->tslot = gn_cuda_trace_slot_bytes(m->max_groups, m->max_edges);
            if ((st = mapped((void **)&r->tsteps, &p,
                             GN_CUDA_TRACE_STEPS * sizeof(struct gn_cuda_trace_step))))
                goto error;
            h->tsteps = (struct gn_cuda_trace_step *)p;
            if ((st = mapped((void **)&r->tsnaps, &p, GN_CUDA_TRACE_SNAPS * h->tslot))) goto error;
            h->tsnaps = (unsigned char *)p;
        }
    }
    GN_CUDA_TRY(cudaMemcpy(r->d, h, sizeof *h, cudaMemcpyHostToDevice));
    /* a cudaMemcpy from pageable memory may return before its DMA ends,
     * and the kernel's stream (non-blocking) does not wait for the default
     * stream's copies: every upload done before the launch (the default
     * stream only: another run's kernel in this process is not waited for) */
    GN_CUDA_TRY(cudaStreamSynchronize(0));
    gn_setup_mark(setup, "dev_kernel", &t_part);
    *out = r;
    return GN_OK;
error:
    snprintf(info, info_len, "%s", gn_error_message());
    gn_cuda_destroy(r);
    return st == GN_OK ? GN_ERR_DEVICE : st;
}

static cudaError_t gn_cuda_launch_grid(struct gn_cuda_run *r)
{
    void *args[] = {&r->d};
    return cudaLaunchCooperativeKernel(gn_cuda_kernel_entry(r->per_sm, r->h.cfg.precision),
                                       dim3(r->h.blocks), dim3(NT), args, r->smem, r->kstream);
}

extern "C" enum gn_status gn_cuda_launch(struct gn_cuda_run *r)
{
    enum gn_status st = GN_OK;
    /* fault injection for the gpu suite: GN_CUDA_INJECT_REFUSE=1 takes the
     * first launch at two blocks an SM as refused, so the fall-back runs */
    const char *refuse = getenv("GN_CUDA_INJECT_REFUSE");
    cudaError_t e = r->per_sm > 1 && refuse && refuse[0] == '1' ? cudaErrorCooperativeLaunchTooLarge
                                                                  : gn_cuda_launch_grid(r);
    if (e == cudaErrorCooperativeLaunchTooLarge && r->per_sm > 1) {
        /* the occupancy query allowed the blocks an SM and the cooperative
         * launch did not (no such case is known: the refusals of the
         * thirty-ninth round were the launch's own bug, the one-block entry
         * run without its shared-memory attribute, fixed in the fortieth):
         * the one-block entry on one block an SM instead, the same plan
         * (every buffer was sized for the larger grid; the device derives
         * what depends on the blocks from h.blocks) */
        (void)cudaGetLastError();
        const int sms = r->h.blocks / r->per_sm;
        fprintf(stderr,
                "genet-rt: the cooperative launch refused %d blocks (%d an SM, %zu B of shared "
                "memory each) that the occupancy query allowed; running %d (one an SM; "
                "--cuda-blocks-per-sm 1 chooses this from the start)\n",
                r->h.blocks, r->per_sm, r->smem, sms);
        r->per_sm = 1;
        r->h.blocks = sms;
        /* on the kernel's stream: ordered before the launch (a plain
         * cudaMemcpy from pageable memory may return before its DMA ends,
         * and kstream does not wait for the legacy stream) */
        GN_CUDA_TRY(cudaMemcpyAsync(r->d, &r->h, sizeof r->h, cudaMemcpyHostToDevice, r->kstream));
        e = gn_cuda_launch_grid(r);
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return gn_fail(GN_ERR_DEVICE, "cudaLaunchCooperativeKernel of %d blocks (%d an SM, %zu B of "
                       "shared memory each): %s", r->h.blocks, r->per_sm, r->smem,
                       cudaGetErrorString(e));
    }
    return GN_OK;
error:
    return st;
}
extern "C" int32_t gn_cuda_blocks(struct gn_cuda_run *r)
{
    return r->h.blocks;
}

extern "C" struct gn_cuda_ctl *gn_cuda_ctl(struct gn_cuda_run *r)
{
    return r->ctl;
}

extern "C" const struct gn_cuda_epoch *gn_cuda_epochs(struct gn_cuda_run *r)
{
    return r->epochs;
}

extern "C" const struct gn_cuda_block_stat *gn_cuda_block_stats(struct gn_cuda_run *r)
{
    return r->bstat;
}

extern "C" const struct gn_cuda_trace_step *gn_cuda_trace_steps(struct gn_cuda_run *r)
{
    return r->tsteps;
}

extern "C" const unsigned char *gn_cuda_trace_snaps(struct gn_cuda_run *r)
{
    return r->tsnaps;
}

extern "C" const double *gn_cuda_step_loss(struct gn_cuda_run *r)
{
    return r->step_loss;
}

extern "C" const int64_t *gn_cuda_step_time(struct gn_cuda_run *r)
{
    return r->step_time;
}

extern "C" float *gn_cuda_staging_x(struct gn_cuda_run *r, int slot)
{
    return r->stage_x[slot];
}

extern "C" uint8_t *gn_cuda_staging_y(struct gn_cuda_run *r, int slot)
{
    return r->stage_y[slot];
}

/* A slot's record (k + 1, rows) after its data on the copy stream, then
 * the wait for both: the kernel that sees the record sees the data
 * (gn_cuda_push_batch, gn_cuda_push_order). */
static enum gn_status push_record(struct gn_cuda_run *r, struct gn_cuda_slot *dev,
                                  struct gn_cuda_slot *stage, int64_t k, int32_t rows)
{
    enum gn_status st = GN_OK;
    stage->ready = k + 1;
    stage->rows = rows;
    GN_CUDA_TRY(cudaMemcpyAsync(dev, stage, sizeof *stage, cudaMemcpyHostToDevice, r->cstream));
    GN_CUDA_TRY(cudaStreamSynchronize(r->cstream));
    return GN_OK;
error:
    return st;
}

extern "C" int gn_cuda_resident(struct gn_cuda_run *r)
{
    return r->h.resident;
}

extern "C" int32_t *gn_cuda_staging_order(struct gn_cuda_run *r, int slot)
{
    return r->stage_order[slot];
}

extern "C" enum gn_status gn_cuda_push_order(struct gn_cuda_run *r, int slot, int64_t epoch)
{
    enum gn_status st = GN_OK;
    const size_t nt = (size_t)r->h.cfg.n_train;
    GN_CUDA_TRY(cudaMemcpyAsync(r->h.order + (size_t)slot * nt, r->stage_order[slot],
                                nt * sizeof(int32_t), cudaMemcpyHostToDevice, r->cstream));
    return push_record(r, r->h.order_rec + slot, r->stage_orec[slot], epoch, (int32_t)nt);
error:
    return st;
}

extern "C" enum gn_status gn_cuda_push_batch(struct gn_cuda_run *r, int slot, int64_t step, int32_t rows)
{
    enum gn_status st = GN_OK;
    const struct gn_plan *c = &r->h.cfg;
    GN_CUDA_TRY(cudaMemcpyAsync(r->h.xring + (size_t)slot * c->batch * c->inputs, r->stage_x[slot],
                             (size_t)rows * c->inputs * sizeof(float), cudaMemcpyHostToDevice, r->cstream));
    GN_CUDA_TRY(cudaMemcpyAsync(r->h.yring + (size_t)slot * c->batch, r->stage_y[slot], (size_t)rows,
                             cudaMemcpyHostToDevice, r->cstream));
    return push_record(r, r->h.slot_rec + slot, r->stage_rec[slot], step, rows);
error:
    return st;
}

static const char *fault_name(int32_t f)
{
    switch (f) {
    case GN_CUDA_FAULT_STUCK: return "a queue wait made no progress (stuck task)";
    case GN_CUDA_FAULT_BARRIER: return "a grid barrier did not open in time";
    case GN_CUDA_FAULT_NO_DATA: return "no minibatch or epoch order came from the host loader in time";
    case GN_CUDA_FAULT_INVARIANT: return "a scheduler invariant broke";
    case GN_CUDA_FAULT_INDEX: return "a bad group, edge or task index";
    case GN_CUDA_FAULT_NUMERIC: return "NaN or Inf in the loss or a gradient, or the loss exploded";
    case GN_CUDA_FAULT_DIED: return "the network died";
    case GN_CUDA_FAULT_SNAPSHOT:
        return "the host did not answer a pause in time (a checkpoint snapshot, room in the "
               "trace, or a pruning round)";
    }
    return "unknown fault";
}

extern "C" int gn_cuda_ended(struct gn_cuda_run *r)
{
    return cudaStreamQuery(r->kstream) != cudaErrorNotReady;
}

#ifdef GN_DIAG_TIMELINE
/* The diagnostic build's task timeline (state.cuh, gn_dev_tl): the tasks
 * of the run's last training step, one CSV line each, to the file that
 * GN_DIAG_TIMELINE_OUT names (tools/bench/timeline.py reads it). */
static void gn_cuda_tl_dump(struct gn_cuda_run *r)
{
    const char *path = getenv("GN_DIAG_TIMELINE_OUT");
    if (!path || !r->h.tl) return;
    const size_t n = r->h.dag_cap_tasks;
    struct gn_dev_tl *t = (struct gn_dev_tl *)malloc(n * sizeof *t);
    FILE *f = t ? fopen(path, "w") : NULL;
    if (f && cudaMemcpy(t, r->h.tl, n * sizeof *t, cudaMemcpyDeviceToHost) == cudaSuccess) {
        int64_t last = -1;
        for (size_t i = 0; i < n; i++)
            if (t[i].start && t[i].step > last) last = t[i].step;
        fprintf(f, "task,kind,pos,tile,worker,step,ready,maker,take,start,done,rel,pre,upd_op,"
                   "upd_stat,stat_sum1,stat_tree1,stat_sum2,ph_edges,ph_stage,ph_math,ph_apply,"
                   "ap_search,ap_load,ap_rule,ap_store,ahead\n");
        for (size_t i = 0; i < n; i++) {
            if (!t[i].start || t[i].step != last) continue;
            const int fresh = t[i].ready && t[i].rstep == last;
            fprintf(f,
                    "%zu,%d,%d,%d,%d,%lld,%llu,%lld,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,"
                    "%llu,%u,%u,%u,%u,%u,%u,%u,%u,%d\n",
                    i, t[i].kind, t[i].pos, t[i].tile, t[i].worker, (long long)t[i].step,
                    (unsigned long long)(fresh ? t[i].ready : 0),
                    fresh ? (long long)t[i].maker : -1LL, (unsigned long long)t[i].take,
                    (unsigned long long)t[i].start, (unsigned long long)t[i].done,
                    (unsigned long long)t[i].rel, (unsigned long long)t[i].pre,
                    (unsigned long long)t[i].upd_op, (unsigned long long)t[i].upd_stat,
                    (unsigned long long)t[i].stat[0], (unsigned long long)t[i].stat[1],
                    (unsigned long long)t[i].stat[2], t[i].ph[0], t[i].ph[1], t[i].ph[2],
                    t[i].ph[3], t[i].ap[0], t[i].ap[1], t[i].ap[2], t[i].ap[3], t[i].ahead);
        }
        fprintf(stderr, "task timeline of step %lld: %s\n", (long long)last, path);
    }
    if (f) fclose(f);
    free(t);
}
#endif

/* For the gpu suite: GN_CUDA_DAG_OUT=FILE writes the training DAG the
 * kernel last built (after the run's last growth round) for a test to
 * compare with taskgraph.h's rules on the downloaded model: "GNDAG001",
 * then int32 n_groups, tiles, tile, parts; uint32 n_tasks, n_edges; int32
 * upd_base[n_groups + 1]; uint32 succ_begin[n_tasks + 1], succ[n_edges],
 * indeg_init[n_tasks] (host byte order). A failure is told on stderr; the
 * run's status is the kernel's. */
static void gn_cuda_dag_dump(struct gn_cuda_run *r)
{
    const char *path = getenv("GN_CUDA_DAG_OUT");
    if (!path) return;
    struct gn_dev h;
    if (cudaMemcpy(&h, r->d, sizeof h, cudaMemcpyDeviceToHost) != cudaSuccess) {
        fprintf(stderr, "GN_CUDA_DAG_OUT: the kernel's state could not be read\n");
        return;
    }
    const uint32_t n = h.train.n_tasks, e = h.train.n_edges;
    const int32_t hd[4] = {h.m.n_groups, h.tm.tiles, h.tm.tile, (int32_t)h.tm.parts};
    const size_t nb = (size_t)h.m.n_groups + 1;
    int32_t *base = (int32_t *)malloc(nb * sizeof *base);
    uint32_t *begin = (uint32_t *)malloc(((size_t)n + 1) * sizeof *begin);
    uint32_t *succ = (uint32_t *)malloc(((size_t)e + 1) * sizeof *succ);
    uint32_t *indeg = (uint32_t *)malloc(((size_t)n + 1) * sizeof *indeg);
    FILE *f = base && begin && succ && indeg ? fopen(path, "wb") : NULL;
    auto get = [](void *dst, const void *src, size_t bytes) {
        return cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
    };
    bool ok = f && get(base, h.upd_base, nb * 4) && get(succ, h.train.succ, e * 4ull) &&
              get(begin, h.train.succ_begin, (n + 1) * 4ull) &&
              get(indeg, h.train.indeg_init, n * 4ull);
    ok = ok && fwrite("GNDAG001", 1, 8, f) == 8 && fwrite(hd, sizeof hd, 1, f) == 1 &&
         fwrite(&n, 4, 1, f) == 1 && fwrite(&e, 4, 1, f) == 1 && fwrite(base, 4, nb, f) == nb &&
         fwrite(begin, 4, n + 1ull, f) == n + 1ull && fwrite(succ, 4, e, f) == e &&
         fwrite(indeg, 4, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "GN_CUDA_DAG_OUT: %s could not be written\n", path);
    free(base);
    free(begin);
    free(succ);
    free(indeg);
}

extern "C" enum gn_status gn_cuda_wait(struct gn_cuda_run *r)
{
    enum gn_status st = GN_OK;
    GN_CUDA_TRY(cudaStreamSynchronize(r->kstream));
#ifdef GN_DIAG_TIMELINE
    gn_cuda_tl_dump(r);
#endif
    gn_cuda_dag_dump(r);
    if (r->ctl->fault) {
        const int numeric =
            r->ctl->fault == GN_CUDA_FAULT_NUMERIC || r->ctl->fault == GN_CUDA_FAULT_DIED;
        return gn_fail(numeric ? GN_ERR_NUMERIC : GN_ERR_DEVICE,
                       "the kernel stopped: %s (group %d, step %lld, block %d, index %lld)",
                       fault_name(r->ctl->fault), r->ctl->fault_group,
                       (long long)r->ctl->fault_step, r->ctl->fault_block,
                       (long long)r->ctl->fault_index);
    }
    return GN_OK;
error:
    return st;
}

/* The error channel is gn_fail's: the calling thread's last message. */
extern "C" const char *gn_cuda_error(struct gn_cuda_run *r)
{
    (void)r;
    return gn_error_message();
}

extern "C" enum gn_status gn_cuda_download(struct gn_cuda_run *r, struct gn_model *m)
{
    enum gn_status st = GN_OK;
    struct gn_dev h;
    const struct gn_model *dm = &h.m;
    GN_CUDA_TRY(cudaMemcpy(&h, r->d, sizeof h, cudaMemcpyDeviceToHost));
    m->n_groups = dm->n_groups;
    m->n_edges = dm->n_edges;
    m->n_params = dm->n_params;
    m->duplications = dm->duplications;
    m->refused = dm->refused;
    GN_CUDA_TRY(cudaMemcpy(m->groups, dm->groups, (size_t)dm->n_groups * sizeof *m->groups, cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->edges, dm->edges, (size_t)dm->n_edges * sizeof *m->edges, cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->params, dm->params, (size_t)dm->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->grads, dm->grads, (size_t)dm->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->moment, dm->moment, (size_t)dm->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->moment2, dm->moment2, (size_t)dm->n_params * sizeof(float), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->order, dm->order, (size_t)dm->n_groups * sizeof(int32_t), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->in_list, dm->in_list, (size_t)dm->n_edges * sizeof(int32_t), cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaMemcpy(m->out_list, dm->out_list, (size_t)dm->n_edges * sizeof(int32_t), cudaMemcpyDeviceToHost));
    m->pruned = dm->pruned;
    r->h.grow_round = h.grow_round;
    return GN_OK;
error:
    return st;
}

extern "C" int64_t gn_cuda_grow_round(struct gn_cuda_run *r)
{
    return r->h.grow_round;
}

extern "C" void gn_cuda_destroy(struct gn_cuda_run *r)
{
    if (!r) return;
    if (r->kstream) cudaStreamDestroy(r->kstream);
    if (r->cstream) cudaStreamDestroy(r->cstream);
    for (int i = 0; i < r->n_allocated; i++) cudaFree(*r->table[i].ptr);
    free(r->table);
    if (r->ctl) cudaFreeHost(r->ctl);
    if (r->epochs) cudaFreeHost(r->epochs);
    if (r->bstat) cudaFreeHost(r->bstat);
    if (r->tsteps) cudaFreeHost(r->tsteps);
    if (r->tsnaps) cudaFreeHost(r->tsnaps);
    if (r->step_loss) cudaFreeHost(r->step_loss);
    if (r->step_time) cudaFreeHost(r->step_time);
    for (int i = 0; i < GN_CUDA_NBUF; i++) {
        if (r->stage_x[i]) cudaFreeHost(r->stage_x[i]);
        if (r->stage_y[i]) cudaFreeHost(r->stage_y[i]);
        if (r->stage_rec[i]) cudaFreeHost(r->stage_rec[i]);
    }
    for (int i = 0; i < GN_CUDA_NORDER; i++) {
        if (r->stage_order[i]) cudaFreeHost(r->stage_order[i]);
        if (r->stage_orec[i]) cudaFreeHost(r->stage_orec[i]);
    }
    free(r);
}

extern "C" const char *gn_cuda_profile_name(int32_t phase)
{
    switch (phase) {
#define GN_CUDA_PROF_NAME(k, name)                                                                 \
    case GN_CUDA_PROF_##k: return name;
        GN_CUDA_PROFILE(GN_CUDA_PROF_NAME)
#undef GN_CUDA_PROF_NAME
    }
    return "?";
}

extern "C" enum gn_status gn_cuda_profile(struct gn_cuda_run *r, double *ns, int32_t *blocks)
{
    enum gn_status st = GN_OK;
    uint64_t cyc[GN_CUDA_PROF_COUNT];
    int dev = 0, khz = 0;
    GN_CUDA_TRY(cudaMemcpy(cyc, (const char *)r->d + offsetof(struct gn_dev, prof), sizeof cyc,
                           cudaMemcpyDeviceToHost));
    GN_CUDA_TRY(cudaGetDevice(&dev));
    GN_CUDA_TRY(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev));
    for (int i = 0; i < GN_CUDA_PROF_COUNT; i++) ns[i] = khz > 0 ? (double)cyc[i] * 1e6 / khz : 0.0;
    *blocks = r->h.blocks;
    return GN_OK;
error:
    return st;
}
