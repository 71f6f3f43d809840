/*
 * The cuda backend, host side: the host only streams and watches.
 *
 * open:  every device buffer is allocated once (pools at their capacities,
 *        activations, the queue, counters, the test set), sized and printed;
 *        a run that would not fit says so here, before training starts.
 * run:   one cooperative kernel launch for the whole run (run.cuh). A
 *        training set that fits on the device is there since open: a
 *        loader thread copies each epoch's order (the trainer's shuffle)
 *        to one of two order slots, and the kernel assembles every
 *        minibatch itself, the host off the steps' path. Else the loader
 *        has minibatches assembled into pinned staging buffers, copies
 *        each to a device slot on a second stream, then the slot's record
 *        (the kernel polls it in device memory); it reuses a slot only
 *        after the kernel marked it consumed. The calling thread polls the
 *        kernel's counters in mapped memory, reports progress and epoch
 *        ends, and passes a stop request (Ctrl-C) to the kernel's flag.
 *        At the end the grown model is copied back to the host.
 * The host launches no other kernel while training.
 *
 * Like every backend it sees only what the trainer hands it (backend.h):
 * the run plan, which the kernel reads as its configuration, the model,
 * counters and progress to fill, minibatches from io->batch (the host
 * loop's own assembly) and reports through io->report. Every failure goes
 * out through gn_fail (gn_error_message), with the detail the kernel's host
 * half keeps (gn_cuda_error) appended.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomics.h"
#include "backend.h"
#include "cuda_api.h"
#include "device.h"
#include "error.h"
#include "model.h"
#include "numguard.h"
#include "ops.h"
#include "prune.h"

struct cuda_ctx {
    struct gn_backend_io *io;
    const struct gn_plan *cfg;
    struct gn_cuda_run *run;
    int32_t blocks; /* worker blocks of the launch */
    pthread_t loader;
    int loader_started;
    /* Shared between the loader thread and the calling thread, through
     * atomics.h: quit (caller -> loader: stop feeding), loader_status and
     * loader_wait_ns (loader -> caller). All relaxed: each word's value is
     * all that is read; the detail of a loader failure (gn_cuda_error) is
     * read after pthread_join, which orders it. */
    gn_atomic_u32 quit;
    gn_atomic_u32 loader_status; /* an enum gn_status, its bits */
    gn_atomic_u64 loader_wait_ns;
    /* periodic checkpoints: the host copy of the model at the last
     * snapshot (allocated at the first) and that snapshot's step */
    struct gn_model snap;
    int snap_ready;
    int64_t snapped;
    /* the growth trace (plan.trace): the records as of the last snapshot
     * slot read, and the step and snapshot records read so far */
    struct gn_model tm;
    int tm_ready;
    int64_t trace_read, snaps_read;
};

/* A failure of the CUDA side into the one error channel (gn_fail): what
 * failed, then the detail the kernel's host half kept (file, line, call). */
static enum gn_status cuda_fail(const struct cuda_ctx *c, enum gn_status st, const char *what)
{
    return gn_fail(st, "cuda backend: %s%s%s", what, *what ? ": " : "", gn_cuda_error(c->run));
}

/* Usable where device 0 runs the persistent kernel (device/query.cu). */
static enum gn_status cuda_probe(char *why, size_t len)
{
    struct gn_device_info dev;
    gn_device_query(&dev);
    snprintf(why, len, "%s", dev.reason);
    return dev.usable ? GN_OK : GN_ERR_UNSUPPORTED;
}

static enum gn_status cuda_open(void **ctx, struct gn_backend_io *io, char *about, size_t len)
{
    struct cuda_ctx *c = calloc(1, sizeof *c);
    *ctx = c;
    if (!c) return gn_fail(GN_ERR_NOMEM, "out of memory");
    c->io = io;
    c->cfg = io->plan;
    const struct gn_model *m = io->m;
    const struct gn_plan *cfg = io->plan;
    if (m->group_size > 256)
        return gn_fail(GN_ERR_INVALID, "the cuda backend takes --group-size up to 256 (got %d)",
                       m->group_size);
    if (m->classes > 256)
        return gn_fail(GN_ERR_INVALID, "the cuda backend takes up to 256 classes (got %d)",
                       m->classes);
    if (cfg->steps_total == INT64_MAX)
        return gn_fail(GN_ERR_INVALID, "the cuda backend needs --epochs or --steps");
    char info[512];
    const struct gn_data *test = io->test;
    /* the training set for the device: only where the io can order it */
    const struct gn_data *train = io->order ? io->train : NULL;
    enum gn_status st =
        gn_cuda_create(&c->run, cfg, m, test ? test->x : NULL, test ? test->y : NULL,
                       train ? train->x : NULL, train ? train->y : NULL, info, sizeof info, io->setup);
    if (st) return gn_fail(st, "cuda backend: %s", info);
    c->blocks = gn_cuda_blocks(c->run);
    snprintf(about, len, "; %s", info);
    return GN_OK;
}

