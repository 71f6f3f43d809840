/*
 * Dependency release (dag.h, dag.c): the CSR build, in-degree counting and
 * its rebuild after a change (against a brute-force count), the acyclicity
 * check, then release driven by hand on one thread (a topological order)
 * and by 8 threads (more than the cores) with their own barrier, on fresh
 * random DAGs every run: each worker arms a slice, then all run tasks; every
 * task runs exactly once per pass and starts after each predecessor
 * finished (stamps from one atomic clock), over several passes that re-arm
 * the counters. A counter released more often than its edges is a fault.
 * The persistent kernel's form of the release (successors read as a task is
 * taken, released after it ran: gn_dag_span_of, gn_dag_succ_fill,
 * gn_dag_release_succ) runs on one thread with two tasks in hand and on 8,
 * and several tasks' release under one fence (gn_dag_release_set) on a
 * small DAG by hand; the next ticket reserved during the release
 * (gn_dag_finish_ahead) by turns with it on 8 threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "rng.h"
#include "stress_dag.h"
#include "testutil.h"

#define THREADS 8

struct fixture {
    struct gn_queue q;
    gn_atomic_u64 *slots;
};

static struct fixture *fixture_new(uint32_t capacity, uint64_t spin_limit)
{
    struct fixture *f = aligned_alloc(64, (sizeof *f + 63) & ~(size_t)63);
    assert_non_null(f);
    f->slots = calloc(capacity + 1, sizeof *f->slots);
    assert_non_null(f->slots);
    gn_queue_init(&f->q, f->slots, capacity, spin_limit);
    return f;
}

static void fixture_free(struct fixture *f)
{
    free((void *)f->slots);
    free(f);
}

static void test_dag_build_csr(void **state)
{
    (void)state;
    /* 0 -> 2, 1 -> 2, 0 -> 3, 2 -> 4, 3 -> 4, 0 -> 4, listed out of order */
    const uint32_t src[] = {2, 0, 3, 1, 0, 0};
    const uint32_t dst[] = {4, 2, 4, 2, 3, 4};
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 5, 6, src, dst), GN_OK);
    assert_int_equal(d.n_tasks, 5);
    assert_int_equal(d.n_edges, 6);
    const uint32_t begin[] = {0, 3, 4, 5, 6, 6};
    const uint32_t succ[] = {2, 3, 4, 2, 4, 4}; /* each task's successors in list order */
    const uint32_t indeg[] = {0, 0, 2, 1, 3};
    for (int i = 0; i <= 5; i++)
        assert_int_equal(d.succ_begin[i], begin[i]);
    for (int i = 0; i < 6; i++)
        assert_int_equal(d.succ[i], succ[i]);
    for (int i = 0; i < 5; i++)
        assert_int_equal(d.indeg_init[i], indeg[i]);
    assert_int_equal(gn_dag_check_acyclic(&d), GN_OK);

    /* a rebuild reuses the arrays, smaller or larger */
    const uint32_t src2[] = {0};
    const uint32_t dst2[] = {1};
    assert_int_equal(gn_dag_build(&d, 2, 1, src2, dst2), GN_OK);
    assert_int_equal(d.succ_begin[2], 1);
    assert_int_equal(d.indeg_init[1], 1);
    assert_int_equal(gn_dag_build(&d, 0, 0, NULL, NULL), GN_OK);
    assert_int_equal(d.n_tasks, 0);
    gn_dag_free(&d);
    gn_dag_free(&d);
}

static void test_dag_build_errors(void **state)
{
    (void)state;
    const uint32_t src[] = {0, 1};
    const uint32_t dst[] = {1, 7};
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 3, 2, src, dst), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "edge 1 (1 -> 7)"));
    assert_int_equal(gn_dag_build(&d, 3, 2, NULL, dst), GN_ERR_INVALID);
    assert_int_equal(gn_dag_build(NULL, 3, 0, NULL, NULL), GN_ERR_INVALID);
    gn_dag_free(&d);
}

