/*
 * Dataset loaders (data.c, idx.c, csv.c). Each test writes its own small IDX
 * (raw and gzip) and CSV files into a fresh mkdtemp directory, loads them
 * with gn_data_load and checks exact values, or, for malformed input, the
 * status and a distinctive part of gn_error_message(). The last test loads
 * the real Fashion-MNIST where it is installed and skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "genet/genet.h"
#include "testutil.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static const char *const IMG_TRAIN = "train-images-idx3-ubyte";
static const char *const LBL_TRAIN = "train-labels-idx1-ubyte";
static const char *const IMG_TEST = "t10k-images-idx3-ubyte";
static const char *const LBL_TEST = "t10k-labels-idx1-ubyte";

/* The small good dataset: 3 train and 2 test images of 2x2. */
static const uint8_t train_pix[3 * 4] = {0, 255, 51, 102, 255, 0, 0, 1, 17, 34, 68, 204};
static const uint8_t train_lbl[3] = {0, 1, 4};
static const uint8_t test_pix[2 * 4] = {255, 255, 0, 0, 5, 6, 7, 8};
static const uint8_t test_lbl[2] = {2, 0};

/* ---- file helpers ---- */

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int k;
    k = (k + 1) % 4;
    int n = snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof buf[k]);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (n)
            assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text), 0);
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* Write an images file with the given header and npix bytes of pixels. */
static void write_images(const char *path, uint32_t magic, uint32_t count, uint32_t rows,
                         uint32_t cols, const uint8_t *pix, size_t npix, int gz)
{
    uint8_t *buf = malloc(16 + npix);
    assert_non_null(buf);
    size_t k = put_be32(buf, magic);
    k += put_be32(buf + k, count);
    k += put_be32(buf + k, rows);
    k += put_be32(buf + k, cols);
    if (npix)
        memcpy(buf + k, pix, npix);
    write_bytes(path, buf, k + npix, gz);
    free(buf);
}

static void write_labels(const char *path, uint32_t magic, uint32_t count, const uint8_t *lbl,
                         size_t n, int gz)
{
    uint8_t *buf = malloc(8 + n);
    assert_non_null(buf);
    size_t k = put_be32(buf, magic);
    k += put_be32(buf + k, count);
    if (n)
        memcpy(buf + k, lbl, n);
    write_bytes(path, buf, k + n, gz);
    free(buf);
}

/* The name of one of the four IDX files in dir, with .gz when gz. */
static char *idx_name(const char *dir, const char *base, int gz)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", base, gz ? ".gz" : "");
    return path_in(dir, name);
}

/* Write the good dataset into dir, every file raw or every file gzip. */
static void write_good_idx(const char *dir, int gz)
{
    write_images(idx_name(dir, IMG_TRAIN, gz), 0x803, 3, 2, 2, train_pix, sizeof train_pix, gz);
    write_labels(idx_name(dir, LBL_TRAIN, gz), 0x801, 3, train_lbl, sizeof train_lbl, gz);
    write_images(idx_name(dir, IMG_TEST, gz), 0x803, 2, 2, 2, test_pix, sizeof test_pix, gz);
    write_labels(idx_name(dir, LBL_TEST, gz), 0x801, 2, test_lbl, sizeof test_lbl, gz);
}

static void unlink_raw(const char *dir)
{
    const char *const names[4] = {IMG_TRAIN, LBL_TRAIN, IMG_TEST, LBL_TEST};
    for (int i = 0; i < 4; i++)
        unlink(path_in(dir, names[i]));
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/gn_test_data_XXXXXX");
    if (!dir || !mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*state);
    return 0;
}

/* Load path and expect status s with msg inside the error message; both sets empty. */
static void expect_fail(const char *path, enum gn_status s, const char *msg)
{
    struct gn_data train, test;
    enum gn_status got = gn_data_load(path, &train, &test);
    if (got != s || !strstr(gn_error_message(), msg))
        print_error("load %s: status %d (want %d), message \"%s\" (want \"%s\")\n", path, got, s,
                    gn_error_message(), msg);
    assert_int_equal(got, s);
    assert_non_null(strstr(gn_error_message(), msg));
    assert_int_equal(train.count, 0);
    assert_null(train.x);
    assert_null(train.y);
    assert_int_equal(test.count, 0);
    assert_null(test.x);
}

