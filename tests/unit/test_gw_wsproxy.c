/* Unit tests for the WebSocket proxy's pure rule: which close code the client
 * gets when the upstream connection ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/wsproxy.h"

static void test_gw_ws_map_upstream_close(void **state)
{
    /* Chosen on purpose by the upstream: passed through. */
    const int kept[] = {1000, 1008, 1009, 1011, 1013, 3000, 4000, 4999};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        assert_int_equal(gw_ws_map_upstream_close(kept[i], false), kept[i]);
    /* Lost or going away: the client should reconnect elsewhere. */
    const int lost[] = {1001, 1002, 1003, 1005, 1006, 1007, 1010, 1012, 1014, 0, 2999, 5000};
    for (size_t i = 0; i < sizeof lost / sizeof lost[0]; i++)
        assert_int_equal(gw_ws_map_upstream_close(lost[i], false), 1012);
    /* While the gateway drains, 1001 is the truth. */
    assert_int_equal(gw_ws_map_upstream_close(1001, true), 1001);
    assert_int_equal(gw_ws_map_upstream_close(1006, true), 1012);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_ws_map_upstream_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
