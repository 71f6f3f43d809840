/*
 * Block-level task math: each op is its reference in runtime/model/ops.c
 * run by one thread block, with the reference's name plus `_block`, its
 * arguments in the same order (outputs first: the model and buffers, then
 * the group and row range), and the shared memory the caller owns for the
 * whole run last (struct gn_block_smem, cub's TempStorage habit: the
 * persistent worker and the kernel tests hand in the same layout).
 *
 * Every output element is accumulated in the reference's order (in-edges by
 * source position, k, j or rows increasing, MAC: one fused multiply-add), so
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
#include "mma.cuh"
#include "model.h"
#include "ops.h"
#include "optim.h"
#include "stat.h"

/* Where the task math's phases end (thread 0 marks them on the persistent
 * kernel's clock, worker.cuh; nothing elsewhere). */
#ifndef GN_BLOCK_MARK
#define GN_BLOCK_MARK(phase) ((void)0)
#endif
/* A diagnostic build's finer marks (worker.cuh, GN_DIAG_TWICE), each after
 * a use of val: nothing elsewhere. */
#ifndef GN_BLOCK_DIAG
#define GN_BLOCK_DIAG(sub, val) ((void)0)
#endif
/* After a forward's or a backward's staging barrier (every copy the block
 * issued before it has landed and is visible): the worker's read-ahead
 * issues its second copies there (worker.cuh, gn_dev_pre_mid); nothing
 * elsewhere. */
#ifndef GN_BLOCK_STAGED
#define GN_BLOCK_STAGED() ((void)0)
#endif
/* After a forward's or a backward's arithmetic, before its stores: the
 * worker's variant that prefetches the next task's weights into L2 there
 * (worker.cuh, GN_DEV_L2PF); nothing elsewhere. */
#ifndef GN_BLOCK_COMPUTED
#define GN_BLOCK_COMPUTED() ((void)0)
#endif
/* The task timeline's marks inside the statistic (worker.cuh,
 * GN_DIAG_TIMELINE): nothing elsewhere. */
#ifndef GN_STAT_MARK
#define GN_STAT_MARK(k) ((void)0)
#endif
/* The timeline's marks inside the optimizer's apply, and a wait for a
 * value there (worker.cuh, GN_DIAG_TIMELINE): nothing elsewhere. */
#ifndef GN_APPLY_MARK
#define GN_APPLY_MARK(i) ((void)0)
#define GN_APPLY_WAIT(v) ((void)0)
#endif

/* The precision of the forward, backward and update products this
 * translation unit's ops default to (enum gn_precision; each persistent
 * kernel's entry defines it, kernel.cu): fp32 in the canonical order
 * below, or tf32 and bf16 on the tensor cores (mma.cuh) from the same
 * staged operands. The loss, the bias sums, the optimizer and the
 * statistic are fp32 in every precision. */
#ifndef GN_PRECISION
#define GN_PRECISION GN_PRECISION_FP32
#endif

static_assert(NT % 32 == 0 && NT >= 64 && GN_STAT_LANES % NT == 0,
              "whole warps, each thread GN_STAT_LANES / NT of the statistic's lanes");

/*
 * How the ops stage their operands. A task's edges are read once into a
 * small table in shared memory (gn_block_edge: operand pointers, width,
 * first column; warp 0 reads them and sums their widths), the edges'
 * columns laid end to end; a chunk spans as many of those columns as fit,
 * across edges, and every thread puts all its copies of a chunk in flight
 * at once, asynchronous copies to shared memory (16 bytes where both ends
 * allow, else 4), before it waits for any (the L2 round trip is the cost,
 * not the bytes): a task of four 32-wide edges pays one round trip and two
 * barriers, not eight of each. Chunking never changes an output's order
 * of accumulation (the backward error's chunks end where its KC-wide
 * partial sums end), so the results stay bitwise the reference's.
 *
 * Where the output width divides the block (NT % n == 0) and the tile's
 * outputs fit in GN_BLOCK_Q registers per thread (GN_BLOCK_Q0 for a short
 * tile, GN_BLOCK_Q2 for a wide group or a tall one: each op is a template
 * on the count, instantiated three times), a thread keeps its outputs (one
 * column, rows tid / n + q NT / n) in registers for the whole task and
 * loads the shared weight once per column for all of them; else the
 * accumulators live in shared memory (acc), one output per thread per
 * pass. The count is the smallest that holds the tile: an accumulator
 * whose row is past the tile still costs its loads and multiply-adds
 * (gn_block_row), so 16 rows of 32 on four would spend half the
 * arithmetic's instructions on nothing.
 */
#define GN_BLOCK_NEDGE 64 /* edges read into the edge table at once */
#ifndef GN_BLOCK_Q
#define GN_BLOCK_Q 4 /* register accumulators per thread */
#endif
#ifndef GN_BLOCK_Q2
#define GN_BLOCK_Q2 8 /* ... where GN_BLOCK_Q are too few */
#endif
#ifndef GN_BLOCK_Q0
#define GN_BLOCK_Q0 2 /* ... where GN_BLOCK_Q0 are enough */
#endif

/* The update's multiply-add loop over rows (four a pass) unrolled this
 * many times, so that the next rows' loads are issued before the last
 * rows' multiply-adds wait on theirs (nvcc leaves it rolled; unrolled by
 * four, a 64 x 32 part over 256 rows takes 6.5 us of arithmetic instead
 * of 12.3: PERF.md, thirteenth round). */
#ifndef GN_BLOCK_UNROLL_ROWS
#define GN_BLOCK_UNROLL_ROWS 4
#endif
#define GN_PRAGMA_(x) _Pragma(#x)
#define GN_UNROLL_(n) GN_PRAGMA_(unroll n)
#ifndef GN_BLOCK_TARGET
#define GN_BLOCK_TARGET 22528 /* floats of stage + acc where the minimum is less */
#endif

struct gn_block_edge {
    const float *a; /* the edge's operand rows: a[r][x] at a + x + r * K */
    const float *w; /* its weight block */
    int32_t K;      /* its columns (source width; backward: target width) */
    int32_t start;  /* its first column among the batch's edges */
};

/* One entry of a group's in-list (or out-list), what the task math needs
 * of it in one 16-byte load: the group at the other end, its width, and
 * the edge's weight block. The persistent kernel keeps these beside the
 * model's lists (in_rec[p] for in_list[p], out_rec[p] for out_list[p]),
 * rebuilt with the task DAGs whenever the lists change, so that reading a
 * task's edges is one round trip to memory instead of three dependent ones
 * (list -> edge -> group width). Derived data, never a second rule: the
 * lists stay the model's. */
struct gn_edge_rec {
    int64_t w;    /* the edge's weight block (offset into params) */
    int32_t slot; /* the source's slot (in-lists) or the target's (out-lists) */
    int32_t K;    /* that group's width */
};

/* The record of list entry e (an edge index): out, by its target. */
__device__ static inline struct gn_edge_rec gn_edge_rec_of(const struct gn_model *m, int32_t e,
                                                           bool out)
{
    const struct gn_edge ed = m->edges[e];
    struct gn_edge_rec r;
    r.w = ed.w;
    r.slot = out ? ed.dst : ed.src;
    r.K = r.slot >= 0 ? m->groups[r.slot].width : 0; /* a dead slot past the live entries */
    return r;
}

/* The task math's shared memory, owned by the caller: the block's dynamic
 * shared memory as every caller lays it out from its
 * start (gn_block_smem_bytes): the edge table (GN_BLOCK_NEDGE entries),
 * the stage (stage_floats), the accumulators (tile x max_width; the
 * general path's). Its regions are addressed from this symbol, not through
 * pointers held in a struct, so that an op compiled apart from the
 * kernel's body (GN_BLOCK_OPS_APART) still reads shared memory as shared
 * (ld.shared; a pointer handed in is generic: docs/PERF.md, tenth round). */
extern __shared__ __align__(16) unsigned char gn_block_dyn[];

struct gn_block_smem {
    double *lane;         /* (GN_STAT_LANES) the statistic's lane sums */
    int32_t stage_floats; /* the stage's floats (the accumulators follow it) */
};

__device__ static __forceinline__ struct gn_block_edge *gn_block_sm_edge()
{
    return reinterpret_cast<struct gn_block_edge *>(gn_block_dyn);
}

__device__ static __forceinline__ float *gn_block_sm_stage()
{
    return reinterpret_cast<float *>(gn_block_dyn + GN_BLOCK_NEDGE * sizeof(struct gn_block_edge));
}

__device__ static __forceinline__ float *gn_block_sm_acc(const struct gn_block_smem &sm)
{
    return gn_block_sm_stage() + sm.stage_floats;
}

/* The ops' entries (the forward's, the backward's and the update's
 * instantiations, the statistic): inlined into the kernel's body (0, the
 * default, as measured) or compiled apart from it (1: __noinline__, each
 * with its own register allocation, so that a change in one op would move
 * no spills in another or in the scheduler; docs/PERF.md, sixteenth
 * round: built and inspected, not yet timed on a device). */
#ifndef GN_BLOCK_OPS_APART
#define GN_BLOCK_OPS_APART 0
#endif
#if GN_BLOCK_OPS_APART
#define GN_BLOCK_OP __noinline__
#else
#define GN_BLOCK_OP
#endif

/* What the batch of edges in gn_block_sm_edge() allows (gn_block_edges, warp 0, before
 * its barrier): GN_BLOCK_VEC_A where every edge's operand rows (e.a) and
 * GN_BLOCK_VEC_W where every weight block (e.w) start on 16 bytes and every
 * width (e.K) is a multiple of 4, GN_BLOCK_VEC_N where the weight blocks
 * start on 16 bytes and the group's own width is a multiple of 4 (rows of
 * n weights, the forward's). Then four neighbouring columns of a chunk
 * that starts on a multiple of 4 lie in one edge, and staging moves them
 * with one 16-byte asynchronous copy (gn_block_copy16: the same values, so
 * the same bits, in a quarter of the loads, all of a stage in flight at
 * once). */
enum { GN_BLOCK_VEC_A = 1, GN_BLOCK_VEC_W = 2, GN_BLOCK_VEC_N = 4 };
static __shared__ int gn_block_vec_sm;

/* Whether p starts on 16 bytes. */
__device__ static inline bool gn_block_al16(const float *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

/* The lists' records of the run (in_rec, out_rec), or NULL: read through
 * the model's lists. In shared memory, not in struct gn_block_smem, which
 * lives in registers: the caller sets both (thread 0, then a
 * __syncthreads) before any task math; only warp 0's edge reads use them. */
static __shared__ const struct gn_edge_rec *gn_block_rec_sm[2];

/* Set (to 1) by any thread of the block whose update wrote a gradient entry
 * that is not finite (gn_block_apply), for a step whose statistic is not
 * made (stat.h, gn_stat_refresh's rule). Whoever runs the update reads it
 * after the op's closing barrier and clears it (worker.cuh,
 * gn_dev_update); zero before the first task. */
static __shared__ int gn_block_bad_sm;

/* Floats of the stage and acc regions for a run: at least one KC-wide
 * chunk of any op at the widest width, and up to GN_BLOCK_TARGET in all
 * (two blocks an SM still fit). The host half sizes the dynamic shared
 * memory with gn_block_smem_bytes; the ops address its regions from
 * gn_block_dyn, and gn_block_smem_carve keeps the stage's size. */
__host__ __device__ static inline void gn_block_smem_floats(int32_t tile, int32_t max_width,
                                                           int32_t *stage, int32_t *acc)
{
    const int32_t fwd = tile * (KC + 36) + KC * max_width;
    const int32_t bwd = (tile + max_width) * (KC + 36);
    const int32_t need = fwd > bwd ? fwd : bwd;
    *acc = tile * max_width;
    *stage = GN_BLOCK_TARGET - *acc > need ? GN_BLOCK_TARGET - *acc : need;
}

__host__ __device__ static inline size_t gn_block_smem_bytes(int32_t stage, int32_t acc)
{
    return GN_BLOCK_NEDGE * sizeof(struct gn_block_edge) + (size_t)(stage + acc) * sizeof(float);
}

__device__ static inline struct gn_block_smem gn_block_smem_carve(int32_t stage, int32_t acc,
                                                                  double *lane)
{
    struct gn_block_smem sm;
    sm.lane = lane;
    sm.stage_floats = stage;
    (void)acc;
    return sm;
}

__device__ static inline const float *gn_block_src(const struct gn_buffers *b, int32_t s)
{
    return s == GN_SLOT_INPUT ? b->x : gn_act(b, s);
}

/* One 16-byte copy from global memory (through L2, as __ldcg) to shared
 * memory that the thread does not wait for: both ends on 16 bytes. The
 * copies of a whole stage (a forward's inputs and weight rows, say) are in
 * flight together, without registers; gn_block_stage_wait, before the
 * barrier that ends the staging, waits for the thread's own. */
__device__ static inline void gn_block_copy16(float *dst, const float *src)
{
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(src) : "memory");
}

__device__ static inline void gn_block_stage_wait()
{
    asm volatile("cp.async.wait_all;\n" ::: "memory");
}

/*
 * The next task's first edge table, read ahead (worker.cuh: the worker
 * reads its likely next task's records while this one runs, and writes
 * that task's table into gn_block_sm_edge() while this one's successors are
 * released): the first batch of edges of the list starting at `begin`
 * (an in-list, or out: an out-list), from row r0, ne entries, with
 * gn_block_vec_sm. gn_block_edges takes it instead of reading the records
 * again when its arguments match (the table is a function of them and of
 * records fixed for the pass); ne = 0 marks none. Set invalid wherever
 * gn_block_sm_edge() is written otherwise (gn_block_edges, after its barrier) and as
 * a pass starts (gn_block_pre_reset).
 */
struct gn_block_pre_key {
    int32_t begin, out, r0, ne;
};
static __shared__ struct gn_block_pre_key gn_block_pre_sm;

/*
 * A task's first edge records at its take (GN_BLOCK_TAKE_REC = E, in
 * common.cuh; 0, the default: not compiled). A task the read-ahead did
 * not read reads its position's record (worker.cuh: gn_pos_rec), then,
 * once that has landed, its list's records (gn_block_edges): two dependent
 * round trips before its edge table. The kernel keeps beside each
 * position's record copies of the first E records of its in-list and of
 * its out-list (state.cuh: pos_first, derived data rebuilt with pos_rec
 * from the same rule, gn_edge_rec_of), so warp 0's lanes issue their
 * copies at the take, beside the position's record, and gn_block_edges
 * finds the first batch's first E records here: one round trip. Forward
 * and backward tasks (an update's position takes two more loads to
 * decode, and its edges are staged behind its rows' counts anyway).
 */
