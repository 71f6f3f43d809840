/*
 * Pruning on the device: a round of the shared rules (prune.h) run by every
 * block at once at a growth step, before the growth round, then the pools
 * compacted and the topology and task DAGs rebuilt in place. No pause, no
 * copy to the host. The host backends run the same functions in loops
 * (prune.c), in the same phases:
 *
 *   score    each hidden group by one block (positions round-robin): its
 *            units' batch means by the threads (gn_prune_mean_one), its
 *            rows' distances by the threads, summed by thread 0 in row
 *            order (gn_prune_sum_add, a chunk at a time), its out-weights
 *            staged in chunks and summed by thread 0 in canonical order
 *            (gn_prune_norm_add); the score (gn_prune_score_of) and the
 *            patience (gn_prune_count) by thread 0: bit for bit the host's
 *            serial loops, only the loads spread over the block;
 *   choose   block 0's thread 0: gn_prune_select, serial in canonical
 *            order (each choice depends on the ones before it);
 *   fold     block 0, the removed groups in canonical order, the units of
 *            one out-edge at once (gn_prune_mean_one, gn_prune_fold_one);
 *   map      block 0: the kept slots, the kept edges and the new order by
 *            block prefix sums, the log's moves (gn_prune_log_moves);
 *   pack     every block: the parameter blocks (gn_prune_block_of), then
 *            each block's new offset, the kept length below it
 *            (gn_prune_packed_below over tiles of the blocks in shared
 *            memory: quadratic, all in parallel);
 *   move     every block: params, gradients and both moments through a
 *            copy (kept blocks can overlap others' old places, so no move
 *            is in place), then edges and groups (gn_prune_edge_moved,
 *            gn_prune_group_moved) the same way; the freed tails zeroed;
 *   rebuild  the pools' counts lowered (gn_grow_pools_init), then the
 *            lists and the task DAGs (grow.cuh), as after growth.
 * A round that removes nothing costs the scores and two grid barriers.
 */
#ifndef GN_DEVICE_PRUNE_CUH
#define GN_DEVICE_PRUNE_CUH

#include "grow.cuh"
#include "prune.h"

/* The score and patience of hidden group g by one block; thread 0 returns
 * whether it is a candidate. mean: max_width floats, buf: `cap` floats of
 * shared memory. */
__device__ static int gn_dev_prune_score(struct gn_dev *d, int32_t g, float *mean, float *buf,
                                         int32_t cap)
{
    struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    const struct gn_group gr = m->groups[g];
    const int32_t rows = d->b.rows;
    const float *act = gn_act(&d->b, g);
    float norm = 0.0f, spread = 0.0f;
    /* the out-weights, a chunk at a time, in canonical order */
    for (int32_t i = 0; i < gr.out_count; i++) {
        const struct gn_edge e = m->edges[m->out_list[gr.out_begin + i]];
        const int64_t len = (int64_t)gr.width * m->groups[e.dst].width;
        for (int64_t q0 = 0; q0 < len; q0 += cap) {
            const int32_t n = (int32_t)min((int64_t)cap, len - q0);
            for (int32_t q = tid; q < n; q += NT) buf[q] = __ldcg(m->params + e.w + q0 + q);
            __syncthreads();
            if (tid == 0) norm = gn_prune_norm_add(norm, buf, n);
            __syncthreads();
        }
    }
    /* the units' means, then the rows' distances, a chunk of rows at a time */
    if (rows > 0) {
        for (int32_t j = tid; j < gr.width; j += NT) mean[j] = gn_prune_mean_one(m, g, act, rows, j);
        __syncthreads();
        const int32_t chunk = min(cap, (int32_t)NT);
        for (int32_t r0 = 0; r0 < rows; r0 += chunk) {
            const int32_t n = min(chunk, rows - r0);
            if (tid < n) buf[tid] = gn_prune_row_spread(m, g, act, r0 + tid, mean);
            __syncthreads();
            if (tid == 0) spread = gn_prune_sum_add(spread, buf, n);
            __syncthreads();
        }
    }
    if (tid != 0) return 0;
    const float score = gn_prune_score_of(spread, rows, norm);
    return gn_prune_count(m, g, score, d->cfg.prune_threshold, d->cfg.prune_after);
}

/* Block-wide exclusive count: store(i, how many j < i have value(j) != 0)
 * for i in [0, n); returns the total. A loop of gn_block_scan_u32 (no
 * shared memory of its own: a CUB scan here added 1.2 KB of static shared
 * memory to the whole kernel per call site). All threads of the block call
 * it. */
template <typename V, typename S>
__device__ static int32_t gn_block_count(int32_t n, V value, S store)
{
    uint32_t carry = 0;
    for (int32_t base = 0; base < n; base += NT) {
        const int32_t i = base + (int32_t)threadIdx.x;
        uint32_t total;
        const uint32_t at = gn_block_scan_u32(i < n && value(i) ? 1u : 0u, &total);
        if (i < n) store(i, (int32_t)(carry + at));
        carry += total;
    }
    return (int32_t)carry;
}

