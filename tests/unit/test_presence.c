/* Unit tests for src/notifier/presence (the cluster-wide member table) and
 * lib/proto/presence_record (the records instances exchange): first and
 * last connection of a user across instances, syncs replacing an
 * instance's entries, silent instances expiring, an instance's bye
 * (dropped at once, users still connected elsewhere kept), the 100-member listing,
 * the bound; records written and parsed back, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "notifier/presence.h"
#include "proto/presence_record.h"

/* What on_change reported, as "+ch/user" or "-ch/user" lines. */
static char changes[1024];

static void on_change(void *arg, const char *channel, const char *user_id, const char *user_info,
                      bool added, const char *socket_id)
{
    (void)arg;
    (void)user_info;
    (void)socket_id;
    const size_t n = strlen(changes);
    snprintf(changes + n, sizeof changes - n, "%c%s/%s ", added ? '+' : '-', channel, user_id);
}

static int add(nf_presence *t, uint64_t inst, const char *ch, const char *sock, const char *user)
{
    const hr_presence_entry e = {ch, sock, user, "{\"n\":1}"};
    return nf_presence_add(t, inst, &e, 1000);
}

static void test_first_and_last_connection(void **state)
{
    (void)state;
    changes[0] = '\0';
    nf_presence *t = nf_presence_new(100, on_change, NULL);
    assert_non_null(t);
    assert_int_equal(add(t, 1, "presence-a", "1.1", "ann"), 1);
    assert_int_equal(add(t, 2, "presence-a", "2.1", "ann"), 0); /* another instance, same user */
    assert_int_equal(add(t, 2, "presence-a", "2.1", "ann"), 0); /* a repeat changes nothing */
    assert_int_equal(add(t, 2, "presence-a", "2.2", "bob"), 1);
    assert_int_equal(nf_presence_user_count(t, "presence-a"), 2);
    assert_int_equal(nf_presence_entries_of(t, 2), 2);
    assert_string_equal(changes, "+presence-a/ann +presence-a/bob ");
    assert_int_equal(nf_presence_remove(t, "presence-a", "1.1"), 0); /* ann still on 2 */
    assert_int_equal(nf_presence_remove(t, "presence-a", "2.1"), 1);
    assert_int_equal(nf_presence_remove(t, "presence-a", "2.1"), 0); /* unknown now */
    assert_true(!nf_presence_has_user(t, "presence-a", "ann"));
    assert_true(nf_presence_has_user(t, "presence-a", "bob"));
    assert_string_equal(changes, "+presence-a/ann +presence-a/bob -presence-a/ann ");
    nf_presence_free(t);
}

static void test_members_listing(void **state)
{
    (void)state;
    nf_presence *t = nf_presence_new(1000, NULL, NULL);
    char sock[32], user[32];
    for (int i = 0; i < 150; i++) {
        snprintf(sock, sizeof sock, "7.%d", i);
        snprintf(user, sizeof user, "u%d", i);
        assert_int_equal(add(t, 7, "presence-big", sock, user), 1);
    }
    hr_pusher_member out[100];
    assert_int_equal(nf_presence_members(t, "presence-big", "u42", out, 100), 100);
    assert_string_equal(out[0].user_id, "u42");
    assert_string_equal(out[0].user_info, "{\"n\":1}");
    for (int i = 1; i < 100; i++)
        assert_string_not_equal(out[i].user_id, "u42");
    assert_int_equal(nf_presence_members(t, "presence-none", NULL, out, 100), 0);
    assert_int_equal(nf_presence_user_count(t, "presence-big"), 150);
    nf_presence_free(t);
}

static void test_bound(void **state)
{
    (void)state;
    nf_presence *t = nf_presence_new(2, NULL, NULL);
    assert_int_equal(add(t, 1, "presence-a", "1.1", "a"), 1);
    assert_int_equal(add(t, 1, "presence-b", "1.2", "b"), 1);
    assert_int_equal(add(t, 1, "presence-c", "1.3", "c"), HR_ELIMIT);
    assert_int_equal(nf_presence_user_count(t, "presence-c"), 0);
    assert_int_equal(nf_presence_remove(t, "presence-a", "1.1"), 1);
    assert_int_equal(add(t, 1, "presence-c", "1.3", "c"), 1);
    nf_presence_free(t);
}