static void expect_msg2(const char *a, const char *b)
{
    if (!strstr(gn_error_message(), b))
        print_error("message \"%s\" lacks \"%s\"\n", gn_error_message(), b);
    assert_non_null(strstr(gn_error_message(), a));
    assert_non_null(strstr(gn_error_message(), b));
}

/* ---- good IDX ---- */

static void check_good(const struct gn_data *train, const struct gn_data *test)
{
    assert_int_equal(train->count, 3);
    assert_int_equal(train->features, 4);
    assert_int_equal(train->classes, 5);
    assert_int_equal(test->count, 2);
    assert_int_equal(test->features, 4);
    assert_int_equal(test->classes, 5);
    for (int i = 0; i < 12; i++)
        assert_true(train->x[i] == (float)train_pix[i] / 255.0f);
    for (int i = 0; i < 8; i++)
        assert_true(test->x[i] == (float)test_pix[i] / 255.0f);
    assert_true(train->x[0] == 0.0f);
    assert_true(train->x[1] == 1.0f);
    assert_memory_equal(train->y, train_lbl, 3);
    assert_memory_equal(test->y, test_lbl, 2);
}

static void test_idx_raw(void **state)
{
    struct gn_data train, test;
    write_good_idx(*state, 0);
    assert_int_equal(gn_data_load(*state, &train, &test), GN_OK);
    check_good(&train, &test);
    gn_data_free(&train);
    gn_data_free(&test);
    assert_null(train.x);
    assert_int_equal(train.count, 0);
}

/* A .gz file of two gzip members (what `cat a.gz b.gz` makes) is one
 * stream to zlib; the whole-file fast path (libdeflate, where built)
 * takes one member only, so it must hand such a file to zlib: the same
 * data as the raw files. */
static void test_idx_gz_two_members(void **state)
{
    char raw[4096], two[4096];
    struct gn_data a, at, b, bt;
    snprintf(raw, sizeof raw, "%s/raw2", (char *)*state);
    snprintf(two, sizeof two, "%s/two", (char *)*state);
    assert_int_equal(mkdir(raw, 0700), 0);
    assert_int_equal(mkdir(two, 0700), 0);
    write_good_idx(raw, 0);
    write_good_idx(two, 1);
    /* the training images again (28 bytes), as two members of 14: the
     * trailer's size is the last member's, so it matches the first's too */
    unsigned char buf[64];
    size_t k = 0;
    const uint32_t hdr[4] = {0x803, 3, 2, 2};
    for (int i = 0; i < 4; i++) {
        buf[k++] = (unsigned char)(hdr[i] >> 24);
        buf[k++] = (unsigned char)(hdr[i] >> 16);
        buf[k++] = (unsigned char)(hdr[i] >> 8);
        buf[k++] = (unsigned char)hdr[i];
    }
    memcpy(buf + k, train_pix, 12);
    k += 12;
    const char *path = idx_name(two, IMG_TRAIN, 1);
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(k, 28);
    assert_int_equal(gzwrite(f, buf, 14), 14);
    assert_int_equal(gzclose(f), Z_OK);
    f = gzopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, buf + 14, 14), 14);
    assert_int_equal(gzclose(f), Z_OK);

    assert_int_equal(gn_data_load(raw, &a, &at), GN_OK);
    assert_int_equal(gn_data_load(two, &b, &bt), GN_OK);
    check_good(&b, &bt);
    assert_memory_equal(a.x, b.x, 12 * sizeof(float));
    assert_memory_equal(a.y, b.y, 3);
    struct gn_data *all[4] = {&a, &at, &b, &bt};
    for (int i = 0; i < 4; i++)
        gn_data_free(all[i]);
}

