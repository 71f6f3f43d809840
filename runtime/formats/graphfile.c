/*
 * Graph files (graphfile.h): read with jansson and validate; write in
 * canonical order.
 *
 * Reading validates in one pass in file order, so the first problem in the
 * file is the one reported: the header (format, version, widths), then each
 * group (an object with a positive id not used before, then its inputs list:
 * each entry is 0 or an id in the map of ids defined so far, which makes the
 * file a DAG by construction; an id missing from the map is told apart as
 * the group itself, a forward reference or a dangling id by scanning the rest
 * of the array), then the output, then that every hidden group feeds
 * something and that the graph fits the pools. Ids map to file indices
 * through a jansson object keyed by the decimal id. Only then is the model
 * built: hidden group i in the next free slot, edges in file order, and the
 * file's order (input, groups, output) as the canonical order.
 *
 * Writing gives the hidden group at canonical position p the id p; in_list is
 * sorted by source position, so every inputs list names smaller ids. One
 * group per line (json_dumps of each group) to "<path>.tmp", then fflush,
 * fsync, rename over path and fsync of the directory. gn_graph_format
 * writes the same text into memory (open_memstream), for model files.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "graphfile.h"

#define GN_GRAPH_FORMAT "genet-graph"
#define GN_GRAPH_VERSION 1
#define GN_GRAPH_AT 512 /* room for a location prefix: the error buffer's size */

/* Validation state of one file. */
struct gn_graph_check {
    const char *name;
    int32_t inputs, classes, group_size;
    const json_t *groups; /* the "groups" array */
    json_t *ids;          /* "id" -> index in groups, for the groups checked so far */
    size_t *seen;         /* per node (0 the input, 1 + i group i): 1 + the list that last named it */
    uint8_t *fed;         /* per group: named by a later group or the output */
    int64_t n_edges;
    int64_t n_params; /* what gn_model_* will allocate, saturated at INT64_MAX */
};

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* The member key of obj, which must be present and of the given type. */
static enum gn_status gn_graph_field(const char *at, const json_t *obj, const char *key,
                                     json_type type, const char *type_text, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return gn_fail(GN_ERR_FORMAT, "%s: missing field \"%s\"", at, key);
    if (json_typeof(v) != type)
        return gn_fail(GN_ERR_FORMAT, "%s: field \"%s\" must be %s, not %s", at, key, type_text,
                       json_kind(v));
    *out = v;
    return GN_OK;
}

/* An informational field: absent, or an integer (a number if any_number). */
static enum gn_status gn_graph_optional(const char *at, const json_t *obj, const char *key,
                                        int any_number)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || (any_number ? json_is_number(v) : json_is_integer(v)))
        return GN_OK;
    return gn_fail(GN_ERR_FORMAT, "%s: field \"%s\" must be %s, not %s", at, key,
                   any_number ? "a number" : "an integer", json_kind(v));
}

static void gn_graph_id_key(char *buf, size_t size, json_int_t id)
{
    snprintf(buf, size, "%" JSON_INTEGER_FORMAT, id);
}

/* Whether a group after index `from` has this id. */
static int gn_graph_defined_after(const json_t *groups, size_t from, json_int_t id)
{
    for (size_t k = from + 1; k < json_array_size(groups); k++) {
        const json_t *v = json_object_get(json_array_get(groups, k), "id");
        if (json_is_integer(v) && json_integer_value(v) == id)
            return 1;
    }
    return 0;
}

static void gn_graph_add_params(struct gn_graph_check *c, int64_t w)
{
    w = gn_param_span(w); /* as gn_model_* allocates a block (model.h) */
    c->n_params = w > INT64_MAX - c->n_params ? INT64_MAX : c->n_params + w;
}

/* The inputs list of obj: group `self` (index in groups), or the output when
 * self is the number of groups (self_id is then 0, which no group has). */
