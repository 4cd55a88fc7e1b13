/* hr_broker_url: the parsed form of a --broker URL for the network adapters
 *
 *   scheme://[user[:password]@]host[:port][/path][?key=value&key=value]
 *
 * e.g. redis://app:s3cret@10.0.0.5:6379/2?stream=herald:events&maxlen=100000
 * or nats://token@127.0.0.1:4222?stream=HERALD. User, password, path and
 * query values are percent-decoded; IPv6 hosts are written in brackets
 * ("[::1]:6379"). Every part is copied into bounded fields, so the struct
 * owns nothing on the heap. Pure: no I/O, no allocation. */
#ifndef HR_BROKER_URL_H
#define HR_BROKER_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HR_BROKER_URL_FIELD 256 /* capacity of each text field, NUL included */
#define HR_BROKER_URL_PARAMS 16 /* most query parameters */

typedef struct hr_broker_url_param {
    char key[64];
    char value[HR_BROKER_URL_FIELD];
} hr_broker_url_param;

typedef struct hr_broker_url {
    char scheme[16];
    char user[HR_BROKER_URL_FIELD];
    char password[HR_BROKER_URL_FIELD];
    bool has_user;     /* a userinfo part was present (user may be empty) */
    bool has_password; /* "user:password" form */
    char host[HR_BROKER_URL_FIELD];
    uint16_t port;                  /* 0 when absent: the adapter applies its default */
    char path[HR_BROKER_URL_FIELD]; /* without the leading '/', "" when absent */
    hr_broker_url_param params[HR_BROKER_URL_PARAMS];
    size_t n_params;
} hr_broker_url;

/* Parses the NUL-terminated url into *out. Returns 0, or HR_EINVAL with one
 * line in err[0..errcap) (never echoing the password) for: no "://", an
 * empty host, a port outside 1..65535, a field too long for its buffer, a
 * bad percent escape, more than HR_BROKER_URL_PARAMS parameters, or a
 * parameter without '='. */
int hr_broker_url_parse(const char *url, hr_broker_url *out, char *err, size_t errcap);

/* The value of query parameter key, or NULL when absent (last one wins). */
const char *hr_broker_url_param_get(const hr_broker_url *u, const char *key);

/* Copies the NUL-terminated src into dst[cap] (a fixed field of an adapter's
 * config). Returns 0, or HR_EINVAL with "--broker: <what> too long" in err
 * when it does not fit. */
int hr_broker_url_copy_field(char *dst, size_t cap, const char *src, const char *what, char *err,
                             size_t errcap);

/* Reads parameter key as a decimal integer in [min, max] into *out, or
 * leaves def there when absent. Returns 0, or HR_EINVAL with one line in err
 * naming the parameter. */
int hr_broker_url_param_u64(const hr_broker_url *u, const char *key, uint64_t def, uint64_t min,
                            uint64_t max, uint64_t *out, char *err, size_t errcap);

/* Checks that every parameter is one of allowed[0..n): an unknown key (a
 * typo) is an error rather than silently ignored. Returns 0 or HR_EINVAL
 * with one line in err. */
int hr_broker_url_check_params(const hr_broker_url *u, const char *const *allowed, size_t n,
                               char *err, size_t errcap);

#endif