/* Copy `count` items of T from src to dst by the whole grid. */
template <typename T>
__device__ static void gn_dev_copy_grid(T *dst, const T *src, int64_t count)
{
    for (int64_t i = (int64_t)blockIdx.x * NT + threadIdx.x; i < count; i += (int64_t)gridDim.x * NT)
        dst[i] = src[i];
}

template <typename T> __device__ static void gn_dev_zero_grid(T *dst, int64_t from, int64_t to)
{
    for (int64_t i = from + (int64_t)blockIdx.x * NT + threadIdx.x; i < to;
         i += (int64_t)gridDim.x * NT)
        memset(&dst[i], 0, sizeof(T));
}

/* One pruning round after step `step` (0-based; the round is step + 1's),
 * every block. Returns false once the run is aborted. */
__device__ static __noinline__ bool gn_dev_prune(struct gn_dev *d, int64_t step)
{
    extern __shared__ __align__(16) unsigned char smem_raw[];
    struct gn_model *m = &d->m;
    const int32_t tid = threadIdx.x;
    const int32_t was = gn_dev_phase(GN_CUDA_PROF_PRUNE);
    const int32_t n = m->n_groups, E = m->n_edges, B = n + E;
    const int64_t n_params = m->n_params;
    float *mean = reinterpret_cast<float *>(smem_raw);
    float *buf = mean + m->max_width;
    const int32_t cap =
        (int32_t)(gn_block_smem_bytes(d->smem_stage, d->smem_acc) / sizeof(float)) - m->max_width;
    int32_t *candidate = d->scratch, *map = d->prune_map, *emap = d->prune_emap;
    __shared__ int32_t s_removed;

    /* score: every hidden group by one block */
    if (blockIdx.x == 0 && tid == 0) {
        gn_atomic_store_relaxed_u32(&d->chosen, 0);
        d->plog.n_pruned = d->plog.n_moved = 0;
        d->plog_step = step + 1;
    }
    for (int32_t g = blockIdx.x * NT + tid; g < n; g += gridDim.x * NT) candidate[g] = 0;
    if (!gn_dev_barrier(d, step)) return false;
    for (int32_t p = blockIdx.x + 1; p < n - 1; p += gridDim.x) {
        const int32_t g = m->order[p];
        if (m->groups[g].kind != GN_GROUP_HIDDEN) continue;
        const int c = gn_dev_prune_score(d, g, mean, buf, cap);
        if (tid == 0 && c) {
            candidate[g] = 1;
            /* relaxed: a count read after the barrier */
            gn_atomic_fetch_add_relaxed_u32(&d->chosen, 1);
        }
    }
    if (!gn_dev_barrier(d, step)) return false;
    if (gn_atomic_load_relaxed_u32(&d->chosen) == 0) {
        gn_dev_phase(was);
        return true;
    }

    /* choose and fold, block 0 */
    if (blockIdx.x == 0) {
        if (tid == 0) {
            s_removed = gn_prune_select(m, candidate, &d->plog);
            d->prune_removed = s_removed;
        }
        __syncthreads();
        for (int32_t p = 1; p < n - 1 && s_removed; p++) {
            const int32_t g = m->order[p];
            if (!(m->groups[g].flags & GN_GROUP_PRUNED)) continue;
            const struct gn_group gr = m->groups[g];
            for (int32_t j = tid; j < gr.width; j += NT)
                mean[j] = gn_prune_mean_one(m, g, gn_act(&d->b, g), d->b.rows, j);
            __syncthreads();
            for (int32_t i = 0; i < gr.out_count; i++) {
                const int32_t D = m->groups[m->edges[m->out_list[gr.out_begin + i]].dst].width;
                for (int32_t j = tid; j < D; j += NT) gn_prune_fold_one(m, g, mean, i, j);
                __syncthreads();
            }
        }
    }
    if (!gn_dev_barrier(d, step)) return false;
    if (__ldcg(&d->prune_removed) == 0) {
        gn_dev_phase(was);
        return true;
    }

    /* map: the kept slots, the kept edges, the new order (into scratch,
     * where the rebuild takes it) */
    if (blockIdx.x == 0) {
        struct gn_group *groups = m->groups;
        const int32_t kept = gn_block_count(
            n, [=](int32_t g) { return (groups[g].flags & GN_GROUP_PRUNED) ? 0 : 1; },
            [=](int32_t g, int32_t at) { map[g] = (groups[g].flags & GN_GROUP_PRUNED) ? -1 : at; });
        __syncthreads();
        const struct gn_model *cm = m;
        const int32_t ne = gn_block_count(
            E, [=](int32_t e) { return gn_prune_edge_kept(cm, map, e); },
            [=](int32_t e, int32_t at) { emap[e] = gn_prune_edge_kept(cm, map, e) ? at : -1; });
        int32_t *order = m->order, *scratch = d->scratch;
        gn_block_count(
            n, [=](int32_t i) { return map[order[i]] >= 0 ? 1 : 0; },
            [=](int32_t i, int32_t at) {
                if (map[order[i]] >= 0) scratch[at] = map[order[i]];
            });
        if (tid == 0) {
            gn_prune_log_moves(&d->plog, map, n);
            d->prune_kept = kept;
            d->prune_edges = ne;
            d->prune_top = 0;
        }
    }
    if (!gn_dev_barrier(d, step)) return false;

    /* pack: the parameter blocks, then each one's new offset */
    struct gn_prune_block *blk = d->prune_blk;
    int64_t *at = d->prune_at;
    for (int32_t b = blockIdx.x * NT + tid; b < B; b += gridDim.x * NT) {
        blk[b] = gn_prune_block_of(m, map, b);
        if (blk[b].len) atomicAdd((unsigned long long *)&d->prune_top, (unsigned long long)blk[b].len);
    }
    if (!gn_dev_barrier(d, step)) return false;
    {
        struct gn_prune_block *tile = reinterpret_cast<struct gn_prune_block *>(smem_raw);
        const int32_t tn = (int32_t)min((size_t)(cap + m->max_width) * sizeof(float) / sizeof *tile,
                                        (size_t)4 * NT);
        for (int32_t b0 = blockIdx.x * NT; b0 < B; b0 += gridDim.x * NT) {
            const int32_t b = b0 + tid;
            const struct gn_prune_block mine = b < B ? blk[b] : gn_prune_block{0, 0};
            int64_t below = 0;
            for (int32_t c0 = 0; c0 < B; c0 += tn) {
                const int32_t k = min(tn, B - c0);
                __syncthreads();
                for (int32_t c = tid; c < k; c += NT) tile[c] = blk[c0 + c];
                __syncthreads();
                if (mine.len) below += gn_prune_packed_below(tile, k, mine.at);
            }
            if (b < B) at[b] = below;
        }
    }
    if (!gn_dev_barrier(d, step)) return false;

    /* move: the four parameter arrays through the copy, one at a time */
    const int64_t top = (int64_t)__ldcg((unsigned long long *)&d->prune_top);
    float *copy = reinterpret_cast<float *>(d->prune_buf);
    float *arrays[4] = {m->params, m->grads, m->moment, m->moment2};
    for (int a = 0; a < 4; a++) {
        for (int32_t b = blockIdx.x; b < B; b += gridDim.x) {
            const struct gn_prune_block k = blk[b];
            const int64_t to = __ldcg(&at[b]);
            for (int64_t q = tid; q < k.len; q += NT) copy[to + q] = __ldcg(arrays[a] + k.at + q);
        }
        if (!gn_dev_barrier(d, step)) return false;
        gn_dev_copy_grid(arrays[a], copy, top);
        gn_dev_zero_grid(arrays[a], top, n_params);
        if (!gn_dev_barrier(d, step)) return false;
    }
    /* edges and groups through the copy, then back */
    const int32_t kept = __ldcg(&d->prune_kept), ne = __ldcg(&d->prune_edges);
    struct gn_group *gcopy = reinterpret_cast<struct gn_group *>(d->prune_buf);
    struct gn_edge *ecopy = reinterpret_cast<struct gn_edge *>(d->prune_buf + d->prune_ecopy);
    for (int32_t e = blockIdx.x * NT + tid; e < E; e += gridDim.x * NT)
        if (emap[e] >= 0) ecopy[emap[e]] = gn_prune_edge_moved(m, map, e, __ldcg(&at[n + e]));
    for (int32_t g = blockIdx.x * NT + tid; g < n; g += gridDim.x * NT)
        if (map[g] >= 0) gcopy[map[g]] = gn_prune_group_moved(m, map, g, __ldcg(&at[g]));
    if (!gn_dev_barrier(d, step)) return false;
    gn_dev_copy_grid(m->edges, ecopy, ne);
    gn_dev_zero_grid(m->edges, ne, E);
    gn_dev_copy_grid(m->groups, gcopy, kept);
    gn_dev_zero_grid(m->groups, kept, n);
    if (!gn_dev_barrier(d, step)) return false;

    /* the counts, the pools, then the lists and the task DAGs */
    if (blockIdx.x == 0 && tid == 0) {
        m->n_groups = kept;
        m->n_edges = ne;
        m->n_params = top;
        m->pruned += __ldcg(&d->prune_removed);
        gn_grow_pools_init(&d->pools, m);
    }
    if (!gn_dev_barrier(d, step)) return false;
    const bool ok = gn_dev_rebuild_model(d, -1, step) && gn_dev_rebuild_dags(d, step);
    gn_dev_phase(was);
    return ok;
}

#endif
