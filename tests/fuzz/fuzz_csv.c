/*
 * libFuzzer target: the CSV dataset reader (runtime/formats/csv.c through
 * gn_data_load on a file).
 *
 * Input: the text of train.csv; if it holds the line "#test#", what
 * follows that line becomes the sibling test.csv, so the reader's
 * train/test pairing and shared scaling are fuzzed too.
 *
 * Checks: no crash, leak or sanitizer report; on success the shapes are
 * consistent, every feature finite and every label < classes.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char mark[] = "\n#test#\n";
    const char *dir = gn_fuzz_dir("csv");
    char train_path[256], test_path[256];
    snprintf(train_path, sizeof train_path, "%s/train.csv", dir);
    snprintf(test_path, sizeof test_path, "%s/test.csv", dir);
    const uint8_t *split = memmem(data, size, mark, sizeof mark - 1);
    if (split) {
        size_t head = (size_t)(split - data) + 1;
        gn_fuzz_write(train_path, data, head);
        gn_fuzz_write(test_path, split + sizeof mark - 1, size - head - (sizeof mark - 2));
    } else {
        gn_fuzz_write(train_path, data, size);
        unlink(test_path);
    }
    struct gn_data train, test;
    if (gn_data_load(train_path, &train, &test) == GN_OK) {
        if (train.count < 1 || train.features < 1 || train.classes < 2 ||
            (test.count > 0 && test.features != train.features))
            abort();
        const struct gn_data *sets[2] = {&train, &test};
        for (int k = 0; k < 2; k++) {
            const struct gn_data *d = sets[k];
            for (int64_t i = 0; i < (int64_t)d->count * d->features; i++)
                if (!isfinite(d->x[i])) abort();
            for (int32_t i = 0; i < d->count; i++)
                if (d->y[i] >= train.classes) abort();
        }
        gn_data_free(&train);
        gn_data_free(&test);
    }
    return 0;
}