static void test_sync_and_expiry(void **state)
{
    (void)state;
    changes[0] = '\0';
    nf_presence *t = nf_presence_new(100, on_change, NULL);
    assert_int_equal(add(t, 1, "presence-a", "1.1", "ann"), 1);
    assert_int_equal(add(t, 1, "presence-a", "1.2", "bob"), 1);
    assert_int_equal(add(t, 2, "presence-a", "2.1", "cat"), 1);
    /* instance 1 syncs: it only has ann now (bob's rm was lost) */
    nf_presence_sync_begin(t, 1);
    assert_int_equal(add(t, 1, "presence-a", "1.1", "ann"), 0);
    nf_presence_sync_end(t, 1);
    assert_string_equal(changes,
                        "+presence-a/ann +presence-a/bob +presence-a/cat -presence-a/bob ");
    assert_int_equal(nf_presence_entries_of(t, 1), 1);
    /* instance 2 goes silent; instance 1 (and 9, ourselves) keep speaking */
    nf_presence_seen(t, 1, 5000);
    nf_presence_seen(t, 9, 1);
    assert_int_equal(nf_presence_expire(t, 4000, 3000, 9), 0);
    assert_int_equal(nf_presence_expire(t, 4001, 3000, 9), 1);
    assert_true(!nf_presence_has_user(t, "presence-a", "cat"));
    assert_int_equal(nf_presence_expire(t, 9000, 3000, 9), 1); /* 1 too, never 9 */
    assert_int_equal(nf_presence_user_count(t, "presence-a"), 0);
    assert_string_equal(changes, "+presence-a/ann +presence-a/bob +presence-a/cat -presence-a/bob "
                                 "-presence-a/cat -presence-a/ann ");
    nf_presence_free(t);
}

/* A stopping instance's bye: all its connections go at once, but only
 * users with no connection left on another instance are removed. */
static void test_bye(void **state)
{
    (void)state;
    changes[0] = '\0';
    nf_presence *t = nf_presence_new(100, on_change, NULL);
    assert_int_equal(add(t, 1, "presence-a", "1.1", "ann"), 1);
    assert_int_equal(add(t, 2, "presence-a", "2.1", "ann"), 0); /* ann on 2 as well */
    assert_int_equal(add(t, 2, "presence-a", "2.2", "bob"), 1);
    assert_int_equal(add(t, 2, "presence-a", "2.3", "bob"), 0); /* two of bob's on 2 */
    assert_int_equal(add(t, 2, "presence-b", "2.2", "bob"), 1);
    assert_int_equal(add(t, 3, "presence-b", "3.1", "cat"), 1);
    changes[0] = '\0';
    assert_int_equal(nf_presence_drop(t, 2), 2); /* bob in a and b; ann stays on 1 */
    assert_string_equal(changes, "-presence-b/bob -presence-a/bob ");
    assert_true(nf_presence_has_user(t, "presence-a", "ann"));
    assert_true(nf_presence_has_user(t, "presence-b", "cat"));
    assert_int_equal(nf_presence_user_count(t, "presence-a"), 1);
    assert_int_equal(nf_presence_entries_of(t, 2), 0);
    assert_int_equal(nf_presence_entries_of(t, 1), 1);
    /* twice, or an instance never heard of: nothing */
    assert_int_equal(nf_presence_drop(t, 2), 0);
    assert_int_equal(nf_presence_drop(t, 77), 0);
    /* ann's last connection goes with instance 1 */
    assert_int_equal(nf_presence_drop(t, 1), 1);
    assert_string_equal(changes, "-presence-b/bob -presence-a/bob -presence-a/ann ");
    assert_int_equal(nf_presence_user_count(t, "presence-a"), 0);
    /* a dropped instance is forgotten: it does not expire again later */
    nf_presence_seen(t, 3, 1000);
    assert_int_equal(nf_presence_expire(t, 100000, 3000, 0), 1); /* only 3 */
    nf_presence_free(t);
}

/* ---- records ---- */

/* Takes pointers: the writer fills them during the same call expression. */
static void roundtrip(int rc, char **json, const size_t *len, hr_presence_record *r)
{
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(*json), *len);
    assert_int_equal(hr_presence_record_parse(*json, *len, r), 0);
    free(*json);
    *json = NULL;
}

