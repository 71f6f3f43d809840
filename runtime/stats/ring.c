/*
 * The stats ring in POSIX shared memory (layout and seqlock protocol in
 * stats.h, API in ring.h).
 *
 * Writer. gn_ring_create makes the object with O_EXCL, reserves its pages
 * (posix_fallocate, so a full /dev/shm is an error now rather than a SIGBUS
 * later), fills the header and publishes it by storing the magic last.
 * gn_ring_append fills slot[i % capacity] under the slot's seqlock word (odd
 * while writing, then even) and advances write_pos. It reads nothing that a
 * reader writes - readers map the object read-only - so it never waits.
 *
 * Reader. gn_ring_open maps the object read-only and checks the magic, the
 * version, the sizes, and that the object is as long as its header says, so
 * every later access stays inside the mapping. gn_ring_read is the seqlock
 * read: load the slot's word, copy the slot, load the word again, and keep
 * the copy only if both loads saw record index's even value.
 *
 * Memory ordering. stats.h keeps the shared layout plain C; the words that
 * change while the ring is shared are reached only through the _Atomic views
 * below (a lock-free atomic has the size and representation of its plain
 * type and is address-free, which is what lets two processes share it). The
 * payload is copied with relaxed atomic loads and stores, so a copy that
 * races the writer is not a data race, only a copy that gets dropped. Each
 * acquire and release says what it pairs with.
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "ring.h"

#define GN_RING_SHM_DIR "/dev/shm"
#define GN_RING_BODY_MAX 100 /* characters after the prefix */
#define GN_RING_WORDS (sizeof(struct gn_stat_record) / sizeof(uint64_t))

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
               "the ring needs lock-free 64-bit atomics");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the ring needs lock-free 32-bit atomics");
_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t) &&
                   _Alignof(_Atomic uint64_t) == _Alignof(uint64_t),
               "an atomic word has its plain type's layout");
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "an atomic word has its plain layout");
_Static_assert(sizeof(struct gn_stat_record) % sizeof(uint64_t) == 0, "records are whole words");
_Static_assert(GN_RING_NAME_MAX > sizeof(GN_RING_PREFIX) + GN_RING_BODY_MAX,
               "a name buffer holds the longest name");

struct gn_ring {
    char name[GN_RING_NAME_MAX];
    void *base;
    size_t size;
    uint32_t capacity;
    uint64_t next; /* the next record's index; only this writer changes write_pos */
    int64_t start_ns; /* CLOCK_MONOTONIC at creation */
    int finished;
};

struct gn_ring_reader {
    char name[GN_RING_NAME_MAX];
    void *base;
    size_t size; /* of our own mapping; 0 when attached to the writer's */
    uint32_t capacity;
    int32_t pid;
    uint64_t start_ticks;
    int64_t start_unix_ns;
    char backend[GN_RING_BACKEND_MAX];
};

/* ---- the atomic views of the shared words ---- */

static _Atomic uint64_t *gn_ring_word64(void *base, size_t offset)
{
    return (_Atomic uint64_t *)((char *)base + offset);
}

static _Atomic uint32_t *gn_ring_word32(void *base, size_t offset)
{
    return (_Atomic uint32_t *)((char *)base + offset);
}

/* Slot k as words; word 0 is the seqlock. */
static _Atomic uint64_t *gn_ring_slot(void *base, uint64_t k)
{
    return gn_ring_word64(base, sizeof(struct gn_ring_header) +
                                    (size_t)k * sizeof(struct gn_stat_record));
}

static int64_t gn_ring_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Field 22 of /proc/PID/stat: the process's start time in clock ticks after
 * boot, and whether it is a zombie (state Z or X). 0 when unknown.
 */
static uint64_t gn_proc_start_ticks(int32_t pid, int *zombie)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name, field 2, is in parentheses and may hold anything. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    if (zombie)
        *zombie = (*p == 'Z' || *p == 'X');
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

/* ---- names ---- */

static int gn_ring_name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

