/*
 * Graph files: good files, the files in tests/data, every error with its
 * message, pool limits, and write -> read round trips of random DAGs (fresh
 * seed each run, printed on failure) compared structurally position by
 * position and byte for byte after a second write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "graphfile.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

#define IN 784
#define CL 10
#define S 32
#define MAXG 64
#define MAXE 512
#define MAXP 4000000

#define HEAD "{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 784, \"classes\": 10, " \
             "\"group_size\": 32, "

static char tmpdir[256];

static enum gn_status parse(const char *text, struct gn_model *m)
{
    return gn_graph_parse(text, strlen(text), "graph.json", m, IN, CL, S, MAXG, MAXE, MAXP);
}

/* Sources of the group at position p, as positions. */
static int in_positions(const struct gn_model *m, int32_t p, int32_t *out)
{
    const struct gn_group *g = &m->groups[m->order[p]];
    for (int32_t k = 0; k < g->in_count; k++)
        out[k] = m->groups[m->edges[m->in_list[g->in_begin + k]].src].pos;
    return g->in_count;
}

static void assert_inputs(const struct gn_model *m, int32_t p, int n, const int32_t *want)
{
    int32_t got[64];
    assert_int_equal(in_positions(m, p, got), n);
    for (int k = 0; k < n; k++)
        assert_int_equal(got[k], want[k]);
}

/* Same groups and edges, position by position; prints the first difference. */
static int same_structure(const struct gn_model *a, const struct gn_model *b)
{
    if (a->n_groups != b->n_groups || a->n_edges != b->n_edges || a->depth != b->depth) {
        printf("groups %d/%d edges %d/%d depth %d/%d\n", a->n_groups, b->n_groups, a->n_edges,
               b->n_edges, a->depth, b->depth);
        return 0;
    }
    for (int32_t p = 0; p < a->n_groups; p++) {
        const struct gn_group *ga = &a->groups[a->order[p]], *gb = &b->groups[b->order[p]];
        int32_t ia[256], ib[256];
        if (ga->kind != gb->kind || ga->width != gb->width || ga->in_count != gb->in_count ||
            ga->out_count != gb->out_count) {
            printf("position %d: kind %d/%d width %d/%d in %d/%d out %d/%d\n", p, ga->kind,
                   gb->kind, ga->width, gb->width, ga->in_count, gb->in_count, ga->out_count,
                   gb->out_count);
            return 0;
        }
        int n = in_positions(a, p, ia);
        in_positions(b, p, ib);
        for (int k = 0; k < n; k++) {
            if (ia[k] != ib[k]) {
                printf("position %d: in-edge %d from position %d/%d\n", p, k, ia[k], ib[k]);
                return 0;
            }
        }
    }
    return 1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1 << 20, 1);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void data_path(char *buf, size_t size, const char *file)
{
    const char *src = getenv("GN_TEST_SRCDIR");
    snprintf(buf, size, "%s/data/%s", src ? src : "tests", file);
}

static void test_design_example(void **state)
{
    (void)state;
    struct gn_model m;
    const char *text = "{\"format\": \"genet-graph\", \"version\": 1,\n"
                       " \"inputs\": 784, \"classes\": 10, \"group_size\": 32,\n"
                       " \"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [0, 1]}],\n"
                       " \"output\": {\"inputs\": [2]}}";
    assert_int_equal(parse(text, &m), GN_OK);
    assert_int_equal(m.n_groups, 4);
    assert_int_equal(m.n_edges, 4);
    assert_int_equal(m.depth, 3);
    assert_int_equal(m.order[0], GN_SLOT_INPUT);
    assert_int_equal(m.order[3], GN_SLOT_OUTPUT);
    assert_int_equal(m.groups[m.order[1]].width, S);
    assert_int_equal(m.groups[GN_SLOT_OUTPUT].width, CL);
    assert_inputs(&m, 1, 1, (int32_t[]){0});
    assert_inputs(&m, 2, 2, (int32_t[]){0, 1});
    assert_inputs(&m, 3, 1, (int32_t[]){2});
    /* biases + 784x32 + 784x32 + 32x32 + 32x10 */
    assert_int_equal(gn_model_param_count(&m), 10 + 2 * 32 + 2 * 784 * 32 + 32 * 32 + 32 * 10);
    gn_model_free(&m);
}

