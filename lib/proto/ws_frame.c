/* WebSocket frame headers and payload helpers (RFC 6455 §5.2, §5.3, §7.4).
 * A header is at most 14 bytes, so it is parsed statelessly: a caller that
 * gets "need more" parses again from the start when more bytes arrive. The
 * parser judges only what the frame itself says (opcode, length encoding,
 * control frame limits); reserved bits and masking depend on negotiation and
 * side and are judged by ws_reader.c. Server frames are built once into a
 * refcounted hr_msg so that fan-out shares the same bytes. */
#include "ws_frame.h"

#include <string.h>

#include "core/err.h"
#include "utf8.h"

static bool opcode_is_known(uint8_t op)
{
    return op <= HR_WS_OP_BINARY || (op >= HR_WS_OP_CLOSE && op <= HR_WS_OP_PONG);
}

static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static void write_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

/* Checks what the first byte alone can tell. */
static int check_first_byte(uint8_t b0)
{
    const uint8_t op = b0 & 0x0F;
    if (!opcode_is_known(op))
        return HR_EPROTO;
    if (hr_ws_frame_is_control(op) && !(b0 & 0x80))
        return HR_EPROTO;
    return 0;
}

/* Decodes the payload length whose 7-bit code is code from ext (n bytes). */
static int decode_len(uint8_t code, const uint8_t *ext, size_t n, uint64_t *len)
{
    if (n == 0) {
        *len = code;
        return 0;
    }
    *len = read_be(ext, n);
    if (n == 2 && *len < 126)
        return HR_EPROTO;
    if (n == 8 && (*len < 65536 || (*len >> 63) != 0))
        return HR_EPROTO;
    return 0;
}

int hr_ws_frame_parse_header(const uint8_t *p, size_t len, hr_ws_header *out)
{
    if (len < 1)
        return 0;
    const int rc = check_first_byte(p[0]);
    if (rc < 0)
        return rc;
    if (len < 2)
        return 0;
    const uint8_t code = p[1] & 0x7F;
    const size_t ext = code == 126 ? 2 : code == 127 ? 8 : 0;
    const bool masked = (p[1] & 0x80) != 0;
    if (hr_ws_frame_is_control(p[0] & 0x0F) && code > HR_WS_MAX_CONTROL)
        return HR_EPROTO;
    const size_t need = 2 + ext + (masked ? 4 : 0);
    if (len < need)
        return 0;
    *out = (hr_ws_header){
        .fin = (p[0] & 0x80) != 0,
        .rsv1 = (p[0] & 0x40) != 0,
        .rsv2 = (p[0] & 0x20) != 0,
        .rsv3 = (p[0] & 0x10) != 0,
        .opcode = p[0] & 0x0F,
        .masked = masked,
        .header_len = need,
    };
    if (decode_len(code, p + 2, ext, &out->len) < 0)
        return HR_EPROTO;
    if (masked)
        memcpy(out->mask, p + 2 + ext, 4);
    return (int)need;
}

size_t hr_ws_frame_write_header(uint8_t *out, uint8_t opcode, bool fin, bool rsv1, uint64_t len,
                                const uint8_t *mask)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    const uint8_t mbit = mask != NULL ? 0x80 : 0;
    size_t n;
    if (len < 126) {
        out[1] = (uint8_t)(mbit | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = mbit | 126;
        write_be(out + 2, len, 2);
        n = 4;
    } else {
        out[1] = mbit | 127;
        write_be(out + 2, len, 8);
        n = 10;
    }
    if (mask != NULL) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void hr_ws_frame_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset)
{
    /* key[j] is the mask byte for payload position offset + j, for j < 8,
     * and position i of p uses key[i % 8] because 8 is a multiple of 4. */
    uint8_t key[8];
    for (size_t j = 0; j < 8; j++)
        key[j] = mask[(offset + j) & 3];
    uint64_t k;
    memcpy(&k, key, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= key[i & 7];
}

hr_msg *hr_ws_frame_msg_new(uint8_t opcode, bool rsv1, const void *payload, size_t len)
{
    if (len > HR_MSG_MAX - HR_WS_MAX_HEADER)
        return NULL;
    uint8_t head[HR_WS_MAX_HEADER];
    const size_t hlen = hr_ws_frame_write_header(head, opcode, true, rsv1, len, NULL);
    hr_msg *m = hr_msg_new(hlen + len);
    if (m == NULL)
        return NULL;
    memcpy(m->data, head, hlen);
    m->head_len = (uint16_t)hlen;
    if (len > 0)
        memcpy(m->data + hlen, payload, len);
    return m;
}

/* Longest prefix of s[0..n) that is at most max bytes and does not end in
 * the middle of a UTF-8 sequence (continuation bytes are 10xxxxxx). */
static size_t cut_at_char(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t cut = max;
    while (cut > 0 && ((uint8_t)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

hr_msg *hr_ws_frame_close_msg_new(uint16_t code, const char *reason)
{
    uint8_t payload[HR_WS_MAX_CONTROL];
    size_t len = 0;
    if (code != 0) {
        write_be(payload, code, 2);
        len = 2;
        if (reason != NULL) {
            const size_t rlen = cut_at_char(reason, strlen(reason), HR_WS_MAX_CLOSE_REASON);
            memcpy(payload + 2, reason, rlen);
            len += rlen;
        }
    }
    return hr_ws_frame_msg_new(HR_WS_OP_CLOSE, false, payload, len);
}

size_t hr_ws_frame_client_write(uint8_t *out, size_t cap, uint8_t opcode, bool fin, bool rsv1,
                                const void *payload, size_t len, const uint8_t mask[4])
{
    uint8_t head[HR_WS_MAX_HEADER];
    const size_t hlen = hr_ws_frame_write_header(head, opcode, fin, rsv1, len, mask);
    if (cap < hlen || len > cap - hlen)
        return 0;
    memcpy(out, head, hlen);
    if (len > 0) {
        memcpy(out + hlen, payload, len);
        hr_ws_frame_mask(out + hlen, len, mask, 0);
    }
    return hlen + len;
}

bool hr_ws_close_code_is_valid(uint16_t code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

int hr_ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len)
{
    *code = 0;
    *reason = NULL;
    *reason_len = 0;
    if (len == 0)
        return 0;
    if (len == 1 || len > HR_WS_MAX_CONTROL)
        return HR_EPROTO;
    const uint16_t c = (uint16_t)read_be(p, 2);
    if (!hr_ws_close_code_is_valid(c))
        return HR_EPROTO;
    if (!hr_utf8_valid(p + 2, len - 2))
        return HR_EUTF8;
    *code = c;
    if (len > 2) {
        *reason = p + 2;
        *reason_len = len - 2;
    }
    return 0;
}

uint16_t hr_ws_close_code_for(int err)
{
    switch (err) {
    case HR_EPROTO:
        return HR_WS_CLOSE_PROTOCOL;
    case HR_EUTF8:
        return HR_WS_CLOSE_BAD_DATA;
    case HR_ETOOBIG:
        return HR_WS_CLOSE_TOO_BIG;
    case HR_EDENIED:
        return HR_WS_CLOSE_POLICY;
    case HR_ENOMEM:
    case HR_EINTERNAL:
        return HR_WS_CLOSE_INTERNAL;
    default:
        return HR_WS_CLOSE_PROTOCOL;
    }
}
