/* Fuzz target for the server event reader (hr_cproto_parse_event) and the
 * JSON scanner under it (lib/proto/json_scan). Besides not crashing or
 * reading past the input, it checks: the scanner's verdict on the whole
 * input agrees with jansson's (number range errors aside: the scanner checks
 * grammar only); a read event's views lie inside the input, name a valid
 * channel and id, and hold exactly one JSON value as data; jansson sees the
 * same type, channel and id; re-encoding the views with the event writer
 * reads back to the same views. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/channel.h"
#include "proto/cproto.h"
#include "proto/json_scan.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const uint8_t *data, size_t size, const char *p, size_t n)
{
    return (const uint8_t *)p >= data && (const uint8_t *)p + n <= data + size;
}

static void check_scanner_against_jansson(const uint8_t *data, size_t size)
{
    const size_t end = hr_json_scan_value(data, size, 0);
    const bool scan_ok = end != 0 && hr_json_scan_ws(data, size, end) == size;
    if (size > 0 && memchr(data, '\0', size) != NULL) {
        HR_ASSERT(!scan_ok); /* jansson lets a NUL slip after a number; RFC 8259 does not */
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    const bool range = j == NULL && (strstr(jerr.text, "too big") != NULL ||
                                     strstr(jerr.text, "overflow") != NULL);
    HR_ASSERT(scan_ok == (j != NULL) || (scan_ok && range));
    json_decref(j);
}

static void check_with_jansson(const uint8_t *data, size_t size, const hr_cproto_event *ev)
{
    HR_ASSERT(memchr(data, '\0', size) == NULL);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, 0, &jerr);
    if (j == NULL) { /* only a number out of jansson's range may differ */
        HR_ASSERT(strstr(jerr.text, "too big") != NULL || strstr(jerr.text, "overflow") != NULL);
        return;
    }
    HR_ASSERT(strcmp(json_string_value(json_object_get(j, "type")), "event") == 0);
    json_t *ch = json_object_get(j, "channel"), *id = json_object_get(j, "id");
    HR_ASSERT(json_string_length(ch) == ev->channel_len);
    HR_ASSERT(memcmp(json_string_value(ch), ev->channel, ev->channel_len) == 0);
    HR_ASSERT(json_string_length(id) == ev->id_len);
    HR_ASSERT(memcmp(json_string_value(id), ev->id, ev->id_len) == 0);
    HR_ASSERT(json_object_get(j, "data") != NULL);
    json_decref(j);
}

static void check_round_trip(const hr_cproto_event *ev)
{
    const int need = hr_cproto_write_event(NULL, 0, ev->channel, ev->channel_len, ev->id,
                                           ev->id_len, ev->data, ev->data_len);
    HR_ASSERT(need > 0);
    uint8_t *buf = malloc((size_t)need);
    HR_ASSERT(buf != NULL);
    HR_ASSERT(hr_cproto_write_event((char *)buf, (size_t)need, ev->channel, ev->channel_len, ev->id,
                                    ev->id_len, ev->data, ev->data_len) == need);
    hr_cproto_event again;
    HR_ASSERT(hr_cproto_parse_event(buf, (size_t)need, &again) == 1);
    HR_ASSERT(again.channel_len == ev->channel_len && again.id_len == ev->id_len);
    HR_ASSERT(again.data_len == ev->data_len);
    HR_ASSERT(memcmp(again.channel, ev->channel, ev->channel_len) == 0);
    HR_ASSERT(memcmp(again.id, ev->id, ev->id_len) == 0);
    HR_ASSERT(memcmp(again.data, ev->data, ev->data_len) == 0);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_scanner_against_jansson(data, size);
    hr_cproto_event ev;
    const int rc = hr_cproto_parse_event(data, size, &ev);
    HR_ASSERT(rc == 1 || rc == 0 || rc == HR_EINVAL);
    if (rc != 1) {
        HR_ASSERT(ev.channel == NULL && ev.id == NULL && ev.data == NULL);
        return 0;
    }
    HR_ASSERT(inside(data, size, ev.channel, ev.channel_len));
    HR_ASSERT(inside(data, size, ev.id, ev.id_len));
    HR_ASSERT(inside(data, size, ev.data, ev.data_len));
    HR_ASSERT(hr_channel_is_valid(ev.channel, ev.channel_len));
    HR_ASSERT(hr_cproto_id_is_valid(ev.id, ev.id_len));
    HR_ASSERT(hr_json_scan_value((const uint8_t *)ev.data, ev.data_len, 0) == ev.data_len);
    check_with_jansson(data, size, &ev);
    check_round_trip(&ev);
    return 0;
}
