/*
 * Growth on the device: a round of the shared rules (grow.h) run by every
 * block at once, then the topology and the task DAGs rebuilt in place.
 *
 *   rank     (the relative criterion) every thread of the grid takes
 *            positions: gn_grow_rank; the one thread whose group holds the
 *            median's rank writes its statistic; after a barrier every
 *            thread makes the rule from it (gn_grow_reference);
 *   mark     every thread of the grid takes positions: gn_grow_mark_one;
 *   choose   the same: gn_grow_should_choose into a word of its own
 *            (scratch; others are reading the marks), counted;
 *   grant    block 0: the cap in position order (gn_grow_grant_one) from
 *            a block scan of what the chosen groups need, then the round's
 *            space from the pools in one atomic bump each (gn_grow_take);
 *   duplicate  each chosen group by one block: a granted one into its
 *            space, the block's threads as lanes (gn_grow_apply), a refused
 *            one counted; blocks duplicate different groups at once;
 *   rebuild  the new order (gn_grow_place: each child right after its
 *            parent, by a block prefix sum), positions, the CSR lists
 *            (sorted by gn_model_sort_lists), then the task DAGs from
 *            gn_task_succ / gn_task_indeg (taskgraph.h), every block
 *            taking a share of the edges, groups and tasks.
 * The host backends run the same functions (grow.c, cpu.c, taskgraph.c).
 */
#ifndef GN_DEVICE_GROW_CUH
#define GN_DEVICE_GROW_CUH

#include <cub/block/block_scan.cuh>

#include "worker.cuh"

/* Block-wide exclusive scan of value(i), i in [0, n), in tiles of NT (CUB
 * BlockScan, T: what value returns; op: the sum, zero: its identity);
 * store(i, prefix) gets each result. Returns the total. All threads of the
 * block call it. */
struct gn_scan_add {
    template <typename T> __device__ T operator()(const T &a, const T &b) const { return a + b; }
};

template <typename V, typename S, typename Op = gn_scan_add,
          typename T = decltype((*(V *)0)(0))>
__device__ static T gn_block_prefix(int32_t n, V value, S store, Op op = Op(), T zero = T())
{
    typedef cub::BlockScan<T, NT> scan;
    __shared__ typename scan::TempStorage ts;
    __shared__ T s_carry;
    if (threadIdx.x == 0) s_carry = zero;
    __syncthreads();
    for (int32_t base = 0; base < n; base += NT) {
        const int32_t i = base + (int32_t)threadIdx.x;
        const T v = i < n ? value(i) : zero;
        T excl, total;
        scan(ts).ExclusiveScan(v, excl, zero, op, total);
        if (i < n) store(i, op(s_carry, excl));
        __syncthreads();
        if (threadIdx.x == 0) s_carry = op(s_carry, total);
        __syncthreads();
    }
    return s_carry;
}

/* The sums of gn_grow_fits, added field by field. */
struct gn_grow_sum_op {
    __device__ struct gn_grow_sum operator()(const struct gn_grow_sum &a,
                                             const struct gn_grow_sum &b) const
    {
        return {a.groups + b.groups, a.edges + b.edges, a.params + b.params};
    }
};

/* What the chosen group at position p needs, as a sum (zero when p is not
 * chosen: scratch[g] == 0). */
__device__ static struct gn_grow_sum gn_dev_need(const struct gn_dev *d, int32_t p,
                                                 int64_t step, int64_t round)
{
    struct gn_grow_sum s = {0, 0, 0};
    const struct gn_model *m = &d->m;
    const int32_t g = m->order[p];
    if (!d->scratch[g]) return s;
    int32_t ng, ne;
    int64_t np;
    gn_grow_need(m, g,
                 gn_grow_kind((enum gn_grow_policy)d->cfg.grow, d->cfg.seed, step, round, p),
                 &ng, &ne, &np);
    gn_grow_sum_add(&s, ne, np);
    return s;
}

