/*
 * IDX reader (the MNIST / Fashion-MNIST format), raw or gzip.
 *
 * An IDX file is a big-endian header, then the data:
 *     magic   u32  0x0000TTDD: TT element type (0x08 = unsigned byte),
 *                  DD the number of dimensions
 *     dims    u32 x DD
 *     data    u8 x (product of dims)
 * Images are 0x00000803 (count, rows, cols), labels 0x00000801 (count).
 *
 * A dataset directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or with .gz
 * appended; where both exist the raw file is used (it reads faster).
 * Every file goes through zlib's gzread, which also reads raw files; where
 * the build has libdeflate, a .gz file of one gzip member is first
 * decompressed whole in memory by it (2.4x zlib's speed on the Fashion-MNIST
 * training images: 0.078 against 0.191 s on the development machine), and
 * read from there. Any file libdeflate does not take whole and exactly
 * (damaged, cut short, several members, trailing bytes, a size the
 * trailer does not give) goes through zlib as before, so every error
 * message is zlib's path's.
 *
 * Both headers of a set are read and checked (magic, dimension count,
 * sizes against the limits in data.h, image count = label count) before any
 * body. A body is read into a buffer that grows as bytes arrive, so a header
 * that promises N bytes when the file holds M < N fails ("truncated data")
 * having cost only about M bytes of memory; a file longer than its header
 * says is rejected too ("trailing data"). Pixels become floats p / 255 (0 -> 0.0f, 255 -> 1.0f)
 * through a 256-entry table, on a thread per processor (up to 8): the first
 * touch of the float array's fresh pages is most of that step's time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "error.h"
#include "gn_config.h"
#include "parts.h"
#if GN_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#define GN_IDX_MAGIC_IMAGES 0x00000803u
#define GN_IDX_MAGIC_LABELS 0x00000801u
#define GN_IDX_CHUNK (1u << 20)
#define GN_IDX_GZBUF (1u << 18)
#ifndef GN_IDX_CONVERT_THREADS
#define GN_IDX_CONVERT_THREADS 8
#endif

/* An open IDX file: its path (for messages) and the stream, or its whole
 * contents decompressed in memory (mem, len, at: the read position). */
struct gn_idx_file {
    char path[PATH_MAX];
    gzFile f;
    uint8_t *mem;
    size_t len, at;
};

/* Find dir/base, else dir/base.gz, into path. */
static enum gn_status gn_idx_find(const char *dir, const char *base, char *path, size_t n)
{
    struct stat st;
    int len = snprintf(path, n, "%s/%s", dir, base);
    if (len < 0 || (size_t)len + 3 >= n)
        return gn_fail(GN_ERR_INVALID, "%s: path too long", dir);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return GN_OK;
    strcat(path, ".gz");
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return GN_OK;
    return gn_fail(GN_ERR_IO, "%s: missing IDX file %s (looked for %s and %s.gz)", dir, base, base,
                   base);
}

#if GN_HAVE_LIBDEFLATE
/* A whole .gz file of one member into x->mem by libdeflate; false (and
 * nothing kept) for anything else: the zlib stream then reads the file. */
