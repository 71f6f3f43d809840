/*
 * The trainer's insides, shared by the backends.
 *
 * A backend is a small table of functions (struct gn_backend_ops) plus a
 * context. serial and cpu provide `step` and the shared host loop in
 * trainer.c drives them; a backend that runs the whole training run itself
 * (cuda: one persistent kernel) provides `run` instead.
 */
#ifndef GN_RUNTIME_TRAINER_H
#define GN_RUNTIME_TRAINER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "genet/genet.h"
#include "grow.h"
#include "model.h"
#include "ops.h"
#include "poller.h"
#include "ring.h"

struct gn_trainer;

/* Counters that the stats poller and the progress reports read. The
 * training thread owns `c`; once a step it copies them to `pub` under
 * pub_lock (gn_trainer_publish), and the poller reads only `pub`. */
struct gn_counters {
    int64_t step, epoch;
    double loss, accuracy; /* running over the epoch */
    int64_t tasks;
    int64_t t_forward_ns, t_backward_ns, t_update_ns, t_growth_ns;
    int64_t t_wait_data_ns, t_wait_kernel_ns;
    int64_t queue_high_water;
    int64_t groups, edges, params; /* pool use, input and output included */
    int64_t duplications, refused;
};

struct gn_backend_ops {
    const char *name;
    enum gn_status (*open)(struct gn_trainer *t);
    /* One step on t->buf (x, y, rows set): forward, loss, backward,
     * gradients, update, and, when grow is set, marking and duplication. */
    enum gn_status (*step)(struct gn_trainer *t, int grow);
    /* Forward and loss only (evaluation) on t->buf. */
    enum gn_status (*forward)(struct gn_trainer *t);
    /* The whole run (optional; replaces the host loop). */
    enum gn_status (*run)(struct gn_trainer *t, gn_progress_fn progress, void *ctx);
    /* The trainer replaced t->m between steps (--on-nan skip restored it):
     * rebuild what the backend derives from the graph (optional). */
    enum gn_status (*reload)(struct gn_trainer *t);
    void (*close)(struct gn_trainer *t);
};

extern const struct gn_backend_ops gn_backend_serial;
extern const struct gn_backend_ops gn_backend_cpu;
extern const struct gn_backend_ops gn_backend_cuda;

struct gn_trainer {
    struct gn_settings s;
    const struct gn_data *train, *test;
    enum gn_backend backend;
    char backend_reason[256];
    const struct gn_backend_ops *ops;
    void *bctx; /* backend context */

    struct gn_model m;
    struct gn_buffers buf;
    float *xbatch;    /* (batch, inputs): the assembled minibatch */
    uint8_t *ybatch;  /* (batch) */
    int32_t *perm;    /* (train count): this epoch's order */
    int64_t n_train;  /* examples used (limit_train applied) */
    int64_t steps_per_epoch;
    int64_t grow_round;

    struct gn_counters c;
    struct gn_progress last;
    volatile sig_atomic_t stop;
    int64_t t0_ns;

    /* mean loss of each step, the first GN_LOSS_LOG steps (tests compare
     * backends step by step) */
    double *loss_log;
    int64_t *time_log; /* ns since the run started, at the end of each step */
    int64_t loss_log_len;

    /* the counters as last published, for the poller thread */
    pthread_mutex_t pub_lock;
    struct gn_counters pub;

    /* the stats ring and its poller (NULL when off) */
    struct gn_ring *ring;
    struct gn_poller *poller;
    int64_t sample_ns, sample_tasks; /* the poller's previous sample */

    /* growth events of the last step, for traces */
    struct gn_grow_event events[64];
    int32_t n_events;

    struct gn_trace *trace; /* the growth trace (NULL when off) */

    /* The epoch's running sums (checkpointed: a resumed run starts mid-epoch
     * with them), steps discarded by --on-nan skip, the model as it was
     * before the step (--on-nan skip only), the training data's CRC32 (set
     * when checkpoints are written or read), the last checkpoint's step. */
    double ep_loss;
    int64_t ep_hits, ep_seen;
    int64_t skipped;
    struct gn_snapshot *snap;
    uint32_t data_crc;
    int64_t ckpt_step;
};

#define GN_LOSS_LOG (1 << 20)

int64_t gn_now_ns(void);

/* Copy the training thread's counters to the poller's view. */
void gn_trainer_publish(struct gn_trainer *t);

/* Fill t->xbatch/ybatch with rows [i0, i0+rows) of the epoch permutation
 * and point t->buf at them. */
void gn_trainer_load_batch(struct gn_trainer *t, int64_t i0, int32_t rows);

/* The epoch permutation (seeded Fisher-Yates, a pure function of seed and
 * epoch). */
void gn_trainer_shuffle(struct gn_trainer *t, int64_t epoch);

#endif
