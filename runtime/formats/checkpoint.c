/*
 * Checkpoints: write, read, check and restore a run's state (format and
 * rules in checkpoint.h; field table in docs/RELIABILITY.md).
 *
 * Writing: the whole file is assembled in memory (explicit little-endian
 * fields, so the layout is the same on every host and independent of
 * struct padding), its CRC-32 appended, then written to "<path>.tmp",
 * fsync'd, renamed over path and the directory fsync'd.
 *
 * Reading: the file is read whole and decoded by a cursor that never reads
 * past the buffer; the checks run from the outside in (magic, version,
 * size, checksum, records), so each failure gets the most useful name:
 * a foreign file is "not a checkpoint", a short one "truncated", a flipped
 * bit "corrupted", and a checkpoint of another run names the setting.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "error.h"
#include "gn_config.h"
#include "normalize.h"
#if GN_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

static const unsigned char gn_ckpt_magic[8] = {'G', 'N', 'C', 'K', 'P', 'T', '\r', '\n'};

#define GN_CKPT_GROUP 36    /* bytes per group record */
#define GN_CKPT_GROUP_V3 32 /* in versions 1 to 3 (no pruning patience) */
#define GN_CKPT_EDGE 16  /* bytes per edge record */
#define GN_CKPT_TAIL 4   /* the CRC-32 */

/* Files larger than this are refused before reading (1 TiB). */
#define GN_CKPT_MAX_FILE (INT64_C(1) << 40)

/* ---- little-endian fields ---- */

struct gn_ckpt_out {
    unsigned char *p;
    size_t at;
};

static void put_u32(struct gn_ckpt_out *o, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        o->p[o->at++] = (unsigned char)(v >> (8 * k));
}

static void put_u64(struct gn_ckpt_out *o, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        o->p[o->at++] = (unsigned char)(v >> (8 * k));
}

static void put_i32(struct gn_ckpt_out *o, int32_t v)
{
    put_u32(o, (uint32_t)v);
}

static void put_i64(struct gn_ckpt_out *o, int64_t v)
{
    put_u64(o, (uint64_t)v);
}

static void put_f32(struct gn_ckpt_out *o, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(o, u);
}

static void put_f64(struct gn_ckpt_out *o, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(o, u);
}

struct gn_ckpt_in {
    const unsigned char *p;
    size_t at;
};

static uint32_t get_u32(struct gn_ckpt_in *in)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v |= (uint32_t)in->p[in->at++] << (8 * k);
    return v;
}

static uint64_t get_u64(struct gn_ckpt_in *in)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)in->p[in->at++] << (8 * k);
    return v;
}

static int32_t get_i32(struct gn_ckpt_in *in)
{
    return (int32_t)get_u32(in);
}

static int64_t get_i64(struct gn_ckpt_in *in)
{
    return (int64_t)get_u64(in);
}

