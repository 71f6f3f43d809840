/*
 * genet-rt public API.
 *
 * genet-rt trains generalized neural networks: a DAG of small dense+ReLU
 * neuron groups that grows during training. This header is the whole public
 * surface: status codes, the settings struct, datasets and the trainer
 * handle. Every function returns an enum gn_status (0 ok, negative error);
 * results come back through out-parameters. After an error,
 * gn_error_message() holds a human-readable description of what went wrong
 * and where (file, offset, group...), for the calling thread.
 */
#ifndef GENET_GENET_H
#define GENET_GENET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gn_status {
    GN_OK = 0,
    GN_ERR_INVALID = -1,     /* a bad argument or option value */
    GN_ERR_NOMEM = -2,       /* an allocation failed */
    GN_ERR_IO = -3,          /* a file could not be opened, read or written */
    GN_ERR_FORMAT = -4,      /* a file's content is malformed */
    GN_ERR_UNSUPPORTED = -5, /* a backend that is not built or has no device */
    GN_ERR_FULL = -6,        /* a pool is full (growth refusals are counted, not errors) */
    GN_ERR_DEVICE = -7,      /* a CUDA call or a device-side check failed */
    GN_ERR_NUMERIC = -8,     /* NaN or Inf in a loss or gradient */
    GN_ERR_INTERRUPTED = -9, /* stopped by a signal or a stop request */
};

/* A short constant name for a status ("invalid argument", ...). */
const char *gn_status_str(enum gn_status s);

/* The detailed message of the calling thread's last error ("" if none). */
const char *gn_error_message(void);

enum gn_backend {
    GN_BACKEND_AUTO = 0,
    GN_BACKEND_SERIAL = 1,
    GN_BACKEND_CPU = 2,
    GN_BACKEND_CUDA = 3,
};

const char *gn_backend_name(enum gn_backend b);

/*
 * Can backend b run here? GN_OK when it can; GN_ERR_UNSUPPORTED when this
 * build lacks it or, for cuda, no usable GPU exists (none present, a driver
 * error, a compute capability below the build's, no cooperative launch).
 * why (may be NULL) receives a sentence for the user either way: the device
 * found, or what is missing. For GN_BACKEND_AUTO: GN_OK, and why names the
 * backend `--backend auto` picks and the reason (a trace keeps auto off
 * cuda; gn_trainer_backend_reason tells the choice a trainer made).
 */
enum gn_status gn_backend_probe(enum gn_backend b, char *why, size_t len);


enum gn_grow_policy {
    GN_GROW_OFF = 0,
    GN_GROW_DEPTH = 1,
    GN_GROW_WIDTH = 2,
    GN_GROW_ALTERNATE = 3,
    GN_GROW_RANDOM = 4,
};

const char *gn_grow_policy_name(enum gn_grow_policy p);

/* What marks a hidden group for duplication (--grow-criterion). Both read
 * the group's gradient standard deviation (the growth statistic). */
enum gn_grow_criterion {
    GN_GROW_CRITERION_STD = 0,      /* it exceeds grow_threshold, an absolute value */
    GN_GROW_CRITERION_RELATIVE = 1, /* it exceeds grow_ratio times the (lower) median
                                       of the hidden groups' (scale-free; a lone hidden
                                       group is marked when it is above zero) */
};

const char *gn_grow_criterion_name(enum gn_grow_criterion c);

/* The arithmetic of the task math's products (--precision): the forward
 * pass, the backward error and the weight gradients. fp32 is the default
 * and the only one of the serial and cpu backends: the canonical order,
 * the same bits on every backend. tf32 and bf16 run the same tiles on the
 * cuda backend's tensor cores (operands rounded to 10 or 7 mantissa bits,
 * fp32 sums): faster products, results within a stated tolerance of fp32's
 * (docs/PERF.md), still the same bits run after run. The loss, the bias
 * sums, the optimizer and the growth statistic stay fp32. */
enum gn_precision {
    GN_PRECISION_FP32 = 0,
    GN_PRECISION_TF32 = 1,
    GN_PRECISION_BF16 = 2,
};

const char *gn_precision_name(enum gn_precision p);

