/*
 * Checkpoints: a training run's whole state in one file, so that a run
 * resumed from it continues exactly (bitwise, on serial and cpu) as the
 * uninterrupted run would have.
 *
 * What is saved: the graph (group and edge records, canonical order), the
 * weights and the optimizer's two moments (sgd's momentum or adam's first
 * moment, and adam's second moment; gradients are recomputed by every
 * step, so they are not; adam's bias corrections and the learning rate
 * follow from the step's index), the position (step, epoch; the epoch's permutation is a
 * pure function of seed and epoch, so the step fixes the loader's place in
 * it), the growth round count (the alternate policy reads its parity), the
 * epoch's running loss and hit sums, the growth and --on-nan counters and
 * the last progress figures, so the resumed run prints the same numbers.
 * Every draw of the counter-based RNG is a function of (seed, step, ...):
 * there is no RNG state beyond the seed and the step.
 *
 * Also saved, to refuse a checkpoint that does not belong to the run: the
 * dataset's shape and a CRC32 of the training examples in use, and every
 * setting that changes the arithmetic (seed, batch, lr, momentum, weight
 * decay, the optimizer and its betas and epsilon, the learning-rate
 * schedule, its warmup and parameters (a cosine's length too), group
 * size, the growth policy, its criterion and the criterion's threshold or
 * ratio, period and noise, the pool capacities, the normalization mode).
 * The CRC is of the
 * raw data, as loaded; the normalization's statistics are saved and a
 * resumed run uses them instead of recomputing them. Backend, threads and
 * tiles are not: serial and cpu agree bitwise, so a checkpoint moves
 * between them.
 *
 * File layout, little-endian, version 4 (docs/RELIABILITY.md has the field
 * table; version 3, still read, has 32-byte group records without the
 * pruning patience and no pruning settings or counter in its header, and
 * reads as a run without pruning; version 2, still read, has a 256-byte header without the
 * optimizer's settings and the growth criterion and no second moment, and
 * reads as sgd with a constant rate and --grow-criterion std; version 1
 * also lacks the normalization mode and arrays and reads as --normalize
 * none):
 *     header      320 bytes: magic "GNCKPT\r\n", version, header size,
 *                 file size, shape, settings, position, counters
 *     groups      n_groups x 36 bytes  (kind, width, bias, flags, parent,
 *                                       born, grad_std, below; version 3
 *                                       and earlier: 32, without below)
 *     edges       n_edges x 16 bytes   (src, dst, weight offset)
 *     order       n_groups x 4 bytes   (the canonical order)
 *     params      n_params x 4 bytes   (float32)
 *     moment      n_params x 4 bytes   (float32: sgd momentum, adam's m)
 *     moment2     n_params x 4 bytes   (float32: adam's v; version 3)
 *     norm        inputs x 4 bytes x 2 (float32 shift, then scale)
 *     crc32       4 bytes: zlib CRC-32 of every byte before it
 *
 * Writing is atomic: the bytes go to "<path>.tmp", which is fsync'd,
 * renamed over path, and the directory fsync'd; a crash at any moment
 * leaves either the old checkpoint or the new one, whole.
 *
 * Reading checks, in order, and says which failed: the magic (not a
 * checkpoint), the version, the size (truncated), the checksum
 * (corrupted), every record (a group's width and blocks, an edge's ends
 * and block inside the pools, the order a topological permutation), then
 * against the run: shape, data, settings, position.
 */
#ifndef GN_RUNTIME_CHECKPOINT_H
#define GN_RUNTIME_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "model.h"
#include "normalize.h"
#include "plan.h"

#define GN_CHECKPOINT_VERSION 4u     /* written; versions 1 to 4 are read */
#define GN_CHECKPOINT_HEADER 320u    /* bytes of a version 3 or 4 header */
#define GN_CHECKPOINT_HEADER_V2 256u /* of a version 1 or 2 header */

/* A run's position: what a checkpoint holds beside the model, the plan's
 * settings and the last progress record. */
struct gn_run_pos {
    int64_t step, epoch; /* steps and epochs done */
    int64_t grow_round;  /* growth rounds done (the alternate policy reads their parity) */
    int64_t skipped;     /* steps discarded by --on-nan skip */
    double ep_loss;      /* the running sums of the epoch the run is in */
    int64_t ep_hits, ep_seen;
    int32_t guard;       /* the numeric guard's epoch-rule state (numguard.h) */
};

