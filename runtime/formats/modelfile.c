/*
 * Model files (format in modelfile.h): a hand-written safetensors writer and
 * reader.
 *
 * Writing walks the canonical order once to name each tensor and give it
 * its byte range, builds the header with jansson (insertion order kept),
 * pads it with spaces to a multiple of 8 and appends the blocks in the same
 * order. The graph text comes from gn_graph_format, so the ids in the
 * tensor names are the graph's ids.
 *
 * Reading validates before it builds: the length word, the header JSON,
 * every tensor entry on its own, then the entries sorted by offset must
 * tile the data section, then the metadata. The graph is counted (groups,
 * edges) to size the pools exactly and built with gn_graph_parse, whose
 * parameter pool is the data section's float count, so a graph needing
 * more weights than the file holds is refused before anything is copied.
 * Last, every tensor the graph needs is looked up by name, its shape
 * checked and its bytes copied into the block gn_graph_parse allocated;
 * a name the graph does not need is an error too.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "graphfile.h"
#include "modelfile.h"

#define GN_MF_NAME 96    /* room for a tensor name */
#define GN_MF_RANK_MAX 8 /* shapes longer than this are refused */

/* One tensor entry of a header, validated. */
struct gn_mf_tensor {
    const char *name;
    int64_t begin, end;
};

/* The id of slot g in names: the graph file's id, or "output". */
static void gn_mf_id(const struct gn_model *m, int32_t g, char *buf, size_t n)
{
    if (g == GN_SLOT_OUTPUT)
        snprintf(buf, n, "output");
    else
        snprintf(buf, n, "%d", m->groups[g].pos);
}

static void gn_mf_edge_name(const struct gn_model *m, const struct gn_edge *e, char *buf,
                            size_t n)
{
    char a[16], b[16];
    gn_mf_id(m, e->src, a, sizeof a);
    gn_mf_id(m, e->dst, b, sizeof b);
    snprintf(buf, n, "edge.%s->%s.weight", a, b);
}

static void gn_mf_bias_name(const struct gn_model *m, int32_t g, char *buf, size_t n)
{
    if (g == GN_SLOT_OUTPUT) {
        snprintf(buf, n, "output.bias");
    } else {
        char a[16];
        gn_mf_id(m, g, a, sizeof a);
        snprintf(buf, n, "group.%s.bias", a);
    }
}

/* Add {"dtype": "F32", "shape": [rows(, cols)], "data_offsets": [at, at + bytes]}. */
static int gn_mf_put_tensor(json_t *root, const char *name, int64_t rows, int64_t cols,
                            int64_t *at)
{
    int64_t bytes = rows * (cols > 0 ? cols : 1) * (int64_t)sizeof(float);
    json_t *t = json_pack("{s:s, s:[I], s:[I,I]}", "dtype", "F32", "shape", (json_int_t)rows,
                          "data_offsets", (json_int_t)*at, (json_int_t)(*at + bytes));
    if (!t)
        return 1;
    if (cols > 0 && json_array_append_new(json_object_get(t, "shape"), json_integer(cols))) {
        json_decref(t);
        return 1;
    }
    *at += bytes;
    return json_object_set_new(root, name, t) != 0;
}

static int gn_mf_put_meta(json_t *meta, const char *key, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, v);
    return json_object_set_new(meta, key, json_string(s)) != 0;
}

