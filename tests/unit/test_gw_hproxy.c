/* Unit tests for the HTTP proxy's pure rule that tells an SSE answer
 * (herald_gateway_sse_open counts those): its Content-Type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/hproxy.h"

/* Parses "HTTP/1.1 200 OK\r\n<headers>\r\n" from an exactly sized heap
 * copy (ASan sees any over-read) and asks the rule. */
static bool is_stream(const char *headers)
{
    char text[512];
    const int n = snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\n%s\r\n", headers);
    assert_true(n > 0 && (size_t)n < sizeof text);
    uint8_t *p = malloc((size_t)n);
    assert_non_null(p);
    memcpy(p, text, (size_t)n);
    hr_http_head h;
    assert_int_equal(hr_http_head_parse(p, (size_t)n, true, NULL, &h), n);
    const bool yes = gw_hproxy_is_event_stream(&h);
    free(p);
    return yes;
}

static void test_gw_hproxy_is_event_stream(void **state)
{
    (void)state;
    assert_true(is_stream("Content-Type: text/event-stream\r\n"));
    assert_true(is_stream("Content-Type: text/event-stream; charset=utf-8\r\n"));
    assert_true(is_stream("content-type: Text/Event-Stream;charset=utf-8\r\n"));
    assert_true(is_stream("Content-Type: text/event-stream \r\n"));
    assert_true(is_stream("Cache-Control: no-cache\r\nContent-Type: text/event-stream\r\n"));
    assert_false(is_stream(""));
    assert_false(is_stream("Content-Type: text/plain\r\n"));
    assert_false(is_stream("Content-Type: text/event-streams\r\n"));
    assert_false(is_stream("Content-Type: text/event\r\n"));
    assert_false(is_stream("Content-Type: application/json\r\nX-Note: text/event-stream\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_hproxy_is_event_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
