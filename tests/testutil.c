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
