/*
 * genet-stress's GPU side (stress.cu): run passes of a DAG on the device
 * with the shared scheduler core, and the chain baselines (a launch per
 * step, a CUDA graph of the chain). Built only with CUDA (GN_HAVE_CUDA).
 */
#ifndef GN_DEVICE_STRESS_API_H
#define GN_DEVICE_STRESS_API_H

#include <stdint.h>

/* The release's parts, timed where the build asks for them
 * (-DGN_DIAG_RELEASE: dag.h's marks, device/stress.cu), each summed over
 * workers like finish_ns: the successors' loads, the release fence, the
 * decrements (to their values), the acquire fence, the pushes, the
 * finished count. Before dag.h, whose marks name them. */
#define GN_STRESS_PARTS(X)                                                                         \
    X(READ, "read") X(FENCE, "fence") X(ATOM, "atom") X(ACQ, "acq") X(PUSH, "push")               \
    X(DONE, "done")

enum gn_stress_part {
#define GN_STRESS_PART_ENUM(k, name) GN_STRESS_PART_##k,
    GN_STRESS_PARTS(GN_STRESS_PART_ENUM)
#undef GN_STRESS_PART_ENUM
    GN_STRESS_PART_COUNT
};

#include "dag.h"
#include "genet/genet.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gn_stress_work {
    GN_STRESS_WORK_NONE = 0,
    GN_STRESS_WORK_SPIN = 1, /* busy-wait spin_ns on the global timer */
    GN_STRESS_WORK_MATH = 2, /* 256 dependent fmas */
};

struct gn_cuda_stress_stats {
    double seconds; /* the pass, between its grid barriers */
    uint64_t tasks, pushed, spins;
    uint32_t high_water, workers;
    /* time in the worker protocol, summed over workers (clock64 cycles at
     * the SM clock): taking a task (the pop and its wait, or a
     * continuation), running it, finishing it (release, pushes, count) */
    double take_ns, run_ns, finish_ns;
    /* finish_ns's parts (GN_STRESS_PARTS); all 0 unless the build times
     * them (parts = 1). With hold > 1 they also count the releases a take
     * makes before it waits (gn_dag_take_held), which take_ns counts too. */
    double part_ns[GN_STRESS_PART_COUNT];
    int parts;
};

/* The part's name ("fence", ...). */
const char *gn_stress_part_name(int part);

struct gn_cuda_stress;

/* Device buffers for DAGs up to max_tasks / max_edges. stamps: record the
 * start/finish clock and run count of every task (the checks need them).
 * hold, tickets: finished tasks a worker releases and tickets it reserves
 * at once (dag.h's gn_dag_take_held; 1 and 1: gn_dag_take/gn_dag_finish). */
enum gn_status gn_cuda_stress_create(struct gn_cuda_stress **out, uint32_t max_tasks,
                                     uint32_t max_edges, int work, uint64_t spin_ns, int stamps,
                                     uint64_t spin_limit, int blocks_per_sm, int hold,
                                     int tickets);
int gn_cuda_stress_workers(struct gn_cuda_stress *s);
/* One pass of dag (host CSR), one cooperative launch. */
enum gn_status gn_cuda_stress_pass(struct gn_cuda_stress *s, const struct gn_dag *dag,
                                   struct gn_cuda_stress_stats *out);
/* The last pass's run counts and stamps (n tasks). */
enum gn_status gn_cuda_stress_fetch(struct gn_cuda_stress *s, uint32_t n, uint32_t *runs,
                                    uint64_t *start, uint64_t *finish);
/* ns per step of a chain of n empty kernels: launched one by one in a
 * stream, and replayed as one CUDA graph. */
enum gn_status gn_cuda_hop_baselines(struct gn_cuda_stress *s, uint32_t n, double *launch_ns,
                                     double *graph_ns);
const char *gn_cuda_stress_error(struct gn_cuda_stress *s);
void gn_cuda_stress_destroy(struct gn_cuda_stress *s);

#ifdef __cplusplus
}
#endif

#endif