static void test_idx_gz_equals_raw(void **state)
{
    char raw[4096], gz[4096], mixed[4096];
    struct gn_data a, at, b, bt, c, ct;
    snprintf(raw, sizeof raw, "%s/raw", (char *)*state);
    snprintf(gz, sizeof gz, "%s/gz", (char *)*state);
    snprintf(mixed, sizeof mixed, "%s/mixed", (char *)*state);
    assert_int_equal(mkdir(raw, 0700), 0);
    assert_int_equal(mkdir(gz, 0700), 0);
    assert_int_equal(mkdir(mixed, 0700), 0);
    write_good_idx(raw, 0);
    write_good_idx(gz, 1);
    write_images(idx_name(mixed, IMG_TRAIN, 1), 0x803, 3, 2, 2, train_pix, 12, 1);
    write_labels(idx_name(mixed, LBL_TRAIN, 0), 0x801, 3, train_lbl, 3, 0);
    write_images(idx_name(mixed, IMG_TEST, 0), 0x803, 2, 2, 2, test_pix, 8, 0);
    write_labels(idx_name(mixed, LBL_TEST, 1), 0x801, 2, test_lbl, 2, 1);

    assert_int_equal(gn_data_load(raw, &a, &at), GN_OK);
    assert_int_equal(gn_data_load(gz, &b, &bt), GN_OK);
    assert_int_equal(gn_data_load(mixed, &c, &ct), GN_OK);
    check_good(&b, &bt);
    check_good(&c, &ct);
    assert_memory_equal(a.x, b.x, 12 * sizeof(float));
    assert_memory_equal(a.y, b.y, 3);
    assert_memory_equal(at.x, bt.x, 8 * sizeof(float));
    assert_memory_equal(at.y, bt.y, 2);
    struct gn_data *all[6] = {&a, &at, &b, &bt, &c, &ct};
    for (int i = 0; i < 6; i++)
        gn_data_free(all[i]);
}

/* A set past a million pixels converts on several threads, in parts of
 * whole pages (1,024 floats): every value p / 255 at its place, the last
 * part cut short (1,500 x 784 is not a multiple of 1,024), raw and gzip
 * the same. */
static void test_idx_large_threaded(void **state)
{
    enum { N = 1500, SIDE = 28, NPIX = N * SIDE * SIDE };
    uint8_t *pix = malloc(NPIX), lbl[N];
    assert_non_null(pix);
    uint32_t r = 12345u;
    for (size_t i = 0; i < NPIX; i++) {
        r = r * 1103515245u + 12345u;
        pix[i] = (uint8_t)(r >> 16);
    }
    for (int i = 0; i < N; i++)
        lbl[i] = (uint8_t)(i % 10);
    for (int gz = 0; gz < 2; gz++) {
        char dir[4096];
        struct gn_data train, test;
        snprintf(dir, sizeof dir, "%s/large%d", (char *)*state, gz);
        assert_int_equal(mkdir(dir, 0700), 0);
        write_images(idx_name(dir, IMG_TRAIN, gz), 0x803, N, SIDE, SIDE, pix, NPIX, gz);
        write_labels(idx_name(dir, LBL_TRAIN, gz), 0x801, N, lbl, N, gz);
        write_images(idx_name(dir, IMG_TEST, gz), 0x803, 2, SIDE, SIDE, pix, 2 * SIDE * SIDE,
                     gz);
        write_labels(idx_name(dir, LBL_TEST, gz), 0x801, 2, lbl, 2, gz);
        assert_int_equal(gn_data_load(dir, &train, &test), GN_OK);
        assert_int_equal(train.count, N);
        assert_int_equal(train.features, SIDE * SIDE);
        size_t bad = 0;
        for (size_t i = 0; i < NPIX; i++)
            bad += train.x[i] != (float)pix[i] / 255.0f;
        assert_int_equal(bad, 0);
        for (size_t i = 0; i < 2 * SIDE * SIDE; i++)
            assert_true(test.x[i] == (float)pix[i] / 255.0f);
        assert_memory_equal(train.y, lbl, N);
        gn_data_free(&train);
        gn_data_free(&test);
    }
    free(pix);
}

/* Labels all 0 still give 2 classes; an empty test set is allowed. */
static void test_idx_min_classes(void **state)
{
    struct gn_data train, test;
    const uint8_t zero[3] = {0, 0, 0};
    write_good_idx(*state, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 3, zero, 3, 0);
    write_images(path_in(*state, IMG_TEST), 0x803, 0, 2, 2, NULL, 0, 0);
    write_labels(path_in(*state, LBL_TEST), 0x801, 0, NULL, 0, 0);
    assert_int_equal(gn_data_load(*state, &train, &test), GN_OK);
    assert_int_equal(train.classes, 2);
    assert_int_equal(test.count, 0);
    gn_data_free(&train);
    gn_data_free(&test);
}

