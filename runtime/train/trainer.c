/*
 * The trainer: settings, backend choice, the start graph, minibatch
 * assembly, the host training loop for step-driven backends, evaluation.
 *
 * Loop: for each epoch, a seeded permutation of the training set; for each
 * minibatch of it (the last one may be short), assemble rows, run one
 * backend step (growth on every grow_every-th step), update the running
 * loss and accuracy, report progress; at the epoch's end evaluate the test
 * set. --steps stops the run early, counted from the start of the run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "device/device.h"
#include "error.h"
#include "gn_config.h"
#include "graphfile.h"
#include "hostmem.h"
#include "numguard.h"
#include "rng.h"
#include "trace.h"
#include "trainer.h"

int64_t gn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The backends compiled into this build. */
static const struct gn_backend_ops *backend_ops(enum gn_backend b)
{
    switch (b) {
    case GN_BACKEND_SERIAL: return &gn_backend_serial;
#if GN_HAVE_CPU_BACKEND
    case GN_BACKEND_CPU: return &gn_backend_cpu;
#endif
#if GN_HAVE_CUDA_BACKEND
    case GN_BACKEND_CUDA: return &gn_backend_cuda;
#endif
    default: return NULL;
    }
}

static enum gn_status choose_backend(struct gn_trainer *t)
{
    struct gn_device_info dev;
    enum gn_backend want = t->s.backend;
    if (want == GN_BACKEND_CUDA || want == GN_BACKEND_AUTO) gn_device_query(&dev);
    if (want == GN_BACKEND_AUTO) {
        /* a trace needs the step-driven host loop: auto never picks cuda then */
        if (dev.usable && backend_ops(GN_BACKEND_CUDA) && !t->s.trace_path) {
            t->backend = GN_BACKEND_CUDA;
            snprintf(t->backend_reason, sizeof t->backend_reason, "GPU found: %.200s",
                     dev.reason);
        } else {
            t->backend = backend_ops(GN_BACKEND_CPU) ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
            snprintf(t->backend_reason, sizeof t->backend_reason, "%.200s; using the %s backend",
                     !dev.usable                    ? dev.reason
                     : backend_ops(GN_BACKEND_CUDA) ? "--trace needs a step-driven backend"
                                                    : "the cuda backend is not built in",
                     gn_backend_name(t->backend));
        }
    } else {
        if (!backend_ops(want))
            return gn_fail(GN_ERR_UNSUPPORTED, "the %s backend is not available in this build",
                           gn_backend_name(want));
        if (want == GN_BACKEND_CUDA && !dev.usable)
            return gn_fail(GN_ERR_UNSUPPORTED, "--backend cuda: %s", dev.reason);
        t->backend = want;
        snprintf(t->backend_reason, sizeof t->backend_reason, "asked for with --backend %s",
                 gn_backend_name(want));
    }
    t->ops = backend_ops(t->backend);
    if (t->s.trace_path && t->ops->run)
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "--trace needs the serial or cpu backend: the %s backend keeps the "
                       "network on the GPU during the run",
                       gn_backend_name(t->backend));
    return GN_OK;
}