enum gn_status gn_modelfile_encode(const struct gn_model *m, const struct gn_norm *norm,
                                   void **buf, size_t *len)
{
    if (!m || !buf || !len)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_encode: no model or output");
    *buf = NULL;
    *len = 0;
    char *graph = NULL, *hdr = NULL;
    size_t glen = 0;
    json_t *root = NULL, *meta = NULL;
    enum gn_status st = gn_graph_format(m, &graph, &glen);
    if (st)
        return st;

    root = json_object();
    meta = json_object();
    int bad = !root || !meta || json_object_set(root, "__metadata__", meta) != 0;
    bad = bad || json_object_set_new(meta, "format", json_string(GN_MODEL_FORMAT)) != 0;
    bad = bad || gn_mf_put_meta(meta, "version", GN_MODEL_VERSION) ||
          gn_mf_put_meta(meta, "inputs", m->inputs) || gn_mf_put_meta(meta, "classes", m->classes) ||
          gn_mf_put_meta(meta, "group_size", m->group_size);
    bad = bad || json_object_set_new(meta, "graph", json_stringn(graph, glen)) != 0;
    int64_t data = 0;
    char name[GN_MF_NAME];
    for (int32_t p = 1; p < m->n_groups && !bad; p++) {
        const int32_t g = m->order[p];
        const struct gn_group *gr = &m->groups[g];
        for (int32_t i = 0; i < gr->in_count && !bad; i++) {
            const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
            gn_mf_edge_name(m, e, name, sizeof name);
            bad = gn_mf_put_tensor(root, name, m->groups[e->src].width, gr->width, &data);
        }
        gn_mf_bias_name(m, g, name, sizeof name);
        bad = bad || gn_mf_put_tensor(root, name, gr->width, 0, &data);
    }
    const int normed = norm && norm->mode != GN_NORMALIZE_NONE;
    if (normed && norm->features != m->inputs) {
        st = gn_fail(GN_ERR_INVALID, "gn_modelfile_encode: a normalization of %d features for "
                     "a network of %d inputs", norm->features, m->inputs);
        goto error;
    }
    if (normed && !bad) {
        bad = json_object_set_new(meta, "normalize",
                                  json_string(gn_normalize_name((enum gn_normalize)norm->mode))) ||
              gn_mf_put_tensor(root, "input.shift", m->inputs, 0, &data) ||
              gn_mf_put_tensor(root, "input.scale", m->inputs, 0, &data);
    }
    if (!bad)
        hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (bad || !hdr) {
        st = gn_fail(GN_ERR_NOMEM, "gn_modelfile_encode: out of memory");
        goto error;
    }

    const size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    const size_t total = 8 + padded + (size_t)data;
    unsigned char *out = malloc(total);
    if (!out) {
        st = gn_fail(GN_ERR_NOMEM, "gn_modelfile_encode: out of memory (%zu bytes)", total);
        goto error;
    }
    for (int k = 0; k < 8; k++)
        out[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(out + 8, hdr, hlen);
    memset(out + 8 + hlen, ' ', padded - hlen);
    unsigned char *d = out + 8 + padded;
    /* the same walk as the header's: blocks land at the offsets it gave */
    for (int32_t p = 1; p < m->n_groups; p++) {
        const struct gn_group *gr = &m->groups[m->order[p]];
        for (int32_t i = 0; i < gr->in_count; i++) {
            const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
            size_t bytes = (size_t)m->groups[e->src].width * (size_t)gr->width * sizeof(float);
            memcpy(d, m->params + e->w, bytes);
            d += bytes;
        }
        memcpy(d, m->params + gr->bias, (size_t)gr->width * sizeof(float));
        d += (size_t)gr->width * sizeof(float);
    }
    if (normed) {
        memcpy(d, norm->shift, (size_t)m->inputs * sizeof(float));
        d += (size_t)m->inputs * sizeof(float);
        memcpy(d, norm->scale, (size_t)m->inputs * sizeof(float));
    }
    *buf = out;
    *len = total;

error:
    free(hdr);
    free(graph);
    json_decref(meta);
    json_decref(root);
    return st;
}

enum gn_status gn_modelfile_write(const char *path, const struct gn_model *m,
                                  const struct gn_norm *norm)
{
    if (!path)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_write: no path");
    void *buf = NULL;
    size_t len = 0;
    char *tmp = NULL;
    FILE *f = NULL;
    enum gn_status st = gn_modelfile_encode(m, norm, &buf, &len);
    if (st)
        return st;
    size_t plen = strlen(path);
    tmp = malloc(plen + 5);
    if (!tmp) {
        st = gn_fail(GN_ERR_NOMEM, "gn_modelfile_write: out of memory");
        goto error;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        st = gn_fail(GN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto error;
    }
    int bad = fwrite(buf, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        st = gn_fail(GN_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }

error:
    free(tmp);
    free(buf);
    return st;
}

/* A non-negative integer that fits int64, or -1. */
static int64_t gn_mf_count(const json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (int64_t)json_integer_value(v);
}

/* Check one tensor entry: dtype, shape, offsets inside dlen data bytes and
 * consistent with the shape. */
static enum gn_status gn_mf_check_tensor(const char *name, const char *key, const json_t *v,
                                         int64_t dlen, struct gn_mf_tensor *t)
{
    if (!json_is_object(v))
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": the entry must be an object", name, key);
    const json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
    const json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": no \"dtype\" string", name, key);
    if (strcmp(json_string_value(dt), "F32") != 0)
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": dtype \"%s\"; genet-rt models are F32",
                       name, key, json_string_value(dt));
    if (!json_is_array(sh) || json_array_size(sh) > GN_MF_RANK_MAX)
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": \"shape\" must be an array of at most "
                       "%d dimensions", name, key, GN_MF_RANK_MAX);
    int64_t elems = 1;
    for (size_t i = 0; i < json_array_size(sh); i++) {
        int64_t d = gn_mf_count(json_array_get(sh, i));
        if (d < 0)
            return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": shape[%zu] is not a non-negative "
                           "integer", name, key, i);
        elems = d && elems > dlen / d ? dlen + 1 : elems * d; /* saturate past the data */
    }
    if (!json_is_array(off) || json_array_size(off) != 2)
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end]",
                       name, key);
    int64_t b = gn_mf_count(json_array_get(off, 0)), e = gn_mf_count(json_array_get(off, 1));
    if (b < 0 || e < 0 || b > e || e > dlen) {
        char *got = json_dumps(off, JSON_COMPACT);
        enum gn_status st = gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": data_offsets %s out of "
                                    "range: the data section has %" PRId64 " bytes", name, key,
                                    got ? got : "?", dlen);
        free(got);
        return st;
    }
    if (elems > dlen || e - b != elems * (int64_t)sizeof(float))
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64
                       "] hold %" PRId64 " bytes, its shape needs %s%" PRId64, name, key, b, e,
                       e - b, elems > dlen ? "more than " : "",
                       (elems > dlen ? dlen : elems) * (int64_t)sizeof(float));
    t->name = key;
    t->begin = b;
    t->end = e;
    return GN_OK;
}

