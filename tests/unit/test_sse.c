/* Unit tests for lib/proto/sse: byte-exact frames, the snprintf contract,
 * refusals, and a round trip through a reference reader written from the
 * WHATWG event-stream parsing rules (line breaks CRLF, LF and CR; one space
 * after the colon dropped; data lines joined with LF; comments ignored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/sse.h"

/* Writes an event into an exactly sized heap block (after checking that a
 * block one byte short is not enough) and returns it NUL-terminated. */
static char *frame(const char *id, const char *ev, const char *data, size_t dlen)
{
    const size_t il = id ? strlen(id) : 0, el = ev ? strlen(ev) : 0;
    const int need = hr_sse_write_event(NULL, 0, id, il, ev, el, data, dlen);
    assert_true(need > 0);
    char *buf = calloc(1, (size_t)need + 1);
    assert_non_null(buf);
    assert_int_equal(hr_sse_write_event(buf, (size_t)need - 1, id, il, ev, el, data, dlen), need);
    assert_int_equal(hr_sse_write_event(buf, (size_t)need, id, il, ev, el, data, dlen), need);
    return buf;
}

static void test_sse_event_exact(void **state)
{
    (void)state;
    char *f = frame("1-2", "orders", "{\"a\":1}", 7);
    assert_string_equal(f, "id: 1-2\nevent: orders\ndata: {\"a\":1}\n\n");
    free(f);
    f = frame(NULL, NULL, "a\nb\r\nc\rd", 8);
    assert_string_equal(f, "data: a\ndata: b\ndata: c\ndata: d\n\n");
    free(f);
    f = frame("7", NULL, "", 0);
    assert_string_equal(f, "id: 7\ndata: \n\n");
    free(f);
    f = frame(NULL, "x", "end\n", 4);
    assert_string_equal(f, "event: x\ndata: end\ndata: \n\n");
    free(f);
}

static void test_sse_refusals(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, "a\nb", 3, NULL, 0, "d", 1), HR_EINVAL);
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, "a\rb", 3, NULL, 0, "d", 1), HR_EINVAL);
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, NULL, 0, "e\n", 2, "d", 1), HR_EINVAL);
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, "a\0", 2, NULL, 0, "d", 1), HR_EINVAL);
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, NULL, 0, NULL, 0, "d\0", 2), HR_EINVAL);
    assert_int_equal(hr_sse_write_event(buf, sizeof buf, NULL, 0, NULL, 0, NULL, 1), HR_EINVAL);
    assert_int_equal(hr_sse_write_comment(buf, sizeof buf, "a\nb", 3), HR_EINVAL);
}

static void test_sse_comment_retry(void **state)
{
    (void)state;
    char buf[32] = {0};
    assert_int_equal(hr_sse_write_comment(buf, sizeof buf, "keepalive", 9), 13);
    assert_memory_equal(buf, ": keepalive\n\n", 13);
    assert_int_equal(hr_sse_write_comment(NULL, 0, "", 0), 4);
    memset(buf, 0, sizeof buf);
    assert_int_equal(hr_sse_write_retry(buf, sizeof buf, 2000), 13);
    assert_string_equal(buf, "retry: 2000\n\n");
    assert_int_equal(hr_sse_write_retry(buf, 3, 2000), 13);
}

/* ---- reference reader (WHATWG HTML "event stream interpretation") ---- */

typedef struct ref_event {
    char id[64], event[64], data[256];
    int n; /* events dispatched */
} ref_event;

static void ref_line(ref_event *ev, char *data, size_t *dlen, const char *l, size_t n)
{
    if (n == 0) { /* dispatch */
        if (*dlen == 0)
            return;
        if (data[*dlen - 1] == '\n')
            (*dlen)--;
        memcpy(ev->data, data, *dlen);
        ev->data[*dlen] = '\0';
        ev->n++;
        *dlen = 0;
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    const size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl > 0 && v[0] == ' ')
        v++, vl--;
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        memcpy(data + *dlen, v, vl);
        *dlen += vl;
        data[(*dlen)++] = '\n';
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        snprintf(ev->id, sizeof ev->id, "%.*s", (int)vl, v);
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        snprintf(ev->event, sizeof ev->event, "%.*s", (int)vl, v);
    }
}

static void ref_read(const char *s, size_t n, ref_event *ev)
{
    char data[512];
    size_t dlen = 0, start = 0;
    memset(ev, 0, sizeof *ev);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\r' && s[i] != '\n')
            continue;
        ref_line(ev, data, &dlen, s + start, i - start);
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        start = i + 1;
    }
}

/* Every payload made of a few bytes from an alphabet with every kind of
 * line break reads back as one event with the breaks turned into LF. */
static void test_sse_roundtrip(void **state)
{
    (void)state;
    const char alpha[] = {'a', '\n', '\r', ' ', ':'};
    for (unsigned code = 0; code < 5 * 5 * 5 * 5 * 5; code++) {
        char data[5], want[6];
        size_t wl = 0;
        unsigned c = code;
        for (int i = 0; i < 5; i++, c /= 5)
            data[i] = alpha[c % 5];
        for (size_t i = 0; i < 5; i++) {
            if (data[i] == '\r' && i + 1 < 5 && data[i + 1] == '\n')
                continue; /* CRLF reads as one LF: drop the CR */
            want[wl++] = data[i] == '\r' ? '\n' : data[i];
        }
        want[wl] = '\0';
        char *f = frame("9", "ch", data, 5);
        char keep[] = ": keepalive\n\n";
        char both[128];
        snprintf(both, sizeof both, "%s%s", keep, f);
        ref_event ev;
        ref_read(both, strlen(both), &ev);
        assert_int_equal(ev.n, 1);
        assert_string_equal(ev.id, "9");
        assert_string_equal(ev.event, "ch");
        assert_string_equal(ev.data, want);
        free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_event_exact),
        cmocka_unit_test(test_sse_refusals),
        cmocka_unit_test(test_sse_comment_retry),
        cmocka_unit_test(test_sse_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
