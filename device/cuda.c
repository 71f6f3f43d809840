/*
 * The cuda backend, host side: the host only streams and watches.
 *
 * open:  every device buffer is allocated once (pools at their capacities,
 *        activations, the queue, counters, the test set), sized and printed;
 *        a run that would not fit says so here, before training starts.
 * run:   one cooperative kernel launch for the whole run (kernel.cu). A
 *        loader thread shuffles and assembles minibatches into pinned
 *        staging buffers, copies each to a device slot on a second stream
 *        and raises the slot's flag in mapped memory; it reuses a slot only
 *        after the kernel marked it consumed. The calling thread polls the
 *        kernel's counters in mapped memory, reports progress and epoch
 *        ends, and passes a stop request (Ctrl-C) to the kernel's flag.
 *        At the end the grown model is copied back to the host.
 * The host launches no other kernel while training.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomics.h"
#include "cuda_api.h"
#include "error.h"
#include "taskgraph.h"
#include "trainer.h"

struct cuda_ctx {
    struct gn_trainer *t;
    struct gn_cuda_run *run;
    struct gn_cuda_config cfg;
    pthread_t loader;
    int loader_started;
    /* Shared between the loader thread and the calling thread, through
     * atomics.h: quit (caller -> loader: stop feeding), loader_status and
     * loader_wait_ns (loader -> caller). All relaxed: each word's value is
     * all that is read; the loader's error message is read after
     * pthread_join, which orders it. */
    gn_atomic_u32 quit;
    gn_atomic_u32 loader_status; /* an enum gn_status, its bits */
    char loader_err[256];
    gn_atomic_u64 loader_wait_ns;
};

static int64_t total_steps(const struct gn_trainer *t)
{
    int64_t total = t->s.epochs > 0 ? (int64_t)t->s.epochs * t->steps_per_epoch : INT64_MAX;
    if (t->s.steps > 0 && t->s.steps < total) total = t->s.steps;
    return total;
}

static enum gn_status cuda_open(struct gn_trainer *t)
{
    struct cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return gn_fail(GN_ERR_NOMEM, "out of memory");
    t->bctx = c;
    c->t = t;
    const struct gn_model *m = &t->m;
    if (m->group_size > 256)
        return gn_fail(GN_ERR_INVALID, "the cuda backend takes --group-size up to 256 (got %d)",
                       m->group_size);
    if (m->classes > 256)
        return gn_fail(GN_ERR_INVALID, "the cuda backend takes up to 256 classes (got %d)",
                       m->classes);
    struct gn_cuda_config *cfg = &c->cfg;
    memset(cfg, 0, sizeof *cfg);
    cfg->batch = t->s.batch;
    cfg->tile = t->s.tile > 0 ? t->s.tile : 32;
    if (cfg->tile > cfg->batch) cfg->tile = cfg->batch;
    if (cfg->tile > 64) cfg->tile = 64;
    cfg->tiles = (cfg->batch + cfg->tile - 1) / cfg->tile;
    cfg->inputs = m->inputs;
    cfg->classes = m->classes;
    cfg->group_size = m->group_size;
    cfg->max_width = m->max_width;
    cfg->max_groups = m->max_groups;
    cfg->max_edges = m->max_edges;
    cfg->max_params = m->max_params;
    cfg->grow = t->s.grow;
    cfg->grow_every = t->s.grow_every;
    cfg->test_count = t->test ? t->test->count : 0;
    cfg->steps_total = total_steps(t);
    cfg->steps_per_epoch = t->steps_per_epoch;
    cfg->grow_round = t->grow_round;
    cfg->seed = t->s.seed;
    cfg->lr = t->s.lr;
    cfg->momentum = t->s.momentum;
    cfg->weight_decay = t->s.weight_decay;
    cfg->grow_threshold = t->s.grow_threshold;
    cfg->grow_noise = t->s.grow_noise;
    cfg->data_timeout_ns = 120ll * 1000000000;
    cfg->wait_timeout_ns = 20ll * 1000000000;
    /* --resume: the kernel starts at the restored step, with the sums of the
     * epoch so far (none when the step opens an epoch) */
    cfg->first_step = t->c.step;
    if (t->c.step % t->steps_per_epoch != 0) {
        cfg->first_loss_sum = t->ep_loss;
        cfg->first_hits = t->ep_hits;
        cfg->first_seen = t->ep_seen;
    }
    /* --cuda-timeout-scale stretches the kernel's timeouts N times (the
     * batch wait, the grid barrier and, through the barrier's, the queue's
     * no-progress bound: kernel.cu), for runs under compute-sanitizer
     * (tools/gpu-sanitize.sh), which slows the kernel by orders of
     * magnitude. */
    if (t->s.cuda_timeout_scale > 1) {
        cfg->data_timeout_ns *= t->s.cuda_timeout_scale;
        cfg->wait_timeout_ns *= t->s.cuda_timeout_scale;
    }
    /* fault injection for the gpu tests: --cuda-inject-stuck <step> */
    cfg->inject_stuck_step = t->s.cuda_inject_stuck;
    cfg->blocks_per_sm = t->s.cuda_blocks_per_sm;
    if (cfg->steps_total == INT64_MAX)
        return gn_fail(GN_ERR_INVALID, "the cuda backend needs --epochs or --steps");
    char info[512];
    enum gn_status st =
        gn_cuda_create(&c->run, cfg, m, t->test ? t->test->x : NULL, t->test ? t->test->y : NULL,
                       info, sizeof info);
    if (st) return gn_fail(st, "cuda backend: %s", info);
    size_t len = strlen(t->backend_reason);
    snprintf(t->backend_reason + len, sizeof t->backend_reason - len, "; %s; tiles of %d rows",
             info, cfg->tile);
    return GN_OK;
}

