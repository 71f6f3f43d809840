/*
 * The trainer: settings, backend choice, the run plan, the start graph,
 * minibatch assembly, the host training loop for step-driven backends,
 * evaluation, checkpoints, traces and live counters.
 *
 * Loop: for each epoch, a seeded permutation of the training set; for each
 * minibatch of it (the last one may be short), assemble rows, run one
 * backend step (growth on every grow_every-th step), update the running
 * loss and accuracy, report progress; at the epoch's end evaluate the test
 * set. --steps stops the run early, counted from the start of the run. A
 * whole-run backend (cuda) runs the loop itself, fed by the same minibatch
 * assembly (load_step) and reporting through report().
 *
 * Inputs: the training statistics of --normalize (normalize.h) are fitted
 * at open from the training examples in use, or taken from the checkpoint
 * being resumed; unless the mode is none, the trainer then holds normalized
 * copies of those examples and of the test set, and the backend sees only
 * the copies. The caller's data stay raw: the checkpoint CRC is of them, and
 * gn_trainer_evaluate normalizes the rows it is given.
 *
 * The backend sees only t->io (backend.h); whatever its open did, close
 * runs at gn_trainer_close.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "data.h"
#include "error.h"
#include "graphfile.h"
#include "hostmem.h"
#include "normalize.h"
#include "numguard.h"
#include "plan.h"
#include "poller.h"
#include "ring.h"
#include "rng.h"
#include "trace.h"
#include "trainer.h"

struct gn_trainer {
    struct gn_settings s;
    struct gn_plan plan;
    const struct gn_data *train, *test; /* what the backend trains on: the copies, or raw */
    const struct gn_data *raw_train;    /* the caller's training set */
    struct gn_norm norm;                /* the run's input normalization */
    struct gn_data ntrain, ntest;       /* the normalized copies (mode none: empty) */
    enum gn_backend backend;
    char backend_reason[256];
    const struct gn_backend_ops *ops;
    void *bctx;              /* the backend's context */
    struct gn_backend_io io; /* what the backend is handed */
    struct gn_profile profile;
    struct gn_setup setup; /* gn_trainer_open's parts */

    struct gn_model m;
    struct gn_buffers buf;
    float *xbatch;      /* (batch, inputs): the assembled minibatch */
    uint8_t *ybatch;    /* (batch) */
    int32_t *perm;      /* (n_train): the order of epoch perm_epoch */
    int64_t perm_epoch; /* -1: none yet */
    int64_t grow_round;

    struct gn_counters c;
    struct gn_progress last;
    gn_progress_fn progress; /* gn_trainer_run's callback, for report() */
    void *progress_ctx;
    gn_atomic_u32 stop; /* set by gn_trainer_request_stop (async-signal safe: lock-free) */
    int64_t t0_ns;

    double *loss_log;  /* mean loss of each step, the first loss_log_len steps */
    int64_t *time_log; /* ns since the run started, at the end of each step */
    int64_t loss_log_len;

    /* the counters as last published, for the poller thread */
    pthread_mutex_t pub_lock;
    struct gn_counters pub;

    /* the stats ring and its poller (NULL when off) */
    struct gn_ring *ring;
    struct gn_poller *poller;
    int64_t sample_ns, sample_tasks; /* the poller's previous sample */

    struct gn_grow_log events; /* growth events of the last step, for traces */
    struct gn_trace *trace;    /* the growth trace (NULL when off) */

    /* The epoch's running sums (checkpointed: a resumed run starts mid-epoch
     * with them), steps discarded by --on-nan skip, the model as it was
     * before the step (--on-nan skip only), the training data's CRC32 (set
     * when checkpoints are written or read), the last checkpoint's step. */
    struct gn_epoch_sums ep;
    int64_t skipped;
    int32_t dead_epochs; /* epoch ends in a row that looked dead (numguard.h) */
    int32_t died;        /* the network died (reported; --on-nan skip goes on) */
    struct gn_snapshot *snap;
    uint32_t data_crc;
    int64_t ckpt_step;
};

static void publish(struct gn_trainer *t)
{
    pthread_mutex_lock(&t->pub_lock);
    t->pub = t->c;
    pthread_mutex_unlock(&t->pub_lock);
}

/* Whether --backend auto tries the cuda backend under s: always for a
 * tensor-core precision; for fp32 only with one rank and no --trace (ranks
 * and the trace's reference are the host backends'). choose_backend's rule,
 * which gn_settings_warm follows. */
static int auto_may_pick_cuda(const struct gn_settings *s)
{
    return s->precision != GN_PRECISION_FP32 || (s->ranks <= 1 && !s->trace_path);
}

void gn_settings_warm(const struct gn_settings *s)
{
    if (s->backend == GN_BACKEND_CUDA || (s->backend == GN_BACKEND_AUTO && auto_may_pick_cuda(s)))
        gn_backend_warm(GN_BACKEND_CUDA, (int)s->precision);
}

