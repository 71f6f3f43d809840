/*
 * A bump allocator over a preallocated array: `used` units are handed out,
 * `capacity` is the limit. New groups, edges, parameter blocks (and the
 * synthetic tasks of genet-stress) come from pools, on the host or inside
 * the persistent kernel, by many workers at once.
 *
 * gn_pool_alloc(n) is a CAS loop: read used; if n > capacity - used, refuse
 * (add 1 to refusals, return GN_ERR_FULL); else CAS used from old to old+n
 * and own [old, old+n); if another worker moved used first, retry with the
 * value the CAS found. Why it is safe:
 *   - used never exceeds capacity, not even for an instant: it changes only
 *     by a successful CAS from old to old+n with n <= capacity - old (checked
 *     on that same old), or by gn_pool_return() which lowers it. By
 *     induction over its modification order every value it ever holds is
 *     <= capacity, so any reader (a watcher on the host included) sees a
 *     valid count. (An add-then-undo would leave used above capacity for a
 *     moment and refuse requests that would have fit.)
 *   - blocks are disjoint: a CAS succeeds only if used was still old, so
 *     consecutive successful CASes take consecutive intervals; the live
 *     blocks tile [0, used) exactly.
 *   - it is lock-free: a CAS fails only because another one succeeded.
 *   - no overflow: the test is n > capacity - old, with old <= capacity.
 * A refused request changes nothing but the refusal count: no partial block.
 *
 * gn_pool_return(first, n) gives back the most recent block, for a caller
 * that got one block of a multi-pool edit and was refused the next: CAS used
 * from first+n to first. It succeeds only if used still ends at this block;
 * since live blocks tile [0, used), used == first+n means the topmost block
 * is this one (no ABA). Otherwise the block stays allocated, never reused.
 *
 * Memory ordering: relaxed throughout. The counter only partitions index
 * space; the contents of a block are published by whoever links it into the
 * graph (a release store or a barrier there), not by the pool.
 */
#ifndef GN_RUNTIME_POOL_H
#define GN_RUNTIME_POOL_H

#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"

struct gn_pool {
    gn_atomic_u64 used;     /* units handed out, always <= capacity */
    gn_atomic_u64 refusals; /* requests refused because they did not fit */
    uint64_t capacity;
    uint64_t pad_;
};
GN_STATIC_ASSERT(sizeof(struct gn_pool) == 32, "gn_pool is shared with the device");

/* One thread, before the pool is shared. used: units already taken. */
GN_HD void gn_pool_init(struct gn_pool *p, uint64_t used, uint64_t capacity)
{
    gn_atomic_store_relaxed_u64(&p->used, used < capacity ? used : capacity);
    gn_atomic_store_relaxed_u64(&p->refusals, 0);
    p->capacity = capacity;
    p->pad_ = 0;
}

/* Take n units: *first is the index of the first. GN_ERR_FULL (counted) if
 * they do not fit, GN_ERR_INVALID for n == 0. */
GN_HD enum gn_status gn_pool_alloc(struct gn_pool *p, uint64_t n, uint64_t *first)
{
    if (n == 0)
        return GN_ERR_INVALID;
    /* relaxed: see the header; the CAS below re-checks the value. */
    uint64_t old = gn_atomic_load_relaxed_u64(&p->used);
    for (;;) {
        if (n > p->capacity - old) {
            /* relaxed: a statistic. */
            gn_atomic_fetch_add_relaxed_u64(&p->refusals, 1);
            return GN_ERR_FULL;
        }
        /* relaxed: the CAS's atomicity alone makes the blocks disjoint. */
        uint64_t found = gn_atomic_cas_relaxed_u64(&p->used, old, old + n);
        if (found == old) {
            *first = old;
            return GN_OK;
        }
        old = found;
    }
}

/* Give back [first, first+n) if it is still the most recent block:
 * GN_OK if given back, GN_ERR_INVALID if it stays allocated. */
GN_HD enum gn_status gn_pool_return(struct gn_pool *p, uint64_t first, uint64_t n)
{
    /* relaxed: as in gn_pool_alloc. */
    if (gn_atomic_cas_relaxed_u64(&p->used, first + n, first) == first + n)
        return GN_OK;
    return GN_ERR_INVALID;
}

GN_HD uint64_t gn_pool_used(struct gn_pool *p)
{
    return gn_atomic_load_relaxed_u64(&p->used);
}

GN_HD uint64_t gn_pool_refusals(struct gn_pool *p)
{
    return gn_atomic_load_relaxed_u64(&p->refusals);
}

#endif