enum gn_status gn_ring_name_parse(const char *arg, char *out, size_t out_size)
{
    char buf[GN_RING_NAME_MAX];
    if (!out || out_size == 0)
        return gn_fail(GN_ERR_INVALID, "gn_ring_name_parse: no output buffer");
    out[0] = '\0';
    if (!arg || !*arg) {
        snprintf(buf, sizeof buf, GN_RING_PREFIX "%ld", (long)getpid());
    } else {
        const char *s = arg[0] == '/' ? arg + 1 : arg;
        size_t digits = strspn(s, "0123456789");
        if (digits > 0 && s[digits] == '\0') {
            errno = 0;
            unsigned long long pid = strtoull(s, NULL, 10);
            if (errno || pid == 0 || pid > INT32_MAX)
                return gn_fail(GN_ERR_INVALID, "stats ring '%s': %s is not a process id", arg,
                               s);
            snprintf(buf, sizeof buf, GN_RING_PREFIX "%llu", pid);
        } else {
            size_t plen = strlen(GN_RING_PREFIX);
            const char *body = strncmp(s, GN_RING_PREFIX, plen) == 0 ? s + plen : s;
            size_t len = strlen(body);
            if (len == 0)
                return gn_fail(GN_ERR_INVALID,
                               "stats ring name '%s' is empty after the prefix '%s'", arg,
                               GN_RING_PREFIX);
            if (len > GN_RING_BODY_MAX)
                return gn_fail(GN_ERR_INVALID,
                               "stats ring name '%.40s...' is too long (%zu characters after "
                               "'%s', at most %d)",
                               arg, len, GN_RING_PREFIX, GN_RING_BODY_MAX);
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)body[i];
                if (gn_ring_name_char_ok((char)c))
                    continue;
                if (isprint(c))
                    return gn_fail(GN_ERR_INVALID,
                                   "stats ring name '%s': character '%c' is not allowed (use "
                                   "letters, digits, '.', '_' and '-')",
                                   arg, c);
                return gn_fail(GN_ERR_INVALID,
                               "stats ring name: byte 0x%02x is not allowed (use letters, "
                               "digits, '.', '_' and '-')",
                               c);
            }
            snprintf(buf, sizeof buf, GN_RING_PREFIX "%s", body);
        }
    }
    size_t n = strlen(buf);
    if (n + 1 > out_size)
        return gn_fail(GN_ERR_INVALID, "stats ring name '%s' does not fit in %zu bytes", buf,
                       out_size);
    memcpy(out, buf, n + 1);
    return GN_OK;
}

/* ---- writer ---- */

/*
 * An object named like our new ring exists. Remove it if it is a ring whose
 * writer finished or died; refuse if its writer runs or it is not a ring.
 */
static enum gn_status gn_ring_remove_stale(const char *name)
{
    struct gn_ring_reader *r;
    enum gn_status st = gn_ring_open(name, &r);
    if (st != GN_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(GN_ERR_IO,
                       "cannot create stats ring '%s': it exists and cannot be replaced (%s); "
                       "remove " GN_RING_SHM_DIR "/%s or choose another name",
                       name, why, name);
    }
    enum gn_ring_writer_state state;
    gn_ring_writer_alive(r, &state);
    int32_t pid = r->pid;
    gn_ring_reader_close(r);
    if (state == GN_RING_WRITER_RUNNING)
        return gn_fail(GN_ERR_INVALID, "cannot create stats ring '%s': pid %d is writing it",
                       name, (int)pid);
    gn_error_clear();
    char path[GN_RING_NAME_MAX + 1];
    snprintf(path, sizeof path, "/%s", name);
    if (shm_unlink(path) != 0 && errno != ENOENT)
        return gn_fail(GN_ERR_IO, "cannot remove the old stats ring '%s': %s", name,
                       strerror(errno));
    return GN_OK;
}

