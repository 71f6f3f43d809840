/*
 * The barrier of the scheduler core: every worker of a pass (a pthread of
 * the cpu executor, thread 0 of a block of the persistent kernel) waits
 * here until all n have arrived. Written once for host and device.
 *
 * Generation barrier: a waiter reads the generation (acquire), then adds 1
 * to `arrived` (acq_rel). The add that brings `arrived` to n is the last
 * arrival: it resets `arrived` to 0 and publishes generation + 1 (release);
 * every other arrival spins until the generation moves (acquire). No local
 * state is kept between rounds, so a worker may use any barrier of the run
 * in any round.
 *
 * Why it is safe: a waiter read the generation before its add, and the
 * last arrival's add comes after every other add in the modification order
 * of `arrived`, so the last arrival stores exactly gen + 1 for the gen every
 * waiter of the round read: nobody waits on a generation that already
 * passed. The reset of `arrived` is ordered before the release of the new
 * generation, and nobody adds for the next round before seeing it.
 *
 * Ordering: the adds form one release sequence on `arrived`, so the last
 * arrival's acquire sees every participant's writes before its arrival, and
 * passes them on with its release of the generation; each waiter's acquire
 * load of the new generation then sees all of them.
 *
 * Bounded: with a timeout, a barrier that does not open within timeout_ns
 * returns GN_ERR_DEVICE (the caller records which worker and where);
 * with an abort word, a non-zero value makes every waiter return
 * GN_ERR_INTERRUPTED. Both are checked every 256 spins, so the hot wait is
 * one acquire load and a pause (gn_spin_pause: the common back-off).
 */
#ifndef GN_RUNTIME_BARRIER_H
#define GN_RUNTIME_BARRIER_H

#include <stdint.h>

#include "atomics.h"
#include "genet/genet.h"

struct gn_barrier {
    gn_atomic_u32 arrived; /* arrivals in this round */
    uint32_t pad_arrived_[15];
    gn_atomic_u32 gen; /* rounds completed */
    uint32_t pad_gen_[15];
};
GN_STATIC_ASSERT(sizeof(struct gn_barrier) == 128, "gn_barrier is shared with the device");

/* One thread, before the barrier is shared. */
GN_HD void gn_barrier_init(struct gn_barrier *b)
{
    gn_atomic_store_relaxed_u32(&b->arrived, 0);
    gn_atomic_store_relaxed_u32(&b->gen, 0);
}

/*
 * The barrier in halves, for a caller whose last arrival acts while every
 * other participant still waits (the persistent kernel opens the next pass
 * there, worker.cuh): gn_barrier_arrive adds this participant and returns 1
 * for the last arrival, which does its part and then calls
 * gn_barrier_open(b, *gen); every other arrival calls gn_barrier_await with
 * the generation arrive read. What the last arrival writes between the two
 * is published by the release of the generation, and it sees what every
 * other participant wrote before arriving (the release sequence below).
 */
GN_HD int gn_barrier_arrive(struct gn_barrier *b, uint32_t n, uint32_t *gen)
{
    /* acquire: pairs with the release of the generation in gn_barrier_open
     * (a waiter that read it late still starts from a completed round). */
    *gen = gn_atomic_load_acquire_u32(&b->gen);
    /* acq_rel: the release half publishes this participant's writes to the
     * last arrival; its acquire half (release sequence) sees the others'. */
    if (gn_atomic_fetch_add_acq_rel_u32(&b->arrived, 1) == n - 1) {
        /* relaxed: ordered before the release of gn_barrier_open; nobody
         * adds again before seeing the new generation. */
        gn_atomic_store_relaxed_u32(&b->arrived, 0);
        return 1;
    }
    return 0;
}

/* The last arrival: let the others go. */
GN_HD void gn_barrier_open(struct gn_barrier *b, uint32_t gen)
{
    /* release: pairs with the acquire loads of the waiters. */
    gn_atomic_store_release_u32(&b->gen, gen + 1);
}

/* Every other arrival: wait until the generation read at arrival moves.
 * abort (may be NULL): a word whose non-zero value ends the wait with
 * GN_ERR_INTERRUPTED. timeout_ns (0 = none): GN_ERR_DEVICE when the
 * barrier has not opened by then. */
GN_HD enum gn_status gn_barrier_await(struct gn_barrier *b, uint32_t gen, gn_atomic_u32 *abort,
                                      uint64_t timeout_ns)
{
    const uint64_t t0 = timeout_ns ? gn_clock_ns() : 0;
    /* acquire: pairs with the last arrival's release of the generation. */
    for (uint64_t spins = 0; gn_atomic_load_acquire_u32(&b->gen) == gen; spins++) {
        if ((spins & 255) == 255) {
            if (abort && gn_atomic_load_relaxed_u32(abort)) return GN_ERR_INTERRUPTED;
            if (timeout_ns && gn_clock_ns() - t0 > timeout_ns) return GN_ERR_DEVICE;
        }
        gn_spin_pause(spins);
    }
    return GN_OK;
}

/*
 * Arrive and wait for n participants (the halves above, the last arrival
 * doing nothing of its own). abort, timeout_ns: as gn_barrier_await.
 */
GN_HD enum gn_status gn_barrier_wait(struct gn_barrier *b, uint32_t n, gn_atomic_u32 *abort,
                                     uint64_t timeout_ns)
{
    uint32_t gen;
    if (gn_barrier_arrive(b, n, &gen)) {
        gn_barrier_open(b, gen);
        return GN_OK;
    }
    return gn_barrier_await(b, gen, abort, timeout_ns);
}

#endif
