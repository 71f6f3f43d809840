/*
 * The numeric guard: NaN and Inf in a training step (--on-nan).
 *
 * Check. After a step, the loss and every group's gradient statistic are
 * tested in canonical order. The statistic (grad_std, stat.h) is the
 * standard deviation of all of a group's gradient entries accumulated in
 * double, so it is finite exactly when every entry is: one test per group
 * covers every gradient, at no extra pass over them. On a step that makes
 * no statistic (plan.h, gn_plan_stat_read) each backend tests the entries
 * alone and sets a failing group's grad_std to a NaN (gn_stat_refresh),
 * so the test is the same.
 *
 * Skip. Under --on-nan skip the trainer takes a snapshot of the model's
 * mutable state before each step (the records and parameters in use, not
 * the whole pools) and, when the check fails, restores it: weights,
 * both optimizer moments, graph (a growth made in that step is undone),
 * growth counters. (The bias corrections and the learning rate follow the
 * step's index, which goes on: a discarded step still counts as a step.)
 * Gradients are not saved: every step overwrites them before reading.
 */
#ifndef GN_RUNTIME_NUMGUARD_H
#define GN_RUNTIME_NUMGUARD_H

#include <math.h>
#include <stdint.h>

#include "genet/genet.h"
#include "model.h"

/*
 * The rules, once for every backend (GN_HD: the kernel runs them too; the
 * two limits come from the plan, computed on the host):
 *
 * Explosion. A step whose mean loss exceeds GN_GUARD_EXPLODE times the loss
 * of a uniform guess, ln(classes) (plan.explode_loss): the weights have
 * blown up even where every number is still finite. It counts as a
 * non-finite step: --on-nan stop ends the run, skip discards the step.
 *
 * Death. A hidden group whose gradient statistic is exactly 0 had every
 * ReLU off for the whole batch (no error reaches its inputs, weights or
 * bias): it is dead for that batch. The network has died when, at
 * GN_GUARD_DEAD_EPOCHS epoch ends in a row, some hidden group is dead and
 * the epoch's mean training loss is at chance: at least GN_GUARD_CHANCE
 * times the entropy of the training labels (plan.chance_loss), the loss of
 * a network that has learnt the class frequencies and nothing else. It has
 * also died (collapsed) when, with no dead group, the loss is at chance at
 * GN_GUARD_DEAD_EPOCHS epoch ends in a row after an epoch end at which it
 * was at most GN_GUARD_LEARNED times chance: it had learnt and lost it all
 * (measured: a depthwise chain at batch 128 fell back to chance for 18
 * epochs with every group's statistic above 0). Under --on-nan stop the run
 * ends there; under skip it is reported and goes on (no single step can be
 * discarded to undo it).
 */
#define GN_GUARD_EXPLODE 100.0
#define GN_GUARD_CHANCE 0.98
#define GN_GUARD_LEARNED 0.5
#define GN_GUARD_DEAD_EPOCHS 2
/* The epoch rule's state word: the count of epoch ends in a row that looked
 * dead, and a bit set once an epoch end was at most GN_GUARD_LEARNED x chance. */
#define GN_GUARD_COUNT_MASK 0xffff
#define GN_GUARD_HAS_LEARNED 0x10000

enum gn_guard_loss_verdict { GN_GUARD_LOSS_OK = 0, GN_GUARD_LOSS_NONFINITE, GN_GUARD_LOSS_EXPLODED };

/* A step's loss: its sum over `rows` rows against the explosion limit. */
GN_HD int gn_guard_loss(double loss_sum, int32_t rows, double explode_loss)
{
    if (!isfinite(loss_sum)) return GN_GUARD_LOSS_NONFINITE;
    return rows > 0 && loss_sum / (double)rows > explode_loss ? GN_GUARD_LOSS_EXPLODED
                                                              : GN_GUARD_LOSS_OK;
}

/* A group's gradient statistic passes when it is finite (then so is every
 * gradient entry: the statistic sums them all in double). */
GN_HD int gn_guard_stat_ok(float grad_std)
{
    return isfinite(grad_std);
}

/* Position in the canonical order of the first group whose gradient
 * statistic fails; 0 when none. */