static void test_dag_cycle(void **state)
{
    (void)state;
    /* 0 -> 1 -> 2 -> 3 -> 1 */
    const uint32_t src[] = {0, 1, 2, 3};
    const uint32_t dst[] = {1, 2, 3, 1};
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 4, 4, src, dst), GN_OK);
    assert_int_equal(gn_dag_check_acyclic(&d), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "not acyclic: 3 of 4 tasks"));
    const uint32_t self[] = {2};
    assert_int_equal(gn_dag_build(&d, 4, 1, self, self), GN_OK);
    assert_int_equal(gn_dag_check_acyclic(&d), GN_ERR_INVALID);
    gn_dag_free(&d);
}

/* Brute force: in-degrees straight from the edge list. */
static void expect_indegree(const struct gn_dag *d, const uint32_t *dst, uint32_t n_edges)
{
    uint32_t *want = calloc(d->n_tasks + 1, sizeof *want);
    assert_non_null(want);
    for (uint32_t e = 0; e < n_edges; e++)
        want[dst[e]]++;
    for (uint32_t i = 0; i < d->n_tasks; i++) {
        if (d->indeg_init[i] != want[i])
            fail_msg("task %u: in-degree %u, the edges say %u", i, d->indeg_init[i], want[i]);
    }
    free(want);
}

static void test_dag_count_after_change(void **state)
{
    (void)state;
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.shape = GN_STRESS_GROWN;
    p.tasks = 3000;
    p.width = 30;
    p.seed = gn_test_seed();
    struct gn_stress_graph g;
    struct gn_stress_grower gr;
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_stress_generate(&g, &p, 20000), GN_OK);
    assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
    expect_indegree(&d, g.dst, g.n_edges);
    assert_int_equal(gn_stress_grow_init(&gr, &g, 500), GN_OK);
    for (uint32_t round = 1; round <= 3; round++) {
        assert_int_equal(gn_stress_grow(&gr, &g, 300, p.seed, round), GN_OK);
        assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
        expect_indegree(&d, g.dst, g.n_edges);
        assert_int_equal(gn_dag_check_acyclic(&d), GN_OK);
    }
    /* the pool of 500 tasks is full after the second round of 300 */
    assert_int_equal(g.n_tasks, 3500);
    assert_int_equal(gr.copies + gr.splits, 500);
    assert_int_equal(gr.refused, 400);
    assert_int_equal(gn_pool_refusals(&gr.tasks) + gn_pool_refusals(&gr.edges), 400);

    /* a change made in the CSR itself: re-point one successor, recount */
    uint32_t u = 0;
    while (d.succ_begin[u + 1] == d.succ_begin[u])
        u++;
    uint32_t k = d.succ_begin[u], old = d.succ[k], to = d.n_tasks - 1;
    d.succ[k] = to;
    gn_dag_count_indegree(&d);
    for (uint32_t e = 0; e < g.n_edges; e++) {
        if (g.src[e] == u && g.dst[e] == old) {
            g.dst[e] = to;
            break;
        }
    }
    expect_indegree(&d, g.dst, g.n_edges);
    gn_stress_grow_free(&gr);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

static void test_dag_release_one_thread(void **state)
{
    (void)state;
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.shape = GN_STRESS_RANDOM;
    p.tasks = 5000;
    p.width = 8;
    p.seed = gn_test_seed();
    struct gn_stress_graph g;
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_stress_generate(&g, &p, 0), GN_OK);
    assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
    struct fixture *f = fixture_new(d.n_tasks, 0);
    uint32_t *when = calloc(d.n_tasks, sizeof *when);
    assert_non_null(when);
    struct gn_queue_worker w = {0};
    for (int pass = 1; pass <= 2; pass++) {
        /* the counters stay armed from one pass to the next (dag.h) */
        assert_int_equal(gn_dag_begin_pass(&d, &f->q), GN_OK);
        uint32_t task = 0, step = 0;
        for (;;) {
            assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
            if (task == GN_QUEUE_DONE)
                break;
            when[task] = ++step;
            assert_int_equal(gn_dag_release(&d, &f->q, task, &w), GN_OK);
            gn_queue_finish(&f->q, &w);
        }
        assert_int_equal(step, d.n_tasks);
        for (uint32_t e = 0; e < g.n_edges; e++)
            assert_true(when[g.src[e]] < when[g.dst[e]]);
    }
    /* releasing every task twice in a pass pushes tasks past the pass's
     * total (each counter re-arms when it reaches zero): a fault */
    assert_int_equal(gn_dag_begin_pass(&d, &f->q), GN_OK);
    enum gn_status st = GN_OK;
    for (int twice = 0; twice < 2 && st == GN_OK; twice++)
        for (uint32_t u = 0; u < d.n_tasks && st == GN_OK; u++)
            st = gn_dag_release(&d, &f->q, u, &w);
    assert_int_equal(st, GN_ERR_INVALID);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.fault), (uint32_t)-(int32_t)GN_ERR_INVALID);
    free(when);
    fixture_free(f);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