static void test_data_files(void **state)
{
    (void)state;
    char path[1024];
    struct gn_model m;
    data_path(path, sizeof path, "diamond.json");
    assert_int_equal(gn_graph_read(path, &m, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
    assert_int_equal(m.n_groups, 5);
    assert_int_equal(m.n_edges, 5);
    assert_int_equal(m.depth, 3);
    assert_inputs(&m, 3, 2, (int32_t[]){1, 2});
    assert_inputs(&m, 4, 1, (int32_t[]){3});
    gn_model_free(&m);

    data_path(path, sizeof path, "mlp-2x64.json");
    assert_int_equal(gn_graph_read(path, &m, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
    assert_int_equal(m.n_groups, 6);
    assert_int_equal(m.n_edges, 8);
    assert_int_equal(m.depth, 3);
    assert_inputs(&m, 1, 1, (int32_t[]){0});
    assert_inputs(&m, 2, 1, (int32_t[]){0});
    assert_inputs(&m, 3, 2, (int32_t[]){1, 2});
    assert_inputs(&m, 4, 2, (int32_t[]){1, 2});
    assert_inputs(&m, 5, 2, (int32_t[]){3, 4});
    gn_model_free(&m);
}

static void test_chain(void **state)
{
    (void)state;
    char text[4096];
    int n = snprintf(text, sizeof text, HEAD "\"groups\": [");
    for (int i = 1; i <= 20; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s{\"id\": %d, \"inputs\": [%d]}",
                      i > 1 ? ", " : "", i, i - 1);
    snprintf(text + n, sizeof text - (size_t)n, "], \"output\": {\"inputs\": [20]}}");
    struct gn_model m;
    assert_int_equal(parse(text, &m), GN_OK);
    assert_int_equal(m.n_groups, 22);
    assert_int_equal(m.n_edges, 21);
    assert_int_equal(m.depth, 21);
    for (int p = 1; p < 22; p++)
        assert_inputs(&m, p, 1, (int32_t[]){p - 1});
    gn_model_free(&m);
}

/* Any positive ids, in any order of value; extra and informational fields. */
static void test_ids_and_extra_fields(void **state)
{
    (void)state;
    struct gn_model m;
    const char *text = HEAD "\"comment\": \"hand written\", \"groups\": ["
                            "{\"id\": 900, \"inputs\": [0], \"born\": 0, \"note\": [1, 2]},"
                            "{\"id\": 7, \"inputs\": [900, 0], \"parent\": 900, \"born\": 120,"
                            " \"grad_std\": 0.25},"
                            "{\"id\": 8, \"inputs\": [7], \"grad_std\": 1}],"
                            "\"output\": {\"inputs\": [8, 900], \"label\": \"out\"}}";
    assert_int_equal(parse(text, &m), GN_OK);
    assert_int_equal(m.n_groups, 5);
    assert_int_equal(m.n_edges, 6);
    assert_int_equal(m.groups[m.order[2]].born, 0); /* informational: not read */
    /* In-edges come back sorted by position whatever the file's order. */
    assert_inputs(&m, 2, 2, (int32_t[]){0, 1});
    assert_inputs(&m, 4, 2, (int32_t[]){1, 3});
    gn_model_free(&m);
}

static void test_write_format(void **state)
{
    (void)state;
    struct gn_model m;
    char path[512];
    snprintf(path, sizeof path, "%s/example.json", tmpdir);
    assert_int_equal(parse(HEAD "\"groups\": [{\"id\": 5, \"inputs\": [0]},"
                                "{\"id\": 3, \"inputs\": [5, 0]}], \"output\": {\"inputs\": [3]}}",
                           &m),
                     GN_OK);
    m.groups[m.order[2]].parent = m.order[1];
    m.groups[m.order[2]].born = 40;
    m.groups[m.order[2]].grad_std = 0.5f;
    assert_int_equal(gn_graph_write(path, &m), GN_OK);
    char *text = slurp(path);
    assert_string_equal(text, "{\"format\": \"genet-graph\", \"version\": 1,\n"
                              " \"inputs\": 784, \"classes\": 10, \"group_size\": 32,\n"
                              " \"groups\": [\n"
                              "  {\"id\": 1, \"inputs\": [0]},\n"
                              "  {\"id\": 2, \"inputs\": [0, 1], \"parent\": 1, \"born\": 40,"
                              " \"grad_std\": 0.5}\n"
                              " ],\n"
                              " \"output\": {\"inputs\": [2]}}\n");
    free(text);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    unlink(path);
    gn_model_free(&m);
}

/* The default start graph (no hidden group fed by anything but the input)
 * and a file with no hidden groups at all. */
static void test_small_graphs(void **state)
{
    (void)state;
    struct gn_model m, r;
    char path[512];
    snprintf(path, sizeof path, "%s/small.json", tmpdir);
    assert_int_equal(gn_model_init(&m, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
    assert_int_equal(gn_model_build_default(&m), GN_OK);
    assert_int_equal(gn_graph_write(path, &m), GN_OK);
    assert_int_equal(gn_graph_read(path, &r, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
    assert_true(same_structure(&m, &r));
    gn_model_free(&m);
    gn_model_free(&r);

    assert_int_equal(parse(HEAD "\"groups\": [], \"output\": {\"inputs\": [0]}}", &m), GN_OK);
    assert_int_equal(m.n_groups, 2);
    assert_int_equal(gn_graph_write(path, &m), GN_OK);
    char *text = slurp(path);
    assert_non_null(strstr(text, "\"groups\": [],\n \"output\": {\"inputs\": [0]}}"));
    free(text);
    assert_int_equal(gn_graph_read(path, &r, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
    assert_true(same_structure(&m, &r));
    gn_model_free(&m);
    gn_model_free(&r);
    unlink(path);
}

struct bad_case {
    const char *text;
    enum gn_status status;
    const char *message; /* a distinctive substring */
};

static const struct bad_case bad_cases[] = {
    {"{\"format\": \"genet-graph\",\n \"version\": 1,,\n}", GN_ERR_FORMAT,
     "graph.json: line 2 column 15: JSON syntax error: "},
    {"", GN_ERR_FORMAT, "JSON syntax error"},
    {HEAD "\"groups\": [], \"output\": {\"inputs\": [0]}} trailing", GN_ERR_FORMAT,
     "JSON syntax error: end of file expected"},
    {HEAD "\"groups\": [], \"groups\": [], \"output\": {\"inputs\": [0]}}", GN_ERR_FORMAT,
     "JSON syntax error: duplicate object key"},
    {"[1, 2]", GN_ERR_FORMAT, "graph.json: the top level must be a JSON object, not an array"},
    {"{\"version\": 1}", GN_ERR_FORMAT, "graph.json: missing field \"format\""},
    {"{\"format\": 3}", GN_ERR_FORMAT, "field \"format\" must be a string, not an integer"},
    {"{\"format\": \"genet-net\"}", GN_ERR_FORMAT,
     "field \"format\" is \"genet-net\", expected \"genet-graph\""},
    {"{\"format\": \"genet-graph\"}", GN_ERR_FORMAT, "graph.json: missing field \"version\""},
    {"{\"format\": \"genet-graph\", \"version\": \"1\"}", GN_ERR_FORMAT,
     "field \"version\" must be an integer, not a string"},
    {"{\"format\": \"genet-graph\", \"version\": 2}", GN_ERR_FORMAT,
     "unsupported version 2 (this build reads version 1)"},
    {"{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 784, \"group_size\": 32}",
     GN_ERR_FORMAT, "graph.json: missing field \"classes\""},
    {"{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 784.0}", GN_ERR_FORMAT,
     "field \"inputs\" must be an integer, not a real number"},
    {"{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 100}", GN_ERR_FORMAT,
     "graph.json: wrong widths: the file has \"inputs\": 100 but the dataset has 784 features"},
    {"{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 784, \"classes\": 3}",
     GN_ERR_FORMAT, "wrong widths: the file has \"classes\": 3 but the dataset has 10 classes"},
    {"{\"format\": \"genet-graph\", \"version\": 1, \"inputs\": 784, \"classes\": 10,"
     " \"group_size\": 16}",
     GN_ERR_FORMAT, "wrong widths: the file has \"group_size\": 16 but the group size is 32"},
    {HEAD "\"output\": {\"inputs\": [0]}}", GN_ERR_FORMAT, "graph.json: missing field \"groups\""},
    {HEAD "\"groups\": {}}", GN_ERR_FORMAT, "field \"groups\" must be an array, not an object"},
    {HEAD "\"groups\": [[0]]}", GN_ERR_FORMAT, "graph.json: groups[0] must be an object, not an array"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"inputs\": [1]}]}", GN_ERR_FORMAT,
     "graph.json: groups[1]: missing field \"id\""},
    {HEAD "\"groups\": [{\"id\": \"a\", \"inputs\": [0]}]}", GN_ERR_FORMAT,
     "groups[0]: field \"id\" must be an integer, not a string"},
    {HEAD "\"groups\": [{\"id\": 0, \"inputs\": [0]}]}", GN_ERR_FORMAT,
     "groups[0]: field \"id\" must be a positive integer (0 is the input), not 0"},
    {HEAD "\"groups\": [{\"id\": -4, \"inputs\": [0]}]}", GN_ERR_FORMAT,
     "must be a positive integer (0 is the input), not -4"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [1]},"
          " {\"id\": 1, \"inputs\": [2]}]}",
     GN_ERR_FORMAT, "graph.json: groups[2] (id 1): duplicate id, already used by groups[0]"},
    {HEAD "\"groups\": [{\"id\": 1}]}", GN_ERR_FORMAT,
     "graph.json: groups[0] (id 1): missing field \"inputs\""},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": 0}]}", GN_ERR_FORMAT,
     "groups[0] (id 1): field \"inputs\" must be an array, not an integer"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": []}]}", GN_ERR_FORMAT,
     "groups[0] (id 1): empty \"inputs\" list"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0, null]}]}", GN_ERR_FORMAT,
     "groups[0] (id 1): inputs[1] must be an integer, not null"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [1, 9]}]}",
     GN_ERR_FORMAT,
     "graph.json: groups[1] (id 2): inputs[1] names group 9, which is not defined (dangling id)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0, -1]}]}", GN_ERR_FORMAT,
     "inputs[1] names group -1, which is not defined (dangling id)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0, 2]}, {\"id\": 2, \"inputs\": [0]}]}",
     GN_ERR_FORMAT,
     "groups[0] (id 1): inputs[1] names group 2, which is not defined before it (forward "
     "reference or cycle)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [2]}, {\"id\": 2, \"inputs\": [1]}]}",
     GN_ERR_FORMAT, "(forward reference or cycle)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [1, 2]}]}",
     GN_ERR_FORMAT,
     "groups[1] (id 2): inputs[1] names group 2, the group itself (forward reference or "
     "cycle)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [1, 0, 1]}]}",
     GN_ERR_FORMAT, "groups[1] (id 2): inputs[2] names group 1 again (duplicate entry)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0, 0]}]}", GN_ERR_FORMAT,
     "groups[0] (id 1): inputs[1] names group 0 again (duplicate entry)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0], \"parent\": \"x\"}]}", GN_ERR_FORMAT,
     "groups[0] (id 1): field \"parent\" must be an integer, not a string"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0], \"born\": 1.5}]}", GN_ERR_FORMAT,
     "field \"born\" must be an integer, not a real number"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0], \"grad_std\": true}]}", GN_ERR_FORMAT,
     "field \"grad_std\" must be a number, not true"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}]}", GN_ERR_FORMAT,
     "graph.json: missing field \"output\""},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}], \"output\": [1]}", GN_ERR_FORMAT,
     "field \"output\" must be an object, not an array"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}], \"output\": {}}", GN_ERR_FORMAT,
     "graph.json: output: missing field \"inputs\""},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}], \"output\": {\"inputs\": []}}",
     GN_ERR_FORMAT, "graph.json: output: empty \"inputs\" list"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}], \"output\": {\"inputs\": [3]}}",
     GN_ERR_FORMAT, "graph.json: output: inputs[0] names group 3, which is not defined (dangling id)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}], \"output\": {\"inputs\": [1, 1]}}",
     GN_ERR_FORMAT, "graph.json: output: inputs[1] names group 1 again (duplicate entry)"},
    {HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [0]}],"
          " \"output\": {\"inputs\": [1]}}",
     GN_ERR_FORMAT,
     "graph.json: groups[1] (id 2) feeds no group and not the output (a hidden group needs a "
     "successor)"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        struct gn_model m;
        gn_error_clear();
        enum gn_status st = parse(c->text, &m);
        if (st != c->status || !strstr(gn_error_message(), c->message)) {
            printf("case %zu: %s\n  status %d (want %d)\n  message: %s\n  wanted:  %s\n", i,
                   c->text, st, c->status, gn_error_message(), c->message);
            fail();
        }
        assert_null(m.groups); /* freed on error */
        assert_null(m.params);
    }
}

