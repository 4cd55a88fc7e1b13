/* Unit tests for the notifier's session (src/notifier/session.c) through
 * the transport interface (transport.h) alone: a recording transport stands
 * where an hr_conn or a herald-link session would (as an SSE stream or a
 * Pusher session would, issue 15). The welcome carries the transport's
 * connection id; commands get their replies; the hub's events arrive as
 * nf_frames (the plain frame, and the twin only for a deflate client);
 * repeated bad commands close with 1008 through the transport; a resume is
 * paced by what the transport says is queued. Real loop, hub and memory
 * broker (nf_loop_init), no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "notifier/app.h"
#include "notifier/config.h"
#include "notifier/session.h"
#include "notifier/transport.h"
#include "proto/ws_frame.h"

typedef struct rec {
    char texts[8][512];
    int n_texts;
    int n_events, n_deflated;
    char last_event[512];
    int close_code;
    size_t queued; /* what queued() reports */
} rec;

static int rec_text(void *self, const void *p, size_t len)
{
    rec *r = self;
    if (r->n_texts < 8)
        snprintf(r->texts[r->n_texts], sizeof r->texts[0], "%.*s", (int)len, (const char *)p);
    r->n_texts++;
    return 0;
}

static int rec_event(void *self, const nf_frames *ev)
{
    rec *r = self;
    const hr_msg *m = ev->plain;
    assert_true(m->head_len > 0);
    snprintf(r->last_event, sizeof r->last_event, "%.*s", (int)(m->len - m->head_len),
             (const char *)m->data + m->head_len);
    r->n_events++;
    r->n_deflated += ev->deflated != NULL;
    r->queued += m->len;
    return 0;
}

static void rec_close(void *self, int code, const char *reason)
{
    (void)reason;
    rec *r = self;
    if (r->close_code == 0)
        r->close_code = code;
}

static size_t rec_queued(const void *self)
{
    return ((const rec *)self)->queued;
}

static const nf_transport_ops rec_ops = {rec_text, rec_event, rec_close, rec_queued};

typedef struct fixture {
    nf_config cfg;
    uv_loop_t uv;
    nf_loop l;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[300];
    char *argv[] = {"n", "--bad-command-limit", "3", "--send-queue-limit", "4096", NULL};
    assert_int_equal(nf_config_load(&f->cfg, 5, argv, NULL, err, sizeof err), 0);
    assert_int_equal(uv_loop_init(&f->uv), 0);
    assert_int_equal(nf_loop_init(&f->l, &f->uv, &f->cfg, err, sizeof err), 0);
    assert_int_equal(hr_broker_start(f->l.broker), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nf_loop_stop(&f->l);
    uv_run(&f->uv, UV_RUN_DEFAULT);
    nf_loop_deinit(&f->l);
    uv_loop_close(&f->uv);
    nf_config_deinit(&f->cfg);
    free(f);
    return 0;
}

static nf_session *open_session(fixture *f, rec *r, const char *target, bool deflate)
{
    hr_http_head head;
    memset(&head, 0, sizeof head);
    head.target = target;
    head.target_len = strlen(target);
    struct sockaddr_in peer = {.sin_family = AF_INET};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int status = 0;
    const char *why = NULL;
    nf_session *s = nf_session_new(&f->l, (nf_transport){&rec_ops, r}, "test-conn-7",
                                   (const struct sockaddr *)&peer, &head, &status, &why);
    assert_non_null(s);
    nf_session_open(s, deflate);
    return s;
}

static void done(void *arg, int status, const hr_event_id *ids, size_t n)
{
    (void)ids;
    (void)n;
    assert_int_equal(status, 0);
    (void)arg;
}

static void publish(fixture *f, const char *channel, const char *data)
{
    char *chs[] = {(char *)channel};
    hr_pub_item item = {
        .channels = chs, .n_channels = 1, .data = (char *)data, .data_len = strlen(data)};
    assert_int_equal(hr_broker_publish(f->l.broker, &item, 1, done, NULL), 0);
}

static void command(nf_session *s, const char *json)
{
    nf_session_message(s, HR_WS_OP_TEXT, (const uint8_t *)json, strlen(json));
}

static void test_nf_session_welcome_reply_and_events(void **state)
{
    fixture *f = *state;
    rec r = {0}, d = {0};
    nf_session *s = open_session(f, &r, "/ws?channels=a", false);
    nf_session *t = open_session(f, &d, "/ws", true);
    assert_non_null(strstr(r.texts[0], "\"welcome\""));
    assert_non_null(strstr(r.texts[0], "test-conn-7"));
    assert_non_null(strstr(r.texts[1], "\"subscribed\""));
    command(t, "{\"type\":\"subscribe\",\"channels\":[\"a\"],\"ref\":\"r1\"}");
    assert_non_null(strstr(d.texts[1], "\"r1\""));
    publish(f, "a", "{\"n\":1}");
    assert_int_equal(r.n_events, 1);
    assert_non_null(strstr(r.last_event, "\"channel\":\"a\""));
    assert_non_null(strstr(r.last_event, "{\"n\":1}"));
    assert_int_equal(r.n_deflated, 0); /* did not negotiate deflate */
    assert_int_equal(d.n_events, 1);
    assert_int_equal(d.n_deflated, 1); /* the hub's twin, made once for both */
    command(s, "{\"type\":\"unsubscribe\",\"channels\":[\"a\"]}");
    publish(f, "a", "{\"n\":2}");
    assert_int_equal(r.n_events, 1);
    assert_int_equal(d.n_events, 2);
    assert_int_equal(r.close_code, 0);
    nf_session_close(s);
    nf_session_close(t);
}

static void test_nf_session_bad_commands_close_through_transport(void **state)
{
    fixture *f = *state;
    rec r = {0};
    nf_session *s = open_session(f, &r, "/ws", false);
    for (int i = 0; i < 3; i++)
        command(s, "{\"type\":\"nope\"}");
    assert_int_equal(r.close_code, HR_WS_CLOSE_POLICY);
    nf_session_close(s); /* the transport's job, after its close completed */
}

static void test_nf_session_resume_paced_by_queued(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 40; i++)
        publish(
            f, "h",
            "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
    rec r = {0};
    nf_session *s = open_session(f, &r, "/ws", false);
    command(s, "{\"type\":\"subscribe\",\"channels\":[\"h\"],\"since\":\"0-0\"}");
    /* half of --send-queue-limit per round: not everything at once */
    const int first = r.n_events;
    assert_true(first > 0 && first < 40);
    r.queued = 0; /* the transport drained */
    nf_session_drain(s);
    assert_true(r.n_events > first);
    while (r.n_events < 40 && r.n_events > 0) {
        const int before = r.n_events;
        r.queued = 0;
        nf_session_drain(s);
        assert_true(r.n_events > before);
    }
    assert_int_equal(r.n_events, 40);
    publish(f, "h", "{\"live\":1}"); /* caught up: live again */
    assert_int_equal(r.n_events, 41);
    nf_session_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nf_session_welcome_reply_and_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nf_session_bad_commands_close_through_transport, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nf_session_resume_paced_by_queued, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
