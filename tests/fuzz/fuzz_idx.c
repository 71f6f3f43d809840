/*
 * libFuzzer target: the IDX dataset reader (runtime/formats/idx.c through
 * gn_data_load on a directory), raw and gzip.
 *
 * Input: three little-endian u32 lengths, then the bytes of the four files
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
 * and t10k-labels-idx1-ubyte one after the other (each length is cut to the
 * bytes left; the fourth file takes the rest). A file that starts with the
 * gzip magic is read as gzip, as a .gz file would be.
 *
 * Checks: no crash, leak or sanitizer report; on success the shapes are
 * consistent and every feature is in [0, 1], every label < classes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const char *dir = gn_fuzz_dir("idx");
    size_t at = 12 < size ? 12 : size;
    for (int i = 0; i < 4; i++) {
        size_t len = size - at;
        if (i < 3) {
            uint32_t want = gn_fuzz_u32(data, size, 4 * (size_t)i);
            if (want < len) len = want;
        }
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        gn_fuzz_write(path, data + at, len);
        at += len;
    }
    struct gn_data train, test;
    if (gn_data_load(dir, &train, &test) == GN_OK) {
        if (train.count < 1 || train.features < 1 || test.features != train.features ||
            train.classes < 2)
            abort();
        const struct gn_data *sets[2] = {&train, &test};
        for (int k = 0; k < 2; k++) {
            const struct gn_data *d = sets[k];
            for (int64_t i = 0; i < (int64_t)d->count * d->features; i++)
                if (!(d->x[i] >= 0.0f && d->x[i] <= 1.0f)) abort();
            for (int32_t i = 0; i < d->count; i++)
                if (d->y[i] >= train.classes) abort();
        }
        gn_data_free(&train);
        gn_data_free(&test);
    }
    return 0;
}
