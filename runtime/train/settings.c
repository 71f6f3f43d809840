/*
 * Settings: the defaults (what `genet-rt train --help` prints) and the names
 * of backends, growth policies, optimizers and learning-rate schedules.
 */
#include <string.h>

#include "genet/genet.h"

/* The training defaults were chosen by measurement (Fashion-MNIST, cpu
 * backend, 2026-12-02; README "Results"): widthwise growth at a gradient std
 * of 0.002 every 200 steps with a 0.3 perturbation, weight decay 1e-3 and
 * batches of 128 reach 0.8918 at 10 epochs (seeds 1-3: 0.8918, 0.8912,
 * 0.8925), where alternate growth at 0.004 every 100 steps, no decay and
 * batches of 256 reached 0.880; --grow depth with them reaches 0.8802 at 30
 * epochs (growth every 100 steps at batch 128 made the chain diverge), and
 * every 400 steps 0.8851-0.8868 on seeds 1-3 (GN_DEFAULT_GROW_EVERY_DEPTH,
 * 2026-12-03).
 * The length is the default one (epochs and steps 0: GN_DEFAULT_EPOCHS, at
 * least GN_DEFAULT_MIN_STEPS steps; gn_plan_epochs). */
void gn_default_settings(struct gn_settings *s)
{
    memset(s, 0, sizeof *s);
    s->backend = GN_BACKEND_AUTO;
    s->precision = GN_PRECISION_FP32;
    s->group_size = 32;
    s->batch = 128;
    s->epochs = 0; /* with steps 0: the default length */
    s->steps = 0;
    s->limit_train = 0;
    s->normalize = GN_NORMALIZE_STANDARD;
    s->lr = 0.05f;
    s->momentum = 0.9f;
    s->weight_decay = 1e-3f;
    s->seed = 1;
    s->optimizer = GN_OPTIM_SGD;
    s->beta1 = 0.9f;
    s->beta2 = 0.999f;
    s->eps = 1e-8f;
    s->lr_schedule = GN_LR_COSINE;
    s->lr_warmup = 200;
    s->lr_step_every = 0;
    s->lr_gamma = 0.1f;
    s->lr_min = 0.0f;
    s->grow = GN_GROW_WIDTH;
    s->grow_criterion = GN_GROW_CRITERION_STD;
    s->grow_threshold = 0.002f;
    s->grow_ratio = 2.0f;
    s->grow_every = 0; /* GN_DEFAULT_GROW_EVERY, or _DEPTH for --grow depth */
    s->grow_noise = 0.3f;
    s->prune_threshold = 0.0f;
    s->prune_after = 1;
    s->max_groups = 64;
    s->max_edges = 0;
    s->max_params = 0;
    s->threads = 0;
    s->tile = 0;
    s->trace_path = NULL;
    s->trace_every = 10;
    s->ranks = 1;
}

const char *gn_backend_name(enum gn_backend b)
{
    switch (b) {
    case GN_BACKEND_AUTO: return "auto";
    case GN_BACKEND_SERIAL: return "serial";
    case GN_BACKEND_CPU: return "cpu";
    case GN_BACKEND_CUDA: return "cuda";
    }
    return "?";
}

const char *gn_grow_policy_name(enum gn_grow_policy p)
{
    switch (p) {
    case GN_GROW_OFF: return "off";
    case GN_GROW_DEPTH: return "depth";
    case GN_GROW_WIDTH: return "width";
    case GN_GROW_ALTERNATE: return "alternate";
    case GN_GROW_RANDOM: return "random";
    }
    return "?";
}

const char *gn_optimizer_name(enum gn_optimizer o)
{
    switch (o) {
    case GN_OPTIM_SGD: return "sgd";
    case GN_OPTIM_ADAM: return "adam";
    case GN_OPTIM_ADAMW: return "adamw";
    }
    return "?";
}

const char *gn_lr_schedule_name(enum gn_lr_schedule s)
{
    switch (s) {
    case GN_LR_CONSTANT: return "constant";
    case GN_LR_COSINE: return "cosine";
    case GN_LR_STEP: return "step";
    }
    return "?";
}

int32_t gn_settings_grow_every(const struct gn_settings *s)
{
    if (s->grow_every > 0) return s->grow_every;
    return s->grow == GN_GROW_DEPTH ? GN_DEFAULT_GROW_EVERY_DEPTH : GN_DEFAULT_GROW_EVERY;
}

const char *gn_precision_name(enum gn_precision p)
{
    switch (p) {
    case GN_PRECISION_FP32: return "fp32";
    case GN_PRECISION_TF32: return "tf32";
    case GN_PRECISION_BF16: return "bf16";
    }
    return "?";
}

const char *gn_grow_criterion_name(enum gn_grow_criterion c)
{
    switch (c) {
    case GN_GROW_CRITERION_STD: return "std";
    case GN_GROW_CRITERION_RELATIVE: return "relative";
    }
    return "?";
}
