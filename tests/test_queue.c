/*
 * The ready queue (queue.h) on its own, without a DAG.
 *
 * One thread: FIFO order, termination, reserved tickets served without and
 * with waiting, a stale slot of the previous pass is never taken, a push past the pass's total and a wait that never ends are
 * recorded as faults (bounded), a fault wakes other waiters. Many threads
 * (8, more than the cores): ids form a binary tree, and taking id x pushes
 * its children 2x+1 and 2x+2, as running a task releases its successors
 * (a worker never waits while it still owes a push: the protocol's rule),
 * and writes its depth in plain memory from its parent's, a data flow that
 * only the slot's release/acquire orders (ThreadSanitizer checks it);
 * every id comes out exactly once and every thread leaves, those holding
 * tickets past the last slot included. Then producers and consumers apart,
 * so that consumers hold tickets far ahead of the tail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define THREADS 8

struct fixture {
    struct gn_queue q;
    gn_atomic_u64 *slots;
};

static struct fixture *fixture_new(uint32_t capacity, uint64_t spin_limit)
{
    struct fixture *f = aligned_alloc(64, (sizeof *f + 63) & ~(size_t)63);
    assert_non_null(f);
    f->slots = calloc(capacity, sizeof *f->slots);
    assert_non_null(f->slots);
    gn_queue_init(&f->q, f->slots, capacity, spin_limit);
    return f;
}

static void fixture_free(struct fixture *f)
{
    free((void *)f->slots);
    free(f);
}

static void test_queue_fifo(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(16, 0);
    struct gn_queue_worker w = {0};
    uint32_t task;
    assert_int_equal(gn_queue_begin_pass(&f->q, 5, NULL, 0), GN_OK);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(gn_queue_push(&f->q, 100 + i, &w), GN_OK);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
        assert_int_equal(task, 100 + i);
        gn_queue_finish(&f->q, &w);
    }
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    assert_int_equal(task, GN_QUEUE_DONE);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.done), 5);
    assert_int_equal(w.pushed, 5);
    assert_int_equal(w.popped, 5);
    assert_int_equal(w.unflushed, 0);
    /* an empty pass is over at once */
    assert_int_equal(gn_queue_begin_pass(&f->q, 0, NULL, 0), GN_OK);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    assert_int_equal(task, GN_QUEUE_DONE);
    /* a pass larger than the capacity is refused */
    assert_int_equal(gn_queue_begin_pass(&f->q, 17, NULL, 0), GN_ERR_INVALID);
    fixture_free(f);
}

/* A pass's roots are its first tickets, read from the list (no push); the
 * pushes fill the slots after them, and no more pushes than the rest fit. */
static void test_queue_roots(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(16, 0);
    struct gn_queue_worker w = {0};
    const uint32_t roots[] = {7, 3};
    uint32_t task;
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, roots, 3), GN_ERR_INVALID); /* > total */
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, NULL, 1), GN_ERR_INVALID);  /* no list */
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(gn_queue_begin_pass(&f->q, 5, roots, 2), GN_OK);
        assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.tail), 2);
        assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
        assert_int_equal(task, 7);
        assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
        assert_int_equal(task, 3);
        for (uint32_t i = 0; i < 3; i++)
            assert_int_equal(gn_queue_push(&f->q, 100 + i, &w), GN_OK);
        assert_int_equal(gn_queue_push(&f->q, 200, &w), GN_ERR_INVALID); /* past total */
        gn_atomic_store_relaxed_u32(&f->q.fault, 0);
        for (uint32_t i = 0; i < 3; i++) {
            assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
            assert_int_equal(task, 100 + i);
        }
        for (uint32_t i = 0; i < 5; i++)
            gn_queue_finish(&f->q, &w);
        assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
        assert_int_equal(task, GN_QUEUE_DONE);
    }
    fixture_free(f);
}

