/* Helpers shared by the test programs. */
#ifndef GN_TESTS_TESTUTIL_H
#define GN_TESTS_TESTUTIL_H

#include <stdint.h>

#include "model.h"

/* A fresh seed per run (GN_TEST_SEED overrides), printed once so a failure
 * can be replayed. */
uint64_t gn_test_seed(void);

/* Turn an initialised, empty model into a random DAG with `hidden` hidden
 * groups (each fed by 1-3 earlier groups, every group reaching the output),
 * rebuilt. */
void gn_test_random_dag(struct gn_model *m, uint64_t seed, int32_t hidden);

/* A fresh temporary directory (removed by gn_test_rmdir). */
char *gn_test_tmpdir(void);
void gn_test_rmdir(char *dir);

#endif
