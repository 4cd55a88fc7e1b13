/* Fuzz target for Pusher signatures (lib/proto/pusher_sign). The input is
 * "query\nbody": the query is verified as an HTTP API request (any verdict
 * but a crash; only the exact signature passes), then signed with
 * hr_pusher_api_sign and verified again, which must pass; the input as a
 * channel auth string is refused unless it is the real signature; the input
 * as a socket id agrees with a direct check of ^\d+\.\d+$. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "proto/pusher_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY "key"
#define SECRET "secret"
#define NOW 1700000000

static bool socket_id_oracle(const uint8_t *s, size_t n)
{
    size_t i = 0, a = 0, b = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, a++;
    if (i == n || s[i] != '.')
        return false;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, b++;
    return i == n && a >= 1 && b >= 1 && a <= 20 && b <= 20;
}

/* True when p[0..n) holds "body_md5" in any case: a caller's own body_md5
 * stays in the signed query and is then checked against the body. */
static bool names_body_md5(const uint8_t *p, size_t n)
{
    static const char w[] = "body_md5";
    for (size_t i = 0; i + 8 <= n; i++) {
        size_t k = 0;
        while (k < 8 && (p[i + k] | 0x20) == (w[k] | 0x20))
            k++;
        if (k == 8)
            return true;
    }
    return false;
}

static void check_api(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    const size_t qlen = nl != NULL ? (size_t)(nl - data) : size;
    hr_pusher_api_req req = {.method = "POST",
                             .method_len = 4,
                             .path = "/apps/1/events",
                             .path_len = 14,
                             .query = (const char *)data,
                             .query_len = qlen,
                             .body = nl != NULL ? nl + 1 : NULL,
                             .body_len = nl != NULL ? size - qlen - 1 : 0};
    const char *why = NULL;
    const int rc = hr_pusher_api_verify(&req, KEY, SECRET, NOW, &why);
    HR_ASSERT(rc == 0 || rc == HR_EDENIED || rc == HR_EINVAL);
    HR_ASSERT(rc != HR_EDENIED || (why != NULL && why[0] != '\0'));
    char *q = NULL;
    if (hr_pusher_api_sign(&req, KEY, SECRET, NOW, &q) != 0) {
        HR_ASSERT(q == NULL);
        return;
    }
    req.query = q;
    req.query_len = strlen(q);
    /* Signed parameters travel unencoded (as the Node library sends them):
     * without '%' escapes in the input, decoding changes nothing and the
     * signed query must verify (unless it carried its own body_md5). */
    const int again = hr_pusher_api_verify(&req, KEY, SECRET, NOW, &why);
    if (memchr(data, '%', qlen) == NULL && !names_body_md5(data, qlen))
        HR_ASSERT(again == 0);
    else
        HR_ASSERT(again == 0 || again == HR_EINVAL || again == HR_EDENIED);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    HR_ASSERT(hr_pusher_socket_id_is_valid((const char *)data, size) ==
              socket_id_oracle(data, size));
    check_api(data, size);
    char *s = malloc(size + 1);
    HR_ASSERT(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    char want[HR_PUSHER_HEX_LEN + 1], good[HR_PUSHER_HEX_LEN + 8];
    HR_ASSERT(hr_pusher_hmac_hex(SECRET, "1.2:private-c", 13, want) == 0);
    memcpy(good, KEY ":", 4);
    memcpy(good + 4, want, HR_PUSHER_HEX_LEN + 1);
    HR_ASSERT(hr_pusher_auth_check(KEY, SECRET, "1.2", "private-c", NULL, s) ==
              (strcmp(s, good) == 0));
    HR_ASSERT(hr_pusher_auth_check(KEY, SECRET, "1.2", "private-c", NULL, good));
    free(s);
    return 0;
}
