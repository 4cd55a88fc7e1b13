/* Unit tests for lib/proto/sse_reader: the WHATWG event-stream rules (line
 * ends CRLF, LF and CR, also split across feeds; one space after the colon
 * dropped; data lines joined; id kept across events; comments reported;
 * a leading BOM dropped), every split of a stream read the same as whole,
 * round trips through lib/proto/sse's writer, the bounds, and no memory
 * held between events. */
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
#include "proto/sse_reader.h"

/* What a stream produced: every event and comment as one text line
 * "E name|id|data" or "C text", appended to out. */
typedef struct seen {
    char text[4096];
    size_t len;
    int events;
} seen;

static void note(seen *s, const hr_sse_event *ev)
{
    int n;
    if (ev->type == HR_SSE_EV_EVENT)
        n = snprintf(s->text + s->len, sizeof s->text - s->len, "E %.*s|%.*s|%.*s\n",
                     (int)ev->name_len, ev->name, (int)ev->id_len, ev->id, (int)ev->data_len,
                     ev->data);
    else
        n = snprintf(s->text + s->len, sizeof s->text - s->len, "C %.*s\n", (int)ev->data_len,
                     ev->data);
    assert_true(n > 0 && (size_t)n < sizeof s->text - s->len);
    s->len += (size_t)n;
    s->events++;
}

/* Feeds in[0..n) in pieces of chunk bytes (0: whole); returns the first
 * error or 0. */
static int read_stream(const char *in, size_t n, size_t chunk, size_t max_line, seen *s)
{
    hr_sse_reader r;
    hr_sse_reader_init(&r, max_line);
    memset(s, 0, sizeof *s);
    int err = 0;
    for (size_t off = 0; off < n && err == 0;) {
        const size_t piece = chunk == 0 || chunk > n - off ? n - off : chunk;
        size_t done = 0;
        while (done < piece) {
            hr_sse_event ev;
            const ssize_t k =
                hr_sse_reader_feed(&r, (const uint8_t *)in + off + done, piece - done, &ev);
            if (k < 0) {
                err = (int)k;
                break;
            }
            if (ev.type == HR_SSE_EV_NONE)
                assert_int_equal((size_t)k, piece - done);
            else
                note(s, &ev);
            done += (size_t)k;
        }
        off += piece;
    }
    hr_sse_reader_release(&r);
    const bool between =
        n >= 2 && (memcmp(in + n - 2, "\n\n", 2) == 0 || memcmp(in + n - 2, "\r\r", 2) == 0);
    if (err == 0 && between) { /* between events nothing is held */
        assert_null(r.data.base);
        assert_null(r.line.base);
    }
    hr_sse_reader_deinit(&r);
    return err;
}

/* Every piece size gives what the whole stream gives. */
static void expect(const char *in, const char *want)
{
    const size_t n = strlen(in);
    for (size_t chunk = 0; chunk <= n; chunk++) {
        seen s;
        assert_int_equal(read_stream(in, n, chunk, 0, &s), 0);
        assert_string_equal(s.text, want);
    }
}

static void test_fields_and_line_ends(void **state)
{
    (void)state;
    expect("id: 1-2\nevent: orders\ndata: {\"a\":1}\n\n", "E orders|1-2|{\"a\":1}\n");
    expect("id:7\r\nevent:x\r\ndata:y\r\n\r\n", "E x|7|y\n");
    expect("data: a\rdata: b\r\r", "E message||a\nb\n");
    expect("data:  two spaces\n\n", "E message|| two spaces\n");
    expect("data\n\n", "E message||\n");           /* a field without a colon */
    expect("data:\ndata:\n\n", "E message||\n\n"); /* two empty lines joined */
    expect("unknown: x\ndata: y\n\n", "E message||y\n");
}

