/*
 * The stats ring and the poller.
 *
 * Concurrency: a writer thread appends at full speed while three reader
 * threads follow it at full speed: two through the writer's own mapping (so
 * that ThreadSanitizer, which tracks addresses, sees both sides of every
 * access) and one through its own read-only mapping, as genet-stat does.
 * Every word of record i is a distinct function of i, so a record mixing two
 * writes is caught word by word. Each reader checks that every record comes
 * back whole and in order, and that every index is either read or reported
 * overwritten. Then wrap-around with a tiny ring, each error case with its
 * own message (objects crafted or damaged through a writable mapping), the
 * writer-state checks (finished, died, pid reused), names, listing, and the
 * poller's period and prompt stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "poller.h"
#include "ring.h"
#include "stats.h"

#define WORDS (sizeof(struct gn_stat_record) / sizeof(uint64_t))

static void ring_name(char *b, size_t n, const char *tag)
{
    snprintf(b, n, "genet-test-ring-%ld-%s", (long)getpid(), tag);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Record i: word k (k >= 1) is a bijection of i, different for each k. */
static void make_record(uint64_t i, struct gn_stat_record *r)
{
    uint64_t w[WORDS];
    w[0] = 0;
    for (size_t k = 1; k < WORDS; k++)
        w[k] = (i + 1) * UINT64_C(0x9e3779b97f4a7c15) ^ (k * UINT64_C(0x100000001b3));
    memcpy(r, w, sizeof w);
}

/* 1 when r is exactly record i as gn_ring_read returns it. */
static int record_is(uint64_t i, const struct gn_stat_record *r)
{
    struct gn_stat_record want;
    make_record(i, &want);
    want.seq = 2 * i + 2;
    return memcmp(&want, r, sizeof want) == 0;
}

/* A writable mapping of an existing ring object, to damage it. */
static void *map_rw(const char *name, size_t *size)
{
    char path[160];
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR, 0);
    assert_true(fd >= 0);
    off_t end = lseek(fd, 0, SEEK_END);
    assert_true(end > 0);
    *size = (size_t)end;
    void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    return p;
}

static void make_object(const char *name, size_t size, int fill)
{
    char path[160];
    snprintf(path, sizeof path, "/%s", name);
    shm_unlink(path);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    if (size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        assert_true(p != MAP_FAILED);
        memset(p, fill, size);
        munmap(p, size);
    }
    close(fd);
}

static void unlink_name(const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "/%s", name);
    shm_unlink(path);
}

/* Expect gn_ring_open to fail with st and a message containing each of the strings. */
static void expect_open_error(const char *name, enum gn_status st, const char *a, const char *b)
{
    struct gn_ring_reader *r = (struct gn_ring_reader *)1;
    assert_int_equal(gn_ring_open(name, &r), st);
    assert_null(r);
    print_message("    %s\n", gn_error_message());
    assert_non_null(strstr(gn_error_message(), a));
    if (b)
        assert_non_null(strstr(gn_error_message(), b));
}

/* ---- concurrency ---- */

struct race {
    char name[GN_RING_NAME_MAX];
    uint32_t capacity;
    uint64_t count;   /* records to write; 0: write for `seconds` */
    double seconds;
    struct gn_ring *ring;
    atomic_int done;  /* the writer has appended its last record */
    atomic_int ready; /* readers attached */
};

struct reader_result {
    struct race *race;
    int attach; /* share the writer's mapping rather than map the ring again */
    uint64_t ok, skipped, torn_retries, not_yet, bad, out_of_order;
};