static float get_f32(struct gn_ckpt_in *in)
{
    uint32_t u = get_u32(in);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static double get_f64(struct gn_ckpt_in *in)
{
    uint64_t u = get_u64(in);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* The header's size in a version's files. */
static uint32_t gn_ckpt_header_size(uint32_t version)
{
    return version >= 3 ? GN_CHECKPOINT_HEADER : GN_CHECKPOINT_HEADER_V2;
}

/* The file size a header's counts imply (fits in int64 for valid counts);
 * version 2 adds the normalization's shift and scale per input, version 3
 * the optimizer's settings in a longer header and the second moment. */
static uint64_t gn_ckpt_size(uint32_t version, int64_t inputs, int64_t n_groups, int64_t n_edges,
                             int64_t n_params)
{
    const uint64_t group = version >= 4 ? GN_CKPT_GROUP : GN_CKPT_GROUP_V3;
    return gn_ckpt_header_size(version) + (uint64_t)n_groups * (group + 4) +
           (uint64_t)n_edges * GN_CKPT_EDGE + (uint64_t)n_params * (version >= 3 ? 12 : 8) +
           (version >= 2 ? (uint64_t)inputs * 8 : 0) + GN_CKPT_TAIL;
}

/* zlib's CRC-32 over any length (crc32() takes an unsigned int), continuing
 * from crc. Where the build has libdeflate, its libdeflate_crc32 computes
 * the same CRC (the same polynomial, start and final inversion) 4x faster
 * (PCLMULQDQ: 0.022 against 0.099 s for Fashion-MNIST's 188 MB of floats
 * on the development machine), which the data set's CRC of every
 * --checkpoint and --resume run and every checkpoint written take. */
static uLong gn_ckpt_crc(uLong crc, const void *p, size_t n)
{
#if GN_HAVE_LIBDEFLATE
    return (uLong)libdeflate_crc32((uint32_t)crc, p, n);
#else
    const unsigned char *b = p;
    for (size_t at = 0; at < n;) {
        size_t k = n - at < (1u << 30) ? n - at : (1u << 30);
        crc = crc32(crc, b + at, (uInt)k);
        at += k;
    }
    return crc;
#endif
}

uint32_t gn_checkpoint_data_crc(const struct gn_data *d, int64_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = gn_ckpt_crc(crc, d->x, (size_t)n * (size_t)d->features * sizeof(float));
    crc = gn_ckpt_crc(crc, d->y, (size_t)n);
    return (uint32_t)crc;
}

/* ---- writing ---- */

static void gn_ckpt_header(struct gn_ckpt_out *o, const struct gn_plan *plan, uint32_t data_crc,
                           const struct gn_norm *norm, const struct gn_model *m,
                           const struct gn_run_pos *pos, const struct gn_progress *last,
                           uint64_t size)
{
    memcpy(o->p, gn_ckpt_magic, 8);
    o->at = 8;
    put_u32(o, GN_CHECKPOINT_VERSION);
    put_u32(o, GN_CHECKPOINT_HEADER);
    put_u64(o, size);
    put_i32(o, m->inputs);
    put_i32(o, m->classes);
    put_i32(o, m->group_size);
    put_i32(o, plan->batch);
    put_i64(o, plan->n_train);
    put_i64(o, plan->test_count);
    put_u32(o, data_crc);
    put_i32(o, plan->grow);
    put_u64(o, plan->seed);
    put_f32(o, plan->optim.lr);
    put_f32(o, plan->optim.momentum);
    put_f32(o, plan->optim.weight_decay);
    put_f32(o, plan->grow_threshold);
    put_f32(o, plan->grow_noise);
    put_i32(o, plan->grow_every);
    put_i32(o, m->max_groups);
    put_i32(o, m->max_edges);
    put_i64(o, m->max_params);
    put_i64(o, pos->step);
    put_i64(o, pos->epoch);
    put_i64(o, pos->grow_round);
    put_f64(o, pos->ep_loss);
    put_i64(o, pos->ep_hits);
    put_i64(o, pos->ep_seen);
    put_i64(o, pos->skipped);
    put_f64(o, last->loss);
    put_f64(o, last->accuracy);
    put_f64(o, last->test_accuracy);
    put_i32(o, last->epoch);
    put_i32(o, last->epoch_end);
    put_i32(o, m->n_groups);
    put_i32(o, m->n_edges);
    put_i64(o, m->n_params);
    put_i64(o, m->duplications);
    put_i64(o, m->refused);
    put_i32(o, norm->mode);
    put_i32(o, plan->optim.kind);
    put_i32(o, plan->optim.schedule);
    put_f32(o, plan->optim.beta1);
    put_f32(o, plan->optim.beta2);
    put_f32(o, plan->optim.eps);
    put_i64(o, plan->optim.warmup);
    put_i64(o, plan->optim.step_every);
    put_i64(o, plan->optim.steps_total);
    put_f32(o, plan->optim.lr_min);
    put_f32(o, plan->optim.gamma);
    put_i32(o, plan->grow_criterion);
    put_f32(o, plan->grow_ratio);
    put_i64(o, m->pruned);
    put_f32(o, plan->prune_threshold);
    put_i32(o, plan->prune_after);
    put_i32(o, pos->guard);
    put_i32(o, plan->precision);
    while (o->at < GN_CHECKPOINT_HEADER)
        o->p[o->at++] = 0; /* reserved */
}

static enum gn_status gn_ckpt_sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return gn_fail(GN_ERR_IO, "%s: cannot open its directory: %s", path, strerror(errno));
    int r = fsync(fd);
    int err = errno;
    close(fd);
    /* EINVAL: a file system that cannot sync directories; the rename stands. */
    if (r != 0 && err != EINVAL)
        return gn_fail(GN_ERR_IO, "%s: cannot sync its directory: %s", path, strerror(err));
    return GN_OK;
}

static enum gn_status gn_ckpt_write_file(const char *path, const unsigned char *buf, size_t n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return gn_fail(GN_ERR_INVALID, "checkpoint path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gn_fail(GN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    for (size_t at = 0; at < n;) {
        ssize_t w = write(fd, buf + at, n - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return gn_fail(GN_ERR_IO, "cannot write %s: %s", tmp, strerror(err));
        }
        at += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlink(tmp);
        return gn_fail(GN_ERR_IO, "cannot sync %s: %s", tmp, strerror(err));
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return gn_fail(GN_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return gn_fail(GN_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(err));
    }
    return gn_ckpt_sync_dir(path);
}

enum gn_status gn_checkpoint_write(const char *path, const struct gn_plan *plan,
                                   uint32_t data_crc, const struct gn_norm *norm,
                                   const struct gn_model *m, const struct gn_run_pos *pos,
                                   const struct gn_progress *last)
{
    if (!norm || norm->features != m->inputs)
        return gn_fail(GN_ERR_INVALID, "checkpoint %s: the normalization does not match the "
                                       "model's %d inputs", path, m->inputs);
    uint64_t size =
        gn_ckpt_size(GN_CHECKPOINT_VERSION, m->inputs, m->n_groups, m->n_edges, m->n_params);
    unsigned char *buf = malloc((size_t)size);
    if (!buf)
        return gn_fail(GN_ERR_NOMEM, "cannot allocate %llu bytes for checkpoint %s",
                       (unsigned long long)size, path);
    struct gn_ckpt_out o = {buf, 0};
    gn_ckpt_header(&o, plan, data_crc, norm, m, pos, last, size);
    for (int32_t g = 0; g < m->n_groups; g++) {
        const struct gn_group *gr = &m->groups[g];
        put_i32(&o, gr->kind);
        put_i32(&o, gr->width);
        put_i64(&o, gr->bias);
        put_u32(&o, gr->flags);
        put_i32(&o, gr->parent);
        put_i32(&o, gr->born);
        put_f32(&o, gr->grad_std);
        put_i32(&o, gr->below);
    }
    for (int32_t e = 0; e < m->n_edges; e++) {
        put_i32(&o, m->edges[e].src);
        put_i32(&o, m->edges[e].dst);
        put_i64(&o, m->edges[e].w);
    }
    for (int32_t i = 0; i < m->n_groups; i++)
        put_i32(&o, m->order[i]);
    for (int64_t i = 0; i < m->n_params; i++)
        put_f32(&o, m->params[i]);
    for (int64_t i = 0; i < m->n_params; i++)
        put_f32(&o, m->moment[i]);
    for (int64_t i = 0; i < m->n_params; i++)
        put_f32(&o, m->moment2[i]);
    for (int32_t f = 0; f < norm->features; f++)
        put_f32(&o, norm->shift[f]);
    for (int32_t f = 0; f < norm->features; f++)
        put_f32(&o, norm->scale[f]);
    put_u32(&o, (uint32_t)gn_ckpt_crc(crc32(0L, Z_NULL, 0), buf, (size_t)size - GN_CKPT_TAIL));
    enum gn_status st = gn_ckpt_write_file(path, buf, (size_t)size);
    free(buf);
    return st;
}

/* ---- reading ---- */

void gn_checkpoint_free(struct gn_checkpoint *ck)
{
    free(ck->groups);
    free(ck->edges);
    free(ck->order);
    free(ck->params);
    free(ck->moment);
    free(ck->moment2);
    gn_norm_free(&ck->norm);
    memset(ck, 0, sizeof *ck);
}

/* Decode the header after the magic, version and size checks. */
static void gn_ckpt_get_header(struct gn_ckpt_in *in, struct gn_checkpoint_header *h)
{
    in->at = 8;
    h->version = get_u32(in);
    (void)get_u32(in); /* header size, checked by the caller */
    h->file_size = get_u64(in);
    h->inputs = get_i32(in);
    h->classes = get_i32(in);
    h->group_size = get_i32(in);
    h->batch = get_i32(in);
    h->n_train = get_i64(in);
    h->test_count = get_i64(in);
    h->data_crc = get_u32(in);
    h->grow = get_i32(in);
    h->seed = get_u64(in);
    h->lr = get_f32(in);
    h->momentum = get_f32(in);
    h->weight_decay = get_f32(in);
    h->grow_threshold = get_f32(in);
    h->grow_noise = get_f32(in);
    h->grow_every = get_i32(in);
    h->max_groups = get_i32(in);
    h->max_edges = get_i32(in);
    h->max_params = get_i64(in);
    h->step = get_i64(in);
    h->epoch = get_i64(in);
    h->grow_round = get_i64(in);
    h->ep_loss = get_f64(in);
    h->ep_hits = get_i64(in);
    h->ep_seen = get_i64(in);
    h->skipped = get_i64(in);
    h->last_loss = get_f64(in);
    h->last_accuracy = get_f64(in);
    h->last_test_accuracy = get_f64(in);
    h->last_epoch = get_i32(in);
    h->last_epoch_end = get_i32(in);
    h->n_groups = get_i32(in);
    h->n_edges = get_i32(in);
    h->n_params = get_i64(in);
    h->duplications = get_i64(in);
    h->refused = get_i64(in);
    /* version 1 had no normalization: its runs trained on the data as loaded */
    h->normalize = h->version >= 2 ? get_i32(in) : GN_NORMALIZE_NONE;
    /* versions 1 and 2 had no optimizer but sgd and no schedule */
    h->optimizer = GN_OPTIM_SGD;
    h->lr_schedule = GN_LR_CONSTANT;
    h->beta1 = h->beta2 = h->eps = h->lr_min = 0.0f;
    h->lr_gamma = 1.0f;
    h->lr_warmup = h->lr_step_every = h->steps_total = 0;
    if (h->version >= 3) {
        h->optimizer = get_i32(in);
        h->lr_schedule = get_i32(in);
        h->beta1 = get_f32(in);
        h->beta2 = get_f32(in);
        h->eps = get_f32(in);
        h->lr_warmup = get_i64(in);
        h->lr_step_every = get_i64(in);
        h->steps_total = get_i64(in);
        h->lr_min = get_f32(in);
        h->lr_gamma = get_f32(in);
    }
    /* before version 3 every run grew by the std criterion */
    h->grow_criterion = h->version >= 3 ? get_i32(in) : GN_GROW_CRITERION_STD;
    h->grow_ratio = h->version >= 3 ? get_f32(in) : 0.0f;
    /* before version 4 no run pruned */
    h->pruned = h->version >= 4 ? get_i64(in) : 0;
    h->prune_threshold = h->version >= 4 ? get_f32(in) : 0.0f;
    h->prune_after = h->version >= 4 ? get_i32(in) : 1;
    /* a reserved zero word in version 4 files written before it */
    h->guard = h->version >= 4 ? get_i32(in) : 0;
    /* likewise: runs before --precision were fp32 */
    h->precision = h->version >= 4 ? get_i32(in) : GN_PRECISION_FP32;
}

/* The header's values on their own: ranges, and counts within the pools. */
static enum gn_status gn_ckpt_check_header(const struct gn_checkpoint_header *h, const char *name)
{
    if (h->inputs < 1 || h->inputs > (1 << 24) || h->classes < 2 || h->classes > 256 ||
        h->group_size < 1 || h->group_size > 1024 || h->batch < 1 || h->batch > 65536)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted header: shape %d inputs, %d classes, groups of %d, "
                       "batch %d is out of range",
                       name, h->inputs, h->classes, h->group_size, h->batch);
    if (h->n_train < 1 || h->n_train > INT32_MAX || h->test_count < 0 || h->test_count > INT32_MAX)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: %lld training, %lld test examples",
                       name, (long long)h->n_train, (long long)h->test_count);
    if (h->grow < GN_GROW_OFF || h->grow > GN_GROW_RANDOM || h->grow_every < 1)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: growth policy %d every %d", name,
                       h->grow, h->grow_every);
    if (h->n_groups < 2 || h->n_groups > h->max_groups || h->n_edges < 0 ||
        h->n_edges > h->max_edges || h->n_params < h->classes || h->n_params > h->max_params)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted header: pool use %d/%d groups, %d/%d edges, %lld/%lld "
                       "parameters",
                       name, h->n_groups, h->max_groups, h->n_edges, h->max_edges,
                       (long long)h->n_params, (long long)h->max_params);
    if (h->step < 0 || h->epoch < 0 || h->epoch > h->step || h->grow_round < 0 ||
        h->grow_round > h->step || h->ep_seen < 0 || h->ep_hits < 0 || h->ep_hits > h->ep_seen ||
        h->skipped < 0 || h->skipped > h->step || h->duplications < 0 || h->refused < 0 ||
        h->pruned < 0 || !isfinite(h->ep_loss))
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted header: position step %lld, epoch %lld, round %lld, "
                       "epoch sums %lld/%lld",
                       name, (long long)h->step, (long long)h->epoch, (long long)h->grow_round,
                       (long long)h->ep_hits, (long long)h->ep_seen);
    return GN_OK;
}

