/*
 * The shared scheduler core built for the device: a kernel that runs one
 * pass of a DAG the way the persistent kernel's workers will, so every
 * GN_HD function of atomics.h, queue.h, dag.h and pool.h is compiled by
 * nvcc for the GPU (and for the host pass of nvcc).
 *
 * One worker per block (thread 0), launched cooperatively so every block is
 * resident: block 0 starts the pass, a grid barrier, each worker arms its
 * slice of counters and pushes its roots, a grid barrier, then the loop of
 * sched_cpu.c: take a ticket, wait for the slot, run the task, release its
 * successors, count it done. Running a task here counts its runs and takes
 * one unit from a pool (a sink gives it back), so the pool path is compiled
 * too. The grid barriers are cooperative groups' grid.sync().
 */
#include <cooperative_groups.h>

#include "atomics.h"
#include "dag.h"
#include "pool.h"
#include "queue.h"

namespace cg = cooperative_groups;

__global__ void gn_sched_check_kernel(struct gn_dag dag, struct gn_queue *q, struct gn_pool *pool,
                                      gn_atomic_u32 *runs, struct gn_queue_worker *stats)
{
    cg::grid_group grid = cg::this_grid();
    struct gn_queue_worker w = {};
    w.worker = blockIdx.x;
    enum gn_status st = GN_OK;
    /* the counters armed slice by slice (a DAG built on the host comes
     * armed, with its roots listed: dag.h), the queue opened on the roots */
    if (threadIdx.x == 0) {
        uint64_t n = dag.n_tasks;
        uint32_t lo = (uint32_t)(n * blockIdx.x / gridDim.x);
        uint32_t hi = (uint32_t)(n * (blockIdx.x + 1) / gridDim.x);
        for (uint32_t i = lo; i < hi; i++)
            gn_dag_arm_one(&dag, i);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0)
        st = gn_dag_begin_pass(&dag, q);
    grid.sync();
    if (threadIdx.x != 0)
        return;
    while (st == GN_OK) {
        uint32_t task;
        st = gn_queue_pop(q, &task, &w);
        if (st != GN_OK || task == GN_QUEUE_DONE)
            break;
        gn_atomic_fetch_add_relaxed_u32(&runs[task], 1);
        /* A unit per task; a sink gives its unit back while it is the newest. */
        uint64_t unit;
        int sink = dag.succ_begin[task] == dag.succ_begin[task + 1];
        if (gn_pool_alloc(pool, 1, &unit) == GN_OK && sink)
            gn_pool_return(pool, unit, 1);
        st = gn_dag_release(&dag, q, task, &w);
        if (st == GN_OK)
            gn_queue_finish(q, &w);
    }
    stats[blockIdx.x] = w;
}