/* Block-wide exclusive scan of one value a thread (all threads call it):
 * returns the sum of the values of the threads before, *total the
 * block's sum. A warp scan by shuffles, then the warps' sums: no shared
 * memory beyond one word a warp (the rebuilds below call it in loops). */
__device__ static uint32_t gn_block_scan_u32(uint32_t v, uint32_t *total)
{
    __shared__ uint32_t s_warp[NT / 32];
    const int32_t lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    uint32_t x = v;
    for (int32_t k = 1; k < 32; k *= 2) {
        const uint32_t y = __shfl_up_sync(0xffffffffu, x, k);
        if (lane >= k) x += y;
    }
    if (lane == 31) s_warp[w] = x;
    __syncthreads();
    uint32_t before = 0, sum = 0;
    for (int32_t i = 0; i < NT / 32; i++) {
        const uint32_t t = s_warp[i];
        if (i < w) before += t;
        sum += t;
    }
    __syncthreads(); /* s_warp is free for the next call */
    *total = sum;
    return before + x - v;
}

/* The sum of a[0 .. n) over the block, every thread gets it. */
__device__ static uint32_t gn_block_sum_u32(const uint32_t *a, uint32_t n)
{
    uint32_t v = 0, total;
    for (uint32_t i = threadIdx.x; i < n; i += NT) v += a[i];
    gn_block_scan_u32(v, &total);
    return total;
}

/* Lists longer than this are sorted by a whole block (gn_dev_sort_long). */
#define GN_DEV_SORT_SHORT 32

/* Sort a long edge list by a block: the keys (gn_model_edge_key, distinct)
 * into the task math's shared memory, each entry's rank counted among
 * them, the list written in rank order: the order gn_model_sort_edges
 * gives, in O(n^2 / NT) shared-memory reads instead of O(n^2) dependent
 * global loads by one thread. A list too long for the shared memory is
 * sorted by thread 0 (slow, correct). Every thread of the block calls it. */
__device__ static void gn_dev_sort_long(const struct gn_dev *d, int32_t *list, int32_t n,
                                        int by_src)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    long long *key = reinterpret_cast<long long *>(smem_raw);
    const int32_t cap =
        (int32_t)(gn_block_smem_bytes(d->smem_stage, d->smem_acc) / sizeof(long long));
    const int32_t tid = threadIdx.x;
    __syncthreads(); /* the shared memory's last readers are done */
    if (n > cap) {
        if (tid == 0) gn_model_sort_edges(&d->m, list, n, by_src);
        __syncthreads();
        return;
    }
    for (int32_t i = tid; i < n; i += NT) key[i] = gn_model_edge_key(&d->m, list[i], by_src);
    __syncthreads();
    for (int32_t i = tid; i < n; i += NT) {
        const long long k = key[i];
        int32_t r = 0;
        for (int32_t j = 0; j < n; j++) r += key[j] < k;
        list[r] = (int32_t)(k & 0xffffffffll);
    }
    __syncthreads();
}

/* The new order, positions and CSR edge lists in canonical order after a
 * round added groups (or, n_old < 0, removed them: the new order is in
 * scratch already), every block at once (four grid barriers):
 *   1. block 0: the order (gn_grow_place: each child right after its
 *      parent, by a block prefix sum), positions, counts zeroed;
 *   2. every block: a share of the edges counted into in_count/out_count;
 *   3. block 0: the lists' offsets (prefix sums over the groups);
 *   4. every block: its edges into the lists (the atomics fill them in
 *      any order);
 *   5. every block: its groups' lists sorted (gn_model_sort_lists): the
 *      canonical order, whatever the atomics did.
 * A single block doing all of it was most of a round in which hundreds of
 * groups duplicated. */