/* What a NaN or Inf in a step's loss or gradients does (--on-nan). */
enum gn_nan_policy {
    GN_NAN_STOP = 0, /* stop the run: GN_ERR_NUMERIC naming the group and the step */
    GN_NAN_SKIP = 1, /* discard the step: its loss is not counted and the model (weights,
                        momentum, graph) is restored to what it was before the step */
};

/* The optimizer (--optimizer). Biases are never decayed. */
enum gn_optimizer {
    GN_OPTIM_SGD = 0,   /* momentum SGD, weight decay as L2 added to the gradient (default) */
    GN_OPTIM_ADAM = 1,  /* Adam, weight decay as L2 added to the gradient */
    GN_OPTIM_ADAMW = 2, /* Adam with decoupled weight decay: w -= lr * weight_decay * w */
};

const char *gn_optimizer_name(enum gn_optimizer o);

/* The learning rate of each step (--lr-schedule), after lr_warmup steps of
 * linear warmup (step s < lr_warmup runs at lr * (s + 1) / lr_warmup). */
enum gn_lr_schedule {
    GN_LR_CONSTANT = 0, /* lr */
    GN_LR_COSINE = 1,   /* (default) from lr at the warmup's end to lr_min at the run's last step */
    GN_LR_STEP = 2,     /* lr * lr_gamma^k after k * lr_step_every steps past the warmup */
};

const char *gn_lr_schedule_name(enum gn_lr_schedule s);

/* How input features are normalized before training (--normalize): per
 * feature, from the training examples in use, applied to the training and
 * test sets and stored in checkpoints (docs/NORMALIZE.md). */
enum gn_normalize {
    GN_NORMALIZE_NONE = 0,     /* the data as loaded */
    GN_NORMALIZE_STANDARD = 1, /* (x - mean) / deviation; a constant feature becomes 0 (default) */
    GN_NORMALIZE_MINMAX = 2,   /* (x - min) / (max - min): training set to [0,1] */
    GN_NORMALIZE_SCALE = 3,    /* x / max |x|: training set to [-1,1] */
};

const char *gn_normalize_name(enum gn_normalize m);

/* The default length of a run, when settings.epochs and settings.steps are
 * both 0 (gn_default_settings, `genet-rt train` without --epochs or
 * --steps): GN_DEFAULT_EPOCHS passes over the training set, and more where
 * those would take fewer than GN_DEFAULT_MIN_STEPS steps, the fewest whole
 * passes that take at least that many (a small training set: at batch 128,
 * one of fewer than 50 minibatches, 6272 examples or fewer). Chosen by
 * measurement on small tabular sets; a training set of 60000 examples gets
 * 10 epochs as before (docs/CRITERIA.md, "Default length"). */
#define GN_DEFAULT_EPOCHS 10
#define GN_DEFAULT_MIN_STEPS 500

/* Growth rounds every this many steps when settings.grow_every is 0 (the
 * default): every 200 steps, every 400 with --grow depth alone. A
 * depthwise round deepens a chain by a group; at 200 a 30-epoch
 * Fashion-MNIST run fills the pool with a chain 62 deep (0.8800, 0.8784,
 * 0.8831 on seeds 1 to 3), at 400 it stops at 36-37 (0.8851, 0.8855,
 * 0.8868), while widthwise growth does better at 200 than at 300
 * (README, "Depth and width alone"). gn_settings_grow_every gives it. */
#define GN_DEFAULT_GROW_EVERY 200
#define GN_DEFAULT_GROW_EVERY_DEPTH 400

struct gn_settings {
    enum gn_backend backend;
    int32_t group_size; /* S: width of every hidden group */
    int32_t batch;      /* minibatch rows */
    int32_t epochs;     /* passes over the training set (0 = until steps; with steps 0 too,
                           the default length above) */
    int64_t steps;      /* stop after this many steps (0 = no limit) */
    int64_t limit_train; /* use only the first N training examples (0 = all) */
    enum gn_normalize normalize; /* statistics from the training examples in use */
    float lr;
    float momentum;     /* sgd */
    float weight_decay; /* weights only, never biases */
    uint64_t seed;

    /* Optimizer and learning-rate schedule (enums above). */
    enum gn_optimizer optimizer;
    float beta1, beta2, eps; /* adam, adamw: decay of the two moments, the denominator's
                                epsilon (0.9, 0.999, 1e-8) */
    enum gn_lr_schedule lr_schedule;
    int64_t lr_warmup;     /* steps of linear warmup (0: none) */
    int64_t lr_step_every; /* step schedule: steps between decays (required there) */
    float lr_gamma;        /* step schedule: the factor of each decay, in (0, 1] */
    float lr_min;          /* cosine schedule: the rate it decays to, in [0, lr] */

