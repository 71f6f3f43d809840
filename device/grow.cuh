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
 *   rebuild  block 0: the new order (gn_grow_place: each child right after
 *            its parent, by a block prefix sum), positions, the CSR lists
 *            (sorted by gn_model_sort_lists); then every block rebuilds the
 *            task DAGs from gn_task_succ / gn_task_indeg (taskgraph.h).
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

/* Block 0: the new order, positions, CSR edge lists in canonical order. */
__device__ static void gn_dev_rebuild_model(struct gn_dev *d, int32_t n_old)
{
    struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    const int32_t n = m->n_groups, E = m->n_edges;
    int32_t *order = m->order, *child_of = d->child_of, *scratch = d->scratch;
    gn_block_prefix(
        n_old, [=](int32_t i) { return gn_grow_place(order, child_of, i, 0, NULL); },
        [=](int32_t i, int32_t at) { gn_grow_place(order, child_of, i, at, scratch); });
    __syncthreads();
    for (int32_t i = tid; i < n; i += NT) {
        m->order[i] = scratch[i];
        m->groups[scratch[i]].pos = i;
        m->groups[i].in_count = m->groups[i].out_count = 0;
        d->cursor[i] = 0;
    }
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0) continue;
        atomicAdd(&m->groups[ed.dst].in_count, 1);
        atomicAdd(&m->groups[ed.src].out_count, 1);
    }
    __syncthreads();
    struct gn_group *groups = m->groups;
    gn_block_prefix(
        n, [=](int32_t g) { return groups[g].in_count; },
        [=](int32_t g, int32_t at) { groups[g].in_begin = at; });
    gn_block_prefix(
        n, [=](int32_t g) { return groups[g].out_count; },
        [=](int32_t g, int32_t at) { groups[g].out_begin = at; });
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0) continue;
        m->in_list[m->groups[ed.dst].in_begin + atomicAdd(&d->cursor[ed.dst], 1)] = e;
    }
    __syncthreads();
    for (int32_t i = tid; i < n; i += NT) d->cursor[i] = 0;
    __syncthreads();
    for (int32_t e = tid; e < E; e += NT) {
        const struct gn_edge ed = m->edges[e];
        if (ed.src < 0) continue;
        m->out_list[m->groups[ed.src].out_begin + atomicAdd(&d->cursor[ed.src], 1)] = e;
    }
    __syncthreads();
    /* the atomics above filled the lists in any order: the canonical sort */
    for (int32_t g = tid; g < n; g += NT) gn_model_sort_lists(m, g);
}

/* Rebuild both task DAGs from the model: block 0 counts and scans, then
 * every block fills its share. The eval DAG shares the training DAG's
 * successor array: a forward task's list there holds only forward
 * successors (gn_task_succ with eval = 1 gives the same), except the
 * output's, which the eval DAG cuts to empty lists by its own offsets. */
__device__ static __noinline__ bool gn_dev_rebuild_dags(struct gn_dev *d, int64_t step)
{
    __shared__ uint32_t s_part[NT];
    const struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    if (blockIdx.x == 0) {
        /* update parts: their first-part offsets by a prefix sum over
         * positions 1 .. n-1 (entry 0 of the scan is position 1) */
        int32_t *upd_base = d->upd_base, *upd_rows = d->upd_rows;
        const int32_t acc = gn_block_prefix(
            m->n_groups - 1,
            [=](int32_t i) {
                const int32_t g = m->order[i + 1];
                return gn_task_parts_of(m, g, GN_CUDA_MAX_PARTS, GN_CUDA_PART_ROWS, &upd_rows[g]);
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
        }
        __syncthreads();
        for (int32_t p = 1 + tid; p < m->n_groups; p += NT)
            for (int32_t i = d->upd_base[p]; i < d->upd_base[p + 1] && (uint32_t)i < d->tm.parts; i++)
                d->upd_pos[i] = p;
        __syncthreads();
        const uint32_t n = d->tm.total;
        const uint32_t per = (n + NT - 1) / NT, lo = min(n, per * tid), hi = min(n, lo + per);
        uint32_t s = 0;
        for (uint32_t i = lo; i < hi; i++) {
            d->task_deg[i] = gn_task_succ(m, &d->tm, i, 0, NULL);
            s += d->task_deg[i];
        }
        s_part[tid] = s;
        __syncthreads();
        if (tid == 0) {
            uint32_t acc = 0;
            for (int32_t i = 0; i < NT; i++) {
                uint32_t v = s_part[i];
                s_part[i] = acc;
                acc += v;
            }
            d->train.n_tasks = n;
            d->train.n_edges = acc;
            d->eval.n_tasks = d->tm.bwd0;
            d->train.n_roots = 0; /* counted below, after the barrier */
            d->eval.n_roots = 0;
            if (acc > d->dag_cap_edges || n > d->dag_cap_tasks)
                gn_dev_fault(d, GN_CUDA_FAULT_INDEX, -1, step, acc);
        }
        __syncthreads();
        uint32_t off = s_part[tid];
        for (uint32_t i = lo; i < hi; i++) {
            d->train.succ_begin[i] = off;
            off += d->task_deg[i];
        }
        if (tid == NT - 1) d->train.succ_begin[n] = d->train.n_edges;
    }
    if (!gn_dev_barrier(d, step)) return false;
    /* the lists' records for the task math (block_ops.cuh: gn_edge_rec);
     * entries past the live edges are never read */
    for (int32_t p = blockIdx.x * NT + tid; p < m->n_edges; p += gridDim.x * NT) {
        d->in_rec[p] = gn_edge_rec_of(m, m->in_list[p], false);
        d->out_rec[p] = gn_edge_rec_of(m, m->out_list[p], true);
    }
    const uint32_t n = d->tm.total;
    for (uint32_t i = blockIdx.x * NT + tid; i < n; i += gridDim.x * NT) {
        gn_task_succ(m, &d->tm, i, 0, d->train.succ + d->train.succ_begin[i]);
        d->train.indeg_init[i] = gn_task_indeg(m, &d->tm, i);
        /* the counters armed for the next pass, the roots listed (in any
         * order: a root's ticket changes where it runs, not what it
         * computes) */
        if (gn_dag_arm_one(&d->train, i))
            d->train.roots[atomicAdd(&d->train.n_roots, 1u)] = i;
        if (i <= d->tm.bwd0) {
            const uint32_t first_out = d->tm.bwd0 - (uint32_t)d->tm.tiles;
            d->eval.succ_begin[i] = d->train.succ_begin[i < first_out ? i : first_out];
            if (i < d->tm.bwd0) {
                d->eval.indeg_init[i] = gn_task_indeg(m, &d->tm, i);
                if (gn_dag_arm_one(&d->eval, i))
                    d->eval.roots[atomicAdd(&d->eval.n_roots, 1u)] = i;
            }
        }
    }
    return gn_dev_barrier(d, step);
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
    if (blockIdx.x == 0) {
        if (threadIdx.x == 0) {
            d->grow_round = round + 1;
            m->n_groups = (int32_t)gn_pool_used(&d->pools.groups);
            m->n_edges = (int32_t)gn_pool_used(&d->pools.edges);
            m->n_params = (int64_t)gn_pool_used(&d->pools.params);
        }
        __syncthreads();
        if (m->n_groups != n_old) gn_dev_rebuild_model(d, n_old);
    }
    if (!gn_dev_barrier(d, step)) return false;
    return m->n_groups == n_old || gn_dev_rebuild_dags(d, step);
}

#endif