static void test_dispatch_rules(void **state)
{
    (void)state;
    /* no data: no event, and the name does not carry over */
    expect("event: a\n\ndata: b\n\n", "E message||b\n");
    /* the id is kept until changed; an id holding NUL is ignored */
    expect("id: 5\ndata: a\n\ndata: b\n\n", "E message|5|a\nE message|5|b\n");
    const char nul[] = "id: 5\ndata: a\n\nid: x\0y\ndata: b\n\n";
    seen s;
    assert_int_equal(read_stream(nul, sizeof nul - 1, 0, 0, &s), 0);
    assert_string_equal(s.text, "E message|5|a\nE message|5|b\n");
    /* an event cut off by the end of the stream is not dispatched */
    expect("data: a\n\ndata: b\n", "E message||a\n");
}

static void test_comments_bom_retry(void **state)
{
    (void)state;
    expect(": keepalive\n:{\"type\":\"subscribed\"}\n\n",
           "C keepalive\nC {\"type\":\"subscribed\"}\n");
    expect("\xEF\xBB\xBF"
           "data: a\n\n",
           "E message||a\n");
    /* half a BOM is line text: here an unknown field name */
    expect("\xEF\xBB"
           "data: a\n\n",
           "");
    expect("\xEF\xBB"
           "x\ndata: a\n\n",
           "E message||a\n");
    hr_sse_reader r;
    hr_sse_reader_init(&r, 0);
    hr_sse_event ev;
    const char in[] = "retry: 1000\n\nretry: 12x\n\n";
    size_t off = 0;
    while (off < sizeof in - 1) {
        const ssize_t k =
            hr_sse_reader_feed(&r, (const uint8_t *)in + off, sizeof in - 1 - off, &ev);
        assert_true(k > 0);
        off += (size_t)k;
    }
    assert_int_equal(hr_sse_reader_retry_ms(&r), 1000);
    hr_sse_reader_deinit(&r);
}

static void test_roundtrip_writer(void **state)
{
    (void)state;
    const char *datas[] = {"{\"t\":1,\"s\":2}", "", "a\nb", "a\r\nb\rc", "\n"};
    const char *wants[] = {"{\"t\":1,\"s\":2}", "", "a\nb", "a\nb\nc", "\n"};
    for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++) {
        char buf[256], want[300];
        const int n =
            hr_sse_write_event(buf, sizeof buf, "9", 1, "ch", 2, datas[i], strlen(datas[i]));
        assert_true(n > 0 && (size_t)n < sizeof buf);
        const int c = hr_sse_write_comment(buf + n, sizeof buf - (size_t)n, "hi", 2);
        assert_true(c > 0);
        buf[n + c] = '\0';
        snprintf(want, sizeof want, "E ch|9|%s\nC hi\n", wants[i]);
        expect(buf, want);
    }
}

static void test_bounds(void **state)
{
    (void)state;
    seen s;
    /* a line cut by a feed's end is buffered up to max_line */
    const char *longline = "data: 0123456789abcdef\n\n";
    assert_int_equal(read_stream(longline, strlen(longline), 4, 8, &s), HR_ETOOBIG);
    /* the data of one event is capped at max_line too, even in place */
    const char *many = "data: 0123\ndata: 4567\ndata: 89\n\n";
    assert_int_equal(read_stream(many, strlen(many), 0, 8, &s), HR_ETOOBIG);
    char name[HR_SSE_READER_MAX_NAME + 20];
    memset(name, 'n', sizeof name);
    memcpy(name, "event: ", 7);
    name[sizeof name - 2] = '\n';
    name[sizeof name - 1] = '\0';
    assert_int_equal(read_stream(name, strlen(name), 0, 0, &s), HR_ETOOBIG);
    /* errors are sticky */
    hr_sse_reader r;
    hr_sse_reader_init(&r, 4);
    hr_sse_event ev;
    assert_int_equal(hr_sse_reader_feed(&r, (const uint8_t *)"data: abcdef", 12, &ev), HR_ETOOBIG);
    assert_int_equal(hr_sse_reader_feed(&r, (const uint8_t *)"\n\n", 2, &ev), HR_ETOOBIG);
    hr_sse_reader_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_line_ends),
        cmocka_unit_test(test_dispatch_rules),
        cmocka_unit_test(test_comments_bom_retry),
        cmocka_unit_test(test_roundtrip_writer),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
