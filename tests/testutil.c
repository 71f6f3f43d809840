/* Helpers shared by the test programs: seeds, random DAGs, temp dirs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "graphfile.h"
#include "rng.h"
#include "testutil.h"

uint64_t gn_test_seed(void)
{
    static uint64_t seed;
    static int printed;
    if (!printed) {
        const char *env = getenv("GN_TEST_SEED");
        seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
        fprintf(stderr, "# GN_TEST_SEED=%llu\n", (unsigned long long)seed);
        printed = 1;
    }
    return seed;
}

void gn_test_random_dag(struct gn_model *m, uint64_t seed, int32_t hidden)
{
    int32_t slots[hidden];
    for (int32_t i = 0; i < hidden; i++) assert_int_equal(gn_model_add_group(m, &slots[i]), GN_OK);
    uint8_t *has_succ = calloc((size_t)m->max_groups, 1);
    for (int32_t i = 0; i < hidden; i++) {
        int32_t fanin = 1 + (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 100, (uint64_t)i) % 3);
        if (fanin > i + 1) fanin = i + 1;
        uint8_t used[hidden + 1];
        memset(used, 0, sizeof used);
        for (int32_t k = 0; k < fanin; k++) {
            /* choose among the input (0) and earlier hidden groups (1..i) */
            int32_t c = (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 200 + (uint64_t)i, (uint64_t)k) %
                                  (uint64_t)(i + 1));
            if (k == 0 && i > 0) c = i; /* keep the graph deep: feed from the previous group */
            if (used[c]) continue;
            used[c] = 1;
            int32_t src = c == 0 ? GN_SLOT_INPUT : slots[c - 1];
            assert_int_equal(gn_model_add_edge(m, src, slots[i], NULL), GN_OK);
            has_succ[src] = 1;
        }
    }
    for (int32_t i = 0; i < hidden; i++)
        if (!has_succ[slots[i]] || gn_rng_u64(seed, GN_RNG_TEST, 300, (uint64_t)i) % 4 == 0)
            assert_int_equal(gn_model_add_edge(m, slots[i], GN_SLOT_OUTPUT, NULL), GN_OK);
    free(has_succ);
    assert_int_equal(gn_model_rebuild(m, NULL), GN_OK);
}

char *gn_test_tmpdir(void)
{
    char *d = strdup("/tmp/genet-test-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

void gn_test_rmdir(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

void gn_test_write_blobs(const char *path, int n, uint64_t seed, uint64_t stream,
                         const struct gn_test_blobs *b)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (b->header) {
        fprintf(f, "label");
        for (int k = 0; k < b->features; k++) fprintf(f, ",f%d", k);
        fprintf(f, "\n");
    }
    for (int i = 0; i < n; i++) {
        int c = (int)(gn_rng_u64(seed, GN_RNG_TEST, stream, (uint64_t)i) % (uint64_t)b->classes);
        fprintf(f, "%d", c);
        for (int k = 0; k < b->features; k++) {
            float mu = gn_rng_uniform(seed, GN_RNG_TEST, 77, (uint64_t)(c * b->features + k));
            float v = mu + b->noise * gn_rng_normal(seed, GN_RNG_TEST, stream + 1,
                                                    (uint64_t)(i * b->features + k));
            if (b->clamp) v = v < 0 ? 0 : (v > 1 ? 1 : v);
            fprintf(f, ",%.5f", v);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

int gn_test_load_blobs(const char *dir, int n_train, int n_test, uint64_t seed,
                       const struct gn_test_blobs *b, struct gn_data *train,
                       struct gn_data *test)
{
    char a[512], t[512];
    snprintf(a, sizeof a, "%s/blobs-train.csv", dir);
    snprintf(t, sizeof t, "%s/blobs-test.csv", dir);
    gn_test_write_blobs(a, n_train, seed, 10, b);
    gn_test_write_blobs(t, n_test, seed, 20, b);
    if (gn_data_load(a, train, test) != GN_OK) {
        fprintf(stderr, "%s\n", gn_error_message());
        return -1;
    }
    return 0;
}

static int same_block(const struct gn_model *a, const struct gn_model *b, int64_t oa, int64_t ob,
                      size_t n)
{
    const size_t bytes = n * sizeof(float);
    return !memcmp(a->params + oa, b->params + ob, bytes) &&
           !memcmp(a->moment + oa, b->moment + ob, bytes) &&
           !memcmp(a->moment2 + oa, b->moment2 + ob, bytes);
}

void gn_test_assert_same_network(const struct gn_model *a, const struct gn_model *b,
                                 const char *what)
{
    assert_int_equal(a->n_groups, b->n_groups);
    for (int32_t p = 0; p < a->n_groups; p++) {
        const struct gn_group *ga = &a->groups[a->order[p]], *gb = &b->groups[b->order[p]];
        assert_int_equal(ga->in_count, gb->in_count);
        assert_int_equal(ga->out_count, gb->out_count);
        if (ga->kind == GN_GROUP_INPUT) continue;
        if (!same_block(a, b, ga->bias, gb->bias, (size_t)ga->width))
            fail_msg("%s: the bias of the group at position %d differs", what, p);
        for (int32_t k = 0; k < ga->in_count; k++) {
            const struct gn_edge *ea = &a->edges[a->in_list[ga->in_begin + k]];
            const struct gn_edge *eb = &b->edges[b->in_list[gb->in_begin + k]];
            assert_int_equal(a->groups[ea->src].pos, b->groups[eb->src].pos);
            if (!same_block(a, b, ea->w, eb->w, (size_t)a->groups[ea->src].width * ga->width))
                fail_msg("%s: in-edge %d of the group at position %d differs", what, k, p);
        }
    }
}

struct gn_data gn_test_make_data(int32_t count, int32_t features, int32_t classes, uint64_t seed,
                                 float zeros)
{
    struct gn_data d = {count, features, classes, NULL, NULL};
    d.x = malloc((size_t)count * features * sizeof(float));
    d.y = malloc((size_t)count);
    assert_non_null(d.x);
    assert_non_null(d.y);
    for (int32_t i = 0; i < count; i++) {
        int32_t c = (int32_t)(gn_rng_u64(seed, GN_RNG_TEST, 1, (uint64_t)i) % (uint64_t)classes);
        d.y[i] = (uint8_t)c;
        for (int32_t k = 0; k < features; k++) {
            float u = gn_rng_uniform(seed, GN_RNG_TEST, 2, (uint64_t)i * features + k);
            float mu = gn_rng_uniform(seed, GN_RNG_TEST, 3, (uint64_t)c * features + k);
            d.x[(int64_t)i * features + k] = u < zeros ? 0.0f : mu * u;
        }
    }
    return d;
}

void gn_test_random_dag_case(const char *dir, int k, uint64_t seed, struct gn_settings *s,
                             char *path, size_t len)
{
    struct gn_model m;
    assert_int_equal(gn_model_init(&m, 20, 5, 6, 64, 512, 1 << 20), GN_OK);
    gn_test_random_dag(&m, seed + (uint64_t)k, 3 + k * 3);
    snprintf(path, len, "%s/dag%d.json", dir, k);
    assert_int_equal(gn_graph_write(path, &m), GN_OK);
    gn_model_free(&m);
    gn_default_settings(s);
    s->group_size = 6;
    s->batch = 32;
    s->epochs = 3;
    s->grow_every = 5;
    s->grow_threshold = 0.0f;
    s->max_groups = 400; /* room for every duplication */
    s->grow = (enum gn_grow_policy)(GN_GROW_DEPTH + k % 4);
    s->seed = seed + 7 * (uint64_t)k;
}