enum gn_status gn_ring_create(const char *name, uint32_t capacity, const char *backend,
                              struct gn_ring **out)
{
    enum gn_status st;
    int fd = -1, created = 0;
    char path[GN_RING_NAME_MAX + 1];
    if (!out)
        return gn_fail(GN_ERR_INVALID, "gn_ring_create: out is NULL");
    *out = NULL;
    if (capacity == 0 || capacity > GN_RING_CAPACITY_MAX)
        return gn_fail(GN_ERR_INVALID, "stats ring capacity %u: must be 1 to %u records",
                       capacity, GN_RING_CAPACITY_MAX);
    if (!backend || !*backend || strlen(backend) >= GN_RING_BACKEND_MAX)
        return gn_fail(GN_ERR_INVALID, "stats ring backend name '%s': must be 1 to %d characters",
                       backend ? backend : "(null)", GN_RING_BACKEND_MAX - 1);

    struct gn_ring *ring = calloc(1, sizeof *ring);
    if (!ring)
        return gn_fail(GN_ERR_NOMEM, "stats ring: out of memory");
    st = gn_ring_name_parse(name, ring->name, sizeof ring->name);
    if (st != GN_OK)
        goto error;
    snprintf(path, sizeof path, "/%s", ring->name);
    ring->capacity = capacity;
    ring->size = sizeof(struct gn_ring_header) + (size_t)capacity * sizeof(struct gn_stat_record);

    fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        st = gn_ring_remove_stale(ring->name);
        if (st != GN_OK)
            goto error;
        fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        st = gn_fail(GN_ERR_IO, "cannot create stats ring '%s' in " GN_RING_SHM_DIR ": %s",
                     ring->name, strerror(errno));
        goto error;
    }
    created = 1;
    int err = ftruncate(fd, (off_t)ring->size) != 0 ? errno
                                                     : posix_fallocate(fd, 0, (off_t)ring->size);
    if (err) {
        st = gn_fail(GN_ERR_IO, "cannot size stats ring '%s' to %zu bytes: %s", ring->name,
                     ring->size, strerror(err));
        goto error;
    }
    ring->base = mmap(NULL, ring->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring->base == MAP_FAILED) {
        ring->base = NULL;
        st = gn_fail(GN_ERR_IO, "cannot map stats ring '%s': %s", ring->name, strerror(errno));
        goto error;
    }
    close(fd);
    fd = -1;

    /* No reader looks at these until the magic below is stored. */
    struct gn_ring_header *h = ring->base;
    h->version = GN_RING_VERSION;
    h->header_size = sizeof(struct gn_ring_header);
    h->record_size = sizeof(struct gn_stat_record);
    h->capacity = capacity;
    h->pid = (int32_t)getpid();
    h->start_unix_ns = gn_ring_now_ns(CLOCK_REALTIME);
    h->writer_start_ticks = gn_proc_start_ticks(h->pid, NULL);
    strncpy(h->backend, backend, sizeof h->backend - 1);
    atomic_store_explicit(gn_ring_word32(ring->base, offsetof(struct gn_ring_header, flags)),
                          GN_RING_RUNNING, memory_order_relaxed);
    atomic_store_explicit(gn_ring_word64(ring->base, offsetof(struct gn_ring_header, write_pos)),
                          0, memory_order_relaxed);
    /*
     * Release: pairs with the acquire load of the magic in gn_ring_open, so a
     * reader that sees the magic sees every header field stored above.
     */
    atomic_store_explicit(gn_ring_word64(ring->base, offsetof(struct gn_ring_header, magic)),
                          GN_RING_MAGIC, memory_order_release);
    ring->start_ns = gn_ring_now_ns(CLOCK_MONOTONIC);
    *out = ring;
    return GN_OK;

error:
    if (fd >= 0)
        close(fd);
    if (created)
        shm_unlink(path);
    free(ring);
    return st;
}

const char *gn_ring_name(const struct gn_ring *ring)
{
    return ring ? ring->name : "";
}

int64_t gn_ring_clock_ns(const struct gn_ring *ring)
{
    return gn_ring_now_ns(CLOCK_MONOTONIC) - ring->start_ns;
}

