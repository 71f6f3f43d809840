/*
 * gn_data_load: pick the loader from what path is (a directory holds IDX
 * files, a regular file is CSV), then check what the loader returned as a
 * whole: a non-empty training set, test rows as wide as training rows, and
 * classes = 1 + the largest label of either set (at least 2). On any error
 * both sets are left empty and gn_error_message() names the file at fault.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "error.h"

enum gn_status gn_data_limits(int64_t count, int64_t features, const char *name)
{
    if (features < 1 || features > GN_DATA_MAX_FEATURES)
        return gn_fail(GN_ERR_FORMAT, "%s: %lld features per example is outside 1..%lld", name,
                       (long long)features, (long long)GN_DATA_MAX_FEATURES);
    if (count < 0 || count > INT32_MAX)
        return gn_fail(GN_ERR_FORMAT, "%s: %lld examples is outside 0..%d", name,
                       (long long)count, INT32_MAX);
    if (count > GN_DATA_MAX_VALUES / features)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: %lld examples of %lld features exceed the limit of %lld values", name,
                       (long long)count, (long long)features, (long long)GN_DATA_MAX_VALUES);
    return GN_OK;
}

enum gn_status gn_data_alloc(struct gn_data *d, int64_t count, int64_t features,
                             const char *name)
{
    memset(d, 0, sizeof *d);
    enum gn_status s = gn_data_limits(count, features, name);
    if (s != GN_OK)
        return s;
    if (count > 0) {
        d->x = malloc((size_t)count * (size_t)features * sizeof *d->x);
        d->y = malloc((size_t)count);
        if (!d->x || !d->y) {
            gn_data_free(d);
            return gn_fail(GN_ERR_NOMEM, "%s: cannot allocate %lld examples of %lld features",
                           name, (long long)count, (long long)features);
        }
    }
    d->count = (int32_t)count;
    d->features = (int32_t)features;
    return GN_OK;
}

void gn_data_free(struct gn_data *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

static int gn_data_max_label(const struct gn_data *d)
{
    int m = -1;
    for (int32_t i = 0; i < d->count; i++)
        if (d->y[i] > m)
            m = d->y[i];
    return m;
}

static enum gn_status gn_data_check(const char *path, struct gn_data *train, struct gn_data *test)
{
    if (train->count < 1)
        return gn_fail(GN_ERR_FORMAT, "%s: the training set has no examples", path);
    if (test->count > 0 && test->features != train->features)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: test examples have %d features but training examples have %d", path,
                       test->features, train->features);
    int m = gn_data_max_label(train);
    int mt = gn_data_max_label(test);
    if (mt > m)
        m = mt;
    train->classes = m + 1 < 2 ? 2 : m + 1;
    test->classes = train->classes;
    return GN_OK;
}

enum gn_status gn_data_load(const char *path, struct gn_data *train, struct gn_data *test)
{
    if (!path || !train || !test)
        return gn_fail(GN_ERR_INVALID, "gn_data_load: path, train and test must not be NULL");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);

    struct stat st;
    if (stat(path, &st) != 0)
        return gn_fail(GN_ERR_IO, "%s: cannot open dataset: %s", path, strerror(errno));

    enum gn_status s;
    if (S_ISDIR(st.st_mode))
        s = gn_idx_load(path, train, test);
    else if (S_ISREG(st.st_mode))
        s = gn_csv_load(path, train, test);
    else
        s = gn_fail(GN_ERR_INVALID, "%s: a dataset must be a directory of IDX files or a CSV file",
                    path);
    if (s == GN_OK)
        s = gn_data_check(path, train, test);
    if (s != GN_OK) {
        gn_data_free(train);
        gn_data_free(test);
    }
    return s;
}
