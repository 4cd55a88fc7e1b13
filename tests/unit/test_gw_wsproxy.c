/* Unit tests for the WebSocket proxy's pure rules: which close code, and
 * which reason text, the client gets when the upstream connection ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* reason[0..len) in an exactly sized heap block, so ASan sees any over-read. */
static const char *relay(int code, int mapped, const void *reason, size_t len, char *out)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, reason, len);
    memset(out, '#', GW_WS_REASON_CAP);
    const char *got = gw_ws_relay_reason(code, mapped, copy, len, out);
    free(copy);
    return got;
}

static void test_gw_ws_relay_reason_passes_the_upstreams_text(void **state)
{
    (void)state;
    char out[GW_WS_REASON_CAP];
    const char *texts[] = {"token expired", "Pong reply not received",
                           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"};
    const int codes[] = {4001, 4201, 1008};
    for (size_t i = 0; i < 3; i++) {
        const char *got = relay(codes[i], codes[i], texts[i], strlen(texts[i]), out);
        assert_ptr_equal(got, out);
        assert_string_equal(got, texts[i]);
    }
    /* Exactly 123 bytes: 2 + 123 = 125, the most a close payload holds. */
    char max[124];
    memset(max, 'r', 123);
    max[123] = '\0';
    assert_string_equal(relay(1013, 1013, max, 123, out), max);
    /* 121 bytes of ASCII and a 2-byte character ending at byte 123. */
    memcpy(max + 121, "\xc3\xa9", 2);
    assert_string_equal(relay(1013, 1013, max, 123, out), max);
}

static void test_gw_ws_relay_reason_code_alone(void **state)
{
    (void)state;
    char out[GW_WS_REASON_CAP];
    /* No text. */
    assert_null(relay(4001, 4001, "", 0, out));
    assert_null(gw_ws_relay_reason(4001, 4001, NULL, 0, out));
    /* Too long for a close frame: 124 bytes. */
    char big[124];
    memset(big, 'r', sizeof big);
    assert_null(relay(4001, 4001, big, sizeof big, out));
    /* Not UTF-8: a lone continuation byte, a truncated sequence at the end
     * (a notifier cut at 123 bytes mid-character), an overlong form, a
     * surrogate, past U+10FFFF. */
    const char *bad[] = {"ok \x80", "cut \xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(relay(1008, 1008, bad[i], strlen(bad[i]), out));
    /* A NUL inside: valid UTF-8, but it would reach the client cut short. */
    assert_null(relay(1008, 1008, "a\0b", 3, out));
    /* The gateway changed the code (an upstream going away is 1012 to the
     * client): the upstream's text does not describe the code sent. */
    assert_null(relay(1001, 1012, "going away", 10, out));
    assert_null(relay(1006, 1012, "x", 1, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_ws_map_upstream_close),
        cmocka_unit_test(test_gw_ws_relay_reason_passes_the_upstreams_text),
        cmocka_unit_test(test_gw_ws_relay_reason_code_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