    enum gn_grow_policy grow;
    enum gn_grow_criterion grow_criterion;
    float grow_threshold; /* std: mark a group when its gradient std exceeds this */
    float grow_ratio;     /* relative: mark it when it exceeds this times the median */
    int32_t grow_every;   /* growth check every N steps (0: GN_DEFAULT_GROW_EVERY*) */
    float grow_noise;     /* widthwise symmetry-breaking perturbation scale */
    /* Pruning, at the growth rounds: a hidden group whose contribution (the
     * mean over the last batch of |a - mean(a)| times the L2 norm of its
     * outgoing weights) was below prune_threshold for prune_after rounds in
     * a row is removed, its mean contribution folded into its successors'
     * biases (0 = off, the default; serial and cpu backends). */
    float prune_threshold;
    int32_t prune_after;

    int32_t max_groups; /* pool capacities: the global limit on growth */
    int32_t max_edges;  /* 0 = derived from max_groups */
    int64_t max_params; /* floats; 0 = derived from max_groups and widths */

    int32_t threads; /* cpu backend workers (0 = cores present) */
    int32_t tile;    /* rows per task (0 = chosen from batch and workers) */

    /* Live counters: a ring buffer in POSIX shared memory that genet-stat
     * reads. Off when stats_interval_ms is 0 (the library default). */
    const char *stats_ring;    /* ring name, NULL = "genet-<pid>" */
    int32_t stats_interval_ms; /* sampling period */
    int32_t keep_stats;        /* 1: leave the ring in place after the run */

    /* Growth trace: JSON lines for tools/genet-viz (docs/TRACE.md). Off when
     * trace_path is NULL (the library default); serial and cpu backends only. */
    const char *trace_path;
    int32_t trace_every; /* a record every N steps (0 = only when the network grows) */

    /* Checkpoints (docs/RELIABILITY.md). With checkpoint_path set, a
     * checkpoint is written there every checkpoint_every steps (0: none
     * during the run; the cuda backend writes none during the run), at the
     * end of the run and when a stop is requested. resume_path, when set,
     * starts the run from a checkpoint written with the same data and
     * settings; steps and epochs still count from the start of the run. */
    const char *checkpoint_path;
    int64_t checkpoint_every;
    const char *resume_path;
    enum gn_nan_policy on_nan;
    enum gn_precision precision; /* --precision (default fp32) */

    /* Debugging knobs of the cuda backend (0 = off, the default). genet-rt
     * sets them from --cuda-timeout-scale, --cuda-inject-stuck,
     * --cuda-blocks-per-sm and --cuda-stream-data, or from the environment
     * variables of the same names (GN_CUDA_TIMEOUT_SCALE, ...); the library
     * reads no environment. */
    int32_t cuda_timeout_scale; /* 1..100000: stretch the kernel's timeouts (batch wait, grid
                                   barrier, queue no-progress bound) N times, for runs under
                                   compute-sanitizer */
    int32_t cuda_inject_stuck;  /* fault injection: one task of this step (1-based) spins
                                   without finishing, so the stuck-task detection must fire */
    int32_t cuda_blocks_per_sm; /* worker blocks per SM (0: 2, or fewer where fewer fit) */
    int32_t cuda_stream_data;   /* 1: stream minibatches from the host even where the training
                                   set fits on the device (0: keep it there where it fits, and
                                   the kernel assembles the minibatches) */

    /* Data-parallel ranks simulated in one process (--ranks, default 1):
     * each rank trains a replica of the network on its share of every
     * minibatch and an in-process reducer combines the gradients in the
     * order that gives the one-rank run's bits. For testing the multi-GPU
     * agreement logic, not a speed-up; the serial backend only. */
    int32_t ranks;
};

/* Fill s with the defaults (documented in `genet-rt train --help`). */
void gn_default_settings(struct gn_settings *s);

/* GN_OK, or GN_ERR_INVALID / GN_ERR_UNSUPPORTED with a message naming the
 * option, when the settings cannot make a run: a value out of range, a
 * combination not supported, a backend this build lacks. Needs no data or
 * device (gn_trainer_open checks them too), so a program can refuse bad
 * options before it reads a dataset. */
