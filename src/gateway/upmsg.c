/* A message from upstream and the client frames built from it at most once
 * (upmsg.h). */
#include "upmsg.h"

#include <string.h>

#include "proto/ws_frame.h"

/* 512 bytes: valid for any server_max_window_bits a client negotiated, so
 * one compressed frame serves every client of the message. */
#define SHARED_WINDOW_BITS 9

void gw_upmsg_init(gw_upmsg *m, int opcode, const uint8_t *data, size_t len, bool shared)
{
    memset(m, 0, sizeof *m);
    m->opcode = (uint8_t)opcode;
    m->data = data;
    m->len = len;
    m->shared = shared;
}

hr_msg *gw_upmsg_plain(gw_upmsg *m)
{
    if (m->plain == NULL)
        m->plain = hr_ws_frame_msg_new(m->opcode, false, m->data, m->len);
    return m->plain;
}

hr_msg *gw_upmsg_raw(gw_upmsg *m)
{
    if (m->raw == NULL)
        m->raw = hr_msg_new_copy(m->data, m->len);
    return m->raw;
}

hr_msg *gw_upmsg_deflated(gw_upmsg *m, hr_ws_deflater *d)
{
    if (!m->tried_deflate) {
        m->tried_deflate = true;
        m->deflated = hr_ws_deflate_frame_new(d, m->opcode, m->data, m->len);
    }
    return m->deflated;
}

void gw_upmsg_deinit(gw_upmsg *m)
{
    hr_msg_unref(m->plain);
    hr_msg_unref(m->deflated);
    hr_msg_unref(m->raw);
    m->plain = m->deflated = m->raw = NULL;
    if (m->ext_free != NULL && m->ext != NULL)
        m->ext_free(m->ext);
    m->ext = NULL;
}

void gw_upmsg_deflater_init(hr_ws_deflater *d)
{
    hr_ws_deflate_params p;
    hr_ws_deflate_params_default(&p);
    p.server_no_context_takeover = true;
    p.server_max_window_bits = SHARED_WINDOW_BITS;
    hr_ws_deflater_init(d, &p, true, 0);
}
