/*
 * genet-stress on the GPU: the shared scheduler core (queue.h, dag.h) run by
 * a cooperative kernel on synthetic DAGs, with the same checks as the cpu
 * backend, plus the baselines a dependent hop is compared with.
 *
 * Workers are warps (lane 0 talks to the queue; the tasks are scheduler
 * load, not math): as many as can be resident. One launch runs one pass:
 * warp 0 of block 0 opens the queue on the DAG's roots (the counters come
 * armed from the host's build, and each is re-armed by its last release:
 * dag.h), a grid barrier, then take a ticket, wait for the slot, run the
 * task, release the successors, count it done. The
 * pass time is taken on the global timer between the barriers, so the
 * launch is not counted.
 *
 * A task stamps a global clock (one atomic) when it starts and when it
 * finishes and counts its runs; the host checks every edge (start after the
 * predecessor's finish) and every count (exactly once), as for the cpu.
 *
 * Baselines for a chain of n dependent steps: n launches of an empty kernel
 * in one stream, and the same n kernels captured as one CUDA graph.
 */
#include <stdio.h>
#include <string.h>

#include <cooperative_groups.h>
#include <cuda_runtime.h>

/* A -DGN_DIAG_RELEASE build times the release's parts (dag.h's marks):
 * each worker's cycles since its last mark, by part, in shared memory. */
#if defined(GN_DIAG_RELEASE) && defined(__CUDA_ARCH__)
__device__ static inline void st_mark(int part);
#define GN_DAG_MARK(part) st_mark(GN_STRESS_PART_##part)
#endif
#include "stress_api.h" /* the parts' names, before dag.h */
#include "dag.h"
#include "queue.h"

namespace cg = cooperative_groups;

#define ST_THREADS 256
#define ST_WARPS (ST_THREADS / 32)

struct st_dev {
    struct gn_queue queue;
    struct gn_dag dag;
    gn_atomic_u64 clock;
    gn_atomic_u32 *runs;
    gn_atomic_u64 *start, *finish;
    int32_t work;
    int32_t stamps;
    int32_t hold;    /* dag.h's batches of releases; 1: none */
    int32_t tickets; /* and of tickets; 1: none */
    uint64_t spin_ns;
    uint64_t t0, t1;
    gn_atomic_u64 spins, pushed, popped;
    gn_atomic_u64 cyc_take, cyc_run, cyc_finish; /* SM clock cycles, summed over workers */
    gn_atomic_u32 high_water;
    gn_atomic_u32 fault;
    float sink;
    gn_atomic_u64 cyc_part[GN_STRESS_PART_COUNT]; /* cyc_finish's parts, where timed */
};

#if defined(GN_DIAG_RELEASE)
#define ST_PARTS 1
#else
#define ST_PARTS 0
#endif

#if ST_PARTS
/* Per warp: the parts' cycles, then the clock at the last mark. */
__shared__ uint64_t st_part_sm[ST_WARPS][GN_STRESS_PART_COUNT + 1];
#endif

#if ST_PARTS && defined(__CUDA_ARCH__)
__device__ static inline void st_mark(int part)
{
    uint64_t *p = st_part_sm[threadIdx.x / 32];
    const uint64_t now = clock64();
    p[part] += now - p[GN_STRESS_PART_COUNT];
    p[GN_STRESS_PART_COUNT] = now;
}
#endif

__device__ static float st_math(uint32_t task)
{
    float x = (float)(task & 1023) * (1.0f / 1024.0f), acc = 0.0f;
    for (int i = 0; i < 256; i++) acc = fmaf(acc, 0.999f, x * (float)(i & 7));
    return acc;
}

/* A pass; HELD: the protocol in batches (dag.h's hold: releases, tickets
 * or both), a kernel of its own so that the plain one keeps its registers
 * (the held loop's state in the same kernel had cut them to 64, with
 * spills, and made it 4 blocks an SM instead of 3). */