#if GN_BLOCK_TAKE_REC
struct gn_block_take {
    struct gn_edge_rec rec[GN_BLOCK_TAKE_REC]; /* lane i's copy of record i, 16 bytes */
    int32_t on; /* the copies are this task's (warp 0's lane 0, at the take) */
};
static __shared__ __align__(16) struct gn_block_take gn_block_take_sm;
static_assert(GN_BLOCK_TAKE_REC >= 1 && GN_BLOCK_TAKE_REC <= 32,
              "one record a lane of warp 0");

/* Where position pos's first records of its in-list (out 0) or out-list
 * (out 1) start in pos_first. */
__host__ __device__ static inline size_t gn_block_take_at(int32_t pos, int32_t out)
{
    return ((size_t)pos * 2 + (size_t)out) * GN_BLOCK_TAKE_REC;
}
#endif

/* One thread (before a barrier): no table read ahead (and none of the
 * take's records: each task's take sets them anew). */
__device__ static inline void gn_block_pre_reset()
{
    gn_block_pre_sm.ne = 0;
#if GN_BLOCK_TAKE_REC
    gn_block_take_sm.on = 0;
#endif
}

/* One warp (lane = threadIdx.x % 32): the edge table of entries
 * [p0, p0 + ne) of a list of a group `width` wide into edge, from the
 * records rec[0 .. ne) (global or shared memory; NULL: the model's list
 * entries list[p0 + i], read through m), every operand pointer at row r0:
 * in-edges give the source's activations and width, out-edges the
 * target's errors and width; start is the sum of the widths before.
 * Returns the table's gn_block_vec_sm value (every lane) and its columns
 * in *total. */
__device__ static int gn_block_table_warp(const struct gn_model *m, const struct gn_buffers *b,
                                          int32_t width, const struct gn_edge_rec *rec,
                                          const int32_t *list, int32_t p0, int32_t ne,
                                          int32_t r0, bool out, struct gn_block_edge *edge,
                                          int32_t *total
#if GN_BLOCK_TAKE_REC
                                          ,
                                          const struct gn_edge_rec *first = NULL,
                                          int32_t nfirst = 0
#endif
                                          )
{
    const int32_t lane = threadIdx.x & 31;
    int32_t carry = 0;
    int vec = GN_BLOCK_VEC_A | GN_BLOCK_VEC_W | ((width & 3) == 0 ? GN_BLOCK_VEC_N : 0);
    for (int32_t base = 0; base < ne; base += 32) {
        const int32_t i = base + lane;
        struct gn_block_edge e;
        e.K = 0;
        if (i < ne) {
#if GN_BLOCK_TAKE_REC
            /* records [0, nfirst) copied at the take (gn_block_take) */
            const struct gn_edge_rec r = i < nfirst ? first[i]
                                         : rec      ? rec[i]
                                                    : gn_edge_rec_of(m, list[p0 + i], out);
#else
            const struct gn_edge_rec r = rec ? rec[i] : gn_edge_rec_of(m, list[p0 + i], out);
#endif
            e.K = r.K;
            e.a = (out ? gn_dz(b, r.slot) : gn_block_src(b, r.slot)) + (int64_t)r0 * r.K;
            e.w = m->params + r.w;
            const bool k4 = (e.K & 3) == 0, wa = gn_block_al16(e.w);
            if (!k4 || !gn_block_al16(e.a)) vec &= ~GN_BLOCK_VEC_A;
            if (!k4 || !wa) vec &= ~GN_BLOCK_VEC_W;
            if (!wa) vec &= ~GN_BLOCK_VEC_N;
        }
        int32_t x = e.K;
        for (int32_t d = 1; d < 32; d *= 2) {
            const int32_t y = __shfl_up_sync(0xffffffffu, x, d);
            if (lane >= d) x += y;
        }
        if (i < ne) {
            e.start = carry + x - e.K;
            edge[i] = e;
        }
        carry += __shfl_sync(0xffffffffu, x, 31);
    }
    *total = carry;
    /* every lane's edges must allow it */
    return (int)__reduce_and_sync(0xffffffffu, (unsigned)vec);
}

/* Edges [e0, e0 + ne) of g's in-list (out: its out-list) into gn_block_sm_edge(),
 * read by warp 0 (gn_block_table_warp), or the table read ahead when it
 * is that one. Returns the batch's columns. */
__device__ static int32_t gn_block_edges(const struct gn_model *m, const struct gn_buffers *b,
                                         const struct gn_group &gr, int32_t e0, int32_t ne,
                                         int32_t r0, bool out)
{
    const int32_t tid = threadIdx.x;
    const int32_t begin = out ? gr.out_begin : gr.in_begin;
    if (e0 == 0) {
        const struct gn_block_pre_key k = gn_block_pre_sm;
        if (k.ne == ne && k.begin == begin && k.r0 == r0 && k.out == (int32_t)out)
            return gn_block_sm_edge()[ne - 1].start + gn_block_sm_edge()[ne - 1].K;
    }
    if (e0 > 0) __syncthreads(); /* the previous batch's readers are done */
    if (tid < 32) {
        const struct gn_edge_rec *rec = gn_block_rec_sm[out ? 1 : 0];
        int32_t total;
#if GN_BLOCK_TAKE_REC
        __syncwarp(); /* lane 0's flag, written at the take, to the warp */
        const int32_t nfirst = e0 == 0 && gn_block_take_sm.on ? GN_BLOCK_TAKE_REC : 0;
        if (nfirst) gn_block_stage_wait(); /* the lane's own copy (lanes < nfirst) */
        const int vec = gn_block_table_warp(m, b, gr.width, rec ? rec + begin + e0 : NULL,
                                            out ? m->out_list : m->in_list, begin + e0, ne, r0,
                                            out, gn_block_sm_edge(), &total, gn_block_take_sm.rec,
                                            nfirst);
#else
        const int vec = gn_block_table_warp(m, b, gr.width, rec ? rec + begin + e0 : NULL,
                                            out ? m->out_list : m->in_list, begin + e0, ne, r0,
                                            out, gn_block_sm_edge(), &total);
#endif
        GN_BLOCK_DIAG(RECS, total);
        if (tid == 0) gn_block_vec_sm = vec;
    }
    __syncthreads();
    /* every thread has tested the key above: gn_block_sm_edge() holds this batch now */
    if (tid == 0) gn_block_pre_reset(); /* and the take's records, used */
    return gn_block_sm_edge()[ne - 1].start + gn_block_sm_edge()[ne - 1].K;
}

/* The edge of the batch holding column x (largest start <= x). */
__device__ static inline int32_t gn_block_edge_of(int32_t ne, int32_t x)
{
    int32_t lo = 0, hi = ne - 1;
    while (lo < hi) {
        const int32_t mid = (lo + hi + 1) >> 1;
        if (gn_block_sm_edge()[mid].start <= x) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* The edge of the batch holding column x. */
__device__ static inline const struct gn_block_edge &gn_block_edge_at(int32_t ne, int32_t x)
{
    return gn_block_sm_edge()[gn_block_edge_of(ne, x)];
}

/* Backward: the chunk from column c0 of at most cap columns that ends where
 * a KC-wide partial sum ends (cap >= KC). */
__device__ static inline int32_t gn_block_chunk_out(int32_t ne, int32_t total, int32_t c0,
                                                    int32_t cap)
{
    if (c0 + cap >= total) return total - c0;
    const int32_t x = c0 + cap;
    const struct gn_block_edge e = gn_block_edge_at(ne, x);
    return e.start + (x - e.start) / KC * KC - c0;
}

/* One 4-byte copy from global memory to shared memory that the thread
 * does not wait for (cp.async.ca: 4-byte copies exist only through L1;
 * coherent here because every task starts after an acquire fence, which
 * empties the SM's L1, so a line it holds was filled after that fence:
 * PERF.md, fourteenth round). gn_block_stage_wait waits for them. */
__device__ static inline void gn_block_copy4(float *dst, const float *src)
{
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(s), "l"(src) : "memory");
}

/* One thread's share of a column: rows r, r + rs, ... below rows of the
 * column at p (row stride K) into dst (row stride dstep), every row by an
 * asynchronous copy: all of them in flight at once, without registers. */
__device__ static inline void gn_block_stage_col(float *dst, int32_t dstep, const float *p,
                                                 int32_t K, int32_t rows, int32_t r0, int32_t rs)
{
    for (int32_t r = r0; r < rows; r += rs) gn_block_copy4(dst + r * dstep, p + (int64_t)r * K);
}

/* gn_block_stage_col for four neighbouring columns at once (p, and K, a
 * multiple of 4 floats; dst and dstep on 16 bytes): row r's four values
 * go to dst + r dstep by one asynchronous 16-byte copy. The transposed
 * staging (the update's) keeps 4-byte loads: measured, 16-byte loads
 * scattered into four rows gained nothing there (PERF.md, seventh round). */
__device__ static inline void gn_block_stage_col4(float *dst, int32_t dstep, const float *p,
                                                  int32_t K, int32_t rows, int32_t r0, int32_t rs)
{
    for (int32_t r = r0; r < rows; r += rs) gn_block_copy16(dst + r * dstep, p + (int64_t)r * K);
}

/* Stage rows x cn of the batch's columns from c0: dst[r * ld + c] = the
 * operand (w: the weight) of column x = c0 + c at row row0 + r, i.e.
 * e.a[(x - e.start) + (row0 + r) e.K] of x's edge e (transposed:
 * dst[c * ld + r]). A thread keeps one column (its edge found once) and
 * walks rows (gn_block_stage_col); neighbouring threads read neighbouring
 * columns. */
__device__ static inline void gn_block_stage_cols(int32_t ne, bool w, float *dst, int32_t ld, int32_t rows,
                                                  int32_t c0, int32_t cn, int32_t row0,
                                                  bool transposed = false)
{
    const int32_t t = threadIdx.x;
    if (!transposed && (gn_block_vec_sm & (w ? GN_BLOCK_VEC_W : GN_BLOCK_VEC_A)) &&
        ((c0 | cn | ld) & 3) == 0 && gn_block_al16(dst)) {
        /* four columns a thread, one 16-byte copy a row (in one edge: its
         * start and width are multiples of 4, so is x; dst and ld on 16
         * bytes, as every stage's are) */
        const int32_t qn = cn >> 2;
        for (int32_t qb = 0; qb < qn; qb += NT) {
            const int32_t qw = min(NT, qn - qb), rs = GN_IDIV(NT, qw);
            if (t >= rs * qw) continue;
            const int32_t c = (qb + GN_IMOD(t, qw)) * 4, x = c0 + c;
            const struct gn_block_edge &e = gn_block_edge_at(ne, x);
            const int32_t K = e.K;
            const float *p = (w ? e.w : e.a) + (x - e.start) + (int64_t)row0 * K;
            gn_block_stage_col4(dst + c, ld, p, K, rows, GN_IDIV(t, qw), rs);
        }
        return;
    }
    for (int32_t cb = 0; cb < cn; cb += NT) {
        const int32_t cw = min(NT, cn - cb), rs = GN_IDIV(NT, cw);
        if (t >= rs * cw) continue;
        const int32_t c = cb + GN_IMOD(t, cw), x = c0 + c;
        const struct gn_block_edge &e = gn_block_edge_at(ne, x);
        const int32_t K = e.K;
        const float *p = (w ? e.w : e.a) + (x - e.start) + (int64_t)row0 * K;
        if (transposed) gn_block_stage_col(dst + c * ld, 1, p, K, rows, GN_IDIV(t, cw), rs);
        else gn_block_stage_col(dst + c, ld, p, K, rows, GN_IDIV(t, cw), rs);
    }
}

/* Stage rows [row0, row0 + rows) of an n-wide row-major block transposed:
 * dst[j * ld + r] = src[(row0 + r) n + j]; a thread keeps one column. */
__device__ static inline void gn_block_stage_t(float *dst, int32_t ld, const float *src,
                                               int32_t n, int32_t rows, int32_t row0)
{
    const int32_t t = threadIdx.x;
    for (int32_t jb = 0; jb < n; jb += NT) {
        const int32_t jw = min(NT, n - jb), rs = GN_IDIV(NT, jw);
        if (t >= rs * jw) continue;
        const int32_t j = jb + GN_IMOD(t, jw);
        gn_block_stage_col(dst + j * ld, 1, src + (int64_t)row0 * n + j, n, rows, GN_IDIV(t, jw),
                           rs);
    }
}

/* A staging thread's place among the batch's edges as its columns grow:
 * the edge ei holding them, its columns [start, end), and its weight block
 * at the thread's j. */
struct gn_block_edge_cursor {
    int32_t ei, start, end;
    const float *w;
};

/* The cursor at the edge of column x, the thread's first. */
__device__ static inline struct gn_block_edge_cursor
gn_block_edge_cursor_at(int32_t ne, int32_t x, int32_t j)
{
    struct gn_block_edge_cursor e;
    e.ei = gn_block_edge_of(ne, x);
    e.start = gn_block_sm_edge()[e.ei].start;
    e.end = e.start + gn_block_sm_edge()[e.ei].K;
    e.w = gn_block_sm_edge()[e.ei].w + j;
    return e;
}

/* Advance the cursor to the edge of column x (never before its own): no
 * search per load. Returns the weight row of x at j. */
__device__ static inline const float *gn_block_edge_row(struct gn_block_edge_cursor &e, int32_t x,
                                                        int32_t j, int32_t n)
{
    while (x >= e.end) {
        e.ei++;
        e.start = gn_block_sm_edge()[e.ei].start;
        e.end = e.start + gn_block_sm_edge()[e.ei].K;
        e.w = gn_block_sm_edge()[e.ei].w + j;
    }
    return e.w + (int64_t)(x - e.start) * n;
}

/* Stage the n-wide weight rows of columns [c0, c0 + cn) (in-edges):
 * dst[c * n + j] = e.w[(x - e.start) n + j]. A thread keeps one j and walks
 * columns, keeping the edge it is in, by one asynchronous copy a column:
 * 16 bytes, four j, where every weight block starts on 16 bytes and n is a
 * multiple of 4, else 4 bytes. */
__device__ static inline void gn_block_stage_wrows(int32_t ne, float *dst, int32_t c0, int32_t cn, int32_t n)
{
    const int32_t t = threadIdx.x;
    const bool c16 = (gn_block_vec_sm & GN_BLOCK_VEC_N) && gn_block_al16(dst);
    const int32_t W = c16 ? 4 : 1, nw = GN_IDIV(n, W);
    for (int32_t jb = 0; jb < nw; jb += NT) {
        const int32_t jw = min(NT, nw - jb), cs = GN_IDIV(NT, jw);
        if (t >= cs * jw) continue;
        const int32_t j = (jb + GN_IMOD(t, jw)) * W, tc = GN_IDIV(t, jw);
        struct gn_block_edge_cursor e = gn_block_edge_cursor_at(ne, tc < cn ? c0 + tc : c0, j);
        for (int32_t c = tc; c < cn; c += cs) {
            const float *src = gn_block_edge_row(e, c0 + c, j, n);
            if (c16) gn_block_copy16(dst + c * n + j, src);
            else gn_block_copy4(dst + c * n + j, src);
        }
    }
}

/*
 * Staging by the Hopper bulk-copy engine (a variant: GN_BLOCK_TMA, 0 by
 * default, compiled only where asked; docs/PERF.md, forty-fourth round:
 * measured on an H100, =1 0.987-1.001x the step, =3 1.018-1.105x, the
 * same bits; not the default).
 * The warm forward pays ~0.8-1.0 us a copy loop just issuing its 16-byte
 * copies (thirtieth round: the same with every byte hot in L2), so the
 * instructions, not the memory, are the cost. A bulk copy
 * (cp.async.bulk, the TMA unit) moves a whole contiguous run of 16-byte
 * blocks for one instruction:
 *   bit 1  the forward's weight rows: an edge's part of a chunk is one
 *          contiguous run in global and in shared memory (dst[c n + j]),
 *          so one copy an edge (gn_block_tma_wrows);
 *   bit 2  the forward's inputs, bit 4 the backward's errors and weight
 *          columns (gn_block_stage_cols's non-transposed stages): one copy
 *          per edge and row of the chunk (gn_block_tma_cols). Bit 4 costs
 *          spills (594 / 1,044 bytes against 518 / 812), bits 1 and 2 none.
 * The same bytes land in the same places, so the arithmetic and its bits
 * are unchanged; the 16-byte path's conditions (gn_block_vec_sm, 16-byte
 * ends) pick it, anything else stages as before. Completion: one mbarrier
 * a block (arrival count 1). Each warp announces its copies' bytes
 * (mbarrier.expect_tx) before its lanes issue them; after the staging's
 * barrier thread 0 arrives, so the phase ends once every announced byte
 * has landed, and every thread waits for that phase's parity itself
 * (which makes the bytes visible to it). gn_block_tma_ph holds the
 * parity of the phase to come: each thread reads it before the staging's
 * barrier, thread 0 flips it after. A thread issuing bulk copies first
 * runs a proxy fence (fence.proxy.async): what it may read or overwrite
 * was written through the generic proxy (other SMs' stores, ordered by
 * the task's acquire; this block's earlier stages and ops, ordered by
 * barriers).
 */
#ifndef GN_BLOCK_TMA
#define GN_BLOCK_TMA 0
#endif
#if GN_BLOCK_TMA
static __shared__ __align__(8) uint64_t gn_block_tma_bar;
static __shared__ uint32_t gn_block_tma_ph;

__device__ static __forceinline__ unsigned gn_block_tma_bar_at()
{
    return (unsigned)__cvta_generic_to_shared(&gn_block_tma_bar);
}

/* One thread, before any task math and a barrier (the callers' set-up). */
__device__ static inline void gn_block_tma_init()
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(gn_block_tma_bar_at()) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    gn_block_tma_ph = 0;
}