/* The loader of a training set kept on the device: each epoch's order
 * (io->order) into an order slot, once the kernel has moved past the
 * epoch that used the slot before. The kernel assembles the minibatches. */
static void *order_loader(struct cuda_ctx *c)
{
    const struct gn_backend_io *io = c->io;
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const int64_t spe = c->cfg->steps_per_epoch;
    const int64_t e0 = c->cfg->first_step / spe, last = (c->cfg->steps_total - 1) / spe;
    for (int64_t e = e0; e <= last && !gn_atomic_load_relaxed_u32(&c->quit); e++) {
        const int slot = (int)(e % GN_CUDA_NORDER);
        int64_t w0 = gn_now_ns();
        while (e - e0 >= GN_CUDA_NORDER && ctl->order_epoch < e - GN_CUDA_NORDER + 1) {
            if (gn_atomic_load_relaxed_u32(&c->quit) || ctl->state != GN_CUDA_RUNNING)
                return NULL;
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        gn_atomic_fetch_add_relaxed_u64(&c->loader_wait_ns, (uint64_t)(gn_now_ns() - w0));
        io->order(io->cb_ctx, e, gn_cuda_staging_order(c->run, slot));
        enum gn_status st = gn_cuda_push_order(c->run, slot, e);
        if (st) {
            gn_atomic_store_relaxed_u32(&c->loader_status, (uint32_t)(int32_t)st);
            ctl->stop = 1;
            return NULL;
        }
    }
    return NULL;
}

static void *loader_main(void *arg)
{
    struct cuda_ctx *c = arg;
    const struct gn_backend_io *io = c->io;
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    if (gn_cuda_resident(c->run)) return order_loader(c);
    const int64_t first = c->cfg->first_step;
    for (int64_t s = first; s < c->cfg->steps_total && !gn_atomic_load_relaxed_u32(&c->quit);
         s++) {
        const int slot = (int)(s % GN_CUDA_NBUF);
        int64_t w0 = gn_now_ns();
        while (s - first >= GN_CUDA_NBUF && ctl->consumed[slot] < s + 1 - GN_CUDA_NBUF) {
            if (gn_atomic_load_relaxed_u32(&c->quit) || ctl->state != GN_CUDA_RUNNING)
                return NULL;
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        gn_atomic_fetch_add_relaxed_u64(&c->loader_wait_ns, (uint64_t)(gn_now_ns() - w0));
        int32_t rows;
        io->batch(io->cb_ctx, s, gn_cuda_staging_x(c->run, slot), gn_cuda_staging_y(c->run, slot),
                  &rows);
        enum gn_status st = gn_cuda_push_batch(c->run, slot, s, rows);
        if (st) {
            /* the detail stays in gn_cuda_error for the caller (after join) */
            gn_atomic_store_relaxed_u32(&c->loader_status, (uint32_t)(int32_t)st);
            ctl->stop = 1;
            return NULL;
        }
    }
    return NULL;
}

/* Copy the kernel's counters into the run's counters and progress record
 * and report them (io->report; tell: pass them to the user's callback). */
static void sample(struct cuda_ctx *c, int tell)
{
    const struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    struct gn_counters *n = c->io->c;
    n->step = ctl->step;
    n->t_forward_ns = ctl->t_forward_ns / c->blocks;
    n->t_backward_ns = ctl->t_backward_ns / c->blocks;
    n->t_update_ns = ctl->t_update_ns / c->blocks;
    n->t_growth_ns = ctl->t_growth_ns;
    n->t_wait_data_ns = ctl->t_wait_data_ns;
    n->t_wait_kernel_ns = (int64_t)gn_atomic_load_relaxed_u64(&c->loader_wait_ns);
    /* tasks and the queue's high water: the blocks' live slots (the
     * kernel's totals are only summed when it ends) */
    const struct gn_cuda_block_stat *bs = gn_cuda_block_stats(c->run);
    int64_t tasks = 0, high = 0;
    for (int32_t i = 0; i < c->blocks; i++) {
        tasks += bs[i].tasks;
        if (bs[i].high_water > high) high = bs[i].high_water;
    }
    if (ctl->tasks > tasks) tasks = ctl->tasks;
    if (ctl->high_water > high) high = ctl->high_water;
    n->tasks = tasks;
    n->queue_high_water = high;
    struct gn_progress *p = c->io->progress;
    int64_t seen = ctl->seen;
    p->step = ctl->step;
    p->loss = seen ? ctl->loss_sum / (double)seen : 0.0;
    p->accuracy = seen ? (double)ctl->hits / (double)seen : 0.0;
    p->groups = (int32_t)ctl->groups - 2;
    p->edges = (int32_t)ctl->edges;
    p->duplications = ctl->duplications;
    p->refused = ctl->refused;
    p->pruned = ctl->pruned;
    p->kernel_launches = 1;
    n->loss = p->loss;
    n->accuracy = p->accuracy;
    n->groups = ctl->groups;
    n->edges = ctl->edges;
    n->params = ctl->params;
    n->duplications = ctl->duplications;
    n->refused = ctl->refused;
    n->pruned = ctl->pruned;
    c->io->report(c->io->cb_ctx, tell);
}

/* The figures of epoch record e into the progress record. */
static void epoch_figures(struct cuda_ctx *c, const struct gn_cuda_epoch *e)
{
    struct gn_progress *p = c->io->progress;
    const int64_t test_count = c->cfg->test_count;
    p->loss = e->seen ? e->loss_sum / (double)e->seen : 0.0;
    p->accuracy = e->seen ? (double)e->hits / (double)e->seen : 0.0;
    p->test_accuracy = test_count > 0 ? (double)e->test_hits / (double)test_count : -1;
    p->epoch = (int32_t)c->io->c->epoch;
}

/* The kernel's numeric guard fired (numguard.h's rules, run on the
 * device): the message comes from the host's numguard on the model as the
 * kernel left it, so it is the serial and cpu backends' word for word. */
static enum gn_status numeric_fault(struct cuda_ctx *c)
{
    const struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const struct gn_plan *cfg = c->cfg;
    char kernel_says[400];
    snprintf(kernel_says, sizeof kernel_says, "%s", gn_error_message());
    enum gn_status st = gn_cuda_download(c->run, c->io->m);
    if (!st) st = gn_model_rebuild(c->io->m, c->io->m->order);
    if (st) return gn_fail(GN_ERR_NUMERIC, "cuda backend: %s", kernel_says);
    if (ctl->fault == GN_CUDA_FAULT_DIED) {
        const int64_t seen = ctl->fault_index;
        return gn_numguard_died(ctl->fault_step / cfg->steps_per_epoch, ctl->fault_step,
                                seen ? ctl->fault_loss / (double)seen : 0.0, cfg->chance_loss,
                                ctl->fault_group);
    }
    st = gn_numguard_step(c->io->m, ctl->fault_loss, (int32_t)ctl->fault_index,
                          cfg->explode_loss, ctl->fault_step);
    return st ? st : gn_fail(GN_ERR_NUMERIC, "cuda backend: %s", kernel_says);
}

/* Replay the trace records the kernel wrote (cuda_api.h) through
 * io->trace, in step order, and free their room for the kernel: those up
 * to the end of the epoch whose record comes next (the reported-th), whose
 * trace records come before it, those of later steps after it. The kernel publishes an epoch's record
 * before any later step's trace record, so an epoch count read after the
 * trace count covers every epoch ended before the records read. */
static enum gn_status drain_trace(struct cuda_ctx *c, int64_t reported)
{
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const struct gn_cuda_trace_step *ring = gn_cuda_trace_steps(c->run);
    const unsigned char *snaps = gn_cuda_trace_snaps(c->run);
    const struct gn_model *m = c->io->m;
    const size_t slot_bytes = gn_cuda_trace_slot_bytes(m->max_groups, m->max_edges);
    enum gn_status st = GN_OK;
    if (!c->tm_ready) {
        if ((st = gn_model_clone(&c->tm, m))) return st;
        c->tm_ready = 1;
    }
    const int64_t written = ctl->trace_steps;
    gn_acquire_fence(); /* the records before the count */
    const int64_t epochs = ctl->epochs;
    const int64_t upto = reported < epochs ? gn_cuda_epochs(c->run)[reported].step : INT64_MAX;
    while (!st && c->trace_read < written) {
        const struct gn_cuda_trace_step r = ring[c->trace_read % GN_CUDA_TRACE_STEPS];
        if (r.step > upto) break; /* after that epoch's record */
        struct gn_grow_event ev[GN_CUDA_TRACE_EVENTS];
        int32_t n_ev = 0;
        /* the step's pruning round, when it removed groups (the round ran
         * before the step's record: its log is in the step's snapshot) */
        struct gn_prune_log plog;
        const struct gn_prune_log *pl = NULL;
        if (r.snap) {
            const unsigned char *slot = snaps + (size_t)(c->snaps_read % GN_CUDA_TRACE_SNAPS) * slot_bytes;
            const struct gn_cuda_trace_snap *h = (const struct gn_cuda_trace_snap *)slot;
            const unsigned char *g = slot + sizeof *h;
            const unsigned char *e = g + (size_t)m->max_groups * sizeof(struct gn_group);
            const unsigned char *o = e + (size_t)m->max_edges * sizeof(struct gn_edge);
            struct gn_model *t = &c->tm;
            t->n_groups = h->n_groups;
            t->n_edges = h->n_edges;
            t->duplications = h->duplications;
            t->refused = h->refused;
            t->pruned = h->pruned;
            t->n_params = h->n_params;
            memcpy(t->groups, g, (size_t)h->n_groups * sizeof(struct gn_group));
            memcpy(t->edges, e, (size_t)h->n_edges * sizeof(struct gn_edge));
            memcpy(t->order, o, (size_t)h->n_groups * sizeof(int32_t));
            n_ev = h->n_events < GN_CUDA_TRACE_EVENTS ? h->n_events : GN_CUDA_TRACE_EVENTS;
            memcpy(ev, h->events, (size_t)n_ev * sizeof ev[0]);
            if (h->prune_step == r.step && h->plog.n_pruned > 0) {
                plog = h->plog;
                pl = &plog;
            }
            c->snaps_read++;
            /* the slot holds the records and the order; the edge lists the
             * trace reads (a new group's in-edges tell depth from width)
             * are rebuilt from them, in that order */
            st = gn_model_rebuild(t, t->order);
        }
        c->trace_read++;
        gn_release_fence(); /* done with the slots before the kernel may reuse them */
        ctl->trace_snaps_read = c->snaps_read;
        ctl->trace_steps_read = c->trace_read;
        if (!st)
            st = c->io->trace(c->io->cb_ctx, &c->tm, r.step, r.loss_sum, r.hits, r.rows, ev, n_ev, pl);
    }
    return st;
}

/* The kernel paused at the end of step ctl->snap_step for a periodic
 * checkpoint: copy the model (the kernel and its blocks are still, so the
 * copy is one step's state), let the kernel go on, then write the
 * checkpoint from the copy while it trains. */
static enum gn_status take_snapshot(struct cuda_ctx *c)
{
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const struct gn_model *m = c->io->m;
    const int64_t step = ctl->snap_step;
    gn_acquire_fence(); /* the sums the kernel wrote before snap_step */
    const struct gn_epoch_sums sums = {ctl->snap_loss_sum, ctl->snap_hits, ctl->snap_seen,
                                       ctl->snap_guard};
    const int64_t round = ctl->snap_grow_round;
    enum gn_status st = GN_OK;
    if (!c->snap_ready) c->snap_ready = (st = gn_model_clone(&c->snap, m)) == GN_OK;
    if (!st) st = gn_cuda_download(c->run, &c->snap);
    c->snapped = step;
    gn_release_fence();
    ctl->snap_done = step; /* the copy is taken: the kernel goes on */
    if (!st) st = gn_model_rebuild(&c->snap, c->snap.order);
    if (st) {
        char why[400];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(st, "cuda backend: the checkpoint of step %lld: %s", (long long)step, why);
    }
    return c->io->snapshot(c->io->cb_ctx, &c->snap, step, round, &sums);
}

static enum gn_status cuda_run(void *ctx)
{
    struct cuda_ctx *c = ctx;
    struct gn_backend_io *io = c->io;
    const struct gn_plan *cfg = c->cfg;
    struct gn_cuda_ctl *ctl = gn_cuda_ctl(c->run);
    const struct gn_cuda_epoch *ep = gn_cuda_epochs(c->run);
    /* a resumed run: the counters start where the checkpoint left them */
    ctl->step = cfg->first_step;
    ctl->loss_sum = cfg->first_loss_sum;
    ctl->hits = cfg->first_hits;
    ctl->seen = cfg->first_seen;
    ctl->pruned = io->m->pruned;
    enum gn_status st = gn_cuda_launch(c->run);
    if (st) return cuda_fail(c, st, "cannot launch the kernel");
    c->blocks = gn_cuda_blocks(c->run); /* fewer where the launch fell back to one an SM */
    if (pthread_create(&c->loader, NULL, loader_main, c) != 0) {
        ctl->stop = 1;
        gn_cuda_wait(c->run);
        return gn_fail(GN_ERR_DEVICE, "cannot start the loader thread");
    }
    c->loader_started = 1;
    int64_t last_step = -1, reported = 0;
    int ended = 0;
    enum gn_status snap_st = GN_OK, trace_st = GN_OK;
    char snap_why[512] = "", trace_why[512] = "";
    const int tracing = cfg->trace && io->trace && gn_cuda_trace_steps(c->run);
    for (;;) {
        int state = ctl->state;
        if (gn_atomic_load_relaxed_u32(io->stop)) ctl->stop = 1;
        /* the epoch records present now; the trace records of their steps
         * were written before them, and are replayed first, those of later
         * steps only after the epoch record (drain_trace's limit) */
        const int64_t epochs = ctl->epochs;
        if (tracing && !trace_st && (trace_st = drain_trace(c, reported))) {
            /* a trace that cannot be written ends the run */
            snprintf(trace_why, sizeof trace_why, "%s", gn_error_message());
            ctl->stop = 1;
        }
        if (cfg->checkpoint_every > 0 && io->snapshot && ctl->snap_step > c->snapped &&
            !snap_st && (snap_st = take_snapshot(c))) {
            /* a checkpoint that cannot be written ends the run */
            snprintf(snap_why, sizeof snap_why, "%s", gn_error_message());
            ctl->stop = 1;
        }
        int64_t step = ctl->step;
        if (step != last_step) {
            last_step = step;
            io->progress->epoch_end = 0;
            sample(c, step > 0);
        }
        while (reported < epochs) {
            const struct gn_cuda_epoch *e = &ep[reported++];
            sample(c, 0);
            struct gn_progress *p = io->progress;
            p->step = e->step;
            if (e->step % cfg->steps_per_epoch == 0) io->c->epoch = e->step / cfg->steps_per_epoch;
            epoch_figures(c, e);
            p->groups = (int32_t)e->groups - 2;
            p->edges = (int32_t)e->edges;
            p->duplications = e->duplications;
            p->refused = e->refused;
            p->dead_groups = (int32_t)e->dead_groups;
            p->epoch_end = 1;
            io->report(io->cb_ctx, 1);
            if (tracing && !trace_st && io->trace_epoch && (trace_st = io->trace_epoch(io->cb_ctx))) {
                snprintf(trace_why, sizeof trace_why, "%s", gn_error_message());
                ctl->stop = 1;
            }
            /* the steps after this epoch's end, up to the next's */
            if (tracing && !trace_st &&
                (trace_st = drain_trace(c, reported))) {
                snprintf(trace_why, sizeof trace_why, "%s", gn_error_message());
                ctl->stop = 1;
            }
        }
        if (state != GN_CUDA_RUNNING) break;
        /* a kernel that died (an illegal address, a trap) leaves its state
         * word RUNNING: gn_cuda_wait below reports the CUDA error */
        if (gn_cuda_ended(c->run)) {
            /* once more without sleeping: a kernel that ended normally has
             * its state and last epoch records visible now */
            if (ended) break;
            ended = 1;
            continue;
        }
        /* tracing: the kernel waits when its four snapshot slots are full */
        struct timespec ts = {0, tracing ? 200000 : 2000000};
        nanosleep(&ts, NULL);
    }
    /* The loader first (it ends at quit, or when the kernel's state is not
     * running), so that its failure's detail and the kernel's are not
     * written at once; the kernel's fault, when there is one, is reported
     * before the loader's. */
    gn_atomic_store_relaxed_u32(&c->quit, 1);
    pthread_join(c->loader, NULL);
    c->loader_started = 0;
    enum gn_status lst = (enum gn_status)(int32_t)gn_atomic_load_relaxed_u32(&c->loader_status);
    enum gn_status kst = gn_cuda_wait(c->run);
    if (kst == GN_ERR_NUMERIC) return numeric_fault(c);
    if (kst) return cuda_fail(c, kst, "");
    if (snap_st) return gn_fail(snap_st, "%s", snap_why);
    if (trace_st) return gn_fail(trace_st, "%s", trace_why);
    if (lst) return cuda_fail(c, lst, "the loader failed");
    if ((st = gn_cuda_download(c->run, io->m)))
        return cuda_fail(c, st, "cannot copy the model back");
    *io->grow_round = gn_cuda_grow_round(c->run);
    if (io->profile) {
        struct gn_profile *pr = io->profile;
        memset(pr, 0, sizeof *pr);
        GN_STATIC_ASSERT(GN_CUDA_PROF_COUNT <= GN_PROFILE_MAX, "the profile's phases fit");
        if (gn_cuda_profile(c->run, pr->ns, &pr->workers) == GN_OK) {
            pr->phases = GN_CUDA_PROF_COUNT;
            for (int32_t i = 0; i < GN_CUDA_PROF_COUNT; i++)
                snprintf(pr->name[i], sizeof pr->name[i], "%s", gn_cuda_profile_name(i));
        }
    }
    {
        const double *log = gn_cuda_step_loss(c->run);
        const int64_t *tl = gn_cuda_step_time(c->run);
        int64_t n = ctl->step < io->log_len ? ctl->step : io->log_len;
        for (int64_t i = cfg->first_step; i < n; i++) {
            io->loss_log[i] = log[i];
            io->time_log[i] = tl[i];
        }
    }
    if ((st = gn_model_rebuild(io->m, io->m->order))) {
        char why[400];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(st, "cuda backend: the grown graph is invalid: %s", why);
    }
    sample(c, 0);
    /* the epoch's sums as the kernel left them, for the final checkpoint */
    io->sums->loss = ctl->loss_sum;
    io->sums->hits = ctl->hits;
    io->sums->seen = ctl->seen;
    io->sums->guard = ctl->guard;
    /* the run ended on an epoch's end: report that epoch's figures */
    if (reported > 0 && ep[reported - 1].step == ctl->step) epoch_figures(c, &ep[reported - 1]);
    if (ctl->state == GN_CUDA_STOPPED)
        return gn_fail(GN_ERR_INTERRUPTED, "stopped at step %lld", (long long)ctl->step);
    return GN_OK;
}

/* Evaluation outside the run uses the host copy of the model. */
static enum gn_status cuda_forward(void *ctx)
{
    struct cuda_ctx *c = ctx;
    gn_backend_host_forward(c->io->m, c->io->buf);
    return GN_OK;
}

static enum gn_status cuda_step(void *ctx, int grow)
{
    (void)ctx;
    (void)grow;
    return gn_fail(GN_ERR_UNSUPPORTED, "the cuda backend runs whole runs, not single steps");
}

/* Safe on any context cuda_open left, NULL included. */
static void cuda_close(void *ctx)
{
    struct cuda_ctx *c = ctx;
    if (!c) return;
    if (c->loader_started) {
        gn_atomic_store_relaxed_u32(&c->quit, 1);
        pthread_join(c->loader, NULL);
    }
    gn_cuda_destroy(c->run);
    if (c->snap_ready) gn_model_free(&c->snap);
    if (c->tm_ready) gn_model_free(&c->tm);
    free(c);
}

const struct gn_backend_ops gn_backend_cuda = {
    .name = "cuda",
    .probe = cuda_probe,
    .open = cuda_open,
    .step = cuda_step,
    .forward = cuda_forward,
    .run = cuda_run,
    .close = cuda_close,
    .warm = gn_device_warm,
};
