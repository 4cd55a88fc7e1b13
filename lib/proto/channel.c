/* Channel names and subscription rules (SPEC §2). A channel name is a short
 * token from a restricted alphabet, so it can be put in JSON, HTTP headers
 * and broker subjects without escaping. The access rule has three tiers:
 * public names (no ':'), the per-user "user:<id>" names (only that user), and
 * every other protected name, granted by the identity's `channels` claim,
 * whose entries are exact names or prefixes ending in '*'. An identity is the
 * owned form of "who is this connection": the verified token, or the
 * gateway's X-Herald-User / X-Herald-Channels headers. */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
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

void hr_identity_init(hr_identity *id)
{
    id->user = NULL;
    id->channels = NULL;
    id->n_channels = 0;
}

void hr_identity_deinit(hr_identity *id)
{
    if (id == NULL)
        return;
    hr_free(id->user);
    for (size_t i = 0; i < id->n_channels; i++)
        hr_free(id->channels[i]);
    hr_free(id->channels);
    hr_identity_init(id);
}

/* The user id travels in JSON (welcome) and HTTP headers (X-Herald-User):
 * valid UTF-8, no control characters. */
static bool user_is_valid(const char *u, size_t len)
{
    if (len > HR_IDENTITY_USER_MAX || !hr_utf8_valid((const uint8_t *)u, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)u[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Appends a copy of p[0..len) to id->channels. */
static int push_channel(hr_identity *id, const char *p, size_t len)
{
    char **grown = hr_realloc(id->channels, (id->n_channels + 1) * sizeof *grown);
    if (grown == NULL)
        return HR_ENOMEM;
    id->channels = grown;
    char *s = hr_strndup(p, len);
    if (s == NULL)
        return HR_ENOMEM;
    id->channels[id->n_channels++] = s;
    return 0;
}

/* Splits the comma-separated list into id->channels. */
static int parse_channel_list(const char *p, size_t len, hr_identity *id)
{
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && p[i] != ',')
            i++;
        size_t end = i++;
        while (start < end && is_blank(p[start]))
            start++;
        while (end > start && is_blank(p[end - 1]))
            end--;
        if (start == end)
            continue;
        if (!hr_channel_is_valid_pattern(p + start, end - start))
            return HR_EINVAL;
        if (id->n_channels >= HR_IDENTITY_CHANNELS_MAX)
            return HR_EINVAL;
        const int rc = push_channel(id, p + start, end - start);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hr_identity_from_headers(const char *user, size_t user_len, const char *channels,
                             size_t channels_len, hr_identity *out)
{
    hr_identity_init(out);
    int rc = HR_EINVAL;
    if (user != NULL && user_len > 0) {
        if (!user_is_valid(user, user_len))
            goto fail;
        out->user = hr_strndup(user, user_len);
        if (out->user == NULL) {
            rc = HR_ENOMEM;
            goto fail;
        }
    }
    if (channels != NULL) {
        rc = parse_channel_list(channels, channels_len, out);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    hr_identity_deinit(out);
    return rc;
}

int hr_identity_copy(const hr_identity *src, hr_identity *dst)
{
    hr_identity_init(dst);
    if (src->user != NULL) {
        dst->user = hr_strndup(src->user, strlen(src->user));
        if (dst->user == NULL)
            goto fail;
    }
    for (size_t i = 0; i < src->n_channels; i++)
        if (push_channel(dst, src->channels[i], strlen(src->channels[i])) < 0)
            goto fail;
    return 0;
fail:
    hr_identity_deinit(dst);
    return HR_ENOMEM;
}

int hr_identity_format_channels(const hr_identity *id, char **out, size_t *out_len)
{
    size_t total = 0;
    for (size_t i = 0; i < id->n_channels; i++)
        total += strlen(id->channels[i]) + 1;
    char *s = hr_malloc(total + 1);
    if (s == NULL)
        return HR_ENOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < id->n_channels; i++) {
        if (i > 0)
            s[pos++] = ',';
        const size_t n = strlen(id->channels[i]);
        memcpy(s + pos, id->channels[i], n);
        pos += n;
    }
    s[pos] = '\0';
    *out = s;
    *out_len = pos;
    return 0;
}