/* Warp-wide (every lane, the same number of times): the lanes' bulk copies
 * of `bytes` each (0: none) from src to dst, their sum announced first. */
__device__ static inline void gn_block_tma_issue(float *dst, const float *src, uint32_t bytes)
{
    const uint32_t total = __reduce_add_sync(0xffffffffu, bytes);
    if (total == 0) return;
    if ((threadIdx.x & 31) == 0)
        asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(
                         gn_block_tma_bar_at()),
                     "r"(total)
                     : "memory");
    __syncwarp();
    if (bytes)
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], "
                     "%2, [%3];\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
                     "l"(src), "r"(bytes), "r"(gn_block_tma_bar_at())
                     : "memory");
}

/* The proxy fence of a thread that will issue bulk copies (above). */
__device__ static __forceinline__ void gn_block_tma_fence()
{
    asm volatile("fence.proxy.async;\n" ::: "memory");
}

/* After the staging's barrier, every thread: thread 0 arrives and flips
 * the parity to come; each waits for phase ph (read before the barrier).
 * Bounded: a phase that never ends (bytes announced and never copied)
 * traps instead of hanging the kernel. */
__device__ static inline void gn_block_tma_done(uint32_t ph)
{
    if (threadIdx.x == 0) {
        asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(
                         gn_block_tma_bar_at())
                     : "memory");
        gn_block_tma_ph = ph ^ 1u;
    }
    for (uint32_t spins = 0;; spins++) {
        uint32_t ok;
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(ok)
                     : "r"(gn_block_tma_bar_at()), "r"(ph)
                     : "memory");
        if (ok) return;
        if (spins > (1u << 26)) __trap();
    }
}

/* gn_block_stage_cols's 16-byte form (not transposed) by bulk copies: for
 * each edge of the chunk [c0, c0 + cn) and each row r < rows, the edge's
 * columns of that row, one copy. Every thread. A call (its loop and
 * divisions kept out of the ops' register allocation). */
__device__ static __noinline__ void gn_block_tma_cols_run(int32_t ne, bool w, float *dst,
                                                          int32_t ld, int32_t rows, int32_t c0,
                                                          int32_t cn)
{
    const int32_t e0 = gn_block_edge_of(ne, c0);
    const int32_t items = (gn_block_edge_of(ne, c0 + cn - 1) - e0 + 1) * rows;
    if ((int32_t)threadIdx.x < items) gn_block_tma_fence();
    for (int32_t ib = 0; ib < items; ib += NT) {
        const int32_t i = ib + (int32_t)threadIdx.x;
        uint32_t bytes = 0;
        float *d = dst;
        const float *s = NULL;
        if (i < items) {
            /* rows of one edge on neighbouring threads */
            const struct gn_block_edge &e = gn_block_sm_edge()[e0 + i / rows];
            const int32_t r = i % rows;
            const int32_t xs = max(c0, e.start), xe = min(c0 + cn, e.start + e.K);
            s = (w ? e.w : e.a) + (xs - e.start) + (int64_t)r * e.K;
            d = dst + r * ld + (xs - c0);
            bytes = (uint32_t)(xe - xs) * 4u;
        }
        gn_block_tma_issue(d, s, bytes);
    }
}

/* gn_block_tma_cols_run where the 16-byte conditions hold and the variant
 * takes this stage (GN_BLOCK_TMA bit 2: the forward's inputs; bit 4: the
 * backward's two stages, `bwd`); else false, nothing issued. */
__device__ static inline bool gn_block_tma_cols(int32_t ne, bool w, float *dst, int32_t ld,
                                                int32_t rows, int32_t c0, int32_t cn, bool bwd)
{
    if (!(GN_BLOCK_TMA & (bwd ? 4 : 2)) ||
        !(gn_block_vec_sm & (w ? GN_BLOCK_VEC_W : GN_BLOCK_VEC_A)) || ((c0 | cn | ld) & 3) != 0 ||
        !gn_block_al16(dst))
        return false;
    gn_block_tma_cols_run(ne, w, dst, ld, rows, c0, cn);
    return true;
}

/* gn_block_stage_wrows's 16-byte form by bulk copies: an edge's weight
 * rows of the chunk are contiguous at both ends, one copy an edge. Every
 * thread; returns 0 where the 16-byte conditions do not hold. Its loop is
 * gn_block_tma_cols_run's with one row and n floats a column, but inline:
 * the one call for both (rows = 1, a column scale u) moved the two-block
 * entry's spills to 534 / 960 bytes at GN_BLOCK_TMA=1 and 602 / 1,044 at
 * 3, against 518 / 812 and 506 / 808 this way. */
__device__ static inline bool gn_block_tma_wrows(int32_t ne, float *dst, int32_t c0, int32_t cn,
                                                 int32_t n)
{
    if (!(GN_BLOCK_TMA & 1) || !(gn_block_vec_sm & GN_BLOCK_VEC_N) || !gn_block_al16(dst))
        return false;
    const int32_t e0 = gn_block_edge_of(ne, c0);
    const int32_t items = gn_block_edge_of(ne, c0 + cn - 1) - e0 + 1;
    if ((int32_t)threadIdx.x < items) gn_block_tma_fence();
    for (int32_t ib = 0; ib < items; ib += NT) {
        const int32_t i = ib + (int32_t)threadIdx.x;
        uint32_t bytes = 0;
        float *d = dst;
        const float *s = NULL;
        if (i < items) {
            const struct gn_block_edge &e = gn_block_sm_edge()[e0 + i];
            const int32_t xs = max(c0, e.start), xe = min(c0 + cn, e.start + e.K);
            s = e.w + (int64_t)(xs - e.start) * n;
            d = dst + (xs - c0) * n;
            bytes = (uint32_t)((xe - xs) * n) * 4u;
        }
        gn_block_tma_issue(d, s, bytes);
    }
    return true;
}
#else
/* the callers' set-up calls it either way (run.cuh, tests/opcheck.cu) */
__device__ static inline void gn_block_tma_init() {}
#endif

/* Row stride of a staged chunk of `cols` columns: a multiple of 4 (float4
 * reads) that is 4 more than a multiple of 32, so eight rows' float4 reads
 * fall on distinct banks; at most cols + 35. */
__device__ static inline int32_t gn_block_ld(int32_t cols)
{
    return ((cols + 31) & ~31) + 4;
}

/* Contiguous floats: dst[i] = src[i], i < total. */
__device__ static inline void gn_block_stage_flat(float *dst, const float *src, int32_t total)
{
    for (int32_t i = threadIdx.x; i < total; i += NT) gn_block_copy4(dst + i, src + i);
}

/* The register path's shape for R rows of width n: thread tid holds column
 * tid % n of rows tid / n + q * (NT / n), q < Q (Q accumulators). */
__device__ static inline bool gn_block_regs(int32_t R, int32_t n, int32_t Q)
{
    return n <= NT && GN_IMOD(NT, n) == 0 && R <= Q * GN_IDIV(NT, n);
}

/* The accumulators per thread an op of R rows of width n is instantiated
 * with: GN_BLOCK_Q0 where that fits (a short tile, e.g. 16 rows of 32),
 * else GN_BLOCK_Q where that fits, else GN_BLOCK_Q2 where that fits (a
 * wide group or a tall tile, e.g. 32 rows of 64 or 64 rows of 32), else
 * GN_BLOCK_Q with the shared-memory accumulators. */
__device__ static inline int32_t gn_block_q_of(int32_t R, int32_t n)
{
    if (gn_block_regs(R, n, GN_BLOCK_Q0)) return GN_BLOCK_Q0;
    return !gn_block_regs(R, n, GN_BLOCK_Q) && gn_block_regs(R, n, GN_BLOCK_Q2) ? GN_BLOCK_Q2
                                                                               : GN_BLOCK_Q;
}

/* The staged row accumulator q of the register path reads: its own row
 * (rr + q step), or for an accumulator past the tile (R rows) the tile's
 * last, so that the multiply-add loop has no predicate per accumulator
 * (each was an ISETP and predicated loads and FFMAs, issued all the same:
 * SASS) and its rows' addresses stay put across the loop. What such an
 * accumulator sums is never stored (the stores test r < R). */
__device__ static inline int32_t gn_block_row(int32_t rr, int32_t q, int32_t step, int32_t R)
{
    return min(rr + q * step, R - 1);
}

/* The forward's or the backward's instantiation for the accumulator count
 * gn_block_q_of picks for the task (F0 for GN_BLOCK_Q0, F for GN_BLOCK_Q,
 * F2 for GN_BLOCK_Q2), run: the one dispatch both ops share. The tensor
 * cores' paths (P not fp32) have no accumulators of this kind: F. */
typedef void (*gn_block_op_fn)(const struct gn_model *, const struct gn_buffers *,
                               const struct gn_group &, int32_t, int32_t, int32_t,
                               const struct gn_block_smem &);
template <int P, gn_block_op_fn F0, gn_block_op_fn F, gn_block_op_fn F2, int NW = 0>
__device__ static inline void gn_block_run_q(const struct gn_model *m, const struct gn_buffers *b,
                                             const struct gn_group &gr, int32_t g, int32_t r0,
                                             int32_t r1, const struct gn_block_smem &sm)
{
    if constexpr (P == GN_PRECISION_FP32) {
        const int32_t q = gn_block_q_of(r1 - r0, NW ? NW : gr.width);
        if (q == GN_BLOCK_Q2) return F2(m, b, gr, g, r0, r1, sm);
        if (q == GN_BLOCK_Q0) return F0(m, b, gr, g, r0, r1, sm);
    }
    F(m, b, gr, g, r0, r1, sm);
}

/* A group width the forward's and the backward's ops are compiled for
 * apart, as a constant (0: none, the default; a variant's knob,
 * -DGN_BLOCK_FIXED_N=32, compiled only where asked): a group of that width
 * runs the instantiations where the width is NW, so that every division
 * and loop bound by it is a constant's (the thread's column and row,
 * NT / n, the weight rows' staging); any other width the general ones.
 * The same arithmetic in the same order either way. Measured on an H100
 * (docs/PERF.md, twenty-ninth round): with the ops compiled apart
 * (GN_BLOCK_OPS_APART) on both sides, 0.968x `layered`'s step and 0.956x
 * `deep`'s; inline it moves the kernel's allocation (spill stores 1216 ->
 * 3672 bytes) and loses that and more (1.00-1.14x). */
#ifndef GN_BLOCK_FIXED_N
#define GN_BLOCK_FIXED_N 0
#endif
/* In an op's entry (gr, P and the arguments in scope): a group of width
 * GN_BLOCK_FIXED_N runs OP's instantiations for it; nothing by default. */
#if GN_BLOCK_FIXED_N
#define GN_BLOCK_RUN_FIXED(OP)                                                                     \
    do {                                                                                           \
        constexpr int NW = GN_BLOCK_FIXED_N;                                                       \
        if (P == GN_PRECISION_FP32 && gr.width == NW)                                              \
            return gn_block_run_q<P, OP<GN_BLOCK_Q0, P, NW>, OP<GN_BLOCK_Q, P, NW>,                \
                                  OP<GN_BLOCK_Q2, P, NW>, NW>(m, b, gr, g, r0, r1, sm);            \
    } while (0)
