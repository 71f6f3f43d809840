/* Status names and the per-thread error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(gn_status_str(GN_OK), "ok");
    assert_string_equal(gn_status_str(GN_ERR_FORMAT), "malformed input");
    assert_string_equal(gn_status_str((enum gn_status)-1000), "unknown status");
}

static void test_fail_message(void **state)
{
    (void)state;
    assert_int_equal(gn_fail(GN_ERR_IO, "cannot open %s", "x.idx"), GN_ERR_IO);
    assert_string_equal(gn_error_message(), "cannot open x.idx");
    gn_error_clear();
    assert_string_equal(gn_error_message(), "");
}

/* A message may wrap the last one (the cuda backend's kernel fault came
 * back garbled when gn_fail formatted into the buffer it was reading). */
static void test_fail_wraps_last(void **state)
{
    (void)state;
    gn_fail(GN_ERR_DEVICE, "the kernel stopped: %s", "a queue wait made no progress");
    assert_int_equal(gn_fail(GN_ERR_DEVICE, "cuda backend: %s", gn_error_message()),
                     GN_ERR_DEVICE);
    assert_string_equal(gn_error_message(),
                        "cuda backend: the kernel stopped: a queue wait made no progress");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_fail_message),
        cmocka_unit_test(test_fail_wraps_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
