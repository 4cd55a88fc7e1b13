/* Fuzz target for the presence records notifier instances exchange through
 * the broker (lib/proto/presence_record). Oracles: a parsed record has the
 * fields its kind promises (valid socket ids, presence channels, client
 * event names, JSON data; none for hello and bye), and writing it again gives a record that parses
 * to the same kind, sender and fields. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/presence_record.h"
#include "proto/pusher.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const hr_presence_entry *e)
{
    HR_ASSERT(hr_pusher_channel_is_valid(e->channel, strlen(e->channel)));
    HR_ASSERT(hr_pusher_channel_kind(e->channel, strlen(e->channel)) == HR_PUSHER_PRESENCE);
    HR_ASSERT(hr_presence_socket_id_is_valid(e->socket_id));
    HR_ASSERT(e->user_id != NULL && *e->user_id != '\0');
}

/* Writes r again and parses the result: the same record. */
static void rewrite(const hr_presence_record *r)
{
    char *json = NULL;
    size_t len = 0;
    int rc;
    switch (r->kind) {
    case HR_PRESENCE_ADD:
    case HR_PRESENCE_REMOVE:
        rc = hr_presence_write_entry(r->kind == HR_PRESENCE_ADD, r->instance, r->entries, &json,
                                     &len);
        break;
    case HR_PRESENCE_SYNC:
        rc = hr_presence_write_sync(r->instance, r->count, r->last, r->entries, r->n_entries, &json,
                                    &len);
        break;
    case HR_PRESENCE_SKIP:
        rc = hr_presence_write_skip(r->instance, r->socket_id, r->count, r->to, &json, &len);
        break;
    case HR_PRESENCE_CLIENT_EVENT:
        rc = hr_presence_write_client_event(r->instance, r->channel, r->socket_id, r->event,
                                            r->data, r->data_len, r->user_id, &json, &len);
        break;
    default:
        rc = hr_presence_write_signal(r->kind, r->instance,
                                      r->kind == HR_PRESENCE_WANT ? r->to : r->count, &json, &len);
        break;
    }
    HR_ASSERT(rc == 0 || rc == HR_ENOMEM);
    if (rc != 0)
        return;
    hr_presence_record again;
    HR_ASSERT(hr_presence_record_parse(json, len, &again) == 0);
    HR_ASSERT(again.kind == r->kind && again.instance == r->instance);
    HR_ASSERT(again.n_entries == r->n_entries);
    for (size_t i = 0; i < r->n_entries; i++) {
        HR_ASSERT(strcmp(again.entries[i].socket_id, r->entries[i].socket_id) == 0);
        HR_ASSERT(strcmp(again.entries[i].user_id, r->entries[i].user_id) == 0);
    }
    if (r->kind == HR_PRESENCE_CLIENT_EVENT)
        HR_ASSERT(again.data_len == r->data_len && memcmp(again.data, r->data, r->data_len) == 0);
    hr_presence_record_deinit(&again);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_presence_record r;
    const int rc = hr_presence_record_parse((const char *)data, size, &r);
    HR_ASSERT(rc == 0 || rc == HR_EINVAL || rc == HR_ENOMEM);
    if (rc != 0) {
        HR_ASSERT(r.root == NULL && r.entries == NULL);
        return 0;
    }
    for (size_t i = 0; i < r.n_entries; i++)
        check_entry(&r.entries[i]);
    if (r.kind == HR_PRESENCE_HELLO || r.kind == HR_PRESENCE_BYE)
        HR_ASSERT(r.n_entries == 0 && r.entries == NULL);
    if (r.kind == HR_PRESENCE_CLIENT_EVENT) {
        HR_ASSERT(strncmp(r.event, "client-", 7) == 0);
        HR_ASSERT(hr_presence_socket_id_is_valid(r.socket_id));
        json_t *v = json_loadb(r.data, r.data_len, JSON_DECODE_ANY, NULL);
        HR_ASSERT(v != NULL);
        json_decref(v);
    }
    rewrite(&r);
    hr_presence_record_deinit(&r);
    return 0;
}