#else
#define GN_BLOCK_RUN_FIXED(OP) ((void)0)
#endif

/* The register path's loads and chains interleaved (bit 1: the forward's,
 * bit 2: the backward's; 0: off, the default: measured slower, 1.02-1.15x
 * the step, and with 255 registers the arithmetic itself 17-38 % longer:
 * PERF.md, twenty-eighth round): per four columns, every row's inputs are
 * loaded first and the rows' chains then advance a column at a time, Q
 * independent multiply-adds in a row, where the default's machine code
 * loads a row and runs its four dependent multiply-adds at once (PERF.md,
 * twenty-seventh round). Every output's chain is the same (its columns in
 * order): the same bits. */
#ifndef GN_BLOCK_ILV
#define GN_BLOCK_ILV 0
#endif

/* The forward's register path over one staged chunk of cn columns: s[q]
 * (row rr + q step of the tile, column j) += the chunk's inputs (sa,
 * stride lda) times its weight rows (sw, n wide), column by column in
 * order. Each weight is loaded once for the Q rows. */
template <int Q>
__device__ static inline void gn_block_forward_regs(float (&s)[Q], const float *sa, int32_t lda,
                                                    const float *sw, int32_t n, int32_t cn,
                                                    int32_t j, int32_t rr, int32_t step, int32_t R)
{
    int32_t c = 0;
    for (; c + 4 <= cn; c += 4) {
        const float w0 = sw[c * n + j], w1 = sw[(c + 1) * n + j];
        const float w2 = sw[(c + 2) * n + j], w3 = sw[(c + 3) * n + j];
#if GN_BLOCK_ILV & 1
        /* every row's inputs loaded first, then the rows' chains
         * interleaved a column at a time (GN_BLOCK_ILV) */
        float4 a4[Q];
#pragma unroll
        for (int32_t q = 0; q < Q; q++)
            a4[q] = *reinterpret_cast<const float4 *>(sa + gn_block_row(rr, q, step, R) * lda + c);
#pragma unroll
        for (int32_t q = 0; q < Q; q++) s[q] = MAC(s[q], a4[q].x, w0);
#pragma unroll
        for (int32_t q = 0; q < Q; q++) s[q] = MAC(s[q], a4[q].y, w1);
#pragma unroll
        for (int32_t q = 0; q < Q; q++) s[q] = MAC(s[q], a4[q].z, w2);
#pragma unroll
        for (int32_t q = 0; q < Q; q++) s[q] = MAC(s[q], a4[q].w, w3);
#else
#pragma unroll
        for (int32_t q = 0; q < Q; q++) {
            const float4 a4 =
                *reinterpret_cast<const float4 *>(sa + gn_block_row(rr, q, step, R) * lda + c);
            s[q] = MAC(MAC(MAC(MAC(s[q], a4.x, w0), a4.y, w1), a4.z, w2), a4.w, w3);
        }
#endif
    }
    for (; c < cn; c++) {
        const float wv = sw[c * n + j];
#pragma unroll
        for (int32_t q = 0; q < Q; q++) s[q] = MAC(s[q], sa[gn_block_row(rr, q, step, R) * lda + c], wv);
    }
}

/*
 * The forward's register path on column pairs (2, the default since the
 * thirty-fourth round: in place of the one-column form, with the
 * backward's; on an H100 the steps 0.933x (`layered`), 0.949x (`many`),
 * 0.987x (`sweep-64-32`), 0.996-1.007x (`deep`, `one-group`), once the
 * kernel held one copy of the worker loop: PERF.md, thirty-fourth round.
 * In the kernel of two copies they lost by the register allocation they
 * moved: twenty-eighth and twenty-ninth rounds. 1: the pairs for groups
 * 16, 32 or 64 wide beside the one-column form; 0: the one-column form
 * only): where the group is 16, 32 or 64 wide (2: any even width), a thread
 * holds Q / 2 rows (span apart) by 2 neighbouring columns instead of Q rows
 * by one column, lanes 2i and 2i + 1 the two row sets of one column pair.
 * What a multiply-add costs here is shared-memory wavefronts
 * (tools/bench/smem_cost.cu, PERF.md twenty-eighth round: an SM serves one
 * a cycle; a 4-byte load costs one, a 16-byte load two where every quarter
 * of the warp reads at most two 16-byte blocks and four where it reads
 * more, an 8-byte load one where neighbouring lanes share their word): per
 * four columns the default's warp spends 4 x 1 (the weights) + Q x 2 (the
 * inputs' rows, one address a warp) for 4 Q multiply-adds a lane, 0.75
 * cycles an FFMA at Q = 4; here 4 x 1 (8-byte weight pairs, neighbouring
 * lanes sharing each) + Q / 2 x 2 (two rows a load) for the same 4 Q,
 * 0.5 at Q = 4 (0.375 at 8, 0.75 against 1.0 at 2). Every output's chain
 * is the same (its bias, then its columns in order): the same bits.
 */
#ifndef GN_BLOCK_FWD_PAIR
#define GN_BLOCK_FWD_PAIR 2
#endif
#ifndef GN_BLOCK_BWD_PAIR /* the backward's (below) */
#define GN_BLOCK_BWD_PAIR 2
#endif
/* (2: the pairs instead of the one-column form for every even width a
 * block's threads divide, 2 to 256 wide, so that the kernel carries one
 * register path, not two; an odd width, 1, takes the shared-memory
 * accumulators.) The rules of both ops' pairs, mode their setting
 * (GN_BLOCK_FWD_PAIR, GN_BLOCK_BWD_PAIR): whether a group n wide may take
 * the register path at all, and whether the register path runs on pairs. */
#define GN_BLOCK_PAIR_REGS_OK(mode, n) ((mode) != 2 || ((n) & 1) == 0)
#define GN_BLOCK_PAIR_WIDTH(mode, n)                                                               \
    ((mode) == 2 || ((mode) == 1 && ((n) == 16 || (n) == 32 || (n) == 64)))

#if GN_BLOCK_FWD_PAIR || GN_BLOCK_BWD_PAIR
/* Thread tid's place in the pairs over a group n wide: columns col and
 * col + 1 (lanes 2i and 2i + 1 share them), rows slot + i span (of the
 * block's span = NT / (n / 2) row slots); all zero where off. */
struct gn_block_pair {
    int32_t col, slot, span;
};

__device__ static inline struct gn_block_pair gn_block_pair_of(int32_t n, bool on)
{
    const int32_t tid = threadIdx.x;
    struct gn_block_pair pp = {0, 0, 0};
    if (on) {
        pp.col = GN_IMOD(tid >> 1, n >> 1) * 2;
        pp.slot = (tid & 1) + 2 * GN_IDIV(tid, n);
        pp.span = GN_IDIV(2 * NT, n);
    }
    return pp;
}

/* The pairs' outputs v (Q / 2 rows by 2 columns) into out (rows n wide),
 * each through f(value, its index in out); rows past the tile (R) not.
 * One store a float: a group's activations lie on 4 bytes. */
template <int Q, class F>
__device__ static inline void gn_block_pair_store(float *out, int32_t n,
                                                  const struct gn_block_pair &pp, int32_t R,
                                                  const float (&v)[Q], F f)
{
#pragma unroll
    for (int32_t i = 0; i < Q / 2; i++) {
        const int32_t r = pp.slot + i * pp.span;
        if (r < R) {
            const int32_t o = r * n + pp.col;
            out[o] = f(v[2 * i], o);
            out[o + 1] = f(v[2 * i + 1], o + 1);
        }
    }
}
#endif

#if GN_BLOCK_FWD_PAIR

/* The pairs over one staged chunk of cn columns: s[2 i + h] (row
 * slot + i span of the tile, column jp + h) += the chunk's inputs (sa,
 * stride lda) times its weight rows (sw, n wide), column by column in
 * order; rows past the tile read its last (never stored). */
template <int Q>
__device__ static inline void gn_block_forward_pair(float (&s)[Q], const float *sa, int32_t lda,
                                                    const float *sw, int32_t n, int32_t cn,
                                                    int32_t jp, int32_t slot, int32_t span,
                                                    int32_t R)
{
    constexpr int H = Q / 2;
    const float *w = sw + jp;
    int32_t c = 0;
    for (; c + 4 <= cn; c += 4) {
        float4 a4[H];
#pragma unroll
        for (int i = 0; i < H; i++)
            a4[i] = *reinterpret_cast<const float4 *>(sa + gn_block_row(slot, i, span, R) * lda + c);
        const float2 w0 = *reinterpret_cast<const float2 *>(w + c * n);
        const float2 w1 = *reinterpret_cast<const float2 *>(w + (c + 1) * n);
        const float2 w2 = *reinterpret_cast<const float2 *>(w + (c + 2) * n);
        const float2 w3 = *reinterpret_cast<const float2 *>(w + (c + 3) * n);
        const float4 cx = make_float4(w0.x, w1.x, w2.x, w3.x);
        const float4 cy = make_float4(w0.y, w1.y, w2.y, w3.y);
#pragma unroll
        for (int i = 0; i < H; i++) {
            s[2 * i] = gn_mac4(s[2 * i], a4[i], cx);
            s[2 * i + 1] = gn_mac4(s[2 * i + 1], a4[i], cy);
        }
    }
    for (; c < cn; c++) {
        const float2 wv = *reinterpret_cast<const float2 *>(w + c * n);
#pragma unroll
        for (int i = 0; i < H; i++) {
            const float x = sa[gn_block_row(slot, i, span, R) * lda + c];
            s[2 * i] = MAC(s[2 * i], x, wv.x);
            s[2 * i + 1] = MAC(s[2 * i + 1], x, wv.y);
        }
    }
}
#endif

/*
 * The backward's register path on column pairs (1; 0: off, the default:
 * measured with the forward's, PERF.md twenty-eighth round; 2 as the
 * forward's), as the forward's (GN_BLOCK_FWD_PAIR): where the group is 16, 32 or 64 wide, a thread holds Q / 2 rows by 2
 * neighbouring columns k, lanes 2i and 2i + 1 the two row sets of one pair.
 * Per four staged columns the default's warp loads the weights' 16-byte
 * blocks of 32 rows k (four wavefronts) and Q rows of the errors (two
 * each: one address a warp), 4 + 2 Q cycles for 4 Q multiply-adds a lane;
 * here two 16-byte loads of 16 rows k each (a quarter warp reads four
 * blocks, 64 bytes: two wavefronts each if the measured rule holds between
 * its measured cases; not measured alone) and Q / 2 loads of two rows (two
 * each), 4 + Q.
 * Every output's partial sums are the same chains: the same bits.
 */

#if GN_BLOCK_BWD_PAIR
/* The backward's pairs over the columns [cs, ce) of one piece: p[2 i + h]
 * (row slot + i span, column k2 + h) = the piece's partial sums, from the
 * errors' rows (sa, stride ld) and the weight rows k2, k2 + 1 (sw, stride
 * ld); rows past the tile read its last (never stored). */
template <int Q>
__device__ static inline void gn_block_backward_pair(float (&p)[Q], const float *sa,
                                                     const float *sw, int32_t ld, int32_t k2,
                                                     int32_t slot, int32_t span, int32_t R,
                                                     int32_t cs, int32_t ce)
{
    constexpr int H = Q / 2;
    const float *w0 = sw + k2 * ld, *w1 = w0 + ld;
#pragma unroll
    for (int32_t q = 0; q < Q; q++) p[q] = 0.0f;
    int32_t c = cs;
    if ((c & 3) == 0)
        for (; c + 4 <= ce; c += 4) {
            float4 a4[H];
#pragma unroll
            for (int i = 0; i < H; i++)
                a4[i] = *reinterpret_cast<const float4 *>(sa + gn_block_row(slot, i, span, R) * ld + c);
            const float4 u0 = *reinterpret_cast<const float4 *>(w0 + c);
            const float4 u1 = *reinterpret_cast<const float4 *>(w1 + c);
#pragma unroll
            for (int i = 0; i < H; i++) {
                p[2 * i] = gn_mac4(p[2 * i], a4[i], u0);
                p[2 * i + 1] = gn_mac4(p[2 * i + 1], a4[i], u1);
            }
        }
    for (; c < ce; c++) {
        const float v0 = w0[c], v1 = w1[c];
#pragma unroll
        for (int i = 0; i < H; i++) {
            const float y = sa[gn_block_row(slot, i, span, R) * ld + c];
            p[2 * i] = MAC(p[2 * i], y, v0);
            p[2 * i + 1] = MAC(p[2 * i + 1], y, v1);
        }
    }
}
#endif

/*
 * The forward's 2 x 4 tiles (1; 0: off, the default: measured slower in
 * the kernel, 1.04-1.16x the step with 128 registers and 1.10-1.15x with
 * the backward's tiles in 255: PERF.md, twenty-sixth and twenty-seventh
 * rounds; tiles of one row, GN_BLOCK_TILE_ROWS 1, with the backward's:
 * 1.05-1.16x, twenty-eighth): for a tile of a group 16, 32 or 64 wide
 * whose row pairs keep at least half the block busy (gn_block_t24_fits: 32 or 64 rows of 32, 16
 * or 32 rows of 64, 64 or 128 rows of 16), a thread holds 2 rows (R/2
 * apart) by 4 neighbouring columns, n/4 threads a row pair (one a column
 * group): (R/2) x (n/4) threads (128 for 32 rows of 32), the other warps
 * idle through the arithmetic. Per four columns of the chunk
 * a thread loads 2 + 4 16-byte values for 32 multiply-adds, each load one
 * shared-memory wavefront, against 8 for 16 in the one-column form: 768
 * wavefronts for a 32-row forward of 128 inputs instead of 2,048 (alone
 * 1-14 % faster: PERF.md, eleventh round, "The arithmetic: register tiles
 * measured"; two blocks share an SM's shared memory in the kernel). Every
 * output's chain is the same (columns in order, from its bias), so the
 * same bits.
 */
#ifndef GN_BLOCK_FWD_TILE
#define GN_BLOCK_FWD_TILE 0
#endif

/* The tiles' rows a thread (2; 1: 1 x 4 tiles, every row's n / 4 threads
 * each holding 4 of its columns, for tiles where 2 x 4 would leave half
 * the block idle). */