static void *race_writer(void *arg)
{
    struct race *t = arg;
    struct gn_stat_record rec;
    while (atomic_load(&t->ready) < 3)
        sched_yield();
    int64_t end = now_ns() + (int64_t)(t->seconds * 1e9);
    for (uint64_t i = 0; t->count ? i < t->count : 1; i++) {
        if (!t->count && (i & 1023) == 0 && now_ns() > end)
            break;
        make_record(i, &rec);
        gn_ring_append(t->ring, &rec);
    }
    gn_ring_finish(t->ring);
    atomic_store(&t->done, 1);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct reader_result *res = arg;
    struct race *t = res->race;
    struct gn_ring_reader *r;
    enum gn_status st = res->attach ? gn_ring_reader_attach(t->ring, &r)
                                    : gn_ring_open(t->name, &r);
    if (st != GN_OK) {
        res->bad = UINT64_MAX;
        atomic_fetch_add(&t->ready, 1);
        return NULL;
    }
    atomic_fetch_add(&t->ready, 1);
    uint64_t next = 0;
    struct gn_stat_record rec;
    for (;;) {
        switch (gn_ring_read(r, next, &rec)) {
        case GN_RING_READ_OK:
            if (!record_is(next, &rec))
                res->bad++;
            if (gn_stat_record_index(&rec) != next)
                res->out_of_order++;
            res->ok++;
            next++;
            break;
        case GN_RING_READ_OVERWRITTEN: {
            uint64_t pos = gn_ring_write_pos(r);
            uint64_t oldest = pos > t->capacity ? pos - t->capacity : 0;
            uint64_t to = oldest > next + 1 ? oldest : next + 1;
            res->skipped += to - next;
            next = to;
            break;
        }
        case GN_RING_READ_TORN:
            res->torn_retries++;
            sched_yield();
            break;
        case GN_RING_READ_NOT_YET:
            /* done before write_pos: once done, write_pos is final. */
            if (atomic_load(&t->done) && next >= gn_ring_write_pos(r))
                goto out;
            res->not_yet++;
            sched_yield();
            break;
        }
    }
out:
    gn_ring_reader_close(r);
    return NULL;
}

static void run_race(const char *tag, uint32_t capacity, uint64_t count, double seconds,
                     int expect_no_skips)
{
    struct race t;
    memset(&t, 0, sizeof t);
    ring_name(t.name, sizeof t.name, tag);
    t.capacity = capacity;
    t.count = count;
    t.seconds = seconds;
    assert_int_equal(gn_ring_create(t.name, capacity, "cpu", &t.ring), GN_OK);

    pthread_t w, rd[3];
    struct reader_result res[3];
    memset(res, 0, sizeof res);
    for (int i = 0; i < 3; i++) {
        res[i].race = &t;
        res[i].attach = i < 2;
        assert_int_equal(pthread_create(&rd[i], NULL, race_reader, &res[i]), 0);
    }
    assert_int_equal(pthread_create(&w, NULL, race_writer, &t), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(rd[i], NULL);

    struct gn_ring_reader *r;
    assert_int_equal(gn_ring_open(t.name, &r), GN_OK);
    uint64_t total = gn_ring_write_pos(r);
    gn_ring_reader_close(r);
    gn_ring_close(t.ring, 0);

    print_message("    %s: capacity %u, %llu records written\n", tag, capacity,
                  (unsigned long long)total);
    for (int i = 0; i < 3; i++) {
        print_message("    reader %d: %llu read, %llu overwritten, %llu torn retries, "
                      "%llu not-yet polls\n",
                      i, (unsigned long long)res[i].ok, (unsigned long long)res[i].skipped,
                      (unsigned long long)res[i].torn_retries, (unsigned long long)res[i].not_yet);
        assert_int_equal(res[i].bad, 0);
        assert_int_equal(res[i].out_of_order, 0);
        assert_int_equal(res[i].ok + res[i].skipped, total);
        assert_true(res[i].ok > 0);
        if (expect_no_skips)
            assert_int_equal(res[i].skipped, 0);
    }
    if (count)
        assert_int_equal(total, count);
}

/* No wrap-around: every record must come back, whole and in order. */
static void test_race_every_record(void **state)
{
    (void)state;
    run_race("all", 1u << 16, 1u << 16, 0, 1);
}

/* A tiny ring at full speed for a second: wrap-around, reuse under readers. */
static void test_race_wrap(void **state)
{
    (void)state;
    run_race("wrap8", 8, 0, 0.5, 0);
    run_race("wrap1024", 1024, 0, 0.5, 0);
}

/* ---- single-threaded behaviour ---- */

static void test_wrap_around(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    struct gn_ring *ring;
    struct gn_ring_reader *r;
    struct gn_stat_record rec;
    ring_name(name, sizeof name, "wrap");
    assert_int_equal(gn_ring_create(name, 4, "serial", &ring), GN_OK);
    assert_string_equal(gn_ring_name(ring), name);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_write_pos(r), 0);
    assert_int_equal(gn_ring_read(r, 0, &rec), GN_RING_READ_NOT_YET);
    for (uint64_t i = 0; i < 10; i++) {
        make_record(i, &rec);
        rec.seq = 12345; /* ignored */
        assert_int_equal(gn_ring_append(ring, &rec), GN_OK);
    }
    assert_int_equal(gn_ring_write_pos(r), 10);
    for (uint64_t i = 0; i < 6; i++)
        assert_int_equal(gn_ring_read(r, i, &rec), GN_RING_READ_OVERWRITTEN);
    for (uint64_t i = 6; i < 10; i++) {
        memset(&rec, 0, sizeof rec);
        assert_int_equal(gn_ring_read(r, i, &rec), GN_RING_READ_OK);
        assert_true(record_is(i, &rec));
        assert_int_equal(gn_stat_record_index(&rec), i);
    }
    assert_int_equal(gn_ring_read(r, 10, &rec), GN_RING_READ_NOT_YET);
    assert_int_equal(gn_ring_read(r, 1000, &rec), GN_RING_READ_NOT_YET);

    /* A writer half-way through record 10 (slot 2): odd seq 21. */
    size_t size;
    uint64_t *w = map_rw(name, &size);
    w[(sizeof(struct gn_ring_header) + 2 * sizeof(struct gn_stat_record)) / 8] = 21;
    struct gn_stat_record keep;
    memset(&keep, 0x5a, sizeof keep);
    rec = keep;
    assert_int_equal(gn_ring_read(r, 10, &rec), GN_RING_READ_TORN);
    assert_int_equal(gn_ring_read(r, 6, &rec), GN_RING_READ_OVERWRITTEN);
    assert_memory_equal(&rec, &keep, sizeof rec);
    munmap(w, size);

    assert_string_equal(gn_ring_read_status_str(GN_RING_READ_TORN), "being written");
    struct gn_ring_info info;
    gn_ring_reader_info(r, &info);
    assert_string_equal(info.name, name);
    assert_string_equal(info.backend, "serial");
    assert_int_equal(info.pid, getpid());
    assert_int_equal(info.capacity, 4);
    assert_true(info.start_unix_ns > 0);
    gn_ring_reader_close(r);
    gn_ring_close(ring, 0);
    expect_open_error(name, GN_ERR_IO, "not found", NULL);
}