template <bool HELD> __device__ static __forceinline__ void st_pass(struct st_dev *d)
{
    cg::grid_group grid = cg::this_grid();
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const uint32_t worker = blockIdx.x * ST_WARPS + warp;
    struct gn_queue_worker w = {};
    w.worker = worker;
    if (worker == 0 && lane == 0) {
        if (gn_dag_begin_pass(&d->dag, &d->queue) != GN_OK)
            atomicExch(&d->fault, (uint32_t)-(int32_t)GN_ERR_INVALID);
    }
    grid.sync();
    if (worker == 0 && lane == 0) d->t0 = gn_clock_ns();
    float sink = 0.0f;
    uint64_t ran = 0;
    if (lane == 0) {
        /* the scheduler core's worker protocol (dag.h), continuations
         * included: the one the cpu executor and the training kernel run;
         * HELD (--hold or --tickets above 1): its batched form
         * (gn_dag_take_held) */
        uint32_t next = GN_QUEUE_DONE, task;
        uint64_t c_take = 0, c_run = 0, c_finish = 0;
        constexpr bool held = HELD;
        /* the pass's constants in registers, as the training kernel keeps
         * them in its block's view (worker.cuh): the DAG's array pointers
         * and the harness's switches, which the atomics in the loop would
         * otherwise have the compiler load again every task (a dependent
         * load before each successor read and each branch) */
        struct gn_dag dag = d->dag;
        const int32_t stamps = d->stamps, work = d->work;
        const uint64_t spin_ns = d->spin_ns;
        struct gn_dag_hold h;
        if (held) gn_dag_hold_init(&h, (uint32_t)d->tickets, (uint32_t)d->hold);
#if ST_PARTS
        for (int i = 0; i <= GN_STRESS_PART_COUNT; i++) st_part_sm[warp][i] = 0;
#endif
        for (;;) {
            const uint64_t c0 = clock64();
#if ST_PARTS
            st_part_sm[warp][GN_STRESS_PART_COUNT] = c0; /* a held take may release */
#endif
            enum gn_status s = held ? gn_dag_take_held(&dag, &d->queue, &w, &h, &next, &task)
                                    : gn_dag_take(&d->queue, &w, &next, &task);
            const uint64_t c1 = clock64();
            c_take += c1 - c0;
            if (s != GN_OK) {
                atomicCAS(&d->fault, 0u, (uint32_t)-(int32_t)s);
                break;
            }
            if (task == GN_QUEUE_DONE) break;
            ran++;
            if (stamps) {
                uint64_t c0 = gn_atomic_fetch_add_relaxed_u64(&d->clock, 1);
                gn_atomic_store_relaxed_u64(&d->start[task], c0 + 1);
                gn_atomic_fetch_add_relaxed_u32(&d->runs[task], 1);
            }
            if (work == GN_STRESS_WORK_SPIN) {
                uint64_t until = gn_clock_ns() + spin_ns;
                while (gn_clock_ns() < until) {
                }
            } else if (work == GN_STRESS_WORK_MATH) {
                sink += st_math(task);
            }
            if (stamps) {
                uint64_t c1 = gn_atomic_fetch_add_relaxed_u64(&d->clock, 1);
                gn_atomic_store_relaxed_u64(&d->finish[task], c1 + 1);
            }
            const uint64_t c2 = clock64();
            c_run += c2 - c1;
#if ST_PARTS
            st_part_sm[warp][GN_STRESS_PART_COUNT] = c2;
#endif
            if ((held ? gn_dag_finish_held(&dag, &d->queue, task, &w, &h, &next)
                      : gn_dag_finish(&dag, &d->queue, task, &w, &next)) != GN_OK) {
                atomicCAS(&d->fault, 0u, 1u);
                break;
            }
            c_finish += clock64() - c2;
        }
        gn_atomic_fetch_add_relaxed_u64(&d->cyc_take, c_take);
        gn_atomic_fetch_add_relaxed_u64(&d->cyc_run, c_run);
        gn_atomic_fetch_add_relaxed_u64(&d->cyc_finish, c_finish);
#if ST_PARTS
        for (int i = 0; i < GN_STRESS_PART_COUNT; i++)
            gn_atomic_fetch_add_relaxed_u64(&d->cyc_part[i], st_part_sm[warp][i]);
#endif
        gn_queue_flush(&d->queue, &w);
        gn_atomic_fetch_add_relaxed_u64(&d->spins, w.spins);
        gn_atomic_fetch_add_relaxed_u64(&d->pushed, w.pushed);
        gn_atomic_fetch_add_relaxed_u64(&d->popped, ran);
        atomicMax(&d->high_water, w.high_water);
        if (sink == 12345.0f) d->sink = sink; /* keeps the math */
    }
    grid.sync();
    if (worker == 0 && lane == 0) d->t1 = gn_clock_ns();
}