/* Several finished tasks released under one fence (gn_dag_release_set,
 * the batched protocol's release): every successor's counter decremented
 * in the tasks' order, the first ready one kept as the continuation, the
 * other ready ones pushed in order, every counter that reached zero armed
 * again; a single task goes through gn_dag_release_succ (its fast path
 * leaves a lone successor's counter untouched), while in a set the same
 * successor is decremented and re-armed like any other. */
static void test_dag_release_set(void **state)
{
    (void)state;
    /* roots 0, 1, 2; 3 <- 0, 1; 5 <- 0, 1, 2; 4 <- 2; 6 <- 3 */
    const uint32_t src[] = {0, 1, 0, 1, 2, 2, 3};
    const uint32_t dst[] = {3, 3, 5, 5, 5, 4, 6};
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 7, 7, src, dst), GN_OK);
    assert_int_equal(d.n_roots, 3);
    struct fixture *f = fixture_new(d.n_tasks, 0);
    struct gn_queue_worker w = {0};
    assert_int_equal(gn_dag_begin_pass(&d, &f->q), GN_OK);
    struct gn_dag_succ s[3];
    uint32_t next = 77, task = 0;
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
        assert_int_equal(task, i);
        gn_dag_succ_read(&d, task, &s[i]);
    }
    assert_int_equal(gn_dag_release_set(&d, &f->q, s, 3, &w, &next), GN_OK);
    /* 3 is ready after task 1, 5 and 4 after task 2: 3 kept, 5 and 4 pushed */
    assert_int_equal(next, 3);
    assert_int_equal(gn_atomic_load_relaxed_u32(&f->q.tail), 5);
    assert_int_equal(w.pushed, 2);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    assert_int_equal(task, 5);
    assert_int_equal(gn_queue_pop(&f->q, &task, &w), GN_OK);
    assert_int_equal(task, 4);
    for (uint32_t v = 3; v <= 6; v++) /* armed for the next pass */
        assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[v]), d.indeg_init[v]);
    /* one task: the fast path, 6's counter untouched */
    gn_dag_succ_read(&d, 3, &s[0]);
    gn_atomic_store_relaxed_u32(&d.indeg[6], 9); /* a mark the fast path leaves */
    assert_int_equal(gn_dag_release_set(&d, &f->q, s, 1, &w, &next), GN_OK);
    assert_int_equal(next, 6);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[6]), 9);
    /* in a set (4 has no successors) 6's counter is decremented: from 2
     * (as if another predecessor were pending) to 1, not ready; then from
     * 1 to zero, ready, and armed again */
    gn_dag_succ_read(&d, 4, &s[0]);
    gn_dag_succ_read(&d, 3, &s[1]);
    gn_atomic_store_relaxed_u32(&d.indeg[6], 2);
    assert_int_equal(gn_dag_release_set(&d, &f->q, s, 2, &w, &next), GN_OK);
    assert_int_equal(next, GN_QUEUE_DONE);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[6]), 1);
    assert_int_equal(gn_dag_release_set(&d, &f->q, s, 2, &w, &next), GN_OK);
    assert_int_equal(next, 6);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[6]), 1);
    assert_int_equal(w.pushed, 2);
    /* a set with no successor at all: nothing to run next */
    gn_dag_succ_read(&d, 4, &s[0]);
    gn_dag_succ_read(&d, 6, &s[1]);
    assert_int_equal(gn_dag_release_set(&d, &f->q, s, 2, &w, &next), GN_OK);
    assert_int_equal(next, GN_QUEUE_DONE);
    fixture_free(f);
    gn_dag_free(&d);
}

#if GN_DAG_DEFER
/* Decrements held back (-DGN_DAG_DEFER): a task whose first successor has
 * in-degree 1 runs it next with no decrement, holding the others'; the
 * release that keeps no continuation issues them (one fence); a worker
 * never holds more than GN_DAG_DEFER. 0 -> 1, 0 -> 2, 3 -> 2, 1 -> 4. */