/* Reserved tickets (gn_queue_reserve) and a look without waiting
 * (gn_queue_ready): a root at once, an empty slot not ready, a filled one
 * ready, a ticket past total ready (the pass over) only once every task is
 * counted and flushed; gn_queue_serve then serves the rest in order. */
static void test_queue_reserved_tickets(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(16, 0);
    struct gn_queue_worker w = {0};
    const uint32_t roots[] = {9};
    uint32_t task = 12345;
    assert_int_equal(gn_queue_begin_pass(&f->q, 3, roots, 1), GN_OK);
    const uint32_t t = gn_queue_reserve(&f->q, 4); /* tickets 0..3; 3 is past total */
    assert_int_equal(t, 0);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.head), 4);
    assert_int_equal(gn_queue_ready(&f->q, 0, &task, &w), 1);
    assert_int_equal(task, 9);
    task = 12345;
    assert_int_equal(gn_queue_ready(&f->q, 1, &task, &w), 0); /* nothing pushed yet */
    assert_int_equal(task, 12345);
    assert_int_equal(gn_queue_push(&f->q, 40, &w), GN_OK);
    assert_int_equal(gn_queue_ready(&f->q, 2, &task, &w), 0); /* slot 2 still empty */
    assert_int_equal(gn_queue_ready(&f->q, 1, &task, &w), 1);
    assert_int_equal(task, 40);
    assert_int_equal(gn_queue_push(&f->q, 41, &w), GN_OK);
    assert_int_equal(gn_queue_serve(&f->q, 2, &task, &w), GN_OK);
    assert_int_equal(task, 41);
    /* past total: not over while tasks are unfinished or unflushed */
    assert_int_equal(gn_queue_ready(&f->q, 3, &task, &w), 0);
    for (int i = 0; i < 3; i++)
        gn_queue_finish(&f->q, &w);
    assert_int_equal(gn_queue_ready(&f->q, 3, &task, &w), 0); /* unflushed */
    gn_queue_flush(&f->q, &w);
    assert_int_equal(gn_queue_ready(&f->q, 3, &task, &w), 1);
    assert_int_equal(task, GN_QUEUE_DONE);
    assert_int_equal(gn_queue_serve(&f->q, 3, &task, &w), GN_OK);
    assert_int_equal(task, GN_QUEUE_DONE);
    assert_int_equal(w.popped, 3);
    fixture_free(f);
}

static void test_queue_stale_slot(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(8, 2000);
    struct gn_queue_worker w = {0};
    uint32_t task = 12345;
    assert_int_equal(gn_queue_begin_pass(&f->q, 4, NULL, 0), GN_OK);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(gn_queue_push(&f->q, i, &w), GN_OK);
    /* next pass: the slots still hold last pass's tasks, which must not be taken */
    assert_int_equal(gn_queue_begin_pass(&f->q, 4, NULL, 0), GN_OK);
    w.worker = 3;
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_ERR_DEVICE);
    assert_int_equal(task, 12345);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), (uint32_t)-(int32_t)GN_ERR_DEVICE);
    assert_int_equal(f->q.fault_worker, 3);
    assert_int_equal(f->q.fault_index, 0);
    assert_true(w.spins >= 2000);
    /* the next pass clears the fault */
    assert_int_equal(gn_queue_begin_pass(&f->q, 1, NULL, 0), GN_OK);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), 0);
    assert_int_equal(gn_queue_push(&f->q, 7, &w), GN_OK);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    assert_int_equal(task, 7);
    fixture_free(f);
}

static void test_queue_tag_wrap(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(4, 500);
    struct gn_queue_worker w = {0};
    uint32_t task;
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, NULL, 0), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 1, &w), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 2, &w), GN_OK);
    /* the tag wraps to 1: every slot is cleared, none reads as full */
    f->q.pass = UINT32_MAX;
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, NULL, 0), GN_OK);
    assert_int_equal(f->q.pass, 1);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_ERR_DEVICE);
    fixture_free(f);
}