__device__ static __noinline__ bool gn_dev_rebuild_model(struct gn_dev *d, int32_t n_old,
                                                         int64_t step)
{
    struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    const int32_t n = m->n_groups, E = m->n_edges;
    const int32_t first = blockIdx.x * NT + tid, stride = gridDim.x * NT;
    int32_t *order = m->order, *child_of = d->child_of, *scratch = d->scratch;
    int32_t *in_at = d->cursor, *out_at = scratch; /* the lists' fill cursors (phases 3, 4) */
    gn_dev_phase(GN_CUDA_PROF_GROW_LISTS);
    if (blockIdx.x == 0) {
        if (n_old >= 0)
            gn_block_prefix(
                n_old, [=](int32_t i) { return gn_grow_place(order, child_of, i, 0, NULL); },
                [=](int32_t i, int32_t at) { gn_grow_place(order, child_of, i, at, scratch); });
        __syncthreads();
        for (int32_t i = tid; i < n; i += NT) {
            m->order[i] = scratch[i];
            m->groups[scratch[i]].pos = i;
            m->groups[i].in_count = m->groups[i].out_count = 0;
        }
    }
    if (!gn_dev_barrier(d, step)) return false;
    for (int32_t e = first; e < E; e += stride) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0) continue;
        atomicAdd(&m->groups[ed.dst].in_count, 1);
        atomicAdd(&m->groups[ed.src].out_count, 1);
    }
    if (!gn_dev_barrier(d, step)) return false;
    if (blockIdx.x == 0) {
        /* scratch is free once the order is copied out of it */
        struct gn_group *groups = m->groups;
        gn_block_prefix(
            n, [=](int32_t g) { return groups[g].in_count; },
            [=](int32_t g, int32_t at) { groups[g].in_begin = at; });
        gn_block_prefix(
            n, [=](int32_t g) { return groups[g].out_count; },
            [=](int32_t g, int32_t at) { groups[g].out_begin = at; });
        for (int32_t i = tid; i < n; i += NT) in_at[i] = out_at[i] = 0;
    }
    if (!gn_dev_barrier(d, step)) return false;
    for (int32_t e = first; e < E; e += stride) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0) continue;
        m->in_list[m->groups[ed.dst].in_begin + atomicAdd(&in_at[ed.dst], 1)] = e;
        m->out_list[m->groups[ed.src].out_begin + atomicAdd(&out_at[ed.src], 1)] = e;
    }
    if (!gn_dev_barrier(d, step)) return false;
    /* the atomics above filled the lists in any order: the canonical sort
     * (gn_model_edge_key), a short list by one thread, a long one (the
     * input's out-list, the output's in-list: hundreds of edges once wide
     * levels have grown) by a block */
    for (int32_t g = first; g < n; g += stride) {
        const struct gn_group *gr = &m->groups[g];
        if (gr->in_count <= GN_DEV_SORT_SHORT)
            gn_model_sort_edges(m, m->in_list + gr->in_begin, gr->in_count, 1);
        if (gr->out_count <= GN_DEV_SORT_SHORT)
            gn_model_sort_edges(m, m->out_list + gr->out_begin, gr->out_count, 0);
    }
    for (int32_t g = blockIdx.x; g < n; g += gridDim.x) {
        const struct gn_group gr = m->groups[g];
        if (gr.in_count > GN_DEV_SORT_SHORT)
            gn_dev_sort_long(d, m->in_list + gr.in_begin, gr.in_count, 1);
        if (gr.out_count > GN_DEV_SORT_SHORT)
            gn_dev_sort_long(d, m->out_list + gr.out_begin, gr.out_count, 0);
    }
    return true;
}

/* The task DAGs' reduction flags (taskgraph.h: gn_task_cut_*), a warp a
 * group, every warp of the grid at once: the lanes take the window's
 * positions (their input masks into the warp's 512 bytes of the task
 * math's shared memory, free during growth) and the tail of the group's
 * in-list, every lane runs the sweeps over the masks (the same shared
 * words: broadcasts) and the lanes write the flags. Measured on an H100
 * (docs/PERF.md, forty-second round), a growth round of `layered` by
 * alternate growth: main's without the reduction 0.31 ms, a thread a
 * group walking the window alone 0.47, this 0.38. Every thread of the
 * block calls it. */