static void test_writer_states(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    struct gn_ring *ring;
    struct gn_ring_reader *r;
    struct gn_stat_record rec;
    enum gn_ring_writer_state ws;
    ring_name(name, sizeof name, "states");
    assert_int_equal(gn_ring_create(name, 16, "cuda", &ring), GN_OK);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_writer_alive(r, &ws), GN_OK);
    assert_int_equal(ws, GN_RING_WRITER_RUNNING);

    /* A second writer of the same name is refused while this one runs. */
    struct gn_ring *other = (struct gn_ring *)1;
    assert_int_equal(gn_ring_create(name, 16, "cpu", &other), GN_ERR_INVALID);
    assert_null(other);
    assert_non_null(strstr(gn_error_message(), "is writing it"));

    make_record(0, &rec);
    assert_int_equal(gn_ring_append(ring, &rec), GN_OK);
    assert_int_equal(gn_ring_finish(ring), GN_OK);
    assert_int_equal(gn_ring_writer_alive(r, &ws), GN_OK);
    assert_int_equal(ws, GN_RING_WRITER_FINISHED);
    assert_int_equal(gn_ring_append(ring, &rec), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "after the run finished"));
    gn_ring_reader_close(r);

    /* --keep-stats: the name stays, and a new run of that name replaces it. */
    gn_ring_close(ring, 1);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_write_pos(r), 1);
    gn_ring_reader_close(r);
    assert_int_equal(gn_ring_create(name, 16, "cpu", &ring), GN_OK);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_write_pos(r), 0);
    gn_ring_reader_close(r);
    gn_ring_close(ring, 0);
}