static int gn_mf_by_offset(const void *a, const void *b)
{
    const struct gn_mf_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Every tensor entry valid and together they tile [0, dlen). */
static enum gn_status gn_mf_check_tensors(const char *name, const json_t *root, int64_t dlen)
{
    size_t n = json_object_size(root);
    struct gn_mf_tensor *t = calloc(n ? n : 1, sizeof *t);
    if (!t)
        return gn_fail(GN_ERR_NOMEM, "%s: out of memory", name);
    enum gn_status st = GN_OK;
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        if ((st = gn_mf_check_tensor(name, key, v, dlen, &t[k])))
            goto error;
        k++;
    }
    qsort(t, k, sizeof *t, gn_mf_by_offset);
    int64_t at = 0;
    for (size_t i = 0; i < k; i++) {
        if (t[i].begin < at) {
            st = gn_fail(GN_ERR_FORMAT, "%s: tensors \"%s\" and \"%s\" overlap (bytes %" PRId64
                         " to %" PRId64 ")", name, t[i - 1].name, t[i].name, t[i].begin, at);
            goto error;
        }
        if (t[i].begin > at) {
            st = gn_fail(GN_ERR_FORMAT, "%s: data bytes %" PRId64 " to %" PRId64 " belong to "
                         "no tensor (a gap before \"%s\")", name, at, t[i].begin, t[i].name);
            goto error;
        }
        at = t[i].end;
    }
    if (at != dlen)
        st = gn_fail(GN_ERR_FORMAT, "%s: the data section has %" PRId64 " bytes, the tensors "
                     "cover %" PRId64, name, dlen, at);

error:
    free(t);
    return st;
}

/* A metadata string (present, a string). */
static enum gn_status gn_mf_meta_str(const char *name, const json_t *meta, const char *key,
                                     const char **out)
{
    const json_t *v = json_object_get(meta, key);
    if (!v)
        return gn_fail(GN_ERR_FORMAT, "%s: metadata has no \"%s\"", name, key);
    if (!json_is_string(v))
        return gn_fail(GN_ERR_FORMAT, "%s: metadata \"%s\" must be a string", name, key);
    *out = json_string_value(v);
    return GN_OK;
}