enum gn_status gn_settings_check(const struct gn_settings *s);

/* Does now the set-up that needs no data and would otherwise fall in the
 * first gn_trainer_open with settings s: where s asks for the cuda backend,
 * or --backend auto may pick it, the driver and the GPU's context (a few
 * hundred ms). A program can run it on a thread of its own while it reads
 * a dataset, and join that thread before gn_trainer_open. Nothing for the
 * host backends; errors are left for gn_trainer_open to report.
 * Thread-safe. */
void gn_settings_warm(const struct gn_settings *s);

/* The growth rounds' period of s: s->grow_every, or where that is 0 the
 * default for s->grow (GN_DEFAULT_GROW_EVERY, _DEPTH). */
int32_t gn_settings_grow_every(const struct gn_settings *s);

/* A dataset held in memory, labels < classes. IDX images are scaled to
 * [0,1]; CSV features are as written (the trainer normalizes, --normalize). */
struct gn_data {
    int32_t count;    /* examples */
    int32_t features; /* floats per example */
    int32_t classes;  /* 1 + largest label seen (at least 2) */
    float *x;         /* (count, features) row-major */
    uint8_t *y;       /* (count) */
};

/*
 * Load a dataset. path is either a directory holding the four IDX files
 * (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte, each raw or .gz), or a CSV file (label first, then
 * features, optional header) which gives the training set; test is then
 * filled from a sibling file whose name has "train" replaced by "test" if it
 * exists, else left empty (count 0).
 */
enum gn_status gn_data_load(const char *path, struct gn_data *train, struct gn_data *test);
void gn_data_free(struct gn_data *d);


/* ---- training ---------------------------------------------------------- */

typedef struct gn_trainer gn_trainer;

/* What a training run reports while it goes and at its end. */
struct gn_progress {
    int64_t step;        /* steps done since the start of the run */
    int64_t steps_total; /* planned steps (epochs * steps per epoch, or --steps) */
    int32_t epoch;       /* epochs completed */
    int32_t epoch_end;   /* 1 when this report closes an epoch (test_accuracy set) */
    double loss;         /* mean training loss over the epoch so far */
    double accuracy;     /* running training accuracy over the epoch so far */
    double test_accuracy; /* at epoch ends; -1 when there is no test set */
    int32_t groups, edges; /* hidden groups in use, edges in use */
    int64_t duplications, refused;
    int64_t pruned;      /* hidden groups removed by pruning since the start */
    double seconds;      /* since the run started */
    double steps_per_s;
    int64_t kernel_launches; /* GPU kernel launches of the run (cuda: 1 for training) */
    int64_t skipped;     /* steps discarded by GN_NAN_SKIP since the start */
    int32_t dead_groups; /* at epoch ends: hidden groups with every ReLU off at the last step */
    int32_t died;        /* 1 once the network has died (loss at chance with dead groups at
                          * consecutive epoch ends; GN_NAN_STOP ends the run there instead) */
};

typedef void (*gn_progress_fn)(void *ctx, const struct gn_progress *p);

/*
 * Open a trainer: pick and open the backend, build the start graph (the
 * default one-hidden-group network, or graph_path when not NULL), initialise
 * weights from the seed. The datasets must outlive the trainer.
 */
enum gn_status gn_trainer_open(gn_trainer **out, const struct gn_settings *s,
                               const struct gn_data *train, const struct gn_data *test,
                               const char *graph_path);

/* The backend actually used and why it was chosen (for --backend auto). */
enum gn_backend gn_trainer_backend(const gn_trainer *t);
const char *gn_trainer_backend_reason(const gn_trainer *t);

/* The run's planned length, from open on: *epochs passes over the training
 * set (0: a run of settings.steps alone) and *steps steps in all, counted
 * from the start of the run (--steps applied). With settings.epochs and
 * settings.steps both 0 it is the default length (GN_DEFAULT_EPOCHS, more
 * on a small training set). Either pointer may be NULL. */
void gn_trainer_length(const gn_trainer *t, int32_t *epochs, int64_t *steps);

/* Train for the configured epochs / steps; progress (may be NULL) is called
 * after every step and at every epoch end. */