/* A writer process that exits without finishing. */
static void test_dead_writer(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    ring_name(name, sizeof name, "dead");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct gn_ring *ring;
        struct gn_stat_record rec;
        if (gn_ring_create(name, 8, "cpu", &ring) != GN_OK)
            _exit(2);
        for (uint64_t i = 0; i < 3; i++) {
            make_record(i, &rec);
            gn_ring_append(ring, &rec);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    struct gn_ring_reader *r;
    struct gn_stat_record rec;
    enum gn_ring_writer_state ws;
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_write_pos(r), 3);
    assert_int_equal(gn_ring_read(r, 2, &rec), GN_RING_READ_OK);
    assert_true(record_is(2, &rec));
    gn_error_clear();
    assert_int_equal(gn_ring_writer_alive(r, &ws), GN_ERR_INTERRUPTED);
    assert_int_equal(ws, GN_RING_WRITER_DIED);
    print_message("    %s\n", gn_error_message());
    assert_non_null(strstr(gn_error_message(), "died without finishing"));
    char want[64];
    snprintf(want, sizeof want, "writer pid %d", (int)pid);
    assert_non_null(strstr(gn_error_message(), want));
    gn_ring_reader_close(r);

    /* A new run of that name replaces the dead one's ring. */
    struct gn_ring *ring;
    assert_int_equal(gn_ring_create(name, 8, "cpu", &ring), GN_OK);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_writer_alive(r, &ws), GN_OK);
    assert_int_equal(ws, GN_RING_WRITER_RUNNING);
    assert_int_equal(gn_ring_write_pos(r), 0);
    gn_ring_reader_close(r);
    gn_ring_close(ring, 0);
}

/* The header's pid is alive but is another process: the writer died. */
static void test_reused_pid(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    struct gn_ring *ring;
    struct gn_ring_reader *r;
    enum gn_ring_writer_state ws;
    ring_name(name, sizeof name, "reused");
    assert_int_equal(gn_ring_create(name, 8, "cpu", &ring), GN_OK);
    size_t size;
    struct gn_ring_header *h = map_rw(name, &size);
    if (h->writer_start_ticks == 0) {
        munmap(h, size);
        gn_ring_close(ring, 0);
        skip();
    }
    h->writer_start_ticks += 1;
    munmap(h, size);
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_writer_alive(r, &ws), GN_ERR_INTERRUPTED);
    assert_int_equal(ws, GN_RING_WRITER_DIED);
    print_message("    %s\n", gn_error_message());
    assert_non_null(strstr(gn_error_message(), "the pid now belongs to another process"));
    gn_ring_reader_close(r);
    gn_ring_close(ring, 0);
}

/* ---- attaching to what is not a good ring ---- */

static void test_open_errors(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    const size_t hdr = sizeof(struct gn_ring_header), rsz = sizeof(struct gn_stat_record);

    ring_name(name, sizeof name, "missing");
    expect_open_error(name, GN_ERR_IO, "not found", "--list");

    expect_open_error("bad/name", GN_ERR_INVALID, "character '/' is not allowed", NULL);

    ring_name(name, sizeof name, "foreign");
    make_object(name, 4096, 'x');
    expect_open_error(name, GN_ERR_FORMAT, "is not a genet stats ring", "magic 0x7878787878787878");
    unlink_name(name);

    ring_name(name, sizeof name, "empty");
    make_object(name, 0, 0);
    expect_open_error(name, GN_ERR_FORMAT, "is empty", NULL);
    unlink_name(name);

    ring_name(name, sizeof name, "zero");
    make_object(name, hdr + 8 * rsz, 0);
    expect_open_error(name, GN_ERR_FORMAT, "is not initialised", NULL);
    unlink_name(name);

    struct gn_ring *ring;
    size_t size;
    int fd;
    char path[160];
    ring_name(name, sizeof name, "trunc");
    snprintf(path, sizeof path, "/%s", name);
    assert_int_equal(gn_ring_create(name, 100, "cpu", &ring), GN_OK);
    fd = shm_open(path, O_RDWR, 0);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(hdr + 10 * rsz)), 0);
    expect_open_error(name, GN_ERR_FORMAT, "is truncated", "its 100 records need 19328");
    assert_int_equal(ftruncate(fd, 64), 0);
    expect_open_error(name, GN_ERR_FORMAT, "is truncated", "less than its 128-byte header");
    close(fd);
    gn_ring_close(ring, 0);

    ring_name(name, sizeof name, "version");
    assert_int_equal(gn_ring_create(name, 8, "cpu", &ring), GN_OK);
    struct gn_ring_header *h = map_rw(name, &size);
    h->version = 99;
    expect_open_error(name, GN_ERR_UNSUPPORTED, "layout version 99", "reads version 1");
    h->version = GN_RING_VERSION;
    h->record_size = 256;
    expect_open_error(name, GN_ERR_FORMAT, "256-byte records, expected 128 and 192", NULL);
    h->record_size = sizeof(struct gn_stat_record);
    h->capacity = 0;
    expect_open_error(name, GN_ERR_FORMAT, "capacity 0", NULL);
    munmap(h, size);
    gn_ring_close(ring, 0);

    /* Creating over something that is not a ring leaves it alone. */
    struct gn_ring *over = (struct gn_ring *)1;
    ring_name(name, sizeof name, "foreign2");
    make_object(name, 4096, 'x');
    assert_int_equal(gn_ring_create(name, 8, "cpu", &over), GN_ERR_IO);
    assert_null(over);
    print_message("    %s\n", gn_error_message());
    assert_non_null(strstr(gn_error_message(), "cannot be replaced"));
    unlink_name(name);
}