static enum gn_status gn_graph_check_inputs(struct gn_graph_check *c, const char *at,
                                            const json_t *obj, size_t self, json_int_t self_id)
{
    json_t *list, *v;
    enum gn_status st = gn_graph_field(at, obj, "inputs", JSON_ARRAY, "an array", &list);
    if (st)
        return st;
    if (json_array_size(list) == 0)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: empty \"inputs\" list (a group needs at least one input)", at);
    int64_t dst_width = self == json_array_size(c->groups) ? c->classes : c->group_size;
    size_t k;
    json_array_foreach(list, k, v) {
        if (!json_is_integer(v))
            return gn_fail(GN_ERR_FORMAT, "%s: inputs[%zu] must be an integer, not %s", at, k,
                           json_kind(v));
        json_int_t id = json_integer_value(v);
        size_t node = 0;
        if (id != 0) {
            char key[32];
            gn_graph_id_key(key, sizeof key, id);
            const json_t *ix = json_object_get(c->ids, key);
            if (!ix && id == self_id)
                return gn_fail(GN_ERR_FORMAT,
                               "%s: inputs[%zu] names group %" JSON_INTEGER_FORMAT
                               ", the group itself (forward reference or cycle)",
                               at, k, id);
            if (!ix && gn_graph_defined_after(c->groups, self, id))
                return gn_fail(GN_ERR_FORMAT,
                               "%s: inputs[%zu] names group %" JSON_INTEGER_FORMAT
                               ", which is not defined before it (forward reference or cycle)",
                               at, k, id);
            if (!ix)
                return gn_fail(GN_ERR_FORMAT,
                               "%s: inputs[%zu] names group %" JSON_INTEGER_FORMAT
                               ", which is not defined (dangling id)",
                               at, k, id);
            node = 1 + (size_t)json_integer_value(ix);
        }
        if (c->seen[node] == self + 1)
            return gn_fail(GN_ERR_FORMAT,
                           "%s: inputs[%zu] names group %" JSON_INTEGER_FORMAT
                           " again (duplicate entry)",
                           at, k, id);
        c->seen[node] = self + 1;
        if (node > 0)
            c->fed[node - 1] = 1;
        c->n_edges++;
        gn_graph_add_params(c, (node == 0 ? c->inputs : c->group_size) * dst_width);
    }
    return GN_OK;
}

/* format, version, and the widths against the dataset and --group-size. */
static enum gn_status gn_graph_check_header(const struct gn_graph_check *c, const json_t *root)
{
    json_t *v;
    enum gn_status st;
    if (!json_is_object(root))
        return gn_fail(GN_ERR_FORMAT, "%s: the top level must be a JSON object, not %s", c->name,
                       json_kind(root));
    if ((st = gn_graph_field(c->name, root, "format", JSON_STRING, "a string", &v)))
        return st;
    if (strcmp(json_string_value(v), GN_GRAPH_FORMAT) != 0)
        return gn_fail(GN_ERR_FORMAT, "%s: field \"format\" is \"%s\", expected \"%s\"", c->name,
                       json_string_value(v), GN_GRAPH_FORMAT);
    if ((st = gn_graph_field(c->name, root, "version", JSON_INTEGER, "an integer", &v)))
        return st;
    if (json_integer_value(v) != GN_GRAPH_VERSION)
        return gn_fail(GN_ERR_FORMAT,
                       "%s: unsupported version %" JSON_INTEGER_FORMAT
                       " (this build reads version %d)",
                       c->name, json_integer_value(v), GN_GRAPH_VERSION);

    const struct {
        const char *key;
        int32_t want;
        const char *what;
    } widths[] = {
        {"inputs", c->inputs, "the dataset has %d features"},
        {"classes", c->classes, "the dataset has %d classes"},
        {"group_size", c->group_size, "the group size is %d (--group-size)"},
    };
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        if ((st = gn_graph_field(c->name, root, widths[i].key, JSON_INTEGER, "an integer", &v)))
            return st;
        if (json_integer_value(v) != widths[i].want) {
            char theirs[64];
            snprintf(theirs, sizeof theirs, widths[i].what, widths[i].want);
            return gn_fail(GN_ERR_FORMAT,
                           "%s: wrong widths: the file has \"%s\": %" JSON_INTEGER_FORMAT
                           " but %s",
                           c->name, widths[i].key, json_integer_value(v), theirs);
        }
    }
    return GN_OK;
}