/* ---- bad IDX ---- */

static void test_missing_path(void **state)
{
    expect_fail(path_in(*state, "nope"), GN_ERR_IO, "cannot open dataset");
    expect_msg2("nope", "No such file");
}

static void test_bad_arguments(void **state)
{
    struct gn_data train, test;
    assert_int_equal(gn_data_load(NULL, &train, &test), GN_ERR_INVALID);
    assert_int_equal(gn_data_load(*state, NULL, &test), GN_ERR_INVALID);
    assert_int_equal(gn_data_load(*state, &train, NULL), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "must not be NULL"));
    expect_fail("/dev/null", GN_ERR_INVALID, "must be a directory of IDX files or a CSV file");
    gn_data_free(NULL);
}

static void test_idx_missing_file(void **state)
{
    write_good_idx(*state, 0);
    assert_int_equal(unlink(path_in(*state, LBL_TEST)), 0);
    expect_fail(*state, GN_ERR_IO, "missing IDX file t10k-labels-idx1-ubyte");
    write_good_idx(*state, 0);
    assert_int_equal(unlink(path_in(*state, IMG_TRAIN)), 0);
    expect_fail(*state, GN_ERR_IO, "missing IDX file train-images-idx3-ubyte");
}

static void test_idx_wrong_magic(void **state)
{
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0xdeadbeef, 3, 2, 2, train_pix, 12, 0);
    expect_fail(*state, GN_ERR_FORMAT, "wrong magic: expected 0x00000803, found 0xdeadbeef");
    expect_msg2(IMG_TRAIN, "0xdeadbeef");
    write_good_idx(*state, 0);
    write_labels(path_in(*state, LBL_TEST), 0x12345678, 2, test_lbl, 2, 0);
    expect_fail(*state, GN_ERR_FORMAT, "wrong magic: expected 0x00000801, found 0x12345678");
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x00000d03, 3, 2, 2, train_pix, 12, 0);
    expect_fail(*state, GN_ERR_FORMAT, "element type 0x0d is not unsigned byte");
}

static void test_idx_wrong_dims(void **state)
{
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x802, 3, 2, 2, train_pix, 12, 0);
    expect_fail(*state, GN_ERR_FORMAT, "wrong dimension count 2 (magic 0x00000802), expected 3");
    write_good_idx(*state, 0);
    write_images(path_in(*state, LBL_TRAIN), 0x803, 3, 2, 2, train_pix, 12, 0);
    expect_fail(*state, GN_ERR_FORMAT, "wrong dimension count 3 (magic 0x00000803), expected 1");
}

static void test_idx_truncated(void **state)
{
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x803, 3, 2, 2, train_pix, 8, 0);
    expect_fail(*state, GN_ERR_FORMAT, "truncated data");
    expect_msg2("12 bytes after the 16-byte header, but only 8 are present", IMG_TRAIN);

    unlink_raw(*state);
    write_good_idx(*state, 1);
    write_labels(idx_name(*state, LBL_TRAIN, 1), 0x801, 3, train_lbl, 2, 1);
    expect_fail(*state, GN_ERR_FORMAT, "truncated data");
    expect_msg2("3 bytes after the 8-byte header, but only 2 are present", LBL_TRAIN);

    write_good_idx(*state, 0);
    write_bytes(path_in(*state, IMG_TEST), "\0\0\x08\x03\0\0\0\x02\0\0", 10, 0);
    expect_fail(*state, GN_ERR_FORMAT, "truncated header: expected 16 bytes, found 10");
}

