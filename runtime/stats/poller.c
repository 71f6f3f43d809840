/*
 * The stats poller thread (see poller.h).
 *
 * The thread sleeps on a condition variable that waits against
 * CLOCK_MONOTONIC until an absolute deadline, so gn_poller_stop wakes it at
 * once and a sample that takes a while does not make the period drift. The
 * deadlines are start + k * interval; when a sample overruns one or more of
 * them the missed ticks are skipped rather than taken in a burst. On stop the
 * thread takes one final sample, so the ring ends with the run's last
 * counters, and exits; sample() is only ever called on this one thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "poller.h"

struct gn_poller {
    struct gn_ring *ring;
    int64_t interval_ns;
    gn_poller_sample_fn sample;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* waits against CLOCK_MONOTONIC */
    int stop;          /* guarded by mu */
};

static void gn_poller_timespec_add(struct timespec *t, int64_t ns)
{
    int64_t total = t->tv_nsec + ns % 1000000000;
    t->tv_sec += (time_t)(ns / 1000000000 + total / 1000000000);
    t->tv_nsec = (long)(total % 1000000000);
}

static int gn_poller_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void gn_poller_take(struct gn_poller *p)
{
    struct gn_stat_record rec;
    memset(&rec, 0, sizeof rec);
    rec.t_ns = gn_ring_clock_ns(p->ring);
    p->sample(p->ctx, &rec);
    gn_ring_append(p->ring, &rec);
}

static void *gn_poller_main(void *arg)
{
    struct gn_poller *p = arg;
    struct timespec next, now;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        gn_poller_timespec_add(&next, p->interval_ns);
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &next) != ETIMEDOUT)
            ;
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        gn_poller_take(p);
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec late = next;
        gn_poller_timespec_add(&late, p->interval_ns);
        if (!gn_poller_before(&now, &late))
            next = now;
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    gn_poller_take(p);
    return NULL;
}

enum gn_status gn_poller_start(struct gn_ring *ring, int interval_ms, gn_poller_sample_fn sample,
                               void *ctx, struct gn_poller **out)
{
    enum gn_status st;
    pthread_condattr_t attr;
    int err;
    if (!out)
        return gn_fail(GN_ERR_INVALID, "gn_poller_start: out is NULL");
    *out = NULL;
    if (!ring || !sample)
        return gn_fail(GN_ERR_INVALID, "gn_poller_start: ring or sample is NULL");
    if (interval_ms < 1 || interval_ms > GN_POLLER_INTERVAL_MAX_MS)
        return gn_fail(GN_ERR_INVALID, "stats interval %d ms: must be 1 to %d", interval_ms,
                       GN_POLLER_INTERVAL_MAX_MS);
    struct gn_poller *p = calloc(1, sizeof *p);
    if (!p)
        return gn_fail(GN_ERR_NOMEM, "stats poller: out of memory");
    p->ring = ring;
    p->interval_ns = (int64_t)interval_ms * 1000000;
    p->sample = sample;
    p->ctx = ctx;
    if ((err = pthread_mutex_init(&p->mu, NULL)) != 0) {
        free(p);
        return gn_fail(GN_ERR_NOMEM, "stats poller: mutex: %s", strerror(err));
    }
    if ((err = pthread_condattr_init(&attr)) != 0 ||
        (err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0 ||
        (err = pthread_cond_init(&p->cv, &attr)) != 0) {
        st = gn_fail(GN_ERR_NOMEM, "stats poller: condition variable: %s", strerror(err));
        goto error_mutex;
    }
    pthread_condattr_destroy(&attr);
    if ((err = pthread_create(&p->thread, NULL, gn_poller_main, p)) != 0) {
        st = gn_fail(GN_ERR_NOMEM, "stats poller: cannot start the thread: %s", strerror(err));
        pthread_cond_destroy(&p->cv);
        goto error_mutex;
    }
    *out = p;
    return GN_OK;

error_mutex:
    pthread_mutex_destroy(&p->mu);
    free(p);
    return st;
}

enum gn_status gn_poller_stop(struct gn_poller *p)
{
    if (!p)
        return GN_OK;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    int err = pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    if (err)
        return gn_fail(GN_ERR_INVALID, "stats poller: join: %s", strerror(err));
    return GN_OK;
}
