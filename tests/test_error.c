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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_fail_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