extern "C" __global__ void __launch_bounds__(ST_THREADS) gn_stress_kernel(struct st_dev *d)
{
    st_pass<false>(d);
}

/* three blocks an SM, as the plain kernel (80 registers) */
extern "C" __global__ void __launch_bounds__(ST_THREADS, 3) gn_stress_held_kernel(struct st_dev *d)
{
    st_pass<true>(d);
}

extern "C" __global__ void gn_stress_empty_kernel(int *p)
{
    if (p && threadIdx.x == 1024) *p = 0;
}

struct gn_cuda_stress {
    struct st_dev h;
    struct st_dev *d;
    void *kernel; /* gn_stress_kernel, or gn_stress_held_kernel (hold or tickets > 1) */
    uint32_t cap_tasks, cap_edges;
    int blocks;
    int clock_khz; /* the SM clock, for the cycle counters */
    char err[256];
};

#define ST_TRY(call)                                                                               \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            snprintf(s->err, sizeof s->err, "%s:%d: %s: %s", __FILE__, __LINE__, #call,            \
                     cudaGetErrorString(e_));                                                      \
            return GN_ERR_DEVICE;                                                                  \
        }                                                                                          \
    } while (0)

extern "C" const char *gn_stress_part_name(int part)
{
    static const char *const names[] = {
#define ST_PART_NAME(k, name) name,
        GN_STRESS_PARTS(ST_PART_NAME)
#undef ST_PART_NAME
    };
    return part >= 0 && part < GN_STRESS_PART_COUNT ? names[part] : "?";
}

extern "C" const char *gn_cuda_stress_error(struct gn_cuda_stress *s)
{
    return s->err;
}

extern "C" enum gn_status gn_cuda_stress_create(struct gn_cuda_stress **out, uint32_t max_tasks,
                                                uint32_t max_edges, int work, uint64_t spin_ns,
                                                int stamps, uint64_t spin_limit, int blocks_per_sm,
                                                int hold, int tickets)
{
    struct gn_cuda_stress *s = (struct gn_cuda_stress *)calloc(1, sizeof *s);
    *out = s;
    if (!s) return GN_ERR_NOMEM;
    s->cap_tasks = max_tasks;
    s->cap_edges = max_edges;
    struct st_dev *h = &s->h;
    h->work = work;
    h->stamps = stamps;
    h->hold = hold;
    h->tickets = tickets;
    h->spin_ns = spin_ns;
    gn_atomic_u64 *slots;
    ST_TRY(cudaMalloc(&slots, (size_t)max_tasks * sizeof *slots));
    ST_TRY(cudaMemset(slots, 0, (size_t)max_tasks * sizeof *slots));
    gn_queue_init(&h->queue, slots, max_tasks, spin_limit);
    ST_TRY(cudaMalloc(&h->dag.succ_begin, ((size_t)max_tasks + 1) * sizeof(uint32_t)));
    ST_TRY(cudaMalloc(&h->dag.succ, ((size_t)max_edges + 1) * sizeof(uint32_t)));
    ST_TRY(cudaMalloc(&h->dag.indeg_init, (size_t)max_tasks * sizeof(uint32_t)));
    ST_TRY(cudaMalloc(&h->dag.indeg, (size_t)max_tasks * sizeof(uint32_t)));
    ST_TRY(cudaMalloc(&h->dag.roots, (size_t)max_tasks * sizeof(uint32_t) + 4));
    ST_TRY(cudaMalloc(&h->runs, (size_t)max_tasks * sizeof(uint32_t)));
    ST_TRY(cudaMalloc(&h->start, (size_t)max_tasks * sizeof(uint64_t)));
    ST_TRY(cudaMalloc(&h->finish, (size_t)max_tasks * sizeof(uint64_t)));
    ST_TRY(cudaMalloc(&s->d, sizeof *s->d));
    int dev = 0, sms = 0, per_sm = 0;
    ST_TRY(cudaGetDevice(&dev));
    ST_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    s->kernel = hold > 1 || tickets > 1 ? (void *)gn_stress_held_kernel : (void *)gn_stress_kernel;
    /* as many blocks as both kernels fit, so that --hold changes the
     * protocol and not the number of workers */
    int per_sm_held = 0;
    ST_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gn_stress_kernel, ST_THREADS, 0));
    ST_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm_held, gn_stress_held_kernel,
                                                         ST_THREADS, 0));
    if (per_sm_held < per_sm) per_sm = per_sm_held;
    if (blocks_per_sm > 0 && blocks_per_sm < per_sm) per_sm = blocks_per_sm;
    s->blocks = sms * per_sm;
    ST_TRY(cudaDeviceGetAttribute(&s->clock_khz, cudaDevAttrClockRate, dev));
    return GN_OK;
}

