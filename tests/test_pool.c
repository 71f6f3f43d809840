/*
 * The bump-allocation pool (pool.h): exact refusals and counts on one
 * thread, then 8 threads (more than the cores) allocating random sizes until
 * the pool is full, with a watcher thread reading the counter the whole time:
 * it never sees used above capacity, every unit of [0, used) belongs to
 * exactly one granted block, the pool ends exactly full, and every refusal
 * is counted. A second hammer mixes in gn_pool_return.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "rng.h"
#include "testutil.h"

#define THREADS 8
#define MAX_BLOCKS 4096

static void test_pool_exact(void **state)
{
    (void)state;
    struct gn_pool p;
    uint64_t first = 99;
    gn_pool_init(&p, 0, 10);
    assert_int_equal(gn_pool_alloc(&p, 3, &first), GN_OK);
    assert_int_equal(first, 0);
    assert_int_equal(gn_pool_alloc(&p, 3, &first), GN_OK);
    assert_int_equal(first, 3);
    assert_int_equal(gn_pool_alloc(&p, 5, &first), GN_ERR_FULL);
    assert_int_equal(first, 3);
    assert_int_equal(gn_pool_refusals(&p), 1);
    assert_int_equal(gn_pool_used(&p), 6);
    assert_int_equal(gn_pool_alloc(&p, 4, &first), GN_OK);
    assert_int_equal(first, 6);
    assert_int_equal(gn_pool_used(&p), 10);
    assert_int_equal(gn_pool_alloc(&p, 1, &first), GN_ERR_FULL);
    assert_int_equal(gn_pool_refusals(&p), 2);
    /* n == 0 is a bad argument, not a refusal. */
    assert_int_equal(gn_pool_alloc(&p, 0, &first), GN_ERR_INVALID);
    assert_int_equal(gn_pool_refusals(&p), 2);
    assert_int_equal(gn_pool_used(&p), 10);
}

static void test_pool_no_overflow(void **state)
{
    (void)state;
    struct gn_pool p;
    uint64_t first = 0;
    gn_pool_init(&p, 5, 100);
    assert_int_equal(gn_pool_alloc(&p, UINT64_MAX, &first), GN_ERR_FULL);
    assert_int_equal(gn_pool_alloc(&p, UINT64_MAX - 4, &first), GN_ERR_FULL);
    assert_int_equal(gn_pool_used(&p), 5);
    assert_int_equal(gn_pool_alloc(&p, 95, &first), GN_OK);
    assert_int_equal(first, 5);
    /* a start above capacity is clamped */
    gn_pool_init(&p, 200, 100);
    assert_int_equal(gn_pool_used(&p), 100);
    assert_int_equal(gn_pool_alloc(&p, 1, &first), GN_ERR_FULL);
}

static void test_pool_return(void **state)
{
    (void)state;
    struct gn_pool p;
    uint64_t a, b, c;
    gn_pool_init(&p, 0, 10);
    assert_int_equal(gn_pool_alloc(&p, 2, &a), GN_OK);
    assert_int_equal(gn_pool_alloc(&p, 3, &b), GN_OK);
    /* a is not the newest block: it stays allocated */
    assert_int_equal(gn_pool_return(&p, a, 2), GN_ERR_INVALID);
    assert_int_equal(gn_pool_used(&p), 5);
    assert_int_equal(gn_pool_return(&p, b, 3), GN_OK);
    assert_int_equal(gn_pool_used(&p), 2);
    assert_int_equal(gn_pool_return(&p, a, 2), GN_OK);
    assert_int_equal(gn_pool_used(&p), 0);
    assert_int_equal(gn_pool_alloc(&p, 10, &c), GN_OK);
    assert_int_equal(c, 0);
}

struct block {
    uint64_t first, n;
};

struct hammer {
    struct gn_pool pool;
    int with_returns;
    uint64_t seed;
    gn_atomic_u32 stop;
    gn_atomic_u32 over; /* the watcher saw used > capacity */
    gn_atomic_u64 watched;
};

