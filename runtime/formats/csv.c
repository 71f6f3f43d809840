/*
 * CSV reader: one example per line, the label first, then the features,
 * separated by commas (spaces and tabs around a field are ignored; CRLF line
 * ends and blank lines are accepted; quoting is not).
 *
 * The whole file is read into one buffer and parsed in a single pass. The
 * first non-blank line is a header, and skipped, when its first field is not
 * a number. The first data line fixes the field count; every other line
 * must match it. Labels are integers 0..255 (written "3", "3.0" or "3e0");
 * features are finite floats, parsed with strtof (plain digit strings and
 * short decimals go through exact fast paths with strtof's bits, since
 * pixel files are all digits and most others a few decimals).
 * Rows are stored straight into the dataset, allocated once from the field
 * count and the file's real size: a row of F features takes at least 2F+1
 * bytes, so the allocation never exceeds about twice the file.
 *
 * Scale: if any feature of the training or test file is above 1, both files
 * are taken as 0..255 pixel values and every feature is divided by 255;
 * otherwise features are kept exactly as written. Train and test are decided
 * together so that they always share one scale. Values are not clamped.
 *
 * Test set: if the file name (not the directory) contains "train", every
 * "train" in it is replaced by "test"; when that file exists it is read as
 * the test set, else the test set is empty (count 0).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "error.h"

enum gn_csv_field {
    GN_CSV_NUMBER,
    GN_CSV_EMPTY,
    GN_CSV_TEXT,
};

static int gn_csv_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Read the whole of path into a NUL-terminated buffer. */
static enum gn_status gn_csv_slurp(const char *path, char **out, size_t *len)
{
    enum gn_status s = GN_OK;
    struct stat st;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    if (!f)
        return gn_fail(GN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        s = gn_fail(GN_ERR_IO, "%s: not a readable regular file", path);
        goto done;
    }
    if (st.st_size == 0) {
        s = gn_fail(GN_ERR_FORMAT, "%s: file is empty", path);
        goto done;
    }
    if ((uint64_t)st.st_size >= SIZE_MAX / 2) {
        s = gn_fail(GN_ERR_NOMEM, "%s: file of %lld bytes is too large", path,
                    (long long)st.st_size);
        goto done;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        s = gn_fail(GN_ERR_NOMEM, "%s: cannot allocate %lld bytes", path, (long long)st.st_size);
        goto done;
    }
    *len = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        s = gn_fail(GN_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    buf[*len] = '\0';
    *out = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return s;
}

/*
 * A short decimal at p, [+-]digits[.digits] or [+-].digits, ending where a
 * field may end (le, ',' or a blank), with at most 7 significant digits
 * and at most 10 after the point: its value into *v, the end into *after,
 * 1. Exact, so the same bits as strtof: the digits as an integer m < 2^24
 * and 10^k (k <= 10) are both floats exactly, and one correctly rounded
 * division m / 10^k is the correctly rounded value (Clinger's fast path).
 * 0 for anything else (exponents, more digits, hex, inf, nan), which then
 * goes to strtof.
 */
static int gn_csv_decimal(const char *p, const char *le, float *v, const char **after)
{
    static const float pow10[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                    1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    const char *e = p;
    int neg = 0;
    if (e < le && (*e == '-' || *e == '+')) neg = *e++ == '-';
    uint32_t m = 0;
    int seen = 0, sig = 0, frac = -1; /* frac: digits after the point, -1 before one */
    for (; e < le; e++) {
        const char c = *e;
        if (c >= '0' && c <= '9') {
            seen++;
            if (m > 0 || c != '0') sig++; /* leading zeros are not significant */
            if (sig > 7) return 0;
            m = m * 10 + (uint32_t)(c - '0');
            if (frac >= 0 && ++frac > 10) return 0;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            break;
        }
    }
    if (!seen || (e < le && *e != ',' && !gn_csv_blank(*e))) return 0;
    const float x = (float)m / pow10[frac > 0 ? frac : 0];
    *v = neg ? -x : x;
    *after = e;
    return 1;
}

/*
 * Parse the field at p (within a line ending at le): blanks, a number,
 * blanks, then ',' or the line end, where *after is left. A field of plain
 * digits, or a short decimal (gn_csv_decimal), is converted exactly without
 * strtof.
 */
static enum gn_csv_field gn_csv_number(const char *p, const char *le, float *v, const char **after)
{
    while (p < le && gn_csv_blank(*p))
        p++;
    if (p == le || *p == ',')
        return GN_CSV_EMPTY;
    const char *e = p;
    uint32_t n = 0;
    while (e < le && e - p < 9 && *e >= '0' && *e <= '9')
        n = n * 10 + (uint32_t)(*e++ - '0');
    if (e > p && (e == le || *e == ',' || gn_csv_blank(*e))) {
        *v = (float)n;
    } else if (gn_csv_decimal(p, le, v, &e)) {
        /* exact */
    } else {
        char *end;
        *v = strtof(p, &end);
        if (end == p || end > le)
            return GN_CSV_TEXT;
        e = end;
    }
    while (e < le && gn_csv_blank(*e))
        e++;
    if (e < le && *e != ',')
        return GN_CSV_TEXT;
    *after = e;
    return GN_CSV_NUMBER;
}

/* Copy the field at p (up to ',' or le) into out for a message: trimmed, printable, short. */
static const char *gn_csv_text(char *out, size_t n, const char *p, const char *le)
{
    size_t k = 0;
    while (p < le && gn_csv_blank(*p))
        p++;
    while (p < le && *p != ',' && k + 4 < n) {
        unsigned char c = (unsigned char)*p++;
        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (p < le && *p != ',') {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int64_t gn_csv_count(const char *p, const char *end, char c)
{
    int64_t n = 0;
    while ((p = memchr(p, c, (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Allocate d for the rows that can follow the first data line at p. */
static enum gn_status gn_csv_alloc(const char *path, struct gn_data *d, const char *p,
                                   const char *end, int64_t features)
{
    int64_t lines = gn_csv_count(p, end, '\n') + 1;
    int64_t fit = (int64_t)(end - p) / (2 * features + 1) + 1;
    return gn_data_alloc(d, lines < fit ? lines : fit, features, path);
}

/* Parse one data line [p, le) as row d->count; line is its number for messages. */
static enum gn_status gn_csv_row(const char *path, struct gn_data *d, const char *p,
                                 const char *le, int64_t line, float *maxv)
{
    int64_t nf = d->features;
    float *x = d->x + (size_t)d->count * (size_t)nf;
    char text[48];
    for (int64_t k = 0; k <= nf; k++) {
        float v;
        const char *after;
        enum gn_csv_field r = gn_csv_number(p, le, &v, &after);
        if (r == GN_CSV_EMPTY)
            return gn_fail(GN_ERR_FORMAT, "%s: line %lld field %lld is empty", path,
                           (long long)line, (long long)k + 1);
        if (r == GN_CSV_TEXT)
            return gn_fail(GN_ERR_FORMAT, "%s: line %lld field %lld: '%s' is not a number", path,
                           (long long)line, (long long)k + 1,
                           gn_csv_text(text, sizeof text, p, le));
        if (!isfinite(v))
            return gn_fail(GN_ERR_FORMAT, "%s: line %lld field %lld: '%s' is not a finite number",
                           path, (long long)line, (long long)k + 1,
                           gn_csv_text(text, sizeof text, p, le));
        if (k == 0) {
            if (v < 0.0f || v > 255.0f)
                return gn_fail(GN_ERR_FORMAT, "%s: line %lld: label %s is out of range 0..255",
                               path, (long long)line, gn_csv_text(text, sizeof text, p, le));
            if (v != floorf(v))
                return gn_fail(GN_ERR_FORMAT, "%s: line %lld: label '%s' is not an integer", path,
                               (long long)line, gn_csv_text(text, sizeof text, p, le));
            d->y[d->count] = (uint8_t)v;
        } else {
            x[k - 1] = v;
            if (v > *maxv)
                *maxv = v;
        }
        if (after == le && k < nf)
            return gn_fail(GN_ERR_FORMAT, "%s: line %lld has %lld fields, expected %lld", path,
                           (long long)line, (long long)k + 1, (long long)nf + 1);
        if (after < le && k == nf)
            return gn_fail(GN_ERR_FORMAT, "%s: line %lld has %lld fields, expected %lld", path,
                           (long long)line, (long long)nf + 1 + gn_csv_count(after, le, ','),
                           (long long)nf + 1);
        p = after + 1;
    }
    d->count++;
    return GN_OK;
}

/* Parse buf (len bytes, NUL-terminated) from file path into d. */
static enum gn_status gn_csv_parse(const char *path, const char *buf, size_t len, struct gn_data *d,
                                   float *maxv)
{
    const char *p = buf, *end = buf + len;
    int64_t line = 0;
    int first = 1, header = 0;
    enum gn_status s;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        const char *q = p;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        while (q < le && gn_csv_blank(*q))
            q++;
        if (q == le) {
            p = next;
            continue;
        }
        if (first) {
            float v;
            const char *after;
            first = 0;
            if (gn_csv_number(p, le, &v, &after) != GN_CSV_NUMBER) {
                header = 1;
                p = next;
                continue;
            }
        }
        if (!d->x) {
            int64_t fields = gn_csv_count(p, le, ',') + 1;
            if (fields < 2)
                return gn_fail(GN_ERR_FORMAT,
                               "%s: line %lld has 1 field, expected a label and at least one "
                               "feature",
                               path, (long long)line);
            if ((s = gn_csv_alloc(path, d, p, end, fields - 1)) != GN_OK)
                return s;
            d->count = 0;
        }
        if ((s = gn_csv_row(path, d, p, le, line, maxv)) != GN_OK)
            return s;
        p = next;
    }
    if (d->count == 0 && header)
        return gn_fail(GN_ERR_FORMAT, "%s: has a header line but no data rows", path);
    if (d->count == 0)
        return gn_fail(GN_ERR_FORMAT, "%s: file is empty (only blank lines)", path);
    float *x = realloc(d->x, (size_t)d->count * (size_t)d->features * sizeof *x);
    if (x)
        d->x = x;
    return GN_OK;
}

static enum gn_status gn_csv_read(const char *path, struct gn_data *d, float *maxv)
{
    char *buf = NULL;
    size_t len = 0;
    enum gn_status s = gn_csv_slurp(path, &buf, &len);
    if (s != GN_OK)
        return s;
    s = gn_csv_parse(path, buf, len, d, maxv);
    free(buf);
    if (s != GN_OK)
        gn_data_free(d);
    return s;
}

/*
 * Write path's test sibling into out: 1 if the file name holds "train",
 * 0 if not, -1 if the result does not fit.
 */
static int gn_csv_sibling(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strstr(base, "train"))
        return 0;
    size_t k = (size_t)(base - path);
    if (k >= n)
        return -1;
    memcpy(out, path, k);
    for (const char *p = base; *p;) {
        const char *src = strncmp(p, "train", 5) == 0 ? "test" : p;
        size_t m = src == p ? 1 : 4;
        if (k + m >= n)
            return -1;
        memcpy(out + k, src, m);
        k += m;
        p += src == p ? 1 : 5;
    }
    out[k] = '\0';
    return 1;
}

enum gn_status gn_csv_load(const char *path, struct gn_data *train, struct gn_data *test)
{
    char sib[PATH_MAX];
    struct stat st;
    float maxv = -INFINITY;
    enum gn_status s;

    memset(test, 0, sizeof *test);
    if ((s = gn_csv_read(path, train, &maxv)) != GN_OK)
        return s;
    int has = gn_csv_sibling(path, sib, sizeof sib);
    if (has < 0)
        return gn_fail(GN_ERR_INVALID, "%s: path too long", path);
    if (has && stat(sib, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((s = gn_csv_read(sib, test, &maxv)) != GN_OK)
            return s;
        if (test->features != train->features)
            return gn_fail(GN_ERR_FORMAT, "%s: rows have %d features but %s rows have %d", sib,
                           test->features, path, train->features);
    }
    if (maxv > 1.0f) {
        struct gn_data *sets[2] = {train, test};
        for (int i = 0; i < 2; i++) {
            size_t n = (size_t)sets[i]->count * (size_t)sets[i]->features;
            for (size_t j = 0; j < n; j++)
                sets[i]->x[j] /= 255.0f;
        }
    }
    return GN_OK;
}
