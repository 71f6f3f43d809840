/*
 * The trainer's internal interface, beside the public one in genet.h: read
 * access to a run's insides for the programs and tests that look at them
 * (genet-rt bench, the test suites), and opening with a given backend
 * table. struct gn_trainer itself is private to trainer.c: backends get a
 * struct gn_backend_io (backend.h), the checkpoint and trace writers get
 * the model, the plan and the run's position.
 */
#ifndef GN_RUNTIME_TRAINER_H
#define GN_RUNTIME_TRAINER_H

#include <stdint.h>

#include "backend.h"
#include "genet/genet.h"
#include "model.h"
#include "normalize.h"
#include "plan.h"

/* Steps whose mean loss and end time are logged (tests compare backends
 * step by step; the bench times steps). */
#define GN_LOSS_LOG (1 << 20)

/* The model being trained (the host copy; cuda: after its run). */
struct gn_model *gn_trainer_model(gn_trainer *t);

/* The run's plan. */
const struct gn_plan *gn_trainer_plan(const gn_trainer *t);

/* The run's input normalization: mode, per-feature shift and scale. */
const struct gn_norm *gn_trainer_norm(const gn_trainer *t);

/* The training thread's counters as they are now. */
void gn_trainer_counters(const gn_trainer *t, struct gn_counters *out);

/* Where the workers' time went in the last run (phases 0: not kept). */
void gn_trainer_profile(const gn_trainer *t, struct gn_profile *out);

/* The step logs: *loss (mean loss of each step) and *time (ns since the run
 * started, at each step's end), indexed by step; returns how many entries
 * they hold (the first min(planned steps, GN_LOSS_LOG) steps). */
int64_t gn_trainer_step_log(const gn_trainer *t, const double **loss, const int64_t **time);

/*
 * gn_trainer_open with the backend table ops instead of the one
 * settings.backend chooses (ops NULL: choose as gn_trainer_open does).
 * settings.backend must then name the backend whose plan ops runs (serial,
 * cpu or cuda). For tests: a table that wraps a real one, e.g. to fail its
 * open on purpose.
 */
enum gn_status gn_trainer_open_with(gn_trainer **out, const struct gn_settings *s,
                                    const struct gn_data *train, const struct gn_data *test,
                                    const char *graph_path, const struct gn_backend_ops *ops);

#endif