/* The exact message of the brief's example. */
static void test_error_example(void **state)
{
    (void)state;
    struct gn_model m;
    assert_int_equal(parse(HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]},"
                                " {\"id\": 2, \"inputs\": [1]}, {\"id\": 3, \"inputs\": [2]},"
                                " {\"id\": 7, \"inputs\": [3, 9]}, {\"id\": 9, \"inputs\": [0]}],"
                                " \"output\": {\"inputs\": [7, 9]}}",
                           &m),
                     GN_ERR_FORMAT);
    assert_string_equal(gn_error_message(),
                        "graph.json: groups[3] (id 7): inputs[1] names group 9, which is not "
                        "defined before it (forward reference or cycle)");
}

static void test_io_errors(void **state)
{
    (void)state;
    struct gn_model m;
    char path[512];
    snprintf(path, sizeof path, "%s/missing.json", tmpdir);
    assert_int_equal(gn_graph_read(path, &m, IN, CL, S, MAXG, MAXE, MAXP), GN_ERR_IO);
    assert_non_null(strstr(gn_error_message(), "cannot open"));
    assert_non_null(strstr(gn_error_message(), "missing.json: No such file or directory"));
    assert_null(m.groups);

    /* A syntax error in a real file names the file. */
    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format\": \"genet-graph\",\n \"version\": 1\n \"inputs\": 784}\n", f);
    fclose(f);
    assert_int_equal(gn_graph_read(path, &m, IN, CL, S, MAXG, MAXE, MAXP), GN_ERR_FORMAT);
    assert_non_null(strstr(gn_error_message(), "bad.json: line 3 column"));
    unlink(path);

    assert_int_equal(gn_graph_read(tmpdir, &m, IN, CL, S, MAXG, MAXE, MAXP), GN_ERR_IO);
    assert_non_null(strstr(gn_error_message(), "cannot read"));

    assert_int_equal(parse(HEAD "\"groups\": [], \"output\": {\"inputs\": [0]}}", &m), GN_OK);
    snprintf(path, sizeof path, "%s/no/such/dir/g.json", tmpdir);
    assert_int_equal(gn_graph_write(path, &m), GN_ERR_IO);
    assert_non_null(strstr(gn_error_message(), "cannot create"));
    gn_model_free(&m);
}

