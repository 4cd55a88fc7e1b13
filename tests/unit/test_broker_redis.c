/* Unit tests for the Redis adapter's pure parts: stream entry replies to
 * events (valid, malformed, wrong shape), XINFO STREAM parsing and the gap
 * rule, the entry decoder and the reconnect backoff. Replies are built by
 * hand as hiredis redisReply trees, so no server is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "broker/backoff.h"
#include "broker/entry.h"
#include "broker/redis.h"
#include "core/err.h"

static redisReply pool[96];
static redisReply *ptrs[96];
static size_t used, pused;

static redisReply *str(const char *s)
{
    redisReply *r = &pool[used++];
    *r = (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s)};
    return r;
}

static redisReply *integer(long long v)
{
    redisReply *r = &pool[used++];
    *r = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = v};
    return r;
}

static redisReply *arr(size_t n, redisReply **els)
{
    redisReply *r = &pool[used++];
    redisReply **slot = &ptrs[pused];
    memcpy(slot, els, n * sizeof *els);
    pused += n;
    *r = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = n, .element = slot};
    return r;
}

static redisReply *entry(const char *id, size_t nf, const char **fv)
{
    redisReply *f[8];
    for (size_t i = 0; i < nf; i++)
        f[i] = str(fv[i]);
    redisReply *e[2] = {str(id), arr(nf, f)};
    return arr(2, e);
}

static int reset(void **state)
{
    (void)state;
    used = pused = 0;
    return 0;
}

static void test_broker_redis_entry_valid(void **state)
{
    (void)state;
    hr_entry *e = malloc(sizeof *e);
    assert_non_null(e);
    hr_event_id id;
    const char *fv[] = {
        "other", "x", "channel", "orders,user:7,orders", "data", " {\"a\": [1, 2]} "};
    assert_int_equal(hr_redis_map_entry(entry("1700000000000-3", 6, fv), e, &id), 0);
    assert_int_equal(id.ms, 1700000000000ULL);
    assert_int_equal(id.seq, 3);
    assert_int_equal(e->ev.n_channels, 2);
    assert_string_equal(e->ev.channels[0], "orders");
    assert_string_equal(e->ev.channels[1], "user:7");
    assert_string_equal(e->ev.data, "{\"a\":[1,2]}");
    assert_int_equal(e->ev.data_len, strlen(e->ev.data));
    assert_null(e->ev.event); /* no event field: no name */
    hr_entry_deinit(e);
    const char *named[] = {"channel", "a", "event", "order-shipped", "data", "1"};
    assert_int_equal(hr_redis_map_entry(entry("1-1", 6, named), e, &id), 0);
    assert_string_equal(e->ev.event, "order-shipped");
    assert_int_equal(e->ev.event_len, 13);
    assert_null(e->ev.exclude);
    hr_entry_deinit(e);
    /* the Pusher HTTP API's socket_id rides along */
    const char *excl[] = {"channel", "a", "socket_id", "123.45", "data", "1"};
    assert_int_equal(hr_redis_map_entry(entry("1-2", 6, excl), e, &id), 0);
    assert_string_equal(e->ev.exclude, "123.45");
    assert_int_equal(e->ev.exclude_len, 6);
    hr_entry_deinit(e);
    free(e);
}

static void test_broker_redis_entry_malformed(void **state)
{
    (void)state;
    hr_entry *e = malloc(sizeof *e);
    assert_non_null(e);
    hr_event_id id = {0, 0};
    const char *no_chan[] = {"data", "1"};
    const char *bad_chan[] = {"channel", "a b", "data", "1"};
    const char *empty_chan[] = {"channel", "a,,b", "data", "1"};
    const char *no_data[] = {"channel", "a"};
    const char *bad_data[] = {"channel", "a", "data", "{x"};
    const char *two_values[] = {"channel", "a", "data", "1 2"};
    const char *bad_event[] = {"channel", "a", "data", "1", "event", ""};
    const char *bad_socket[] = {"channel", "a", "data", "1", "socket_id", "12.x"};
    const char **cases[] = {no_chan,  bad_chan,   empty_chan, no_data,
                            bad_data, two_values, bad_event,  bad_socket};
    const size_t lens[] = {2, 4, 4, 2, 4, 4, 6, 6};
    for (size_t i = 0; i < 8; i++) {
        id = (hr_event_id){0, 0};
        assert_int_equal(hr_redis_map_entry(entry("5-1", lens[i], cases[i]), e, &id), HR_EINVAL);
        assert_int_equal(id.ms, 5); /* the reader can still advance past it */
        assert_int_equal(id.seq, 1);
        hr_entry_deinit(e);
    }
    /* wrong shapes and ids: protocol errors */
    assert_int_equal(hr_redis_map_entry(str("1-1"), e, &id), HR_EPROTO);
    assert_int_equal(hr_redis_map_entry(NULL, e, &id), HR_EPROTO);
    const char *ok[] = {"channel", "a", "data", "1"};
    assert_int_equal(hr_redis_map_entry(entry("1-x", 4, ok), e, &id), HR_EPROTO);
    redisReply *nil = &pool[used++];
    *nil = (redisReply){.type = REDIS_REPLY_NIL};
    redisReply *els[2] = {str("9-9"), nil};
    assert_int_equal(hr_redis_map_entry(arr(2, els), e, &id), HR_EINVAL);
    hr_entry_deinit(e);
    free(e);
}