/* A writer that makes its object, then fills it after a pause (as
 * gn_ring_create does, with the pause made long). */
struct slow_maker {
    const char *name;
    const unsigned char *image; /* a whole ring's bytes, magic included */
    size_t size;
    long pause_ns;
};

/* A pause of its full length: resumed with the remainder after a signal. */
static void pause_full(long ns)
{
    struct timespec left = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

static void *slow_make(void *arg)
{
    const struct slow_maker *w = arg;
    char path[160];
    snprintf(path, sizeof path, "/%s", w->name);
    pause_full(w->pause_ns);
    int fd = shm_open(path, O_RDWR, 0);
    if (fd < 0 || ftruncate(fd, (off_t)w->size) != 0)
        return (void *)1;
    unsigned char *p = mmap(NULL, w->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return (void *)1;
    pause_full(w->pause_ns); /* full size, magic still 0 */
    const size_t m = offsetof(struct gn_ring_header, magic);
    memcpy(p + m + 8, w->image + m + 8, w->size - m - 8);
    memcpy(p, w->image, m);
    uint64_t magic;
    memcpy(&magic, w->image + m, sizeof magic);
    atomic_store_explicit((_Atomic uint64_t *)(void *)(p + m), magic, memory_order_release);
    munmap(p, w->size);
    return NULL;
}

/* gn_ring_open_wait: a ring still being made is waited for, up to the
 * limit; what can never become a ring is an error at once. */
static void test_open_wait(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], real[GN_RING_NAME_MAX];
    struct gn_ring_reader *r = NULL;

    /* empty for good: the wait's error is the plain open's, after the wait */
    ring_name(name, sizeof name, "wait-empty");
    make_object(name, 0, 0);
    int64_t t0 = now_ns();
    assert_int_equal(gn_ring_open_wait(name, 60000000L, &r), GN_ERR_FORMAT);
    int64_t waited = now_ns() - t0;
    assert_null(r);
    assert_non_null(strstr(gn_error_message(), "is empty"));
    assert_true(waited >= 60000000L);

    /* not a ring at all: no wait */
    ring_name(name, sizeof name, "wait-foreign");
    make_object(name, 4096, 'x');
    t0 = now_ns();
    assert_int_equal(gn_ring_open_wait(name, 5000000000L, &r), GN_ERR_FORMAT);
    assert_true(now_ns() - t0 < 1000000000L);
    assert_non_null(strstr(gn_error_message(), "is not a genet stats ring"));
    unlink_name(name);
    t0 = now_ns();
    assert_int_equal(gn_ring_open_wait(name, 5000000000L, &r), GN_ERR_IO);
    assert_true(now_ns() - t0 < 1000000000L);

    /* made while the reader waits: empty, then zeroed, then published */
    struct gn_ring *ring;
    ring_name(real, sizeof real, "wait-real");
    assert_int_equal(gn_ring_create(real, 16, "cpu", &ring), GN_OK);
    size_t size;
    void *map = map_rw(real, &size);
    unsigned char *image = malloc(size);
    assert_non_null(image);
    memcpy(image, map, size);
    munmap(map, size);
    gn_ring_close(ring, 0);
    ring_name(name, sizeof name, "wait-empty");
    make_object(name, 0, 0);
    struct slow_maker w = {name, image, size, 40000000L};
    pthread_t th;
    /* the clock starts before the maker can: both its pauses fall after t0 */
    t0 = now_ns();
    assert_int_equal(pthread_create(&th, NULL, slow_make, &w), 0);
    assert_int_equal(gn_ring_open_wait(name, 10000000000L, &r), GN_OK);
    waited = now_ns() - t0;
    void *made;
    assert_int_equal(pthread_join(th, &made), 0);
    assert_null(made);
    struct gn_ring_info info;
    gn_ring_reader_info(r, &info);
    assert_int_equal(info.pid, (int32_t)getpid());
    assert_int_equal(info.capacity, 16);
    assert_true(waited >= 80000000L);
    print_message("    opened after %.0f ms\n", (double)waited * 1e-6);
    gn_ring_reader_close(r);
    unlink_name(name);
    free(image);
}

static void test_create_errors(void **state)
{
    (void)state;
    struct gn_ring *ring = (struct gn_ring *)1;
    assert_int_equal(gn_ring_create("genet-x", 0, "cpu", &ring), GN_ERR_INVALID);
    assert_null(ring);
    assert_non_null(strstr(gn_error_message(), "capacity 0"));
    assert_int_equal(gn_ring_create("genet-x", 8, "a-backend-name-too-long", &ring),
                     GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "backend name"));
    assert_int_equal(gn_ring_create("no spaces", 8, "cpu", &ring), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "character ' ' is not allowed"));
}