#ifndef GN_BLOCK_TILE_ROWS
#define GN_BLOCK_TILE_ROWS 2
#endif
static_assert(GN_BLOCK_TILE_ROWS == 1 || GN_BLOCK_TILE_ROWS == 2, "tiles of 1 or 2 rows");

/* Whether R rows of a group n wide fit the 2 x 4 tiles (n / 4 threads a
 * row pair, (R + 1) / 2 pairs; or the 1 x 4 tiles) with at least half the
 * block's threads live: n of 16, 32 or 64. */
__device__ static inline bool gn_block_t24_fits(int32_t R, int32_t n)
{
    const int32_t live = (R + GN_BLOCK_TILE_ROWS - 1) / GN_BLOCK_TILE_ROWS * (n / 4);
    return (n == 16 || n == 32 || n == 64) && live >= NT / 2 && live <= NT;
}

/* Whether a forward of R rows of a group n wide runs on the 2 x 4 tiles. */
__device__ static inline bool gn_block_fwd_tile(int32_t R, int32_t n)
{
    return GN_BLOCK_FWD_TILE && gn_block_t24_fits(R, n);
}

/* acc + x.x w.x + x.y w.y + x.z w.z + x.w w.w, a chain of four
 * multiply-adds in that order: one output's four columns in the tiles. */
__device__ static __forceinline__ float gn_mac4(float acc, float4 x, float4 w)
{
    return MAC(MAC(MAC(MAC(acc, x.x, w.x), x.y, w.y), x.z, w.z), x.w, w.w);
}

/* The 2 x 4 tiles over one staged chunk of cn columns: u[a] (row r_a of
 * the tile, columns tj .. tj + 3) += the chunk's inputs (rows a0, a1 of
 * the stage) times its weight rows (sw, n wide), column by column. Tiles
 * of one row (GN_BLOCK_TILE_ROWS 1): a1's sums are never stored, and the
 * compiler drops them. */
__device__ static inline void gn_block_forward_t24(float4 (&u)[2], const float *a0,
                                                   const float *a1, const float *sw, int32_t n,
                                                   int32_t cn, int32_t tj)
{
    const float *w = sw + tj;
    int32_t c = 0;
    for (; c + 4 <= cn; c += 4) {
        const float4 x0 = *reinterpret_cast<const float4 *>(a0 + c);
        const float4 x1 = *reinterpret_cast<const float4 *>(a1 + c);
        const float4 w0 = *reinterpret_cast<const float4 *>(w + c * n);
        const float4 w1 = *reinterpret_cast<const float4 *>(w + (c + 1) * n);
        const float4 w2 = *reinterpret_cast<const float4 *>(w + (c + 2) * n);
        const float4 w3 = *reinterpret_cast<const float4 *>(w + (c + 3) * n);
        const float4 cx = make_float4(w0.x, w1.x, w2.x, w3.x);
        const float4 cy = make_float4(w0.y, w1.y, w2.y, w3.y);
        const float4 cz = make_float4(w0.z, w1.z, w2.z, w3.z);
        const float4 cw = make_float4(w0.w, w1.w, w2.w, w3.w);
        u[0] = make_float4(gn_mac4(u[0].x, x0, cx), gn_mac4(u[0].y, x0, cy), gn_mac4(u[0].z, x0, cz),
                           gn_mac4(u[0].w, x0, cw));
        u[1] = make_float4(gn_mac4(u[1].x, x1, cx), gn_mac4(u[1].y, x1, cy), gn_mac4(u[1].z, x1, cz),
                           gn_mac4(u[1].w, x1, cw));
    }
    for (; c < cn; c++) {
        const float y0 = a0[c], y1 = a1[c];
        const float4 wv = *reinterpret_cast<const float4 *>(w + c * n);
        u[0].x = MAC(u[0].x, y0, wv.x);
        u[0].y = MAC(u[0].y, y0, wv.y);
        u[0].z = MAC(u[0].z, y0, wv.z);
        u[0].w = MAC(u[0].w, y0, wv.w);
        u[1].x = MAC(u[1].x, y1, wv.x);
        u[1].y = MAC(u[1].y, y1, wv.y);
        u[1].z = MAC(u[1].z, y1, wv.z);
        u[1].w = MAC(u[1].w, y1, wv.w);
    }
}

template <int Q, int P, int NW = 0>
__device__ static GN_BLOCK_OP void gn_op_forward_block_q(const struct gn_model *m, const struct gn_buffers *b,
                                             const struct gn_group &gr, int32_t g, int32_t r0,
                                             int32_t r1, const struct gn_block_smem &sm)
{
    const int32_t n = NW ? NW : gr.width, R = r1 - r0, tid = threadIdx.x;
    const float *bias = m->params + gr.bias;
    /* a chunk: R rows of KS staged inputs (stride gn_block_ld(KS)) and KS
     * weight rows of n */
    const int32_t KS = max(1, GN_IDIV(sm.stage_floats - 36 * R, R + n) & ~3);
    const int32_t lda = gn_block_ld(KS);
    float *sa = gn_block_sm_stage(), *sw = gn_block_sm_stage() + R * lda;
    constexpr bool mma = P != GN_PRECISION_FP32; /* the tensor cores, into acc */
#if GN_BLOCK_FWD_TILE
    /* the 2 x 4 tiles (gn_block_fwd_tile): rows th apart, threads tl of
     * them live (compiled only where asked: in the default kernel even
     * dead code of this kind moved ptxas's allocation) */
    const bool t24 = !mma && (Q == GN_BLOCK_Q || Q == GN_BLOCK_Q2) && gn_block_fwd_tile(R, n);
    const int32_t th = GN_BLOCK_TILE_ROWS == 2 ? (R + 1) >> 1 : R, tp = n >> 2;
    const int32_t tj = t24 ? tid % tp * 4 : 0, tr = t24 ? tid / tp : 0;
    const bool tl = t24 && tr < th;
    float4 u[2];
#else
    constexpr bool t24 = false;
#endif
    const bool regs = !t24 && !mma && (Q > GN_BLOCK_Q || gn_block_regs(R, n, Q)) &&
                      GN_BLOCK_PAIR_REGS_OK(GN_BLOCK_FWD_PAIR, n);
    const int32_t j = regs ? GN_IMOD(tid, n) : 0, rr = regs ? GN_IDIV(tid, n) : 0,
                  step = regs ? GN_IDIV(NT, n) : 0;
    float s[Q];
#if GN_BLOCK_FWD_PAIR
    /* column pairs (gn_block_forward_pair) */
    const bool pair = regs && GN_BLOCK_PAIR_WIDTH(GN_BLOCK_FWD_PAIR, n);
    const struct gn_block_pair pp = gn_block_pair_of(n, pair);
#endif
    GN_BLOCK_DIAG(GROUP, gr.in_count);
    if (t24) {
#if GN_BLOCK_FWD_TILE
        if (tl) {
            const float4 b4 = make_float4(__ldcg(bias + tj), __ldcg(bias + tj + 1),
                                          __ldcg(bias + tj + 2), __ldcg(bias + tj + 3));
            u[0] = b4;
            u[1] = b4;
        }
#endif
    } else if (regs) {
#if GN_BLOCK_FWD_PAIR
        if (pair) {
            const float b0 = __ldcg(bias + pp.col), b1 = __ldcg(bias + pp.col + 1);
#pragma unroll
            for (int32_t q = 0; q < Q; q++) s[q] = q & 1 ? b1 : b0;
        } else
#endif
        {
            const float bj = __ldcg(bias + j);
#pragma unroll
            for (int32_t q = 0; q < Q; q++) s[q] = bj;
            GN_BLOCK_DIAG(BIAS, bj);
        }
    } else {
        for (int32_t i = tid; i < R * n; i += NT) gn_block_sm_acc(sm)[i] = __ldcg(bias + i % n);
    }
    for (int32_t e0 = 0; e0 < gr.in_count; e0 += GN_BLOCK_NEDGE) {
        const int32_t ne = min(GN_BLOCK_NEDGE, gr.in_count - e0);
        const int32_t total = gn_block_edges(m, b, gr, e0, ne, r0, false);
        GN_BLOCK_MARK(EDGES);
        for (int32_t c0 = 0; c0 < total; c0 += KS) {
            const int32_t cn = min(KS, total - c0);
            if (c0 > 0) __syncthreads(); /* the previous chunk's readers are done */
#if GN_BLOCK_TMA
            /* bulk copies where they apply (GN_BLOCK_TMA) */
            const uint32_t ph = gn_block_tma_ph;
            const bool ta = gn_block_tma_cols(ne, false, sa, lda, R, c0, cn, false);
            if (!ta)
#endif
            gn_block_stage_cols(ne, false, sa, lda, R, c0, cn, 0);
            GN_BLOCK_DIAG(ISSUE_A, 0);
#if GN_BLOCK_TMA
            const bool tw = gn_block_tma_wrows(ne, sw, c0, cn, n);
            if (!tw)
#endif
            gn_block_stage_wrows(ne, sw, c0, cn, n);
            GN_BLOCK_DIAG(ISSUE, 0);
            gn_block_stage_wait();
            GN_BLOCK_DIAG(WAIT, 0);
            __syncthreads();
#if GN_BLOCK_TMA
            if (ta || tw) gn_block_tma_done(ph);
#endif
            GN_BLOCK_MARK(STAGE);
            GN_BLOCK_STAGED();
            if constexpr (mma) {
                gn_mma_block<P>(gn_block_sm_acc(sm), n, sa, lda, 1, sw, n, 1, R, n, cn);
            } else if (t24) {
#if GN_BLOCK_FWD_TILE
                if (tl)
                    gn_block_forward_t24(u, sa + tr * lda, sa + min(tr + th, R - 1) * lda, sw, n,
                                         cn, tj);
#endif
            } else if (regs) {
#if GN_BLOCK_FWD_PAIR
                if (pair)
                    gn_block_forward_pair<Q>(s, sa, lda, sw, n, cn, pp.col, pp.slot, pp.span, R);
                else
#endif
                    gn_block_forward_regs<Q>(s, sa, lda, sw, n, cn, j, rr, step, R);
            } else {
                for (int32_t i = tid; i < R * n; i += NT) {
                    const int32_t r = i / n, jj = i % n;
                    const float *ar = sa + r * lda;
                    float t = gn_block_sm_acc(sm)[i];
                    for (int32_t c = 0; c < cn; c++) t = MAC(t, ar[c], sw[c * n + jj]);
                    gn_block_sm_acc(sm)[i] = t;
                }
            }
            GN_BLOCK_MARK(MATH);
        }
    }
    GN_BLOCK_COMPUTED();
    float *out = gn_act(b, g) + (int64_t)r0 * n;
    const bool relu = gr.kind == GN_GROUP_HIDDEN;
    if (t24) {
#if GN_BLOCK_FWD_TILE
        if (tl) {
#pragma unroll
            for (int32_t a = 0; a < GN_BLOCK_TILE_ROWS; a++) {
                const int32_t r = tr + a * th;
                if (r < R) {
                    float *o = out + r * n + tj;
                    o[0] = relu ? fmaxf(u[a].x, 0.0f) : u[a].x;
                    o[1] = relu ? fmaxf(u[a].y, 0.0f) : u[a].y;
                    o[2] = relu ? fmaxf(u[a].z, 0.0f) : u[a].z;
                    o[3] = relu ? fmaxf(u[a].w, 0.0f) : u[a].w;
                }
            }
        }
#endif
    } else if (regs) {
#if GN_BLOCK_FWD_PAIR
        if (pair)
            gn_block_pair_store<Q>(out, n, pp, R, s,
                                   [=](float v, int32_t) { return relu ? fmaxf(v, 0.0f) : v; });
        else
#endif
#pragma unroll
        for (int32_t q = 0; q < Q; q++) {
            const int32_t r = rr + q * step;
            if (r < R) out[r * n + j] = relu ? fmaxf(s[q], 0.0f) : s[q];
        }
    } else {
        /* each thread reads back only the accumulators it wrote (mma:
         * the warps' tiles, after a barrier) */
        if (mma) __syncthreads();
        for (int32_t i = tid; i < R * n; i += NT) {
            const float v = gn_block_sm_acc(sm)[i];
            out[i] = relu ? fmaxf(v, 0.0f) : v;
        }
    }
}

/* gr: g's record, which the caller has in hand (the persistent kernel's
 * position records, worker.cuh; the op tests read groups[g]), for this op
 * and the backward and update ops alike. */
template <int P = GN_PRECISION>
__device__ static void gn_op_forward_block(const struct gn_model *m, const struct gn_buffers *b,
                                           const struct gn_group &gr, int32_t g, int32_t r0,
                                           int32_t r1, const struct gn_block_smem &sm)
{
    GN_BLOCK_RUN_FIXED(gn_op_forward_block_q);
    gn_block_run_q<P, gn_op_forward_block_q<GN_BLOCK_Q0, P>, gn_op_forward_block_q<GN_BLOCK_Q, P>,
                   gn_op_forward_block_q<GN_BLOCK_Q2, P>>(m, b, gr, g, r0, r1, sm);
}

__device__ static void gn_op_loss_block(const struct gn_model *m, const struct gn_buffers *b,
                                        int32_t r0, int32_t r1)
{
    const int32_t C = m->classes;
    const float inv = 1.0f / (float)b->rows;
    for (int32_t r = r0 + (int32_t)threadIdx.x; r < r1; r += NT)
        gn_loss_row(b, C, r, inv);
}

/* The backward's mask read ahead (1, or 2: packed into one word at once,
 * or 3: staged into shared memory; 0: off, the default until measured on
 * the card): the register path loads the activations that mask its
 * outputs (a ReLU's derivative) at the task's start instead of after the
 * arithmetic, where that load was the last dependent round trip of every
 * backward task (the profile's backward time outside edges, staging and
 * arithmetic: 1.9 us a task on layered against 0.55 for a forward, H100,
 * PERF.md twenty-sixth round). Same values, same bits. Compiled only where
 * asked, as GN_BLOCK_FWD_TILE. */
#ifndef GN_BLOCK_BWD_MASK
#define GN_BLOCK_BWD_MASK 0
#endif
static_assert(!(GN_BLOCK_BWD_PAIR && GN_BLOCK_BWD_MASK), "the pairs read their own mask");