extern "C" int gn_cuda_stress_workers(struct gn_cuda_stress *s)
{
    return s->blocks * ST_WARPS;
}

extern "C" enum gn_status gn_cuda_stress_pass(struct gn_cuda_stress *s, const struct gn_dag *dag,
                                              struct gn_cuda_stress_stats *out)
{
    struct st_dev *h = &s->h;
    if (dag->n_tasks > s->cap_tasks || dag->n_edges > s->cap_edges) {
        snprintf(s->err, sizeof s->err, "the DAG (%u tasks, %u edges) is larger than the device "
                 "buffers (%u, %u)", dag->n_tasks, dag->n_edges, s->cap_tasks, s->cap_edges);
        return GN_ERR_INVALID;
    }
    h->dag.n_tasks = dag->n_tasks;
    h->dag.n_edges = dag->n_edges;
    ST_TRY(cudaMemcpy(h->dag.succ_begin, dag->succ_begin, ((size_t)dag->n_tasks + 1) * sizeof(uint32_t), cudaMemcpyHostToDevice));
    ST_TRY(cudaMemcpy(h->dag.succ, dag->succ, (size_t)dag->n_edges * sizeof(uint32_t), cudaMemcpyHostToDevice));
    ST_TRY(cudaMemcpy(h->dag.indeg_init, dag->indeg_init, (size_t)dag->n_tasks * sizeof(uint32_t), cudaMemcpyHostToDevice));
    /* armed: every counter at its in-degree, the roots listed (dag.h) */
    ST_TRY(cudaMemcpy((void *)h->dag.indeg, dag->indeg_init, (size_t)dag->n_tasks * sizeof(uint32_t), cudaMemcpyHostToDevice));
    h->dag.n_roots = dag->n_roots;
    ST_TRY(cudaMemcpy(h->dag.roots, dag->roots, (size_t)dag->n_roots * sizeof(uint32_t), cudaMemcpyHostToDevice));
    ST_TRY(cudaMemset(h->runs, 0, (size_t)dag->n_tasks * sizeof(uint32_t)));
    ST_TRY(cudaMemset(h->start, 0, (size_t)dag->n_tasks * sizeof(uint64_t)));
    ST_TRY(cudaMemset(h->finish, 0, (size_t)dag->n_tasks * sizeof(uint64_t)));
    /* host-side copy of the queue state carries the pass tag across passes */
    ST_TRY(cudaMemcpy(s->d, h, sizeof *h, cudaMemcpyHostToDevice));
    void *args[] = {&s->d};
    ST_TRY(cudaLaunchCooperativeKernel(s->kernel, dim3(s->blocks), dim3(ST_THREADS), args, 0, 0));
    ST_TRY(cudaDeviceSynchronize());
    struct st_dev r;
    ST_TRY(cudaMemcpy(&r, s->d, sizeof r, cudaMemcpyDeviceToHost));
    h->queue.pass = r.queue.pass; /* the next pass continues the tags */
    out->seconds = (double)(r.t1 - r.t0) * 1e-9;
    out->tasks = r.popped;
    out->pushed = r.pushed;
    out->spins = r.spins;
    out->high_water = r.high_water;
    out->workers = (uint32_t)(s->blocks * ST_WARPS);
    out->take_ns = (double)r.cyc_take * 1e6 / s->clock_khz;
    out->run_ns = (double)r.cyc_run * 1e6 / s->clock_khz;
    out->finish_ns = (double)r.cyc_finish * 1e6 / s->clock_khz;
    out->parts = ST_PARTS;
    for (int i = 0; i < GN_STRESS_PART_COUNT; i++)
        out->part_ns[i] = (double)r.cyc_part[i] * 1e6 / s->clock_khz;
    if (r.fault) {
        snprintf(s->err, sizeof s->err, "the pass failed on the device: %s (worker %u, index %u)",
                 gn_status_str((enum gn_status)-(int32_t)r.fault), r.queue.fault_worker,
                 r.queue.fault_index);
        return GN_ERR_DEVICE;
    }
    return GN_OK;
}