static void test_names(void **state)
{
    (void)state;
    char b[GN_RING_NAME_MAX], want[64];
    assert_int_equal(gn_ring_name_parse("1234", b, sizeof b), GN_OK);
    assert_string_equal(b, "genet-1234");
    assert_int_equal(gn_ring_name_parse("genet-1234", b, sizeof b), GN_OK);
    assert_string_equal(b, "genet-1234");
    assert_int_equal(gn_ring_name_parse("/genet-run.7_a-b", b, sizeof b), GN_OK);
    assert_string_equal(b, "genet-run.7_a-b");
    assert_int_equal(gn_ring_name_parse("run7", b, sizeof b), GN_OK);
    assert_string_equal(b, "genet-run7");
    snprintf(want, sizeof want, "genet-%ld", (long)getpid());
    assert_int_equal(gn_ring_name_parse(NULL, b, sizeof b), GN_OK);
    assert_string_equal(b, want);
    assert_int_equal(gn_ring_name_parse("", b, sizeof b), GN_OK);
    assert_string_equal(b, want);

    assert_int_equal(gn_ring_name_parse("genet-", b, sizeof b), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "is empty after the prefix"));
    assert_int_equal(gn_ring_name_parse("99999999999", b, sizeof b), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "is not a process id"));
    assert_int_equal(gn_ring_name_parse("0", b, sizeof b), GN_ERR_INVALID);
    assert_int_equal(gn_ring_name_parse("x\ny", b, sizeof b), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "byte 0x0a"));
    char longname[200];
    memset(longname, 'a', 150);
    longname[150] = '\0';
    assert_int_equal(gn_ring_name_parse(longname, b, sizeof b), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "too long"));
    assert_int_equal(gn_ring_name_parse("genet-1234", b, 5), GN_ERR_INVALID);
}