static int gn_idx_inflate_whole(struct gn_idx_file *x, int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 18 ||
        (uint64_t)st.st_size > ((uint64_t)1 << 32))
        return 0;
    const size_t n = (size_t)st.st_size;
    uint8_t *in = malloc(n), *out = NULL;
    size_t got = 0;
    while (in && got < n) {
        ssize_t r = pread(fd, in + got, n - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int ok = 0;
    if (in && got == n && in[0] == 0x1f && in[1] == 0x8b) {
        /* the trailer's size (mod 2^32; a file that decompresses to more
         * fails the exact-size check below and goes through zlib) */
        const size_t isize = (size_t)in[n - 4] | (size_t)in[n - 3] << 8 |
                             (size_t)in[n - 2] << 16 | (size_t)in[n - 1] << 24;
        /* DEFLATE expands at most 1032:1: a larger claim is a damaged
         * trailer, whose size is not worth allocating (zlib reports it) */
        const int plausible = isize / 1032 <= n;
        struct libdeflate_decompressor *d = plausible ? libdeflate_alloc_decompressor() : NULL;
        out = plausible ? malloc(isize ? isize : 1) : NULL;
        size_t used = 0, made = 0;
        if (d && out &&
            libdeflate_gzip_decompress_ex(d, in, n, out, isize, &used, &made) ==
                LIBDEFLATE_SUCCESS &&
            used == n && made == isize) {
            x->mem = out;
            x->len = isize;
            x->at = 0;
            out = NULL;
            ok = 1;
        }
        if (d)
            libdeflate_free_decompressor(d);
    }
    free(out);
    free(in);
    return ok;
}
#endif

static enum gn_status gn_idx_open(struct gn_idx_file *x)
{
    int fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gn_fail(GN_ERR_IO, "%s: cannot open: %s", x->path, strerror(errno));
#if GN_HAVE_LIBDEFLATE
    if (gn_idx_inflate_whole(x, fd)) {
        close(fd);
        return GN_OK;
    }
#endif
    x->f = gzdopen(fd, "rb");
    if (!x->f) {
        close(fd);
        return gn_fail(GN_ERR_NOMEM, "%s: cannot start a zlib stream", x->path);
    }
    gzbuffer(x->f, GN_IDX_GZBUF);
    return GN_OK;
}

static void gn_idx_close(struct gn_idx_file *x)
{
    if (x->f)
        gzclose(x->f);
    x->f = NULL;
    free(x->mem);
    x->mem = NULL;
}

/* Bytes read so far (for messages). */
static long long gn_idx_tell(struct gn_idx_file *x)
{
    return x->mem ? (long long)x->at : (long long)gztell(x->f);
}

/*
 * Read up to n bytes; *got says how many came. A short count means the end
 * of the data. A damaged gzip stream (bad data, a bad checksum, or a stream
 * that stops mid-way) and an operating-system read error are errors. zlib
 * inflates a whole buffer ahead, so damage is reported when it is met, not
 * at the byte the caller had reached: the messages give no offset.
 */
static enum gn_status gn_idx_read(struct gn_idx_file *x, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (x->mem) {
        *got = n < x->len - x->at ? n : x->len - x->at;
        memcpy(buf, x->mem + x->at, *got);
        x->at += *got;
        return GN_OK;
    }
    while (*got < n) {
        size_t want = n - *got;
        if (want > (1u << 30))
            want = 1u << 30;
        int r = gzread(x->f, (unsigned char *)buf + *got, (unsigned)want);
        int err = errno, zerr = Z_OK;
        const char *zmsg = gzerror(x->f, &zerr);
        if (zmsg && strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ": "))
            zmsg = strstr(zmsg, ": ") + 2;
        if (r > 0)
            *got += (size_t)r;
        if (zerr == Z_ERRNO)
            return gn_fail(GN_ERR_IO, "%s: read error: %s", x->path, strerror(err));
        if (zerr == Z_MEM_ERROR)
            return gn_fail(GN_ERR_NOMEM, "%s: zlib is out of memory", x->path);
        if (zerr == Z_BUF_ERROR)
            return gn_fail(GN_ERR_FORMAT,
                           "%s: corrupt gzip stream: it ends early (is the .gz file cut short?)",
                           x->path);
        if (zerr != Z_OK || r < 0)
            return gn_fail(GN_ERR_FORMAT, "%s: corrupt gzip stream (zlib: %s)", x->path,
                           zmsg && *zmsg ? zmsg : "unknown error");
        if (r == 0)
            break;
    }
    return GN_OK;
}

