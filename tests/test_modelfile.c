/*
 * Model files (runtime/formats/modelfile.c) and the gn_net API: a grown
 * network trained a few serial steps, saved and loaded back, must have
 * every weight and bias bitwise equal and give bitwise the logits of the
 * trainer's forward and the accuracy of its evaluation; a checkpoint
 * exports to the same bytes; every malformed file (a cut length, a header
 * that is not JSON, a missing or extra tensor, a wrong dtype or shape,
 * offsets out of range or overlapping, a missing or invalid graph,
 * mismatched widths) is a GN_ERR_FORMAT naming the problem, and so is every
 * truncation; byte flips never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "backend.h"
#include "genet/genet.h"
#include "modelfile.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

static char *dir;
static struct gn_data train, test;
static void *good; /* a valid model file of a grown network */
static size_t good_len;

/* Blobs: class c has its mean at a seeded point; 3 classes, 10 features. */
static const struct gn_test_blobs blobs = {3, 10, 0.2f, 1, 0};

static struct gn_settings small(void)
{
    struct gn_settings s;
    gn_default_settings(&s);
    s.backend = GN_BACKEND_SERIAL;
    s.group_size = 6;
    s.batch = 16;
    s.epochs = 0;
    s.steps = 40;
    s.lr = 0.05f;
    s.grow = GN_GROW_ALTERNATE;
    s.grow_every = 5;
    s.grow_threshold = 0.0f; /* growth is certain */
    s.max_groups = 16;
    s.normalize = GN_NORMALIZE_NONE; /* the normalized case: test_normalized */
    return s;
}

static int setup(void **state)
{
    (void)state;
    dir = gn_test_tmpdir();
    if (gn_test_load_blobs(dir, 400, 300, gn_test_seed(), &blobs, &train, &test))
        return -1;
    struct gn_settings s = small();
    gn_trainer *t;
    if (gn_trainer_open(&t, &s, &train, &test, NULL) || gn_trainer_run(t, NULL, NULL) ||
        gn_modelfile_encode(gn_trainer_model(t), gn_trainer_norm(t), &good, &good_len)) {
        fprintf(stderr, "%s\n", gn_error_message());
        return -1;
    }
    gn_trainer_close(t);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(good);
    gn_data_free(&train);
    gn_data_free(&test);
    gn_test_rmdir(dir);
    return 0;
}

/* Same graph in canonical order, every weight and bias bitwise equal. */
static void assert_same_model(const struct gn_model *a, const struct gn_model *b)
{
    assert_int_equal(a->n_groups, b->n_groups);
    assert_int_equal(a->inputs, b->inputs);
    assert_int_equal(a->classes, b->classes);
    int64_t compared = 0;
    for (int32_t p = 1; p < a->n_groups; p++) {
        const struct gn_group *ga = &a->groups[a->order[p]], *gb = &b->groups[b->order[p]];
        assert_int_equal(ga->width, gb->width);
        assert_int_equal(ga->in_count, gb->in_count);
        assert_memory_equal(a->params + ga->bias, b->params + gb->bias,
                            (size_t)ga->width * sizeof(float));
        compared += ga->width;
        for (int32_t i = 0; i < ga->in_count; i++) {
            const struct gn_edge *ea = &a->edges[a->in_list[ga->in_begin + i]];
            const struct gn_edge *eb = &b->edges[b->in_list[gb->in_begin + i]];
            assert_int_equal(a->groups[ea->src].pos, b->groups[eb->src].pos);
            size_t n = (size_t)a->groups[ea->src].width * (size_t)ga->width;
            assert_memory_equal(a->params + ea->w, b->params + eb->w, n * sizeof(float));
            compared += (int64_t)n;
        }
    }
    assert_int_equal(compared, gn_model_param_count(a));
}