GN_HD int32_t gn_guard_bad_group(const struct gn_model *m)
{
    for (int32_t p = 1; p < m->n_groups; p++)
        if (!gn_guard_stat_ok(gn_load_cg_f32(&m->groups[m->order[p]].grad_std))) return p;
    return 0;
}

/* Hidden groups whose last gradient statistic is exactly 0: dead. */
GN_HD int32_t gn_guard_dead_groups(const struct gn_model *m)
{
    int32_t n = 0;
    for (int32_t p = 1; p < m->n_groups; p++) {
        const struct gn_group *gr = &m->groups[m->order[p]];
        n += gr->kind == GN_GROUP_HIDDEN && gn_load_cg_f32(&gr->grad_std) == 0.0f;
    }
    return n;
}

/* At an epoch's end: *state (0 at the run's start) holds the count of
 * epoch ends in a row that looked dead (GN_GUARD_COUNT_MASK) and whether the
 * loss was ever at most GN_GUARD_LEARNED x chance (GN_GUARD_HAS_LEARNED);
 * 1 when the network has died: at chance with a dead group, or at chance
 * after it had learnt (dead_groups 0 then: a collapse). `whole` is 0 at a
 * run's end that falls inside an epoch (--steps): its steps so far are
 * judged, but *state keeps what the last epoch end left, since the epoch is
 * not over (the word is checkpointed, and a run resumed there judges the
 * whole epoch at its end; counting the part too would count it twice). */
GN_HD int gn_guard_epoch(int32_t *state, double loss_sum, int64_t seen, double chance_loss,
                         int32_t dead_groups, int whole)
{
    const double mean = seen > 0 ? loss_sum / (double)seen : 0.0;
    int32_t learned = *state & GN_GUARD_HAS_LEARNED;
    const int at_chance = seen > 0 && chance_loss > 0.0 && mean >= GN_GUARD_CHANCE * chance_loss;
    const int dead = at_chance && (dead_groups > 0 || learned);
    int32_t count = dead ? (*state & GN_GUARD_COUNT_MASK) + 1 : 0;
    if (count > GN_GUARD_COUNT_MASK) count = GN_GUARD_COUNT_MASK;
    if (seen > 0 && mean <= GN_GUARD_LEARNED * chance_loss) learned = GN_GUARD_HAS_LEARNED;
    if (whole) *state = count | learned;
    return count >= GN_GUARD_DEAD_EPOCHS;
}

#ifdef __cplusplus
extern "C" {
#endif

/* GN_OK, or GN_ERR_NUMERIC naming the step (1-based, as progress counts)
 * and the first group, in canonical order, whose loss or gradients are not
 * finite. */
enum gn_status gn_numguard_check(const struct gn_model *m, double loss, int64_t step);

/* The same with the explosion rule: loss_sum over rows rows against the
 * plan's explode_loss, then the gradients (gn_numguard_check's message
 * when both are finite and the loss under the limit). */
enum gn_status gn_numguard_step(const struct gn_model *m, double loss_sum, int32_t rows,
                                double explode_loss, int64_t step);

/* The message of a network that died at the end of epoch `epoch` (step
 * `step`): GN_ERR_NUMERIC. */
enum gn_status gn_numguard_died(int64_t epoch, int64_t step, double loss, double chance_loss,
                                int32_t dead_groups);

/* The plan's limits from the training labels: GN_GUARD_EXPLODE ln(classes)
 * and the entropy of the labels y[0..n) (classes values). */
double gn_guard_explode_loss(int32_t classes);
double gn_guard_chance_loss(const uint8_t *y, int64_t n, int32_t classes);

struct gn_snapshot;

/* Room for a snapshot of a model with m's capacities. */
enum gn_status gn_snapshot_create(struct gn_snapshot **out, const struct gn_model *m);
void gn_snapshot_take(struct gn_snapshot *s, const struct gn_model *m, int64_t grow_round);
/* Put the snapshot back; pool space a growth took since is zeroed again. */
void gn_snapshot_restore(const struct gn_snapshot *s, struct gn_model *m, int64_t *grow_round);
void gn_snapshot_free(struct gn_snapshot *s);

#ifdef __cplusplus
}
#endif

#endif
