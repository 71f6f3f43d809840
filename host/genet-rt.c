/*
 * genet-rt: train a generalized neural network on a dataset.
 *
 *   genet-rt train DATASET [options]
 *   genet-rt export | eval | predict ...   (infer.c: model files)
 *
 * Parses options into gn_settings, loads the data, opens a trainer on the
 * chosen backend and runs it, showing a live line on a terminal, one log
 * line per epoch, and (--json) a summary object last on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "genet/genet.h"
#include "gn_config.h"
#include "infer.h"

static const char *usage_top =
    "usage: genet-rt COMMAND [options]\n"
    "\n"
    "Train generalized neural networks: a DAG of small dense+ReLU neuron groups\n"
    "that grows during training.\n"
    "\n"
    "commands:\n"
    "  train DATASET [options]   train on DATASET (see genet-rt train --help)\n"
    "  bench GRAPH [options]     time training steps of a graph file on synthetic data\n"
    "                            (see genet-rt bench --help)\n"
    "  export CHECKPOINT -o FILE write a checkpoint's network as a model file\n"
    "  eval MODEL DATASET        loss, accuracy (and --confusion) of a model file\n"
    "  predict MODEL DATA -o FILE\n"
    "                            per-example predicted class and probabilities as CSV\n"
    "  --help                    this text\n"
    "  --version                 print the version\n";

static void usage_train(FILE *f)
{
    struct gn_settings d;
    gn_default_settings(&d);
    fprintf(f,
            "usage: genet-rt train DATASET [options]\n"
            "\n"
            "DATASET is a directory with the four IDX files of MNIST / Fashion-MNIST\n"
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,\n"
            "t10k-labels-idx1-ubyte, raw or .gz), or a CSV file (label first, then the\n"
            "features; a header line is allowed; a sibling file with 'train' replaced by\n"
            "'test' in its name is used as the test set).\n"
            "\n"
            "backend:\n"
            "  --backend B          auto|serial|cpu|cuda (default auto: cuda where a usable\n"
            "                       GPU exists, else the best CPU backend built in)\n"
            "  --threads N          cpu backend worker threads (default: cores present)\n"
            "  --tile N             rows per task for the cpu/cuda backends (default: chosen)\n"
            "  --precision P        fp32|tf32|bf16: the arithmetic of the products (forward,\n"
            "                       backward error, weight gradients; default fp32, exact and\n"
            "                       the same bits on every backend); tf32 and bf16 run them\n"
            "                       on the tensor cores with fp32 sums: cuda only (auto then\n"
            "                       means cuda), close to fp32, not bitwise (docs/PERF.md)\n"
            "  --ranks N            simulate N data-parallel ranks in one process (default 1):\n"
            "                       each rank trains a replica on its share of every\n"
            "                       minibatch (--batch is the global batch, N at most it)\n"
            "                       and the gradients are combined so the run is the\n"
            "                       one-rank run bit for bit. A test of the multi-GPU logic,\n"
            "                       not a speed-up (N replicas' work in one process); the\n"
            "                       serial and cpu backends (auto picks cpu where there is\n"
            "                       no GPU; cuda and auto on a GPU refuse: multi-GPU\n"
            "                       training is not built yet); no --prune-threshold;\n"
            "                       checkpoints and --resume work, across rank counts\n"
            "\n"
            "training:\n"
            "  --epochs N           passes over the training set (default %d, and at least\n"
            "                       %d steps: a small training set, of fewer than %d\n"
            "                       minibatches, gets the fewest epochs that make them; the\n"
            "                       launch says so. --epochs or --steps sets the length)\n"
            "  --steps N            stop after N steps, counted from the start (default: none;\n"
            "                       alone: a run of exactly N steps)\n"
            "  --limit-train N      use only the first N training examples\n"
            "  --normalize M        standard|minmax|scale|none: per-feature input\n"
            "                       normalization fitted on the training examples in use,\n"
            "                       applied to the test set too and kept in checkpoints;\n"
            "                       standard: (x - mean) / deviation, minmax: to [0,1],\n"
            "                       scale: x / max |x|, none: as loaded (IDX pixels in\n"
            "                       [0,1], CSV as written) (default %s; see\n"
            "                       docs/NORMALIZE.md)\n"
            "  --batch N            minibatch rows (default %d)\n"
            "  --seed N             seed for weights, shuffling and growth (default %" PRIu64 ")\n"
            "\n"
            "optimizer (the same rule on every backend):\n"
            "  --optimizer O        sgd|adam|adamw (default %s): sgd with momentum; adam;\n"
            "                       adamw, adam with decoupled weight decay\n"
            "  --lr X               learning rate (default %g; adam, adamw: try 1e-3)\n"
            "  --momentum X         sgd: momentum (default %g)\n"
            "  --beta1 X            adam, adamw: decay of the first moment (default %g)\n"
            "  --beta2 X            adam, adamw: decay of the second moment (default %g)\n"
            "  --eps X              adam, adamw: added to the denominator (default %g)\n"
            "  --weight-decay X     decay of the weights, never of the biases (default %g):\n"
            "                       sgd and adam add X w to the gradient (L2), adamw\n"
            "                       shrinks w by lr X w each step (decoupled)\n"
            "  --lr-schedule S      constant|cosine|step: the rate after the warmup\n"
            "                       (default %s); cosine decays from --lr to --lr-min\n"
            "                       over --epochs (over --steps when --epochs is 0; a\n"
            "                       --steps that stops sooner cuts the run short, the\n"
            "                       schedule stays); step multiplies it by --lr-gamma\n"
            "                       every --lr-step-every steps\n"
            "  --warmup N           linear warmup: step s < N runs at lr (s + 1) / N; the\n"
            "                       schedule starts after it (default %" PRId64 ")\n"
            "  --lr-min X           cosine: the rate at the run's end, in [0, lr] (default %g)\n"
            "  --lr-step-every N    step: steps between two decays (required with step)\n"
            "  --lr-gamma X         step: the factor of each decay, in (0, 1] (default %g)\n"
            "\n"
            "network and growth:\n"
            "  --group-size S       neurons per hidden group (default %d)\n"
            "  --graph FILE         start from this graph file instead of one hidden group\n"
            "  --save-graph FILE    write the grown graph here at the end\n"
            "  --save-model FILE    write the trained network here at the end as a model\n"
            "                       file (safetensors; for genet-rt eval / predict and\n"
            "                       tools/genet_torch.py)\n"
            "  --grow P             depth|width|alternate|random|off (default %s)\n"
            "  --grow-criterion C   std|relative: what marks a group to duplicate (default %s)\n"
            "                       std: its gradient std exceeds --grow-threshold;\n"
            "                       relative: it exceeds --grow-ratio times the median of\n"
            "                       the hidden groups' (scale-free: the same groups whatever\n"
            "                       the data's scale; a lone hidden group is marked)\n"
            "  --grow-threshold X   std: the gradient std that marks a group (default %g)\n"
            "  --grow-ratio R       relative: the multiple of the median (default %g)\n"
            "  --grow-every N       check for growth every N steps (default %d; %d with\n"
            "                       --grow depth, whose chains train better grown slower)\n"
            "  --grow-noise X       widthwise symmetry-breaking perturbation (default %g)\n"
            "  --prune-threshold X  at the growth rounds, remove a hidden group whose\n"
            "                       contribution is below X: the mean over the last batch\n"
            "                       of |a - mean(a)| times its outgoing weights' norm, a\n"
            "                       bound on what its removal changes (its mean is folded\n"
            "                       into the successors' biases); default 0: off; every\n"
            "                       backend (cuda: the host's round at a kernel pause)\n"
            "  --prune-after N      only after N growth rounds in a row below (default %d)\n"
            "  --max-groups N       group pool: the global limit on growth (default %d)\n"
            "  --max-edges N        edge pool (default 8 x max-groups)\n"
            "  --max-params N       parameter pool in floats (default: enough for max-groups)\n"
            "\n"
            "live counters:\n"
            "  --stats-ring NAME    shared-memory ring for genet-stat (default genet-<pid>)\n"
            "  --stats-interval MS  sampling period in ms, 0 = no ring (default 100)\n"
            "  --keep-stats         leave the ring in /dev/shm after the run\n"
            "\n"
            "growth trace (every backend; auto picks a host one; see docs/TRACE.md):\n"
            "  --trace FILE         write what the network did as JSON lines: the start graph,\n"
            "                       then groups and edges added, gradient statistics, marks,\n"
            "                       loss and accuracy (tools/genet-viz FILE makes a page)\n"
            "  --trace-every N      a record every N steps and at every growth (default %d;\n"
            "                       0 = only when the network grows)\n"
            "\n"
            "checkpoints and faults (docs/RELIABILITY.md):\n"
            "  --checkpoint FILE    write the run's state to FILE (atomically) at the end, when\n"
            "                       stopped by SIGINT/SIGTERM, and every --checkpoint-every steps\n"
            "  --checkpoint-every N a checkpoint every N steps (default 0: end and stop only;\n"
            "                       cuda: the kernel pauses for the copy, the file is written\n"
            "                       while it trains)\n"
            "  --resume FILE        continue the run a checkpoint saved; give the same data and\n"
            "                       settings (--steps and --epochs count from the run's start)\n"
            "  --on-nan P           stop|skip: at a NaN or Inf loss or gradient, or a loss over\n"
            "                       100 ln(classes), stop naming the group and step, or discard\n"
            "                       the step (its loss is not counted and the model is restored;\n"
            "                       serial and cpu) (default stop); a network that died (loss at\n"
            "                       chance, a group's ReLUs all off, 2 epoch ends in a row):\n"
            "                       stop ends the run, skip reports it and goes on\n"
            "\n"
            "cuda debugging (each also read from the environment variable of its name,\n"
            "GN_CUDA_TIMEOUT_SCALE, GN_CUDA_INJECT_STUCK, GN_CUDA_BLOCKS_PER_SM,\n"
            "GN_CUDA_STREAM_DATA=1; an option wins):\n"
            "  --cuda-timeout-scale N\n"
            "                       stretch the kernel's timeouts N times, for runs under\n"
            "                       compute-sanitizer (default 1)\n"
            "  --cuda-inject-stuck S\n"
            "                       make one task of step S spin without finishing: the\n"
            "                       stuck-task detection must stop the run (tests/gpu_fault.sh)\n"
            "  --cuda-blocks-per-sm N\n"
"                       worker blocks per SM (default 2 where the graph's levels hold,\n"
            "                       on average, at least as many tasks as the GPU has SMs, else\n"
            "                       1; fewer where fewer fit)\n"
            "  --cuda-stream-data   stream every minibatch from the host (the default keeps a\n"
            "                       training set that fits on the device there and assembles\n"
            "                       the minibatches in the kernel; both give the same bits)\n"
            "\n"
            "output:\n"
            "  --json               print a JSON summary last on stdout (logs go to stderr)\n"
            "  --quiet              no live progress line\n"
            "  --help               this text\n",
            GN_DEFAULT_EPOCHS, GN_DEFAULT_MIN_STEPS,
            (GN_DEFAULT_MIN_STEPS + GN_DEFAULT_EPOCHS - 1) / GN_DEFAULT_EPOCHS,
            gn_normalize_name(d.normalize), d.batch, d.seed,
            gn_optimizer_name(d.optimizer), d.lr, d.momentum, d.beta1, d.beta2, d.eps,
            d.weight_decay, gn_lr_schedule_name(d.lr_schedule), d.lr_warmup, d.lr_min,
            d.lr_gamma, d.group_size,
            gn_grow_policy_name(d.grow), gn_grow_criterion_name(d.grow_criterion),
            d.grow_threshold, d.grow_ratio, GN_DEFAULT_GROW_EVERY, GN_DEFAULT_GROW_EVERY_DEPTH, d.grow_noise, d.prune_after,
            d.max_groups, d.trace_every);
}

static int die(const char *what)
{
    fprintf(stderr, "genet-rt: %s\n", what);
    return 1;
}

static int parse_i64(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "genet-rt: %s wants an integer in %lld..%lld, got '%s'\n", opt,
                (long long)lo, (long long)hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* A cuda debugging knob from the environment (scripts written before the
 * options existed set them there); the command line's option, parsed after,
 * wins. */
