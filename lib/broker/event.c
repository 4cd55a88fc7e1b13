/* Event id parsing, formatting and ordering (see event.h). Ids are compared
 * as numbers, never as text, because "9-1" < "10-1" numerically but not
 * lexically. */
#include "event.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/err.h"

/* Parses a run of decimal digits s[0..len) into *out; false on empty, a
 * non-digit or overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        const uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int hr_event_id_parse(const char *s, size_t len, hr_event_id *out)
{
    size_t dash = len;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-') {
            dash = i;
            break;
        }
    }
    hr_event_id id = {0, 0};
    if (dash == len) {
        if (!parse_u64(s, len, &id.seq))
            return HR_EINVAL;
    } else if (!parse_u64(s, dash, &id.ms) || !parse_u64(s + dash + 1, len - dash - 1, &id.seq)) {
        return HR_EINVAL;
    }
    *out = id;
    return 0;
}

size_t hr_event_id_format(hr_event_id id, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    int n;
    if (id.ms == 0)
        n = snprintf(out, cap, "%" PRIu64, id.seq);
    else
        n = snprintf(out, cap, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

int hr_event_id_cmp(hr_event_id a, hr_event_id b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}