enum gn_status gn_ring_append(struct gn_ring *ring, const struct gn_stat_record *rec)
{
    if (!ring || !rec)
        return gn_fail(GN_ERR_INVALID, "gn_ring_append: ring or record is NULL");
    if (ring->finished)
        return gn_fail(GN_ERR_INVALID, "stats ring '%s': append after the run finished",
                       ring->name);
    uint64_t src[GN_RING_WORDS];
    memcpy(src, rec, sizeof src);
    uint64_t i = ring->next;
    _Atomic uint64_t *w = gn_ring_slot(ring->base, i % ring->capacity);

    atomic_store_explicit(&w[0], 2 * i + 1, memory_order_relaxed);
    /*
     * Release fence: orders the odd seq above before the payload stores
     * below. Pairs with the acquire fence in gn_ring_read: a reader whose
     * copy saw any of these stores then sees seq odd (or later) on its second
     * load of the word, and drops the copy.
     */
    atomic_thread_fence(memory_order_release);
    for (size_t k = 1; k < GN_RING_WORDS; k++)
        atomic_store_explicit(&w[k], src[k], memory_order_relaxed);
    /*
     * Release: publishes the payload. Pairs with the acquire load of seq at
     * the start of gn_ring_read, which then copies this record whole.
     */
    atomic_store_explicit(&w[0], 2 * i + 2, memory_order_release);
    /*
     * Release: pairs with the acquire load in gn_ring_write_pos, so a reader
     * that sees write_pos > i finds record i complete (or already reused).
     */
    atomic_store_explicit(gn_ring_word64(ring->base, offsetof(struct gn_ring_header, write_pos)),
                          i + 1, memory_order_release);
    ring->next = i + 1;
    return GN_OK;
}

enum gn_status gn_ring_finish(struct gn_ring *ring)
{
    if (!ring)
        return gn_fail(GN_ERR_INVALID, "gn_ring_finish: ring is NULL");
    ring->finished = 1;
    /*
     * Release: pairs with the acquire load of flags in gn_ring_writer_alive,
     * so a reader that sees FINISHED also sees every write_pos before it.
     */
    atomic_store_explicit(gn_ring_word32(ring->base, offsetof(struct gn_ring_header, flags)),
                          GN_RING_FINISHED, memory_order_release);
    return GN_OK;
}

void gn_ring_close(struct gn_ring *ring, int keep)
{
    if (!ring)
        return;
    munmap(ring->base, ring->size);
    if (!keep) {
        char path[GN_RING_NAME_MAX + 1];
        snprintf(path, sizeof path, "/%s", ring->name);
        shm_unlink(path);
    }
    free(ring);
}

/* ---- reader ---- */

/* gn_ring_open; *half_made = 1 when it failed on an object that a writer
 * may still be making (empty, or its magic not yet stored). */