static void test_round_trip(void **state)
{
    (void)state;
    struct gn_settings s = small();
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    struct gn_model *tm = gn_trainer_model(t);
    assert_true(tm->n_groups > 4); /* grown: a DAG, not a chain of one */

    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(gn_trainer_save_model(t, path), GN_OK);
    struct gn_model r;
    assert_int_equal(gn_modelfile_load(path, &r, NULL), GN_OK);
    assert_same_model(tm, &r);
    gn_model_free(&r);

    /* logits: the net against the trainer's model through the serial forward */
    struct gn_buffers b;
    assert_int_equal(gn_buffers_init(&b, tm, test.count), GN_OK);
    uint8_t *y = calloc((size_t)test.count, 1);
    b.x = test.x;
    b.y = y;
    b.rows = test.count;
    gn_backend_host_forward(tm, &b);
    gn_net *n;
    assert_int_equal(gn_net_load(&n, path), GN_OK);
    assert_int_equal(gn_net_inputs(n), 10);
    assert_int_equal(gn_net_classes(n), 3);
    assert_int_equal(gn_net_groups(n), tm->n_groups - 2);
    float *z = malloc((size_t)test.count * 3 * sizeof *z);
    assert_int_equal(gn_net_logits(n, test.x, test.count, z), GN_OK);
    assert_memory_equal(z, gn_act(&b, GN_SLOT_OUTPUT), (size_t)test.count * 3 * sizeof *z);

    double l0, a0, l1, a1;
    int64_t conf[9], sum = 0, diag = 0;
    assert_int_equal(gn_trainer_evaluate(t, &test, &l0, &a0), GN_OK);
    assert_int_equal(gn_net_evaluate(n, &test, &l1, &a1, conf), GN_OK);
    assert_true(a0 == a1);
    assert_true(l1 > l0 - 1e-9 * (1 + l0) && l1 < l0 + 1e-9 * (1 + l0));
    for (int i = 0; i < 9; i++) sum += conf[i];
    for (int i = 0; i < 3; i++) diag += conf[i * 4];
    assert_int_equal(sum, test.count);
    assert_true(diag == (int64_t)(a1 * test.count + 0.5));

    /* a dataset of another shape is refused */
    struct gn_data narrow = test;
    narrow.features = 9;
    assert_int_equal(gn_net_evaluate(n, &narrow, &l1, &a1, NULL), GN_ERR_INVALID);
    assert_non_null(strstr(gn_error_message(), "features"));

    free(z);
    free(y);
    gn_buffers_free(&b);
    gn_net_close(n);
    gn_trainer_close(t);
}

static void test_export_checkpoint(void **state)
{
    (void)state;
    struct gn_settings s = small();
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    char ck[512], a[512], b[512];
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    assert_int_equal(gn_trainer_save_checkpoint(t, ck), GN_OK);
    assert_int_equal(gn_trainer_save_model(t, a), GN_OK);
    assert_int_equal(gn_checkpoint_export(ck, b), GN_OK);
    gn_trainer_close(t);
    struct gn_model ma, mb;
    assert_int_equal(gn_modelfile_load(a, &ma, NULL), GN_OK);
    assert_int_equal(gn_modelfile_load(b, &mb, NULL), GN_OK);
    assert_same_model(&ma, &mb);
    gn_model_free(&ma);
    gn_model_free(&mb);
    assert_int_equal(gn_checkpoint_export(a, b), GN_ERR_FORMAT); /* not a checkpoint */
}

/* A model trained on normalized inputs carries the normalization: the
 * statistics come back bitwise, a reader that cannot apply them refuses
 * the file, and gn_net on raw rows equals the trainer on raw rows (both
 * normalize them as training did). */
