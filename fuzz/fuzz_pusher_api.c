/* Fuzz target for Pusher HTTP API event bodies (lib/proto/pusher_api). The
 * first byte picks /events or /batch_events. Oracles: a parsed body gives
 * items with valid Herald channel names, valid event names and data that
 * jansson reads as one value; its exclusions are valid socket ids; a
 * refusal leaves nothing and says why; with one allocation failing the
 * verdict is the same or a clean HR_ENOMEM. The rest of the input also goes
 * through hr_pusher_api_data and the endpoint matcher. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/channel.h"
#include "proto/pusher_api.h"
#include "proto/pusher_sign.h"

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_batch(const hr_pub_batch *b, char **ex)
{
    HR_ASSERT(b->n_items >= 1 && b->n_items <= HR_PUSHER_API_MAX_BATCH);
    for (size_t i = 0; i < b->n_items; i++) {
        const hr_pub_item *it = &b->items[i];
        HR_ASSERT(it->n_channels >= 1 && it->n_channels <= HR_PUSHER_API_MAX_CHANNELS);
        for (size_t k = 0; k < it->n_channels; k++)
            HR_ASSERT(hr_channel_is_valid(it->channels[k], strlen(it->channels[k])));
        HR_ASSERT(hr_event_name_is_valid(it->event, it->event_len));
        json_t *v = json_loadb(it->data, it->data_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        HR_ASSERT(v != NULL && strlen(it->data) == it->data_len);
        json_decref(v);
        HR_ASSERT(ex[i] == NULL || hr_pusher_socket_id_is_valid(ex[i], strlen(ex[i])));
    }
}

/* True when every run of bytes between two '"' is short. The event data
 * (a JSON string) is loaded by jansson a second time, after the body's own
 * load; jansson 2.14's lexer aborts when an allocation fails while it saves
 * a token longer than 16 bytes (akheron/jansson#362), and escaped quotes
 * inside the data make its tokens look shorter than they are: so failures
 * are injected only into inputs whose every quoted run is 8 bytes or less. */
static bool short_tokens(const uint8_t *p, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = p[i] == '"' ? 0 : run + 1;
        if (run > 8)
            return false;
    }
    return true;
}

static void check_alloc_failure(const uint8_t *p, size_t n, bool batch, int want)
{
    if (!short_tokens(p, n))
        return;
    hr_pub_batch b;
    char **ex = NULL;
    hr_alloc_fail_nth(ULONG_MAX); /* count only */
    (void)hr_pusher_api_parse_events(p, n, batch, &b, &ex, NULL, 0);
    const unsigned long total = hr_alloc_count();
    hr_alloc_fail_nth(0);
    hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
    hr_publish_batch_deinit(&b);
    hr_alloc_fail_nth(ULONG_MAX);
    json_decref(json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL));
    const unsigned long n_load = hr_alloc_count();
    hr_alloc_fail_nth(0);
    const unsigned long nth = fuzz_failure_pick(p, n, n_load, total);
    if (nth == 0)
        return;
    hr_alloc_fail_nth(nth);
    const int rc = hr_pusher_api_parse_events(p, n, batch, &b, &ex, NULL, 0);
    hr_alloc_fail_nth(0);
    HR_ASSERT(rc == want || rc == HR_ENOMEM);
    HR_ASSERT(rc == 0 || (ex == NULL && b.items == NULL));
    hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
    hr_publish_batch_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const bool batch = data[0] & 1;
    const uint8_t *p = data + 1;
    const size_t n = size - 1;
    hr_pub_batch b;
    char **ex = NULL;
    char err[128];
    const int rc = hr_pusher_api_parse_events(p, n, batch, &b, &ex, err, sizeof err);
    check_alloc_failure(p, n, batch, rc);
    if (rc == 0) {
        HR_ASSERT(b.is_batch == batch);
        check_batch(&b, ex);
        hr_pusher_api_exclude_free(ex, HR_PUSHER_API_MAX_BATCH);
        hr_publish_batch_deinit(&b);
    } else {
        HR_ASSERT(rc == HR_EINVAL && ex == NULL && b.items == NULL && err[0] != '\0');
    }
    char *d = NULL;
    size_t dl = 0;
    if (hr_pusher_api_data((const char *)p, n, &d, &dl) == 0) {
        json_t *v =
            json_loadb(d, dl, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
        HR_ASSERT(v != NULL);
        json_decref(v);
        free(d);
    }
    hr_pusher_api_route r;
    char ch[HR_PUSHER_CHANNEL_MAX + 1];
    if (hr_pusher_api_match((const char *)p, n, "1", &r, ch) == 0 &&
        (r == HR_PUSHER_API_CHANNEL || r == HR_PUSHER_API_CHANNEL_USERS))
        HR_ASSERT(hr_pusher_channel_is_valid(ch, strlen(ch)));
    return 0;
}