/* One group record: kind and width by slot, bias block inside the pool. */
static enum gn_status gn_ckpt_check_group(const struct gn_checkpoint_header *h,
                                          const struct gn_group *g, int32_t slot, const char *name)
{
    int32_t kind = slot == GN_SLOT_INPUT    ? GN_GROUP_INPUT
                   : slot == GN_SLOT_OUTPUT ? GN_GROUP_OUTPUT
                                            : GN_GROUP_HIDDEN;
    int32_t width = slot == GN_SLOT_INPUT    ? h->inputs
                    : slot == GN_SLOT_OUTPUT ? h->classes
                                             : h->group_size;
    if (g->kind != kind || g->width != width)
        return gn_fail(GN_ERR_FORMAT, "%s: group %d: kind %d width %d, expected kind %d width %d",
                       name, slot, g->kind, g->width, kind, width);
    if (slot == GN_SLOT_INPUT ? g->bias != -1 : g->bias < 0 || g->bias > h->n_params - g->width)
        return gn_fail(GN_ERR_FORMAT, "%s: group %d: bias block at %lld is outside the pool", name,
                       slot, (long long)g->bias);
    if (g->flags & ~(GN_GROUP_MARKED | GN_GROUP_CHOSEN))
        return gn_fail(GN_ERR_FORMAT, "%s: group %d: unknown flags 0x%x", name, slot, g->flags);
    if (g->below < 0)
        return gn_fail(GN_ERR_FORMAT, "%s: group %d: %d pruning rounds below the threshold", name,
                       slot, g->below);
    if (g->parent < -1 || g->parent >= h->n_groups)
        return gn_fail(GN_ERR_FORMAT, "%s: group %d: parent %d does not exist", name, slot,
                       g->parent);
    return GN_OK;
}