static void test_broker_redis_info_and_gap(void **state)
{
    (void)state;
    const char *fv[] = {"channel", "a", "data", "1"};
    redisReply *kv[] = {
        str("length"),
        integer(2),
        str("last-generated-id"),
        str("100-5"),
        str("max-deleted-entry-id"),
        str("0-0"),
        str("entries-added"),
        integer(7),
        str("first-entry"),
        entry("90-1", 4, fv),
    };
    hr_redis_info info;
    assert_int_equal(hr_redis_parse_info(arr(10, kv), &info), 0);
    assert_int_equal(info.last_generated.ms, 100);
    assert_int_equal(info.last_generated.seq, 5);
    assert_true(info.has_first);
    assert_true(info.has_added);
    assert_int_equal(info.length, 2);
    /* 7 added, 2 held: trimmed; everything before 90-1 may be gone */
    hr_event_id gap = hr_redis_info_gap(&info);
    assert_int_equal(gap.ms, 90);
    assert_int_equal(gap.seq, 0);
    info.entries_added = 2; /* nothing ever removed */
    gap = hr_redis_info_gap(&info);
    assert_true(hr_event_id_is_zero(gap));
    info.has_added = false; /* Redis < 7: assume the worst */
    info.first = (hr_event_id){90, 0};
    gap = hr_redis_info_gap(&info);
    assert_int_equal(gap.ms, 89);
    assert_int_equal(gap.seq, UINT64_MAX);
    info.has_max_deleted = true; /* XDEL beyond the first entry wins */
    info.max_deleted = (hr_event_id){95, 0};
    gap = hr_redis_info_gap(&info);
    assert_int_equal(gap.ms, 95);
    redisReply *no_last[] = {str("length"), integer(0)};
    assert_int_equal(hr_redis_parse_info(arr(2, no_last), &info), HR_EPROTO);
    assert_int_equal(hr_redis_parse_info(str("x"), &info), HR_EPROTO);
    hr_event_id z = hr_redis_id_before((hr_event_id){0, 0});
    assert_true(hr_event_id_is_zero(z));
}

static void test_broker_redis_entry_limits(void **state)
{
    (void)state;
    hr_entry *e = malloc(sizeof *e);
    assert_non_null(e);
    /* HR_ENTRY_MAX_CHANNELS names fit; one more is refused */
    size_t cap = (size_t)(HR_ENTRY_MAX_CHANNELS + 1) * 8;
    char *list = malloc(cap);
    assert_non_null(list);
    size_t o = 0;
    for (int i = 0; i < HR_ENTRY_MAX_CHANNELS; i++)
        o += (size_t)snprintf(list + o, cap - o, "%sc%d", i ? "," : "", i);
    assert_int_equal(hr_entry_set(e, (hr_event_id){1, 1}, list, o, "null", 4), 0);
    assert_int_equal(e->ev.n_channels, HR_ENTRY_MAX_CHANNELS);
    hr_entry_deinit(e);
    o += (size_t)snprintf(list + o, cap - o, ",extra");
    assert_int_equal(hr_entry_set(e, (hr_event_id){1, 1}, list, o, "null", 4), HR_EINVAL);
    hr_entry_deinit(e);
    assert_int_equal(hr_entry_set(e, (hr_event_id){1, 1}, "", 0, "1", 1), HR_EINVAL);
    assert_int_equal(hr_entry_set(e, (hr_event_id){1, 1}, "a,", 2, "1", 1), HR_EINVAL);
    free(list);
    free(e);
}

static void test_broker_redis_backoff(void **state)
{
    (void)state;
    assert_int_equal(hr_backoff_delay_ms(0, 100, 5000, 0), 50);
    assert_int_equal(hr_backoff_delay_ms(0, 100, 5000, UINT32_MAX), 100);
    assert_int_equal(hr_backoff_delay_ms(3, 100, 5000, UINT32_MAX), 800);
    for (uint32_t a = 0; a < 100; a++) {
        const uint64_t d = hr_backoff_delay_ms(a, 100, 5000, 0x9e3779b9u * a);
        assert_true(d >= 50 && d <= 5000);
    }
    assert_true(hr_backoff_delay_ms(1000, UINT64_MAX / 2, UINT64_MAX, UINT32_MAX) > UINT64_MAX / 2);
    assert_true(hr_backoff_delay_ms(1000, UINT64_MAX / 2, UINT64_MAX, 0) >= UINT64_MAX / 4);
    assert_int_equal(hr_backoff_delay_ms(0, 1, 1, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_broker_redis_entry_valid, reset),
        cmocka_unit_test_setup(test_broker_redis_entry_malformed, reset),
        cmocka_unit_test_setup(test_broker_redis_info_and_gap, reset),
        cmocka_unit_test_setup(test_broker_redis_entry_limits, reset),
        cmocka_unit_test_setup(test_broker_redis_backoff, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
