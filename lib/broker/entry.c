/* Decoding of broker records into events (see entry.h). The channel list is
 * split into a fixed buffer of NUL-terminated names; the data goes through
 * the same JSON normaliser as POST /publish, so a client receives the same
 * bytes whichever way an event entered the system. */
#include "broker/entry.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/publish.h"

static bool seen(const hr_entry *e, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(e->names[i]) == len && memcmp(e->names[i], name, len) == 0)
            return true;
    return false;
}

static int split_channels(hr_entry *e, const char *s, size_t len)
{
    size_t n = 0, used = 0, i = 0;
    for (;;) {
        const char *comma = memchr(s + i, ',', len - i);
        const size_t end = comma != NULL ? (size_t)(comma - s) : len;
        const size_t nlen = end - i;
        if (!hr_channel_is_valid(s + i, nlen))
            return HR_EINVAL;
        if (!seen(e, n, s + i, nlen)) {
            if (n == HR_ENTRY_MAX_CHANNELS)
                return HR_EINVAL;
            memcpy(e->names_buf + used, s + i, nlen);
            e->names_buf[used + nlen] = '\0';
            e->names[n++] = e->names_buf + used;
            used += nlen + 1;
        }
        if (comma == NULL)
            break;
        i = end + 1;
    }
    e->ev.channels = e->names;
    e->ev.n_channels = n;
    return 0;
}

int hr_entry_set(hr_entry *e, hr_event_id id, const char *channels, size_t clen, const char *data,
                 size_t dlen)
{
    e->data = NULL;
    e->ev = (hr_event){.id = id};
    int rc = split_channels(e, channels, clen);
    if (rc != 0)
        return rc;
    size_t out_len = 0;
    rc = hr_publish_normalize_data(data, dlen, &e->data, &out_len);
    if (rc != 0) {
        e->data = NULL;
        return rc;
    }
    e->ev.data = e->data;
    e->ev.data_len = out_len;
    return 0;
}

int hr_entry_set_event(hr_entry *e, const char *ev, size_t len)
{
    if (!hr_event_name_is_valid(ev, len))
        return HR_EINVAL;
    memcpy(e->event, ev, len);
    e->event[len] = '\0';
    e->ev.event = e->event;
    e->ev.event_len = len;
    return 0;
}

int hr_entry_set_exclude(hr_entry *e, const char *s, size_t len)
{
    if (!hr_publish_exclude_is_valid(s, len))
        return HR_EINVAL;
    memcpy(e->exclude, s, len);
    e->exclude[len] = '\0';
    e->ev.exclude = e->exclude;
    e->ev.exclude_len = len;
    return 0;
}

void hr_entry_deinit(hr_entry *e)
{
    free(e->data);
    e->data = NULL;
}