static enum gn_status check_settings(const struct gn_settings *s)
{
    if (s->group_size < 1 || s->group_size > 1024)
        return gn_fail(GN_ERR_INVALID, "--group-size must be in 1..1024 (got %d)", s->group_size);
    if (s->batch < 1 || s->batch > 65536)
        return gn_fail(GN_ERR_INVALID, "--batch must be in 1..65536 (got %d)", s->batch);
    if (s->epochs < 0 || s->steps < 0 || s->limit_train < 0)
        return gn_fail(GN_ERR_INVALID, "--epochs, --steps and --limit-train must be >= 0");
    if (s->epochs == 0 && s->steps == 0)
        return gn_fail(GN_ERR_INVALID, "nothing to do: --epochs 0 and no --steps");
    if (!(s->lr > 0.0f) || !isfinite(s->lr))
        return gn_fail(GN_ERR_INVALID, "--lr must be a positive number");
    if (!(s->momentum >= 0.0f && s->momentum < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--momentum must be in [0, 1)");
    if (!(s->weight_decay >= 0.0f) || !isfinite(s->weight_decay))
        return gn_fail(GN_ERR_INVALID, "--weight-decay must be >= 0");
    if (s->grow_every < 1) return gn_fail(GN_ERR_INVALID, "--grow-every must be >= 1");
    if (!(s->grow_threshold >= 0.0f)) return gn_fail(GN_ERR_INVALID, "--grow-threshold must be >= 0");
    if (!(s->grow_noise >= 0.0f && s->grow_noise < 1.0f))
        return gn_fail(GN_ERR_INVALID, "--grow-noise must be in [0, 1)");
    if (s->max_groups < 0 || s->max_edges < 0 || s->max_params < 0 || s->threads < 0 ||
        s->tile < 0)
        return gn_fail(GN_ERR_INVALID, "pool sizes, --threads and --tile must be >= 0");
    if (s->checkpoint_every < 0) return gn_fail(GN_ERR_INVALID, "--checkpoint-every must be >= 0");
    if (s->checkpoint_every > 0 && !s->checkpoint_path)
        return gn_fail(GN_ERR_INVALID, "--checkpoint-every needs --checkpoint FILE");
    if (s->on_nan != GN_NAN_STOP && s->on_nan != GN_NAN_SKIP)
        return gn_fail(GN_ERR_INVALID, "--on-nan must be stop or skip");
    if (s->cuda_timeout_scale < 0 || s->cuda_timeout_scale > 100000)
        return gn_fail(GN_ERR_INVALID, "--cuda-timeout-scale wants 1..100000, got %d",
                       s->cuda_timeout_scale);
    if (s->cuda_inject_stuck < 0 || s->cuda_blocks_per_sm < 0)
        return gn_fail(GN_ERR_INVALID, "--cuda-inject-stuck and --cuda-blocks-per-sm must be >= 0");
    return GN_OK;
}

/* The host memory the run will allocate, checked against MemAvailable
 * before anything large is allocated (hostmem.h). */
static enum gn_status check_host_memory(const struct gn_trainer *t, int32_t mg, int32_t me,
                                        int64_t mp, int32_t classes)
{
    const double mib = 1024.0 * 1024.0;
    int32_t width = t->s.group_size > classes ? t->s.group_size : classes;
    double pools = 3.0 * 4.0 * (double)mp + 60.0 * mg + 24.0 * me;
    if (t->s.on_nan == GN_NAN_SKIP) pools *= 2.0; /* the snapshot */
    double acts = 2.0 * 4.0 * (double)mg * t->s.batch * width;
    double rest = 4.0 * (double)t->s.batch * t->train->features + 4.0 * (double)t->n_train +
                  16.0 * GN_LOSS_LOG;
    char detail[256];
    snprintf(detail, sizeof detail,
             "pools of %d groups, %d edges and %lld parameters: %.1f MiB%s; activations for a "
             "batch of %d: %.1f MiB; minibatch and logs: %.1f MiB",
             mg, me, (long long)mp, pools / mib,
             t->s.on_nan == GN_NAN_SKIP ? " (twice: --on-nan skip keeps a copy)" : "",
             t->s.batch, acts / mib, rest / mib);
    return gn_hostmem_check(pools + acts + rest, detail);
}

/* --resume: the checkpoint must belong to this run; then it becomes the
 * trainer's state (before the backend opens, so the backend builds from it). */
static enum gn_status resume(struct gn_trainer *t, const char *path)
{
    struct gn_checkpoint ck;
    enum gn_status st = gn_checkpoint_load(path, &ck);
    if (!st && !(st = gn_checkpoint_match(&ck, t, path))) st = gn_checkpoint_apply(&ck, t);
    gn_checkpoint_free(&ck);
    /* resuming onto the file it came from: that file already holds this step */
    if (!st && t->s.checkpoint_path && !strcmp(t->s.checkpoint_path, path))
        t->ckpt_step = t->c.step;
    if (st) {
        char why[400];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(st, "--resume: %s", why);
    }
    return GN_OK;
}

enum gn_status gn_trainer_open(gn_trainer **out, const struct gn_settings *s,
                               const struct gn_data *train, const struct gn_data *test,
                               const char *graph_path)
{
    *out = NULL;
    enum gn_status st = check_settings(s);
    if (st) return st;
    if (!train || train->count < 1) return gn_fail(GN_ERR_INVALID, "the training set is empty");
    if (test && test->count > 0 && test->features != train->features)
        return gn_fail(GN_ERR_INVALID, "test set has %d features, training set %d",
                       test->features, train->features);
    struct gn_trainer *t = calloc(1, sizeof *t);
    if (!t) return gn_fail(GN_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->pub_lock, NULL);
    t->s = *s;
    t->train = train;
    t->test = test;
    t->n_train = train->count;
    if (s->limit_train > 0 && s->limit_train < t->n_train) t->n_train = s->limit_train;
    if (t->s.batch > t->n_train) t->s.batch = (int32_t)t->n_train;
    t->steps_per_epoch = (t->n_train + t->s.batch - 1) / t->s.batch;
    t->last.test_accuracy = -1;
    t->ckpt_step = -1;

    if ((st = choose_backend(t))) goto error;
    if (t->s.on_nan == GN_NAN_SKIP && t->ops->run) {
        st = gn_fail(GN_ERR_UNSUPPORTED,
                     "--on-nan skip needs the serial or cpu backend: the %s backend stops at a "
                     "NaN loss (its kernel's error record names the step)",
                     gn_backend_name(t->backend));
        goto error;
    }

    int32_t classes = train->classes;
    if (test && test->count > 0 && test->classes > classes) classes = test->classes;
    int32_t mg, me;
    int64_t mp;
    gn_model_capacity(&t->s, train->features, classes, &mg, &me, &mp);
    if ((st = check_host_memory(t, mg, me, mp, classes))) goto error;
    if (graph_path) {
        st = gn_graph_read(graph_path, &t->m, train->features, classes, t->s.group_size, mg, me,
                           mp);
        if (st) goto error;
    } else {
        if ((st = gn_model_init(&t->m, train->features, classes, t->s.group_size, mg, me, mp)))
            goto error;
        if ((st = gn_model_build_default(&t->m))) goto error;
    }
    gn_model_init_weights(&t->m, t->s.seed);
    if (t->s.checkpoint_path || t->s.resume_path)
        t->data_crc = gn_checkpoint_data_crc(train, t->n_train);
    if (t->s.resume_path && (st = resume(t, t->s.resume_path))) goto error;
    if (t->s.on_nan == GN_NAN_SKIP && (st = gn_snapshot_create(&t->snap, &t->m))) goto error;
    if ((st = gn_buffers_init(&t->buf, &t->m, t->s.batch))) goto error;
    t->xbatch = malloc((size_t)t->s.batch * (size_t)train->features * sizeof(float));
    t->ybatch = malloc((size_t)t->s.batch);
    t->perm = malloc((size_t)t->n_train * sizeof(int32_t));
    {
        int64_t total = t->s.epochs > 0 ? (int64_t)t->s.epochs * t->steps_per_epoch : INT64_MAX;
        if (t->s.steps > 0 && t->s.steps < total) total = t->s.steps;
        t->loss_log_len = total < GN_LOSS_LOG ? total : GN_LOSS_LOG;
        t->loss_log = calloc((size_t)t->loss_log_len, sizeof(double));
        t->time_log = calloc((size_t)t->loss_log_len, sizeof(int64_t));
    }
    if (!t->xbatch || !t->ybatch || !t->perm || !t->loss_log || !t->time_log) {
        st = gn_fail(GN_ERR_NOMEM, "out of memory for minibatch buffers");
        goto error;
    }
    if (t->s.trace_path && (st = gn_trace_open(&t->trace, t->s.trace_path, t->s.trace_every)))
        goto error;
    if ((st = t->ops->open(t))) {
        t->ops = NULL;
        goto error;
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

void gn_trainer_shuffle(struct gn_trainer *t, int64_t epoch)
{
    int32_t n = (int32_t)t->n_train;
    for (int32_t i = 0; i < n; i++) t->perm[i] = i;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(gn_rng_u64(t->s.seed, GN_RNG_SHUFFLE, (uint64_t)epoch, (uint64_t)i) %
                              (uint64_t)(i + 1));
        int32_t tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
}

void gn_trainer_load_batch(struct gn_trainer *t, int64_t i0, int32_t rows)
{
    const int32_t F = t->train->features;
    for (int32_t r = 0; r < rows; r++) {
        int32_t src = t->perm[i0 + r];
        memcpy(t->xbatch + (int64_t)r * F, t->train->x + (int64_t)src * F,
               (size_t)F * sizeof(float));
        t->ybatch[r] = t->train->y[src];
    }
    t->buf.x = t->xbatch;
    t->buf.y = t->ybatch;
    t->buf.rows = rows;
}

static void fill_progress(struct gn_trainer *t, double loss_sum, int64_t hits, int64_t seen)
{
    struct gn_progress *p = &t->last;
    p->step = t->c.step;
    p->epoch = (int32_t)t->c.epoch;
    p->loss = seen ? loss_sum / (double)seen : 0.0;
    p->accuracy = seen ? (double)hits / (double)seen : 0.0;
    p->groups = t->m.n_groups - 2;
    p->edges = t->m.n_edges;
    p->duplications = t->m.duplications;
    p->refused = t->m.refused;
    p->seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9;
    p->steps_per_s = p->seconds > 0 ? (double)p->step / p->seconds : 0.0;
    p->skipped = t->skipped;
    t->c.loss = p->loss;
    t->c.accuracy = p->accuracy;
    t->c.groups = t->m.n_groups;
    t->c.edges = t->m.n_edges;
    t->c.params = t->m.n_params;
    t->c.duplications = p->duplications;
    t->c.refused = p->refused;
    gn_trainer_publish(t);
}

void gn_trainer_publish(struct gn_trainer *t)
{
    pthread_mutex_lock(&t->pub_lock);
    t->pub = t->c;
    pthread_mutex_unlock(&t->pub_lock);
}

/* The poller thread's view of the counters: whole-word reads of fields the
 * training thread writes (a sample may mix two neighbouring steps). */
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
    r->tasks = c->tasks;
    int64_t now = gn_now_ns();
    if (t->sample_ns > 0 && now > t->sample_ns)
        r->tasks_per_s = (double)(r->tasks - t->sample_tasks) * 1e9 / (double)(now - t->sample_ns);
    t->sample_ns = now;
    t->sample_tasks = r->tasks;
    r->pool_groups_used = (int32_t)c->groups;
    r->pool_groups_cap = t->m.max_groups;
    r->pool_edges_used = (int32_t)c->edges;
    r->pool_edges_cap = t->m.max_edges;
    r->pool_params_used = c->params;
    r->pool_params_cap = t->m.max_params;
    r->t_forward_ns = c->t_forward_ns;
    r->t_backward_ns = c->t_backward_ns;
    r->t_update_ns = c->t_update_ns;
    r->t_growth_ns = c->t_growth_ns;
    r->t_kernel_wait_data_ns = c->t_wait_data_ns;
    r->t_loader_wait_kernel_ns = c->t_wait_kernel_ns;
    r->queue_high_water = (int32_t)c->queue_high_water;
}

static enum gn_status run_backend(gn_trainer *t, gn_progress_fn progress, void *ctx);

enum gn_status gn_trainer_run(gn_trainer *t, gn_progress_fn progress, void *ctx)
{
    t->c.groups = t->m.n_groups;
    t->c.edges = t->m.n_edges;
    t->c.params = t->m.n_params;
    if (t->ring && !t->poller) {
        enum gn_status st = gn_poller_start(t->ring, t->s.stats_interval_ms, stats_sample, t,
                                            &t->poller);
        if (st) return st;
    }
    enum gn_status st = run_backend(t, progress, ctx);
    /* The final checkpoint: at the end, or where a stop request left the run
     * (cuda: after the model came back). The state is at a step boundary. */
    if ((st == GN_OK || st == GN_ERR_INTERRUPTED) && t->s.checkpoint_path &&
        t->ckpt_step != t->c.step) {
        char why[512];
        snprintf(why, sizeof why, "%s", gn_error_message());
        enum gn_status cs = gn_checkpoint_write(t->s.checkpoint_path, t);
        if (cs) return cs;
        t->ckpt_step = t->c.step;
        if (st) gn_fail(st, "%s", why); /* keep the stop's message */
    }
    if (t->trace) {
        enum gn_status ts = gn_trace_end(t->trace, t, st);
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
    enum gn_status st = gn_checkpoint_write(t->s.checkpoint_path, t);
    if (!st) t->ckpt_step = t->c.step;
    return st;
}

/* After a step: the NaN/Inf check; under --on-nan skip a failed step is
 * undone (the model restored, the backend told) and *skip set. */
static enum gn_status guard_step(gn_trainer *t, double ls, int *skip)
{
    *skip = 0;
    enum gn_status st = gn_numguard_check(&t->m, ls, t->c.step + 1);
    if (!st || !t->snap) return st;
    gn_snapshot_restore(t->snap, &t->m, &t->grow_round);
    t->n_events = 0;
    t->skipped++;
    *skip = 1;
    return t->ops->reload ? t->ops->reload(t) : GN_OK;
}

static enum gn_status run_backend(gn_trainer *t, gn_progress_fn progress, void *ctx)
{
    t->t0_ns = gn_now_ns();
    int64_t total = t->s.epochs > 0 ? (int64_t)t->s.epochs * t->steps_per_epoch : INT64_MAX;
    if (t->s.steps > 0 && t->s.steps < total) total = t->s.steps;
    t->last.steps_total = total;
    if (t->ops->run) return t->c.step < total ? t->ops->run(t, progress, ctx) : GN_OK;

    enum gn_status st = GN_OK;
    if (t->trace && (st = gn_trace_start(t->trace, t))) return st;
    while (t->c.step < total) {
        int64_t epoch = t->c.epoch;
        gn_trainer_shuffle(t, epoch);
        /* Where in the epoch to start: 0, or after a resume the checkpoint's
         * place, with the epoch's sums so far (t->ep_*). */
        int64_t first = (t->c.step - epoch * t->steps_per_epoch) * t->s.batch, ran = 0;
        if (first == 0) {
            t->ep_loss = 0.0;
            t->ep_hits = t->ep_seen = 0;
        }
        for (int64_t i0 = first; i0 < t->n_train && t->c.step < total; i0 += t->s.batch) {
            if (t->stop) return gn_fail(GN_ERR_INTERRUPTED, "stopped at step %lld",
                                        (long long)t->c.step);
            int32_t rows = (int32_t)(t->n_train - i0 < t->s.batch ? t->n_train - i0 : t->s.batch);
            int64_t tl = gn_now_ns();
            gn_trainer_load_batch(t, i0, rows);
            t->c.t_wait_data_ns += gn_now_ns() - tl;
            int grow = t->s.grow != GN_GROW_OFF && (t->c.step + 1) % t->s.grow_every == 0;
            if (t->snap) gn_snapshot_take(t->snap, &t->m, t->grow_round);
            if ((st = t->ops->step(t, grow))) return st;
            double ls;
            int64_t h;
            int skip;
            gn_op_reduce_loss(&t->buf, &ls, &h);
            if ((st = guard_step(t, ls, &skip))) return st;
            if (!skip) {
                t->ep_loss += ls;
                t->ep_hits += h;
                t->ep_seen += rows;
            }
            if (t->c.step < t->loss_log_len) {
                t->loss_log[t->c.step] = ls / rows;
                t->time_log[t->c.step] = gn_now_ns() - t->t0_ns;
            }
            t->c.step++;
            ran++;
            fill_progress(t, t->ep_loss, t->ep_hits, t->ep_seen);
            if (t->trace && !skip && (st = gn_trace_step(t->trace, t, ls, h, rows))) return st;
            t->last.epoch_end = 0;
            if (progress) progress(ctx, &t->last);
            /* a step that ends the epoch or the run is checkpointed below,
             * after the epoch's end */
            if (i0 + t->s.batch < t->n_train && t->c.step < total && (st = checkpoint_due(t)))
                return st;
        }
        if (ran == 0) break;
        if (t->c.step % t->steps_per_epoch == 0 || t->c.step >= total) {
            if (t->c.step % t->steps_per_epoch == 0) t->c.epoch++;
            double tl, ta = -1;
            if (t->test && t->test->count > 0) {
                if ((st = gn_trainer_evaluate(t, t->test, &tl, &ta))) return st;
            }
            fill_progress(t, t->ep_loss, t->ep_hits, t->ep_seen);
            t->last.test_accuracy = ta;
            t->last.epoch_end = 1;
            if (t->trace && (st = gn_trace_epoch(t->trace, t))) return st;
            if (progress) progress(ctx, &t->last);
            if ((st = checkpoint_due(t))) return st;
        }
    }
    return GN_OK;
}

void gn_trainer_request_stop(gn_trainer *t)
{
    t->stop = 1;
}

enum gn_status gn_trainer_evaluate(gn_trainer *t, const struct gn_data *d, double *loss,
                                   double *accuracy)
{
    if (d->features != t->m.inputs)
        return gn_fail(GN_ERR_INVALID, "dataset has %d features, the network %d", d->features,
                       t->m.inputs);
    double ls = 0.0;
    int64_t hits = 0;
    const int32_t F = d->features;
    for (int64_t i0 = 0; i0 < d->count; i0 += t->s.batch) {
        int32_t rows = (int32_t)(d->count - i0 < t->s.batch ? d->count - i0 : t->s.batch);
        t->buf.x = d->x + i0 * F;
        t->buf.rows = rows;
        for (int32_t r = 0; r < rows; r++) {
            uint8_t y = d->y[i0 + r];
            t->ybatch[r] = y < t->m.classes ? y : 0;
        }
        t->buf.y = t->ybatch;
        enum gn_status st = t->ops->forward(t);
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

void gn_trainer_progress(const gn_trainer *t, struct gn_progress *p)
{
    *p = t->last;
}

enum gn_status gn_trainer_save_checkpoint(gn_trainer *t, const char *path)
{
    if (!t || !path)
        return gn_fail(GN_ERR_INVALID, "gn_trainer_save_checkpoint: no trainer or path");
    if (!t->s.checkpoint_path && !t->s.resume_path) /* not computed at open */
        t->data_crc = gn_checkpoint_data_crc(t->train, t->n_train);
    return gn_checkpoint_write(path, t);
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
    if (t->ops && t->ops->close) t->ops->close(t);
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
    free(t);
}