/* One edge record: both ends -1 (a refused reservation), or a legal edge
 * whose weight block lies inside the pool. */
static enum gn_status gn_ckpt_check_edge(const struct gn_checkpoint *ck, int32_t e,
                                         const char *name)
{
    const struct gn_edge *ed = &ck->edges[e];
    const int32_t n = ck->h.n_groups;
    if (ed->src == -1 && ed->dst == -1) return GN_OK;
    if (ed->src < 0 || ed->src >= n || ed->dst < 0 || ed->dst >= n || ed->src == ed->dst ||
        ed->dst == GN_SLOT_INPUT || ed->src == GN_SLOT_OUTPUT)
        return gn_fail(GN_ERR_FORMAT, "%s: edge %d: %d -> %d is not an edge of the graph", name, e,
                       ed->src, ed->dst);
    int64_t len = (int64_t)ck->groups[ed->src].width * ck->groups[ed->dst].width;
    if (ed->w < 0 || ed->w > ck->h.n_params - len)
        return gn_fail(GN_ERR_FORMAT, "%s: edge %d: weight block at %lld is outside the pool", name,
                       e, (long long)ed->w);
    return GN_OK;
}

enum gn_status gn_checkpoint_parse(const void *buf, size_t len, const char *name,
                                   struct gn_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    if (!name) name = "checkpoint";
    struct gn_ckpt_in in = {buf, 0};
    struct gn_checkpoint_header *h = &ck->h;
    if (len < 16 || memcmp(buf, gn_ckpt_magic, 8) != 0)
        return gn_fail(GN_ERR_FORMAT, "%s: not a genet-rt checkpoint (no \"GNCKPT\" magic)", name);
    in.at = 8;
    uint32_t version = get_u32(&in), hsize = get_u32(&in);
    if (version < 1 || version > GN_CHECKPOINT_VERSION)
        return gn_fail(GN_ERR_UNSUPPORTED,
                       "%s: checkpoint format version %u; this build reads versions 1 to %u",
                       name, version, GN_CHECKPOINT_VERSION);
    if (hsize != gn_ckpt_header_size(version))
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted: header size %u, expected %u", name, hsize,
                       gn_ckpt_header_size(version));
    if (len < hsize + GN_CKPT_TAIL)
        return gn_fail(GN_ERR_FORMAT, "%s: truncated: %zu bytes, shorter than the header", name,
                       len);
    gn_ckpt_get_header(&in, h);
    if (h->file_size != len)
        return gn_fail(GN_ERR_FORMAT, "%s: %s: the header says %llu bytes, the file has %zu", name,
                       h->file_size > len ? "truncated" : "corrupted (trailing bytes)",
                       (unsigned long long)h->file_size, len);
    struct gn_ckpt_in tail = {buf, len - GN_CKPT_TAIL};
    uint32_t want = get_u32(&tail);
    uint32_t got = (uint32_t)gn_ckpt_crc(crc32(0L, Z_NULL, 0), buf, len - GN_CKPT_TAIL);
    if (want != got)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted: checksum mismatch (CRC-32 0x%08x stored, 0x%08x computed)",
                       name, want, got);
    enum gn_status st = gn_ckpt_check_header(h, name);
    if (st) return st;
    uint64_t need = gn_ckpt_size(h->version, h->inputs, h->n_groups, h->n_edges, h->n_params);
    if (need != len)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted: %d groups, %d edges and %lld parameters need %llu bytes, "
                       "the file has %zu",
                       name, h->n_groups, h->n_edges, (long long)h->n_params,
                       (unsigned long long)need, len);
    if (h->normalize < GN_NORMALIZE_NONE || h->normalize > GN_NORMALIZE_SCALE)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: normalization mode %d", name,
                       h->normalize);
    if (h->optimizer < GN_OPTIM_SGD || h->optimizer > GN_OPTIM_ADAMW ||
        h->lr_schedule < GN_LR_CONSTANT || h->lr_schedule > GN_LR_STEP)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: optimizer %d, schedule %d", name,
                       h->optimizer, h->lr_schedule);
    if ((h->grow_criterion != GN_GROW_CRITERION_STD &&
         h->grow_criterion != GN_GROW_CRITERION_RELATIVE) ||
        !(h->grow_ratio >= 0.0f) || !isfinite(h->grow_ratio))
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: growth criterion %d ratio %g", name,
                       h->grow_criterion, h->grow_ratio);
    if (!(h->prune_threshold >= 0.0f) || !isfinite(h->prune_threshold) || h->prune_after < 1)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: prune threshold %g after %d", name,
                       h->prune_threshold, h->prune_after);
    if (h->precision < GN_PRECISION_FP32 || h->precision > GN_PRECISION_BF16)
        return gn_fail(GN_ERR_FORMAT, "%s: corrupted header: precision %d", name, h->precision);

    ck->groups = calloc((size_t)h->n_groups, sizeof *ck->groups);
    ck->edges = calloc((size_t)h->n_edges + 1, sizeof *ck->edges);
    ck->order = calloc((size_t)h->n_groups, sizeof *ck->order);
    ck->params = malloc((size_t)h->n_params * sizeof(float));
    ck->moment = malloc((size_t)h->n_params * sizeof(float));
    ck->moment2 = calloc((size_t)h->n_params, sizeof(float));
    if (!ck->groups || !ck->edges || !ck->order || !ck->params || !ck->moment || !ck->moment2) {
        st = gn_fail(GN_ERR_NOMEM, "%s: out of memory decoding %lld parameters", name,
                     (long long)h->n_params);
        goto error;
    }
    in.at = hsize;
    for (int32_t g = 0; g < h->n_groups; g++) {
        struct gn_group *gr = &ck->groups[g];
        gr->kind = get_i32(&in);
        gr->width = get_i32(&in);
        gr->bias = get_i64(&in);
        gr->flags = get_u32(&in);
        gr->parent = get_i32(&in);
        gr->born = get_i32(&in);
        gr->grad_std = get_f32(&in);
        gr->below = h->version >= 4 ? get_i32(&in) : 0;
        if ((st = gn_ckpt_check_group(h, gr, g, name))) goto error;
    }
    for (int32_t e = 0; e < h->n_edges; e++) {
        ck->edges[e].src = get_i32(&in);
        ck->edges[e].dst = get_i32(&in);
        ck->edges[e].w = get_i64(&in);
        if ((st = gn_ckpt_check_edge(ck, e, name))) goto error;
    }
    for (int32_t i = 0; i < h->n_groups; i++)
        ck->order[i] = get_i32(&in);
    for (int64_t i = 0; i < h->n_params; i++)
        ck->params[i] = get_f32(&in);
    for (int64_t i = 0; i < h->n_params; i++)
        ck->moment[i] = get_f32(&in);
    if (h->version >= 3) /* earlier versions: sgd, the second moment zero */
        for (int64_t i = 0; i < h->n_params; i++)
            ck->moment2[i] = get_f32(&in);
    if ((st = gn_norm_init(&ck->norm, (enum gn_normalize)h->normalize, h->inputs))) goto error;
    if (h->version >= 2) {
        for (int32_t f = 0; f < h->inputs; f++)
            ck->norm.shift[f] = get_f32(&in);
        for (int32_t f = 0; f < h->inputs; f++)
            ck->norm.scale[f] = get_f32(&in);
        for (int32_t f = 0; f < h->inputs; f++)
            if (!isfinite(ck->norm.shift[f]) || !isfinite(ck->norm.scale[f])) {
                st = gn_fail(GN_ERR_FORMAT, "%s: input %d: normalization shift %g scale %g is "
                                            "not finite", name, f, ck->norm.shift[f],
                             ck->norm.scale[f]);
                goto error;
            }
    }
    return GN_OK;
