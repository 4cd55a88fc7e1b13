/* The pure half of the NATS JetStream adapter (see nats.h): the --broker
 * URL to hr_nats_config, messages to events, subjects for published items,
 * and where a consumer starts. No I/O, so it is unit-tested without a
 * server. */
#include <stdio.h>
#include <string.h>

#include "broker/nats.h"
#include "core/err.h"

static const char *const nats_params[] = {"stream",   "prefix",    "max_age",
                                          "max_msgs", "max_bytes", "warm"};

static int parse_numbers(const hr_broker_url *u, hr_nats_config *out, char *err, size_t errcap)
{
    int rc;
    if ((rc = hr_broker_url_param_u64(u, "max_age", 86400, 0, 100ULL * 365 * 86400, &out->max_age_s,
                                      err, errcap)) != 0 ||
        (rc = hr_broker_url_param_u64(u, "max_msgs", 1000000, 0, INT64_MAX, &out->max_msgs, err,
                                      errcap)) != 0 ||
        (rc = hr_broker_url_param_u64(u, "max_bytes", 0, 0, INT64_MAX, &out->max_bytes, err,
                                      errcap)) != 0)
        return rc;
    return hr_broker_url_param_u64(u, "warm", 10000, 0, 10000000, &out->warm, err, errcap);
}

/* A subject token sequence: non-empty tokens of name characters. */
static bool is_subject_tail(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        const char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '*' || c == '>' ||
            (c == '.' && s[i + 1] == '.'))
            return false;
    }
    return true;
}

int hr_nats_config_parse(const char *url, hr_nats_config *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    hr_broker_url u;
    int rc = hr_broker_url_parse(url, &u, err, errcap);
    if (rc != 0)
        return rc;
    if (strcmp(u.scheme, "nats") != 0) {
        snprintf(err, errcap, "--broker: expected nats://, got '%s://'", u.scheme);
        return HR_EINVAL;
    }
    if ((rc = hr_broker_url_check_params(&u, nats_params, HR_ARRAY_LEN(nats_params), err,
                                         errcap)) != 0 ||
        (rc = parse_numbers(&u, out, err, errcap)) != 0)
        return rc;
    if (u.path[0] != '\0') {
        snprintf(err, errcap, "--broker: a nats:// URL takes no path");
        return HR_EINVAL;
    }
    const bool v6 = strchr(u.host, ':') != NULL;
    snprintf(out->url, sizeof out->url, "nats://%s%s%s:%u", v6 ? "[" : "", u.host, v6 ? "]" : "",
             u.port != 0 ? u.port : 4222);
    out->has_user = u.has_password;
    out->has_token = u.has_user && !u.has_password;
    memcpy(out->user, u.user, sizeof out->user);
    memcpy(out->password, u.password, sizeof out->password);
    if (out->has_token)
        memcpy(out->token, u.user, sizeof out->token);
    const char *stream = hr_broker_url_param_get(&u, "stream");
    const char *prefix = hr_broker_url_param_get(&u, "prefix");
    if ((rc = hr_broker_url_copy_field(out->stream, sizeof out->stream, stream ? stream : "HERALD", "stream", err,
                         errcap)) != 0 ||
        (rc = hr_broker_url_copy_field(out->prefix, sizeof out->prefix - 3, prefix ? prefix : "herald.events",
                         "prefix", err, errcap)) != 0)
        return rc;
    if (out->stream[0] == '\0' || strpbrk(out->stream, ". *>\t") != NULL) {
        snprintf(err, errcap,
                 "--broker: the stream name must be non-empty without . * > or blanks");
        return HR_EINVAL;
    }
    if (!is_subject_tail(out->prefix, strlen(out->prefix))) {
        snprintf(err, errcap, "--broker: prefix must be a subject like herald.events");
        return HR_EINVAL;
    }
    return 0;
}

int hr_nats_map_msg(const char *prefix, const char *subject, const char *hdr, const char *data,
                    size_t dlen, uint64_t seq, hr_entry *e)
{
    const hr_event_id id = {0, seq};
    if (hdr != NULL)
        return hr_entry_set(e, id, hdr, strlen(hdr), data, dlen);
    const size_t plen = strlen(prefix);
    if (strncmp(subject, prefix, plen) != 0 || subject[plen] != '.') {
        e->data = NULL;
        return HR_EINVAL;
    }
    const char *ch = subject + plen + 1;
    return hr_entry_set(e, id, ch, strlen(ch), data, dlen);
}

uint64_t hr_nats_start_seq(uint64_t first, uint64_t last, uint64_t warm, uint64_t *origin)
{
    uint64_t start = last + 1;
    if (warm > 0)
        start = last >= warm ? last - warm + 1 : 1;
    if (first > start)
        start = first;
    if (start > last + 1)
        start = last + 1;
    if (start == 0)
        start = 1;
    *origin = start - 1;
    return start;
}

int hr_nats_subject_for(const char *prefix, const char *const *channels, size_t n, char *out,
                        size_t cap, bool *needs_header)
{
    const char *first = n > 0 ? channels[0] : "_";
    const bool safe = n > 0 && is_subject_tail(first, strlen(first));
    *needs_header = n != 1 || !safe;
    const int w = snprintf(out, cap, "%s.%s", prefix, safe ? first : "_");
    if (w < 0 || (size_t)w >= cap)
        return HR_ETOOBIG;
    return 0;
}