/*
 * The backward's 2 x 4 tiles (1; 0: off, the default: with the forward's,
 * measured slower, PERF.md twenty-seventh round), the forward's shape turned over, on the same tiles
 * (gn_block_t24_fits): a thread holds 2 rows (R/2 apart) by 4 columns k
 * K/4 apart, K/4 threads a row pair (neighbouring k). Per four staged
 * columns a thread loads 2 + 4 16-byte values (the two rows' errors, the
 * four weight rows, each load of the row pair's threads K/4 neighbouring
 * rows at the stage's stride: no bank conflict) for 32
 * multiply-adds, against 8 wavefronts for 16 in the one-column form. Every
 * output's partial sums are the same chains (columns in order within each
 * KC-wide piece, each piece added on its own), so the same bits. Compiled
 * only where asked, as GN_BLOCK_FWD_TILE.
 */
#ifndef GN_BLOCK_BWD_TILE
#define GN_BLOCK_BWD_TILE 0
#endif

#if GN_BLOCK_BWD_TILE
/* The 2 x 4 tiles over the columns [cs, ce) of one piece: v[a] (row a of
 * the pair, columns k, k + K/4, k + K/2, k + 3K/4) = the piece's partial
 * sums, from the rows a0, a1 of the errors and the weight rows w (row k;
 * wst: the stage's stride times K/4, so that the K/4 threads of a row
 * pair read K/4 neighbouring rows at once: one wavefront, no conflict). */
__device__ static inline void gn_block_backward_t24(float4 (&v)[2], const float *a0,
                                                    const float *a1, const float *w, int32_t wst,
                                                    int32_t cs, int32_t ce)
{
    const float *w1 = w + wst, *w2 = w + 2 * wst, *w3 = w + 3 * wst;
    v[0] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    v[1] = v[0];
    int32_t c = cs;
    if ((c & 3) == 0)
        for (; c + 4 <= ce; c += 4) {
            const float4 x0 = *reinterpret_cast<const float4 *>(a0 + c);
            const float4 x1 = *reinterpret_cast<const float4 *>(a1 + c);
            const float4 u0 = *reinterpret_cast<const float4 *>(w + c);
            const float4 u1 = *reinterpret_cast<const float4 *>(w1 + c);
            const float4 u2 = *reinterpret_cast<const float4 *>(w2 + c);
            const float4 u3 = *reinterpret_cast<const float4 *>(w3 + c);
            v[0] = make_float4(gn_mac4(v[0].x, x0, u0), gn_mac4(v[0].y, x0, u1),
                               gn_mac4(v[0].z, x0, u2), gn_mac4(v[0].w, x0, u3));
            v[1] = make_float4(gn_mac4(v[1].x, x1, u0), gn_mac4(v[1].y, x1, u1),
                               gn_mac4(v[1].z, x1, u2), gn_mac4(v[1].w, x1, u3));
        }
    for (; c < ce; c++) {
        const float y0 = a0[c], y1 = a1[c];
        v[0].x = MAC(v[0].x, y0, w[c]);
        v[0].y = MAC(v[0].y, y0, w1[c]);
        v[0].z = MAC(v[0].z, y0, w2[c]);
        v[0].w = MAC(v[0].w, y0, w3[c]);
        v[1].x = MAC(v[1].x, y1, w[c]);
        v[1].y = MAC(v[1].y, y1, w1[c]);
        v[1].z = MAC(v[1].z, y1, w2[c]);
        v[1].w = MAC(v[1].w, y1, w3[c]);
    }
}

__device__ static inline float4 gn_block_add4(float4 a, float4 b)
{
    return make_float4(__fadd_rn(a.x, b.x), __fadd_rn(a.y, b.y), __fadd_rn(a.z, b.z),
                       __fadd_rn(a.w, b.w));
}
#endif

template <int Q, int P, int NW = 0>
__device__ static GN_BLOCK_OP void gn_op_backward_block_q(const struct gn_model *m, const struct gn_buffers *b,
                                              const struct gn_group &gr, int32_t g, int32_t r0,
                                              int32_t r1, const struct gn_block_smem &sm)
{
    const int32_t K = NW ? NW : gr.width, R = r1 - r0, tid = threadIdx.x;
    /* a chunk: R rows of the targets' errors and K rows of the weights'
     * columns, JS columns each (odd stride) */
    const int32_t JS = (GN_IDIV(sm.stage_floats, R + K) - 36) & ~3;
    const int32_t ld = gn_block_ld(JS);
    float *sa = gn_block_sm_stage(), *sw = gn_block_sm_stage() + R * ld;
    constexpr bool mma = P != GN_PRECISION_FP32; /* the tensor cores, into acc */
#if GN_BLOCK_BWD_TILE
    /* the 2 x 4 tiles: rows th apart, threads tl of them live */
    const bool t24 = !mma && (Q == GN_BLOCK_Q || Q == GN_BLOCK_Q2) && gn_block_t24_fits(R, K);
    const int32_t th = GN_BLOCK_TILE_ROWS == 2 ? (R + 1) >> 1 : R, tp = K >> 2;
    const int32_t tk = t24 ? tid % tp : 0, tr = t24 ? tid / tp : 0;
    const bool tl = t24 && tr < th;
    float4 u[2] = {make_float4(0.0f, 0.0f, 0.0f, 0.0f), make_float4(0.0f, 0.0f, 0.0f, 0.0f)};
#else
    constexpr bool t24 = false;
#endif
    const bool regs = !t24 && !mma && (Q > GN_BLOCK_Q || gn_block_regs(R, K, Q)) &&
                      GN_BLOCK_PAIR_REGS_OK(GN_BLOCK_BWD_PAIR, K);
    const int32_t k = regs ? GN_IMOD(tid, K) : 0, rr = regs ? GN_IDIV(tid, K) : 0,
                  step = regs ? GN_IDIV(NT, K) : 0;
    float t[Q];
#if GN_BLOCK_BWD_PAIR
    /* column pairs (gn_block_backward_pair) */
    const bool pair = regs && GN_BLOCK_PAIR_WIDTH(GN_BLOCK_BWD_PAIR, K);
    const struct gn_block_pair pp = gn_block_pair_of(K, pair);
#endif
#if GN_BLOCK_BWD_MASK == 1 || GN_BLOCK_BWD_MASK == 2
    /* the activations that mask the error, loaded now: their round trip
     * runs beside the edges' reads, the staging and the arithmetic instead
     * of after them (1: held until the end; 2: tested at once into one
     * word, bit q for row rr + q step, the thread waiting for the loads
     * beside warp 0's read of the edges' records, which the block's next
     * barrier waits for anyway: one register held across the task, not Q) */
    float av[Q];
#if GN_BLOCK_BWD_MASK == 2
    uint32_t live = 0;
#endif
    if (regs) {
        const float *a = gn_act(b, g) + (int64_t)r0 * K;
#pragma unroll
        for (int32_t q = 0; q < Q; q++) {
            const int32_t r = rr + q * step;
            av[q] = r < R ? __ldcg(a + r * K + k) : 0.0f;
        }
#if GN_BLOCK_BWD_MASK == 2
#pragma unroll
        for (int32_t q = 0; q < Q; q++) live |= (av[q] > 0.0f ? 1u : 0u) << q;
#endif
    }
#elif GN_BLOCK_BWD_MASK == 3
    /* the same, staged: the tile's activations (R x K, contiguous) copied
     * into the accumulators' region (which the register path leaves
     * unused) by asynchronous copies issued now, waited for with the first
     * chunk's, read from shared memory at the end: no register held */
    if (regs) gn_block_stage_flat(gn_block_sm_acc(sm), gn_act(b, g) + (int64_t)r0 * K, R * K);
#endif
    if (regs) {
#pragma unroll
        for (int32_t q = 0; q < Q; q++) t[q] = 0.0f;
    } else if (!t24) {
        for (int32_t i = tid; i < R * K; i += NT) gn_block_sm_acc(sm)[i] = 0.0f;
    }
    {
        /* the activations that mask the error (a ReLU's derivative, read
         * at the end) prefetched into L1 now, one 128-byte line a thread:
         * their round trip runs beside the edges, the staging and the
         * arithmetic, and no register holds anything across them. L1 is
         * coherent for them: its lines were emptied by the task's acquire
         * fence, and g's forward, which wrote them, is before it. Measured
         * on an H100 (PERF.md, thirty-ninth round): the backward kind's
         * time 0.97-0.98x, the step 0.992x on `layered`, `many` and
         * `deep`, 1.000-1.003x on `sweep-64-32` and `one-group`. */
        const uintptr_t a0 = (uintptr_t)(gn_act(b, g) + (int64_t)r0 * K) & ~(uintptr_t)127;
        const uintptr_t a1 = (uintptr_t)(gn_act(b, g) + (int64_t)(r0 + R) * K);
        const uintptr_t p = a0 + (uintptr_t)tid * 128;
        if (p < a1) asm volatile("prefetch.global.L1 [%0];" ::"l"(p));
        for (uintptr_t q = p + NT * 128; q < a1; q += NT * 128)
            asm volatile("prefetch.global.L1 [%0];" ::"l"(q));
    }
    for (int32_t e0 = 0; e0 < gr.out_count; e0 += GN_BLOCK_NEDGE) {
        const int32_t ne = min(GN_BLOCK_NEDGE, gr.out_count - e0);
        const int32_t total = gn_block_edges(m, b, gr, e0, ne, r0, true);
        GN_BLOCK_MARK(EDGES);
        for (int32_t c0 = 0; c0 < total;) {
            const int32_t cn = gn_block_chunk_out(ne, total, c0, JS);
            if (c0 > 0) __syncthreads(); /* the previous chunk's readers are done */
#if GN_BLOCK_TMA
            /* bulk copies where they apply (GN_BLOCK_TMA) */
            const uint32_t ph = gn_block_tma_ph;
            const bool ta = gn_block_tma_cols(ne, false, sa, ld, R, c0, cn, true);
            if (!ta)
#endif
            gn_block_stage_cols(ne, false, sa, ld, R, c0, cn, 0);
#if GN_BLOCK_TMA
            const bool tw = gn_block_tma_cols(ne, true, sw, ld, K, c0, cn, true);
            if (!tw)
#endif
            gn_block_stage_cols(ne, true, sw, ld, K, c0, cn, 0);
            gn_block_stage_wait();
            __syncthreads();
#if GN_BLOCK_TMA
            if (ta || tw) gn_block_tma_done(ph);
#endif
            GN_BLOCK_MARK(STAGE);
            GN_BLOCK_STAGED();
            /* partial sums over each KC-wide piece of a target (the piece
             * [x, pe) of edge e), each added on its own: the reference's
             * order; a chunk ends where a piece ends (mma: the chunk at
             * once) */
            if constexpr (mma) gn_mma_block<P>(gn_block_sm_acc(sm), K, sa, ld, 1, sw, 1, ld, R, K, cn);
            for (int32_t x = c0; !mma && x < c0 + cn;) {
                const struct gn_block_edge &e = gn_block_edge_at(ne, x);
                const int32_t pe = e.start + min((x - e.start) / KC * KC + KC, e.K);
                if (t24) {
#if GN_BLOCK_BWD_TILE
                    if (tl) {
                        float4 v[2];
                        gn_block_backward_t24(v, sa + tr * ld, sa + min(tr + th, R - 1) * ld,
                                              sw + tk * ld, tp * ld, x - c0, pe - c0);
                        u[0] = gn_block_add4(u[0], v[0]);
                        if (GN_BLOCK_TILE_ROWS == 2) u[1] = gn_block_add4(u[1], v[1]);
                    }
#endif
                } else if (regs) {
                    float p[Q];
#if GN_BLOCK_BWD_PAIR
                    if (pair) {
                        gn_block_backward_pair<Q>(p, sa, sw, ld, pp.col, pp.slot, pp.span, R,
                                                  x - c0, pe - c0);
#pragma unroll
                        for (int32_t q = 0; q < Q; q++) t[q] = __fadd_rn(t[q], p[q]);
                        x = pe;
                        continue;
                    }
#endif
#pragma unroll
                    for (int32_t q = 0; q < Q; q++) p[q] = 0.0f;
                    int32_t c = x - c0;
                    if ((c & 3) == 0)
                        for (; c + 4 <= pe - c0; c += 4) {
                            const float4 w4 = *reinterpret_cast<const float4 *>(sw + k * ld + c);
#if GN_BLOCK_ILV & 2
                            float4 a4[Q];
#pragma unroll
                            for (int32_t q = 0; q < Q; q++)
                                a4[q] = *reinterpret_cast<const float4 *>(
                                    sa + gn_block_row(rr, q, step, R) * ld + c);
#pragma unroll
                            for (int32_t q = 0; q < Q; q++) p[q] = MAC(p[q], a4[q].x, w4.x);
#pragma unroll
                            for (int32_t q = 0; q < Q; q++) p[q] = MAC(p[q], a4[q].y, w4.y);
#pragma unroll
                            for (int32_t q = 0; q < Q; q++) p[q] = MAC(p[q], a4[q].z, w4.z);
#pragma unroll
                            for (int32_t q = 0; q < Q; q++) p[q] = MAC(p[q], a4[q].w, w4.w);
#else
#pragma unroll
                            for (int32_t q = 0; q < Q; q++) {
                                const float4 a4 = *reinterpret_cast<const float4 *>(
                                    sa + gn_block_row(rr, q, step, R) * ld + c);
                                p[q] = MAC(MAC(MAC(MAC(p[q], a4.x, w4.x), a4.y, w4.y), a4.z, w4.z),
                                           a4.w, w4.w);
                            }
#endif
                        }
                    for (; c < pe - c0; c++) {
                        const float wv = sw[k * ld + c];
#pragma unroll
                        for (int32_t q = 0; q < Q; q++)
                            p[q] = MAC(p[q], sa[gn_block_row(rr, q, step, R) * ld + c], wv);
                    }
#pragma unroll
                    for (int32_t q = 0; q < Q; q++) t[q] = __fadd_rn(t[q], p[q]);
                } else {
                    for (int32_t i = tid; i < R * K; i += NT) {
                        const float *dr = sa + (i / K) * ld, *wk = sw + (i % K) * ld;
                        float p = 0.0f;
                        for (int32_t c = x - c0; c < pe - c0; c++) p = MAC(p, dr[c], wk[c]);
                        gn_block_sm_acc(sm)[i] = __fadd_rn(gn_block_sm_acc(sm)[i], p);
                    }
                }
                x = pe;
            }
            GN_BLOCK_MARK(MATH);
            c0 += cn;
        }
    }
    GN_BLOCK_COMPUTED();
    const float *a = gn_act(b, g) + (int64_t)r0 * K;
    float *out = gn_dz(b, g) + (int64_t)r0 * K;
#if GN_BLOCK_BWD_MASK == 3
    if (regs && gr.out_count == 0) {
        /* no chunk waited for the activations' copies */
        gn_block_stage_wait();
        __syncthreads();
    }
#endif
    if (t24) {
#if GN_BLOCK_BWD_TILE
        if (tl) {
#pragma unroll
            for (int32_t h = 0; h < GN_BLOCK_TILE_ROWS; h++) {
                const int32_t r = tr + h * th;
                if (r < R) {
                    const float *ar = a + r * K + tk;
                    float *o = out + r * K + tk;
                    o[0] = __ldca(ar) > 0.0f ? u[h].x : 0.0f;
                    o[tp] = __ldca(ar + tp) > 0.0f ? u[h].y : 0.0f;
                    o[2 * tp] = __ldca(ar + 2 * tp) > 0.0f ? u[h].z : 0.0f;
                    o[3 * tp] = __ldca(ar + 3 * tp) > 0.0f ? u[h].w : 0.0f;
                }
            }
        }
#endif
    } else if (regs) {
#if GN_BLOCK_BWD_PAIR
        if (pair)
            gn_block_pair_store<Q>(out, K, pp, R, t, [=](float v, int32_t o) {
                return __ldca(a + o) > 0.0f ? v : 0.0f;
            });
        else
#endif
#pragma unroll
        for (int32_t q = 0; q < Q; q++) {
            const int32_t r = rr + q * step;
#if GN_BLOCK_BWD_MASK == 1
            if (r < R) out[r * K + k] = av[q] > 0.0f ? t[q] : 0.0f;
#elif GN_BLOCK_BWD_MASK == 2
            if (r < R) out[r * K + k] = (live >> q) & 1u ? t[q] : 0.0f;
#elif GN_BLOCK_BWD_MASK == 3
            if (r < R) out[r * K + k] = gn_block_sm_acc(sm)[r * K + k] > 0.0f ? t[q] : 0.0f;
#else
            if (r < R) out[r * K + k] = __ldca(a + r * K + k) > 0.0f ? t[q] : 0.0f;
#endif
        }
    } else {
        if (mma) __syncthreads(); /* the warps' tiles */
        for (int32_t i = tid; i < R * K; i += NT) out[i] = __ldca(a + i) > 0.0f ? gn_block_sm_acc(sm)[i] : 0.0f;
    }
}

