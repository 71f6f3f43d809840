/*
 * genet-stress: runs synthetic DAGs on the shared scheduler core and checks
 * every pass.
 *
 * Each task, when run, takes a start stamp and a finish stamp from one
 * global atomic clock (a ticket counter) and counts its runs. After each
 * pass: every task ran exactly once, and for every edge u -> v the start of
 * v is after the finish of u. That second check is sound with relaxed
 * stamps: u's finish add happens before u's release of v, which happens
 * before v's start add, and adds on one word are ordered consistently with
 * happens-before. For `grown`, the graph changes between passes from pools;
 * the check also accounts for every task the pools handed out (none lost,
 * none refused silently). Any violation is printed with the task and its
 * predecessor, and the exit status is 1.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "atomics.h"
#include "dag.h"
#include "error.h"
#include "genet/genet.h"
#include "pool.h"
#include "sched_cpu.h"
#include "stress_dag.h"
#include "gn_config.h"
#if GN_HAVE_CUDA
#include "device/stress_api.h"
#endif

#define MAX_PRINTED 20
#define MATH_N 32

enum work_kind { WORK_NONE, WORK_SPIN, WORK_MATH };

struct options {
    struct gn_stress_params shape;
    int passes;
    int threads;
    int main_waits;
    int hold;    /* finished tasks released at once (dag.h's hold) */
    int tickets; /* tickets reserved at once (gn_dag_tickets_of: unset, as many as hold) */
    int blocks_per_sm; /* cuda: worker blocks an SM; 0: as many as fit */
    enum work_kind work;
    uint64_t spin_ns;
    const char *work_text;
    const char *backend;
    uint32_t pool;      /* grown: new tasks the pool can hand out */
    uint32_t edge_pool; /* grown: new edges */
    uint32_t grow;      /* grown: duplications tried per pass */
    int have_pool, have_edge_pool, have_grow;
    uint64_t spin_limit;
    int json;
    int no_check; /* cuda: no stamps and no checks, for the pure scheduler rate */
};

/* What the tasks write: stamps and run counts, and each worker's math. */
struct stress {
    gn_atomic_u64 clock;
    uint32_t pad_clock_[14];
    gn_atomic_u32 *runs;    /* (tasks) runs in this pass */
    gn_atomic_u64 *start;   /* (tasks) clock at start, +1 (0 = never) */
    gn_atomic_u64 *finish;  /* (tasks) clock at finish, +1 */
    enum work_kind work;
    uint64_t spin_ns;
    float weights[MATH_N * MATH_N];
    float *sinks; /* (workers * 16) one line per worker */
};

