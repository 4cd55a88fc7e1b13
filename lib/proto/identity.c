/* Identities (identity.h): construction from the gateway's headers with
 * their validation (user id: UTF-8 without controls; claims: channel
 * patterns), deep copy, and formatting of the claims back into a header
 * value. Allocation through the hr_malloc hook. */
#include "identity.h"

#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "core/alloc.h"
#include "core/err.h"
#include "utf8.h"

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
