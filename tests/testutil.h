/* Helpers shared by the test programs. */
#ifndef GN_TESTS_TESTUTIL_H
#define GN_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "model.h"

/* A fresh seed per run (GN_TEST_SEED overrides), printed once so a failure
 * can be replayed. */
uint64_t gn_test_seed(void);

/* Turn an initialised, empty model into a random DAG with `hidden` hidden
 * groups (each fed by 1-3 earlier groups, every group reaching the output),
 * rebuilt. */
void gn_test_random_dag(struct gn_model *m, uint64_t seed, int32_t hidden);

/* Gaussian blobs as a CSV file: n rows of `features` values around a
 * per-class mean drawn uniformly in [0, 1), with standard deviation
 * `noise`, clamped to [0, 1] when `clamp`, after a "label,f0,..." header
 * line when `header`; labels from stream `stream`, the noise from stream
 * `stream` + 1 (GN_RNG_TEST), values written as %.5f. */
struct gn_test_blobs {
    int classes, features;
    float noise;
    int clamp, header;
};
void gn_test_write_blobs(const char *path, int n, uint64_t seed, uint64_t stream,
                         const struct gn_test_blobs *b);

/* Blobs as a training and a test file, DIR/blobs-train.csv (n_train rows,
 * stream 10) and DIR/blobs-test.csv (n_test rows, stream 20), loaded into
 * *train and *test: 0, or -1 with the error on stderr (for a setup). */
int gn_test_load_blobs(const char *dir, int n_train, int n_test, uint64_t seed,
                       const struct gn_test_blobs *b, struct gn_data *train,
                       struct gn_data *test);

/* Fail (cmocka) unless a and b are the same network position by position:
 * at every position of the canonical order the same in- and out-degree,
 * in-edges from the same positions, and bitwise the same bias, weights and
 * both moments. Slots and offsets may differ (the cpu backend's growth
 * round numbers new slots in the order its workers allocate them). */
void gn_test_assert_same_network(const struct gn_model *a, const struct gn_model *b,
                                 const char *what);

/* Synthetic, image-like data: count rows of `features` values in [0, 1),
 * a fraction `zeros` of them exactly 0, the rest class-dependent (labels
 * from GN_RNG_TEST stream 1 of seed, values streams 2 and 3). */
struct gn_data gn_test_make_data(int32_t count, int32_t features, int32_t classes, uint64_t seed,
                                 float zeros);

/* Random-DAG training case k (k >= 0) of the backend comparisons (test_cpu,
 * test_gpu): the graph of gn_test_random_dag with 3 + 3k hidden groups of
 * 6, seeded seed + k, written to dir/dag<k>.json (path, len bytes), and
 * its settings in *s: the defaults with batch 32, 3 epochs, growth every 5
 * steps at threshold 0 by policy depth, width, alternate, random (k mod 4),
 * room for 400 groups, seed seed + 7k. Data: 20 features, 5 classes. */
void gn_test_random_dag_case(const char *dir, int k, uint64_t seed, struct gn_settings *s,
                             char *path, size_t len);

/* A fresh temporary directory (removed by gn_test_rmdir). */
char *gn_test_tmpdir(void);
void gn_test_rmdir(char *dir);

#endif