static void *loader_main(void *arg)
{
    struct cuda_ctx *c = arg;
    struct gn_trainer *t = c->t;
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const int32_t F = t->train->features, B = t->s.batch;
    const int64_t first = c->cfg.first_step;
    for (int64_t s = first; s < c->cfg.steps_total && !gn_atomic_load_relaxed_u32(&c->quit);
         s++) {
        const int64_t spe = t->steps_per_epoch;
        if (s % spe == 0 || s == first) gn_trainer_shuffle(t, s / spe);
        const int64_t i0 = (s % spe) * B;
        const int32_t rows = (int32_t)(t->n_train - i0 < B ? t->n_train - i0 : B);
        const int slot = (int)(s % GN_CUDA_NBUF);
        int64_t w0 = gn_now_ns();
        while (s - first >= GN_CUDA_NBUF && ctl->consumed[slot] < s + 1 - GN_CUDA_NBUF) {
            if (gn_atomic_load_relaxed_u32(&c->quit) || ctl->state != GN_CUDA_RUNNING)
                return NULL;
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        gn_atomic_fetch_add_relaxed_u64(&c->loader_wait_ns, (uint64_t)(gn_now_ns() - w0));
        float *x = gn_cuda_staging_x(c->run, slot);
        uint8_t *y = gn_cuda_staging_y(c->run, slot);
        for (int32_t r = 0; r < rows; r++) {
            int32_t src = t->perm[i0 + r];
            memcpy(x + (int64_t)r * F, t->train->x + (int64_t)src * F, (size_t)F * sizeof(float));
            y[r] = t->train->y[src];
        }
        enum gn_status st = gn_cuda_push_batch(c->run, slot, s, rows);
        if (st) {
            gn_atomic_store_relaxed_u32(&c->loader_status, (uint32_t)(int32_t)st);
            snprintf(c->loader_err, sizeof c->loader_err, "%s", gn_cuda_error(c->run));
            ctl->stop = 1;
            return NULL;
        }
    }
    return NULL;
}

/* Copy the kernel's counters into the trainer's (read by progress and the
 * stats poller). */
static void sample(struct cuda_ctx *c)
{
    struct gn_trainer *t = c->t;
    const struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    t->c.step = ctl->step;
    t->c.tasks = ctl->tasks;
    t->c.t_forward_ns = ctl->t_forward_ns / c->cfg.blocks;
    t->c.t_backward_ns = ctl->t_backward_ns / c->cfg.blocks;
    t->c.t_update_ns = ctl->t_update_ns / c->cfg.blocks;
    t->c.t_growth_ns = ctl->t_growth_ns;
    t->c.t_wait_data_ns = ctl->t_wait_data_ns;
    t->c.t_wait_kernel_ns = (int64_t)gn_atomic_load_relaxed_u64(&c->loader_wait_ns);
    t->c.queue_high_water = ctl->high_water;
    struct gn_progress *p = &t->last;
    int64_t seen = ctl->seen;
    p->step = ctl->step;
    p->loss = seen ? ctl->loss_sum / (double)seen : 0.0;
    p->accuracy = seen ? (double)ctl->hits / (double)seen : 0.0;
    p->groups = (int32_t)ctl->groups - 2;
    p->edges = (int32_t)ctl->edges;
    p->duplications = ctl->duplications;
    p->refused = ctl->refused;
    p->seconds = (double)(gn_now_ns() - t->t0_ns) * 1e-9;
    p->steps_per_s = p->seconds > 0 ? (double)p->step / p->seconds : 0.0;
    p->kernel_launches = 1;
    t->c.loss = p->loss;
    t->c.accuracy = p->accuracy;
    t->c.groups = ctl->groups;
    t->c.edges = ctl->edges;
    t->c.params = ctl->params;
    t->c.duplications = ctl->duplications;
    t->c.refused = ctl->refused;
    gn_trainer_publish(t);
}

static enum gn_status cuda_run(struct gn_trainer *t, gn_progress_fn progress, void *pctx)
{
    struct cuda_ctx *c = t->bctx;
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const struct gn_cuda_epoch *ep = gn_cuda_epochs(c->run);
    /* a resumed run: the counters start where the checkpoint left them */
    ctl->step = c->cfg.first_step;
    ctl->loss_sum = c->cfg.first_loss_sum;
    ctl->hits = c->cfg.first_hits;
    ctl->seen = c->cfg.first_seen;
    enum gn_status st = gn_cuda_launch(c->run);
    if (st) return gn_fail(st, "cuda backend: cannot launch the kernel: %s", gn_cuda_error(c->run));
    if (pthread_create(&c->loader, NULL, loader_main, c) != 0) {
        ctl->stop = 1;
        gn_cuda_wait(c->run);
        return gn_fail(GN_ERR_DEVICE, "cannot start the loader thread");
    }
    c->loader_started = 1;
    int64_t last_step = -1, reported = 0;
    for (;;) {
        int state = ctl->state;
        if (t->stop) ctl->stop = 1;
        int64_t step = ctl->step;
        if (step != last_step) {
            last_step = step;
            sample(c);
            t->last.epoch_end = 0;
            if (progress && step > 0) progress(pctx, &t->last);
        }
        while (reported < ctl->epochs) {
            const struct gn_cuda_epoch *e = &ep[reported++];
            sample(c);
            struct gn_progress *p = &t->last;
            p->step = e->step;
            p->loss = e->seen ? e->loss_sum / (double)e->seen : 0.0;
            p->accuracy = e->seen ? (double)e->hits / (double)e->seen : 0.0;
            p->test_accuracy = c->cfg.test_count > 0 ? (double)e->test_hits / c->cfg.test_count : -1;
            p->groups = (int32_t)e->groups - 2;
            p->edges = (int32_t)e->edges;
            p->duplications = e->duplications;
            p->refused = e->refused;
            if (e->step % t->steps_per_epoch == 0) t->c.epoch = e->step / t->steps_per_epoch;
            p->epoch = (int32_t)t->c.epoch;
            p->epoch_end = 1;
            if (progress) progress(pctx, p);
        }
        if (state != GN_CUDA_RUNNING) break;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    gn_atomic_store_relaxed_u32(&c->quit, 1);
    enum gn_status kst = gn_cuda_wait(c->run);
    pthread_join(c->loader, NULL);
    c->loader_started = 0;
    if (kst) return gn_fail(kst, "cuda backend: %s", gn_cuda_error(c->run));
    enum gn_status lst = (enum gn_status)(int32_t)gn_atomic_load_relaxed_u32(&c->loader_status);
    if (lst) return gn_fail(lst, "cuda backend: the loader failed: %s", c->loader_err);
    if ((st = gn_cuda_download(c->run, &t->m)))
        return gn_fail(st, "cuda backend: cannot copy the model back: %s", gn_cuda_error(c->run));
    t->grow_round = gn_cuda_grow_round(c->run);
    {
        const double *log = gn_cuda_step_loss(c->run);
        int64_t n = ctl->step < t->loss_log_len ? ctl->step : t->loss_log_len;
        const int64_t *tl = gn_cuda_step_time(c->run);
        for (int64_t i = c->cfg.first_step; i < n; i++) {
            t->loss_log[i] = log[i];
            t->time_log[i] = tl[i];
        }
    }
    if ((st = gn_model_rebuild(&t->m, t->m.order)))
        return gn_fail(st, "cuda backend: the grown graph is invalid: %s", gn_error_message());
    sample(c);
    /* the epoch's sums as the kernel left them, for the final checkpoint */
    t->ep_loss = ctl->loss_sum;
    t->ep_hits = ctl->hits;
    t->ep_seen = ctl->seen;
    if (reported > 0 && ep[reported - 1].step == ctl->step) {
        /* the run ended on an epoch's end: report that epoch's figures */
        const struct gn_cuda_epoch *e = &ep[reported - 1];
        t->last.loss = e->seen ? e->loss_sum / (double)e->seen : 0.0;
        t->last.accuracy = e->seen ? (double)e->hits / (double)e->seen : 0.0;
        t->last.test_accuracy =
            c->cfg.test_count > 0 ? (double)e->test_hits / c->cfg.test_count : -1;
        t->last.epoch = (int32_t)t->c.epoch;
    }
    if (ctl->state == GN_CUDA_STOPPED)
        return gn_fail(GN_ERR_INTERRUPTED, "stopped at step %lld", (long long)ctl->step);
    return GN_OK;
}

/* Evaluation outside the run uses the host copy of the model. */
static enum gn_status cuda_forward(struct gn_trainer *t)
{
    return gn_backend_serial.forward(t);
}

static enum gn_status cuda_step(struct gn_trainer *t, int grow)
{
    (void)t;
    (void)grow;
    return gn_fail(GN_ERR_UNSUPPORTED, "the cuda backend runs whole runs, not single steps");
}

static void cuda_close(struct gn_trainer *t)
{
    struct cuda_ctx *c = t->bctx;
    if (!c) return;
    if (c->loader_started) {
        gn_atomic_store_relaxed_u32(&c->quit, 1);
        pthread_join(c->loader, NULL);
    }
    gn_cuda_destroy(c->run);
    free(c);
    t->bctx = NULL;
}

const struct gn_backend_ops gn_backend_cuda = {
    .name = "cuda",
    .open = cuda_open,
    .step = cuda_step,
    .forward = cuda_forward,
    .run = cuda_run,
    .close = cuda_close,
};