static void test_records_roundtrip(void **state)
{
    (void)state;
    char *json = NULL;
    size_t len = 0;
    hr_presence_record r;
    const hr_presence_entry e = {"presence-x", "12.34", "ann", "{\"name\":\"Ann\"}"};
    roundtrip(hr_presence_write_entry(true, 18446744073709551615ULL, &e, &json, &len), &json, &len,
              &r);
    assert_int_equal(r.kind, HR_PRESENCE_ADD);
    assert_true(r.instance == 18446744073709551615ULL);
    assert_int_equal(r.n_entries, 1);
    assert_string_equal(r.entries->user_info, "{\"name\":\"Ann\"}");
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_entry(false, 5, &e, &json, &len), &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_REMOVE);
    assert_null(r.entries->user_info);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_signal(HR_PRESENCE_HEARTBEAT, 5, 77, &json, &len), &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_HEARTBEAT);
    assert_int_equal(r.count, 77);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_signal(HR_PRESENCE_WANT, 5, 6, &json, &len), &json, &len, &r);
    assert_int_equal(r.to, 6);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_signal(HR_PRESENCE_HELLO, 5, 0, &json, &len), &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_HELLO);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_signal(HR_PRESENCE_BYE, 999999999999ULL, 0, &json, &len), &json,
              &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_BYE);
    assert_true(r.instance == 999999999999ULL);
    assert_int_equal(r.n_entries, 0);
    hr_presence_record_deinit(&r);
    assert_int_equal(hr_presence_write_signal(HR_PRESENCE_ADD, 5, 0, &json, &len), HR_EINVAL);
    assert_null(json);
    const hr_presence_entry two[] = {e, {"presence-y", "1.2", "bob", NULL}};
    roundtrip(hr_presence_write_sync(5, 3, true, two, 2, &json, &len), &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_SYNC);
    assert_int_equal(r.count, 3);
    assert_true(r.last);
    assert_int_equal(r.n_entries, 2);
    assert_string_equal(r.entries[1].channel, "presence-y");
    assert_null(r.entries[1].user_info);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_client_event(5, "private-c", "5.9", "client-typing", "[1,\"x\"]", 7,
                                             NULL, &json, &len),
              &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_CLIENT_EVENT);
    assert_string_equal(r.data, "[1,\"x\"]");
    assert_null(r.user_id);
    hr_presence_record_deinit(&r);
    roundtrip(hr_presence_write_skip(0, "7.8", 1700000000000ULL, 3, &json, &len), &json, &len, &r);
    assert_int_equal(r.kind, HR_PRESENCE_SKIP);
    assert_string_equal(r.socket_id, "7.8");
    assert_true(r.count == 1700000000000ULL && r.to == 3);
    hr_presence_record_deinit(&r);
    hr_presence_record_deinit(&r); /* twice is fine */
}

static void test_records_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"hp\":\"hello\"}",
        "{\"hp\":\"hello\",\"i\":5}",
        "{\"hp\":\"hello\",\"i\":\"-5\"}",
        "{\"hp\":\"hello\",\"i\":\"18446744073709551616\"}",
        "{\"hp\":\"nope\",\"i\":\"5\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"private-x\",\"s\":\"1.2\",\"u\":\"a\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"1.\",\"u\":\"a\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"a.2\",\"u\":\"a\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"1.2\",\"u\":\"\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"1.2\",\"u\":\"a\\u0000b\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"1.2\",\"u\":\"a\",\"f\":\"{x\"}",
        "{\"hp\":\"add\",\"i\":\"5\",\"c\":\"presence-x\",\"s\":\"1.2\",\"u\":\"a\",\"f\":{}}",
        "{\"hp\":\"sync\",\"i\":\"5\",\"p\":\"0\",\"last\":\"1\",\"m\":[[\"presence-x\",\"1.2\"]]}",
        "{\"hp\":\"sync\",\"i\":\"5\",\"p\":\"0\",\"m\":[]}",
        "{\"hp\":\"ce\",\"i\":\"5\",\"c\":\"public\",\"s\":\"1.2\",\"e\":\"client-x\",\"d\":\"1\"}",
        "{\"hp\":\"ce\",\"i\":\"5\",\"c\":\"private-x\",\"s\":\"1.2\",\"e\":\"other\",\"d\":\"1\"}",
        "{\"hp\":\"ce\",\"i\":\"5\",\"c\":\"private-x\",\"s\":\"1.2\",\"e\":\"client-x\",\"d\":\"{"
        "\"}",
        "{\"hp\":\"hb\",\"i\":\"5\"}",
        "{\"hp\":\"bye\"}",
        "{\"hp\":\"bye\",\"i\":5}",
        "{\"hp\":\"bye\",\"i\":\"\"}",
        "{\"hp\":\"Bye\",\"i\":\"5\"}",
        "{\"hp\":\"skip\",\"i\":\"0\",\"s\":\"1.2\",\"ms\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hr_presence_record r;
        if (hr_presence_record_parse(bad[i], strlen(bad[i]), &r) != HR_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_null(r.root);
    }
    assert_true(hr_presence_socket_id_is_valid("0.0"));
    assert_false(hr_presence_socket_id_is_valid(".1"));
    assert_false(hr_presence_socket_id_is_valid("1.2.3"));
    char *json = NULL;
    size_t len = 0;
    const hr_presence_entry e = {"presence-x", "12", "ann", NULL};
    assert_int_equal(hr_presence_write_entry(true, 1, &e, &json, &len), HR_EINVAL);
    assert_null(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_and_last_connection),
        cmocka_unit_test(test_members_listing),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_sync_and_expiry),
        cmocka_unit_test(test_bye),
        cmocka_unit_test(test_records_roundtrip),
        cmocka_unit_test(test_records_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