static enum gn_status ring_open(const char *name_or_pid, struct gn_ring_reader **out,
                                int *half_made)
{
    enum gn_status st;
    char path[GN_RING_NAME_MAX + 1];
    struct stat sb;
    if (!out)
        return gn_fail(GN_ERR_INVALID, "gn_ring_open: out is NULL");
    *out = NULL;
    struct gn_ring_reader *r = calloc(1, sizeof *r);
    if (!r)
        return gn_fail(GN_ERR_NOMEM, "stats ring: out of memory");
    st = gn_ring_name_parse(name_or_pid, r->name, sizeof r->name);
    if (st != GN_OK)
        goto error;
    const char *name = r->name;
    snprintf(path, sizeof path, "/%s", name);

    int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            st = gn_fail(GN_ERR_IO,
                         "stats ring '%s' not found (no " GN_RING_SHM_DIR "/%s): the run has "
                         "ended or never started; genet-stat --list shows the rings present",
                         name, name);
        else
            st = gn_fail(GN_ERR_IO, "cannot open stats ring '%s': %s", name, strerror(errno));
        goto error;
    }
    if (fstat(fd, &sb) != 0) {
        st = gn_fail(GN_ERR_IO, "cannot stat stats ring '%s': %s", name, strerror(errno));
        close(fd);
        goto error;
    }
    if (sb.st_size == 0) {
        close(fd);
        *half_made = 1;
        st = gn_fail(GN_ERR_FORMAT,
                     "stats ring '%s' is empty: being created, or left half-made by a writer "
                     "that died",
                     name);
        goto error;
    }
    if ((uint64_t)sb.st_size < sizeof(uint64_t)) {
        close(fd);
        st = gn_fail(GN_ERR_FORMAT, "stats ring '%s' is truncated: %lld bytes", name,
                     (long long)sb.st_size);
        goto error;
    }
    r->size = (size_t)sb.st_size;
    r->base = mmap(NULL, r->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (r->base == MAP_FAILED) {
        r->base = NULL;
        st = gn_fail(GN_ERR_IO, "cannot map stats ring '%s': %s", name, strerror(errno));
        goto error;
    }

    /*
     * Acquire: pairs with the release store of the magic in gn_ring_create:
     * once the magic is seen, the header fields read below are complete.
     */
    uint64_t magic = atomic_load_explicit(
        gn_ring_word64(r->base, offsetof(struct gn_ring_header, magic)), memory_order_acquire);
    const struct gn_ring_header *h = r->base;
    if (magic == 0) {
        *half_made = 1;
        st = gn_fail(GN_ERR_FORMAT,
                     "stats ring '%s' is not initialised: being created, or left half-made by "
                     "a writer that died",
                     name);
        goto error;
    }
    if (magic != GN_RING_MAGIC) {
        st = gn_fail(GN_ERR_FORMAT,
                     GN_RING_SHM_DIR "/%s is not a genet stats ring (magic 0x%016llx, expected "
                                     "0x%016llx)",
                     name, (unsigned long long)magic, (unsigned long long)GN_RING_MAGIC);
        goto error;
    }
    if (r->size < sizeof *h) {
        st = gn_fail(GN_ERR_FORMAT,
                     "stats ring '%s' is truncated: %zu bytes, less than its %zu-byte header",
                     name, r->size, sizeof *h);
        goto error;
    }
    if (h->version != GN_RING_VERSION) {
        st = gn_fail(GN_ERR_UNSUPPORTED,
                     "stats ring '%s' has layout version %u, this build reads version %u (it "
                     "was written by another release of genet-rt)",
                     name, h->version, GN_RING_VERSION);
        goto error;
    }
    if (h->header_size != sizeof(struct gn_ring_header) ||
        h->record_size != sizeof(struct gn_stat_record)) {
        st = gn_fail(GN_ERR_FORMAT,
                     "stats ring '%s' has a %u-byte header and %u-byte records, expected %zu "
                     "and %zu",
                     name, h->header_size, h->record_size, sizeof(struct gn_ring_header),
                     sizeof(struct gn_stat_record));
        goto error;
    }
    if (h->capacity == 0 || h->capacity > GN_RING_CAPACITY_MAX) {
        st = gn_fail(GN_ERR_FORMAT, "stats ring '%s' has capacity %u, outside 1 to %u", name,
                     h->capacity, GN_RING_CAPACITY_MAX);
        goto error;
    }
    uint64_t need = sizeof(struct gn_ring_header) +
                    (uint64_t)h->capacity * sizeof(struct gn_stat_record);
    if (r->size < need) {
        st = gn_fail(GN_ERR_FORMAT,
                     "stats ring '%s' is truncated: %zu bytes, but its %u records need %llu",
                     name, r->size, h->capacity, (unsigned long long)need);
        goto error;
    }
    if (h->pid <= 0) {
        st = gn_fail(GN_ERR_FORMAT, "stats ring '%s' names writer pid %d, not a process id",
                     name, (int)h->pid);
        goto error;
    }
    r->capacity = h->capacity;
    r->pid = h->pid;
    r->start_ticks = h->writer_start_ticks;
    r->start_unix_ns = h->start_unix_ns;
    memcpy(r->backend, h->backend, sizeof r->backend);
    r->backend[sizeof r->backend - 1] = '\0';
    *out = r;
    return GN_OK;

error:
    gn_ring_reader_close(r);
    return st;
}

enum gn_status gn_ring_open(const char *name_or_pid, struct gn_ring_reader **out)
{
    int half_made = 0;
    return ring_open(name_or_pid, out, &half_made);
}