static void test_queue_overflow(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(8, 0);
    struct gn_queue_worker w = {0};
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, NULL, 0), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 0, &w), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 1, &w), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 5, &w), GN_ERR_INVALID);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), (uint32_t)-(int32_t)GN_ERR_INVALID);
    assert_int_equal(f->q.fault_index, 5);
    /* a later fault does not replace the first */
    gn_queue_fault(&f->q, GN_ERR_DEVICE, 9, 9);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), (uint32_t)-(int32_t)GN_ERR_INVALID);
    fixture_free(f);
}

static void test_queue_done_wait_bounded(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(4, 1000);
    struct gn_queue_worker w = {0};
    uint32_t task;
    assert_int_equal(gn_queue_begin_pass(&f->q, 1, NULL, 0), GN_OK);
    assert_int_equal(gn_queue_push(&f->q, 0, &w), GN_OK);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    /* the task never finishes: a ticket past the end waits for done, bounded */
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_ERR_DEVICE);
    assert_int_equal(f->q.fault_index, 1);
    fixture_free(f);
}

struct waiter {
    struct gn_queue *q;
    enum gn_status status;
    uint32_t task;
};

static void *wait_thread(void *arg)
{
    struct waiter *a = arg;
    struct gn_queue_worker w = {0};
    a->status = gn_queue_pop(a->q, &a->task, &w);
    return NULL;
}

static void test_queue_fault_wakes_waiters(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(4, 0);
    struct waiter a = {&f->q, GN_OK, 0};
    assert_int_equal(gn_queue_begin_pass(&f->q, 2, NULL, 0), GN_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_thread, &a), 0);
    while (gn_atomic_load_relaxed_u32(&f->q.head) == 0)
        sched_yield();
    gn_queue_fault(&f->q, GN_ERR_INVALID, 1, 1);
    pthread_join(t, NULL);
    assert_int_equal(a.status, GN_ERR_INTERRUPTED);
    fixture_free(f);
}

struct mixed {
    struct gn_queue *q;
    uint32_t per_thread;
    gn_atomic_u32 *seen;
    uint32_t *depth; /* tree: plain, written by x's taker, read by its children's */
};

struct mixed_thread {
    struct mixed *m;
    uint32_t first; /* ids [first, first + per_thread) if it pushes */
    int push;       /* pushes its ids */
    int tree;       /* taking id x pushes 2x+1 and 2x+2 (below total) */
    int pop;        /* pops until the pass is over */
    struct gn_queue_worker w;
    enum gn_status status;
    uint64_t got;
};

static int mixed_take(struct mixed_thread *t)
{
    uint32_t task;
    t->status = gn_queue_pop(t->m->q, &task, &t->w);
    if (t->status != GN_OK || task == GN_QUEUE_DONE)
        return 0;
    gn_atomic_fetch_add_relaxed_u32(&t->m->seen[task], 1);
    t->got++;
    if (t->tree)
        t->m->depth[task] = task == 0 ? 0 : t->m->depth[(task - 1) / 2] + 1;
    for (uint32_t c = 2 * task + 1; t->tree && c <= 2 * task + 2 && c < t->m->q->total; c++) {
        t->status = gn_queue_push(t->m->q, c, &t->w);
        if (t->status != GN_OK)
            return 0;
    }
    gn_queue_finish(t->m->q, &t->w);
    return 1;
}

static void *mixed_main(void *arg)
{
    struct mixed_thread *t = arg;
    struct mixed *m = t->m;
    for (uint32_t i = 0; t->push && i < m->per_thread; i++) {
        t->status = gn_queue_push(m->q, t->first + i, &t->w);
        if (t->status != GN_OK)
            return NULL;
    }
    while (t->pop && mixed_take(t))
        ;
    return NULL;
}

/* split == 0: the tree, every thread pops (and pushes children).
 * split == 1: even threads only push their ids, odd ones only pop. */