struct totals {
    uint64_t tasks_run;
    uint64_t violations;
    uint64_t printed;
    uint64_t spins;
    uint64_t pushed;
    uint32_t high_water;
    double seconds;
    double grow_seconds;
    double take_ns, run_ns, finish_ns; /* cuda: worker time, summed */
#if GN_HAVE_CUDA
    double part_ns[GN_STRESS_PART_COUNT]; /* finish_ns's parts, where the build times them */
    int parts;
#endif
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Print text word-wrapped to 79 columns, continuation lines indented. */
static void print_wrapped(FILE *f, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ' ');
        int len = end ? (int)(end - p) : (int)strlen(p);
        if (col + 1 + len > 79 && col > indent) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (p != text) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", len, p);
        col += len;
        p += len;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: genet-stress [options]\n"
            "\n"
            "Runs a synthetic DAG of tasks on the genet-rt scheduler core (ready queue,\n"
            "atomic dependency counters, pools) for a number of passes, and checks each\n"
            "pass: every task ran exactly once, and started only after all of its\n"
            "predecessors finished (stamps from one global atomic clock). Violations are\n"
            "printed with the task and the predecessor; the exit status is then 1.\n"
            "\n"
            "Shape:\n"
            "  --shape S       the DAG (default layered):\n");
    for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++) {
        fprintf(f, "                    %-9s", gn_stress_shape_name((enum gn_stress_shape)i));
        print_wrapped(f, gn_stress_shape_help((enum gn_stress_shape)i), 29, 29);
    }
    fprintf(f,
            "  --tasks N       tasks in the DAG, exactly (default 100000; at most %u)\n"
            "  --width W       tasks per level (layered, grown, diamond), window/4 (random)\n"
            "                  (default 64)\n"
            "  --fanin K       predecessors per task (layered, grown, random: up to K),\n"
            "                  children per parent (tree) (default 4, at most 1024)\n"
            "  --levels L      layered, grown, diamond: width = ceil(tasks / L) instead\n"
            "  --seed S        the seed of every random choice (default 1)\n"
            "\n"
            "Growth (--shape grown; before every pass but the first):\n"
            "  --pool N        new tasks the task pool can hand out (default tasks/8)\n"
            "  --edge-pool N   new edges the edge pool can hand out (default 2*(fanin+1)*pool)\n"
            "  --grow N        duplications tried per pass (default 2*pool/(passes-1), so\n"
            "                  the pool fills about halfway and later ones are refused)\n"
            "\n"
            "Run:\n"
            "  --backend B     cpu (default), or cuda (the same core in a cooperative kernel)\n"
            "  --threads N     worker threads (default: the cores online)\n"
            "  --main-waits    the calling thread only waits (default: it is worker 0)\n"
            "  --hold N        each worker releases N finished tasks together, under one\n"
            "                  fence, and reserves N tickets with one add on the queue's\n"
            "                  head (1 to %u; default 1: a release a task, a ticket a pop)\n"
            "  --tickets N     tickets a worker reserves at once, apart from --hold\n"
            "  --blocks-per-sm N  cuda: worker blocks (8 warps each) an SM, at most as many\n"
            "                  as fit (default: as many as fit)\n"
            "  --passes P      passes over the DAG (default 3)\n"
            "  --work W        per-task work: none (default), spin:NS (busy-wait NS\n"
            "                  nanoseconds), math (a %dx%d matrix-vector product + ReLU)\n"
            "  --spin-limit N  spins without progress before a wait gives up and the run\n"
            "                  fails (default %llu; spins past the first 65536 sleep ~50 us\n"
            "                  each, so that is one to two minutes)\n"
            "\n"
            "Output:\n"
            "  --no-check      cuda only: run without the per-task stamps and skip the checks,\n"
            "                  to time the scheduler alone (violations are then not counted)\n"
            "  --json          one JSON object on stdout (tasks, edges, passes, violations,\n"
            "                  tasks_per_s, ns_per_task, hop_ns for chain, queue, grow...)\n"
            "  --help          this text\n"
            "\n"
            "Otherwise a summary: tasks per second over the passes' wall time (arming\n"
            "included, generation and checks not), the time per dependent hop for\n"
            "--shape chain (wall time / chain length), and queue statistics. A pass that\n"
            "takes over a second prints a progress line on stderr.\n"
            "Exit status: 0 all checks passed, 1 a violation or a runtime error, 2 usage.\n",
            (uint32_t)GN_QUEUE_MAX_TASKS, GN_DAG_HOLD_MAX, MATH_N, MATH_N,
            (unsigned long long)GN_QUEUE_SPIN_LIMIT);
}