static void test_normalized(void **state)
{
    (void)state;
    struct gn_settings s = small();
    s.normalize = GN_NORMALIZE_STANDARD;
    gn_trainer *t;
    assert_int_equal(gn_trainer_open(&t, &s, &train, &test, NULL), GN_OK);
    assert_int_equal(gn_trainer_run(t, NULL, NULL), GN_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/normed.safetensors", dir);
    assert_int_equal(gn_trainer_save_model(t, path), GN_OK);
    const struct gn_norm *tn = gn_trainer_norm(t);
    struct gn_model m;
    struct gn_norm n;
    assert_int_equal(gn_modelfile_load(path, &m, &n), GN_OK);
    assert_int_equal(n.mode, GN_NORMALIZE_STANDARD);
    assert_int_equal(n.features, 10);
    assert_memory_equal(n.shift, tn->shift, 10 * sizeof(float));
    assert_memory_equal(n.scale, tn->scale, 10 * sizeof(float));
    assert_same_model(gn_trainer_model(t), &m);
    gn_model_free(&m);
    gn_norm_free(&n);
    assert_int_equal(gn_modelfile_load(path, &m, NULL), GN_ERR_FORMAT);
    assert_non_null(strstr(gn_error_message(), "normalization"));

    double l0, a0, l1, a1;
    gn_net *net;
    assert_int_equal(gn_net_load(&net, path), GN_OK);
    assert_int_equal(gn_trainer_evaluate(t, &test, &l0, &a0), GN_OK);
    assert_int_equal(gn_net_evaluate(net, &test, &l1, &a1, NULL), GN_OK);
    assert_true(a0 == a1);
    assert_true(l1 > l0 - 1e-9 * (1 + l0) && l1 < l0 + 1e-9 * (1 + l0));
    gn_net_close(net);
    gn_trainer_close(t);
}

/* ---- malformed files ----------------------------------------------------- */

/* good's header as JSON, and where its data starts. */
static json_t *good_header(size_t *data_at)
{
    const unsigned char *p = good;
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)p[k] << (8 * k);
    *data_at = 8 + (size_t)n;
    json_t *h = json_loadb((const char *)p + 8, (size_t)n, 0, NULL);
    assert_non_null(h);
    return h;
}

/* A file of header h (consumed) and good's data plus extra bytes. */
static void *assemble(json_t *h, size_t extra, size_t *len)
{
    size_t at;
    json_decref(good_header(&at));
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    assert_non_null(text);
    size_t hl = strlen(text), dl = good_len - at;
    unsigned char *out = calloc(8 + hl + dl + extra, 1);
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(out + 8, text, hl);
    memcpy(out + 8 + hl, (const char *)good + at, dl);
    free(text);
    *len = 8 + hl + dl + extra;
    return out;
}

/* Parsing buf must fail with GN_ERR_FORMAT and a message holding want. */
static void expect_bad(const void *buf, size_t len, const char *want, const char *what)
{
    struct gn_model m;
    enum gn_status st = gn_modelfile_parse(buf, len, "bad.safetensors", &m, NULL);
    if (st != GN_ERR_FORMAT || !strstr(gn_error_message(), want)) {
        fprintf(stderr, "%s: status %d, message \"%s\", wanted \"%s\"\n", what, (int)st,
                gn_error_message(), want);
        fail();
    }
    assert_null(m.groups);
}

static json_t *tensor(json_t *h, const char *name)
{
    json_t *t = json_object_get(h, name);
    assert_non_null(t);
    return t;
}

static void meta_set(json_t *h, const char *key, const char *value)
{
    json_t *meta = json_object_get(h, "__metadata__");
    if (value) json_object_set_new(meta, key, json_string(value));
    else json_object_del(meta, key);
}