static void test_pool_limits(void **state)
{
    (void)state;
    const char *text = HEAD "\"groups\": [{\"id\": 1, \"inputs\": [0]}, {\"id\": 2, \"inputs\": [0, 1]}],"
                            " \"output\": {\"inputs\": [1, 2]}}";
    size_t len = strlen(text);
    struct gn_model m;
    /* the pool's floats: each block padded to GN_PARAM_ALIGN (the 10 biases
     * to 12); the parameters themselves: 2 fewer */
    int64_t need = 12 + 2 * 32 + 2 * 784 * 32 + 32 * 32 + 2 * 32 * 10;

    assert_int_equal(gn_graph_parse(text, len, "g.json", &m, IN, CL, S, 3, MAXE, MAXP),
                     GN_ERR_FULL);
    assert_string_equal(gn_error_message(), "g.json: the graph has 4 groups (input and output "
                                            "included) but the group pool holds 3; raise "
                                            "--max-groups");
    assert_null(m.groups);
    assert_int_equal(gn_graph_parse(text, len, "g.json", &m, IN, CL, S, 4, 4, MAXP), GN_ERR_FULL);
    assert_string_equal(gn_error_message(),
                        "g.json: the graph has 5 edges but the edge pool holds 4; raise "
                        "--max-edges");
    assert_int_equal(gn_graph_parse(text, len, "g.json", &m, IN, CL, S, 4, 5, need - 1),
                     GN_ERR_FULL);
    char want[64];
    snprintf(want, sizeof want, "needs %lld parameters", (long long)need);
    assert_non_null(strstr(gn_error_message(), want));
    assert_non_null(strstr(gn_error_message(), "raise --max-params"));
    assert_null(m.params);

    /* Exactly full fits, and the accounting matches the model's. */
    assert_int_equal(gn_graph_parse(text, len, "g.json", &m, IN, CL, S, 4, 5, need), GN_OK);
    assert_int_equal(m.n_params, need);
    assert_int_equal(gn_model_param_count(&m), need - 2);
    gn_model_free(&m);

    assert_int_equal(gn_graph_parse(text, len, "g.json", &m, IN, 1, S, 4, 5, need),
                     GN_ERR_INVALID);
    assert_int_equal(gn_graph_parse(NULL, 0, "g.json", &m, IN, CL, S, 4, 5, need),
                     GN_ERR_INVALID);
}