static uint32_t gn_idx_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read and check the header of an IDX file with the given magic into dims[]. */
static enum gn_status gn_idx_header(struct gn_idx_file *x, uint32_t magic, uint32_t *dims)
{
    unsigned ndims = magic & 0xffu;
    unsigned char h[16];
    size_t want = 4 + 4 * (size_t)ndims, got;
    enum gn_status s = gn_idx_read(x, h, want, &got);
    if (s != GN_OK)
        return s;
    if (got == 0)
        return gn_fail(GN_ERR_FORMAT, "%s: file is empty", x->path);
    if (got < 4)
        return gn_fail(GN_ERR_FORMAT, "%s: truncated header: expected %zu bytes, found %zu",
                       x->path, want, got);
    uint32_t m = gn_idx_be32(h);
    if ((m & 0xffffff00u) != (magic & 0xffffff00u)) {
        if ((m >> 16) == 0)
            return gn_fail(GN_ERR_FORMAT,
                           "%s: wrong magic 0x%08x: element type 0x%02x is not unsigned byte "
                           "(expected 0x%08x)",
                           x->path, m, (m >> 8) & 0xffu, magic);
        return gn_fail(GN_ERR_FORMAT, "%s: wrong magic: expected 0x%08x, found 0x%08x", x->path,
                       magic, m);
    }
    if ((m & 0xffu) != ndims)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: wrong dimension count %u (magic 0x%08x), expected %u (magic 0x%08x)",
                       x->path, m & 0xffu, m, ndims, magic);
    if (got < want)
        return gn_fail(GN_ERR_FORMAT, "%s: truncated header: expected %zu bytes, found %zu",
                       x->path, want, got);
    for (unsigned i = 0; i < ndims; i++)
        dims[i] = gn_idx_be32(h + 4 + 4 * i);
    return GN_OK;
}

/* The two ways a body can disagree with its header, worded once for both
 * readers. */
static enum gn_status gn_idx_truncated(const struct gn_idx_file *x, const char *what, int64_t n,
                                       long long header, size_t have)
{
    return gn_fail(GN_ERR_FORMAT,
                   "%s: truncated data: the header promises %s, %lld bytes after the "
                   "%lld-byte header, but only %zu are present",
                   x->path, what, (long long)n, header, have);
}

static enum gn_status gn_idx_trailing(const struct gn_idx_file *x, const char *what, int64_t n,
                                      long long header)
{
    return gn_fail(GN_ERR_FORMAT,
                   "%s: trailing data: the header promises %s (%lld bytes after the "
                   "%lld-byte header) but the file goes on",
                   x->path, what, (long long)n, header);
}

/*
 * Read exactly n body bytes, then make sure nothing follows. what names the
 * data for messages. *data gets them: a fresh buffer, also in *owned (the
 * caller frees it), or, for a file decompressed in memory, its bytes there
 * (*owned NULL; valid until the file is closed).
 */
static enum gn_status gn_idx_body(struct gn_idx_file *x, int64_t n, const char *what,
                                  const uint8_t **data, uint8_t **owned)
{
    long long header = gn_idx_tell(x);
    *data = NULL;
    *owned = NULL;
    if (x->mem) {
        const size_t have = x->len - x->at;
        if (have < (size_t)n)
            return gn_idx_truncated(x, what, n, header, have);
        if (have > (size_t)n)
            return gn_idx_trailing(x, what, n, header);
        *data = x->mem + x->at;
        x->at = x->len;
        return GN_OK;
    }
    uint8_t **out = owned;
    size_t cap = n < GN_IDX_CHUNK ? (size_t)n : GN_IDX_CHUNK, have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    enum gn_status s = GN_OK;
    *out = NULL;
    if (!buf)
        return gn_fail(GN_ERR_NOMEM, "%s: cannot allocate %zu bytes", x->path, cap);
    while (have < (size_t)n) {
        if (have == cap) {
            size_t ncap = cap * 2 < (size_t)n ? cap * 2 : (size_t)n;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                s = gn_fail(GN_ERR_NOMEM, "%s: cannot allocate %zu bytes", x->path, ncap);
                goto error;
            }
            buf = nb;
            cap = ncap;
        }
        size_t req = cap - have, got;
        s = gn_idx_read(x, buf + have, req, &got);
        if (s != GN_OK)
            goto error;
        have += got;
        if (got < req)
            break;
    }
    if (have < (size_t)n) {
        s = gn_idx_truncated(x, what, n, header, have);
        goto error;
    }
    unsigned char extra;
    size_t got;
    s = gn_idx_read(x, &extra, 1, &got);
    if (s != GN_OK)
        goto error;
    if (got) {
        s = gn_idx_trailing(x, what, n, header);
        goto error;
    }
    *out = buf;
    *data = buf;
    return GN_OK;
