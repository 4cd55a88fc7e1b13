/* Unit tests for lib/broker: URL dispatch and the memory broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "broker/broker.h"
#include "broker/memory.h"
#include "core/err.h"

typedef struct recorder {
    int up;
    size_t n_events;
    hr_event_id last;
    char channels[256];
    int status;
    size_t n_ids;
    hr_event_id ids[8];
} recorder;

static void on_event(void *app, const hr_event *ev)
{
    recorder *r = app;
    r->n_events++;
    r->last = ev->id;
    for (size_t i = 0; i < ev->n_channels; i++) {
        strncat(r->channels, ev->channels[i], sizeof r->channels - strlen(r->channels) - 1);
        strncat(r->channels, "=", sizeof r->channels - strlen(r->channels) - 1);
        strncat(r->channels, ev->data, sizeof r->channels - strlen(r->channels) - 1);
        if (ev->event != NULL) { /* the event name travels with the event */
            strncat(r->channels, "@", sizeof r->channels - strlen(r->channels) - 1);
            strncat(r->channels, ev->event, sizeof r->channels - strlen(r->channels) - 1);
        }
        strncat(r->channels, ";", sizeof r->channels - strlen(r->channels) - 1);
    }
}

static void on_state(void *app, bool up, const char *detail)
{
    (void)detail;
    ((recorder *)app)->up = up ? 1 : -1;
}

static void on_done(void *arg, int status, const hr_event_id *ids, size_t n)
{
    recorder *r = arg;
    r->status = status;
    r->n_ids = n;
    memcpy(r->ids, ids, n * sizeof *ids);
}

static const hr_broker_callbacks cbs = {on_event, on_state};

static void test_broker_memory_publish_order(void **state)
{
    (void)state;
    recorder r = {0};
    hr_broker *b = hr_memory_new(NULL, 1000, &cbs, &r);
    assert_non_null(b);
    assert_false(hr_broker_is_ready(b));
    char *ch_a[] = {"a"}, *ch_bc[] = {"b", "c"};
    hr_pub_item items[] = {{.channels = ch_a, .n_channels = 1, .data = "1", .data_len = 1},
                           {.channels = ch_bc,
                            .n_channels = 2,
                            .data = "{\"x\":2}",
                            .data_len = 7,
                            .event = "shipped",
                            .event_len = 7}};
    assert_int_equal(hr_broker_publish(b, items, 2, on_done, &r), HR_EBROKER);
    assert_int_equal(hr_broker_start(b), 0);
    assert_int_equal(r.up, 1);
    assert_true(hr_broker_is_ready(b));
    assert_int_equal(hr_broker_publish(b, items, 0, on_done, &r), HR_EINVAL);
    assert_int_equal(hr_broker_publish(b, items, 2, on_done, &r), 0);
    assert_int_equal(r.n_events, 2);
    assert_string_equal(r.channels, "a=1;b={\"x\":2}@shipped;c={\"x\":2}@shipped;");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n_ids, 2);
    assert_true(r.ids[0].ms == 1000 && r.ids[0].seq == 1);
    assert_true(r.ids[1].ms == 1000 && r.ids[1].seq == 2);
    assert_int_equal(hr_broker_publish(b, items, 1, on_done, &r), 0);
    assert_true(r.ids[0].seq == 3 && r.last.seq == 3);
    assert_string_equal(hr_broker_name(b), "memory");
    hr_broker_free(b);
}

static void test_broker_new_by_url(void **state)
{
    (void)state;
    recorder r = {0};
    char err[200];
    hr_broker *b = hr_broker_new(NULL, "memory", &cbs, &r, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(hr_broker_start(b), 0);
    char *ch[] = {"a"};
    hr_pub_item item = {.channels = ch, .n_channels = 1, .data = "null", .data_len = 4};
    assert_int_equal(hr_broker_publish(b, &item, 1, on_done, &r), 0);
    assert_true(r.ids[0].ms > UINT64_C(1600000000000)); /* wall-clock start */
    hr_broker_free(b);

    assert_null(hr_broker_new(NULL, "kafka://x", &cbs, &r, err, sizeof err));
    assert_non_null(strstr(err, "unsupported broker 'kafka://x'"));
    assert_null(hr_broker_new(NULL, "memory://host", &cbs, &r, err, sizeof err));
    assert_non_null(strstr(err, "memory broker takes no address"));
    hr_broker_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_memory_publish_order),
        cmocka_unit_test(test_broker_new_by_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
