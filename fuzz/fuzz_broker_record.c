/* Fuzz target for what a broker hands the notifier: a record's channel list
 * and data (hr_entry_set), read as a Redis stream entry or a NATS message
 * (hr_nats_map_msg: subject, optional Herald-Channels header). Input layout:
 * byte 0 picks the form, then the text up to the first NUL is the channel
 * list (or subject), the rest is the data. A record that decodes must have
 * 1..HR_ENTRY_MAX_CHANNELS valid names and NUL-terminated compact data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/entry.h"
#include "broker/nats.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hr_entry entry;

static void check(int rc)
{
    if (rc != 0 && rc != HR_EINVAL && rc != HR_ENOMEM)
        abort();
    if (rc == 0) {
        if (entry.ev.n_channels == 0 || entry.ev.n_channels > HR_ENTRY_MAX_CHANNELS ||
            entry.ev.data[entry.ev.data_len] != '\0')
            abort();
        for (size_t i = 0; i < entry.ev.n_channels; i++)
            if (!hr_channel_is_valid(entry.ev.channels[i], strlen(entry.ev.channels[i])))
                abort();
    }
    hr_entry_deinit(&entry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t form = data[0];
    const char *p = (const char *)data + 1;
    const size_t len = size - 1;
    const char *nul = memchr(p, '\0', len);
    const size_t clen = nul != NULL ? (size_t)(nul - p) : len;
    const char *d = nul != NULL ? nul + 1 : p + len;
    const size_t dlen = nul != NULL ? len - clen - 1 : 0;
    char *chans = malloc(clen + 1); /* exact size, so ASan sees over-reads */
    char *body = malloc(dlen + 1);
    if (chans == NULL || body == NULL) {
        free(chans);
        free(body);
        return 0;
    }
    memcpy(chans, p, clen);
    chans[clen] = '\0';
    memcpy(body, d, dlen);
    body[dlen] = '\0';
    const hr_event_id id = {1, 2};
    if (form % 3 == 0)
        check(hr_entry_set(&entry, id, chans, clen, body, dlen));
    else if (form % 3 == 1)
        check(hr_nats_map_msg("herald.events", chans, NULL, body, dlen, 7, &entry));
    else
        check(hr_nats_map_msg("herald.events", "herald.events._", chans, body, dlen, 7, &entry));
    free(chans);
    free(body);
    return 0;
}