static void run_mixed(int split)
{
    const uint32_t per_thread = 50000;
    uint32_t consumers = split ? THREADS / 2 : THREADS;
    uint32_t total = THREADS / 2 * per_thread;
    struct fixture *f = fixture_new(total, 0);
    struct mixed m = {&f->q, per_thread, calloc(total, sizeof(gn_atomic_u32)),
                      calloc(total, sizeof(uint32_t))};
    assert_non_null(m.seen);
    assert_non_null(m.depth);
    struct mixed_thread t[THREADS];
    pthread_t th[THREADS];
    assert_int_equal(gn_queue_begin_pass(&f->q, total, NULL, 0), GN_OK);
    for (uint32_t i = 0; i < THREADS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].m = &m;
        t[i].w.worker = i;
        t[i].push = split && i % 2 == 0;
        t[i].tree = !split;
        t[i].pop = !split || i % 2 == 1;
        t[i].first = i / 2 * per_thread;
    }
    struct gn_queue_worker root = {0};
    if (!split)
        assert_int_equal(gn_queue_push(&f->q, 0, &root), GN_OK);
    for (uint32_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mixed_main, &t[i]), 0);
    uint64_t got = 0;
    for (uint32_t i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].status, GN_OK);
        got += t[i].got;
    }
    assert_int_equal(got, total);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.done), total);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.tail), total);
    /* every consumer took exactly one ticket past the last slot */
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.head), total + consumers);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), 0);
    uint32_t bad = 0;
    for (uint32_t i = 0; i < total; i++) {
        uint32_t s = gn_atomic_load_relaxed_u32(&m.seen[i]);
        if (s != 1 && bad++ < 5)
            print_error("id %u came out %u times\n", i, s);
        uint32_t depth = 0;
        for (uint32_t x = i; x > 0; x = (x - 1) / 2)
            depth++;
        if (!split && m.depth[i] != depth && bad++ < 5)
            print_error("id %u: depth %u, expected %u\n", i, m.depth[i], depth);
    }
    assert_int_equal(bad, 0);
    free((void *)m.seen);
    free(m.depth);
    fixture_free(f);
}

static void test_queue_hammer_tree(void **state)
{
    (void)state;
    run_mixed(0);
}

static void test_queue_hammer_split_roles(void **state)
{
    (void)state;
    run_mixed(1);
}

static void test_queue_many_waiters_leave(void **state)
{
    (void)state;
    /* 3 tasks, 8 consumers: 5 hold tickets past the last slot until done */
    struct fixture *f = fixture_new(8, 0);
    struct gn_queue_worker w = {0};
    assert_int_equal(gn_queue_begin_pass(&f->q, 3, NULL, 0), GN_OK);
    struct waiter a[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i].q = &f->q;
        a[i].status = GN_ERR_IO;
        a[i].task = 0;
        assert_int_equal(pthread_create(&t[i], NULL, wait_thread, &a[i]), 0);
    }
    while (gn_atomic_load_relaxed_u32(&f->q.head) < THREADS)
        sched_yield();
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(gn_queue_push(&f->q, i, &w), GN_OK);
    /* the three tasks are taken; nobody leaves before they are done */
    for (int k = 0; k < 1000; k++)
        sched_yield();
    w.unflushed = 3;
    gn_queue_flush(&f->q, &w);
    int tasks = 0, done = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].status, GN_OK);
        if (a[i].task == GN_QUEUE_DONE)
            done++;
        else
            tasks++;
    }
    assert_int_equal(tasks, 3);
    assert_int_equal(done, THREADS - 3);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_fifo),
        cmocka_unit_test(test_queue_roots),
        cmocka_unit_test(test_queue_reserved_tickets),
        cmocka_unit_test(test_queue_stale_slot),
        cmocka_unit_test(test_queue_tag_wrap),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_queue_done_wait_bounded),
        cmocka_unit_test(test_queue_fault_wakes_waiters),
        cmocka_unit_test(test_queue_hammer_tree),
        cmocka_unit_test(test_queue_hammer_split_roles),
        cmocka_unit_test(test_queue_many_waiters_leave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