enum gn_status gn_ring_open_wait(const char *name_or_pid, int64_t wait_ns,
                                 struct gn_ring_reader **out)
{
    const int64_t until = gn_ring_now_ns(CLOCK_MONOTONIC) + (wait_ns > 0 ? wait_ns : 0);
    for (;;) {
        int half_made = 0;
        enum gn_status st = ring_open(name_or_pid, out, &half_made);
        if (st == GN_OK || !half_made || gn_ring_now_ns(CLOCK_MONOTONIC) >= until)
            return st;
        const struct timespec pause = {0, GN_RING_OPEN_POLL_NS};
        nanosleep(&pause, NULL);
    }
}

enum gn_status gn_ring_reader_attach(struct gn_ring *ring, struct gn_ring_reader **out)
{
    if (!ring || !out)
        return gn_fail(GN_ERR_INVALID, "gn_ring_reader_attach: ring or out is NULL");
    *out = NULL;
    struct gn_ring_reader *r = calloc(1, sizeof *r);
    if (!r)
        return gn_fail(GN_ERR_NOMEM, "stats ring: out of memory");
    const struct gn_ring_header *h = ring->base;
    memcpy(r->name, ring->name, sizeof r->name);
    r->base = ring->base;
    r->capacity = ring->capacity;
    r->pid = h->pid;
    r->start_ticks = h->writer_start_ticks;
    r->start_unix_ns = h->start_unix_ns;
    memcpy(r->backend, h->backend, sizeof r->backend);
    *out = r;
    return GN_OK;
}

void gn_ring_reader_close(struct gn_ring_reader *r)
{
    if (!r)
        return;
    if (r->base && r->size)
        munmap(r->base, r->size);
    free(r);
}

void gn_ring_reader_info(const struct gn_ring_reader *r, struct gn_ring_info *info)
{
    memset(info, 0, sizeof *info);
    memcpy(info->name, r->name, sizeof info->name);
    memcpy(info->backend, r->backend, sizeof info->backend);
    info->pid = r->pid;
    info->capacity = r->capacity;
    info->start_unix_ns = r->start_unix_ns;
}

uint64_t gn_ring_write_pos(const struct gn_ring_reader *r)
{
    /* Acquire: pairs with the release store of write_pos in gn_ring_append. */
    return atomic_load_explicit(gn_ring_word64(r->base, offsetof(struct gn_ring_header, write_pos)),
                                memory_order_acquire);
}

enum gn_ring_read_status gn_ring_read(const struct gn_ring_reader *r, uint64_t index,
                                      struct gn_stat_record *out)
{
    assert(r && out);
    uint64_t dst[GN_RING_WORDS];
    /* An index whose seq word would wrap (a corrupt write_pos can ask for
     * one) names no record: without this check 2^63 + k would match k. */
    if (index > (UINT64_MAX - 2) / 2)
        return GN_RING_READ_NOT_YET;
    uint64_t want = 2 * index + 2; /* record index, complete */
    _Atomic uint64_t *w = gn_ring_slot(r->base, index % r->capacity);

    /*
     * Acquire: pairs with the release store of the even seq in gn_ring_append:
     * if this is record index's value, the loads below see that record's
     * payload (or a later record's, which the second load catches).
     */
    uint64_t s1 = atomic_load_explicit(&w[0], memory_order_acquire);
    if (s1 < want - 1)
        return GN_RING_READ_NOT_YET;
    if (s1 == want - 1)
        return GN_RING_READ_TORN;
    if (s1 > want)
        return GN_RING_READ_OVERWRITTEN;
    dst[0] = s1;
    for (size_t k = 1; k < GN_RING_WORDS; k++)
        dst[k] = atomic_load_explicit(&w[k], memory_order_relaxed);
    /*
     * Acquire fence: pairs with the release fence in gn_ring_append. If any
     * load above saw a store of a later record, the load below sees that
     * record's odd seq or something later, never s1 again.
     */
    atomic_thread_fence(memory_order_acquire);
    uint64_t s2 = atomic_load_explicit(&w[0], memory_order_relaxed);
    if (s2 != s1)
        return GN_RING_READ_OVERWRITTEN;
    memcpy(out, dst, sizeof *out);
    return GN_RING_READ_OK;
}