template <int P = GN_PRECISION>
__device__ static void gn_op_backward_block(const struct gn_model *m, const struct gn_buffers *b,
                                            const struct gn_group &gr, int32_t g, int32_t r0,
                                            int32_t r1, const struct gn_block_smem &sm)
{
    GN_BLOCK_RUN_FIXED(gn_op_backward_block_q);
    gn_block_run_q<P, gn_op_backward_block_q<GN_BLOCK_Q0, P>, gn_op_backward_block_q<GN_BLOCK_Q, P>,
                   gn_op_backward_block_q<GN_BLOCK_Q2, P>>(m, b, gr, g, r0, r1, sm);
}

/* The optimizer's rule on U entries of one thread: their gradients into
 * m->grads, the rule (optim.h, the host's very function, so it rounds as
 * the host rounds) on values loaded all before any is stored (the loads
 * overlap). weight: 1 for weights (decayed), 0 for a bias. idx < 0: none. */
template <int U>
__device__ static inline void gn_block_apply(struct gn_model *m, const int64_t *idx,
                                             const float *grad, int weight,
                                             const struct gn_optim_step &k)
{
    float p[U], m1[U], m2[U];
    const bool two = k.kind != GN_OPTIM_SGD;
    /* the model's arrays read once: a store through a float pointer may,
     * for the compiler, rewrite the model's own pointers, so through m
     * every store would wait for its array's pointer loaded again (one
     * chain of 4 U loads and stores a thread; measured on an H100 it cost
     * no step time, the model being in shared memory: PERF.md,
     * thirty-first round) */
    float *const params = m->params;
    float *const moment = m->moment;
    float *const moment2 = m->moment2;
    float *const grads = m->grads;
#pragma unroll
    for (int32_t q = 0; q < U; q++) {
        if (idx[q] >= 0) {
            p[q] = __ldcg(params + idx[q]);
            m1[q] = __ldcg(moment + idx[q]);
            m2[q] = two ? __ldcg(moment2 + idx[q]) : 0.0f;
        }
    }
    bool bad = false;
#ifdef GN_DIAG_TIMELINE
    /* the timeline build: the loads waited for, the rule, the stores, each
     * apart (thread 0 waits for its values before each mark). The default
     * build keeps the loop below, rule and stores together: the split form
     * with empty marks compiles to other machine code (all six entries,
     * tf32's and bf16's spills up; fortieth round), not measured on a card */
    const auto wait = [&]() {
        float s = 0.0f;
#pragma unroll
        for (int32_t q = 0; q < U; q++)
            if (idx[q] >= 0) s += p[q] + m1[q] + m2[q];
        GN_APPLY_WAIT(s);
    };
    wait();
    GN_APPLY_MARK(1);
#pragma unroll
    for (int32_t q = 0; q < U; q++)
        if (idx[q] >= 0) {
            bad |= !gn_stat_entry_ok(grad[q]);
            gn_optim_apply(&p[q], &m1[q], &m2[q], grad[q], weight, &k);
        }
    wait();
    GN_APPLY_MARK(2);
#pragma unroll
    for (int32_t q = 0; q < U; q++)
        if (idx[q] >= 0) {
            grads[idx[q]] = grad[q];
            params[idx[q]] = p[q];
            moment[idx[q]] = m1[q];
            if (two) moment2[idx[q]] = m2[q];
        }
    GN_APPLY_MARK(3);
#else
#pragma unroll
    for (int32_t q = 0; q < U; q++) {
        if (idx[q] >= 0) {
            bad |= !gn_stat_entry_ok(grad[q]);
            gn_optim_apply(&p[q], &m1[q], &m2[q], grad[q], weight, &k);
            grads[idx[q]] = grad[q];
            params[idx[q]] = p[q];
            moment[idx[q]] = m1[q];
            if (two) moment2[idx[q]] = m2[q];
        }
    }
#endif
    if (bad) gn_block_bad_sm = 1;
}

/* Outputs of the update per thread and block pass (8, the default; 16:
 * the tiles of 4 input rows by 4 columns, a variant's knob, compiled only
 * where asked: alone 0.89x the op on a 64-wide group's 64 rows, 1.55x on
 * a 32-wide group's; in the kernel, apart (GN_UPD_APART), measured on an
 * H100 against main: 1.056x `layered`'s step, 1.219x `many`'s (its
 * 16-wide groups' update tasks 1.55x), 1.036x `deep`'s: PERF.md,
 * thirty-second round). */
#ifndef GN_BLOCK_UQ
#define GN_BLOCK_UQ 8
#endif

/* The update's optimizer runs on this many of a thread's outputs at a time
 * (gn_block_apply): 4, the default, since the thirty-ninth round; 8 before.
 * Runs of 4 hold half the offsets and loaded values at once: the two-block
 * entry's spill stores / loads 730 / 1,240 -> 514 / 792 bytes, the same
 * bits. Measured on an H100 against 8 (PERF.md, thirty-ninth round, two
 * calls): `layered` 0.986 and 0.985 of the step, `many` 0.989 and 0.990,
 * `deep` 0.995 twice, `sweep-64-32` 0.998 and 0.999, `one-group` 0.999
 * and 1.005; the backward tasks' time, not the update's, is what fell. */
#ifndef GN_BLOCK_AU
#define GN_BLOCK_AU 4
#endif

/*
 * The update's register tiles (1, the default; 0: off, the one-column
 * form below for every width): where the group is 16, 32, 64 or 128 wide (fp32), a warp
 * holds a 16 x 16 block of a pass's outputs, a thread 2 input rows k
 * (8 apart) by 4 columns j (4 apart): lanes 8 consecutive k by 4
 * consecutive j. Per four batch rows a thread loads 2 + 4 16-byte values
 * for 32 multiply-adds, every load a full or half shared-memory wavefront
 * (8 consecutive k, 4 consecutive j: distinct banks with the transposed
 * stride gn_block_ld), against 8 broadcast loads and one four-wavefront
 * load in the one-column form: 6 wavefronts for 32 multiply-adds instead
 * of 12. Every output's chain is the same (rows in order), so the same
 * bits; only which thread sums which output changes. Measured on an H100
 * against the one-column form (PERF.md, twenty-sixth round): one-group
 * 0.981, sweep-64-32 0.975, layered 0.972, many 0.974, deep 1.000 of the
 * step, the same final losses.
 */
#ifndef GN_BLOCK_UPD_TILE
#define GN_BLOCK_UPD_TILE 1
#endif
static_assert(GN_BLOCK_UPD_TILE == 0 || GN_BLOCK_UQ == 8 || GN_BLOCK_UQ == 16,
              "the update's tiles are 8 or 16 outputs a thread");

/* Whether a pass of the update over a group n wide runs on the tiles: n / 16
 * warps a 16-row band of the pass's outputs, so n <= NT / 2 (every width
 * of 256 threads; up to 64 of 128). */
__device__ static inline bool gn_block_upd_tile(int32_t n)
{
    if constexpr (NT >= 256) return GN_BLOCK_UPD_TILE && (n == 16 || n == 32 || n == 64 || n == 128);
    return GN_BLOCK_UPD_TILE && (n == 16 || n == 32 || n == 64 || n == 128) && n <= NT / 2;
}

/*
 * Weight gradients and the optimizer's step for input rows [k0, k1) of g
 * (the in-edges' blocks stacked in canonical order; k0 == 0 also does the
 * bias), each gradient summed over all rows of the batch in row order
 * (gn_op_grad and gn_op_update of the reference, for one slice of the
 * group's parameters); k: the step's constants (gn_optim_at).
 *
 * Outputs go in blocks of kb input rows (kb n <= GN_BLOCK_UQ NT), each
 * thread holding up to GN_BLOCK_UQ of them in registers: output o of the
 * block is (o / n, o % n), thread tid has o = tid + q NT. The batch is
 * staged RS rows at a time, transposed (a column's rows contiguous, read
 * four at a time): RS rows of dz(g) and of the block's kb input columns;
 * the bias's sums (k0 == 0) ride along the first block's rows. tf32 and
 * bf16 (P): the block's gradients accumulate on the tensor cores in a
 * (kb, n) tile at the stage's end, read back into the same registers for
 * the optimizer.
 */
/* 1: the update compiled apart from the kernel's body (a call, so that
 * its registers are its own, as the statistic's are); 0, the default:
 * inline, or apart with every op (GN_BLOCK_OPS_APART). Measured on an
 * H100 against the default (PERF.md, thirty-second round): 1.009-1.068x
 * the step (`layered` 1.049, `many` 1.068, `deep` 1.025), the update
 * tasks 1.06-1.08x and the forward and backward tasks longer too. */
#ifndef GN_UPD_APART
#define GN_UPD_APART 0
#endif
#if GN_UPD_APART && !GN_BLOCK_OPS_APART
#define GN_UPD_OP __noinline__
#else
#define GN_UPD_OP GN_BLOCK_OP
#endif