/* A metadata decimal integer in [lo, INT32_MAX]. */
static enum gn_status gn_mf_meta_int(const char *name, const json_t *meta, const char *key,
                                     int32_t lo, int32_t *out)
{
    const char *s = NULL;
    enum gn_status st = gn_mf_meta_str(name, meta, key, &s);
    if (st)
        return st;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > INT32_MAX)
        return gn_fail(GN_ERR_FORMAT, "%s: metadata \"%s\" is \"%s\", not an integer from %d to "
                       "%d", name, key, s, lo, INT32_MAX);
    *out = (int32_t)v;
    return GN_OK;
}

/* Hidden groups and edges a graph text declares (0 where it does not say:
 * gn_graph_parse then reports what is wrong). */
static enum gn_status gn_mf_graph_counts(const char *name, const char *text, size_t len,
                                         int64_t *groups, int64_t *edges)
{
    json_error_t err;
    json_t *g = json_loadb(text, len, 0, &err);
    if (!g)
        return gn_fail(GN_ERR_FORMAT, "%s: metadata \"graph\": line %d column %d: JSON syntax "
                       "error: %s", name, err.line, err.column, err.text);
    const json_t *list = json_object_get(g, "groups"), *v;
    size_t i;
    *groups = json_is_array(list) ? (int64_t)json_array_size(list) : 0;
    *edges = 0;
    json_array_foreach(list, i, v) {
        const json_t *in = json_object_get(v, "inputs");
        *edges += json_is_array(in) ? (int64_t)json_array_size(in) : 0;
    }
    const json_t *in = json_object_get(json_object_get(g, "output"), "inputs");
    *edges += json_is_array(in) ? (int64_t)json_array_size(in) : 0;
    json_decref(g);
    return GN_OK;
}

/* Look up tensor `tname` with shape [rows(, cols)] and copy it to dst. */
static enum gn_status gn_mf_take(const char *name, const json_t *root, json_t *used,
                                 const unsigned char *data, const char *tname, int64_t rows,
                                 int64_t cols, float *dst, const char *what)
{
    const json_t *t = json_object_get(root, tname);
    if (!t)
        return gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\" is missing (%s)", name, tname, what);
    const json_t *sh = json_object_get(t, "shape");
    size_t rank = cols > 0 ? 2 : 1;
    if (json_array_size(sh) != rank || json_integer_value(json_array_get(sh, 0)) != rows ||
        (rank == 2 && json_integer_value(json_array_get(sh, 1)) != cols)) {
        char *got = json_dumps(sh, JSON_COMPACT);
        enum gn_status st;
        if (rank == 2)
            st = gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\" has shape %s; the graph needs [%" PRId64
                         ", %" PRId64 "] (%s)", name, tname, got ? got : "?", rows, cols, what);
        else
            st = gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\" has shape %s; the graph needs [%" PRId64
                         "] (%s)", name, tname, got ? got : "?", rows, what);
        free(got);
        return st;
    }
    int64_t b = json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
    memcpy(dst, data + b, (size_t)(rows * (cols > 0 ? cols : 1)) * sizeof(float));
    if (json_object_set_new(used, tname, json_true()) != 0)
        return gn_fail(GN_ERR_NOMEM, "%s: out of memory", name);
    return GN_OK;
}

/* Fill m's parameters from the tensors, each named by the graph, and the
 * normalization's (norm mode set: its arrays allocated). */