/* Every group, in file order; c->groups, ids, seen and fed are set up here. */
static enum gn_status gn_graph_check_groups(struct gn_graph_check *c, const json_t *root)
{
    json_t *groups, *g, *idv;
    enum gn_status st = gn_graph_field(c->name, root, "groups", JSON_ARRAY, "an array", &groups);
    if (st)
        return st;
    size_t n = json_array_size(groups);
    c->groups = groups;
    c->ids = json_object();
    c->seen = calloc(n + 1, sizeof *c->seen);
    c->fed = calloc(n + 1, sizeof *c->fed);
    if (!c->ids || !c->seen || !c->fed)
        return gn_fail(GN_ERR_NOMEM, "%s: out of memory checking %zu groups", c->name, n);

    size_t i;
    json_array_foreach(groups, i, g) {
        char at[GN_GRAPH_AT], key[32];
        snprintf(at, sizeof at, "%s: groups[%zu]", c->name, i);
        if (!json_is_object(g))
            return gn_fail(GN_ERR_FORMAT, "%s must be an object, not %s", at, json_kind(g));
        if ((st = gn_graph_field(at, g, "id", JSON_INTEGER, "an integer", &idv)))
            return st;
        json_int_t id = json_integer_value(idv);
        if (id <= 0)
            return gn_fail(GN_ERR_FORMAT,
                           "%s: field \"id\" must be a positive integer (0 is the input), not "
                           "%" JSON_INTEGER_FORMAT,
                           at, id);
        snprintf(at, sizeof at, "%s: groups[%zu] (id %" JSON_INTEGER_FORMAT ")", c->name, i, id);
        gn_graph_id_key(key, sizeof key, id);
        const json_t *prev = json_object_get(c->ids, key);
        if (prev)
            return gn_fail(GN_ERR_FORMAT,
                           "%s: duplicate id, already used by groups[%" JSON_INTEGER_FORMAT "]",
                           at, json_integer_value(prev));
        if ((st = gn_graph_optional(at, g, "parent", 0)) ||
            (st = gn_graph_optional(at, g, "born", 0)) ||
            (st = gn_graph_optional(at, g, "grad_std", 1)))
            return st;
        if ((st = gn_graph_check_inputs(c, at, g, i, id)))
            return st;
        if (json_object_set_new(c->ids, key, json_integer((json_int_t)i)) != 0)
            return gn_fail(GN_ERR_NOMEM, "%s: out of memory", at);
        gn_graph_add_params(c, c->group_size);
    }
    return GN_OK;
}

/* The output, that every group feeds something, and the pool capacities. */
static enum gn_status gn_graph_check_rest(struct gn_graph_check *c, const json_t *root,
                                          int32_t max_groups, int32_t max_edges,
                                          int64_t max_params)
{
    json_t *out;
    char at[GN_GRAPH_AT];
    size_t n = json_array_size(c->groups);
    enum gn_status st = gn_graph_field(c->name, root, "output", JSON_OBJECT, "an object", &out);
    if (st)
        return st;
    snprintf(at, sizeof at, "%s: output", c->name);
    if ((st = gn_graph_check_inputs(c, at, out, n, 0)))
        return st;
    gn_graph_add_params(c, c->classes);

    for (size_t i = 0; i < n; i++)
        if (!c->fed[i])
            return gn_fail(GN_ERR_FORMAT,
                           "%s: groups[%zu] (id %" JSON_INTEGER_FORMAT
                           ") feeds no group and not the output (a hidden group needs a "
                           "successor)",
                           c->name, i,
                           json_integer_value(json_object_get(json_array_get(c->groups, i), "id")));

    if ((int64_t)n + 2 > max_groups)
        return gn_fail(GN_ERR_FULL,
                       "%s: the graph has %lld groups (input and output included) but the group "
                       "pool holds %d; raise --max-groups",
                       c->name, (long long)n + 2, max_groups);
    if (c->n_edges > max_edges)
        return gn_fail(GN_ERR_FULL,
                       "%s: the graph has %lld edges but the edge pool holds %d; raise "
                       "--max-edges",
                       c->name, (long long)c->n_edges, max_edges);
    if (c->n_params > max_params)
        return gn_fail(GN_ERR_FULL,
                       "%s: the graph needs %lld parameters (each block padded to 16 bytes) "
                       "but the parameter pool holds %lld; raise --max-params",
                       c->name, (long long)c->n_params, (long long)max_params);
    return GN_OK;
}

