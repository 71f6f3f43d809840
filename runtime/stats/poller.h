/*
 * The stats poller: a thread that samples a backend's counters every
 * interval into a gn_stat_record and appends it to a stats ring.
 */
#ifndef GN_RUNTIME_POLLER_H
#define GN_RUNTIME_POLLER_H

#include "genet/genet.h"
#include "ring.h"
#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GN_POLLER_INTERVAL_MAX_MS 3600000

struct gn_poller;

/*
 * Called on the poller thread with *rec zeroed except rec->t_ns (the ring's
 * clock now); fills in the counters. It runs concurrently with training, so
 * it must read the counters it shares with the backend safely (atomics or
 * the backend's own snapshot).
 */
typedef void (*gn_poller_sample_fn)(void *ctx, struct gn_stat_record *rec);

/*
 * Start a thread that, every interval_ms (1 to GN_POLLER_INTERVAL_MAX_MS)
 * from now, calls sample() and appends the record to ring. The poller is
 * then the ring's only writer until gn_poller_stop returns.
 */
enum gn_status gn_poller_start(struct gn_ring *ring, int interval_ms, gn_poller_sample_fn sample,
                               void *ctx, struct gn_poller **out);

/*
 * Wake the thread at once, have it take and append one final sample, join
 * it and free the poller. NULL is ignored. The caller then finishes and
 * closes the ring.
 */
enum gn_status gn_poller_stop(struct gn_poller *p);

#ifdef __cplusplus
}
#endif

#endif
