/* WebSocket message reader (stub: implementation follows). */
#include "ws_reader.h"

#include <string.h>

#include "core/err.h"

void hr_ws_reader_init(hr_ws_reader *r, const hr_ws_reader_cfg *cfg)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    hr_buf_init(&r->msg, cfg->max_message ? cfg->max_message : HR_WS_READER_DEFAULT_MAX_MESSAGE);
}

void hr_ws_reader_deinit(hr_ws_reader *r)
{
    hr_buf_deinit(&r->msg);
}

ssize_t hr_ws_reader_feed(hr_ws_reader *r, uint8_t *p, size_t len, hr_ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    return HR_EINTERNAL;
}

void hr_ws_reader_release(hr_ws_reader *r)
{
    hr_buf_deinit(&r->msg);
}

bool hr_ws_reader_is_idle(const hr_ws_reader *r)
{
    return true;
}