__device__ static void gn_dev_cut_flags(struct gn_dev *d)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const struct gn_model *m = &d->m;
    const int32_t lane = threadIdx.x & 31, wb = threadIdx.x >> 5;
    uint64_t *win = reinterpret_cast<uint64_t *>(smem_raw) + wb * GN_TASK_CUT_WINDOW;
    const int32_t warps = (int32_t)gridDim.x * (NT / 32);
    for (int32_t p = 1 + (int32_t)blockIdx.x * (NT / 32) + wb; p < m->n_groups; p += warps) {
        const int32_t lo = gn_task_cut_lo(p), n = p - lo;
        for (int32_t i = lane; i < n; i += 32) win[i] = gn_task_cut_inputs(m, lo + i, lo, 0, 1);
        uint64_t in = gn_task_cut_inputs(m, p, lo, lane, 32);
        in = (uint64_t)__reduce_or_sync(0xffffffffu, (uint32_t)in) |
             (uint64_t)__reduce_or_sync(0xffffffffu, (uint32_t)(in >> 32)) << 32;
        __syncwarp();
        uint64_t far, down;
        gn_task_cut_sweep(win, n, in, &far, &down);
        gn_task_cut_write(m, p, lo, far, down, d->edge_cut, lane, 32);
        __syncwarp(); /* win is read before the next group's masks */
    }
}

/* Rebuild both task DAGs from the model, every block at once:
 *   1. block 0: the update parts (a prefix sum over positions) and the
 *      task map; every block: a share of the reduction's flags zeroed;
 *      barrier;
 *   2. every warp takes positions and makes their groups' reduction flags
 *      (gn_dev_cut_flags); the lists' records; barrier;
 *   3. every block takes a contiguous share of the tasks, counts their
 *      successors (gn_task_succ) and scans them: each task's first
 *      successor within the share (task_deg), the share's total
 *      (blk_sum); barrier;
 *   4. every block scans blk_sum for its share's base, writes its tasks'
 *      offsets and successors, in-degrees, armed counters and roots;
 *      barrier.
 * Four grid barriers and no step walks more than a block's share (a
 * single block walking every task made a growth round cost more than a
 * training step). The eval DAG shares the training DAG's successor array:
 * a forward task's list there holds only forward successors (gn_task_succ
 * with eval = 1 gives the same), except the output's, which the eval DAG
 * cuts to empty lists by its own offsets. */