static int env_knob(const char *name, int64_t lo, int64_t hi, int32_t *out)
{
    const char *v = getenv(name);
    int64_t x;
    if (!v || !*v) return 0;
    if (parse_i64(name, v, lo, hi, &x)) return -1;
    *out = (int32_t)x;
    return 0;
}

static int parse_f(const char *opt, const char *v, float *out)
{
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        fprintf(stderr, "genet-rt: %s wants a number, got '%s'\n", opt, v);
        return -1;
    }
    *out = x;
    return 0;
}

struct ui {
    int tty, json, quiet;
    int prune; /* --prune-threshold > 0: the progress line counts the groups pruned */
    int32_t epoch_every; /* an epoch line every N epochs (0, 1: every epoch) */
    FILE *log;
    int64_t last_ns;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_progress(void *ctx, const struct gn_progress *p)
{
    struct ui *u = ctx;
    if (p->epoch_end) {
        /* a lengthened default run logs about ten of its epochs, and the last */
        if (u->epoch_every > 1 && p->epoch % u->epoch_every != 0 && p->step < p->steps_total &&
            !p->died)
            return;
        char test[16] = "n/a   ";
        if (p->test_accuracy >= 0) snprintf(test, sizeof test, "%.4f", p->test_accuracy);
        char tail[64] = "";
        int at = 0;
        if (u->prune) at = snprintf(tail, sizeof tail, "  pruned %" PRId64, p->pruned);
        if (p->dead_groups > 0)
            snprintf(tail + at, sizeof tail - (size_t)at, "  dead %d", p->dead_groups);
        if (u->tty && !u->quiet) fprintf(stderr, "\r\033[K");
        fprintf(u->log,
                "epoch %3d  step %7" PRId64 "  loss %.4f  train acc %.4f  test acc %s  "
                "groups %4d  edges %5d  dup %4" PRId64 "  refused %4" PRId64 "  %7.1fs%s%s\n",
                p->epoch, p->step, p->loss, p->accuracy, test, p->groups, p->edges,
                p->duplications, p->refused, p->seconds, tail,
                p->died ? "  DIED: the loss is at chance (see --on-nan)" : "");
        fflush(u->log);
        return;
    }
    if (!u->tty || u->quiet) return;
    int64_t now = mono_ns();
    if (now - u->last_ns < 200000000) return;
    u->last_ns = now;
    fprintf(stderr,
            "\r\033[Kepoch %d  step %" PRId64 "/%" PRId64 "  loss %.4f  acc %.4f  groups %d  "
            "%.1f steps/s",
            p->epoch + 1, p->step, p->steps_total, p->loss, p->accuracy, p->groups,
            p->steps_per_s);
}

static gn_trainer *g_trainer;
static volatile sig_atomic_t g_signal; /* the first SIGINT or SIGTERM */

/* The first SIGINT or SIGTERM asks the run to stop after the current step
 * (and write its checkpoint); the handler is then reset (SA_RESETHAND), so
 * a second one ends the process at once. */
static void on_signal(int sig)
{
    static const char msg[] = "\ngenet-rt: stopping after the current step (send the signal "
                              "again to quit at once)\n";
    g_signal = sig;
    if (g_trainer) gn_trainer_request_stop(g_trainer);
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

/* The run's data-free set-up (gn_settings_warm: the cuda backend's driver
 * and context) on a thread of its own while the dataset loads. */
static void *warm_backend(void *arg)
{
    gn_settings_warm(arg);
    return NULL;
}

static int cmd_train(int argc, char **argv, int bench)
{
    const int64_t t_main = mono_ns();
    struct gn_settings s;
    gn_default_settings(&s);
    s.stats_interval_ms = 100; /* the program publishes live counters by default */
    const char *graph = NULL, *save_graph = NULL, *save_model = NULL;
    struct ui u = {.tty = isatty(2), .log = stdout};
    enum {
        O_BACKEND = 256, O_THREADS, O_TILE, O_EPOCHS, O_STEPS, O_LIMIT, O_BATCH, O_LR, O_MOM,
        O_WD, O_SEED, O_GS, O_GRAPH, O_SAVE, O_GROW, O_GTHR, O_GEVERY, O_GNOISE, O_MAXG,
        O_MAXE, O_MAXP, O_JSON, O_QUIET, O_HELP, O_RING, O_RINGMS, O_KEEP, O_WARMUP, O_SAVEW,
        O_SAVEB, O_TRACE, O_TRACE_EVERY, O_CKPT, O_CKPT_EVERY, O_RESUME, O_ONNAN,
        O_CUDA_SCALE, O_CUDA_STUCK, O_CUDA_BPS, O_CUDA_STREAM, O_NORM, O_SAVE_MODEL, O_OPTIM, O_BETA1,
        O_BETA2, O_EPS, O_SCHED, O_STEP_EVERY, O_GAMMA, O_LR_MIN, O_GCRIT, O_GRATIO,
        O_PRUNE, O_PRUNE_AFTER, O_RANKS, O_PRECISION
    };
    static const struct option opts[] = {
        {"backend", 1, 0, O_BACKEND}, {"threads", 1, 0, O_THREADS}, {"tile", 1, 0, O_TILE},
        {"epochs", 1, 0, O_EPOCHS}, {"steps", 1, 0, O_STEPS}, {"limit-train", 1, 0, O_LIMIT},
        {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR}, {"momentum", 1, 0, O_MOM},
        {"weight-decay", 1, 0, O_WD}, {"seed", 1, 0, O_SEED}, {"group-size", 1, 0, O_GS},
        {"graph", 1, 0, O_GRAPH}, {"save-graph", 1, 0, O_SAVE}, {"grow", 1, 0, O_GROW},
        {"grow-threshold", 1, 0, O_GTHR}, {"grow-every", 1, 0, O_GEVERY},
        {"grow-noise", 1, 0, O_GNOISE}, {"max-groups", 1, 0, O_MAXG},
        {"max-edges", 1, 0, O_MAXE}, {"max-params", 1, 0, O_MAXP}, {"json", 0, 0, O_JSON},
        {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP}, {"stats-ring", 1, 0, O_RING},
        {"stats-interval", 1, 0, O_RINGMS}, {"keep-stats", 0, 0, O_KEEP},
        {"warmup", 1, 0, O_WARMUP}, {"save-init-weights", 1, 0, O_SAVEW},
        {"save-batch", 1, 0, O_SAVEB}, {"trace", 1, 0, O_TRACE},
        {"trace-every", 1, 0, O_TRACE_EVERY}, {"checkpoint", 1, 0, O_CKPT},
        {"checkpoint-every", 1, 0, O_CKPT_EVERY}, {"resume", 1, 0, O_RESUME},
        {"on-nan", 1, 0, O_ONNAN}, {"cuda-timeout-scale", 1, 0, O_CUDA_SCALE},
        {"cuda-inject-stuck", 1, 0, O_CUDA_STUCK}, {"cuda-blocks-per-sm", 1, 0, O_CUDA_BPS},
        {"cuda-stream-data", 0, 0, O_CUDA_STREAM},
        {"normalize", 1, 0, O_NORM}, {"save-model", 1, 0, O_SAVE_MODEL},
        {"optimizer", 1, 0, O_OPTIM}, {"beta1", 1, 0, O_BETA1}, {"beta2", 1, 0, O_BETA2},
        {"eps", 1, 0, O_EPS}, {"lr-schedule", 1, 0, O_SCHED},
        {"lr-step-every", 1, 0, O_STEP_EVERY}, {"lr-gamma", 1, 0, O_GAMMA},
        {"lr-min", 1, 0, O_LR_MIN},
        {"grow-criterion", 1, 0, O_GCRIT}, {"grow-ratio", 1, 0, O_GRATIO},
        {"prune-threshold", 1, 0, O_PRUNE}, {"prune-after", 1, 0, O_PRUNE_AFTER},
        {"ranks", 1, 0, O_RANKS}, {"precision", 1, 0, O_PRECISION},
        {0, 0, 0, 0},
    };
    int c, epochs_set = 0, threshold_set = 0, ratio_set = 0;
    /* options given, for the optimizer's consistency checks after parsing */
    const char *adam_opt = NULL, *step_opt = NULL;
    int momentum_set = 0, lr_min_set = 0;
    int64_t v;
    struct gn_bench_options bo = {.warmup = 20};
    if (bench) {
        /* the benchmark's own defaults (docs/BENCHMARKS.md): batch 256, no
         * growth, no weight decay, a small constant-ish rate */
        s.batch = 256;
        s.weight_decay = 0.0f;
        s.grow = GN_GROW_OFF;
        s.lr = 0.01f;
        s.stats_interval_ms = 0;
        s.normalize = GN_NORMALIZE_NONE; /* synthetic batches, compared with PyTorch as they are */
    }
    if (env_knob("GN_CUDA_TIMEOUT_SCALE", 1, 100000, &s.cuda_timeout_scale) ||
        env_knob("GN_CUDA_INJECT_STUCK", 1, INT32_MAX, &s.cuda_inject_stuck) ||
        env_knob("GN_CUDA_BLOCKS_PER_SM", 1, 1024, &s.cuda_blocks_per_sm) ||
        env_knob("GN_CUDA_STREAM_DATA", 0, 1, &s.cuda_stream_data))
        return 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_BACKEND:
            if (!strcmp(optarg, "auto")) s.backend = GN_BACKEND_AUTO;
            else if (!strcmp(optarg, "serial")) s.backend = GN_BACKEND_SERIAL;
            else if (!strcmp(optarg, "cpu")) s.backend = GN_BACKEND_CPU;
            else if (!strcmp(optarg, "cuda")) s.backend = GN_BACKEND_CUDA;
            else {
                fprintf(stderr, "genet-rt: --backend wants auto|serial|cpu|cuda, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_PRECISION: {
            enum gn_precision pr = GN_PRECISION_FP32;
            while (pr <= GN_PRECISION_BF16 && strcmp(optarg, gn_precision_name(pr))) pr++;
            if (pr > GN_PRECISION_BF16) {
                fprintf(stderr, "genet-rt: --precision wants fp32|tf32|bf16, got '%s'\n",
                        optarg);
                return 2;
            }
            s.precision = pr;
            break;
        }
        case O_THREADS:
            if (parse_i64("--threads", optarg, 1, 1024, &v)) return 2;
            s.threads = (int32_t)v;
            break;
        case O_RANKS:
            if (parse_i64("--ranks", optarg, 1, 65536, &v)) return 2;
            s.ranks = (int32_t)v;
            break;
        case O_TILE:
            if (parse_i64("--tile", optarg, 1, 65536, &v)) return 2;
            s.tile = (int32_t)v;
            break;
        case O_EPOCHS:
            if (parse_i64("--epochs", optarg, 0, 1000000, &v)) return 2;
            s.epochs = (int32_t)v;
            epochs_set = 1;
            break;
        case O_STEPS:
            if (parse_i64("--steps", optarg, 1, INT64_MAX / 2, &v)) return 2;
            s.steps = v;
            break;
        case O_LIMIT:
            if (parse_i64("--limit-train", optarg, 1, INT32_MAX, &v)) return 2;
            s.limit_train = v;
            break;
        case O_BATCH:
            if (parse_i64("--batch", optarg, 1, 65536, &v)) return 2;
            s.batch = (int32_t)v;
            break;
        case O_LR:
            if (parse_f("--lr", optarg, &s.lr)) return 2;
            break;
        case O_MOM:
            if (parse_f("--momentum", optarg, &s.momentum)) return 2;
            momentum_set = 1;
            break;
        case O_OPTIM: {
            enum gn_optimizer o = GN_OPTIM_SGD;
            while (o <= GN_OPTIM_ADAMW && strcmp(optarg, gn_optimizer_name(o))) o++;
            if (o > GN_OPTIM_ADAMW) {
                fprintf(stderr, "genet-rt: --optimizer wants sgd|adam|adamw, got '%s'\n", optarg);
                return 2;
            }
            s.optimizer = o;
            break;
        }
        case O_BETA1:
            if (parse_f("--beta1", optarg, &s.beta1)) return 2;
            adam_opt = "--beta1";
            break;
        case O_BETA2:
            if (parse_f("--beta2", optarg, &s.beta2)) return 2;
            adam_opt = "--beta2";
            break;
        case O_EPS:
            if (parse_f("--eps", optarg, &s.eps)) return 2;
            adam_opt = "--eps";
            break;
        case O_SCHED: {
            enum gn_lr_schedule l = GN_LR_CONSTANT;
            while (l <= GN_LR_STEP && strcmp(optarg, gn_lr_schedule_name(l))) l++;
            if (l > GN_LR_STEP) {
                fprintf(stderr, "genet-rt: --lr-schedule wants constant|cosine|step, got '%s'\n",
                        optarg);
                return 2;
            }
            s.lr_schedule = l;
            break;
        }
        case O_STEP_EVERY:
            if (parse_i64("--lr-step-every", optarg, 1, INT64_MAX / 2, &v)) return 2;
            s.lr_step_every = v;
            step_opt = "--lr-step-every";
            break;
        case O_GAMMA:
            if (parse_f("--lr-gamma", optarg, &s.lr_gamma)) return 2;
            step_opt = "--lr-gamma";
            break;
        case O_LR_MIN:
            if (parse_f("--lr-min", optarg, &s.lr_min)) return 2;
            lr_min_set = 1;
            break;
        case O_WD:
            if (parse_f("--weight-decay", optarg, &s.weight_decay)) return 2;
            break;
        case O_SEED:
            if (parse_i64("--seed", optarg, 0, INT64_MAX, &v)) return 2;
            s.seed = (uint64_t)v;
            break;
        case O_GS:
            if (parse_i64("--group-size", optarg, 1, 1024, &v)) return 2;
            s.group_size = (int32_t)v;
            break;
        case O_GRAPH: graph = optarg; break;
        case O_SAVE: save_graph = optarg; break;
        case O_SAVE_MODEL: save_model = optarg; break;
        case O_GROW:
            if (!strcmp(optarg, "off")) s.grow = GN_GROW_OFF;
            else if (!strcmp(optarg, "depth")) s.grow = GN_GROW_DEPTH;
            else if (!strcmp(optarg, "width")) s.grow = GN_GROW_WIDTH;
            else if (!strcmp(optarg, "alternate")) s.grow = GN_GROW_ALTERNATE;
            else if (!strcmp(optarg, "random")) s.grow = GN_GROW_RANDOM;
            else {
                fprintf(stderr,
                        "genet-rt: --grow wants depth|width|alternate|random|off, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_GCRIT:
            if (!strcmp(optarg, "std")) s.grow_criterion = GN_GROW_CRITERION_STD;
            else if (!strcmp(optarg, "relative")) s.grow_criterion = GN_GROW_CRITERION_RELATIVE;
            else {
                fprintf(stderr, "genet-rt: --grow-criterion wants std|relative, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case O_GTHR:
            if (parse_f("--grow-threshold", optarg, &s.grow_threshold)) return 2;
            threshold_set = 1;
            break;
        case O_GRATIO:
            if (parse_f("--grow-ratio", optarg, &s.grow_ratio)) return 2;
            ratio_set = 1;
            break;
        case O_GEVERY:
            if (parse_i64("--grow-every", optarg, 1, INT32_MAX, &v)) return 2;
            s.grow_every = (int32_t)v;
            break;
        case O_GNOISE:
            if (parse_f("--grow-noise", optarg, &s.grow_noise)) return 2;
            break;
        case O_PRUNE:
            if (parse_f("--prune-threshold", optarg, &s.prune_threshold)) return 2;
            u.prune = s.prune_threshold > 0.0f;
            break;
        case O_PRUNE_AFTER:
            if (parse_i64("--prune-after", optarg, 1, INT32_MAX, &v)) return 2;
            s.prune_after = (int32_t)v;
            break;
        case O_MAXG:
            if (parse_i64("--max-groups", optarg, 3, 1 << 24, &v)) return 2;
            s.max_groups = (int32_t)v;
            bo.max_groups_given = 1;
            break;
        case O_MAXE:
            if (parse_i64("--max-edges", optarg, 1, 1 << 28, &v)) return 2;
            s.max_edges = (int32_t)v;
            break;
        case O_MAXP:
            if (parse_i64("--max-params", optarg, 1, INT64_MAX / 16, &v)) return 2;
            s.max_params = v;
            break;
        case O_JSON:
            u.json = 1;
            u.log = stderr;
            break;
        case O_QUIET: u.quiet = 1; break;
        case O_RING: s.stats_ring = optarg; break;
        case O_RINGMS:
            if (parse_i64("--stats-interval", optarg, 0, 3600000, &v)) return 2;
            s.stats_interval_ms = (int32_t)v;
            break;
        case O_KEEP: s.keep_stats = 1; break;
        case O_WARMUP: /* bench: untimed steps; train: the rate's warmup */
            if (parse_i64("--warmup", optarg, 0, bench ? 1000000 : INT64_MAX / 2, &v)) return 2;
            if (bench) bo.warmup = v;
            else s.lr_warmup = v;
            break;
        case O_SAVEW: bo.save_weights = optarg; break;
        case O_SAVEB: bo.save_batch = optarg; break;
        case O_TRACE: s.trace_path = optarg; break;
        case O_TRACE_EVERY:
            if (parse_i64("--trace-every", optarg, 0, INT32_MAX, &v)) return 2;
            s.trace_every = (int32_t)v;
            break;
        case O_CKPT: s.checkpoint_path = optarg; break;
        case O_CKPT_EVERY:
            if (parse_i64("--checkpoint-every", optarg, 0, INT64_MAX / 2, &v)) return 2;
            s.checkpoint_every = v;
            break;
        case O_RESUME: s.resume_path = optarg; break;
        case O_ONNAN:
            if (!strcmp(optarg, "stop")) s.on_nan = GN_NAN_STOP;
            else if (!strcmp(optarg, "skip")) s.on_nan = GN_NAN_SKIP;
            else {
                fprintf(stderr, "genet-rt: --on-nan wants stop|skip, got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_NORM: {
            enum gn_normalize m = GN_NORMALIZE_NONE;
            while (m <= GN_NORMALIZE_SCALE && strcmp(optarg, gn_normalize_name(m))) m++;
            if (m > GN_NORMALIZE_SCALE) {
                fprintf(stderr,
                        "genet-rt: --normalize wants standard|minmax|scale|none, got '%s'\n",
                        optarg);
                return 2;
            }
            s.normalize = m;
            break;
        }
        case O_CUDA_SCALE:
            if (parse_i64("--cuda-timeout-scale", optarg, 1, 100000, &v)) return 2;
            s.cuda_timeout_scale = (int32_t)v;
            break;
        case O_CUDA_STUCK:
            if (parse_i64("--cuda-inject-stuck", optarg, 1, INT32_MAX, &v)) return 2;
            s.cuda_inject_stuck = (int32_t)v;
            break;
        case O_CUDA_STREAM: s.cuda_stream_data = 1; break;
        case O_CUDA_BPS:
            if (parse_i64("--cuda-blocks-per-sm", optarg, 1, 1024, &v)) return 2;
            s.cuda_blocks_per_sm = (int32_t)v;
            break;
        case O_HELP:
            if (bench) gn_bench_usage(stdout);
            else usage_train(stdout);
            return 0;
        default:
            fprintf(stderr, "genet-rt train: see genet-rt train --help\n");
            return 2;
        }
    }
    /* options that the chosen optimizer or schedule would ignore: say so */
    if (adam_opt && s.optimizer == GN_OPTIM_SGD) {
        fprintf(stderr, "genet-rt: %s applies to --optimizer adam or adamw, not sgd\n", adam_opt);
        return 2;
    }
    if (momentum_set && s.optimizer != GN_OPTIM_SGD) {
        fprintf(stderr, "genet-rt: --momentum applies to --optimizer sgd; %s's first moment "
                        "decays with --beta1\n", gn_optimizer_name(s.optimizer));
        return 2;
    }
    if (step_opt && s.lr_schedule != GN_LR_STEP) {
        fprintf(stderr, "genet-rt: %s applies to --lr-schedule step\n", step_opt);
        return 2;
    }
    if (lr_min_set && s.lr_schedule != GN_LR_COSINE) {
        fprintf(stderr, "genet-rt: --lr-min applies to --lr-schedule cosine\n");
        return 2;
    }
    if (threshold_set && s.grow_criterion != GN_GROW_CRITERION_STD)
        fprintf(stderr, "genet-rt: note: --grow-threshold is read by --grow-criterion std only "
                        "(relative reads --grow-ratio)\n");
    if (ratio_set && s.grow_criterion != GN_GROW_CRITERION_RELATIVE)
        fprintf(stderr, "genet-rt: note: --grow-ratio is read by --grow-criterion relative only "
                        "(std reads --grow-threshold)\n");
    /* bad values are refused before a dataset is read */
    if (gn_settings_check(&s) != GN_OK) {
        fprintf(stderr, "genet-rt: %s\n", gn_error_message());
        return 2;
    }
    if (bench && optind == argc - 1) {
        if (!s.steps) s.steps = 200;
        s.epochs = 0;
        u.quiet = 1;
        return gn_bench_run(argv[optind], &s, &bo, u.json, graph != NULL);
    }
    if (optind != argc - 1) {
        fprintf(stderr, optind >= argc ? "genet-rt train: missing DATASET\n"
                                       : "genet-rt train: one DATASET expected\n");
        usage_train(stderr);
        return 2;
    }
    const char *path = argv[optind];
    /* --steps alone: exactly N steps (epochs stays 0); neither: the default
     * length (gn_plan_epochs) */
    if (epochs_set && s.epochs == 0 && s.steps == 0) {
        fprintf(stderr, "genet-rt: nothing to do: --epochs 0 and no --steps\n");
        return 2;
    }

    struct gn_data train = {0}, test = {0};
    pthread_t warm_thread;
    const int warming = pthread_create(&warm_thread, NULL, warm_backend, &s) == 0;
    int64_t t0 = mono_ns();
    enum gn_status st = gn_data_load(path, &train, &test);
    const int64_t t_loaded = mono_ns();
    if (st) {
        if (warming) pthread_join(warm_thread, NULL);
        return die(gn_error_message());
    }
    fprintf(u.log, "dataset %s: %d training and %d test examples, %d features, %d classes (%.2fs)\n",
            path, train.count, test.count, train.features, train.classes,
            (double)(t_loaded - t0) * 1e-9);

    /* The open runs while the warm thread may still be making the device's
     * context: the open's host parts (the normalization's fit and copies,
     * the model) need none, and the CUDA runtime makes the calls that do
     * need it wait for it. What is left of the thread is joined after. */
    gn_trainer *t;
    st = gn_trainer_open(&t, &s, &train, &test, graph);
    const int64_t t_opened = mono_ns();
    if (warming) pthread_join(warm_thread, NULL);
    const int64_t t_warm = mono_ns();
    if (st) {
        gn_data_free(&train);
        gn_data_free(&test);
        return die(gn_error_message());
    }
    fprintf(u.log, "backend %s: %s\n", gn_backend_name(gn_trainer_backend(t)),
            gn_trainer_backend_reason(t));
    if (s.precision != GN_PRECISION_FP32)
        fprintf(u.log, "precision %s: products on the tensor cores, fp32 sums (not the fp32 "
                       "reference's bits)\n",
                gn_precision_name(s.precision));
    fprintf(u.log, "inputs normalized: %s\n", gn_normalize_name(gn_trainer_normalize(t)));
    if (s.epochs == 0 && s.steps == 0) {
        int32_t epochs;
        int64_t steps;
        gn_trainer_length(t, &epochs, &steps);
        if (epochs > GN_DEFAULT_EPOCHS) { /* the default length's rule lengthened the run */
            u.epoch_every = (epochs + 9) / 10;
            const int64_t per = steps / epochs;
            fprintf(u.log,
                    "small training set: %d epochs of %" PRId64 " step%s, %" PRId64 " steps (the "
                    "default length: %d epochs and at least %d steps; --epochs or --steps sets "
                    "it); a line every %d epochs\n",
                    epochs, per, per == 1 ? "" : "s", steps, GN_DEFAULT_EPOCHS,
                    GN_DEFAULT_MIN_STEPS, u.epoch_every);
        }
    }
    if (s.resume_path) {
        struct gn_progress r;
        gn_trainer_progress(t, &r);
        fprintf(u.log, "resumed from %s at step %" PRId64 " (%d epochs done)\n", s.resume_path,
                r.step, r.epoch);
    }
    if (s.checkpoint_every > 0 && gn_trainer_backend(t) == GN_BACKEND_CUDA)
        fprintf(u.log, "note: the cuda backend runs the whole run in one kernel: checkpoints are "
                       "written at the end and when stopped, not every %" PRId64 " steps\n",
                s.checkpoint_every);
    if (*gn_trainer_stats_ring(t))
        fprintf(u.log, "live counters: genet-stat --follow %s\n", gn_trainer_stats_ring(t));
    if (s.trace_path)
        fprintf(u.log, "growth trace: %s (see it with tools/genet-viz %s -o growth.html)\n",
                s.trace_path, s.trace_path);
    fflush(u.log);

    g_trainer = t;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const int64_t t_run0 = mono_ns();
    st = gn_trainer_run(t, on_progress, &u);
    const int64_t t_ran = mono_ns();
    int rc = 0;
    if (st == GN_ERR_INTERRUPTED) {
        struct gn_progress r;
        gn_trainer_progress(t, &r);
        fprintf(stderr, "%sgenet-rt: stopped by %s: %s; ", u.tty && !u.quiet ? "\r\033[K" : "",
                g_signal == SIGTERM ? "SIGTERM" : g_signal == SIGINT ? "SIGINT" : "a stop request",
                gn_error_message());
        if (s.checkpoint_path)
            fprintf(stderr, "checkpoint of step %" PRId64 " written to %s (continue with "
                            "--resume %s and the same options)\n",
                    r.step, s.checkpoint_path, s.checkpoint_path);
        else
            fprintf(stderr, "no checkpoint written (--checkpoint FILE keeps the state)\n");
        rc = g_signal == SIGTERM ? 143 : 130;
    } else if (st) {
        if (u.tty && !u.quiet) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "genet-rt: training failed: %s\n", gn_error_message());
        rc = 1;
    }
    g_trainer = NULL;
    struct gn_progress p;
    gn_trainer_progress(t, &p);
    double test_loss = 0, test_acc = -1;
    if (!st && test.count > 0 && p.test_accuracy >= 0) test_acc = p.test_accuracy;
    if (save_graph && rc != 1) {
        if (gn_trainer_save_graph(t, save_graph)) {
            fprintf(stderr, "genet-rt: cannot save the graph: %s\n", gn_error_message());
            rc = 1;
        } else {
            fprintf(u.log, "graph written to %s (%d groups)\n", save_graph, p.groups);
        }
    }
    if (save_model && rc != 1) {
        if (gn_trainer_save_model(t, save_model)) {
            fprintf(stderr, "genet-rt: cannot save the model: %s\n", gn_error_message());
            rc = 1;
        } else {
            fprintf(u.log, "model written to %s (use it with genet-rt eval / predict)\n",
                    save_model);
        }
    }
    if (!st) {
        char acc[32] = "n/a (no test set)";
        if (test_acc >= 0) snprintf(acc, sizeof acc, "%.4f", test_acc);
        fprintf(u.log, "done: %" PRId64 " steps, %d hidden group%s, test accuracy %s, %.1fs\n",
                p.step, p.groups, p.groups == 1 ? "" : "s", acc, p.seconds);
    }
    if (!st && s.checkpoint_path)
        fprintf(u.log, "checkpoint of step %" PRId64 " written to %s\n", p.step,
                s.checkpoint_path);
    if (p.skipped > 0)
        fprintf(u.log, "--on-nan skip: %" PRId64 " steps discarded\n", p.skipped);
    (void)test_loss;
    const int64_t t_saved = mono_ns();
    const char *backend = gn_backend_name(gn_trainer_backend(t));
    const char *normalize = gn_normalize_name(gn_trainer_normalize(t));
    struct gn_setup setup;
    gn_trainer_setup(t, &setup);
    gn_trainer_close(t);
    gn_data_free(&train);
    gn_data_free(&test);
    const int64_t t_closed = mono_ns();
    if (u.json) {
        /* open_parts: the set-up's parts in the order they ran, seconds
         * (gn_trainer_setup: the trainer's, and within "backend" the
         * backend's own) */
        char parts[GN_SETUP_MAX * 40] = "";
        size_t at = 0;
        for (int32_t i = 0; i < setup.n && at < sizeof parts; i++)
            at += (size_t)snprintf(parts + at, sizeof parts - at, "%s\"%s\": %.4f", i ? ", " : "",
                                   setup.name[i], (double)setup.ns[i] * 1e-9);
        /* phases: the process's wall time by part (what the training
         * `seconds` leaves out: the data set, the backend's set-up, the
         * saves and the close; the time before main and after it is the
         * whole process's, timed from outside, less `main`) */
        printf("{\"backend\": \"%s\", \"precision\": \"%s\", \"normalize\": \"%s\", \"steps\": %" PRId64 ", \"epochs\": %d, "
               "\"train_loss\": %.6f, \"train_accuracy\": %.6f, \"test_accuracy\": %.6f, "
               "\"groups\": %d, \"edges\": %d, \"duplications\": %" PRId64
               ", \"refused\": %" PRId64 ", \"pruned\": %" PRId64
               ", \"seconds\": %.3f, \"steps_per_s\": %.3f, "
               "\"kernel_launches\": %" PRId64 ", \"skipped\": %" PRId64 ", \"dead_groups\": %d, "
               "\"died\": %s, \"status\": \"%s\", \"phases\": {\"load\": %.3f, \"warm_wait\": %.3f, "
               "\"open\": %.3f, \"train\": %.3f, \"save\": %.3f, \"close\": %.3f, \"main\": %.3f}, "
               "\"open_parts\": {%s}}\n",
               backend, gn_precision_name(s.precision), normalize, p.step, p.epoch, p.loss,
               p.accuracy, test_acc, p.groups, p.edges, p.duplications, p.refused, p.pruned,
               p.seconds, p.steps_per_s, p.kernel_launches, p.skipped, p.dead_groups,
               p.died ? "true" : "false", gn_status_str(st), (double)(t_loaded - t0) * 1e-9,
               (double)(t_warm - t_opened) * 1e-9, (double)(t_opened - t_loaded) * 1e-9,
               (double)(t_ran - t_run0) * 1e-9, (double)(t_saved - t_ran) * 1e-9,
               (double)(t_closed - t_saved) * 1e-9, (double)(t_closed - t_main) * 1e-9, parts);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_top, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_top, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("genet-rt %s\n", GN_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1, 0);
    if (!strcmp(argv[1], "bench")) return cmd_train(argc - 1, argv + 1, 1);
    if (!strcmp(argv[1], "export")) return gn_cmd_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return gn_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return gn_cmd_predict(argc - 1, argv + 1);
    fprintf(stderr, "genet-rt: unknown command '%s'\n\n%s", argv[1], usage_top);
    return 2;
}