struct worker {
    struct hammer *h;
    int id;
    struct block blocks[MAX_BLOCKS];
    int n_blocks;
    uint64_t refused;
    uint64_t returned;
    int bad; /* a failure seen on this thread (cmocka asserts only on main) */
};

static void *hammer_thread(void *arg)
{
    struct worker *w = arg;
    struct hammer *h = w->h;
    int one_refused = 0;
    for (uint64_t i = 0; !one_refused; i++) {
        uint64_t r = gn_rng_u64(h->seed, GN_RNG_TEST, (uint64_t)w->id, i);
        uint64_t n = w->refused ? 1 : 1 + r % 7;
        uint64_t first;
        enum gn_status s = gn_pool_alloc(&h->pool, n, &first);
        if (s == GN_ERR_FULL) {
            w->refused++;
            one_refused = n == 1;
            continue;
        }
        if (s != GN_OK || w->n_blocks == MAX_BLOCKS) {
            w->bad = 1;
            return NULL;
        }
        if (h->with_returns && (r >> 32) % 3 == 0 &&
            gn_pool_return(&h->pool, first, n) == GN_OK) {
            w->returned++;
            continue;
        }
        w->blocks[w->n_blocks].first = first;
        w->blocks[w->n_blocks].n = n;
        w->n_blocks++;
    }
    return NULL;
}

static void *watch_thread(void *arg)
{
    struct hammer *h = arg;
    while (!gn_atomic_load_relaxed_u32(&h->stop)) {
        if (gn_pool_used(&h->pool) > h->pool.capacity)
            gn_atomic_store_relaxed_u32(&h->over, 1);
        gn_atomic_fetch_add_relaxed_u64(&h->watched, 1);
    }
    return NULL;
}

static void run_hammer(int with_returns)
{
    const uint64_t capacity = 12000;
    struct hammer *h = calloc(1, sizeof *h);
    struct worker *w = calloc(THREADS, sizeof *w);
    assert_non_null(h);
    assert_non_null(w);
    gn_pool_init(&h->pool, 0, capacity);
    h->with_returns = with_returns;
    h->seed = gn_test_seed();
    pthread_t watcher, threads[THREADS];
    assert_int_equal(pthread_create(&watcher, NULL, watch_thread, h), 0);
    while (gn_atomic_load_relaxed_u64(&h->watched) == 0)
        sched_yield();
    for (int i = 0; i < THREADS; i++) {
        w[i].h = h;
        w[i].id = i;
        assert_int_equal(pthread_create(&threads[i], NULL, hammer_thread, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    gn_atomic_store_relaxed_u32(&h->stop, 1);
    pthread_join(watcher, NULL);

    uint64_t used = gn_pool_used(&h->pool), refused = 0, granted = 0;
    assert_int_equal(gn_atomic_load_relaxed_u32(&h->over), 0);
    assert_true(gn_atomic_load_relaxed_u64(&h->watched) > 0);
    /* every thread was finally refused a single unit: the pool is exactly full */
    assert_int_equal(used, capacity);
    uint8_t *cover = calloc(capacity, 1);
    assert_non_null(cover);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].bad, 0);
        refused += w[i].refused;
        for (int b = 0; b < w[i].n_blocks; b++) {
            granted += w[i].blocks[b].n;
            for (uint64_t u = w[i].blocks[b].first; u < w[i].blocks[b].first + w[i].blocks[b].n;
                 u++) {
                assert_true(u < capacity);
                cover[u]++;
            }
        }
    }
    assert_int_equal(granted, used);
    for (uint64_t u = 0; u < capacity; u++) {
        if (cover[u] != 1)
            fail_msg("unit %llu is in %d blocks", (unsigned long long)u, cover[u]);
    }
    assert_int_equal(gn_pool_refusals(&h->pool), refused);
    free(cover);
    free(w);
    free(h);
}

static void test_pool_hammer(void **state)
{
    (void)state;
    run_hammer(0);
}

static void test_pool_hammer_returns(void **state)
{
    (void)state;
    run_hammer(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_exact),
        cmocka_unit_test(test_pool_no_overflow),
        cmocka_unit_test(test_pool_return),
        cmocka_unit_test(test_pool_hammer),
        cmocka_unit_test(test_pool_hammer_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
