/* Fuzz target for Pusher client messages (lib/proto/pusher). Oracles: a
 * parsed message has the fields its type promises (valid Pusher channel,
 * client data that jansson reads back); the input as a channel name maps to
 * Herald and back to the same Herald name; the input as presence
 * channel_data gives a plain user id; the input as event data (when it is a
 * JSON value) is written into an event message that jansson reads and whose
 * data carries it; with one allocation failing the parse gives the same
 * verdict or a clean HR_ENOMEM. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/channel.h"
#include "proto/publish.h"
#include "proto/pusher.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const hr_pusher_msg *m)
{
    HR_ASSERT(m->event != NULL && hr_pusher_event_is_valid(m->event, strlen(m->event)));
    switch (m->type) {
    case HR_PUSHER_MSG_SUBSCRIBE:
    case HR_PUSHER_MSG_UNSUBSCRIBE:
        HR_ASSERT(hr_pusher_channel_is_valid(m->channel, strlen(m->channel)));
        HR_ASSERT(m->data == NULL);
        break;
    case HR_PUSHER_MSG_CLIENT_EVENT: {
        HR_ASSERT(strncmp(m->event, "client-", 7) == 0);
        HR_ASSERT(hr_pusher_channel_is_valid(m->channel, strlen(m->channel)));
        HR_ASSERT(m->data != NULL && strlen(m->data) == m->data_len);
        json_t *v = json_loadb(m->data, m->data_len, JSON_DECODE_ANY, NULL);
        HR_ASSERT(v != NULL);
        json_decref(v);
        break;
    }
    default:
        HR_ASSERT(m->channel == NULL && m->auth == NULL && m->data == NULL);
    }
}

static void check_alloc_failure(const uint8_t *data, size_t size, int want)
{
    hr_pusher_msg m;
    hr_alloc_fail_nth(ULONG_MAX); /* count only */
    (void)hr_pusher_parse(data, size, &m, NULL);
    const unsigned long n = hr_alloc_count();
    hr_alloc_fail_nth(0);
    hr_pusher_msg_deinit(&m);
    hr_alloc_fail_nth(ULONG_MAX);
    json_decref(json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL));
    const unsigned long n_load = hr_alloc_count();
    hr_alloc_fail_nth(0);
    const unsigned long nth = fuzz_failure_pick(data, size, n_load, n);
    if (nth == 0)
        return;
    hr_alloc_fail_nth(nth);
    const int rc = hr_pusher_parse(data, size, &m, NULL);
    hr_alloc_fail_nth(0);
    HR_ASSERT(rc == want || rc == HR_ENOMEM);
    HR_ASSERT(rc == 0 || m.event == NULL);
    hr_pusher_msg_deinit(&m);
}

static void check_names(const uint8_t *data, size_t size)
{
    char h[HR_CHANNEL_MAX + 1], p[HR_PUSHER_CHANNEL_MAX + 1], h2[HR_CHANNEL_MAX + 1];
    const int n = hr_pusher_channel_to_herald((const char *)data, size, h);
    if (n >= 0) {
        HR_ASSERT(hr_channel_is_valid(h, (size_t)n));
        const int m = hr_pusher_channel_from_herald(h, (size_t)n, p);
        HR_ASSERT(m > 0 && hr_pusher_channel_is_valid(p, (size_t)m));
        HR_ASSERT(hr_pusher_channel_to_herald(p, (size_t)m, h2) == n &&
                  memcmp(h, h2, (size_t)n) == 0);
    }
    if (hr_channel_is_valid((const char *)data, size)) {
        const int m = hr_pusher_channel_from_herald((const char *)data, size, p);
        HR_ASSERT(m > 0 && hr_pusher_channel_is_valid(p, (size_t)m));
    }
}

static void check_channel_data(const uint8_t *data, size_t size)
{
    char *id = NULL, *info = NULL;
    if (hr_pusher_parse_channel_data((const char *)data, size, &id, &info) == 0) {
        HR_ASSERT(id != NULL && strlen(id) >= 1 && strlen(id) <= HR_PUSHER_USER_ID_MAX);
        const hr_pusher_member mem = {id, info};
        char *out = NULL;
        size_t len = 0;
        HR_ASSERT(hr_pusher_write_subscribed("presence-x", &mem, 1, &out, &len) == 0);
        json_t *v = json_loadb(out, len, 0, NULL);
        HR_ASSERT(v != NULL);
        json_decref(v);
        free(out);
    }
    HR_ASSERT((id == NULL) == (info == NULL) || info == NULL);
    free(id);
    free(info);
}

static void check_event(const uint8_t *data, size_t size)
{
    char *json = NULL;
    size_t jlen = 0;
    if (hr_publish_normalize_data((const char *)data, size, &json, &jlen) != 0)
        return;
    const int need = hr_pusher_write_event(NULL, 0, "ev\"\\", 4, "private-c", 9, json, jlen, "u");
    HR_ASSERT(need > 0);
    char *buf = malloc((size_t)need);
    HR_ASSERT(buf != NULL);
    HR_ASSERT(hr_pusher_write_event(buf, (size_t)need, "ev\"\\", 4, "private-c", 9, json, jlen,
                                    "u") == need);
    json_t *msg = json_loadb(buf, (size_t)need, JSON_ALLOW_NUL, NULL);
    HR_ASSERT(msg != NULL);
    json_t *d = json_object_get(msg, "data");
    HR_ASSERT(json_is_string(d));
    HR_ASSERT(strcmp(json_string_value(json_object_get(msg, "event")), "ev\"\\") == 0);
    if (json[0] == '"') { /* the string itself */
        json_t *want = json_loadb(json, jlen,
                                  JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        HR_ASSERT(json_equal(want, d));
        json_decref(want);
    } else { /* the JSON text */
        HR_ASSERT(json_string_length(d) == jlen && memcmp(json_string_value(d), json, jlen) == 0);
    }
    json_decref(msg);
    free(buf);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_pusher_msg m;
    hr_pusher_error err;
    const int rc = hr_pusher_parse(data, size, &m, &err);
    check_alloc_failure(data, size, rc);
    if (rc == 0) {
        check_msg(&m);
        hr_pusher_msg_deinit(&m);
    } else {
        HR_ASSERT(rc == HR_EINVAL && m.event == NULL && err.message[0] != '\0');
        char *out = NULL;
        size_t len = 0;
        HR_ASSERT(hr_pusher_write_error(err.code, err.message, &out, &len) == 0 ||
                  hr_pusher_write_error(0, "x", &out, &len) == 0);
        free(out);
    }
    check_names(data, size);
    check_channel_data(data, size);
    check_event(data, size);
    return 0;
}