error:
    gn_checkpoint_free(ck);
    return st;
}

enum gn_status gn_checkpoint_load(const char *path, struct gn_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gn_fail(GN_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gn_fail(GN_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size > GN_CKPT_MAX_FILE) {
        close(fd);
        return gn_fail(GN_ERR_FORMAT, "%s: %lld bytes is too large for a checkpoint", path,
                       (long long)sb.st_size);
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return gn_fail(GN_ERR_NOMEM, "cannot allocate %zu bytes to read %s", len, path);
    }
    size_t have = 0;
    while (have < len) {
        ssize_t r = read(fd, buf + have, len - have);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return gn_fail(GN_ERR_IO, "cannot read %s: %s", path, strerror(err));
        }
        if (r == 0) break;
        have += (size_t)r;
    }
    close(fd);
    enum gn_status st = gn_checkpoint_parse(buf, have, path, ck);
    free(buf);
    return st;
}

/* ---- against the run ---- */

bool gn_checkpoint_legacy_layout(const struct gn_checkpoint *ck)
{
    for (int32_t g = 0; g < ck->h.n_groups; g++)
        if (ck->groups[g].bias >= 0 && ck->groups[g].bias % GN_PARAM_ALIGN != 0) return true;
    for (int32_t e = 0; e < ck->h.n_edges; e++)
        if (ck->edges[e].src >= 0 && ck->edges[e].w % GN_PARAM_ALIGN != 0) return true;
    return false;
}