static void test_malformed(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(gn_modelfile_parse(good, good_len, "good", &m, NULL), GN_OK);
    gn_model_free(&m);
    size_t at, len;
    void *buf;
    unsigned char *raw = malloc(good_len);

    expect_bad(good, 5, "too short", "5 bytes");
    memcpy(raw, good, good_len);
    raw[5] = 1; /* a huge header length */
    expect_bad(raw, good_len, "bad header length", "huge length");
    memcpy(raw, good, good_len);
    raw[8] = 'x';
    expect_bad(raw, good_len, "not JSON", "header not JSON");
    expect_bad(good, good_len - 4, "out of range", "truncated data");

#define CASE(want, code)                                                                       \
    do {                                                                                       \
        json_t *h = good_header(&at);                                                          \
        size_t extra = 0;                                                                      \
        code;                                                                                  \
        buf = assemble(h, extra, &len);                                                        \
        expect_bad(buf, len, want, #code);                                                     \
        free(buf);                                                                             \
    } while (0)

    CASE("dtype \"F16\"",
         json_object_set_new(tensor(h, "edge.0->1.weight"), "dtype", json_string("F16")));
    CASE("is missing", json_object_set(h, "group.99.bias", tensor(h, "group.1.bias"));
         json_object_del(h, "group.1.bias"));
    CASE("not part of the graph",
         extra = 4;
         json_object_set_new(h, "stray", json_pack("{s:s,s:[i],s:[I,I]}", "dtype", "F32", "shape",
                                                   1, "data_offsets",
                                                   (json_int_t)(good_len - at),
                                                   (json_int_t)(good_len - at + 4))));
    CASE("the graph needs [10, 6]", {
        json_t *sh = json_object_get(tensor(h, "edge.0->1.weight"), "shape");
        json_array_set_new(sh, 0, json_integer(6));
        json_array_set_new(sh, 1, json_integer(10));
    });
    CASE("out of range", {
        json_t *off = json_object_get(tensor(h, "output.bias"), "data_offsets");
        json_array_set_new(off, 1, json_integer(json_integer_value(json_array_get(off, 1)) + 4));
    });
    CASE("overlap", {
        json_t *off = json_object_get(tensor(h, "output.bias"), "data_offsets");
        for (int k = 0; k < 2; k++)
            json_array_set_new(off, (size_t)k,
                               json_integer(json_integer_value(json_array_get(off, (size_t)k)) - 4));
    });
    CASE("hold", json_array_set_new(json_object_get(tensor(h, "group.1.bias"), "shape"), 0,
                                    json_integer(7)));
    CASE("shape", json_object_set_new(tensor(h, "group.1.bias"), "shape", json_string("6")));
    CASE("no \"__metadata__\"", json_object_del(h, "__metadata__"));
    CASE("no \"graph\"", meta_set(h, "graph", NULL));
    CASE("JSON syntax error", meta_set(h, "graph", "{\"format\": "));
    CASE("dangling id",
         meta_set(h, "graph", "{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 10, "
                              "\"classes\": 3, \"group_size\": 6, \"groups\": [{\"id\": 1, "
                              "\"inputs\": [2]}], \"output\": {\"inputs\": [1]}}"));
    CASE("inputs", meta_set(h, "inputs", "11"));
    CASE("classes", meta_set(h, "classes", "4"));
    CASE("group_size", meta_set(h, "group_size", "5"));
    CASE("not an integer", meta_set(h, "classes", "three"));
    CASE("expected \"genet-model\"", meta_set(h, "format", "other"));
    CASE("version 2", meta_set(h, "version", "2"));
    CASE("normalization", meta_set(h, "normalize", "{}"));
    CASE("must be a string",
         json_object_set_new(json_object_get(h, "__metadata__"), "inputs", json_integer(10)));
#undef CASE

    /* every truncation fails cleanly; byte flips never crash */
    for (size_t n = 0; n < good_len; n += (n < 600 ? 1 : 37)) {
        struct gn_model t;
        assert_int_not_equal(gn_modelfile_parse(good, n, "cut", &t, NULL), GN_OK);
    }
    uint64_t seed = gn_test_seed();
    for (int i = 0; i < 3000; i++) {
        memcpy(raw, good, good_len);
        for (int k = 0; k < 1 + i % 4; k++) {
            uint64_t r = gn_rng_u64(seed, GN_RNG_TEST, 900, (uint64_t)(i * 4 + k));
            raw[(r >> 8) % good_len] ^= (unsigned char)(1u << (r & 7));
        }
        struct gn_model t;
        if (gn_modelfile_parse(raw, good_len, "flip", &t, NULL) == GN_OK) gn_model_free(&t);
    }
    free(raw);

    gn_net *n;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    assert_int_equal(gn_net_load(&n, path), GN_ERR_IO);
    assert_null(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_export_checkpoint),
        cmocka_unit_test(test_normalized),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