/* A header claiming far more than the file holds fails without a huge allocation. */
static void test_idx_lying_header(void **state)
{
    write_good_idx(*state, 1);
    write_images(idx_name(*state, IMG_TRAIN, 1), 0x803, 1000000, 28, 28, train_pix, 12, 1);
    write_labels(idx_name(*state, LBL_TRAIN, 1), 0x801, 1000000, train_lbl, 3, 1);
    expect_fail(*state, GN_ERR_FORMAT, "784000000 bytes after the 16-byte header, but only 12");

    write_images(idx_name(*state, IMG_TRAIN, 1), 0x803, 0x7fffffff, 28, 28, train_pix, 12, 1);
    write_labels(idx_name(*state, LBL_TRAIN, 1), 0x801, 0x7fffffff, train_lbl, 3, 1);
    expect_fail(*state, GN_ERR_FORMAT, "exceed the limit of 2147483648 values");

    write_images(idx_name(*state, IMG_TRAIN, 1), 0x803, 3, 0xffffffff, 0xffffffff, NULL, 0, 1);
    expect_fail(*state, GN_ERR_FORMAT, "image size 4294967295x4294967295 is outside");
    write_images(idx_name(*state, IMG_TRAIN, 1), 0x803, 3, 0, 2, NULL, 0, 1);
    expect_fail(*state, GN_ERR_FORMAT, "image size 0x2 is outside");
}

static void test_idx_trailing(void **state)
{
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x803, 2, 2, 2, train_pix, 12, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 2, train_lbl, 2, 0);
    expect_fail(*state, GN_ERR_FORMAT, "trailing data");
}

static void test_idx_count_mismatch(void **state)
{
    write_good_idx(*state, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 2, train_lbl, 2, 0);
    expect_fail(*state, GN_ERR_FORMAT, "holds 3 images but");
    expect_msg2(IMG_TRAIN, "holds 2 labels");
    write_good_idx(*state, 0);
    write_labels(path_in(*state, LBL_TEST), 0x801, 1, test_lbl, 1, 0);
    expect_fail(*state, GN_ERR_FORMAT, "holds 2 images but");
    expect_msg2("holds 1 labels", LBL_TEST);
}

/* The two sets load side by side; the error reported is still the one a
 * load in turn would give: the training set's first. */
static void test_idx_both_broken(void **state)
{
    write_good_idx(*state, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 2, train_lbl, 2, 0);
    write_labels(path_in(*state, LBL_TEST), 0x801, 1, test_lbl, 1, 0);
    expect_fail(*state, GN_ERR_FORMAT, "holds 3 images but");
    expect_msg2(IMG_TRAIN, "holds 2 labels");
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x803, 0, 2, 2, NULL, 0, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 0, NULL, 0, 0);
    write_bytes(path_in(*state, LBL_TEST), "", 0, 0);
    expect_fail(*state, GN_ERR_FORMAT, "holds no images");
}

static void test_idx_test_size_mismatch(void **state)
{
    const uint8_t pix[2 * 9] = {0};
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TEST), 0x803, 2, 3, 3, pix, sizeof pix, 0);
    expect_fail(*state, GN_ERR_FORMAT, "test images are 3x3 but training images are 2x2");
}

static void test_idx_empty(void **state)
{
    write_good_idx(*state, 0);
    write_bytes(path_in(*state, LBL_TRAIN), "", 0, 0);
    expect_fail(*state, GN_ERR_FORMAT, "file is empty");
    expect_msg2(LBL_TRAIN, "empty");
    write_good_idx(*state, 0);
    write_images(path_in(*state, IMG_TRAIN), 0x803, 0, 2, 2, NULL, 0, 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, 0, NULL, 0, 0);
    expect_fail(*state, GN_ERR_FORMAT, "holds no images");
}

/* A deterministic pseudo-random buffer compresses badly, so corruption is caught. */
static void fill_noise(uint8_t *p, size_t n)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (uint8_t)(s >> 24);
    }
}