template <int P = GN_PRECISION>
__device__ static GN_UPD_OP void gn_op_update_block(struct gn_model *m, const struct gn_buffers *b,
                                          const struct gn_group &gr, int32_t g, int32_t k0,
                                          int32_t k1, const struct gn_optim_step &k,
                                          const struct gn_block_smem &sm)
{
    const int32_t n = gr.width, rows = b->rows, tid = threadIdx.x;
    const float *dz = gn_dz(b, g);
    /* db[j] = sum over rows of dz[r][j] in row order: thread tid's columns'
     * sums in acc (n <= tile * max_width) */
    bool bias = k0 == 0;
    if (bias)
        for (int32_t j = tid; j < n; j += NT) gn_block_sm_acc(sm)[j] = 0.0f;
    /* dW[k][j] = sum over r of a[r][k] dz[r][j] */
    int32_t KB = GN_IDIV(GN_BLOCK_UQ * NT, n);
    if (KB < 1) KB = 1;
    if (KB > sm.stage_floats - n) KB = sm.stage_floats - n;
    constexpr bool mma = P != GN_PRECISION_FP32;
    if (mma && KB * n > sm.stage_floats / 2) KB = max(1, sm.stage_floats / 2 / n);
    /* mma: the gradients' tile (KB, n), then the stage for the rows */
    float *const sg = gn_block_sm_stage() + sm.stage_floats - (mma ? KB * n : 0);
    const int32_t stage_floats = sm.stage_floats - (mma ? KB * n : 0);
    const bool same_j = n <= NT && GN_IMOD(NT, n) == 0;
    int32_t off = 0;
    for (int32_t e0 = 0; e0 < gr.in_count && off < k1; e0 += GN_BLOCK_NEDGE) {
        const int32_t ne = min(GN_BLOCK_NEDGE, gr.in_count - e0);
        const int32_t total = gn_block_edges(m, b, gr, e0, ne, 0, false);
        GN_BLOCK_MARK(EDGES);
        const int32_t a0 = max(k0, off) - off, a1 = min(k1, off + total) - off;
        off += total;
        for (int32_t kb0 = a0; kb0 < a1; kb0 += KB) {
            const int32_t kb = min(KB, a1 - kb0), outs = kb * n;
            /* RS rows a chunk, row stride ldr of the transposed columns
             * (gn_block_ld: float4 reads without bank conflicts), unless
             * the widths leave too little room for that padding */
            const int32_t per = GN_IDIV(stage_floats, n + kb);
            int32_t RS = (per - 36) & ~3, ldr;
            if (RS >= 4) {
                RS = min(RS, (rows + 3) & ~3);
                ldr = gn_block_ld(RS);
            } else {
                RS = max(1, min(rows, per));
                ldr = RS;
            }
            const bool vec = (ldr & 3) == 0;
            float *sdz = gn_block_sm_stage(), *sa = gn_block_sm_stage() + n * ldr;
            int32_t kq[GN_BLOCK_UQ], jq[GN_BLOCK_UQ];
            float acc[GN_BLOCK_UQ];
            /* the tiles (gn_block_upd_tile): output q = 4 a + i of the
             * thread is (kt0 + 8 a, j0 + 4 i); ka: its rows' staged rows,
             * the pass's last where past it (loaded, never stored) */
            const bool tile = !mma && vec && gn_block_upd_tile(n);
            int32_t ka[2] = {0, 0}, j0 = 0;
#if GN_BLOCK_UQ == 16
            int32_t kc[2] = {0, 0}; /* the tiles' third and fourth input rows */
#endif
            bool bt = false; /* the tiles: this thread sums the bias of its columns */
            if (tile) {
                const int32_t lane = tid & 31, w = tid >> 5, wj = n >> 4;
                const int32_t kt0 = GN_IDIV(w, wj) * (2 * GN_BLOCK_UQ) + (lane & 7);
                j0 = GN_IMOD(w, wj) * 16 + (lane >> 3);
                bt = bias && w < wj && (lane & 7) == 0;
#pragma unroll
                for (int32_t a = 0; a < 2; a++) ka[a] = min(kt0 + 8 * a, kb - 1);
#if GN_BLOCK_UQ == 16
#pragma unroll
                for (int32_t a = 0; a < 2; a++) kc[a] = min(kt0 + 16 + 8 * a, kb - 1);
#endif
#pragma unroll
                for (int32_t q = 0; q < GN_BLOCK_UQ; q++) {
                    const int32_t kk = kt0 + 8 * (q >> 2);
                    kq[q] = kk < kb ? kk : -1;
                    jq[q] = j0 + 4 * (q & 3);
                    acc[q] = 0.0f;
                }
            } else {
#pragma unroll
                for (int32_t q = 0; q < GN_BLOCK_UQ; q++) {
                    const int32_t o = tid + q * NT;
                    kq[q] = o < outs ? GN_IDIV(o, n) : -1;
                    jq[q] = GN_IMOD(o, n);
                    acc[q] = 0.0f;
                    if (mma && o < outs) sg[o] = 0.0f; /* this thread's own, read back below */
                }
            }
            for (int32_t rb = 0; rb < rows; rb += RS) {
                const int32_t rc = min(RS, rows - rb);
                __syncthreads(); /* the previous rows' readers are done */
                gn_block_stage_t(sdz, ldr, dz, n, rc, rb);
                gn_block_stage_cols(ne, false, sa, ldr, rc, kb0, kb, rb, true);
                gn_block_stage_wait();
                __syncthreads();
                GN_BLOCK_MARK(STAGE);
                /* the bias's sums: on their own, or (fp32, same_j) by the
                 * threads of columns j = tid < n from the rows they load
                 * anyway, in the multiply-add loop below (the same adds in
                 * the same order) */
                if (bias && (mma || !same_j)) {
                    for (int32_t j = tid; j < n; j += NT) {
                        float s = gn_block_sm_acc(sm)[j];
                        for (int32_t r = 0; r < rc; r++) s = __fadd_rn(s, sdz[j * ldr + r]);
                        gn_block_sm_acc(sm)[j] = s;
                    }
                }
                /* rows in order: four at a time, then the rest */
                const int32_t r4 = vec ? rc & ~3 : 0;
                if constexpr (mma) {
                    gn_mma_block<P>(sg, n, sa, ldr, 1, sdz, 1, ldr, kb, n, rc);
                } else if (tile) {
                    const float *a0p = sa + ka[0] * ldr, *a1p = sa + ka[1] * ldr;
#if GN_BLOCK_UQ == 16
                    const float *a2p = sa + kc[0] * ldr, *a3p = sa + kc[1] * ldr;
#endif
                    const float *djp = sdz + j0 * ldr;
                    float bs[4];
#pragma unroll
                    for (int32_t i = 0; i < 4; i++) bs[i] = bt ? gn_block_sm_acc(sm)[j0 + 4 * i] : 0.0f;
                    GN_UNROLL_(GN_BLOCK_UNROLL_ROWS)
                    for (int32_t r = 0; r < r4; r += 4) {
                        const float4 x0 = *reinterpret_cast<const float4 *>(a0p + r);
                        const float4 x1 = *reinterpret_cast<const float4 *>(a1p + r);
#if GN_BLOCK_UQ == 16
                        const float4 x2 = *reinterpret_cast<const float4 *>(a2p + r);
                        const float4 x3 = *reinterpret_cast<const float4 *>(a3p + r);
#endif
#pragma unroll
                        for (int32_t i = 0; i < 4; i++) {
                            const float4 d4 =
                                *reinterpret_cast<const float4 *>(djp + 4 * i * ldr + r);
                            if (bt)
                                bs[i] = __fadd_rn(
                                    __fadd_rn(__fadd_rn(__fadd_rn(bs[i], d4.x), d4.y), d4.z), d4.w);
                            acc[i] = MAC(MAC(MAC(MAC(acc[i], x0.x, d4.x), x0.y, d4.y), x0.z, d4.z),
                                         x0.w, d4.w);
                            acc[4 + i] = MAC(
                                MAC(MAC(MAC(acc[4 + i], x1.x, d4.x), x1.y, d4.y), x1.z, d4.z),
                                x1.w, d4.w);
#if GN_BLOCK_UQ == 16
                            acc[8 + i] = MAC(
                                MAC(MAC(MAC(acc[8 + i], x2.x, d4.x), x2.y, d4.y), x2.z, d4.z),
                                x2.w, d4.w);
                            acc[12 + i] = MAC(
                                MAC(MAC(MAC(acc[12 + i], x3.x, d4.x), x3.y, d4.y), x3.z, d4.z),
                                x3.w, d4.w);
#endif
                        }
                    }
                    for (int32_t r = r4; r < rc; r++) {
                        const float x0 = a0p[r], x1 = a1p[r];
#if GN_BLOCK_UQ == 16
                        const float x2 = a2p[r], x3 = a3p[r];
#endif
#pragma unroll
                        for (int32_t i = 0; i < 4; i++) {
                            const float d = djp[4 * i * ldr + r];
                            if (bt) bs[i] = __fadd_rn(bs[i], d);
                            acc[i] = MAC(acc[i], x0, d);
                            acc[4 + i] = MAC(acc[4 + i], x1, d);
#if GN_BLOCK_UQ == 16
                            acc[8 + i] = MAC(acc[8 + i], x2, d);
                            acc[12 + i] = MAC(acc[12 + i], x3, d);
#endif
                        }
                    }
                    if (bt)
#pragma unroll
                        for (int32_t i = 0; i < 4; i++) gn_block_sm_acc(sm)[j0 + 4 * i] = bs[i];
                } else if (same_j) {
                    const float *dj = sdz + jq[0] * ldr;
                    const bool bj = bias && tid < n;
                    float bs = bj ? gn_block_sm_acc(sm)[tid] : 0.0f;
                    GN_UNROLL_(GN_BLOCK_UNROLL_ROWS)
                    for (int32_t r = 0; r < r4; r += 4) {
                        const float4 d4 = *reinterpret_cast<const float4 *>(dj + r);
                        if (bj)
                            bs = __fadd_rn(__fadd_rn(__fadd_rn(__fadd_rn(bs, d4.x), d4.y), d4.z),
                                           d4.w);
#pragma unroll
                        for (int32_t q = 0; q < GN_BLOCK_UQ; q++)
                            if (kq[q] >= 0) {
                                const float4 a4 =
                                    *reinterpret_cast<const float4 *>(sa + kq[q] * ldr + r);
                                acc[q] = MAC(MAC(MAC(MAC(acc[q], a4.x, d4.x), a4.y, d4.y), a4.z,
                                                 d4.z),
                                             a4.w, d4.w);
                            }
                    }
                    for (int32_t r = r4; r < rc; r++) {
                        const float d = dj[r];
                        if (bj) bs = __fadd_rn(bs, d);
#pragma unroll
                        for (int32_t q = 0; q < GN_BLOCK_UQ; q++)
                            if (kq[q] >= 0) acc[q] = MAC(acc[q], sa[kq[q] * ldr + r], d);
                    }
                    if (bj) gn_block_sm_acc(sm)[tid] = bs;
                } else {
#pragma unroll
                    for (int32_t q = 0; q < GN_BLOCK_UQ; q++) {
                        if (kq[q] < 0) continue;
                        const float *aq = sa + kq[q] * ldr, *dq = sdz + jq[q] * ldr;
                        float s = acc[q];
                        for (int32_t r = 0; r < rc; r++) s = MAC(s, aq[r], dq[r]);
                        acc[q] = s;
                    }
                }
                GN_BLOCK_MARK(MATH);
            }
            if (mma) {
                __syncthreads(); /* the warps' tiles */
#pragma unroll
                for (int32_t q = 0; q < GN_BLOCK_UQ; q++)
                    if (kq[q] >= 0) acc[q] = sg[tid + q * NT];
            }
            /* the optimizer, GN_BLOCK_AU outputs at a time (the runs'
             * loaded values need no more registers than one run's) */
            constexpr int32_t AU = GN_BLOCK_UQ % GN_BLOCK_AU == 0 ? GN_BLOCK_AU : GN_BLOCK_UQ;
#pragma unroll
            for (int32_t h = 0; h < GN_BLOCK_UQ; h += AU) {
                GN_APPLY_MARK(-1);
                int64_t idx[AU];
#pragma unroll
                for (int32_t q = 0; q < AU; q++) {
                    idx[q] = -1;
                    if (kq[h + q] >= 0) {
                        const int32_t x = kb0 + kq[h + q];
                        const struct gn_block_edge &e = gn_block_edge_at(ne, x);
                        idx[q] = (int64_t)(e.w - m->params) + (int64_t)(x - e.start) * n + jq[h + q];
                    }
                }
                GN_APPLY_MARK(0);
                gn_block_apply<AU>(m, idx, acc + h, 1, k);
            }
            GN_BLOCK_MARK(APPLY);
            bias = false;
        }
    }
    if (k0 == 0) {
        if (bias) {
            /* no input columns (a group without in-edges): the sums alone */
            const int32_t RB = max(1, min(rows, sm.stage_floats / n));
            for (int32_t rb = 0; rb < rows; rb += RB) {
                const int32_t rc = min(RB, rows - rb);
                __syncthreads();
                gn_block_stage_flat(gn_block_sm_stage(), dz + (int64_t)rb * n, rc * n);
                gn_block_stage_wait();
                __syncthreads();
                for (int32_t j = tid; j < n; j += NT) {
                    float s = gn_block_sm_acc(sm)[j];
                    for (int32_t r = 0; r < rc; r++) s = __fadd_rn(s, gn_block_sm_stage()[r * n + j]);
                    gn_block_sm_acc(sm)[j] = s;
                }
            }
        }
        for (int32_t j0 = 0; j0 < n; j0 += 4 * NT) {
            int64_t idx[4];
            float gv[4];
#pragma unroll
            for (int32_t q = 0; q < 4; q++) {
                const int32_t j = j0 + tid + q * NT;
                idx[q] = j < n ? gr.bias + j : -1;
                gv[q] = j < n ? gn_block_sm_acc(sm)[j] : 0.0f;
            }
            gn_block_apply<4>(m, idx, gv, 0, k);
        }
        GN_BLOCK_MARK(APPLY);
    }
    __syncthreads();
}

/* The growth statistic of g (stat.h) into groups[g].grad_std: thread i is
 * lanes i, i + NT, ... (LT of them: one with 256 threads); the halving tree
 * in shared memory. Every part of g's update must be finished and visible
 * (the caller's acquire). */
/* 1, the default: the statistic compiled apart from the kernel's body (a
 * call once a group and step, so that its code does not move the body's
 * register allocation: spill stores 1216 -> 1192 bytes with the stash
 * below); 0: inline, or apart with every op (GN_BLOCK_OPS_APART). */
#ifndef GN_STAT_APART
#define GN_STAT_APART 1
#endif
#if GN_STAT_APART && !GN_BLOCK_OPS_APART
#define GN_STAT_OP __noinline__
#else
#define GN_STAT_OP GN_BLOCK_OP
#endif
/* 1, the default: pass 1 keeps each lane's entries in the stage (entry j
 * of lane l at j GN_STAT_LANES + l, stat.h's gn_stat_lane_keep, where the
 * group's entries fit), and pass 2 reads them there instead of walking
 * the segments and loading them from L2 again; 0: both passes walk and
 * load. The same entries in the same order through the same terms: the
 * same bits. Measured on an H100 with the statistic apart (PERF.md,
 * thirty-first round): the update tasks' busy time 0.94-0.95x, the step
 * 0.994-1.001x. */
#ifndef GN_STAT_STASH
#define GN_STAT_STASH 1
#endif

__device__ static GN_STAT_OP void gn_op_stat_block(struct gn_model *m, int32_t g,
                                        const struct gn_block_smem &sm)
{
    constexpr uint32_t LT = GN_STAT_LANES / NT;
    const uint32_t lane = threadIdx.x;
    const double cnt = gn_stat_count(m, g);
    double mean = 0.0;
#if GN_STAT_STASH
    /* the stash: the stage, free once the update's closing barrier passed;
     * lane l's j-th entry at j GN_STAT_LANES + l, so whole rounds of lanes */
    const bool stash = LT == 1 && ((int64_t)cnt + GN_STAT_LANES - 1) / GN_STAT_LANES *
                                          GN_STAT_LANES <= (int64_t)sm.stage_floats;
    int32_t mine = 0;
#endif
    for (int centred = 0; centred < 2; centred++) {
#if GN_STAT_STASH
        if (stash) {
            float *const st = gn_block_sm_stage();
            sm.lane[lane] = !centred ? gn_stat_lane_keep(m, g, lane, 0, 0.0, st, &mine)
                                     : gn_stat_lane_kept(st, mine, lane, mean);
        } else
#endif
        sm.lane[lane] = gn_stat_lane(m, g, lane, centred, mean);
        /* (fewer threads than lanes: the rest; apart, so that the default's
         * machine code stays as it was) */
        if constexpr (LT > 1)
            for (uint32_t i = 1; i < LT; i++)
                sm.lane[lane + i * NT] = gn_stat_lane(m, g, lane + i * NT, centred, mean);
        GN_STAT_MARK(2 * centred);
        __syncthreads();
        for (uint32_t stride = GN_STAT_LANES / 2; stride > 0; stride /= 2) {
            gn_stat_tree_step(sm.lane, lane, stride);
            if constexpr (LT > 1)
                for (uint32_t i = 1; i < LT && lane + i * NT < stride; i++)
                    gn_stat_tree_step(sm.lane, lane + i * NT, stride);
            __syncthreads();
        }
        const double total = sm.lane[0];
        __syncthreads();
        if (!centred) GN_STAT_MARK(1);
        if (!centred) mean = total / cnt;
        else if (lane == 0) m->groups[g].grad_std = (float)sqrt(total / cnt);
    }
}

#endif