/* The edges of one checked inputs list into slot dst. */
static enum gn_status gn_graph_add_inputs(struct gn_model *m, const struct gn_graph_check *c,
                                          const json_t *obj, const int32_t *slot, int32_t dst)
{
    const json_t *list = json_object_get(obj, "inputs");
    json_t *v;
    size_t k;
    json_array_foreach(list, k, v) {
        int32_t src = GN_SLOT_INPUT;
        if (json_integer_value(v) != 0) {
            char key[32];
            gn_graph_id_key(key, sizeof key, json_integer_value(v));
            src = slot[1 + json_integer_value(json_object_get(c->ids, key))];
        }
        enum gn_status st = gn_model_add_edge(m, src, dst, NULL);
        if (st)
            return st;
    }
    return GN_OK;
}

/* Build the checked graph: slot[] is also the order hint. */
static enum gn_status gn_graph_build(struct gn_model *m, const struct gn_graph_check *c,
                                     const json_t *root)
{
    size_t n = json_array_size(c->groups);
    int32_t *slot = malloc((n + 2) * sizeof *slot);
    enum gn_status st = GN_OK;
    if (!slot)
        return gn_fail(GN_ERR_NOMEM, "%s: out of memory building %zu groups", c->name, n);
    slot[0] = GN_SLOT_INPUT;
    slot[n + 1] = GN_SLOT_OUTPUT;
    for (size_t i = 0; i < n && !st; i++)
        st = gn_model_add_group(m, &slot[1 + i]);
    for (size_t i = 0; i < n && !st; i++)
        st = gn_graph_add_inputs(m, c, json_array_get(c->groups, i), slot, slot[1 + i]);
    if (!st)
        st = gn_graph_add_inputs(m, c, json_object_get(root, "output"), slot, GN_SLOT_OUTPUT);
    if (!st)
        st = gn_model_rebuild(m, slot);
    free(slot);
    if (st) {
        char why[GN_GRAPH_AT];
        snprintf(why, sizeof why, "%s", gn_error_message());
        return gn_fail(st, "%s: %s", c->name, why);
    }
    return GN_OK;
}

enum gn_status gn_graph_parse(const char *text, size_t len, const char *name,
                              struct gn_model *m, int32_t inputs, int32_t classes,
                              int32_t group_size, int32_t max_groups, int32_t max_edges,
                              int64_t max_params)
{
    if (!m)
        return gn_fail(GN_ERR_INVALID, "gn_graph_parse: no model");
    memset(m, 0, sizeof *m);
    if (!text)
        return gn_fail(GN_ERR_INVALID, "gn_graph_parse: no text");
    if (!name)
        name = "graph";
    enum gn_status st =
        gn_model_init(m, inputs, classes, group_size, max_groups, max_edges, max_params);
    if (st)
        return st;

    struct gn_graph_check c = {
        .name = name, .inputs = inputs, .classes = classes, .group_size = group_size};
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory)
            st = gn_fail(GN_ERR_NOMEM, "%s: out of memory parsing JSON", name);
        else if (err.line > 0)
            st = gn_fail(GN_ERR_FORMAT, "%s: line %d column %d: JSON syntax error: %s", name,
                         err.line, err.column, err.text);
        else
            st = gn_fail(GN_ERR_FORMAT, "%s: JSON syntax error: %s", name, err.text);
        goto error;
    }
    if ((st = gn_graph_check_header(&c, root)) || (st = gn_graph_check_groups(&c, root)) ||
        (st = gn_graph_check_rest(&c, root, max_groups, max_edges, max_params)) ||
        (st = gn_graph_build(m, &c, root)))
        goto error;

error:
    json_decref(root);
    json_decref(c.ids);
    free(c.seen);
    free(c.fed);
    if (st)
        gn_model_free(m);
    return st;
}