static void test_idx_corrupt_gzip(void **state)
{
    enum { N = 200, ROW = 16 };
    uint8_t *pix = malloc(N * ROW * ROW), lbl[N] = {0};
    assert_non_null(pix);
    fill_noise(pix, N * ROW * ROW);
    write_good_idx(*state, 0);
    assert_int_equal(unlink(path_in(*state, IMG_TRAIN)), 0);
    assert_int_equal(unlink(path_in(*state, IMG_TEST)), 0);
    write_labels(path_in(*state, LBL_TRAIN), 0x801, N, lbl, N, 0);
    write_images(idx_name(*state, IMG_TEST, 1), 0x803, 2, ROW, ROW, pix, 2 * ROW * ROW, 1);
    char *img = idx_name(*state, IMG_TRAIN, 1);
    write_images(img, 0x803, N, ROW, ROW, pix, N * ROW * ROW, 1);

    /* flip bytes in the middle of the deflate stream */
    FILE *f = fopen(img, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    uint8_t junk[64];
    memset(junk, 0xa5, sizeof junk);
    assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    assert_int_equal(fclose(f), 0);
    expect_fail(*state, GN_ERR_FORMAT, "corrupt gzip stream");
    expect_msg2(IMG_TRAIN, ".gz");

    /* a gzip header followed by an invalid deflate block type */
    static const uint8_t bad[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0, 0, 0, 0};
    write_bytes(img, bad, sizeof bad, 0);
    expect_fail(*state, GN_ERR_FORMAT, "corrupt gzip stream (zlib: invalid block type)");

    /* a gzip stream cut short */
    write_images(img, 0x803, N, ROW, ROW, pix, N * ROW * ROW, 1);
    assert_int_equal(truncate(img, size / 2), 0);
    expect_fail(*state, GN_ERR_FORMAT, "corrupt gzip stream: it ends early");
    free(pix);
}

/* ---- CSV ---- */

static void test_csv_plain(void **state)
{
    struct gn_data train, test;
    char *p = path_in(*state, "d.csv");
    write_text(p, "1,0,255,51\n0,102,0,255\n\n3, 1 ,2,\t3\n");
    assert_int_equal(gn_data_load(p, &train, &test), GN_OK);
    assert_int_equal(train.count, 3);
    assert_int_equal(train.features, 3);
    assert_int_equal(train.classes, 4);
    assert_int_equal(test.count, 0);
    assert_null(test.x);
    const float want[9] = {0, 1, 51 / 255.0f, 102 / 255.0f, 0, 1, 1 / 255.0f, 2 / 255.0f,
                           3 / 255.0f};
    for (int i = 0; i < 9; i++)
        assert_true(train.x[i] == want[i]);
    assert_int_equal(train.y[0], 1);
    assert_int_equal(train.y[1], 0);
    assert_int_equal(train.y[2], 3);
    gn_data_free(&train);
    gn_data_free(&test);

    /* features all <= 1 are kept as written; CRLF, a header and float labels */
    write_text(p, "label,a,b\r\n0,0.5,0.25\r\n7.0,1,-0.125\r\n");
    assert_int_equal(gn_data_load(p, &train, &test), GN_OK);
    assert_int_equal(train.count, 2);
    assert_int_equal(train.features, 2);
    assert_int_equal(train.classes, 8);
    assert_true(train.x[0] == 0.5f && train.x[1] == 0.25f);
    assert_true(train.x[2] == 1.0f && train.x[3] == -0.125f);
    assert_int_equal(train.y[1], 7);
    gn_data_free(&train);
    gn_data_free(&test);

    /* labels all 0: still 2 classes */
    write_text(p, "0,0.5\n0,0.25");
    assert_int_equal(gn_data_load(p, &train, &test), GN_OK);
    assert_int_equal(train.count, 2);
    assert_int_equal(train.classes, 2);
    gn_data_free(&train);
    gn_data_free(&test);
}

/* Feature strings of the forms a CSV file holds, each read as strtof reads
 * it, bit for bit (the loader's exact fast paths included): signs, leading
 * zeros, a point with digits on one side only, up to 12 digits after it,
 * 1 to 10 significant digits, exponents and hex. Every value <= 1 (large
 * ones negative), so the 0..255 pixel rule keeps them as written. */
static void test_csv_numbers(void **state)
{
    enum { ROWS = 40, F = 250 };
    const uint64_t seed = gn_test_seed();
    static char text[ROWS * F * 28 + ROWS * 8];
    static char str[ROWS][F][24];
    size_t at = 0;
    uint64_t x = seed | 1;
    for (int r = 0; r < ROWS; r++) {
        at += (size_t)sprintf(text + at, "%d", r % 3);
        for (int f = 0; f < F; f++) {
            char *o = str[r][f];
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const int form = (int)(x % 16), ilen = (int)((x >> 8) % 6), flen = (int)((x >> 16) % 13);
            int n = 0;
            if (form == 0) {
                n = sprintf(o, "-%de%d", (int)((x >> 20) % 1000), (int)((x >> 32) % 30) - 15);
            } else if (form == 1) {
                n = sprintf(o, "-0x%xp%d", (unsigned)((x >> 24) % 4096), (int)((x >> 40) % 9) - 4);
            } else {
                const int neg = form < 10 || ilen > 0;
                if (neg) o[n++] = '-';
                else if (form == 15) o[n++] = '+';
                if (!neg) o[n++] = '0';
                for (int i = 0; neg && i < ilen; i++) o[n++] = (char)('0' + (x >> (24 + 3 * i)) % 10);
                if (form != 11 || n == 0 || o[n - 1] < '0') {
                    o[n++] = '.';
                    for (int i = 0; i < flen; i++) o[n++] = (char)('0' + (x >> (4 * i + 1)) % 10);
                }
                if (n == 0 || o[n - 1] == '.' || o[n - 1] == '-' || o[n - 1] == '+') o[n++] = '0';
                o[n] = 0;
            }
            at += (size_t)sprintf(text + at, ",%s", o);
        }
        text[at++] = '\n';
    }
    text[at] = 0;
    char *p = path_in(*state, "n.csv");
    write_text(p, text);
    struct gn_data train, test;
    const enum gn_status st = gn_data_load(p, &train, &test);
    if (st) print_error("%s\n", gn_error_message());
    assert_int_equal(st, GN_OK);
    assert_int_equal(train.count, ROWS);
    assert_int_equal(train.features, F);
    int bad = 0;
    for (int r = 0; r < ROWS; r++)
        for (int f = 0; f < F; f++) {
            const float want = strtof(str[r][f], NULL), got = train.x[r * F + f];
            if (memcmp(&want, &got, sizeof want) && bad++ < 5)
                print_error("'%s': strtof %a, loaded %a\n", str[r][f], (double)want, (double)got);
        }
    assert_int_equal(bad, 0);
    gn_data_free(&train);
    gn_data_free(&test);
}

static void test_csv_sibling(void **state)
{
    struct gn_data train, test;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/train", (char *)*state);
    assert_int_equal(mkdir(sub, 0700), 0);
    char *tr = path_in(sub, "fm_train.csv"), *te = path_in(sub, "fm_test.csv");

    write_text(tr, "label,p1,p2\n1,0.5,1\n2,0,0.25\n");
    assert_int_equal(gn_data_load(tr, &train, &test), GN_OK);
    assert_int_equal(train.count, 2);
    assert_int_equal(test.count, 0);
    assert_int_equal(train.classes, 3);
    gn_data_free(&train);
    gn_data_free(&test);

    /* the test file has a larger label and is in 0..255: both sets scale together */
    write_text(te, "9,255,51\n");
    assert_int_equal(gn_data_load(tr, &train, &test), GN_OK);
    assert_int_equal(train.count, 2);
    assert_int_equal(test.count, 1);
    assert_int_equal(test.features, 2);
    assert_int_equal(train.classes, 10);
    assert_int_equal(test.classes, 10);
    assert_true(test.x[0] == 1.0f && test.x[1] == 51 / 255.0f);
    assert_true(train.x[0] == 0.5f / 255.0f);
    assert_int_equal(test.y[0], 9);
    gn_data_free(&train);
    gn_data_free(&test);

    /* a name without "train" never looks for a sibling */
    char *other = path_in(sub, "fm.csv");
    write_text(other, "1,0.5\n");
    assert_int_equal(gn_data_load(other, &train, &test), GN_OK);
    assert_int_equal(test.count, 0);
    gn_data_free(&train);
    gn_data_free(&test);

    write_text(te, "1,2,3,4\n");
    expect_fail(tr, GN_ERR_FORMAT, "rows have 3 features but");
    expect_msg2("fm_test.csv", "fm_train.csv rows have 2");
    write_text(te, "256,1,2\n");
    expect_fail(tr, GN_ERR_FORMAT, "line 1: label 256 is out of range 0..255");
    expect_msg2("fm_test.csv", "256");
    write_text(te, "label,a,b\n");
    expect_fail(tr, GN_ERR_FORMAT, "has a header line but no data rows");
    expect_msg2("fm_test.csv", "header");
}

static void test_csv_errors(void **state)
{
    char *p = path_in(*state, "bad.csv");
    write_text(p, "1,2,3\n1,2\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 has 2 fields, expected 3");
    expect_msg2("bad.csv", "line 2");
    write_text(p, "h1,h2,h3\n1,2,3\n\n1,2,3,4,5\n");
    expect_fail(p, GN_ERR_FORMAT, "line 4 has 5 fields, expected 3");
    write_text(p, "1,2,3\n1,2,3,\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 has 4 fields, expected 3");
    write_text(p, "1,2,3\n1,x7,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 field 2: 'x7' is not a number");
    write_text(p, "1,2,3\n1,2,3abc\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 field 3: '3abc' is not a number");
    write_text(p, "1,2,3\n1,,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 field 2 is empty");
    write_text(p, "1,2,3\n1,nan,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2 field 2: 'nan' is not a finite number");
    write_text(p, "a,b\n1,2\nx,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 3 field 1: 'x' is not a number");
    write_text(p, "1,2,3\n-1,2,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 2: label -1 is out of range 0..255");
    write_text(p, "300,2,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 1: label 300 is out of range 0..255");
    write_text(p, "1.5,2,3\n");
    expect_fail(p, GN_ERR_FORMAT, "line 1: label '1.5' is not an integer");
    write_text(p, "1\n2\n");
    expect_fail(p, GN_ERR_FORMAT, "line 1 has 1 field, expected a label and at least one");
    write_text(p, "");
    expect_fail(p, GN_ERR_FORMAT, "bad.csv: file is empty");
    write_text(p, "\n  \n\r\n");
    expect_fail(p, GN_ERR_FORMAT, "file is empty (only blank lines)");
    write_text(p, "label,a,b\n\n");
    expect_fail(p, GN_ERR_FORMAT, "bad.csv: has a header line but no data rows");
    write_bytes(p, "1,2,\0003\n", 7, 0);
    expect_fail(p, GN_ERR_FORMAT, "line 1 field 3: '?3' is not a number");
}

/* ---- the real Fashion-MNIST ---- */

static void test_fashion_mnist(void **state)
{
    (void)state;
    struct gn_data train, test;
    struct stat st;
    struct timespec t0, t1;
    if (stat(FASHION_DIR, &st) != 0) {
        print_message("skipping: " FASHION_DIR " is not installed\n");
        skip();
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum gn_status s = gn_data_load(FASHION_DIR, &train, &test);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s != GN_OK)
        print_error("%s\n", gn_error_message());
    assert_int_equal(s, GN_OK);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    print_message("Fashion-MNIST loaded in %.3f s\n", secs);
    assert_int_equal(train.count, 60000);
    assert_int_equal(test.count, 10000);
    assert_int_equal(train.features, 784);
    assert_int_equal(test.features, 784);
    assert_int_equal(train.classes, 10);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)train.count * 784; i++) {
        lo = train.x[i] < lo ? train.x[i] : lo;
        hi = train.x[i] > hi ? train.x[i] : hi;
    }
    assert_true(lo == 0.0f && hi == 1.0f);
    /* a guard against gross regressions (an accidental quadratic parse),
     * loose enough for sanitizer builds on a loaded 2-core machine; the
     * release build takes about 0.4 s */
    assert_true(secs < 60.0);
    gn_data_free(&train);
    gn_data_free(&test);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_idx_raw),
        T(test_idx_gz_equals_raw),
        T(test_idx_gz_two_members),
        T(test_idx_large_threaded),
        T(test_idx_min_classes),
        T(test_missing_path),
        T(test_bad_arguments),
        T(test_idx_missing_file),
        T(test_idx_wrong_magic),
        T(test_idx_wrong_dims),
        T(test_idx_truncated),
        T(test_idx_lying_header),
        T(test_idx_trailing),
        T(test_idx_count_mismatch),
        T(test_idx_both_broken),
        T(test_idx_test_size_mismatch),
        T(test_idx_empty),
        T(test_idx_corrupt_gzip),
        T(test_csv_plain),
        T(test_csv_numbers),
        T(test_csv_sibling),
        T(test_csv_errors),
        T(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
