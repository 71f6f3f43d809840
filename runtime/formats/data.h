/*
 * Dataset loading, internal side: the limits every loader enforces and the
 * entry points that data.c dispatches to (idx.c for a directory of IDX files,
 * csv.c for a CSV file).
 *
 * Limits. A file's header (IDX) or first line (CSV) says how big the data is;
 * it may lie. Every loader therefore
 *   - rejects a set of more than GN_DATA_MAX_VALUES floats (2^31 floats,
 *     8 GiB) or rows wider than GN_DATA_MAX_FEATURES (2^24) before
 *     allocating anything, and
 *   - never allocates much more than the bytes it has actually read: IDX
 *     bodies are read into a buffer that grows as data arrives (so a gzip
 *     stream that ends early costs only what it held), CSV rows are bounded
 *     by the file's real size.
 * Counts fit struct gn_data's int32_t fields by construction.
 */
#ifndef GN_RUNTIME_DATA_H
#define GN_RUNTIME_DATA_H

#include <stdint.h>

#include "genet/genet.h"

#define GN_DATA_MAX_VALUES (INT64_C(1) << 31)
#define GN_DATA_MAX_FEATURES (INT64_C(1) << 24)

/* Check a set of count examples of features floats against the limits. */
enum gn_status gn_data_limits(int64_t count, int64_t features, const char *name);

/*
 * Allocate d->x (count, features) and d->y (count) after gn_data_limits();
 * name (a file) goes into error messages. d->count and d->features are set,
 * d->classes is left 0. On error d is left empty.
 */
enum gn_status gn_data_alloc(struct gn_data *d, int64_t count, int64_t features,
                             const char *name);

/* Read the four IDX files of directory dir into train and test (idx.c). */
enum gn_status gn_idx_load(const char *dir, struct gn_data *train, struct gn_data *test);

/*
 * Read CSV file path into train and its "train" -> "test" sibling, if any,
 * into test (csv.c).
 */
enum gn_status gn_csv_load(const char *path, struct gn_data *train, struct gn_data *test);

#endif