/* The whole file into a malloc'd buffer. */
static enum gn_status gn_graph_slurp(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gn_fail(GN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    enum gn_status st = GN_OK;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *more = realloc(buf, cap * 2);
        if (!more) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    if (!buf)
        st = gn_fail(GN_ERR_NOMEM, "%s: out of memory reading the file", path);
    else if (ferror(f))
        st = gn_fail(GN_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *text = buf;
    *len = n;
    return GN_OK;
}

enum gn_status gn_graph_read(const char *path, struct gn_model *m, int32_t inputs,
                             int32_t classes, int32_t group_size, int32_t max_groups,
                             int32_t max_edges, int64_t max_params)
{
    if (!m)
        return gn_fail(GN_ERR_INVALID, "gn_graph_read: no model");
    memset(m, 0, sizeof *m);
    if (!path)
        return gn_fail(GN_ERR_INVALID, "gn_graph_read: no path");
    char *text = NULL;
    size_t len = 0;
    enum gn_status st = gn_graph_slurp(path, &text, &len);
    if (st)
        return st;
    st = gn_graph_parse(text, len, path, m, inputs, classes, group_size, max_groups, max_edges,
                        max_params);
    free(text);
    return st;
}

enum gn_status gn_graph_peek(const char *path, int32_t *inputs, int32_t *classes,
                             int32_t *group_size, int32_t *groups)
{
    char *text = NULL;
    size_t len = 0;
    enum gn_status st = gn_graph_slurp(path, &text, &len);
    if (st) return st;
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    free(text);
    if (!root)
        return gn_fail(GN_ERR_FORMAT, "%s: line %d column %d: JSON syntax error: %s", path,
                       err.line, err.column, err.text);
    json_t *i = json_object_get(root, "inputs"), *c = json_object_get(root, "classes");
    json_t *g = json_object_get(root, "group_size"), *l = json_object_get(root, "groups");
    if (!json_is_integer(i) || !json_is_integer(c) || !json_is_integer(g) || !json_is_array(l)) {
        json_decref(root);
        return gn_fail(GN_ERR_FORMAT,
                       "%s: needs integer \"inputs\", \"classes\", \"group_size\" and a "
                       "\"groups\" array",
                       path);
    }
    *inputs = (int32_t)json_integer_value(i);
    *classes = (int32_t)json_integer_value(c);
    *group_size = (int32_t)json_integer_value(g);
    *groups = (int32_t)json_array_size(l);
    json_decref(root);
    return GN_OK;
}

/* The model is rebuilt and in canonical order, so the ids written are valid. */
static enum gn_status gn_graph_check_model(const struct gn_model *m)
{
    int32_t n = m->n_groups;
    if (!m->groups || !m->order || n < 2 || n > m->max_groups || m->order[0] != GN_SLOT_INPUT ||
        m->order[n - 1] != GN_SLOT_OUTPUT)
        return gn_fail(GN_ERR_INVALID, "gn_graph_write: the model is not built");
    for (int32_t p = 0; p < n; p++) {
        int32_t g = m->order[p];
        const struct gn_group *gr = &m->groups[g];
        if (g < 0 || g >= n || gr->pos != p ||
            (p > 0 && p < n - 1 && gr->kind != GN_GROUP_HIDDEN) || gr->in_begin < 0 ||
            gr->in_count < 0 || gr->in_begin + gr->in_count > m->n_edges)
            return gn_fail(GN_ERR_INVALID,
                           "gn_graph_write: group %d at position %d is inconsistent (rebuild "
                           "the model first)",
                           g, p);
        for (int32_t k = 0; k < gr->in_count; k++) {
            int32_t src = m->edges[m->in_list[gr->in_begin + k]].src;
            if (src < 0 || src >= n || m->groups[src].pos >= p)
                return gn_fail(GN_ERR_INVALID,
                               "gn_graph_write: an in-edge of group %d goes against the order "
                               "(rebuild the model first)",
                               g);
        }
    }
    return GN_OK;
}

/* {"id": pos, "inputs": [source positions...], ...} for slot g (no id for
 * the output); NULL when out of memory. */
static json_t *gn_graph_group_json(const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    json_t *obj = json_object(), *list = json_array();
    int bad = !obj || !list;
    if (!bad && gr->kind == GN_GROUP_HIDDEN)
        bad = json_object_set_new(obj, "id", json_integer(gr->pos)) != 0;
    for (int32_t k = 0; k < gr->in_count && !bad; k++) {
        int32_t src = m->edges[m->in_list[gr->in_begin + k]].src;
        bad = json_array_append_new(list, json_integer(m->groups[src].pos)) != 0;
    }
    if (!bad)
        bad = json_object_set(obj, "inputs", list) != 0;
    if (!bad && gr->kind == GN_GROUP_HIDDEN) {
        int32_t par = gr->parent;
        if (par >= GN_SLOT_FIRST_HIDDEN && par < m->n_groups &&
            m->groups[par].kind == GN_GROUP_HIDDEN)
            bad = json_object_set_new(obj, "parent", json_integer(m->groups[par].pos)) != 0;
        if (!bad && gr->born > 0)
            bad = json_object_set_new(obj, "born", json_integer(gr->born)) != 0;
        if (!bad && gr->grad_std != 0.0f && isfinite(gr->grad_std))
            bad = json_object_set_new(obj, "grad_std", json_real(gr->grad_std)) != 0;
    }
    json_decref(list);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* One group's line (NULL-safe on obj); returns nonzero when out of memory. */
static int gn_graph_put(FILE *f, json_t *obj, const char *before)
{
    char *s = obj ? json_dumps(obj, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(obj);
    if (!s)
        return 1;
    fprintf(f, "%s%s", before, s);
    free(s);
    return 0;
}

static enum gn_status gn_graph_emit(FILE *f, const struct gn_model *m)
{
    int32_t n = m->n_groups;
    fprintf(f,
            "{\"format\": \"%s\", \"version\": %d,\n"
            " \"inputs\": %d, \"classes\": %d, \"group_size\": %d,\n"
            " \"groups\": [",
            GN_GRAPH_FORMAT, GN_GRAPH_VERSION, m->inputs, m->classes, m->group_size);
    for (int32_t p = 1; p < n - 1; p++)
        if (gn_graph_put(f, gn_graph_group_json(m, m->order[p]), p == 1 ? "\n  " : ",\n  "))
            return gn_fail(GN_ERR_NOMEM, "gn_graph_write: out of memory");
    fprintf(f, "%s],\n \"output\": ", n > 2 ? "\n " : "");
    if (gn_graph_put(f, gn_graph_group_json(m, GN_SLOT_OUTPUT), ""))
        return gn_fail(GN_ERR_NOMEM, "gn_graph_write: out of memory");
    fprintf(f, "}\n");
    return GN_OK;
}

enum gn_status gn_graph_format(const struct gn_model *m, char **text, size_t *len)
{
    if (!m || !text || !len)
        return gn_fail(GN_ERR_INVALID, "gn_graph_format: no model or output");
    *text = NULL;
    *len = 0;
    enum gn_status st = gn_graph_check_model(m);
    if (st)
        return st;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return gn_fail(GN_ERR_NOMEM, "gn_graph_format: out of memory");
    st = gn_graph_emit(f, m);
    if ((fclose(f) != 0 || !buf) && !st)
        st = gn_fail(GN_ERR_NOMEM, "gn_graph_format: out of memory");
    if (st) {
        free(buf);
        return st;
    }
    *text = buf;
    *len = n;
    return GN_OK;
}

/* Make a completed rename durable (best effort: not every file system can). */
static void gn_graph_sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

enum gn_status gn_graph_write(const char *path, const struct gn_model *m)
{
    if (!path || !m)
        return gn_fail(GN_ERR_INVALID, "gn_graph_write: no %s", path ? "model" : "path");
    enum gn_status st = gn_graph_check_model(m);
    if (st)
        return st;
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return gn_fail(GN_ERR_NOMEM, "gn_graph_write: out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);

    FILE *f = fopen(tmp, "w");
    if (!f) {
        st = gn_fail(GN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto error;
    }
    st = gn_graph_emit(f, m);
    if (!st && (ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0))
        st = gn_fail(GN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && !st)
        st = gn_fail(GN_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = gn_fail(GN_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st)
        unlink(tmp);
    else
        gn_graph_sync_dir(path);

error:
    free(tmp);
    return st;
}