static enum gn_status choose_backend(struct gn_trainer *t)
{
    enum gn_backend want = t->s.backend;
    char why[256] = "";
    if (want == GN_BACKEND_AUTO) {
        /* --trace: auto keeps to the host backends, whose traces are the
         * checked reference (--backend cuda traces from inside the kernel) */
        int usable = gn_backend_probe(GN_BACKEND_CUDA, why, sizeof why) == GN_OK;
        if (t->s.precision != GN_PRECISION_FP32) {
            /* tf32 and bf16 are the tensor cores' (check_settings) */
            if (!usable)
                return gn_fail(GN_ERR_UNSUPPORTED,
                               "--precision %s needs the cuda backend, and it cannot run here: "
                               "%s",
                               gn_precision_name(t->s.precision), why);
            t->backend = GN_BACKEND_CUDA;
            snprintf(t->backend_reason, sizeof t->backend_reason,
                     "--precision %s: GPU found: %.180s", gn_precision_name(t->s.precision), why);
            t->ops = gn_backend_ops_of(t->backend);
            return GN_OK;
        }
        if (usable && t->s.ranks > 1)
            return gn_fail(GN_ERR_UNSUPPORTED,
                           "--ranks %d: a GPU was found, but data-parallel training on GPUs "
                           "needs --gpus and a multi-GPU machine, which are not built yet; "
                           "--ranks simulates ranks on the host backends (--backend cpu or "
                           "serial)",
                           t->s.ranks);
        if (t->s.ranks > 1) {
            t->backend = gn_backend_ops_of(GN_BACKEND_CPU) ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
            snprintf(t->backend_reason, sizeof t->backend_reason,
                     "--ranks picks a host backend: %s", gn_backend_name(t->backend));
        } else if (usable && auto_may_pick_cuda(&t->s)) {
            t->backend = GN_BACKEND_CUDA;
            snprintf(t->backend_reason, sizeof t->backend_reason, "GPU found: %.200s", why);
        } else {
            t->backend = gn_backend_ops_of(GN_BACKEND_CPU) ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
            snprintf(t->backend_reason, sizeof t->backend_reason, "%.200s; using the %s backend",
                     usable ? "--trace picks a host backend (--backend cuda traces too)" : why,
                     gn_backend_name(t->backend));
        }
    } else {
        if (gn_backend_probe(want, why, sizeof why) != GN_OK)
            return gn_fail(GN_ERR_UNSUPPORTED, "--backend %s: %s", gn_backend_name(want), why);
        t->backend = want;
        snprintf(t->backend_reason, sizeof t->backend_reason, "asked for with --backend %s",
                 gn_backend_name(want));
    }
    t->ops = gn_backend_ops_of(t->backend);
    return GN_OK;
}

/* Threads at most for the normalized copies: their time is the first
 * touch of fresh pages, whose faults contend in the kernel as threads are
 * added. On the GPU host (16 vCPUs of a virtual machine), Fashion-MNIST's
 * copies (219 MB) took 0.028-0.029 s on 4 threads, 0.042-0.050 on 8 and
 * 0.043-0.059 on 16 (docs/PERF.md, twenty-third round); the fit, which
 * only reads, keeps every thread (GN_NORM_MAX_THREADS). */
#define GN_NORM_COPY_THREADS 4

/* Threads for fitting or applying the normalization to `values` values: the
 * cpu backend's worker count (--threads, or the processors online), at most
 * cap; one for less than a million values, where starting them costs more
 * than they save. */
static int32_t norm_threads(const struct gn_trainer *t, int64_t values, int32_t cap)
{
    if (values < (1 << 20)) return 1;
    const int32_t n = gn_plan_cpu_workers(t->s.threads);
    return n > cap ? cap : n;
}

/* A normalized copy of the first rows rows of d into out. */
static enum gn_status normalized_copy(const struct gn_trainer *t, struct gn_data *out,
                                      const struct gn_data *d, int64_t rows,
                                      const struct gn_norm *norm)
{
    enum gn_status st = gn_data_alloc(out, rows, d->features, "the normalized data");
    if (st) return st;
    if (rows > 0) {
        gn_norm_apply_threads(norm, d->x, out->x, rows,
                              norm_threads(t, rows * d->features, GN_NORM_COPY_THREADS));
        memcpy(out->y, d->y, (size_t)rows);
    }
    out->classes = d->classes;
    return GN_OK;
}

/* The normalized copies the backend trains and tests on (mode none: the
 * caller's data themselves). */
static enum gn_status normalize_data(struct gn_trainer *t, const struct gn_data *test)
{
    if (t->norm.mode == GN_NORMALIZE_NONE) return GN_OK;
    enum gn_status st =
        normalized_copy(t, &t->ntrain, t->raw_train, t->plan.n_train, &t->norm);
    if (st) return st;
    t->train = &t->ntrain;
    if (test && test->count > 0) {
        if ((st = normalized_copy(t, &t->ntest, test, test->count, &t->norm))) return st;
        t->test = &t->ntest;
    }
    return GN_OK;
}