enum gn_status gn_checkpoint_match(const struct gn_checkpoint *ck, const struct gn_plan *plan,
                                   uint32_t data_crc, const struct gn_norm *norm,
                                   const char *name)
{
    const struct gn_checkpoint_header *h = &ck->h;
    const char *what = "this run";
#define GN_CKPT_DIFF(cond, fmt, ...)                                                               \
    do {                                                                                           \
        if (cond)                                                                                  \
            return gn_fail(GN_ERR_INVALID,                                                         \
                           "%s does not belong to %s: " fmt " (resume with the data and the "      \
                           "settings the checkpoint was written with)",                            \
                           name, what, __VA_ARGS__);                                               \
    } while (0)
    GN_CKPT_DIFF(h->inputs != plan->inputs || h->classes != plan->classes,
                 "the dataset has %d features and %d classes, the checkpoint %d and %d", plan->inputs,
                 plan->classes, h->inputs, h->classes);
    GN_CKPT_DIFF(h->n_train != plan->n_train,
                 "%lld training examples are used (--limit-train), the checkpoint used %lld",
                 (long long)plan->n_train, (long long)h->n_train);
    GN_CKPT_DIFF(h->test_count != plan->test_count,
                 "the test set has %lld examples, the checkpoint's had %lld",
                 (long long)plan->test_count, (long long)h->test_count);
    GN_CKPT_DIFF(h->data_crc != data_crc,
                 "the training data differ (CRC-32 0x%08x, the checkpoint's 0x%08x)", data_crc,
                 h->data_crc);
    GN_CKPT_DIFF(h->normalize != norm->mode, "--normalize %s, the checkpoint %s",
                 gn_normalize_name((enum gn_normalize)norm->mode),
                 gn_normalize_name((enum gn_normalize)h->normalize));
    GN_CKPT_DIFF(h->group_size != plan->group_size, "--group-size %d, the checkpoint %d",
                 plan->group_size, h->group_size);
    GN_CKPT_DIFF(h->seed != plan->seed, "--seed %llu, the checkpoint %llu",
                 (unsigned long long)plan->seed, (unsigned long long)h->seed);
    GN_CKPT_DIFF(h->batch != plan->batch, "--batch %d, the checkpoint %d", plan->batch, h->batch);
    const struct gn_optim *o = &plan->optim;
    GN_CKPT_DIFF(h->optimizer != o->kind, "--optimizer %s, the checkpoint %s",
                 gn_optimizer_name((enum gn_optimizer)o->kind),
                 gn_optimizer_name((enum gn_optimizer)h->optimizer));
    GN_CKPT_DIFF(h->lr != o->lr, "--lr %g, the checkpoint %g", o->lr, h->lr);
    if (o->kind == GN_OPTIM_SGD)
        GN_CKPT_DIFF(h->momentum != o->momentum, "--momentum %g, the checkpoint %g", o->momentum,
                     h->momentum);
    else
        GN_CKPT_DIFF(h->beta1 != o->beta1 || h->beta2 != o->beta2 || h->eps != o->eps,
                     "--beta1 %g --beta2 %g --eps %g, the checkpoint %g, %g, %g", o->beta1,
                     o->beta2, o->eps, h->beta1, h->beta2, h->eps);
    GN_CKPT_DIFF(h->weight_decay != o->weight_decay, "--weight-decay %g, the checkpoint %g",
                 o->weight_decay, h->weight_decay);
    GN_CKPT_DIFF(h->lr_schedule != o->schedule, "--lr-schedule %s, the checkpoint %s",
                 gn_lr_schedule_name((enum gn_lr_schedule)o->schedule),
                 gn_lr_schedule_name((enum gn_lr_schedule)h->lr_schedule));
    GN_CKPT_DIFF(h->lr_warmup != o->warmup, "--warmup %lld, the checkpoint %lld",
                 (long long)o->warmup, (long long)h->lr_warmup);
    if (o->schedule == GN_LR_COSINE) {
        GN_CKPT_DIFF(h->lr_min != o->lr_min, "--lr-min %g, the checkpoint %g", o->lr_min,
                     h->lr_min);
        GN_CKPT_DIFF(h->steps_total != o->steps_total,
                     "the cosine schedule decays over this run's %lld steps, the checkpoint's "
                     "over %lld (--epochs, --steps)",
                     (long long)o->steps_total, (long long)h->steps_total);
    }
    if (o->schedule == GN_LR_STEP)
        GN_CKPT_DIFF(h->lr_step_every != o->step_every || h->lr_gamma != o->gamma,
                     "--lr-step-every %lld --lr-gamma %g, the checkpoint %lld, %g",
                     (long long)o->step_every, o->gamma, (long long)h->lr_step_every,
                     h->lr_gamma);
    GN_CKPT_DIFF(h->precision != plan->precision, "--precision %s, the checkpoint %s",
                 gn_precision_name((enum gn_precision)plan->precision),
                 gn_precision_name((enum gn_precision)h->precision));
    GN_CKPT_DIFF(h->grow != plan->grow, "--grow %s, the checkpoint %s",
                 gn_grow_policy_name((enum gn_grow_policy)plan->grow),
                 gn_grow_policy_name((enum gn_grow_policy)h->grow));
    GN_CKPT_DIFF(h->grow_criterion != plan->grow_criterion,
                 "--grow-criterion %s, the checkpoint %s",
                 gn_grow_criterion_name((enum gn_grow_criterion)plan->grow_criterion),
                 gn_grow_criterion_name((enum gn_grow_criterion)h->grow_criterion));
    /* the criterion's own value: the other one changes nothing */
    if (h->grow_criterion == GN_GROW_CRITERION_STD)
        GN_CKPT_DIFF(h->grow_threshold != plan->grow_threshold,
                     "--grow-threshold %g, the checkpoint %g", plan->grow_threshold,
                     h->grow_threshold);
    else
        GN_CKPT_DIFF(h->grow_ratio != plan->grow_ratio, "--grow-ratio %g, the checkpoint %g",
                     plan->grow_ratio, h->grow_ratio);
    GN_CKPT_DIFF(h->grow_every != plan->grow_every, "--grow-every %d, the checkpoint %d",
                 plan->grow_every, h->grow_every);
    GN_CKPT_DIFF(h->grow_noise != plan->grow_noise, "--grow-noise %g, the checkpoint %g",
                 plan->grow_noise, h->grow_noise);
    GN_CKPT_DIFF(h->prune_threshold != plan->prune_threshold,
                 "--prune-threshold %g, the checkpoint %g", plan->prune_threshold,
                 h->prune_threshold);
    if (h->prune_threshold > 0.0f)
        GN_CKPT_DIFF(h->prune_after != plan->prune_after, "--prune-after %d, the checkpoint %d",
                     plan->prune_after, h->prune_after);
    /* A checkpoint of the layout before parameter blocks were aligned
     * (model.h) is re-laid out as it loads, which takes up to
     * gn_param_slack more floats: it may resume with a larger pool. */
    const bool legacy = gn_checkpoint_legacy_layout(ck);
    GN_CKPT_DIFF(h->max_groups != plan->max_groups || h->max_edges != plan->max_edges ||
                     (legacy ? plan->max_params < h->max_params
                             : plan->max_params != h->max_params),
                 "the pools hold %d groups, %d edges, %lld parameters (--max-groups, "
                 "--max-edges, --max-params), the checkpoint's %d, %d, %lld%s",
                 plan->max_groups, plan->max_edges, (long long)plan->max_params, h->max_groups,
                 h->max_edges, (long long)h->max_params,
                 legacy ? " (written before parameter blocks were aligned, it also takes a "
                          "larger --max-params)"
                        : "");
    int64_t total = plan->steps_total;
    GN_CKPT_DIFF(h->step > total,
                 "the checkpoint is at step %lld, past this run's last step %lld (--steps and "
                 "--epochs count from the start of the run)",
                 (long long)h->step, (long long)total);
#undef GN_CKPT_DIFF
    if (h->epoch != h->step / plan->steps_per_epoch || h->ep_seen > plan->n_train)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: corrupted position: step %lld is not in epoch %lld of %lld steps", name,
                       (long long)h->step, (long long)h->epoch, (long long)plan->steps_per_epoch);
    return GN_OK;
}