static void test_dag_release_deferred(void **state)
{
    (void)state;
    const uint32_t src[] = {0, 0, 3, 1};
    const uint32_t dst[] = {1, 2, 2, 4};
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, 5, 4, src, dst), GN_OK);
    struct fixture *f = fixture_new(d.n_tasks, 0);
    struct gn_queue_worker w = {0};
    assert_int_equal(gn_dag_begin_pass(&d, &f->q), GN_OK);
    uint32_t next = GN_QUEUE_DONE, task = 0;
    struct gn_dag_succ s;
    assert_int_equal(gn_dag_take(&f->q, &w, &next, &task), GN_OK);
    assert_int_equal(task, 0);
    gn_dag_succ_read(&d, task, &s);
    assert_int_equal(s.init0, 1);
    assert_int_equal(gn_dag_finish_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(next, 1);                                   /* run at once */
    assert_int_equal(w.n_def, 1);                                /* 2's decrement held */
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[2]), 2); /* untouched */
    /* 1 -> 4, in-degree 1 and alone: the fast path, still holding */
    assert_int_equal(gn_dag_take(&f->q, &w, &next, &task), GN_OK);
    assert_int_equal(task, 1);
    gn_dag_succ_read(&d, task, &s);
    assert_int_equal(gn_dag_finish_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(next, 4);
    assert_int_equal(w.n_def, 1);
    /* 4 has no successor: the worker may wait next, so the held decrement
     * goes out (2: 2 -> 1, not ready) */
    assert_int_equal(gn_dag_take(&f->q, &w, &next, &task), GN_OK);
    assert_int_equal(task, 4);
    gn_dag_succ_read(&d, task, &s);
    assert_int_equal(s.init0, 0);
    assert_int_equal(gn_dag_finish_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(next, GN_QUEUE_DONE);
    assert_int_equal(w.n_def, 0);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[2]), 1);
    /* 3 releases 2 (its first successor, in-degree 2: the fenced path) */
    assert_int_equal(gn_dag_take(&f->q, &w, &next, &task), GN_OK);
    assert_int_equal(task, 3);
    gn_dag_succ_read(&d, task, &s);
    assert_int_equal(gn_dag_finish_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(next, 2);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[2]), 2); /* armed again */
    /* held to the limit: the release that would pass it issues the held
     * ones first (one fence), then hands on and holds as before */
    w.n_def = GN_DAG_DEFER;
    for (uint32_t i = 0; i < GN_DAG_DEFER; i++) w.def[i] = 2;
    gn_atomic_store_relaxed_u32(&d.indeg[2], GN_DAG_DEFER + 2);
    gn_atomic_store_relaxed_u32(&d.indeg[1], 7); /* a mark the hand-off leaves */
    gn_dag_succ_read(&d, 0, &s);
    assert_int_equal(gn_dag_release_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(next, 1);
    assert_int_equal(w.n_def, 1);
    assert_int_equal(w.def[0], 2);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[2]), 2);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[1]), 7);
    /* a first successor of in-degree 2: the fenced path, the held one
     * issued under the same fence (2: 2 -> 1), then 0's own (1: 7 -> 6,
     * 2: 1 -> 0, ready: the continuation, armed again) */
    d.indeg_init[1] = 2;
    gn_dag_succ_read(&d, 0, &s);
    assert_int_equal(s.init0, 2);
    assert_int_equal(gn_dag_release_succ(&d, &f->q, &s, &w, &next), GN_OK);
    assert_int_equal(w.n_def, 0);
    assert_int_equal(next, 2);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[1]), 6);
    assert_int_equal(gn_atomic_load_relaxed_u32(&d.indeg[2]), 2);
    fixture_free(f);
    gn_dag_free(&d);
}
#endif

/* The kernel's form of the protocol: a task's successors read as it is
 * taken (gn_dag_succ_read), released after it ran (gn_dag_finish_succ),
 * here with other tasks' releases in between (two tasks in hand at once,
 * finished in the opposite order), on a random DAG with fan-outs past one
 * batch (GN_DAG_BATCH): every task runs once a pass, after each
 * predecessor, and a read-ahead gives what a read at release time gives
 * (the successors lists are fixed within a pass). */