__device__ static __noinline__ bool gn_dev_rebuild_dags(struct gn_dev *d, int64_t step)
{
    const struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    const int32_t was = gn_dev_phase(GN_CUDA_PROF_GROW_DAGS);
    /* every flag zero: gn_dev_cut_flags writes only the entries in its
     * groups' windows (no list is read here, their sorts may still run) */
    for (int32_t e = blockIdx.x * NT + tid; e < m->n_edges; e += gridDim.x * NT)
        d->edge_cut[e] = 0;
    if (blockIdx.x == 0) {
        /* update parts: their first-part offsets by a prefix sum over
         * positions 1 .. n-1 (entry 0 of the scan is position 1) */
        int32_t *upd_base = d->upd_base, *upd_rows = d->upd_rows;
        const int32_t part_rows = gn_task_part_rows(m->n_groups - 2, d->blocks);
        const int32_t acc = gn_block_prefix(
            m->n_groups - 1,
            [=](int32_t i) {
                const int32_t g = m->order[i + 1];
                return gn_task_parts_of(m, g, GN_CUDA_MAX_PARTS, part_rows, &upd_rows[g]);
            },
            [=](int32_t i, int32_t at) { upd_base[i + 1] = at; });
        if (tid == 0) {
            struct gn_taskmap *tm = &d->tm;
            gn_taskmap_init(tm, m->n_groups, d->cfg.tiles, d->cfg.tile);
            d->upd_base[0] = 0;
            d->upd_base[1] = 0;
            d->upd_base[m->n_groups] = acc;
            tm->parts = (uint32_t)acc;
            if ((uint32_t)acc > d->parts_cap) {
                gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, acc);
                tm->parts = 0;
            }
            tm->total = tm->upd0 + tm->parts;
            tm->upd_base = d->upd_base;
            tm->upd_pos = d->upd_pos;
            tm->cut = d->edge_cut;
            d->train.n_tasks = tm->total;
            d->eval.n_tasks = tm->bwd0;
            d->train.n_roots = 0; /* counted in phase 4 */
            d->eval.n_roots = 0;
            if (tm->total > d->dag_cap_tasks) gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, tm->total);
        }
        __syncthreads();
        for (int32_t p = 1 + tid; p < m->n_groups; p += NT)
            for (int32_t i = d->upd_base[p]; i < d->upd_base[p + 1] && (uint32_t)i < d->tm.parts; i++)
                d->upd_pos[i] = p;
    }
    /* (this barrier also ends gn_dev_rebuild_model's sorts: nothing above
     * reads a list's order) */
    if (!gn_dev_barrier(d, step)) return false;
    gn_dev_cut_flags(d);
    /* the lists' records for the task math (block_ops.cuh: gn_edge_rec);
     * entries past the live edges are never read */
    for (int32_t p = blockIdx.x * NT + tid; p < m->n_edges; p += gridDim.x * NT) {
        d->in_rec[p] = gn_edge_rec_of(m, m->in_list[p], false);
        d->out_rec[p] = gn_edge_rec_of(m, m->out_list[p], true);
    }
    /* and the positions' records (state.cuh: gn_pos_rec) */
    for (int32_t p = blockIdx.x * NT + tid; p < m->n_groups; p += gridDim.x * NT) {
        struct gn_pos_rec r;
        r.g = m->order[p];
        r.gr = m->groups[r.g];
        r.pad = 0;
        d->pos_rec[p] = r;
#if GN_BLOCK_TAKE_REC
        /* and its lists' first records (block_ops.cuh: gn_block_take), by
         * the lists' rule; past a list's end a dead slot, never read */
        for (int32_t out = 0; out < 2; out++) {
            const int32_t cnt = out ? r.gr.out_count : r.gr.in_count;
            const int32_t begin = out ? r.gr.out_begin : r.gr.in_begin;
            const int32_t *list = out ? m->out_list : m->in_list;
            for (int32_t i = 0; i < GN_BLOCK_TAKE_REC; i++) {
                struct gn_edge_rec e = {0, -1, 0};
                if (i < cnt) e = gn_edge_rec_of(m, list[begin + i], out);
                d->pos_first[gn_block_take_at(p, out) + i] = e;
            }
        }
#endif
    }
    if (!gn_dev_barrier(d, step)) return false; /* the flags */
    const struct gn_taskmap *tm = &d->tm;
    const uint32_t n = tm->total, G = gridDim.x, per = (n + G - 1) / G;
    const uint32_t lo = min(n, per * blockIdx.x), hi = min(n, lo + per);
    uint32_t *first = d->task_deg;
    uint32_t carry = 0;
    for (uint32_t b0 = lo; b0 < hi; b0 += NT) {
        const uint32_t i = b0 + tid;
        uint32_t total;
        const uint32_t at = gn_block_scan_u32(i < hi ? gn_task_succ(m, tm, i, 0, NULL) : 0, &total);
        if (i < hi) first[i] = carry + at;
        carry += total;
    }
    if (tid == 0) d->blk_sum[blockIdx.x] = carry;
    if (!gn_dev_barrier(d, step)) return false;
    /* this share's base, the training DAG's edge count, and the offset of
     * the output's first forward task (where the eval DAG's lists end) */
    const uint32_t first_out = tm->bwd0 - (uint32_t)tm->tiles;
    const uint32_t base = gn_block_sum_u32(d->blk_sum, blockIdx.x);
    const uint32_t out_base = gn_block_sum_u32(d->blk_sum, first_out / per) + first[first_out];
    const uint32_t edges = gn_block_sum_u32(d->blk_sum, G);
    if (edges > d->dag_cap_edges) {
        if (blockIdx.x == 0 && tid == 0) gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, edges);
        return gn_dev_barrier(d, step);
    }
    if (blockIdx.x == 0 && tid == 0) {
        d->train.n_edges = edges;
        d->train.succ_begin[n] = edges;
    }
    for (uint32_t i = lo + tid; i < hi; i += NT) {
        const uint32_t at = base + first[i];
        d->train.succ_begin[i] = at;
        gn_task_succ(m, tm, i, 0, d->train.succ + at);
        d->train.indeg_init[i] = gn_task_indeg(m, tm, i);
        /* the counters armed for the next pass, the roots listed (in any
         * order: a root's ticket changes where it runs, not what it
         * computes) */
        if (gn_dag_arm_one(&d->train, i)) d->train.roots[atomicAdd(&d->train.n_roots, 1u)] = i;
        if (i <= tm->bwd0) {
            d->eval.succ_begin[i] = i < first_out ? at : out_base;
            if (i < tm->bwd0) {
                d->eval.indeg_init[i] = gn_task_indeg(m, tm, i);
                if (gn_dag_arm_one(&d->eval, i))
                    d->eval.roots[atomicAdd(&d->eval.n_roots, 1u)] = i;
            }
        }
    }
    const bool ok = gn_dev_barrier(d, step);
    gn_dev_phase(was);
    return ok;
}