static void test_list(void **state)
{
    (void)state;
    char a[GN_RING_NAME_MAX], b[GN_RING_NAME_MAX];
    struct gn_ring *ra, *rb;
    ring_name(a, sizeof a, "list-10");
    ring_name(b, sizeof b, "list-9");
    assert_int_equal(gn_ring_create(a, 4, "cpu", &ra), GN_OK);
    assert_int_equal(gn_ring_create(b, 4, "cpu", &rb), GN_OK);
    char **names;
    size_t n;
    assert_int_equal(gn_ring_list(&names, &n), GN_OK);
    size_t ia = n, ib = n;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(names[i], a))
            ia = i;
        if (!strcmp(names[i], b))
            ib = i;
        assert_int_equal(strncmp(names[i], GN_RING_PREFIX, strlen(GN_RING_PREFIX)), 0);
    }
    assert_true(ia < n && ib < n);
    assert_true(ib < ia); /* list-9 before list-10 */
    gn_ring_list_free(names, n);
    gn_ring_close(ra, 0);
    gn_ring_close(rb, 0);
    assert_int_equal(gn_ring_list(&names, &n), GN_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(strcmp(names[i], a) && strcmp(names[i], b));
    gn_ring_list_free(names, n);
}

/* ---- the poller ---- */

struct sampler {
    atomic_int calls;
    atomic_int bad; /* a record not handed over zeroed with t_ns set */
};

/* Runs on the poller thread: no cmocka asserts here. */
static void sample_count(void *ctx, struct gn_stat_record *rec)
{
    struct sampler *s = ctx;
    int n = atomic_fetch_add(&s->calls, 1) + 1;
    if (rec->seq != 0 || rec->step != 0 || rec->t_ns < 0)
        atomic_fetch_add(&s->bad, 1);
    rec->step = n;
    rec->loss = 1.0 / n;
}

static void test_poller(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX];
    struct gn_ring *ring;
    struct gn_poller *p = (struct gn_poller *)1;
    struct sampler s;
    atomic_init(&s.calls, 0);
    atomic_init(&s.bad, 0);
    ring_name(name, sizeof name, "poller");
    assert_int_equal(gn_ring_create(name, 64, "cpu", &ring), GN_OK);
    assert_int_equal(gn_poller_start(ring, 0, sample_count, &s, &p), GN_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(gn_error_message(), "stats interval 0 ms"));

    int64_t t0 = now_ns();
    assert_int_equal(gn_poller_start(ring, 5, sample_count, &s, &p), GN_OK);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    assert_int_equal(gn_poller_stop(p), GN_OK);
    int64_t elapsed = now_ns() - t0;
    int calls = atomic_load(&s.calls);
    print_message("    %d samples in %.1f ms at 5 ms\n", calls, elapsed / 1e6);
    assert_true(calls >= 5);
    assert_true(calls <= elapsed / 5000000 + 1); /* missed ticks are skipped, not bunched */
    assert_int_equal(atomic_load(&s.bad), 0);

    struct gn_ring_reader *r;
    struct gn_stat_record rec;
    assert_int_equal(gn_ring_open(name, &r), GN_OK);
    assert_int_equal(gn_ring_write_pos(r), calls);
    int64_t t = -1;
    for (int i = 0; i < calls; i++) {
        assert_int_equal(gn_ring_read(r, (uint64_t)i, &rec), GN_RING_READ_OK);
        assert_int_equal(rec.step, i + 1);
        assert_true(rec.t_ns > t);
        t = rec.t_ns;
    }
    assert_true(t >= 90000000);

    /* A long interval: stop is prompt and still takes the final sample. */
    t0 = now_ns();
    assert_int_equal(gn_poller_start(ring, 60000, sample_count, &s, &p), GN_OK);
    assert_int_equal(gn_poller_stop(p), GN_OK);
    assert_true(now_ns() - t0 < 1000000000);
    assert_int_equal(atomic_load(&s.calls), calls + 1);
    assert_int_equal(gn_ring_write_pos(r), calls + 1);
    gn_ring_reader_close(r);
    gn_ring_close(ring, 0);
    assert_int_equal(gn_poller_stop(NULL), GN_OK);
}

/* Remove what a failed case left behind: this process's test rings. */
static void remove_leftovers(void)
{
    char prefix[64], path[300];
    snprintf(prefix, sizeof prefix, "genet-test-ring-%ld-", (long)getpid());
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            snprintf(path, sizeof path, "/%s", e->d_name);
            shm_unlink(path);
        }
    closedir(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_writer_states),
        cmocka_unit_test(test_dead_writer),
        cmocka_unit_test(test_reused_pid),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_wait),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_poller),
        cmocka_unit_test(test_race_every_record),
        cmocka_unit_test(test_race_wrap),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_leftovers();
    return failed;
}