/* The header's fields, decoded. */
struct gn_checkpoint_header {
    uint32_t version;
    uint64_t file_size;
    /* shape of the data and network */
    int32_t inputs, classes, group_size, batch;
    int64_t n_train, test_count;
    uint32_t data_crc;
    /* settings that change the arithmetic */
    int32_t grow, grow_every;
    uint64_t seed;
    float lr, momentum, weight_decay, grow_threshold, grow_noise;
    int32_t max_groups, max_edges;
    int64_t max_params;
    /* position */
    int64_t step, epoch, grow_round;
    double ep_loss;
    int64_t ep_hits, ep_seen, skipped;
    double last_loss, last_accuracy, last_test_accuracy;
    int32_t last_epoch, last_epoch_end;
    /* pool use */
    int32_t n_groups, n_edges;
    int64_t n_params, duplications, refused;
    /* input normalization (version 2; version 1 reads as none) */
    int32_t normalize; /* enum gn_normalize */
    /* the optimizer (version 3; versions 1 and 2 read as sgd, constant) */
    int32_t optimizer, lr_schedule; /* enum gn_optimizer, enum gn_lr_schedule */
    float beta1, beta2, eps, lr_min, lr_gamma;
    int64_t lr_warmup, lr_step_every;
    int64_t steps_total; /* the run's planned steps (a cosine's length) */
    /* growth criterion (version 3; earlier versions read as std) */
    int32_t grow_criterion; /* enum gn_grow_criterion */
    float grow_ratio;       /* relative; 0 in earlier versions */
    /* version 4: pruning (0, 1 and no groups pruned in earlier versions) */
    float prune_threshold;
    int32_t prune_after;
    int64_t pruned;
    /* the numeric guard's epoch-rule state (a reserved zero word in files
     * written before it: a fresh state, as those runs resumed) */
    int32_t guard;
    /* the task math's precision (enum gn_precision; a reserved zero word in
     * files written before it: fp32, all those runs had) */
    int32_t precision;
};

/* A decoded checkpoint: the header and the model's records, arrays sized
 * by the counts in use. */
struct gn_checkpoint {
    struct gn_checkpoint_header h;
    struct gn_group *groups; /* (n_groups) */
    struct gn_edge *edges;   /* (n_edges) */
    int32_t *order;          /* (n_groups) */
    float *params, *moment;  /* (n_params) */
    float *moment2;          /* (n_params; versions 1 and 2: zero) */
    struct gn_norm norm;     /* the run's normalization (version 1: none) */
};

/* Serialise a run's state into path atomically: the plan's shape and
 * settings, the training data's CRC (gn_checkpoint_data_crc, of the raw
 * data), the input normalization (norm->features == m->inputs), the model,
 * the position and the last progress record. */
enum gn_status gn_checkpoint_write(const char *path, const struct gn_plan *plan,
                                   uint32_t data_crc, const struct gn_norm *norm,
                                   const struct gn_model *m, const struct gn_run_pos *pos,
                                   const struct gn_progress *last);

/*
 * Decode and check len bytes (the whole file); name prefixes messages.
 * Everything that can be checked without the run is: format, checksum,
 * every record's bounds. On error *ck is left empty.
 */
enum gn_status gn_checkpoint_parse(const void *buf, size_t len, const char *name,
                                   struct gn_checkpoint *ck);

/* Read and decode a checkpoint file. */
enum gn_status gn_checkpoint_load(const char *path, struct gn_checkpoint *ck);

void gn_checkpoint_free(struct gn_checkpoint *ck);

/* Whether ck was written before parameter blocks were aligned (model.h:
 * some block off GN_PARAM_ALIGN); gn_checkpoint_model re-lays it out, and
 * gn_checkpoint_match lets it resume with a larger --max-params. */
bool gn_checkpoint_legacy_layout(const struct gn_checkpoint *ck);

/* Is ck a checkpoint of the run of this plan over data of this CRC (data,
 * shape, settings, position within the planned steps) normalized as norm
 * (only the mode is compared: the run then uses ck->norm's statistics)?
 * GN_ERR_INVALID naming the first difference. */
enum gn_status gn_checkpoint_match(const struct gn_checkpoint *ck, const struct gn_plan *plan,
                                   uint32_t data_crc, const struct gn_norm *norm,
                                   const char *name);

/*
 * Copy the checkpoint's graph and parameters into m (initialised with pool
 * capacities at least the checkpoint's counts) and rebuild the topology
 * with its order: a cycle or a hidden group without inputs is an error.
 */
enum gn_status gn_checkpoint_model(const struct gn_checkpoint *ck, struct gn_model *m);

/* Make ck the run's state (after gn_checkpoint_match): the model (as
 * gn_checkpoint_model), the position and the progress record. */
enum gn_status gn_checkpoint_apply(const struct gn_checkpoint *ck, struct gn_model *m,
                                   struct gn_run_pos *pos, struct gn_progress *last);

/* CRC32 of the training examples a run uses (its fingerprint). */
uint32_t gn_checkpoint_data_crc(const struct gn_data *d, int64_t n);

#endif
