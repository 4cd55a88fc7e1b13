/* Fuzz target for POST /publish bodies (lib/proto/publish). Oracle for the
 * verbatim data path: every item's data text must be compact JSON that
 * jansson reads as a value equal to the one jansson finds in the body; the
 * channel lists must be distinct valid names; failures must leave nothing.
 * The same input also goes through hr_publish_normalize_data. With one
 * allocation failing (chosen from the input) the parse gives the same
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

#define MAX_ITEMS 16
#define FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(const hr_pub_item *it, json_t *obj)
{
    HR_ASSERT(it->n_channels >= 1);
    for (size_t i = 0; i < it->n_channels; i++)
        HR_ASSERT(hr_channel_is_valid(it->channels[i], strlen(it->channels[i])));
    HR_ASSERT(strlen(it->data) == it->data_len);
    for (size_t i = 0; i < it->data_len; i++)
        HR_ASSERT(it->data[i] != '\n' && it->data[i] != '\r');
    json_t *mine = json_loadb(it->data, it->data_len, JSON_DECODE_ANY | FLAGS, NULL);
    HR_ASSERT(mine != NULL);
    HR_ASSERT(json_equal(mine, json_object_get(obj, "data")));
    json_decref(mine);
}

static void check_batch(const hr_pub_batch *b, const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, FLAGS, NULL);
    HR_ASSERT(root != NULL);
    HR_ASSERT(b->is_batch == json_is_array(root));
    HR_ASSERT(b->n_items >= 1 && b->n_items <= MAX_ITEMS);
    for (size_t i = 0; i < b->n_items; i++)
        check_item(&b->items[i], b->is_batch ? json_array_get(root, i) : root);
    json_decref(root);
}

/* The broker-side helper must agree with jansson on the value it keeps. */
static void check_normalize(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    if (hr_publish_normalize_data((const char *)data, size, &out, &len) != 0) {
        HR_ASSERT(out == NULL);
        return;
    }
    json_t *a =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    json_t *b = json_loadb(out, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    HR_ASSERT(a != NULL && b != NULL && json_equal(a, b) && strlen(out) == len);
    json_decref(a);
    json_decref(b);
    free(out);
}

/* Parses again with one of the parse's own allocations failing. */
static void check_alloc_failure(const uint8_t *data, size_t size, int want)
{
    hr_pub_batch b;
    hr_alloc_fail_nth(ULONG_MAX); /* count only */
    (void)hr_publish_parse(data, size, MAX_ITEMS, &b, NULL, 0);
    const unsigned long n = hr_alloc_count();
    hr_alloc_fail_nth(0);
    hr_publish_batch_deinit(&b);
    /* The parse starts with one jansson load; its lexer aborts on a failed
     * allocation (akheron/jansson#362), so failures go to the allocations
     * after it. */
    hr_alloc_fail_nth(ULONG_MAX);
    json_decref(json_loadb((const char *)data, size,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                           NULL));
    const unsigned long n_load = hr_alloc_count();
    hr_alloc_fail_nth(0);
    const unsigned long nth = fuzz_failure_pick(data, size, n_load, n);
    if (nth == 0)
        return;
    hr_alloc_fail_nth(nth);
    const int rc = hr_publish_parse(data, size, MAX_ITEMS, &b, NULL, 0);
    hr_alloc_fail_nth(0);
    HR_ASSERT(rc == want || rc == HR_ENOMEM);
    HR_ASSERT(rc == 0 || (b.items == NULL && b.n_items == 0));
    hr_publish_batch_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_normalize(data, size);
    hr_pub_batch b;
    char err[128];
    const int rc = hr_publish_parse(data, size, MAX_ITEMS, &b, err, sizeof err);
    check_alloc_failure(data, size, rc);
    if (rc == 0) {
        check_batch(&b, data, size);
        hr_publish_batch_deinit(&b);
        return 0;
    }
    HR_ASSERT(rc == HR_EINVAL || rc == HR_ETOOBIG);
    HR_ASSERT(b.items == NULL && b.n_items == 0);
    HR_ASSERT(err[0] != '\0' && strlen(err) < sizeof err);
    char *out = NULL;
    size_t len = 0;
    HR_ASSERT(hr_publish_write_error("bad_request", err, &out, &len) == 0 ||
              hr_publish_write_error("bad_request", "x", &out, &len) == 0);
    free(out);
    return 0;
}