error:
    free(buf);
    return s;
}

/* Pixels [i0, i1) of a set as floats p / 255 through a 256-entry table. */
struct gn_idx_convert {
    const uint8_t *pix;
    float *x;
    size_t i0, i1;
};

static void *gn_idx_convert_run(void *arg)
{
    const struct gn_idx_convert *c = arg;
    float lut[256];
    for (int i = 0; i < 256; i++)
        lut[i] = (float)i / 255.0f;
    gn_parts_prefault(c->x + c->i0, (c->i1 - c->i0) * sizeof(float));
    for (size_t i = c->i0; i < c->i1; i++)
        c->x[i] = lut[c->pix[i]];
    return NULL;
}

/*
 * All n pixels into x, in parts of whole pages of x (1,024 floats) on up to
 * GN_IDX_CONVERT_THREADS threads (one per processor online; one below a
 * million pixels). The table's work is small: what the threads share out
 * is the first touch of x's pages (a fresh 188 MB for Fashion-MNIST's
 * training images), whose faults the kernel serves on every core at once.
 */
static void gn_idx_to_float(const uint8_t *pix, float *x, size_t n)
{
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int32_t threads = n < ((size_t)1 << 20) || cpus < 1 ? 1
                            : cpus > GN_IDX_CONVERT_THREADS  ? GN_IDX_CONVERT_THREADS
                                                             : (int32_t)cpus;
    int64_t start[GN_IDX_CONVERT_THREADS + 1];
    struct gn_idx_convert part[GN_IDX_CONVERT_THREADS];
    const int32_t k = gn_parts_split((int64_t)n, threads, 1024, start);
    for (int32_t i = 0; i < k; i++)
        part[i] = (struct gn_idx_convert){pix, x, (size_t)start[i], (size_t)start[i + 1]};
    gn_parts_run(gn_idx_convert_run, part, sizeof part[0], k);
}