static int parse_u64(const char *opt, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || !end || end == text || *end || text[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "genet-stress: %s '%s': expected an integer from %llu to %llu\n", opt,
                text, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u32(const char *opt, const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(opt, text, lo, hi, &v))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_work(const char *text, struct options *o)
{
    o->work_text = text;
    if (strcmp(text, "none") == 0) {
        o->work = WORK_NONE;
        return 0;
    }
    if (strcmp(text, "math") == 0) {
        o->work = WORK_MATH;
        return 0;
    }
    if (strncmp(text, "spin:", 5) == 0) {
        o->work = WORK_SPIN;
        return parse_u64("--work spin:", text + 5, 0, 60000000000ull, &o->spin_ns);
    }
    fprintf(stderr, "genet-stress: --work '%s': expected none, spin:NS or math\n", text);
    return -1;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum { O_SHAPE = 256, O_TASKS, O_WIDTH, O_FANIN, O_LEVELS, O_SEED, O_POOL, O_EDGE_POOL,
           O_GROW, O_BACKEND, O_THREADS, O_MAIN_WAITS, O_PASSES, O_WORK, O_SPIN_LIMIT, O_JSON,
           O_HELP, O_NO_CHECK, O_HOLD, O_TICKETS, O_BLOCKS };
    static const struct option longopts[] = {
        {"shape", required_argument, NULL, O_SHAPE},
        {"tasks", required_argument, NULL, O_TASKS},
        {"width", required_argument, NULL, O_WIDTH},
        {"fanin", required_argument, NULL, O_FANIN},
        {"levels", required_argument, NULL, O_LEVELS},
        {"seed", required_argument, NULL, O_SEED},
        {"pool", required_argument, NULL, O_POOL},
        {"edge-pool", required_argument, NULL, O_EDGE_POOL},
        {"grow", required_argument, NULL, O_GROW},
        {"backend", required_argument, NULL, O_BACKEND},
        {"threads", required_argument, NULL, O_THREADS},
        {"main-waits", no_argument, NULL, O_MAIN_WAITS},
        {"hold", required_argument, NULL, O_HOLD},
        {"tickets", required_argument, NULL, O_TICKETS},
        {"blocks-per-sm", required_argument, NULL, O_BLOCKS},
        {"passes", required_argument, NULL, O_PASSES},
        {"work", required_argument, NULL, O_WORK},
        {"spin-limit", required_argument, NULL, O_SPIN_LIMIT},
        {"json", no_argument, NULL, O_JSON},
        {"no-check", no_argument, NULL, O_NO_CHECK},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    gn_stress_default_params(&o->shape);
    o->passes = 3;
    o->threads = 0;
    o->hold = 1;
    o->work = WORK_NONE;
    o->work_text = "none";
    o->backend = "cpu";
    o->spin_limit = GN_QUEUE_SPIN_LIMIT;

    int c;
    uint32_t v32 = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_SHAPE:
            if (gn_stress_shape_parse(optarg, &o->shape.shape) != GN_OK) {
                fprintf(stderr, "genet-stress: --shape '%s': expected one of", optarg);
                for (int i = 0; i < GN_STRESS_SHAPE_COUNT; i++)
                    fprintf(stderr, " %s", gn_stress_shape_name((enum gn_stress_shape)i));
                fprintf(stderr, "\n");
                bad = 1;
            }
            break;
        case O_TASKS:
            bad = parse_u32("--tasks", optarg, 1, GN_QUEUE_MAX_TASKS, &o->shape.tasks);
            break;
        case O_WIDTH:
            bad = parse_u32("--width", optarg, 1, UINT32_MAX, &o->shape.width);
            break;
        case O_FANIN:
            bad = parse_u32("--fanin", optarg, 1, 1024, &o->shape.fanin);
            break;
        case O_LEVELS:
            bad = parse_u32("--levels", optarg, 1, UINT32_MAX, &o->shape.levels);
            break;
        case O_SEED:
            bad = parse_u64("--seed", optarg, 0, UINT64_MAX, &o->shape.seed);
            break;
        case O_POOL:
            bad = parse_u32("--pool", optarg, 0, GN_QUEUE_MAX_TASKS, &o->pool);
            o->have_pool = 1;
            break;
        case O_EDGE_POOL:
            bad = parse_u32("--edge-pool", optarg, 0, UINT32_MAX / 2, &o->edge_pool);
            o->have_edge_pool = 1;
            break;
        case O_GROW:
            bad = parse_u32("--grow", optarg, 0, UINT32_MAX, &o->grow);
            o->have_grow = 1;
            break;
        case O_BACKEND:
            o->backend = optarg;
            if (strcmp(optarg, "cpu") != 0 && strcmp(optarg, "cuda") != 0) {
                fprintf(stderr, "genet-stress: --backend '%s': expected cpu or cuda\n", optarg);
                bad = 1;
            }
            break;
        case O_THREADS:
            bad = parse_u32("--threads", optarg, 1, 1024, &v32);
            o->threads = (int)v32;
            break;
        case O_MAIN_WAITS:
            o->main_waits = 1;
            break;
        case O_HOLD:
            bad = parse_u32("--hold", optarg, 1, GN_DAG_HOLD_MAX, &v32);
            o->hold = (int)v32;
            break;
        case O_TICKETS:
            bad = parse_u32("--tickets", optarg, 1, GN_DAG_HOLD_MAX, &v32);
            o->tickets = (int)v32;
            break;
        case O_BLOCKS:
            bad = parse_u32("--blocks-per-sm", optarg, 1, 64, &v32);
            o->blocks_per_sm = (int)v32;
            break;
        case O_PASSES:
            bad = parse_u32("--passes", optarg, 1, 1000000, &v32);
            o->passes = (int)v32;
            break;
        case O_WORK:
            bad = parse_work(optarg, o);
            break;
        case O_SPIN_LIMIT:
            bad = parse_u64("--spin-limit", optarg, 1, UINT64_MAX, &o->spin_limit);
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_NO_CHECK:
            o->no_check = 1;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            bad = 1;
            break;
        }
        if (bad) {
            fprintf(stderr, "genet-stress: see --help\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "genet-stress: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    o->tickets = (int)gn_dag_tickets_of((uint32_t)o->tickets, (uint32_t)o->hold);
    if (o->blocks_per_sm && strcmp(o->backend, "cuda") != 0) {
        fprintf(stderr, "genet-stress: --blocks-per-sm is for --backend cuda (the cpu backend's "
                        "workers are --threads)\n");
        return -1;
    }
    if (!o->have_pool)
        o->pool = o->shape.tasks / 8 ? o->shape.tasks / 8 : 1;
    if (!o->have_edge_pool) {
        uint64_t e = 2 * (uint64_t)(o->shape.fanin + 1) * o->pool;
        o->edge_pool = e < UINT32_MAX / 2 ? (uint32_t)e : UINT32_MAX / 2;
    }
    if (!o->have_grow) {
        uint64_t g = o->passes > 1 ? (2 * (uint64_t)o->pool + o->passes - 2) / (o->passes - 1) : 0;
        o->grow = g < UINT32_MAX ? (uint32_t)g : UINT32_MAX;
    }
    return 0;
}

static void spin_for(uint64_t ns)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        uint64_t d = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)b.tv_nsec -
                     (uint64_t)a.tv_nsec;
        if (d >= ns)
            return;
    }
}

static void do_math(struct stress *st, uint32_t task, int worker)
{
    float x[MATH_N], acc = 0.0f;
    for (int i = 0; i < MATH_N; i++)
        x[i] = (float)((task * 2654435761u + (uint32_t)i) & 1023) * (1.0f / 1024.0f);
    for (int j = 0; j < MATH_N; j++) {
        float y = 0.0f;
        for (int i = 0; i < MATH_N; i++)
            y += st->weights[j * MATH_N + i] * x[i];
        acc += y > 0.0f ? y : 0.0f;
    }
    st->sinks[worker * 16] += acc;
}

static void run_task(void *ctx, uint32_t task, int worker)
{
    struct stress *st = ctx;
    /* relaxed: see the file comment; the stamps' order comes from the
     * scheduler's release/acquire chain, and the clock is one word. */
    uint64_t t0 = gn_atomic_fetch_add_relaxed_u64(&st->clock, 1);
    gn_atomic_store_relaxed_u64(&st->start[task], t0 + 1);
    gn_atomic_fetch_add_relaxed_u32(&st->runs[task], 1);
    if (st->work == WORK_SPIN)
        spin_for(st->spin_ns);
    else if (st->work == WORK_MATH)
        do_math(st, task, worker);
    uint64_t t1 = gn_atomic_fetch_add_relaxed_u64(&st->clock, 1);
    gn_atomic_store_relaxed_u64(&st->finish[task], t1 + 1);
}

static void violation(struct totals *t, int pass, const char *fmt, ...) GN_PRINTF(3, 4);

static void violation(struct totals *t, int pass, const char *fmt, ...)
{
    t->violations++;
    if (t->printed++ >= MAX_PRINTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "genet-stress: violation in pass %d: ", pass);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void check_pass(struct stress *st, struct gn_dag *dag, const struct gn_sched_stats *ss,
                       int pass, struct totals *t)
{
    uint32_t n = dag->n_tasks;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = gn_atomic_load_relaxed_u32(&st->runs[i]);
        if (r != 1)
            violation(t, pass, "task %u ran %u times (expected once)", i, r);
    }
    for (uint32_t u = 0; u < n; u++) {
        uint64_t fu = gn_atomic_load_relaxed_u64(&st->finish[u]);
        for (uint32_t k = dag->succ_begin[u]; k < dag->succ_begin[u + 1]; k++) {
            uint32_t v = dag->succ[k];
            uint64_t sv = gn_atomic_load_relaxed_u64(&st->start[v]);
            if (fu == 0 || sv == 0)
                continue; /* a task that never ran is reported above */
            if (sv <= fu)
                violation(t, pass,
                          "task %u started at clock %" PRIu64 " before its predecessor %u "
                          "finished at clock %" PRIu64,
                          v, sv - 1, u, fu - 1);
        }
    }
    if (ss->tasks != n)
        violation(t, pass, "the scheduler ran %" PRIu64 " tasks, the DAG has %u", ss->tasks, n);
}

static void check_grower(struct gn_stress_grower *gr, struct gn_stress_graph *g, int pass,
                         struct totals *t)
{
    uint64_t used = gn_pool_used(&gr->tasks), eused = gn_pool_used(&gr->edges);
    if (used > gr->tasks.capacity || eused > gr->edges.capacity)
        violation(t, pass, "a pool counter is above its capacity (tasks %" PRIu64 "/%" PRIu64
                  ", edges %" PRIu64 "/%" PRIu64 ")",
                  used, gr->tasks.capacity, eused, gr->edges.capacity);
    if (used != g->n_tasks || gr->base_tasks + gr->copies + gr->splits != used)
        violation(t, pass,
                  "task pool handed out %" PRIu64 " tasks, the graph has %u, %u + %" PRIu64
                  " copies + %" PRIu64 " splits were made (a task was lost)",
                  used, g->n_tasks, gr->base_tasks, gr->copies, gr->splits);
    if (eused != g->n_edges)
        violation(t, pass, "edge pool handed out %" PRIu64 " edges, the graph has %u", eused,
                  g->n_edges);
    uint64_t counted = gn_pool_refusals(&gr->tasks) + gn_pool_refusals(&gr->edges);
    if (gr->tried != gr->copies + gr->splits + gr->refused || counted != gr->refused)
        violation(t, pass,
                  "duplications: %" PRIu64 " tried, %" PRIu64 " made, %" PRIu64
                  " refused, pools counted %" PRIu64 " refusals",
                  gr->tried, gr->copies + gr->splits, gr->refused, counted);
}

static json_t *report_json(const struct options *o, const struct gn_dag *dag,
                           const struct totals *t, double gen_s, int workers,
                           const struct gn_stress_grower *gr, int grown)
{
    double tps = t->seconds > 0 ? (double)t->tasks_run / t->seconds : 0.0;
    double ns = t->tasks_run ? 1e9 * t->seconds / (double)t->tasks_run : 0.0;
    json_t *j = json_object();
    json_object_set_new(j, "shape", json_string(gn_stress_shape_name(o->shape.shape)));
    json_object_set_new(j, "backend", json_string(o->backend));
    json_object_set_new(j, "tasks", json_integer(dag->n_tasks));
    json_object_set_new(j, "edges", json_integer(dag->n_edges));
    json_object_set_new(j, "passes", json_integer(o->passes));
    json_object_set_new(j, "threads", json_integer(workers));
    json_object_set_new(j, "hold", json_integer(o->hold));
    json_object_set_new(j, "tickets", json_integer(o->tickets));
    json_object_set_new(j, "work", json_string(o->work_text));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->shape.seed));
    json_object_set_new(j, "violations", json_integer((json_int_t)t->violations));
    json_object_set_new(j, "tasks_run", json_integer((json_int_t)t->tasks_run));
    json_object_set_new(j, "seconds", json_real(t->seconds));
    json_object_set_new(j, "tasks_per_s", json_real(tps));
    json_object_set_new(j, "ns_per_task", json_real(ns));
    if (o->shape.shape == GN_STRESS_CHAIN)
        json_object_set_new(j, "hop_ns", json_real(ns));
    json_object_set_new(j, "generate_seconds", json_real(gen_s));
    json_t *q = json_object();
    json_object_set_new(q, "high_water", json_integer(t->high_water));
    json_object_set_new(q, "spins", json_integer((json_int_t)t->spins));
    if (t->tasks_run && t->take_ns > 0) {
        json_object_set_new(q, "take_ns_per_task", json_real(t->take_ns / (double)t->tasks_run));
        json_object_set_new(q, "run_ns_per_task", json_real(t->run_ns / (double)t->tasks_run));
        json_object_set_new(q, "finish_ns_per_task", json_real(t->finish_ns / (double)t->tasks_run));
#if GN_HAVE_CUDA
        if (t->parts) {
            json_t *r = json_object();
            for (int i = 0; i < GN_STRESS_PART_COUNT; i++)
                json_object_set_new(r, gn_stress_part_name(i),
                                    json_real(t->part_ns[i] / (double)t->tasks_run));
            json_object_set_new(q, "finish_parts_ns_per_task", r);
        }
#endif
    }
    json_object_set_new(q, "pushed", json_integer((json_int_t)t->pushed));
    json_object_set_new(j, "queue", q);
    if (grown) {
        json_t *g = json_object();
        json_object_set_new(g, "base_tasks", json_integer(gr->base_tasks));
        json_object_set_new(g, "pool_capacity",
                            json_integer((json_int_t)(gr->tasks.capacity - gr->base_tasks)));
        json_object_set_new(g, "pool_used",
                            json_integer((json_int_t)(gn_pool_used((struct gn_pool *)&gr->tasks) -
                                                      gr->base_tasks)));
        json_object_set_new(g, "edge_pool_capacity",
                            json_integer((json_int_t)(gr->edges.capacity - gr->base_edges)));
        json_object_set_new(g, "edge_pool_used",
                            json_integer((json_int_t)(gn_pool_used((struct gn_pool *)&gr->edges) -
                                                      gr->base_edges)));
        json_object_set_new(g, "tried", json_integer((json_int_t)gr->tried));
        json_object_set_new(g, "copies", json_integer((json_int_t)gr->copies));
        json_object_set_new(g, "splits", json_integer((json_int_t)gr->splits));
        json_object_set_new(g, "refused", json_integer((json_int_t)gr->refused));
        json_object_set_new(g, "seconds", json_real(t->grow_seconds));
        json_object_set_new(j, "grow", g);
    }
    return j;
}