enum gn_status gn_trainer_run(gn_trainer *t, gn_progress_fn progress, void *ctx);

/* Ask a running gn_trainer_run to stop after the current step (async-signal
 * safe). gn_trainer_run then returns GN_ERR_INTERRUPTED. */
void gn_trainer_request_stop(gn_trainer *t);

/* Loss and accuracy of the current network on a dataset, given as loaded
 * (the trainer applies the run's normalization to it). */
enum gn_status gn_trainer_evaluate(gn_trainer *t, const struct gn_data *d, double *loss,
                                   double *accuracy);

/* The run's input normalization (settings.normalize; after --resume, the
 * checkpoint's). */
enum gn_normalize gn_trainer_normalize(const gn_trainer *t);

/* The last progress record (the run's summary once it has ended). */
void gn_trainer_progress(const gn_trainer *t, struct gn_progress *p);

/* The set-up's parts, in the order they ran: gn_trainer_open's own (the
 * normalization's fit, the model, the normalized copies, the buffers, the
 * backend's open) and those a backend's open adds to io->setup (the cuda
 * backend: its allocations, uploads, pinned buffers and kernel entry), each
 * a wall-clock time. gn_trainer_setup copies them out; genet-rt's --json
 * prints them as "open_parts". */
#define GN_SETUP_MAX 16
struct gn_setup {
    int32_t n;
    char name[GN_SETUP_MAX][16];
    int64_t ns[GN_SETUP_MAX];
};

/* The parts of the set-up that gn_trainer_open ran, timed. */
void gn_trainer_setup(const gn_trainer *t, struct gn_setup *out);

/* The stats ring's name ("" when there is none). */
const char *gn_trainer_stats_ring(const gn_trainer *t);

/* Write a checkpoint of the run's current state (atomically; see
 * docs/RELIABILITY.md for the format), while no gn_trainer_run is in
 * progress. gn_trainer_run itself writes the periodic, final and stop
 * checkpoints of settings.checkpoint_path. */
enum gn_status gn_trainer_save_checkpoint(gn_trainer *t, const char *path);

/* Write the current graph as a graph file. */
enum gn_status gn_trainer_save_graph(const gn_trainer *t, const char *path);

void gn_trainer_close(gn_trainer *t);


/* ---- trained networks: model files ------------------------------------- */

/*
 * A model file is a trained network in safetensors: one F32 tensor per edge
 * weight block ("edge.<src>-><dst>.weight", shape [src width, dst width])
 * and per bias ("group.<id>.bias", "output.bias"), named by the ids of the
 * graph file, and in the metadata the graph file's JSON, the input and
 * class counts and the format ("genet-model", version 1). The format is
 * described in docs/MODELFILE.md; tools/genet_torch.py loads it into
 * PyTorch.
 */

/* Write the trainer's current network as a model file (atomically), while
 * no gn_trainer_run is in progress. */
enum gn_status gn_trainer_save_model(gn_trainer *t, const char *path);

/* Write the network a checkpoint holds as a model file. */
enum gn_status gn_checkpoint_export(const char *checkpoint, const char *path);

/* A network loaded from a model file, for inference on the CPU. */
typedef struct gn_net gn_net;

/* Load a model file; a malformed file is GN_ERR_FORMAT (GN_ERR_IO when it
 * cannot be read) with a message naming what is wrong. */
enum gn_status gn_net_load(gn_net **out, const char *path);

int32_t gn_net_inputs(const gn_net *n);  /* features per example */
int32_t gn_net_classes(const gn_net *n); /* output width */
int32_t gn_net_groups(const gn_net *n);  /* hidden groups */

/* Logits (rows, classes) of the rows of x (rows, inputs): the serial
 * backend's forward, bitwise what training-time evaluation computes. */
enum gn_status gn_net_logits(gn_net *n, const float *x, int64_t rows, float *logits);

/* Mean cross-entropy loss and accuracy on d; confusion (may be NULL), of
 * classes x classes entries, receives counts [true label][predicted].
 * GN_ERR_INVALID when d's feature count differs from the network's or a
 * label is not below its class count. */
enum gn_status gn_net_evaluate(gn_net *n, const struct gn_data *d, double *loss,
                               double *accuracy, int64_t *confusion);

void gn_net_close(gn_net *n);

#ifdef __cplusplus
}
#endif

#endif