static void test_dag_release_read_ahead(void **state)
{
    (void)state;
    uint64_t rng = gn_test_seed();
#define DRAW() ((uint32_t)gn_mix64(rng += 0x9e3779b97f4a7c15ull))
    const uint32_t n = 400;
    uint32_t *src = malloc(sizeof *src * n * 24), *dst = malloc(sizeof *dst * n * 24);
    assert_non_null(src);
    assert_non_null(dst);
    uint32_t ne = 0, wide = 0;
    for (uint32_t u = 0; u + 1 < n; u++) {
        /* every 10th task fans out past a batch */
        const uint32_t k = u % 10 == 0 ? GN_DAG_BATCH + 1 + (uint32_t)(DRAW() % 12)
                                       : (uint32_t)(DRAW() % 4);
        for (uint32_t i = 0; i < k; i++) {
            src[ne] = u;
            dst[ne++] = u + 1 + (uint32_t)(DRAW() % (n - 1 - u));
        }
        if (k > GN_DAG_BATCH)
            wide++;
    }
    assert_true(wide > 0);
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_dag_build(&d, n, ne, src, dst), GN_OK);
    struct fixture *f = fixture_new(n, 0);
    uint32_t *when = calloc(n, sizeof *when);
    assert_non_null(when);
    struct gn_queue_worker w = {0};
    for (int pass = 1; pass <= 3; pass++) {
        assert_int_equal(gn_dag_begin_pass(&d, &f->q), GN_OK);
        memset(when, 0, sizeof *when * n);
        uint32_t next = GN_QUEUE_DONE, step = 0, ran = 0;
        for (;;) {
            uint32_t t[2];
            struct gn_dag_succ s[2];
            assert_int_equal(gn_dag_take(&f->q, &w, &next, &t[0]), GN_OK);
            if (t[0] == GN_QUEUE_DONE)
                break;
            int held = 1;
            /* a second task only where one is at hand (a continuation, or
             * a ready one in the queue): a pop that waited would wait for
             * the release of the task this thread holds */
            if (next != GN_QUEUE_DONE ||
                gn_atomic_load_relaxed_u32(&f->q.tail) > gn_atomic_load_relaxed_u32(&f->q.head)) {
                assert_int_equal(gn_dag_take(&f->q, &w, &next, &t[1]), GN_OK);
                assert_int_not_equal(t[1], GN_QUEUE_DONE);
                held = 2;
            }
            for (int i = 0; i < held; i++) {
                /* the kernel's two steps: the span, then the successors */
                gn_dag_succ_fill(&d, gn_dag_span_of(&d, t[i]), &s[i]);
                when[t[i]] = ++step;
            }
            for (int i = held - 1; i >= 0; i--) {
                /* read now, it would be the same */
                struct gn_dag_succ now;
                gn_dag_succ_read(&d, t[i], &now);
                assert_int_equal(now.k, s[i].k);
                assert_int_equal(now.end, s[i].end);
                const uint32_t m = now.end - now.k < GN_DAG_BATCH ? now.end - now.k : GN_DAG_BATCH;
                for (uint32_t j = 0; j < m; j++)
                    assert_int_equal(now.v[j], s[i].v[j]);
                uint32_t cont;
                assert_int_equal(gn_dag_finish_succ(&d, &f->q, &s[i], &w, &cont), GN_OK);
                ran++;
                if (cont != GN_QUEUE_DONE) {
                    if (next == GN_QUEUE_DONE)
                        next = cont;
                    else
                        assert_int_equal(gn_queue_push(&f->q, cont, &w), GN_OK);
                }
            }
        }
        gn_queue_flush(&f->q, &w);
        assert_int_equal(ran, n);
        for (uint32_t e = 0; e < ne; e++)
            assert_true(when[src[e]] > 0 && when[src[e]] < when[dst[e]]);
    }
    free(when);
    fixture_free(f);
    gn_dag_free(&d);
    free(src);
    free(dst);
#undef DRAW
}

/* Many threads: the protocol of sched_cpu.c, with a pthread barrier. */
struct run {
    struct gn_queue *q;
    struct gn_dag *d;
    pthread_barrier_t barrier;
    int passes;
    int read_ahead; /* the kernel's form: successors read as a task is taken;
                     * 2: and every other task's release beside the next
                     * ticket's reservation (gn_dag_finish_ahead) */
    gn_atomic_u64 clock;
    gn_atomic_u32 *runs;
    gn_atomic_u64 *start, *finish;
};

