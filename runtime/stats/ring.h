/*
 * The stats ring: fixed-size gn_stat_record samples in a POSIX shared-memory
 * ring (layout in stats.h) that one process writes while training and any
 * number of others read, read-only, without ever making the writer wait.
 *
 * Names. A ring name is "genet-" followed by 1 to 100 characters from
 * [A-Za-z0-9._-]; it is also the file name under /dev/shm. Wherever a name
 * is taken, a leading '/' is dropped, the "genet-" prefix is added when it
 * is missing, and a name of digits only is a process id: "1234" means
 * "genet-1234", the default name of the run with pid 1234.
 */
#ifndef GN_RUNTIME_RING_H
#define GN_RUNTIME_RING_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GN_RING_PREFIX "genet-"
#define GN_RING_NAME_MAX 112 /* bytes, with the NUL */
#define GN_RING_DEFAULT_CAPACITY 8192u /* about 14 minutes at one record per 100 ms */
#define GN_RING_CAPACITY_MAX (1u << 24)

/*
 * Turn a user's name or pid into a ring name (see above) in out[out_size].
 * arg NULL or "" gives the default name of the calling process.
 */
enum gn_status gn_ring_name_parse(const char *arg, char *out, size_t out_size);

/* ---- writer: one thread of one process appends ---- */

struct gn_ring;

/*
 * Create the ring `name` (NULL: "genet-<pid>") with room for capacity
 * records, mode 0644. A ring of that name left by a writer that finished or
 * died is replaced; one whose writer still runs, or a shared memory object
 * that is not a stats ring, is an error.
 */
enum gn_status gn_ring_create(const char *name, uint32_t capacity, const char *backend,
                              struct gn_ring **out);

/* The ring's name, as readers give it to gn_ring_open. */
const char *gn_ring_name(const struct gn_ring *ring);

/* Monotonic nanoseconds since the ring was created: the clock of t_ns. */
int64_t gn_ring_clock_ns(const struct gn_ring *ring);

/*
 * Append a copy of *rec as the next record (rec->seq is ignored). Lock-free
 * and wait-free: a slow reader loses old records, never delays the writer.
 * Only one thread may append to a ring.
 */
enum gn_status gn_ring_append(struct gn_ring *ring, const struct gn_stat_record *rec);

/* Mark the run finished: readers stop waiting for records. */
enum gn_status gn_ring_finish(struct gn_ring *ring);

/*
 * Unmap and free the ring, and remove its name unless keep is nonzero.
 * Readers that have it open keep reading it. NULL is ignored.
 */
void gn_ring_close(struct gn_ring *ring, int keep);

/* ---- reader: read-only, any number of threads and processes ---- */

struct gn_ring_reader;

/*
 * Open the ring named by name_or_pid (a name or a pid, as above) read-only
 * and check it: a missing object, one that is not a stats ring, one shorter
 * than its header says, or another layout version is an error with a
 * message for the user.
 */
enum gn_status gn_ring_open(const char *name_or_pid, struct gn_ring_reader **out);

/*
 * gn_ring_open, but an object that a writer may still be making (empty, or
 * its header not yet published: gn_ring_create's window between creating
 * and filling it) is tried again every GN_RING_OPEN_POLL_NS for up to
 * wait_ns before that error is returned. Other errors return at once.
 */
#define GN_RING_OPEN_POLL_NS 5000000L
enum gn_status gn_ring_open_wait(const char *name_or_pid, int64_t wait_ns,
                                 struct gn_ring_reader **out);

/*
 * A reader over the writer's own mapping, for a reader in the writer's
 * process (a live progress line, a test). It must be closed before the ring.
 * Sharing the writer's addresses also lets ThreadSanitizer, which tracks
 * addresses, check the seqlock: a second mapping would hide every race.
 */
enum gn_status gn_ring_reader_attach(struct gn_ring *ring, struct gn_ring_reader **out);

/* NULL is ignored. */
void gn_ring_reader_close(struct gn_ring_reader *r);

struct gn_ring_info {
    char name[GN_RING_NAME_MAX];
    char backend[GN_RING_BACKEND_MAX];
    int32_t pid;
    uint32_t capacity;
    int64_t start_unix_ns;
};

void gn_ring_reader_info(const struct gn_ring_reader *r, struct gn_ring_info *info);

/* Records appended so far (the next record's index). */
uint64_t gn_ring_write_pos(const struct gn_ring_reader *r);

enum gn_ring_read_status {
    GN_RING_READ_OK = 0,      /* *out holds record index, whole */
    GN_RING_READ_OVERWRITTEN, /* the writer has reused its slot: gone */
    GN_RING_READ_NOT_YET,     /* the writer has not started it */
    GN_RING_READ_TORN,        /* the writer is filling it now: try again */
};

/*
 * Copy record `index` into *out, all of it or nothing: *out is changed only
 * on GN_RING_READ_OK.
 */
enum gn_ring_read_status gn_ring_read(const struct gn_ring_reader *r, uint64_t index,
                                      struct gn_stat_record *out);

const char *gn_ring_read_status_str(enum gn_ring_read_status s);

enum gn_ring_writer_state {
    GN_RING_WRITER_RUNNING = 0,
    GN_RING_WRITER_FINISHED,
    GN_RING_WRITER_DIED, /* gone without finishing: killed, crashed or failed */
};

/*
 * Is the writer still there? From the FINISHED flag and, while it is not
 * set, kill(pid, 0) and the process's start time (a pid reused by another
 * process, or a zombie, is a dead writer). GN_OK with *state RUNNING or
 * FINISHED; a dead writer sets *state DIED and returns GN_ERR_INTERRUPTED
 * with a message saying so.
 */
enum gn_status gn_ring_writer_alive(const struct gn_ring_reader *r,
                                    enum gn_ring_writer_state *state);

const char *gn_ring_writer_state_str(enum gn_ring_writer_state s);

/*
 * The ring names present: the objects in /dev/shm named like a ring, sorted
 * ("genet-9" before "genet-10"). They are not opened, so some may turn out
 * not to be rings. Free with gn_ring_list_free.
 */
enum gn_status gn_ring_list(char ***names, size_t *count);
void gn_ring_list_free(char **names, size_t count);

#ifdef __cplusplus
}
#endif

#endif