enum gn_status gn_checkpoint_model(const struct gn_checkpoint *ck, struct gn_model *m)
{
    const struct gn_checkpoint_header *h = &ck->h;
    if (m->max_groups < h->n_groups || m->max_edges < h->n_edges || m->max_params < h->n_params ||
        m->inputs != h->inputs || m->classes != h->classes || m->group_size != h->group_size)
        return gn_fail(GN_ERR_INVALID, "the checkpoint's graph does not fit the model's pools");
    memset(m->groups, 0, (size_t)m->max_groups * sizeof *m->groups);
    memset(m->edges, 0, (size_t)m->max_edges * sizeof *m->edges);
    memset(m->params, 0, (size_t)m->max_params * sizeof(float));
    memset(m->grads, 0, (size_t)m->max_params * sizeof(float));
    memset(m->moment, 0, (size_t)m->max_params * sizeof(float));
    memset(m->moment2, 0, (size_t)m->max_params * sizeof(float));
    memcpy(m->groups, ck->groups, (size_t)h->n_groups * sizeof *m->groups);
    memcpy(m->edges, ck->edges, (size_t)h->n_edges * sizeof *m->edges);
    memcpy(m->params, ck->params, (size_t)h->n_params * sizeof(float));
    memcpy(m->moment, ck->moment, (size_t)h->n_params * sizeof(float));
    memcpy(m->moment2, ck->moment2, (size_t)h->n_params * sizeof(float));
    m->n_groups = h->n_groups;
    m->n_edges = h->n_edges;
    m->n_params = h->n_params;
    m->duplications = h->duplications;
    m->refused = h->refused;
    m->pruned = h->pruned;
    enum gn_status st = gn_model_rebuild(m, ck->order);
    if (st) {
        char why[256];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(GN_ERR_FORMAT, "the checkpoint's graph is invalid: %s", why);
    }
    /* a checkpoint written before the pools aligned their blocks (model.h) */
    return gn_model_align_params(m);
}

enum gn_status gn_checkpoint_apply(const struct gn_checkpoint *ck, struct gn_model *m,
                                   struct gn_run_pos *pos, struct gn_progress *last)
{
    const struct gn_checkpoint_header *h = &ck->h;
    enum gn_status st = gn_checkpoint_model(ck, m);
    if (st) return st;
    pos->step = h->step;
    pos->epoch = h->epoch;
    pos->grow_round = h->grow_round;
    pos->skipped = h->skipped;
    pos->ep_loss = h->ep_loss;
    pos->ep_hits = h->ep_hits;
    pos->ep_seen = h->ep_seen;
    pos->guard = h->guard;
    last->step = h->step;
    last->epoch = h->last_epoch;
    last->epoch_end = h->last_epoch_end;
    last->loss = h->last_loss;
    last->accuracy = h->last_accuracy;
    last->test_accuracy = h->last_test_accuracy;
    last->groups = m->n_groups - 2;
    last->edges = m->n_edges;
    last->duplications = m->duplications;
    last->refused = m->refused;
    last->pruned = m->pruned;
    last->skipped = h->skipped;
    return GN_OK;
}