struct run_thread {
    struct run *r;
    uint32_t id;
    enum gn_status status;
};

static void *run_main(void *arg)
{
    struct run_thread *t = arg;
    struct run *r = t->r;
    struct gn_queue_worker w = {0};
    w.worker = t->id;
    uint64_t n = r->d->n_tasks;
    for (int pass = 0; pass < r->passes; pass++) {
        /* one barrier opens the pass: the counters are armed already */
        if (t->id == 0)
            t->status = gn_dag_begin_pass(r->d, r->q);
        pthread_barrier_wait(&r->barrier);
        enum gn_status s = GN_OK;
        /* read_ahead 2: a ticket reserved (and looked at) while the
         * release runs, by turns with the plain release (dag.h,
         * gn_dag_finish_ahead); held: the ticket, found: its task if the
         * look found it */
        uint32_t held = GN_QUEUE_DONE, found = GN_QUEUE_DONE, turn = t->id;
        while (s == GN_OK) {
            uint32_t task;
            if (held == GN_QUEUE_DONE)
                s = gn_queue_pop(r->q, &task, &w);
            else if (found != GN_QUEUE_DONE)
                task = found;
            else
                s = gn_queue_serve(r->q, held, &task, &w);
            held = found = GN_QUEUE_DONE;
            if (s != GN_OK || task == GN_QUEUE_DONE)
                break;
            struct gn_dag_succ succ = {0}; /* filled when read_ahead, the only case it is read */
            if (r->read_ahead)
                gn_dag_succ_fill(r->d, gn_dag_span_of(r->d, task), &succ);
            gn_atomic_store_relaxed_u64(&r->start[task],
                                        gn_atomic_fetch_add_relaxed_u64(&r->clock, 1) + 1);
            gn_atomic_fetch_add_relaxed_u32(&r->runs[task], 1);
            gn_atomic_store_relaxed_u64(&r->finish[task],
                                        gn_atomic_fetch_add_relaxed_u64(&r->clock, 1) + 1);
            if (r->read_ahead == 2 && (++turn & 1)) {
                /* the reservation before the release here; on the GPU
                 * beside it, either order */
                held = gn_queue_reserve(r->q, 1);
                if (!gn_queue_peek(r->q, gn_queue_pass_of(r->q), held, &found))
                    found = GN_QUEUE_DONE;
                s = gn_dag_finish_ahead(r->d, r->q, &succ, &w);
                continue;
            }
            if (r->read_ahead) {
                uint32_t next;
                s = gn_dag_release_succ(r->d, r->q, &succ, &w, &next);
                if (s == GN_OK && next != GN_QUEUE_DONE)
                    s = gn_queue_push(r->q, next, &w);
            } else {
                s = gn_dag_release(r->d, r->q, task, &w);
            }
            if (s == GN_OK)
                gn_queue_finish(r->q, &w);
        }
        if (s != GN_OK)
            t->status = s;
        pthread_barrier_wait(&r->barrier);
        if (t->id == 0) {
            /* stamps of this pass are checked by the main thread after the join;
             * here only the run counts, which must be pass+1 for every task */
            for (uint32_t i = 0; i < n; i++) {
                if (gn_atomic_load_relaxed_u32(&r->runs[i]) != (uint32_t)pass + 1)
                    t->status = GN_ERR_INVALID;
            }
        }
        pthread_barrier_wait(&r->barrier);
    }
    return NULL;
}