static enum gn_status gn_mf_fill(const char *name, const json_t *root, const unsigned char *data,
                                 struct gn_model *m, struct gn_norm *norm)
{
    json_t *used = json_object();
    if (!used)
        return gn_fail(GN_ERR_NOMEM, "%s: out of memory", name);
    enum gn_status st = GN_OK;
    char tname[GN_MF_NAME], what[128], a[16], b[16];
    for (int32_t p = 1; p < m->n_groups && !st; p++) {
        const int32_t g = m->order[p];
        const struct gn_group *gr = &m->groups[g];
        for (int32_t i = 0; i < gr->in_count && !st; i++) {
            const struct gn_edge *e = &m->edges[m->in_list[gr->in_begin + i]];
            gn_mf_edge_name(m, e, tname, sizeof tname);
            gn_mf_id(m, e->src, a, sizeof a);
            gn_mf_id(m, e->dst, b, sizeof b);
            snprintf(what, sizeof what, "the graph has an edge %s -> %s of %d x %d", a, b,
                     m->groups[e->src].width, gr->width);
            st = gn_mf_take(name, root, used, data, tname, m->groups[e->src].width, gr->width,
                            m->params + e->w, what);
        }
        if (st)
            break;
        gn_mf_bias_name(m, g, tname, sizeof tname);
        gn_mf_id(m, g, a, sizeof a);
        snprintf(what, sizeof what, "the bias of group %s, width %d", a, gr->width);
        st = gn_mf_take(name, root, used, data, tname, gr->width, 0, m->params + gr->bias, what);
    }
    if (!st && norm && norm->mode != GN_NORMALIZE_NONE) {
        st = gn_mf_take(name, root, used, data, "input.shift", m->inputs, 0, norm->shift,
                        "the input normalization's shift");
        if (!st)
            st = gn_mf_take(name, root, used, data, "input.scale", m->inputs, 0, norm->scale,
                            "the input normalization's scale");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        if (st)
            break;
        if (strcmp(key, "__metadata__") != 0 && !json_object_get(used, key))
            st = gn_fail(GN_ERR_FORMAT, "%s: tensor \"%s\" is not part of the graph (a tensor "
                         "from another network, or a misspelt name)", name, key);
    }
    json_decref(used);
    return st;
}

