/*
 * The live-counters layout: one fixed-size record per sample, and the header
 * of the shared-memory ring that holds them (ring.c writes and reads it,
 * genet-stat dumps it, any other tool may map it).
 *
 * The shared memory object is
 *
 *     struct gn_ring_header                   (header_size bytes, 128)
 *     struct gn_stat_record slot[capacity]    (record_size bytes each, 192)
 *
 * and record `index` (0, 1, 2, ... counted since the ring was created) lives
 * in slot[index % capacity]. Each slot's first word is a seqlock: odd
 * (2 * index + 1) while the writer fills the slot, even (2 * (index + 1))
 * once record `index` is complete. A reader copies the slot between two
 * reads of that word and keeps the copy only if both saw the same even
 * value, so it never returns a torn record and the writer never waits.
 *
 * Plain fixed-width fields only, so that C++ and CUDA code can include this
 * header too. The words that change while the ring is shared (magic, flags,
 * write_pos, every slot) are only accessed through ring.c's atomic views.
 *
 * Counters named "since the start" and every t_*_ns are cumulative: a reader
 * takes differences between two records, and a record lost to overwriting
 * loses no information beyond its own time resolution.
 */
#ifndef GN_RUNTIME_STATS_H
#define GN_RUNTIME_STATS_H

#include <assert.h> /* static_assert: C11's _Static_assert, and C++'s keyword */
#include <stddef.h>
#include <stdint.h>

#define GN_RING_MAGIC UINT64_C(0x474e52494e473031) /* "GNRING01" */
#define GN_RING_VERSION 1u

/* gn_ring_header.flags */
#define GN_RING_RUNNING 1u  /* the writer is appending */
#define GN_RING_FINISHED 2u /* the run ended normally: no record will follow */

#define GN_RING_BACKEND_MAX 16

struct gn_stat_record {
    uint64_t seq;  /* seqlock word: 2 * (index + 1) in a record read back */
    int64_t t_ns;  /* monotonic time since the ring was created */
    int64_t step;  /* optimizer steps done */
    int32_t epoch; /* current epoch, from 0 */
    int32_t queue_high_water; /* most tasks ever waiting in the ready queue */
    double loss;     /* training loss: mean over the epoch so far */
    double accuracy; /* training accuracy over the epoch so far, in [0, 1] */
    int32_t groups;  /* groups in the graph now, input and output included */
    int32_t edges;   /* edges in the graph now */
    int64_t duplications; /* group duplications made since the start */
    int64_t refused;      /* duplications refused (a pool was full) since the start */
    int64_t tasks;        /* scheduler tasks run since the start */
    double tasks_per_s;   /* tasks per second over the last sample interval */
    int32_t pool_groups_used;
    int32_t pool_groups_cap;
    int32_t pool_edges_used;
    int32_t pool_edges_cap;
    int64_t pool_params_used; /* floats */
    int64_t pool_params_cap;
    int64_t t_forward_ns;  /* time in each phase since the start */
    int64_t t_backward_ns;
    int64_t t_update_ns;
    int64_t t_growth_ns;
    int64_t t_kernel_wait_data_ns;   /* the kernel waiting for the loader's next batch */
    int64_t t_loader_wait_kernel_ns; /* the loader waiting for a free batch buffer */
    int64_t pruned;       /* hidden groups removed by pruning since the start (a
                           * reserved zero word before: older rings read 0) */
    uint64_t reserved[2]; /* zero; pads the record to three cache lines */
};

static_assert(sizeof(struct gn_stat_record) == 192, "gn_stat_record is 192 bytes");
static_assert(sizeof(struct gn_stat_record) % 64 == 0, "slots fill whole cache lines");
static_assert(offsetof(struct gn_stat_record, seq) == 0, "the seqlock word comes first");
static_assert(offsetof(struct gn_stat_record, loss) == 32, "gn_stat_record layout");
static_assert(offsetof(struct gn_stat_record, pool_params_used) == 104, "gn_stat_record layout");
static_assert(offsetof(struct gn_stat_record, t_forward_ns) == 120, "gn_stat_record layout");

struct gn_ring_header {
    uint64_t magic;       /* GN_RING_MAGIC, stored last when the ring is created */
    uint32_t version;     /* GN_RING_VERSION */
    uint32_t header_size; /* bytes before slot 0: sizeof(struct gn_ring_header) */
    uint32_t record_size; /* sizeof(struct gn_stat_record) */
    uint32_t capacity;    /* slots */
    int32_t pid;          /* the writer process */
    uint32_t flags;       /* GN_RING_RUNNING or GN_RING_FINISHED */
    uint64_t write_pos;   /* records appended so far: the next record's index */
    int64_t start_unix_ns; /* wall clock when the ring was created */
    uint64_t writer_start_ticks; /* the writer's start time in clock ticks after
                                    boot (/proc/PID/stat), to tell a reused pid
                                    apart; 0 when unknown */
    char backend[GN_RING_BACKEND_MAX]; /* "serial", "cpu", "cuda"; NUL-terminated */
    uint64_t reserved[7];
};

static_assert(sizeof(struct gn_ring_header) == 128, "gn_ring_header is 128 bytes");
static_assert(offsetof(struct gn_ring_header, flags) == 28, "gn_ring_header layout");
static_assert(offsetof(struct gn_ring_header, write_pos) == 32, "gn_ring_header layout");
static_assert(offsetof(struct gn_ring_header, backend) == 56, "gn_ring_header layout");

/* The index of a record that gn_ring_read returned. */
static inline uint64_t gn_stat_record_index(const struct gn_stat_record *r)
{
    return r->seq / 2 - 1;
}

#endif