const char *gn_ring_read_status_str(enum gn_ring_read_status s)
{
    switch (s) {
    case GN_RING_READ_OK: return "ok";
    case GN_RING_READ_OVERWRITTEN: return "overwritten";
    case GN_RING_READ_NOT_YET: return "not yet written";
    case GN_RING_READ_TORN: return "being written";
    }
    return "unknown";
}

enum gn_status gn_ring_writer_alive(const struct gn_ring_reader *r,
                                    enum gn_ring_writer_state *state)
{
    if (!r || !state)
        return gn_fail(GN_ERR_INVALID, "gn_ring_writer_alive: reader or state is NULL");
    _Atomic uint32_t *flags = gn_ring_word32(r->base, offsetof(struct gn_ring_header, flags));
    /*
     * Acquire: pairs with the release store in gn_ring_finish, so once
     * FINISHED is seen, gn_ring_write_pos gives the final count.
     */
    if (atomic_load_explicit(flags, memory_order_acquire) & GN_RING_FINISHED) {
        *state = GN_RING_WRITER_FINISHED;
        return GN_OK;
    }
    const char *why = NULL;
    int zombie = 0;
    if (kill(r->pid, 0) != 0 && errno == ESRCH) {
        why = "";
    } else {
        uint64_t ticks = gn_proc_start_ticks(r->pid, &zombie);
        if (zombie)
            why = " (it is a zombie, not yet reaped)";
        else if (r->start_ticks && ticks && ticks != r->start_ticks)
            why = " (the pid now belongs to another process)";
    }
    if (!why) {
        *state = GN_RING_WRITER_RUNNING;
        return GN_OK;
    }
    /* Acquire, as above: the writer may have finished and exited since. */
    if (atomic_load_explicit(flags, memory_order_acquire) & GN_RING_FINISHED) {
        *state = GN_RING_WRITER_FINISHED;
        return GN_OK;
    }
    *state = GN_RING_WRITER_DIED;
    return gn_fail(GN_ERR_INTERRUPTED,
                   "stats ring '%s': writer pid %d died without finishing the run%s", r->name,
                   (int)r->pid, why);
}

const char *gn_ring_writer_state_str(enum gn_ring_writer_state s)
{
    switch (s) {
    case GN_RING_WRITER_RUNNING: return "running";
    case GN_RING_WRITER_FINISHED: return "finished";
    case GN_RING_WRITER_DIED: return "died";
    }
    return "unknown";
}

/* ---- listing ---- */

static int gn_ring_name_cmp(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

enum gn_status gn_ring_list(char ***names, size_t *count)
{
    if (!names || !count)
        return gn_fail(GN_ERR_INVALID, "gn_ring_list: names or count is NULL");
    *names = NULL;
    *count = 0;
    DIR *d = opendir(GN_RING_SHM_DIR);
    if (!d)
        return gn_fail(GN_ERR_IO, "cannot list " GN_RING_SHM_DIR ": %s", strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char name[GN_RING_NAME_MAX];
        if (strncmp(e->d_name, GN_RING_PREFIX, strlen(GN_RING_PREFIX)) != 0)
            continue;
        if (gn_ring_name_parse(e->d_name, name, sizeof name) != GN_OK ||
            strcmp(name, e->d_name) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto nomem;
            v = nv;
            cap = ncap;
        }
        if (!(v[n] = strdup(name)))
            goto nomem;
        n++;
    }
    closedir(d);
    gn_error_clear();
    if (n)
        qsort(v, n, sizeof *v, gn_ring_name_cmp);
    *names = v;
    *count = n;
    return GN_OK;

nomem:
    closedir(d);
    gn_ring_list_free(v, n);
    return gn_fail(GN_ERR_NOMEM, "listing stats rings: out of memory");
}

void gn_ring_list_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
