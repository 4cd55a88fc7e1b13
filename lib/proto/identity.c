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
    id->publish = NULL;
    id->n_publish = 0;
    id->expires = 0;
}

void hr_identity_deinit(hr_identity *id)
{
    if (id == NULL)
        return;
    hr_free(id->user);
    for (size_t i = 0; i < id->n_channels; i++)
        hr_free(id->channels[i]);
    hr_free(id->channels);
    for (size_t i = 0; i < id->n_publish; i++)
        hr_free(id->publish[i]);
    hr_free(id->publish);
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

/* Appends a copy of p[0..len) to the list (*arr, *n): channels or publish. */
static int push_pattern(char ***arr, size_t *n, const char *p, size_t len)
{
    char **grown = hr_realloc(*arr, (*n + 1) * sizeof *grown);
    if (grown == NULL)
        return HR_ENOMEM;
    *arr = grown;
    char *s = hr_strndup(p, len);
    if (s == NULL)
        return HR_ENOMEM;
    grown[(*n)++] = s;
    return 0;
}

/* Splits the comma-separated list of patterns into (*arr, *n). */
static int parse_list(const char *p, size_t len, char ***arr, size_t *n)
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
        if (*n >= HR_IDENTITY_CHANNELS_MAX)
            return HR_EINVAL;
        const int rc = push_pattern(arr, n, p + start, end - start);
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
        rc = parse_list(channels, channels_len, &out->channels, &out->n_channels);
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
        if (push_pattern(&dst->channels, &dst->n_channels, src->channels[i],
                         strlen(src->channels[i])) < 0)
            goto fail;
    for (size_t i = 0; i < src->n_publish; i++)
        if (push_pattern(&dst->publish, &dst->n_publish, src->publish[i], strlen(src->publish[i])) <
            0)
            goto fail;
    dst->expires = src->expires;
    return 0;
fail:
    hr_identity_deinit(dst);
    return HR_ENOMEM;
}

static int format_list(char *const *arr, size_t n, char **out, size_t *out_len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(arr[i]) + 1;
    char *s = hr_malloc(total + 1);
    if (s == NULL)
        return HR_ENOMEM;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s[pos++] = ',';
        const size_t len = strlen(arr[i]);
        memcpy(s + pos, arr[i], len);
        pos += len;
    }
    s[pos] = '\0';
    *out = s;
    *out_len = pos;
    return 0;
}

int hr_identity_format_channels(const hr_identity *id, char **out, size_t *out_len)
{
    return format_list(id->channels, id->n_channels, out, out_len);
}

int hr_identity_format_publish(const hr_identity *id, char **out, size_t *out_len)
{
    return format_list(id->publish, id->n_publish, out, out_len);
}

int hr_identity_set_publish(hr_identity *id, const char *list, size_t len)
{
    char **arr = NULL;
    size_t n = 0;
    const int rc = list != NULL ? parse_list(list, len, &arr, &n) : 0;
    if (rc == 0) {
        for (size_t i = 0; i < id->n_publish; i++)
            hr_free(id->publish[i]);
        hr_free(id->publish);
        id->publish = arr;
        id->n_publish = n;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        hr_free(arr[i]);
    hr_free(arr);
    return rc;
}

int hr_identity_parse_expires(const char *v, size_t len, int64_t *out)
{
    /* Unix seconds: 1..15 digits (up to year 30 million), no sign or blanks. */
    if (len == 0 || len > 15 || v[0] == '0')
        return HR_EINVAL;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return HR_EINVAL;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

bool hr_identity_may_publish(const hr_identity *id, const char *name, size_t len)
{
    if (id == NULL || id->user == NULL || !hr_channel_is_valid(name, len))
        return false;
    for (size_t i = 0; i < id->n_publish; i++) {
        const char *p = id->publish[i];
        const size_t pl = strlen(p);
        if (pl > 0 && p[pl - 1] == '*') {
            if (len >= pl - 1 && memcmp(name, p, pl - 1) == 0)
                return true;
        } else if (pl == len && memcmp(name, p, len) == 0) {
            return true;
        }
    }
    return false;
}
