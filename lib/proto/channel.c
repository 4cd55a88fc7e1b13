/* Channel names and subscription rules (SPEC §2). A channel name is a short
 * token from a restricted alphabet, so it can be put in JSON, HTTP headers
 * and broker subjects without escaping. The access rule has three tiers:
 * public names (no ':'), the per-user "user:<id>" names (only that user), and
 * every other protected name, granted by the identity's `channels` claim,
 * whose entries are exact names or prefixes ending in '*'. The identity
 * itself (who the connection is) lives in identity.c. */
#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static const char USER_PREFIX[] = "user:";
#define USER_PREFIX_LEN (sizeof(USER_PREFIX) - 1)

static bool is_name_char(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
}

static bool all_name_chars(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)p[i]))
            return false;
    return true;
}

bool hr_channel_is_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > HR_CHANNEL_MAX)
        return false;
    return all_name_chars(name, len);
}

bool hr_channel_is_protected(const char *name, size_t len)
{
    /* Pusher's private- and presence- names are protected too (SPEC §2, §8). */
    static const char priv[] = "private-", pres[] = "presence-";
    return name != NULL && (memchr(name, ':', len) != NULL ||
                            (len >= sizeof priv - 1 && memcmp(name, priv, sizeof priv - 1) == 0) ||
                            (len >= sizeof pres - 1 && memcmp(name, pres, sizeof pres - 1) == 0));
}

bool hr_channel_is_valid_pattern(const char *p, size_t len)
{
    if (p == NULL || len == 0)
        return false;
    if (p[len - 1] == '*')
        return len - 1 <= HR_CHANNEL_MAX && all_name_chars(p, len - 1);
    return hr_channel_is_valid(p, len);
}

/* Length of the valid UTF-8 character at p[0..left), or 0 when the byte
 * there does not start one. */
static size_t utf8_char_len(const unsigned char *p, size_t left)
{
    const size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
    return n != 0 && n <= left && hr_utf8_valid(p, n) ? n : 0;
}

char *hr_channel_explain(const char *name, size_t len, char *out, size_t cap)
{
    char shown[HR_CHANNEL_SHOWN + 1];
    size_t n = 0, i = 0;
    const unsigned char *p = (const unsigned char *)name;
    while (p != NULL && i < len) {
        size_t step = p[i] < 0x80 ? 1 : utf8_char_len(p + i, len - i);
        const bool ascii = step == 1 && p[i] >= 0x20 && p[i] != 0x7f;
        if (step == 0)
            step = 1; /* an invalid byte, shown as '?' */
        const size_t w = ascii || step == 1 ? 1 : step;
        if (n + w > HR_CHANNEL_SHOWN)
            break;
        if (ascii || w > 1)
            memcpy(shown + n, p + i, w);
        else
            shown[n] = '?';
        n += w;
        i += step;
    }
    shown[n] = '\0';
    if (cap == 0)
        return out;
    if (i < len && len > HR_CHANNEL_MAX)
        snprintf(out, cap, "\"%s\xe2\x80\xa6\" (%zu bytes; names match %s)", shown, len,
                 HR_CHANNEL_RULE);
    else
        snprintf(out, cap, "\"%s%s\" (names match %s)", shown, i < len ? "\xe2\x80\xa6" : "",
                 HR_CHANNEL_RULE);
    return out;
}

static bool pattern_matches(const char *pat, const char *name, size_t len)
{
    const size_t plen = strlen(pat);
    if (plen > 0 && pat[plen - 1] == '*')
        return plen - 1 <= len && memcmp(pat, name, plen - 1) == 0;
    return plen == len && memcmp(pat, name, len) == 0;
}

bool hr_channel_can_subscribe(const hr_identity *id, const char *name, size_t len)
{
    if (!hr_channel_is_valid(name, len))
        return false;
    if (!hr_channel_is_protected(name, len))
        return true;
    if (id == NULL)
        return false;
    if (len >= USER_PREFIX_LEN && memcmp(name, USER_PREFIX, USER_PREFIX_LEN) == 0) {
        const size_t ulen = len - USER_PREFIX_LEN;
        return id->user != NULL && strlen(id->user) == ulen &&
               memcmp(id->user, name + USER_PREFIX_LEN, ulen) == 0;
    }
    for (size_t i = 0; i < id->n_channels; i++)
        if (pattern_matches(id->channels[i], name, len))
            return true;
    return false;
}