/* A random DAG of up to 40 hidden groups built through the model API: slots
 * in a random order and edges added in a random order, so the canonical
 * order (rebuilt without a hint) differs from the slots. */
static void random_model(struct gn_model *m, uint64_t seed, uint64_t trial)
{
    uint64_t k = 0;
#define RND(n) ((int32_t)(gn_rng_u64(seed, GN_RNG_TEST, trial, k++) % (uint64_t)(n)))
    int32_t n = 1 + RND(40);
    int32_t inputs = 1 + RND(20), classes = 2 + RND(6), size = 1 + RND(8);
    int32_t max_edges = n * (n + 1) / 2 + n + 1, max_groups = n + 2 + RND(3);
    int64_t wide = inputs > size ? inputs : size;
    /* every block's size, and each block's padding (model.h: the pool
     * aligns blocks to GN_PARAM_ALIGN floats; without the slack a model of
     * one tiny group overflows it: 9 floats for 16 in use) */
    int64_t max_params = classes + (int64_t)n * size +
                         max_edges * wide * (size > classes ? size : classes) +
                         gn_param_slack(max_edges + max_groups);
    assert_int_equal(gn_model_init(m, inputs, classes, size, max_groups, max_edges, max_params),
                     GN_OK);
    int32_t node[42]; /* topological position -> slot (0 the input) */
    node[0] = GN_SLOT_INPUT;
    for (int32_t i = 1; i <= n; i++)
        assert_int_equal(gn_model_add_group(m, &node[i]), GN_OK);
    for (int32_t i = n; i > 1; i--) {
        int32_t j = 1 + RND(i), t = node[i];
        node[i] = node[j];
        node[j] = t;
    }
    int32_t src[1000], dst[1000], e = 0;
    uint8_t fed[42] = {0};
    int density = 1 + RND(4);
    for (int32_t i = 1; i <= n; i++) {
        int32_t first = e;
        for (int32_t j = 0; j < i; j++)
            if (RND(2 * density + 1) == 0) {
                src[e] = j;
                dst[e++] = i;
            }
        if (e == first) {
            src[e] = RND(i);
            dst[e++] = i;
        }
        for (int32_t q = first; q < e; q++)
            fed[src[q]] = 1;
    }
    for (int32_t i = 0; i <= n; i++)
        if (!fed[i] || (i > 0 && RND(4) == 0)) {
            src[e] = i;
            dst[e++] = n + 1;
        }
    for (int32_t i = e - 1; i > 0; i--) {
        int32_t j = RND(i + 1), ts = src[i], td = dst[i];
        src[i] = src[j];
        dst[i] = dst[j];
        src[j] = ts;
        dst[j] = td;
    }
    for (int32_t i = 0; i < e; i++)
        assert_int_equal(gn_model_add_edge(m, node[src[i]],
                                           dst[i] == n + 1 ? GN_SLOT_OUTPUT : node[dst[i]], NULL),
                         GN_OK);
    for (int32_t i = 1; i <= n; i++)
        if (RND(3) == 0) {
            m->groups[node[i]].born = RND(1000);
            m->groups[node[i]].grad_std = (float)RND(1000) / 64.0f;
            m->groups[node[i]].parent = node[1 + RND(n)];
        }
#undef RND
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed(); /* printed: GN_TEST_SEED=... repeats a run */
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/a.json", tmpdir);
    snprintf(path2, sizeof path2, "%s/b.json", tmpdir);
    for (uint64_t t = 0; t < 300; t++) {
        struct gn_model a, b;
        random_model(&a, seed, t);
        assert_int_equal(gn_graph_write(path, &a), GN_OK);
        enum gn_status st = gn_graph_read(path, &b, a.inputs, a.classes, a.group_size,
                                          a.max_groups, a.max_edges, a.max_params);
        if (st != GN_OK || !same_structure(&a, &b)) {
            printf("round trip failed: seed %llu trial %llu: %s\n", (unsigned long long)seed,
                   (unsigned long long)t, st ? gn_error_message() : "structure differs");
            fail();
        }
        assert_int_equal(gn_model_param_count(&a), gn_model_param_count(&b));
        /* The informational fields are not read back: compare texts without. */
        for (int32_t g = 0; g < a.n_groups; g++) {
            a.groups[g].parent = -1;
            a.groups[g].born = 0;
            a.groups[g].grad_std = 0.0f;
        }
        assert_int_equal(gn_graph_write(path, &a), GN_OK);
        assert_int_equal(gn_graph_write(path2, &b), GN_OK);
        char *ta = slurp(path), *tb = slurp(path2);
        if (strcmp(ta, tb) != 0) {
            printf("second write differs: seed %llu trial %llu\n", (unsigned long long)seed,
                   (unsigned long long)t);
            fail();
        }
        free(ta);
        free(tb);
        gn_model_free(&a);
        gn_model_free(&b);
    }
    unlink(path);
    unlink(path2);
}

