/*
 * The scheduler core's barrier (barrier.h), whole and in halves, on 8
 * threads (more than the cores): every round, each thread writes its own
 * slot, then arrives; the last arrival reads every slot (it must see each
 * participant's write of the round) and publishes their sum in a word of
 * its own before it opens the barrier (gn_barrier_arrive / gn_barrier_open,
 * the persistent kernel's way of opening the next pass); every other
 * thread, once out of gn_barrier_await, must read that round's sum. Rounds
 * alternate with the whole gn_barrier_wait, which must keep the same
 * generation count. Then the bounded waits: a barrier one participant never
 * reaches ends in GN_ERR_INTERRUPTED once the abort word is set, and in
 * GN_ERR_DEVICE after its timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "barrier.h"

#define THREADS 8
#define ROUNDS 3000

struct shared {
    struct gn_barrier bar;
    gn_atomic_u64 slot[THREADS]; /* each thread's round count, relaxed */
    gn_atomic_u64 sum;           /* the last arrival's sum of the slots */
    gn_atomic_u32 errors;
};

struct arg {
    struct shared *s;
    int id;
};

static void *worker(void *p)
{
    struct arg *a = p;
    struct shared *s = a->s;
    for (uint64_t r = 1; r <= ROUNDS; r++) {
        gn_atomic_store_relaxed_u64(&s->slot[a->id], r);
        if (r % 2) {
            uint32_t gen;
            if (gn_barrier_arrive(&s->bar, THREADS, &gen)) {
                uint64_t sum = 0;
                for (int i = 0; i < THREADS; i++) sum += gn_atomic_load_relaxed_u64(&s->slot[i]);
                gn_atomic_store_relaxed_u64(&s->sum, sum);
                gn_barrier_open(&s->bar, gen);
            } else if (gn_barrier_await(&s->bar, gen, NULL, 0) != GN_OK) {
                gn_atomic_fetch_add_relaxed_u32(&s->errors, 1);
            }
            /* the last arrival saw every slot at r, and its sum is visible */
            if (gn_atomic_load_relaxed_u64(&s->sum) != r * THREADS)
                gn_atomic_fetch_add_relaxed_u32(&s->errors, 1);
        } else if (gn_barrier_wait(&s->bar, THREADS, NULL, 0) != GN_OK) {
            gn_atomic_fetch_add_relaxed_u32(&s->errors, 1);
        }
        /* a second barrier, so that no thread writes round r + 1's slot
         * before every thread has checked round r's sum */
        if (gn_barrier_wait(&s->bar, THREADS, NULL, 0) != GN_OK)
            gn_atomic_fetch_add_relaxed_u32(&s->errors, 1);
    }
    return NULL;
}

static void test_halves_and_whole(void **state)
{
    (void)state;
    static struct shared s;
    gn_barrier_init(&s.bar);
    pthread_t t[THREADS];
    struct arg a[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct arg){&s, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(gn_atomic_load_relaxed_u32(&s.errors), 0);
    /* two rounds a loop, each one generation */
    assert_int_equal(gn_atomic_load_relaxed_u32(&s.bar.gen), 2 * ROUNDS);
    assert_int_equal(gn_atomic_load_relaxed_u32(&s.bar.arrived), 0);
}

struct lone {
    struct gn_barrier *bar;
    gn_atomic_u32 *abort;
    uint64_t timeout_ns;
    enum gn_status st;
};

static void *lone_waiter(void *p)
{
    struct lone *l = p;
    uint32_t gen;
    /* 2 participants, one of whom never comes */
    if (gn_barrier_arrive(l->bar, 2, &gen)) l->st = GN_ERR_INVALID;
    else l->st = gn_barrier_await(l->bar, gen, l->abort, l->timeout_ns);
    return NULL;
}

static void test_bounded(void **state)
{
    (void)state;
    struct gn_barrier bar;
    gn_atomic_u32 abort;
    gn_atomic_store_relaxed_u32(&abort, 0);
    /* the abort word */
    gn_barrier_init(&bar);
    struct lone l = {&bar, &abort, 0, GN_OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lone_waiter, &l), 0);
    gn_atomic_store_relaxed_u32(&abort, 1);
    pthread_join(t, NULL);
    assert_int_equal(l.st, GN_ERR_INTERRUPTED);
    /* the timeout (20 ms) */
    gn_barrier_init(&bar);
    l = (struct lone){&bar, NULL, 20000000ull, GN_OK};
    assert_int_equal(pthread_create(&t, NULL, lone_waiter, &l), 0);
    pthread_join(t, NULL);
    assert_int_equal(l.st, GN_ERR_DEVICE);
    /* the whole barrier of one participant opens at once */
    gn_barrier_init(&bar);
    assert_int_equal(gn_barrier_wait(&bar, 1, NULL, 0), GN_OK);
    assert_int_equal(gn_atomic_load_relaxed_u32(&bar.gen), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halves_and_whole),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