enum gn_status gn_modelfile_parse(const void *buf, size_t len, const char *name,
                                  struct gn_model *m, struct gn_norm *norm)
{
    if (!m)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_parse: no model");
    memset(m, 0, sizeof *m);
    if (norm) memset(norm, 0, sizeof *norm);
    if (!buf && len)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_parse: no buffer");
    if (!name)
        name = "model";
    const unsigned char *p = buf;
    if (len < 8)
        return gn_fail(GN_ERR_FORMAT, "%s: %zu bytes: too short for a safetensors file (it starts "
                       "with an 8-byte header length)", name, len);
    if (memcmp(p, "GNCKPT\r\n", 8) == 0)
        return gn_fail(GN_ERR_FORMAT, "%s is a checkpoint, not a model file (make one with "
                       "genet-rt export %s -o FILE)", name, name);
    uint64_t n = 0;
    for (int k = 0; k < 8; k++)
        n |= (uint64_t)p[k] << (8 * k);
    if (n < 2 || n > GN_MODEL_HEADER_MAX || n > len - 8)
        return gn_fail(GN_ERR_FORMAT, "%s: bad header length %" PRIu64 ": the file has %zu bytes "
                       "after the length word (and the limit is %u)", name, n, len - 8,
                       GN_MODEL_HEADER_MAX);
    json_error_t err;
    json_t *root = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return gn_fail(GN_ERR_NOMEM, "%s: out of memory reading the header", name);
        return gn_fail(GN_ERR_FORMAT, "%s: the header is not JSON (not a safetensors file?): "
                       "column %d: %s", name, err.column, err.text);
    }
    enum gn_status st = GN_OK;
    const unsigned char *data = p + 8 + n;
    const int64_t dlen = (int64_t)(len - 8 - n);
    if (!json_is_object(root)) {
        st = gn_fail(GN_ERR_FORMAT, "%s: the header must be a JSON object", name);
        goto error;
    }
    if ((st = gn_mf_check_tensors(name, root, dlen)))
        goto error;

    const json_t *meta = json_object_get(root, "__metadata__");
    if (!meta) {
        st = gn_fail(GN_ERR_FORMAT, "%s: no \"__metadata__\": a safetensors file, but not a "
                     "genet-rt model", name);
        goto error;
    }
    if (!json_is_object(meta)) {
        st = gn_fail(GN_ERR_FORMAT, "%s: \"__metadata__\" must be an object of strings", name);
        goto error;
    }
    const char *format = NULL, *graph = NULL;
    int32_t version, inputs, classes, group_size;
    if ((st = gn_mf_meta_str(name, meta, "format", &format)))
        goto error;
    if (strcmp(format, GN_MODEL_FORMAT) != 0) {
        st = gn_fail(GN_ERR_FORMAT, "%s: metadata format \"%s\", expected \"%s\"", name, format,
                     GN_MODEL_FORMAT);
        goto error;
    }
    if ((st = gn_mf_meta_int(name, meta, "version", 0, &version)))
        goto error;
    if (version != GN_MODEL_VERSION) {
        st = gn_fail(GN_ERR_FORMAT, "%s: model file version %d; this genet-rt reads version %d",
                     name, version, GN_MODEL_VERSION);
        goto error;
    }
    enum gn_normalize mode = GN_NORMALIZE_NONE;
    if (json_object_get(meta, "normalize")) {
        const char *ms = NULL;
        if ((st = gn_mf_meta_str(name, meta, "normalize", &ms)))
            goto error;
        if (!norm) {
            st = gn_fail(GN_ERR_FORMAT, "%s: the model asks for input normalization (metadata "
                         "\"normalize\" %s), which this reader does not apply", name, ms);
            goto error;
        }
        for (int k = GN_NORMALIZE_STANDARD; k <= GN_NORMALIZE_SCALE; k++)
            if (strcmp(ms, gn_normalize_name((enum gn_normalize)k)) == 0) mode = (enum gn_normalize)k;
        if (mode == GN_NORMALIZE_NONE) {
            st = gn_fail(GN_ERR_FORMAT, "%s: metadata \"normalize\" is \"%s\", not standard, "
                         "minmax or scale", name, ms);
            goto error;
        }
    }
    if ((st = gn_mf_meta_int(name, meta, "inputs", 1, &inputs)) ||
        (st = gn_mf_meta_int(name, meta, "classes", 2, &classes)) ||
        (st = gn_mf_meta_int(name, meta, "group_size", 1, &group_size)) ||
        (st = gn_mf_meta_str(name, meta, "graph", &graph)))
        goto error;

    size_t glen = json_string_length(json_object_get(meta, "graph"));
    int64_t groups = 0, edges = 0;
    if ((st = gn_mf_graph_counts(name, graph, glen, &groups, &edges)))
        goto error;
    if (groups > INT32_MAX - 2 || edges > INT32_MAX) {
        st = gn_fail(GN_ERR_FORMAT, "%s: metadata \"graph\": too many groups or edges", name);
        goto error;
    }
    char gname[512];
    snprintf(gname, sizeof gname, "%s: metadata \"graph\"", name);
    int64_t floats = dlen / (int64_t)sizeof(float);
    /* the pool: the data's floats and each block's padding (model.h) */
    const int64_t pool = floats + gn_param_slack(groups + 2 + edges);
    st = gn_graph_parse(graph, glen, gname, m, inputs, classes, group_size, (int32_t)groups + 2,
                        edges > 0 ? (int32_t)edges : 1, pool > 0 ? pool : 1);
    if (st == GN_ERR_FULL) {
        st = gn_fail(GN_ERR_FORMAT, "%s: the data section holds %" PRId64 " floats, fewer than "
                     "the graph's weights and biases need", name, floats);
        goto error;
    }
    if (st)
        goto error;
    if (norm && (st = gn_norm_init(norm, mode, inputs)))
        goto error;
    st = gn_mf_fill(name, root, data, m, norm);

error:
    json_decref(root);
    if (st) {
        gn_model_free(m);
        memset(m, 0, sizeof *m);
        if (norm) gn_norm_free(norm);
    }
    return st;
}

enum gn_status gn_modelfile_load(const char *path, struct gn_model *m, struct gn_norm *norm)
{
    if (!m)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_load: no model");
    memset(m, 0, sizeof *m);
    if (norm) memset(norm, 0, sizeof *norm);
    if (!path)
        return gn_fail(GN_ERR_INVALID, "gn_modelfile_load: no path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return gn_fail(GN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    enum gn_status st = GN_OK;
    unsigned char *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gn_fail(GN_ERR_IO, "%s: not a regular file", path);
        goto error;
    }
    size_t len = (size_t)sb.st_size;
    buf = malloc(len ? len : 1);
    if (!buf) {
        st = gn_fail(GN_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, len);
        goto error;
    }
    if (fread(buf, 1, len, f) != len) {
        st = gn_fail(GN_ERR_IO, "cannot read %s: %s", path,
                     ferror(f) ? strerror(errno) : "shorter than its size");
        goto error;
    }
    st = gn_modelfile_parse(buf, len, path, m, norm);

error:
    free(buf);
    fclose(f);
    return st;
}