/* One growth round after step `step` (0-based; the round is step + 1's).
 * Every block calls it. Returns false once the run is aborted. */
__device__ static __noinline__ bool gn_dev_grow(struct gn_dev *d, int64_t step)
{
    struct gn_model *m = &d->m;
    const struct gn_plan &cfg = d->cfg;
    const int32_t n_old = m->n_groups;
    const int32_t first = blockIdx.x * NT + threadIdx.x, stride = gridDim.x * NT;
    if (first == 0) gn_atomic_store_relaxed_u32(&d->chosen, 0);
    struct gn_grow_rule rule = {cfg.grow_criterion, cfg.grow_threshold, cfg.grow_ratio, 0.0f};
    if (cfg.grow_criterion == GN_GROW_CRITERION_RELATIVE) {
        const int32_t mid = gn_grow_median_rank(n_old - 2);
        /* ranks are distinct (gn_grow_before is a total order): one writer */
        for (int32_t p = first + 1; p < n_old - 1; p += stride)
            if (gn_grow_rank(m, p) == mid) d->grow_median = m->groups[m->order[p]].grad_std;
        if (!gn_dev_barrier(d, step)) return false;
        rule.reference = gn_grow_reference(n_old - 2, d->grow_median);
    }
    for (int32_t p = first + 1; p < n_old - 1; p += stride)
        gn_grow_mark_one(m, m->order[p], &rule);
    if (!gn_dev_barrier(d, step)) return false;
    for (int32_t p = first + 1; p < n_old - 1; p += stride) {
        const int32_t g = m->order[p];
        d->child_of[g] = -1;
        d->ev[p].parent = -1; /* no event at p unless p duplicates below */
        /* the choice goes to a word of its own: other threads are reading
         * this group's flags for its marks */
        d->scratch[g] = gn_grow_should_choose(m, g);
        /* relaxed: a count read after the barrier */
        if (d->scratch[g]) gn_atomic_fetch_add_relaxed_u32(&d->chosen, 1);
    }
    if (first < 2) d->child_of[first == 0 ? GN_SLOT_INPUT : GN_SLOT_OUTPUT] = -1;
    if (first == 0) d->ev_n = n_old;
    if (!gn_dev_barrier(d, step)) return false;
    if (gn_atomic_load_relaxed_u32(&d->chosen) == 0) return true;

    const int64_t round = d->grow_round;
    /* the cap in position order: block 0 scans what the chosen groups
     * need, gives the granted their space (gn_grow_grant_one) and takes the
     * round's blocks from the pools (gn_grow_take) */
    if (blockIdx.x == 0) {
        __shared__ unsigned long long s_total[3];
        if (threadIdx.x < 3) s_total[threadIdx.x] = 0;
        __syncthreads();
        struct gn_grow_space *space = d->space;
        unsigned long long *total = s_total;
        gn_block_prefix(
            n_old - 2, [=](int32_t i) { return gn_dev_need(d, i + 1, step + 1, round); },
            [=](int32_t i, struct gn_grow_sum before) {
                /* value(i) again: passing it through the scan instead
                 * added 24 bytes of spills to the whole kernel (ptxas) */
                const struct gn_grow_sum need = gn_dev_need(d, i + 1, step + 1, round);
                struct gn_grow_space *sp = &space[d->m.order[i + 1]];
                sp->child = -1;
                if (need.groups &&
                    gn_grow_grant_one(&d->m, &before, (int32_t)need.edges, need.params, sp)) {
                    /* the granted are a prefix of the chosen: the largest
                     * end is the round's total */
                    atomicMax(&total[0], (unsigned long long)(before.groups + need.groups));
                    atomicMax(&total[1], (unsigned long long)(before.edges + need.edges));
                    atomicMax(&total[2], (unsigned long long)(before.params + need.params));
                }
            },
            gn_grow_sum_op(), gn_grow_sum{0, 0, 0});
        __syncthreads();
        if (threadIdx.x == 0) {
            const struct gn_grow_sum t = {(int64_t)s_total[0], (int64_t)s_total[1],
                                          (int64_t)s_total[2]};
            if (!gn_grow_take(&d->pools, m, &t)) gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, t.groups);
        }
    }
    if (!gn_dev_barrier(d, step)) return false;
    gn_dev_phase(GN_CUDA_PROF_GROW_DUP);
    __shared__ int32_t s_child, s_e0, s_kind;
    __shared__ int64_t s_p0;
    for (int32_t p = blockIdx.x + 1; p < n_old - 1; p += gridDim.x) {
        const int32_t g = m->order[p];
        if (!d->scratch[g]) continue;
        if (threadIdx.x == 0) {
            m->groups[g].flags |= GN_GROUP_CHOSEN;
            const enum gn_dup_kind kind =
                gn_grow_kind((enum gn_grow_policy)cfg.grow, cfg.seed, step + 1, round, p);
            const struct gn_grow_space sp = d->space[g];
            if (sp.child < 0) atomicAdd((unsigned long long *)&m->refused, 1ull);
            const int32_t child = sp.child, e0 = sp.e0;
            const int64_t p0 = sp.p0;
            /* the round's event at g's position, as gn_grow_round logs it */
            d->ev[p].parent = g;
            d->ev[p].child = child;
            d->ev[p].kind = kind;
            d->ev[p].grad_std = m->groups[g].grad_std;
            s_kind = kind;
            s_child = child;
            s_e0 = e0;
            s_p0 = p0;
        }
        __syncthreads();
        if (s_child >= 0) {
            gn_grow_apply(m, g, (enum gn_dup_kind)s_kind, s_child, s_e0, s_p0, step + 1, cfg.seed,
                          cfg.grow_noise, threadIdx.x, NT);
            __syncthreads();
            if (threadIdx.x == 0) {
                d->child_of[g] = s_child;
                atomicAdd((unsigned long long *)&m->duplications, 1ull);
            }
        }
        __syncthreads();
    }
    if (!gn_dev_barrier(d, step)) return false;
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        d->grow_round = round + 1;
        m->n_groups = (int32_t)gn_pool_used(&d->pools.groups);
        m->n_edges = (int32_t)gn_pool_used(&d->pools.edges);
        m->n_params = (int64_t)gn_pool_used(&d->pools.params);
    }
    if (!gn_dev_barrier(d, step)) return false;
    return m->n_groups == n_old || (gn_dev_rebuild_model(d, n_old, step) && gn_dev_rebuild_dags(d, step));
}

#endif