static int run(const struct options *o)
{
    int grown = o->shape.shape == GN_STRESS_GROWN;
    struct gn_stress_graph g;
    struct gn_stress_grower gr;
    struct gn_dag dag;
    struct stress *st = NULL;
    gn_sched *sched = NULL;
#if GN_HAVE_CUDA
    struct gn_cuda_stress *dev = NULL;
#endif
    struct totals t;
    int rc = 1;
    memset(&g, 0, sizeof g);
    memset(&gr, 0, sizeof gr);
    memset(&dag, 0, sizeof dag);
    memset(&t, 0, sizeof t);

    double t0 = now_s();
    enum gn_status s = gn_stress_generate(&g, &o->shape, grown ? o->edge_pool : 0);
    if (s == GN_OK)
        s = gn_stress_graph_to_dag(&g, &dag);
    if (s == GN_OK)
        s = gn_dag_check_acyclic(&dag);
    if (s == GN_OK && grown)
        s = gn_stress_grow_init(&gr, &g, o->pool);
    double gen_s = now_s() - t0;
    if (s != GN_OK)
        goto error;
    if (gen_s > 1.0)
        fprintf(stderr, "genet-stress: generated %u tasks, %u edges in %.2f s\n", dag.n_tasks,
                dag.n_edges, gen_s);

    uint64_t max_tasks = grown ? gr.tasks.capacity : g.n_tasks;
    size_t size = (sizeof *st + 63) & ~(size_t)63;
    st = aligned_alloc(64, size);
    if (!st) {
        s = gn_fail(GN_ERR_NOMEM, "no memory");
        goto error;
    }
    memset(st, 0, size);
    st->runs = calloc(max_tasks + 1, sizeof *st->runs);
    st->start = calloc(max_tasks + 1, sizeof *st->start);
    st->finish = calloc(max_tasks + 1, sizeof *st->finish);
    st->work = o->work;
    st->spin_ns = o->spin_ns;
    for (int i = 0; i < MATH_N * MATH_N; i++)
        st->weights[i] = (float)((i * 7919) % 201 - 100) * (1.0f / 400.0f);

    struct gn_sched_settings ss;
    gn_sched_default_settings(&ss);
    ss.threads = o->threads;
    ss.main_works = !o->main_waits;
    ss.spin_limit = o->spin_limit;
    ss.hold = o->hold;
    ss.tickets = o->tickets;
    if (s == GN_OK && (!st->runs || !st->start || !st->finish))
        s = gn_fail(GN_ERR_NOMEM, "no memory for %" PRIu64 " task records", max_tasks);
    int cuda = strcmp(o->backend, "cuda") == 0;
#if GN_HAVE_CUDA
    if (s == GN_OK && cuda) {
        char why[256];
        if (gn_backend_probe(GN_BACKEND_CUDA, why, sizeof why) != GN_OK) {
            s = gn_fail(GN_ERR_UNSUPPORTED, "--backend cuda: %s", why);
            goto error;
        }
    }
    if (s == GN_OK && cuda) {
        uint32_t cap_edges = grown ? g.cap_edges : g.n_edges;
        if (gn_cuda_stress_create(&dev, (uint32_t)max_tasks, cap_edges + 1, (int)o->work,
                                  o->spin_ns, !o->no_check, o->spin_limit, o->blocks_per_sm, o->hold,
                                  o->tickets) != GN_OK)
            s = gn_fail(GN_ERR_DEVICE, "%s", gn_cuda_stress_error(dev));
    }
#else
    if (s == GN_OK && cuda)
        s = gn_fail(GN_ERR_UNSUPPORTED, "--backend cuda: this build has no CUDA backend");
#endif
    if (s == GN_OK && !cuda)
        s = gn_sched_create(&sched, &ss);
    if (s != GN_OK)
        goto error;
#if GN_HAVE_CUDA
    int workers = cuda ? gn_cuda_stress_workers(dev) : gn_sched_workers(sched);
#else
    int workers = gn_sched_workers(sched);
#endif
    st->sinks = calloc((size_t)workers * 16, sizeof *st->sinks);
    if (!st->sinks) {
        s = gn_fail(GN_ERR_NOMEM, "no memory");
        goto error;
    }

    for (int pass = 1; pass <= o->passes; pass++) {
        if (grown && pass > 1) {
            double g0 = now_s();
            s = gn_stress_grow(&gr, &g, o->grow, o->shape.seed, (uint32_t)pass);
            if (s == GN_OK)
                s = gn_stress_graph_to_dag(&g, &dag);
            t.grow_seconds += now_s() - g0;
            if (s != GN_OK)
                goto error;
        }
        uint32_t n = dag.n_tasks;
        memset((void *)st->runs, 0, (size_t)n * sizeof *st->runs);
        memset((void *)st->start, 0, (size_t)n * sizeof *st->start);
        memset((void *)st->finish, 0, (size_t)n * sizeof *st->finish);

        struct gn_sched_stats ps;
#if GN_HAVE_CUDA
        if (cuda) {
            struct gn_cuda_stress_stats cs;
            if (gn_cuda_stress_pass(dev, &dag, &cs) != GN_OK ||
                gn_cuda_stress_fetch(dev, n, (uint32_t *)st->runs, (uint64_t *)st->start,
                                     (uint64_t *)st->finish) != GN_OK) {
                s = gn_fail(GN_ERR_DEVICE, "%s", gn_cuda_stress_error(dev));
                goto error;
            }
            memset(&ps, 0, sizeof ps);
            ps.tasks = cs.tasks;
            ps.pushed = cs.pushed;
            ps.spins = cs.spins;
            ps.high_water = cs.high_water;
            ps.workers = cs.workers;
            ps.seconds = cs.seconds;
            t.take_ns += cs.take_ns;
            t.run_ns += cs.run_ns;
            t.finish_ns += cs.finish_ns;
            t.parts = cs.parts;
            for (int i = 0; i < GN_STRESS_PART_COUNT; i++) t.part_ns[i] += cs.part_ns[i];
        } else
#endif
        {
            s = gn_sched_run_pass(sched, &dag, run_task, st);
            if (s != GN_OK)
                goto error;
            gn_sched_last_stats(sched, &ps);
        }
        t.tasks_run += ps.tasks;
        t.seconds += ps.seconds;
        t.spins += ps.spins;
        t.pushed += ps.pushed;
        if (ps.high_water > t.high_water)
            t.high_water = ps.high_water;
        uint64_t before = t.violations;
        if (!(cuda && o->no_check))
            check_pass(st, &dag, &ps, pass, &t);
        if (grown)
            check_grower(&gr, &g, pass, &t);
        if (ps.seconds > 1.0)
            fprintf(stderr,
                    "genet-stress: pass %d/%d: %u tasks in %.2f s (%.2f M tasks/s), "
                    "%" PRIu64 " violations\n",
                    pass, o->passes, n, ps.seconds, 1e-6 * (double)ps.tasks / ps.seconds,
                    t.violations - before);
    }
    if (t.printed > MAX_PRINTED)
        fprintf(stderr, "genet-stress: ... and %" PRIu64 " more violations\n",
                t.printed - MAX_PRINTED);

    if (o->json) {
        json_t *j = report_json(o, &dag, &t, gen_s, workers, &gr, grown);
        json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        double tps = t.seconds > 0 ? (double)t.tasks_run / t.seconds : 0.0;
        double ns = t.tasks_run ? 1e9 * t.seconds / (double)t.tasks_run : 0.0;
        printf("shape %s: %u tasks, %u edges, %d passes, %d threads, work %s", gn_stress_shape_name(o->shape.shape),
               dag.n_tasks, dag.n_edges, o->passes, workers, o->work_text);
        if (o->hold > 1 || o->tickets > 1)
            printf(", hold %d, tickets %d", o->hold, o->tickets);
        printf("\n");
        printf("generated in %.3f s\n", gen_s);
        printf("ran %" PRIu64 " tasks in %.3f s: %.0f tasks/s, %.1f ns per task\n", t.tasks_run,
               t.seconds, tps, ns);
        if (o->shape.shape == GN_STRESS_CHAIN)
            printf("chain: %.1f ns per dependent hop\n", ns);
#if GN_HAVE_CUDA
        if (cuda && o->shape.shape == GN_STRESS_CHAIN) {
            double ln = 0, gr_ns = 0;
            uint32_t nb = dag.n_tasks < 100000 ? dag.n_tasks : 100000;
            if (gn_cuda_hop_baselines(dev, nb, &ln, &gr_ns) == GN_OK)
                printf("chain baselines (%u steps): %.1f ns per kernel launch, %.1f ns per CUDA "
                       "graph node\n",
                       nb, ln, gr_ns);
        }
#endif
        printf("queue: high water %u ready tasks, %" PRIu64 " pushes, %" PRIu64 " wait spins\n",
               t.high_water, t.pushed, t.spins);
        if (cuda && t.tasks_run)
            printf("worker time per task (summed over workers, SM clock): take %.1f ns, run "
                   "%.1f ns, finish %.1f ns\n",
                   t.take_ns / (double)t.tasks_run, t.run_ns / (double)t.tasks_run,
                   t.finish_ns / (double)t.tasks_run);
#if GN_HAVE_CUDA
        if (cuda && t.tasks_run && t.parts) {
            printf("finish's parts per task:");
            for (int i = 0; i < GN_STRESS_PART_COUNT; i++)
                printf("%s %s %.1f ns", i ? "," : "", gn_stress_part_name(i),
                       t.part_ns[i] / (double)t.tasks_run);
            printf("\n");
        }
#endif
        if (grown)
            printf("grown: %u -> %u tasks (pool %" PRIu64 "/%" PRIu64 "), %" PRIu64
                   " copies, %" PRIu64 " splits, %" PRIu64 " refused of %" PRIu64 " tried\n",
                   gr.base_tasks, g.n_tasks, gn_pool_used(&gr.tasks) - gr.base_tasks,
                   gr.tasks.capacity - gr.base_tasks, gr.copies, gr.splits, gr.refused,
                   gr.tried);
        printf("violations: %" PRIu64 "\n", t.violations);
    }
    rc = t.violations ? 1 : 0;
    goto done;

error:
    fprintf(stderr, "genet-stress: %s: %s\n", gn_status_str(s), gn_error_message());
    rc = 1;
done:
    gn_sched_destroy(sched);
#if GN_HAVE_CUDA
    gn_cuda_stress_destroy(dev);
#endif
    if (st) {
        free((void *)st->runs);
        free((void *)st->start);
        free((void *)st->finish);
        free(st->sinks);
        free(st);
    }
    gn_dag_free(&dag);
    gn_stress_grow_free(&gr);
    gn_stress_graph_free(&g);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o))
        return 2;
    return run(&o);
}