enum gn_status gn_settings_check(const struct gn_settings *s)
{
    if (s->group_size < 1 || s->group_size > 1024)
        return gn_fail(GN_ERR_INVALID, "--group-size must be in 1..1024 (got %d)", s->group_size);
    if (s->batch < 1 || s->batch > 65536)
        return gn_fail(GN_ERR_INVALID, "--batch must be in 1..65536 (got %d)", s->batch);
    if (s->epochs < 0 || s->steps < 0 || s->limit_train < 0)
        return gn_fail(GN_ERR_INVALID, "--epochs, --steps and --limit-train must be >= 0");
    if (!(s->lr > 0.0f) || !isfinite(s->lr))
        return gn_fail(GN_ERR_INVALID, "--lr must be a positive number");
    if (!(s->momentum >= 0.0f && s->momentum < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--momentum must be in [0, 1)");
    if (!(s->weight_decay >= 0.0f) || !isfinite(s->weight_decay))
        return gn_fail(GN_ERR_INVALID, "--weight-decay must be >= 0");
    if (s->optimizer < GN_OPTIM_SGD || s->optimizer > GN_OPTIM_ADAMW)
        return gn_fail(GN_ERR_INVALID, "--optimizer must be sgd, adam or adamw (got %d)",
                       (int)s->optimizer);
    if (!(s->beta1 >= 0.0f && s->beta1 < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--beta1 must be in [0, 1) (got %g)", (double)s->beta1);
    if (!(s->beta2 >= 0.0f && s->beta2 < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--beta2 must be in [0, 1) (got %g)", (double)s->beta2);
    if (!(s->eps > 0.0f) || !isfinite(s->eps))
        return gn_fail(GN_ERR_INVALID, "--eps must be a positive number (got %g)", (double)s->eps);
    if (s->lr_schedule < GN_LR_CONSTANT || s->lr_schedule > GN_LR_STEP)
        return gn_fail(GN_ERR_INVALID, "--lr-schedule must be constant, cosine or step (got %d)",
                       (int)s->lr_schedule);
    if (s->lr_warmup < 0 || s->lr_step_every < 0)
        return gn_fail(GN_ERR_INVALID, "--warmup and --lr-step-every must be >= 0");
    if (s->lr_schedule == GN_LR_STEP && s->lr_step_every < 1)
        return gn_fail(GN_ERR_INVALID, "--lr-schedule step needs --lr-step-every N (N >= 1): "
                                       "the steps between two decays");
    if (!(s->lr_gamma > 0.0f && s->lr_gamma <= 1.0f))
        return gn_fail(GN_ERR_INVALID, "--lr-gamma must be in (0, 1] (got %g)",
                       (double)s->lr_gamma);
    if (!(s->lr_min >= 0.0f && s->lr_min <= s->lr))
        return gn_fail(GN_ERR_INVALID, "--lr-min must be in [0, --lr] (got %g, --lr %g)",
                       (double)s->lr_min, (double)s->lr);
    if (s->grow_every < 0) return gn_fail(GN_ERR_INVALID, "--grow-every must be >= 1");
    if (s->grow_criterion != GN_GROW_CRITERION_STD &&
        s->grow_criterion != GN_GROW_CRITERION_RELATIVE)
        return gn_fail(GN_ERR_INVALID, "--grow-criterion must be std or relative");
    if (!(s->grow_threshold >= 0.0f)) return gn_fail(GN_ERR_INVALID, "--grow-threshold must be >= 0");
    if (!(s->grow_ratio >= 0.0f) || !isfinite(s->grow_ratio))
        return gn_fail(GN_ERR_INVALID, "--grow-ratio must be a number >= 0");
    if (!(s->grow_noise >= 0.0f && s->grow_noise < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--grow-noise must be in [0, 1)");
    if (!(s->prune_threshold >= 0.0f) || !isfinite(s->prune_threshold))
        return gn_fail(GN_ERR_INVALID, "--prune-threshold must be a number >= 0");
    if (s->prune_after < 1) return gn_fail(GN_ERR_INVALID, "--prune-after must be >= 1");
    if (s->ranks < 1 || s->ranks > s->batch)
        return gn_fail(GN_ERR_INVALID,
                       "--ranks must be in 1..%d (--batch): every rank takes a share of the "
                       "minibatch's rows (got %d)",
                       s->batch, s->ranks);
    if (s->ranks > 1 && s->backend == GN_BACKEND_CUDA)
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "--ranks %d with --backend cuda: data-parallel training on GPUs needs "
                       "--gpus and a multi-GPU machine, which are not built yet; --ranks "
                       "simulates ranks on the host backends (--backend cpu or serial)",
                       s->ranks);
    if (s->ranks > 1 && s->prune_threshold > 0.0f)
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "--ranks %d with --prune-threshold: pruning scores each group over the "
                       "whole minibatch's activations, which no rank holds; not combined yet",
                       s->ranks);
    if (s->max_groups < 0 || s->max_edges < 0 || s->max_params < 0 || s->threads < 0 ||
        s->tile < 0)
        return gn_fail(GN_ERR_INVALID, "pool sizes, --threads and --tile must be >= 0");
    if (s->checkpoint_every < 0) return gn_fail(GN_ERR_INVALID, "--checkpoint-every must be >= 0");
    if (s->checkpoint_every > 0 && !s->checkpoint_path)
        return gn_fail(GN_ERR_INVALID, "--checkpoint-every needs --checkpoint FILE");
    if (s->on_nan != GN_NAN_STOP && s->on_nan != GN_NAN_SKIP)
        return gn_fail(GN_ERR_INVALID, "--on-nan must be stop or skip");
    if (s->normalize < GN_NORMALIZE_NONE || s->normalize > GN_NORMALIZE_SCALE)
        return gn_fail(GN_ERR_INVALID, "--normalize must be standard, minmax, scale or none");
    if (s->cuda_timeout_scale < 0 || s->cuda_timeout_scale > 100000)
        return gn_fail(GN_ERR_INVALID, "--cuda-timeout-scale wants 1..100000, got %d",
                       s->cuda_timeout_scale);
    if (s->precision < GN_PRECISION_FP32 || s->precision > GN_PRECISION_BF16)
        return gn_fail(GN_ERR_INVALID, "--precision must be fp32, tf32 or bf16");
    if (s->precision != GN_PRECISION_FP32 && s->ranks > 1)
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "--precision %s with --ranks %d: the tensor cores are the cuda "
                       "backend's, the simulated ranks the host backends'",
                       gn_precision_name(s->precision), s->ranks);
    if (s->precision != GN_PRECISION_FP32 &&
        (s->backend == GN_BACKEND_SERIAL || s->backend == GN_BACKEND_CPU))
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "--precision %s runs on the cuda backend's tensor cores; the %s backend "
                       "computes fp32 only (the exact reference)",
                       gn_precision_name(s->precision), gn_backend_name(s->backend));
    if (s->cuda_inject_stuck < 0 || s->cuda_blocks_per_sm < 0)
        return gn_fail(GN_ERR_INVALID, "--cuda-inject-stuck and --cuda-blocks-per-sm must be >= 0");
    if (s->cuda_stream_data != 0 && s->cuda_stream_data != 1)
        return gn_fail(GN_ERR_INVALID, "cuda_stream_data must be 0 or 1 (got %d)",
                       s->cuda_stream_data);
    if (s->backend != GN_BACKEND_AUTO && !gn_backend_ops_of(s->backend))
        return gn_fail(GN_ERR_UNSUPPORTED, "the %s backend is not available in this build",
                       gn_backend_name(s->backend));
    return GN_OK;
}

/* The host memory the run will allocate, checked against MemAvailable
 * before anything large is allocated (hostmem.h). */
static enum gn_status check_host_memory(const struct gn_trainer *t)
{
    const struct gn_plan *p = &t->plan;
    const double mib = 1024.0 * 1024.0;
    /* parameters, gradients and the two moments */
    double pools = 4.0 * 4.0 * (double)p->max_params + 60.0 * p->max_groups + 24.0 * p->max_edges;
    if (t->s.on_nan == GN_NAN_SKIP) pools *= 2.0; /* the snapshot */
    double acts = 2.0 * 4.0 * (double)p->max_groups * p->batch * p->max_width;
    double rest = 4.0 * (double)p->batch * p->inputs + 4.0 * (double)p->n_train +
                  16.0 * GN_LOSS_LOG;
    if (t->norm.mode != GN_NORMALIZE_NONE) /* the normalized copies */
        rest += 4.0 * (double)p->inputs * (double)(p->n_train + p->test_count);
    if (p->ranks > 1) { /* ranks.c: the replicas, the ranks' buffers, the reducer's stage */
        pools += 4.0 * 4.0 * (double)p->max_params * (p->ranks - 1) +
                 (60.0 * p->max_groups + 24.0 * p->max_edges) * (p->ranks - 1);
        acts += 2.0 * 4.0 * (double)p->max_groups * p->ranks *
                (double)((p->batch + p->ranks - 1) / p->ranks) * p->max_width;
        rest += 4.0 * (double)p->max_params;
    }
    char detail[256];
    snprintf(detail, sizeof detail,
             "pools of %d groups, %d edges and %lld parameters: %.1f MiB%s%s; activations for a "
             "batch of %d: %.1f MiB; minibatch and logs: %.1f MiB",
             p->max_groups, p->max_edges, (long long)p->max_params, pools / mib,
             t->s.on_nan == GN_NAN_SKIP ? " (twice: --on-nan skip keeps a copy)" : "",
             p->ranks > 1 ? " (a replica per rank)" : "", p->batch, acts / mib, rest / mib);
    return gn_hostmem_check(pools + acts + rest, detail);
}

/* The run's position, as a checkpoint holds it. */
static struct gn_run_pos run_pos(const struct gn_trainer *t)
{
    struct gn_run_pos pos = {
        .step = t->c.step,
        .epoch = t->c.epoch,
        .grow_round = t->grow_round,
        .skipped = t->skipped,
        .ep_loss = t->ep.loss,
        .ep_hits = t->ep.hits,
        .ep_seen = t->ep.seen,
        .guard = t->dead_epochs,
    };
    return pos;
}

static enum gn_status write_checkpoint(struct gn_trainer *t, const char *path)
{
    struct gn_run_pos pos = run_pos(t);
    return gn_checkpoint_write(path, &t->plan, t->data_crc, &t->norm, &t->m, &pos, &t->last);
}

/* A whole-run backend's periodic checkpoint (gn_backend_snapshot_fn): the
 * model it copied at the end of `step`, written as write_checkpoint would
 * have written the trainer's at that step. */
static enum gn_status snapshot_checkpoint(void *ctx, const struct gn_model *m, int64_t step,
                                          int64_t grow_round, const struct gn_epoch_sums *sums)
{
    struct gn_trainer *t = ctx;
    struct gn_run_pos pos = {
        .step = step,
        .epoch = step / t->plan.steps_per_epoch,
        .grow_round = grow_round,
        .skipped = t->skipped,
        .ep_loss = sums->loss,
        .ep_hits = sums->hits,
        .ep_seen = sums->seen,
        .guard = sums->guard,
    };
    enum gn_status st =
        gn_checkpoint_write(t->s.checkpoint_path, &t->plan, t->data_crc, &t->norm, m, &pos, &t->last);
    if (!st) t->ckpt_step = step;
    return st;
}

/* --resume: the checkpoint must belong to this run; then it becomes the
 * trainer's state (before the backend opens, so the backend builds from it). */
static enum gn_status resume(struct gn_trainer *t, const char *path)
{
    struct gn_checkpoint ck;
    struct gn_run_pos pos;
    enum gn_status st = gn_checkpoint_load(path, &ck);
    if (!st && !(st = gn_checkpoint_match(&ck, &t->plan, t->data_crc, &t->norm, path)))
        st = gn_checkpoint_apply(&ck, &t->m, &pos, &t->last);
    if (!st) { /* the run goes on with the statistics it started with */
        struct gn_norm fitted = t->norm;
        t->norm = ck.norm;
        ck.norm = fitted;
    }
    gn_checkpoint_free(&ck);
    if (st) {
        char why[400];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(st, "--resume: %s", why);
    }
    t->c.step = pos.step;
    t->c.epoch = pos.epoch;
    t->grow_round = pos.grow_round;
    t->skipped = pos.skipped;
    t->ep.loss = pos.ep_loss;
    t->ep.hits = pos.ep_hits;
    t->ep.seen = pos.ep_seen;
    /* the guard's word, its known bits only (a file is outside input) */
    t->dead_epochs = pos.guard & (GN_GUARD_COUNT_MASK | GN_GUARD_HAS_LEARNED);
    /* resuming onto the file it came from: that file already holds this step */
    if (t->s.checkpoint_path && !strcmp(t->s.checkpoint_path, path)) t->ckpt_step = t->c.step;
    return GN_OK;
}

/* The order of epoch `epoch`: the permutation of the n_train training
 * examples the epoch's minibatches walk (seeded Fisher-Yates, a pure
 * function of seed and epoch). gn_backend_order_fn: the cuda backend's
 * loader calls it for a training set kept on the device. */
static void epoch_order(void *ctx, int64_t epoch, int32_t *perm)
{
    const struct gn_trainer *t = ctx;
    int32_t n = (int32_t)t->plan.n_train;
    for (int32_t i = 0; i < n; i++) perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j =
            (int32_t)(gn_rng_u64(t->plan.seed, GN_RNG_SHUFFLE, (uint64_t)epoch, (uint64_t)i) %
                      (uint64_t)(i + 1));
        int32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* The minibatch of step `step` (counted from the run's start): its rows
 * (gn_plan_batch_rows) of its epoch's order into x (rows, inputs) and y.
 * The one minibatch source of the host loop and of a whole-run backend's
 * loader (gn_backend_batch_fn). */
static void load_step(void *ctx, int64_t step, float *x, uint8_t *y, int32_t *rows)
{
    struct gn_trainer *t = ctx;
    const struct gn_plan *p = &t->plan;
    const int32_t F = t->train->features;
    int64_t epoch = step / p->steps_per_epoch;
    if (epoch != t->perm_epoch) {
        epoch_order(t, epoch, t->perm);
        t->perm_epoch = epoch;
    }
    int64_t i0;
    const int32_t n = gn_plan_batch_rows(p, step, &i0);
    for (int32_t r = 0; r < n; r++) {
        int32_t src = t->perm[i0 + r];
        memcpy(x + (int64_t)r * F, t->train->x + (int64_t)src * F, (size_t)F * sizeof(float));
        y[r] = t->train->y[src];
    }
    *rows = n;
}

/* A whole-run backend's trace records (gn_backend_trace_fn and
 * gn_backend_trace_epoch_fn): what the host loop writes after each step
 * and at each epoch's end, from the backend's copy of the model. */
static enum gn_status trace_step(void *ctx, const struct gn_model *m, int64_t step,
                                 double loss_sum, int64_t hits, int32_t rows,
                                 const struct gn_grow_event *events, int32_t n_events,
                                 const struct gn_prune_log *prune)
{
    struct gn_trainer *t = ctx;
    if (!t->trace) return GN_OK;
    struct gn_trace_at at = {
        .step = step,
        .epoch = step > 0 ? (step - 1) / t->plan.steps_per_epoch : 0,
        .seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9,
        .events = events,
        .n_events = n_events,
        .prune = prune,
    };
    return gn_trace_step(t->trace, m, &at, loss_sum, hits, rows);
}

static enum gn_status trace_epoch(void *ctx)
{
    struct gn_trainer *t = ctx;
    return t->trace ? gn_trace_epoch(t->trace, &t->last) : GN_OK;
}

/* A whole-run backend's report (gn_backend_report_fn): stamp the time,
 * publish the counters, tell the user when asked. */
static void report(void *ctx, int tell)
{
    struct gn_trainer *t = ctx;
    struct gn_progress *p = &t->last;
    p->seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9;
    p->steps_per_s = p->seconds > 0 ? (double)p->step / p->seconds : 0.0;
    publish(t);
    if (tell && t->progress) t->progress(t->progress_ctx, p);
}

enum gn_status gn_trainer_open(gn_trainer **out, const struct gn_settings *s,
                               const struct gn_data *train, const struct gn_data *test,
                               const char *graph_path)
{
    return gn_trainer_open_with(out, s, train, test, graph_path, NULL);
}

enum gn_status gn_trainer_open_with(gn_trainer **out, const struct gn_settings *s,
                                    const struct gn_data *train, const struct gn_data *test,
                                    const char *graph_path, const struct gn_backend_ops *ops)
{
    *out = NULL;
    enum gn_status st = gn_settings_check(s);
    if (st) return st;
    if (!train || train->count < 1) return gn_fail(GN_ERR_INVALID, "the training set is empty");
    if (test && test->count > 0 && test->features != train->features)
        return gn_fail(GN_ERR_INVALID, "test set has %d features, training set %d",
                       test->features, train->features);
    if (ops && (s->backend == GN_BACKEND_AUTO || !gn_backend_ops_of(s->backend)))
        return gn_fail(GN_ERR_INVALID, "gn_trainer_open_with: settings.backend must name a "
                                       "backend of this build");
    struct gn_trainer *t = calloc(1, sizeof *t);
    if (!t) return gn_fail(GN_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->pub_lock, NULL);
    t->s = *s;
    t->train = train;
    t->raw_train = train;
    t->test = test;
    t->last.test_accuracy = -1;
    t->ckpt_step = -1;
    t->perm_epoch = -1;

    if (ops) {
        t->backend = s->backend;
        t->ops = ops;
        snprintf(t->backend_reason, sizeof t->backend_reason, "the %s table, given", ops->name);
    } else if ((st = choose_backend(t))) {
        goto error;
    }
    if (t->s.on_nan == GN_NAN_SKIP && t->ops->run) {
        st = gn_fail(GN_ERR_UNSUPPORTED,
                     "--on-nan skip needs the serial or cpu backend: the %s backend stops at a "
                     "NaN loss (its kernel's error record names the step)",
                     gn_backend_name(t->backend));
        goto error;
    }

    const struct gn_plan *p = &t->plan;
    gn_plan_make(&t->plan, &t->s, t->backend, train, test);
    int64_t t_part = gn_now_ns();
    if ((st = gn_norm_fit_threads(&t->norm, t->s.normalize, train, p->n_train,
                                  norm_threads(t, p->n_train * train->features, GN_NORM_MAX_THREADS))))
        goto error;
    gn_setup_mark(&t->setup, "fit", &t_part);
    if ((st = check_host_memory(t))) goto error;
    if (graph_path) {
        st = gn_graph_read(graph_path, &t->m, p->inputs, p->classes, p->group_size, p->max_groups,
                           p->max_edges, p->max_params);
        if (st) goto error;
    } else {
        st = gn_model_init(&t->m, p->inputs, p->classes, p->group_size, p->max_groups,
                           p->max_edges, p->max_params);
        if (st || (st = gn_model_build_default(&t->m))) goto error;
    }
    gn_model_init_weights(&t->m, p->seed);
    if (t->s.checkpoint_path || t->s.resume_path)
        t->data_crc = gn_checkpoint_data_crc(train, p->n_train);
    if (t->s.resume_path && (st = resume(t, t->s.resume_path))) goto error;
    gn_setup_mark(&t->setup, "model", &t_part);
    if ((st = normalize_data(t, test))) goto error;
    gn_setup_mark(&t->setup, "normalize", &t_part);
    gn_plan_start(&t->plan, t->c.step, t->grow_round, t->dead_epochs, t->ep.loss, t->ep.hits,
                  t->ep.seen);
    if (t->s.on_nan == GN_NAN_SKIP && (st = gn_snapshot_create(&t->snap, &t->m))) goto error;
    if ((st = gn_buffers_init(&t->buf, &t->m, p->batch))) goto error;
    t->xbatch = malloc((size_t)p->batch * (size_t)p->inputs * sizeof(float));
    t->ybatch = malloc((size_t)p->batch);
    t->perm = malloc((size_t)p->n_train * sizeof(int32_t));
    t->loss_log_len = p->steps_total < GN_LOSS_LOG ? p->steps_total : GN_LOSS_LOG;
    t->loss_log = calloc((size_t)t->loss_log_len, sizeof(double));
    t->time_log = calloc((size_t)t->loss_log_len, sizeof(int64_t));
    if (!t->xbatch || !t->ybatch || !t->perm || !t->loss_log || !t->time_log) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for minibatch buffers");
        goto error;
    }
    if (t->s.trace_path && (st = gn_trace_open(&t->trace, t->s.trace_path, t->s.trace_every)))
        goto error;
    gn_setup_mark(&t->setup, "buffers", &t_part);
    t->io = (struct gn_backend_io){
        .plan = &t->plan,
        .m = &t->m,
        .buf = &t->buf,
        .c = &t->c,
        .events = &t->events,
        .profile = &t->profile,
        .setup = &t->setup,
        .grow_round = &t->grow_round,
        .test = t->test,
        .train = t->train,
        .progress = &t->last,
        .sums = &t->ep,
        .loss_log = t->loss_log,
        .time_log = t->time_log,
        .log_len = t->loss_log_len,
        .stop = &t->stop,
        .batch = load_step,
        .order = epoch_order,
        .report = report,
        .snapshot = snapshot_checkpoint,
        .trace = trace_step,
        .trace_epoch = trace_epoch,
        .cb_ctx = t,
    };
    {
        char about[384] = "";
        /* a failed open may leave a partial context: gn_trainer_close closes it */
        if ((st = t->ops->open(&t->bctx, &t->io, about, sizeof about))) goto error;
        gn_setup_mark(&t->setup, "backend", &t_part);
        size_t len = strlen(t->backend_reason);
        snprintf(t->backend_reason + len, sizeof t->backend_reason - len, "%s", about);
    }
    if (t->s.stats_interval_ms > 0) {
        st = gn_ring_create(t->s.stats_ring, GN_RING_DEFAULT_CAPACITY, gn_backend_name(t->backend),
                            &t->ring);
        if (st) goto error;
    }
    *out = t;
    return GN_OK;
error:
    gn_trainer_close(t);
    return st;
}

enum gn_backend gn_trainer_backend(const gn_trainer *t)
{
    return t->backend;
}

const char *gn_trainer_backend_reason(const gn_trainer *t)
{
    return t->backend_reason;
}

void gn_trainer_length(const gn_trainer *t, int32_t *epochs, int64_t *steps)
{
    if (epochs) *epochs = t->plan.epochs;
    if (steps) *steps = t->plan.steps_total;
}

struct gn_model *gn_trainer_model(gn_trainer *t)
{
    return &t->m;
}

const struct gn_plan *gn_trainer_plan(const gn_trainer *t)
{
    return &t->plan;
}

void gn_trainer_counters(const gn_trainer *t, struct gn_counters *out)
{
    *out = t->c;
}

void gn_trainer_setup(const gn_trainer *t, struct gn_setup *out)
{
    *out = t->setup;
}

void gn_trainer_profile(const gn_trainer *t, struct gn_profile *out)
{
    *out = t->profile;
}

int64_t gn_trainer_step_log(const gn_trainer *t, const double **loss, const int64_t **time)
{
    if (loss) *loss = t->loss_log;
    if (time) *time = t->time_log;
    return t->loss_log_len;
}

static void fill_progress(struct gn_trainer *t)
{
    struct gn_progress *p = &t->last;
    int64_t seen = t->ep.seen;
    p->step = t->c.step;
    p->epoch = (int32_t)t->c.epoch;
    p->loss = seen ? t->ep.loss / (double)seen : 0.0;
    p->accuracy = seen ? (double)t->ep.hits / (double)seen : 0.0;
    p->groups = t->m.n_groups - 2;
    p->edges = t->m.n_edges;
    p->duplications = t->m.duplications;
    p->refused = t->m.refused;
    p->pruned = t->m.pruned;
    p->seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9;
    p->steps_per_s = p->seconds > 0 ? (double)p->step / p->seconds : 0.0;
    p->skipped = t->skipped;
    p->died = t->died;
    t->c.loss = p->loss;
    t->c.accuracy = p->accuracy;
    t->c.groups = t->m.n_groups;
    t->c.edges = t->m.n_edges;
    t->c.params = t->m.n_params;
    t->c.duplications = p->duplications;
    t->c.refused = p->refused;
    t->c.pruned = p->pruned;
    publish(t);
}

/* The poller thread's view of the counters: the copy the training thread
 * last published (a sample may mix two neighbouring steps). */
static void stats_sample(void *ctx, struct gn_stat_record *r)
{
    struct gn_trainer *t = ctx;
    struct gn_counters snap;
    pthread_mutex_lock(&t->pub_lock);
    snap = t->pub;
    pthread_mutex_unlock(&t->pub_lock);
    const struct gn_counters *c = &snap;
    r->step = c->step;
    r->epoch = (int32_t)c->epoch;
    r->loss = c->loss;
    r->accuracy = c->accuracy;
    r->groups = (int32_t)c->groups;
    r->edges = (int32_t)c->edges;
    r->duplications = c->duplications;
    r->refused = c->refused;
    r->pruned = c->pruned;
    r->tasks = c->tasks;
    int64_t now = gn_now_ns();
    if (t->sample_ns > 0 && now > t->sample_ns)
        r->tasks_per_s = (double)(r->tasks - t->sample_tasks) * 1e9 / (double)(now - t->sample_ns);
    t->sample_ns = now;
    t->sample_tasks = r->tasks;
    r->pool_groups_used = (int32_t)c->groups;
    r->pool_groups_cap = t->plan.max_groups;
    r->pool_edges_used = (int32_t)c->edges;
    r->pool_edges_cap = t->plan.max_edges;
    r->pool_params_used = c->params;
    r->pool_params_cap = t->plan.max_params;
    r->t_forward_ns = c->t_forward_ns;
    r->t_backward_ns = c->t_backward_ns;
    r->t_update_ns = c->t_update_ns;
    r->t_growth_ns = c->t_growth_ns;
    r->t_kernel_wait_data_ns = c->t_wait_data_ns;
    r->t_loader_wait_kernel_ns = c->t_wait_kernel_ns;
    r->queue_high_water = (int32_t)c->queue_high_water;
}

/* Where the run is, for a trace record. */
static struct gn_trace_at trace_at(const struct gn_trainer *t)
{
    struct gn_trace_at at = {
        .step = t->c.step,
        .epoch = t->c.epoch,
        .seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9,
        .events = t->events.ev,
        .n_events = t->events.n,
        .prune = &t->events.prune,
    };
    return at;
}

static enum gn_status run_backend(gn_trainer *t);
static enum gn_status evaluate(gn_trainer *t, const struct gn_data *d, int raw, double *loss,
                               double *accuracy);

enum gn_status gn_trainer_run(gn_trainer *t, gn_progress_fn progress, void *ctx)
{
    t->c.groups = t->m.n_groups;
    t->c.edges = t->m.n_edges;
    t->c.params = t->m.n_params;
    t->progress = progress;
    t->progress_ctx = ctx;
    if (t->ring && !t->poller) {
        enum gn_status st = gn_poller_start(t->ring, t->s.stats_interval_ms, stats_sample, t,
                                            &t->poller);
        if (st) return st;
    }
    enum gn_status st = run_backend(t);
    /* The final checkpoint: at the end, or where a stop request left the run
     * (cuda: after the model came back). The state is at a step boundary. */
    if ((st == GN_OK || st == GN_ERR_INTERRUPTED) && t->s.checkpoint_path &&
        t->ckpt_step != t->c.step) {
        char why[512];
        snprintf(why, sizeof why, "%s", gn_error_message());
        enum gn_status cs = write_checkpoint(t, t->s.checkpoint_path);
        if (cs) return cs;
        t->ckpt_step = t->c.step;
        if (st) gn_fail(st, "%s", why); /* keep the stop's message */
    }
    if (t->trace) {
        struct gn_trace_at at = trace_at(t);
        enum gn_status ts = gn_trace_end(t->trace, &t->m, &at, st);
        if (!st) st = ts;
    }
    if (t->poller) {
        gn_poller_stop(t->poller); /* takes the final sample */
        t->poller = NULL;
    }
    return st;
}

/* A periodic checkpoint when one is due at this step (--checkpoint-every). */
static enum gn_status checkpoint_due(gn_trainer *t)
{
    if (!t->s.checkpoint_path || t->s.checkpoint_every <= 0 ||
        t->c.step % t->s.checkpoint_every != 0 || t->ckpt_step == t->c.step)
        return GN_OK;
    enum gn_status st = write_checkpoint(t, t->s.checkpoint_path);
    if (!st) t->ckpt_step = t->c.step;
    return st;
}

/* After a step: the NaN/Inf check; under --on-nan skip a failed step is
 * undone (the model restored, the backend told) and *skip set. */
static enum gn_status guard_step(gn_trainer *t, double ls, int32_t rows, int *skip)
{
    *skip = 0;
    enum gn_status st = gn_numguard_step(&t->m, ls, rows, t->plan.explode_loss, t->c.step + 1);
    if (!st || !t->snap) return st;
    gn_snapshot_restore(t->snap, &t->m, &t->grow_round);
    t->events.n = 0;
    t->events.prune.n_pruned = t->events.prune.n_moved = 0;
    t->skipped++;
    *skip = 1;
    return t->ops->reload ? t->ops->reload(t->bctx) : GN_OK;
}

static enum gn_status run_backend(gn_trainer *t)
{
    const struct gn_plan *p = &t->plan;
    const int64_t total = p->steps_total;
    t->t0_ns = gn_now_ns();
    t->last.steps_total = total;
    enum gn_status st = GN_OK;
    if (t->trace && (st = gn_trace_start(t->trace, p, gn_backend_name(t->backend), &t->m,
                                         t->c.step)))
        return st;
    if (t->ops->run) {
        if (t->c.step >= total) return GN_OK;
        st = t->ops->run(t->bctx);
        /* the guard's rule where the backend left it (io->sums is t->ep) */
        t->dead_epochs = t->ep.guard;
        return st;
    }

    while (t->c.step < total) {
        int64_t epoch = t->c.epoch;
        /* Where in the epoch to start: 0, or after a resume the checkpoint's
         * place, with the epoch's sums so far (t->ep). */
        int64_t first = (t->c.step - epoch * p->steps_per_epoch) * p->batch, ran = 0;
        if (first == 0) t->ep = (struct gn_epoch_sums){0};
        for (int64_t i0 = first; i0 < p->n_train && t->c.step < total; i0 += p->batch) {
            if (gn_atomic_load_relaxed_u32(&t->stop))
                return gn_fail(GN_ERR_INTERRUPTED, "stopped at step %lld", (long long)t->c.step);
            int32_t rows;
            int64_t tl = gn_now_ns();
            load_step(t, t->c.step, t->xbatch, t->ybatch, &rows);
            t->buf.x = t->xbatch;
            t->buf.y = t->ybatch;
            t->buf.rows = rows;
            t->c.t_wait_data_ns += gn_now_ns() - tl;
            int grow = (p->grow != GN_GROW_OFF || p->prune_threshold > 0.0f) &&
                       (t->c.step + 1) % p->grow_every == 0;
            if (t->snap) gn_snapshot_take(t->snap, &t->m, t->grow_round);
            if ((st = t->ops->step(t->bctx, grow))) return st;
            double ls;
            int64_t h;
            int skip;
            gn_op_reduce_loss(&t->buf, &ls, &h);
            if ((st = guard_step(t, ls, rows, &skip))) return st;
            if (!skip) {
                t->ep.loss += ls;
                t->ep.hits += h;
                t->ep.seen += rows;
            }
            if (t->c.step < t->loss_log_len) {
                t->loss_log[t->c.step] = ls / rows;
                t->time_log[t->c.step] = gn_now_ns() - t->t0_ns;
            }
            t->c.step++;
            ran++;
            fill_progress(t);
            if (t->trace && !skip) {
                struct gn_trace_at at = trace_at(t);
                if ((st = gn_trace_step(t->trace, &t->m, &at, ls, h, rows))) return st;
            }
            t->last.epoch_end = 0;
            if (t->progress) t->progress(t->progress_ctx, &t->last);
            /* a step that ends the epoch or the run is checkpointed below,
             * after the epoch's end */
            if (i0 + p->batch < p->n_train && t->c.step < total && (st = checkpoint_due(t)))
                return st;
        }
        if (ran == 0) break;
        if (t->c.step % p->steps_per_epoch == 0 || t->c.step >= total) {
            const int whole = t->c.step % p->steps_per_epoch == 0;
            if (whole) t->c.epoch++;
            double tl, ta = -1;
            if (t->test && t->test->count > 0) {
                if ((st = evaluate(t, t->test, 0, &tl, &ta))) return st;
            }
            /* the dead-network rule at the epoch's end (numguard.h) */
            const int32_t dead = gn_guard_dead_groups(&t->m);
            if (gn_guard_epoch(&t->dead_epochs, t->ep.loss, t->ep.seen, p->chance_loss, dead,
                               whole)) {
                if (t->s.on_nan == GN_NAN_STOP)
                    return gn_numguard_died(t->c.epoch, t->c.step, t->ep.loss / (double)t->ep.seen,
                                            p->chance_loss, dead);
                t->died = 1;
            }
            fill_progress(t);
            t->last.dead_groups = dead;
            t->last.test_accuracy = ta;
            t->last.epoch_end = 1;
            if (t->trace && (st = gn_trace_epoch(t->trace, &t->last))) return st;
            if (t->progress) t->progress(t->progress_ctx, &t->last);
            if ((st = checkpoint_due(t))) return st;
        }
    }
    return GN_OK;
}

void gn_trainer_request_stop(gn_trainer *t)
{
    /* relaxed: a flag whose value alone matters, polled by the run */
    gn_atomic_store_relaxed_u32(&t->stop, 1);
}

/* Loss and accuracy on d; raw: d holds the data as loaded, and each batch
 * is normalized into the minibatch buffer first. */
static enum gn_status evaluate(gn_trainer *t, const struct gn_data *d, int raw, double *loss,
                               double *accuracy)
{
    if (d->features != t->m.inputs)
        return gn_fail(GN_ERR_INVALID, "dataset has %d features, the network %d", d->features,
                       t->m.inputs);
    const int32_t B = t->plan.batch;
    double ls = 0.0;
    int64_t hits = 0;
    const int32_t F = d->features;
    for (int64_t i0 = 0; i0 < d->count; i0 += B) {
        int32_t rows = (int32_t)(d->count - i0 < B ? d->count - i0 : B);
        t->buf.x = d->x + i0 * F;
        if (raw && t->norm.mode != GN_NORMALIZE_NONE) {
            gn_norm_apply_to(&t->norm, t->buf.x, t->xbatch, rows);
            t->buf.x = t->xbatch;
        }
        t->buf.rows = rows;
        for (int32_t r = 0; r < rows; r++) {
            uint8_t y = d->y[i0 + r];
            t->ybatch[r] = y < t->m.classes ? y : 0;
        }
        t->buf.y = t->ybatch;
        enum gn_status st = t->ops->forward(t->bctx);
        if (st) return st;
        double l;
        int64_t h;
        gn_op_reduce_loss(&t->buf, &l, &h);
        ls += l;
        hits += h;
    }
    *loss = d->count ? ls / (double)d->count : 0.0;
    *accuracy = d->count ? (double)hits / (double)d->count : 0.0;
    return GN_OK;
}

enum gn_status gn_trainer_evaluate(gn_trainer *t, const struct gn_data *d, double *loss,
                                   double *accuracy)
{
    return evaluate(t, d, d != t->train && d != t->test, loss, accuracy);
}

enum gn_normalize gn_trainer_normalize(const gn_trainer *t)
{
    return (enum gn_normalize)t->norm.mode;
}

const struct gn_norm *gn_trainer_norm(const gn_trainer *t)
{
    return &t->norm;
}

void gn_trainer_progress(const gn_trainer *t, struct gn_progress *p)
{
    *p = t->last;
}

enum gn_status gn_trainer_save_checkpoint(gn_trainer *t, const char *path)
{
    if (!t || !path)
        return gn_fail(GN_ERR_INVALID, "gn_trainer_save_checkpoint: no trainer or path");
    if (!t->s.checkpoint_path && !t->s.resume_path) /* not computed at open */
        t->data_crc = gn_checkpoint_data_crc(t->raw_train, t->plan.n_train);
    return write_checkpoint(t, path);
}

enum gn_status gn_trainer_save_graph(const gn_trainer *t, const char *path)
{
    return gn_graph_write(path, &t->m);
}

const char *gn_trainer_stats_ring(const gn_trainer *t)
{
    return t->ring ? gn_ring_name(t->ring) : "";
}

void gn_trainer_close(gn_trainer *t)
{
    if (!t) return;
    if (t->poller) gn_poller_stop(t->poller);
    if (t->ring) {
        gn_ring_finish(t->ring);
        gn_ring_close(t->ring, t->s.keep_stats);
    }
    /* whatever the backend's open left, finished or not (backend.h) */
    if (t->ops) t->ops->close(t->bctx);
    gn_buffers_free(&t->buf);
    gn_model_free(&t->m);
    free(t->xbatch);
    free(t->ybatch);
    free(t->perm);
    pthread_mutex_destroy(&t->pub_lock);
    free(t->loss_log);
    free(t->time_log);
    gn_trace_close(t->trace);
    gn_snapshot_free(t->snap);
    gn_data_free(&t->ntrain);
    gn_data_free(&t->ntest);
    gn_norm_free(&t->norm);
    free(t);
}