/* Load one set (train or test) from its images and labels files into d. */
static enum gn_status gn_idx_load_set(const char *images, const char *labels, struct gn_data *d,
                                      uint32_t *rows, uint32_t *cols)
{
    struct gn_idx_file fi = {.f = NULL}, fl = {.f = NULL};
    uint32_t di[3] = {0}, dl[1] = {0};
    const uint8_t *pix = NULL, *lab = NULL;
    uint8_t *pix_own = NULL, *lab_own = NULL;
    char what[96];
    enum gn_status s;

    memset(d, 0, sizeof *d);
    snprintf(fi.path, sizeof fi.path, "%s", images);
    snprintf(fl.path, sizeof fl.path, "%s", labels);
    if ((s = gn_idx_open(&fi)) != GN_OK || (s = gn_idx_open(&fl)) != GN_OK)
        goto done;
    if ((s = gn_idx_header(&fi, GN_IDX_MAGIC_IMAGES, di)) != GN_OK ||
        (s = gn_idx_header(&fl, GN_IDX_MAGIC_LABELS, dl)) != GN_OK)
        goto done;
    if (di[1] == 0 || di[2] == 0 || di[1] > GN_DATA_MAX_FEATURES || di[2] > GN_DATA_MAX_FEATURES) {
        s = gn_fail(GN_ERR_FORMAT, "%s: image size %ux%u is outside 1..%lld per side", images,
                    di[1], di[2], (long long)GN_DATA_MAX_FEATURES);
        goto done;
    }
    if (di[0] != dl[0]) {
        s = gn_fail(GN_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images, di[0],
                    labels, dl[0]);
        goto done;
    }
    int64_t features = (int64_t)di[1] * di[2];
    if ((s = gn_data_limits(di[0], features, images)) != GN_OK)
        goto done;
    snprintf(what, sizeof what, "%u images of %ux%u", di[0], di[1], di[2]);
    if ((s = gn_idx_body(&fi, (int64_t)di[0] * features, what, &pix, &pix_own)) != GN_OK)
        goto done;
    snprintf(what, sizeof what, "%u labels", dl[0]);
    if ((s = gn_idx_body(&fl, dl[0], what, &lab, &lab_own)) != GN_OK)
        goto done;
    if ((s = gn_data_alloc(d, di[0], features, images)) != GN_OK)
        goto done;
    if (lab_own) {
        free(d->y);
        d->y = lab_own;
        lab_own = NULL;
    } else {
        memcpy(d->y, lab, dl[0]);
    }

    gn_idx_to_float(pix, d->x, (size_t)d->count * (size_t)d->features);
    *rows = di[1];
    *cols = di[2];
done:
    free(pix_own);
    free(lab_own);
    gn_idx_close(&fi);
    gn_idx_close(&fl);
    if (s != GN_OK)
        gn_data_free(d);
    return s;
}

/* One set loaded on a thread of its own; its error message (per thread)
 * carried back in msg. */
struct gn_idx_job {
    const char *images, *labels;
    struct gn_data *d;
    uint32_t rows, cols;
    enum gn_status st;
    char msg[512];
};

static void *gn_idx_job_run(void *arg)
{
    struct gn_idx_job *j = arg;
    j->st = gn_idx_load_set(j->images, j->labels, j->d, &j->rows, &j->cols);
    if (j->st != GN_OK)
        snprintf(j->msg, sizeof j->msg, "%s", gn_error_message());
    return NULL;
}

enum gn_status gn_idx_load(const char *dir, struct gn_data *train, struct gn_data *test)
{
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    char paths[4][PATH_MAX];
    uint32_t r, c;
    enum gn_status s;

    for (int i = 0; i < 4; i++)
        if ((s = gn_idx_find(dir, names[i], paths[i], sizeof paths[i])) != GN_OK)
            return s;
    /* The test set decompresses on a second thread while this one does the
     * training set (gzip streams decode one byte after another; the two
     * files are independent). Errors are reported as if loaded in turn:
     * the training set's first. */
    struct gn_idx_job job = {paths[2], paths[3], test, 0, 0, GN_OK, ""};
    pthread_t th;
    const int threaded = pthread_create(&th, NULL, gn_idx_job_run, &job) == 0;
    s = gn_idx_load_set(paths[0], paths[1], train, &r, &c);
    if (threaded)
        pthread_join(th, NULL);
    else if (s == GN_OK)
        gn_idx_job_run(&job);
    if (s == GN_OK && train->count == 0) {
        gn_data_free(train);
        s = gn_fail(GN_ERR_FORMAT, "%s: holds no images", paths[0]);
    }
    if (s == GN_OK && job.st != GN_OK) {
        gn_data_free(train);
        return gn_fail(job.st, "%s", job.msg);
    }
    if (s != GN_OK) {
        if (job.st == GN_OK) gn_data_free(test);
        return s;
    }
    if (job.rows != r || job.cols != c) {
        s = gn_fail(GN_ERR_FORMAT, "%s: test images are %ux%u but training images are %ux%u",
                    paths[2], job.rows, job.cols, r, c);
        gn_data_free(train);
        gn_data_free(test);
        return s;
    }
    return GN_OK;
}
