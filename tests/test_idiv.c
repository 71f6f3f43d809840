/*
 * Index division by a float reciprocal (idiv.h), the device's fast form of
 * floor(a / b) for the task math's indices (-DGN_BLOCK_UDIV=2): exact for
 * every reciprocal within two units in the last place of 1/b, the
 * hardware's approximate one included (at most one unit off). Every a and b
 * below 2^12, then dividends at the rule's limit and around multiples of
 * divisors up to its limit, each with the five reciprocals nearest 1/b.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "idiv.h"
#include "rng.h"

/* The reciprocals of b within two units in the last place of the rounded
 * 1/b (the true 1/b lies within half a unit of it, so these cover every
 * value within 1.5 units of it, the hardware's included). */
static void recips(int32_t b, float r[5])
{
    const float r0 = 1.0f / (float)b;
    r[2] = r0;
    r[1] = nextafterf(r0, 0.0f);
    r[0] = nextafterf(r[1], 0.0f);
    r[3] = nextafterf(r0, 1.0f);
    r[4] = nextafterf(r[3], 1.0f);
}

/* a / b by every reciprocal of recips: the count of wrong quotients. */
static int64_t wrong(int32_t a, int32_t b, const float r[5])
{
    int64_t bad = 0;
    for (int i = 0; i < 5; i++)
        if (gn_idiv_rcp(a, b, r[i]) != a / b) bad++;
    return bad;
}

static void test_idiv_small_exhaustive(void **state)
{
    (void)state;
    int64_t bad = 0;
    for (int32_t b = 1; b < 4096; b++) {
        float r[5];
        recips(b, r);
        for (int32_t a = 0; a < 4096; a++) bad += wrong(a, b, r);
    }
    assert_int_equal(bad, 0);
}

static void test_idiv_at_limits(void **state)
{
    (void)state;
    int64_t bad = 0, checked = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        /* divisors spread over [1, 2^24) by their bit length */
        const int32_t bits = 1 + (int32_t)(gn_rng_u64(0x1d1f, GN_RNG_TEST, i, 0) % 24);
        int32_t b = (int32_t)(gn_rng_u64(0x1d1f, GN_RNG_TEST, i, 1) & ((1u << bits) - 1u));
        if (b < 1) b = 1;
        float r[5];
        recips(b, r);
        /* a multiple of b below the dividends' limit, and its neighbours */
        const int64_t kmax = (GN_IDIV_A_LIMIT - 2) / b;
        const int64_t k = kmax > 0 ? (int64_t)(gn_rng_u64(0x1d1f, GN_RNG_TEST, i, 2) % (uint64_t)(kmax + 1)) : 0;
        for (int64_t d = -1; d <= 1; d++) {
            const int64_t a = k * b + d;
            if (a < 0 || a >= GN_IDIV_A_LIMIT) continue;
            bad += wrong((int32_t)a, b, r);
            checked++;
        }
        /* and the largest dividend */
        bad += wrong(GN_IDIV_A_LIMIT - 1, b, r);
        checked++;
    }
    assert_true(checked > 500000);
    assert_int_equal(bad, 0);
}

/* A reciprocal outside the rule's bound can give a wrong quotient: the
 * check above could fail (a = 2^21 - 1, b = 1 with r 2^-20 off: a r
 * truncates two below). */
static void test_idiv_bound_matters(void **state)
{
    (void)state;
    const int32_t a = GN_IDIV_A_LIMIT - 1;
    assert_int_equal(gn_idiv_rcp(a, 1, 1.0f - 0x1p-20f), a - 1);
    assert_int_not_equal(gn_idiv_rcp(a, 1, 1.0f - 0x1p-19f), a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idiv_small_exhaustive),
        cmocka_unit_test(test_idiv_at_limits),
        cmocka_unit_test(test_idiv_bound_matters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
