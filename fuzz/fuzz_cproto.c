/* Fuzz target for the client command parser (lib/proto/cproto). Besides not
 * crashing, it checks invariants: a parsed subscribe/unsubscribe has 1..MAX
 * distinct valid channels (refresh: a token or the proxy identity; publish:
 * one valid channel and data that is JSON); re-encoding it (as an unsubscribed reply whose type is
 * swapped back) parses to the same command; every failure yields an error reply that is itself
 * valid JSON with the right code; the event encoder agrees with itself on sizes. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "proto/channel.h"
#include "proto/cproto.h"

#define MAX_CHANNELS 8

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error_reply(const hr_cproto_error *err)
{
    char *out = NULL;
    size_t len = 0;
    HR_ASSERT(strcmp(err->code, "bad_request") == 0 || strcmp(err->code, "too_many_channels") == 0);
    HR_ASSERT(hr_cproto_write_parse_error(err, &out, &len) == 0);
    json_t *j = json_loadb(out, len, 0, NULL);
    HR_ASSERT(j != NULL);
    HR_ASSERT(strcmp(json_string_value(json_object_get(j, "code")), err->code) == 0);
    if (err->has_ref)
        HR_ASSERT(strcmp(json_string_value(json_object_get(j, "ref")), err->ref) == 0);
    json_decref(j);
    free(out);
}

/* refresh and publish: the fields their handlers rely on. */
static void check_token_commands(const hr_cmd *cmd)
{
    if (cmd->type == HR_CMD_REFRESH) {
        HR_ASSERT(cmd->has_identity ? cmd->id_user != NULL && cmd->id_expires >= 0
                                    : cmd->token != NULL && cmd->token[0] != '\0');
        HR_ASSERT(cmd->n_channels == 0);
        return;
    }
    HR_ASSERT(cmd->n_channels == 1 &&
              hr_channel_is_valid(cmd->channels[0], strlen(cmd->channels[0])));
    HR_ASSERT(cmd->data != NULL && strlen(cmd->data) == cmd->data_len);
    json_t *j = json_loads(cmd->data, JSON_DECODE_ANY, NULL);
    HR_ASSERT(j != NULL);
    json_decref(j);
}

static void check_round_trip(const hr_cmd *cmd)
{
    if (cmd->type == HR_CMD_REFRESH || cmd->type == HR_CMD_PUBLISH) {
        check_token_commands(cmd);
        return;
    }
    HR_ASSERT(cmd->n_channels >= 1 && cmd->n_channels <= MAX_CHANNELS);
    for (size_t i = 0; i < cmd->n_channels; i++) {
        HR_ASSERT(hr_channel_is_valid(cmd->channels[i], strlen(cmd->channels[i])));
        for (size_t k = 0; k < i; k++)
            HR_ASSERT(strcmp(cmd->channels[i], cmd->channels[k]) != 0);
    }
    char *out = NULL;
    size_t len = 0;
    HR_ASSERT(hr_cproto_write_unsubscribed((const char *const *)cmd->channels, cmd->n_channels,
                                           cmd->ref, &out, &len) == 0);
    /* {"type":"unsubscribed"... -> {"type":"unsubscribe" ... */
    HR_ASSERT(len > 22 && memcmp(out + 9, "unsubscribed\"", 13) == 0);
    memcpy(out + 9, "unsubscribe\" ", 13);
    hr_cmd again;
    HR_ASSERT(hr_cproto_parse((const uint8_t *)out, len, MAX_CHANNELS, &again, NULL) == 0);
    HR_ASSERT(again.n_channels == cmd->n_channels);
    for (size_t i = 0; i < cmd->n_channels; i++)
        HR_ASSERT(strcmp(again.channels[i], cmd->channels[i]) == 0);
    HR_ASSERT((again.ref == NULL) == (cmd->ref == NULL));
    HR_ASSERT(cmd->ref == NULL || strcmp(again.ref, cmd->ref) == 0);
    hr_cmd_deinit(&again);
    free(out);
}

/* Uses the input as event parts too: channel | id | data split at bytes. */
static void check_event(const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    const size_t clen = data[0] % 16 + 1, idlen = data[1] % 16 + 1;
    if (size < 2 + clen + idlen + 1)
        return;
    const char *ch = (const char *)data + 2;
    const char *id = ch + clen;
    const char *dj = id + idlen;
    const size_t dlen = size - 2 - clen - idlen;
    const int need = hr_cproto_write_event(NULL, 0, ch, clen, id, idlen, dj, dlen);
    if (need < 0)
        return;
    char *buf = malloc((size_t)need);
    HR_ASSERT(buf != NULL);
    HR_ASSERT(hr_cproto_write_event(buf, (size_t)need, ch, clen, id, idlen, dj, dlen) == need);
    HR_ASSERT(buf[need - 1] == '}');
    free(buf);
}

/* Parses again with one of the parse's own allocations failing. */
static void check_alloc_failure(const uint8_t *data, size_t size, int want)
{
    hr_cmd cmd;
    hr_alloc_fail_nth(ULONG_MAX); /* count only */
    (void)hr_cproto_parse(data, size, MAX_CHANNELS, &cmd, NULL);
    const unsigned long n = hr_alloc_count();
    hr_alloc_fail_nth(0);
    hr_cmd_deinit(&cmd);
    /* The parse starts with one jansson load; its lexer aborts on a failed
     * allocation (akheron/jansson#362), so failures go to the allocations
     * after it. */
    hr_alloc_fail_nth(ULONG_MAX);
    json_decref(json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL));
    const unsigned long n_load = hr_alloc_count();
    hr_alloc_fail_nth(0);
    const unsigned long nth = fuzz_failure_pick(data, size, n_load, n);
    if (nth == 0)
        return;
    hr_alloc_fail_nth(nth);
    const int rc = hr_cproto_parse(data, size, MAX_CHANNELS, &cmd, NULL);
    hr_alloc_fail_nth(0);
    HR_ASSERT(rc == want || rc == HR_ENOMEM);
    HR_ASSERT(rc == 0 || (cmd.channels == NULL && cmd.ref == NULL && cmd.since == NULL &&
                          cmd.token == NULL && cmd.data == NULL && cmd.id_user == NULL));
    hr_cmd_deinit(&cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_cmd cmd;
    hr_cproto_error err;
    const int rc = hr_cproto_parse(data, size, MAX_CHANNELS, &cmd, &err);
    if (rc == 0) {
        check_round_trip(&cmd);
        hr_cmd_deinit(&cmd);
    } else {
        HR_ASSERT(rc == HR_EINVAL);
        HR_ASSERT(cmd.channels == NULL && cmd.ref == NULL && cmd.since == NULL);
        check_error_reply(&err);
    }
    check_event(data, size);
    check_alloc_failure(data, size, rc);
    return 0;
}