/* A random file with random unique ids, parsed, checked against the
 * generator's adjacency, then written and read back. */
static void test_roundtrip_random_ids(void **state)
{
    (void)state;
    uint64_t seed = gn_test_seed() ^ 0x5bd1e995u;
    char path[512];
    snprintf(path, sizeof path, "%s/ids.json", tmpdir);
    static char text[1 << 16];
    for (uint64_t t = 0; t < 100; t++) {
        uint64_t k = 0;
#define RND(n) ((int64_t)(gn_rng_u64(seed, GN_RNG_TEST, t, k++) % (uint64_t)(n)))
        int32_t n = 1 + (int32_t)RND(30);
        int64_t id[32];
        uint8_t adj[32][32] = {{0}}, fed[32] = {0}; /* adj[dst][src], by file position 1..n */
        for (int32_t i = 1; i <= n; i++)
            id[i] = (int64_t)i * 100000000 + RND(100000000);
        for (int32_t i = n; i > 1; i--) {
            int32_t j = 1 + (int32_t)RND(i);
            int64_t x = id[i];
            id[i] = id[j];
            id[j] = x;
        }
        id[0] = 0;
        int len = snprintf(text, sizeof text, HEAD "\"groups\": [");
        for (int32_t i = 1; i <= n + 1; i++) {
            int any = 0;
            for (int32_t j = 0; j < i; j++)
                if (RND(3) == 0 || (i == n + 1 && !fed[j] && j > 0))
                    adj[i][j] = 1, any = 1;
            if (!any)
                adj[i][RND(i)] = 1;
            if (i <= n)
                len += snprintf(text + len, sizeof text - (size_t)len,
                                "%s{\"id\": %lld, \"inputs\": [", i > 1 ? ", " : "",
                                (long long)id[i]);
            else
                len += snprintf(text + len, sizeof text - (size_t)len,
                                "], \"output\": {\"inputs\": [");
            int first = 1;
            for (int32_t q = 0; q < i; q++) { /* in a random order */
                int32_t j = (int32_t)((q + (int32_t)t) % i);
                if (!adj[i][j])
                    continue;
                fed[j] = 1;
                len += snprintf(text + len, sizeof text - (size_t)len, "%s%lld",
                                first ? "" : ", ", (long long)id[j]);
                first = 0;
            }
            len += snprintf(text + len, sizeof text - (size_t)len, i <= n ? "]}" : "]}}");
        }
#undef RND
        struct gn_model a, b;
        if (parse(text, &a) != GN_OK) {
            printf("seed %llu trial %llu: %s\n%s\n", (unsigned long long)seed,
                   (unsigned long long)t, gn_error_message(), text);
            fail();
        }
        for (int32_t i = 1; i <= n + 1; i++) {
            int32_t got[64], c = in_positions(&a, i, got), want = 0;
            for (int32_t j = 0; j < i; j++)
                if (adj[i][j]) {
                    if (want >= c || got[want] != j) {
                        printf("seed %llu trial %llu: position %d in-edges differ\n",
                               (unsigned long long)seed, (unsigned long long)t, i);
                        fail();
                    }
                    want++;
                }
            assert_int_equal(c, want);
        }
        assert_int_equal(gn_graph_write(path, &a), GN_OK);
        assert_int_equal(gn_graph_read(path, &b, IN, CL, S, MAXG, MAXE, MAXP), GN_OK);
        if (!same_structure(&a, &b)) {
            printf("round trip failed: seed %llu trial %llu\n", (unsigned long long)seed,
                   (unsigned long long)t);
            fail();
        }
        gn_model_free(&a);
        gn_model_free(&b);
    }
    unlink(path);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/gn_graphfile_XXXXXX", base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_data_files),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_ids_and_extra_fields),
        cmocka_unit_test(test_write_format),
        cmocka_unit_test(test_small_graphs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_example),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_pool_limits),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_roundtrip_random_ids),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