static void run_threads_as(enum gn_stress_shape shape, uint32_t tasks, int read_ahead)
{
    struct gn_stress_params p;
    gn_stress_default_params(&p);
    p.shape = shape;
    p.tasks = tasks;
    p.width = 16;
    p.fanin = 3;
    p.seed = gn_test_seed();
    struct gn_stress_graph g;
    struct gn_dag d;
    memset(&d, 0, sizeof d);
    assert_int_equal(gn_stress_generate(&g, &p, 0), GN_OK);
    assert_int_equal(gn_stress_graph_to_dag(&g, &d), GN_OK);
    struct fixture *f = fixture_new(d.n_tasks, 0);
    struct run *r = aligned_alloc(64, (sizeof *r + 63) & ~(size_t)63);
    assert_non_null(r);
    memset(r, 0, sizeof *r);
    r->q = &f->q;
    r->d = &d;
    r->passes = 3;
    r->read_ahead = read_ahead;
    r->runs = calloc(d.n_tasks, sizeof *r->runs);
    r->start = calloc(d.n_tasks, sizeof *r->start);
    r->finish = calloc(d.n_tasks, sizeof *r->finish);
    assert_true(r->runs && r->start && r->finish);
    pthread_barrier_init(&r->barrier, NULL, THREADS);
    struct run_thread t[THREADS];
    pthread_t th[THREADS];
    for (uint32_t i = 0; i < THREADS; i++) {
        t[i].r = r;
        t[i].id = i;
        t[i].status = GN_OK;
        assert_int_equal(pthread_create(&th[i], NULL, run_main, &t[i]), 0);
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].status, GN_OK);
    }
    /* the last pass's stamps: every successor started after its predecessor finished */
    uint32_t bad = 0;
    for (uint32_t e = 0; e < g.n_edges; e++) {
        uint64_t fu = gn_atomic_load_relaxed_u64(&r->finish[g.src[e]]);
        uint64_t sv = gn_atomic_load_relaxed_u64(&r->start[g.dst[e]]);
        if (sv <= fu && bad++ < 5)
            print_error("%s: task %u started at %llu before predecessor %u finished at %llu\n",
                        gn_stress_shape_name(shape), g.dst[e], (unsigned long long)sv,
                        g.src[e], (unsigned long long)fu);
    }
    assert_int_equal(bad, 0);
    pthread_barrier_destroy(&r->barrier);
    free((void *)r->runs);
    free((void *)r->start);
    free((void *)r->finish);
    free(r);
    fixture_free(f);
    gn_stress_graph_free(&g);
    gn_dag_free(&d);
}

static void run_threads(enum gn_stress_shape shape, uint32_t tasks)
{
    run_threads_as(shape, tasks, 0);
}

static void test_dag_threads_layered(void **state)
{
    (void)state;
    run_threads(GN_STRESS_LAYERED, 20000);
}

static void test_dag_threads_random(void **state)
{
    (void)state;
    run_threads(GN_STRESS_RANDOM, 20000);
}

static void test_dag_threads_fanin(void **state)
{
    (void)state;
    /* one counter taken to zero by 8 threads' decrements: pushed exactly once */
    run_threads(GN_STRESS_FANIN, 20000);
}

static void test_dag_threads_chain(void **state)
{
    (void)state;
    run_threads(GN_STRESS_CHAIN, 5000);
}

static void test_dag_threads_read_ahead(void **state)
{
    (void)state;
    /* the kernel's release: successors read while the task runs, other
     * workers' releases in between */
    run_threads_as(GN_STRESS_RANDOM, 20000, 1);
    run_threads_as(GN_STRESS_FANIN, 20000, 1);
}

static void test_dag_threads_ahead(void **state)
{
    (void)state;
    /* the next ticket reserved during the release, no continuation kept,
     * by turns with the plain protocol: every shape, each task once a
     * pass, after its predecessors, and the pass ends (tickets past total,
     * slots a continuation left empty) */
    run_threads_as(GN_STRESS_LAYERED, 20000, 2);
    run_threads_as(GN_STRESS_RANDOM, 20000, 2);
    run_threads_as(GN_STRESS_FANIN, 20000, 2);
    run_threads_as(GN_STRESS_CHAIN, 5000, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dag_build_csr),
        cmocka_unit_test(test_dag_build_errors),
        cmocka_unit_test(test_dag_cycle),
        cmocka_unit_test(test_dag_count_after_change),
        cmocka_unit_test(test_dag_release_one_thread),
        cmocka_unit_test(test_dag_release_read_ahead),
        cmocka_unit_test(test_dag_release_set),
#if GN_DAG_DEFER
        cmocka_unit_test(test_dag_release_deferred),
#endif
        cmocka_unit_test(test_dag_threads_layered),
        cmocka_unit_test(test_dag_threads_random),
        cmocka_unit_test(test_dag_threads_fanin),
        cmocka_unit_test(test_dag_threads_chain),
        cmocka_unit_test(test_dag_threads_read_ahead),
        cmocka_unit_test(test_dag_threads_ahead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