extern "C" enum gn_status gn_cuda_stress_fetch(struct gn_cuda_stress *s, uint32_t n, uint32_t *runs,
                                               uint64_t *start, uint64_t *finish)
{
    ST_TRY(cudaMemcpy(runs, s->h.runs, (size_t)n * sizeof(uint32_t), cudaMemcpyDeviceToHost));
    ST_TRY(cudaMemcpy(start, s->h.start, (size_t)n * sizeof(uint64_t), cudaMemcpyDeviceToHost));
    ST_TRY(cudaMemcpy(finish, s->h.finish, (size_t)n * sizeof(uint64_t), cudaMemcpyDeviceToHost));
    return GN_OK;
}

extern "C" enum gn_status gn_cuda_hop_baselines(struct gn_cuda_stress *s, uint32_t n,
                                                double *launch_ns, double *graph_ns)
{
    cudaStream_t st;
    cudaEvent_t a, b;
    ST_TRY(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    ST_TRY(cudaEventCreate(&a));
    ST_TRY(cudaEventCreate(&b));
    for (int i = 0; i < 100; i++) gn_stress_empty_kernel<<<1, 32, 0, st>>>(NULL);
    ST_TRY(cudaStreamSynchronize(st));
    ST_TRY(cudaEventRecord(a, st));
    for (uint32_t i = 0; i < n; i++) gn_stress_empty_kernel<<<1, 32, 0, st>>>(NULL);
    ST_TRY(cudaEventRecord(b, st));
    ST_TRY(cudaEventSynchronize(b));
    float ms = 0;
    ST_TRY(cudaEventElapsedTime(&ms, a, b));
    *launch_ns = (double)ms * 1e6 / n;

    cudaGraph_t graph;
    cudaGraphExec_t exec;
    ST_TRY(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (uint32_t i = 0; i < n; i++) gn_stress_empty_kernel<<<1, 32, 0, st>>>(NULL);
    ST_TRY(cudaStreamEndCapture(st, &graph));
    ST_TRY(cudaGraphInstantiate(&exec, graph, 0));
    ST_TRY(cudaGraphLaunch(exec, st)); /* warm-up */
    ST_TRY(cudaStreamSynchronize(st));
    ST_TRY(cudaEventRecord(a, st));
    ST_TRY(cudaGraphLaunch(exec, st));
    ST_TRY(cudaEventRecord(b, st));
    ST_TRY(cudaEventSynchronize(b));
    ST_TRY(cudaEventElapsedTime(&ms, a, b));
    *graph_ns = (double)ms * 1e6 / n;
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaStreamDestroy(st);
    return GN_OK;
}

extern "C" void gn_cuda_stress_destroy(struct gn_cuda_stress *s)
{
    if (!s) return;
    cudaFree(s->h.queue.slots);
    cudaFree(s->h.dag.succ_begin);
    cudaFree(s->h.dag.succ);
    cudaFree(s->h.dag.indeg_init);
    cudaFree((void *)s->h.dag.indeg);
    cudaFree(s->h.dag.roots);
    cudaFree((void *)s->h.runs);
    cudaFree((void *)s->h.start);
    cudaFree((void *)s->h.finish);
    cudaFree(s->d);
    free(s);
}
