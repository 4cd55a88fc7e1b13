/* gw_admin: the admin listener (admin_listen): GET /healthz (200 while the
 * process runs), GET /readyz (200 when every upstream has a healthy server,
 * else 503) and GET /metrics (Prometheus text format 0.0.4). */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "app.h"
#include "core/buf.h"

/* Callbacks for the admin hr_server (app pointer: the gw_app). */
extern const hr_conn_callbacks gw_admin_callbacks;

/* Writes the whole metrics page for app into out. Returns 0, HR_ETOOBIG or
 * HR_ENOMEM. */
int gw_admin_write_metrics(const gw_app *app, hr_buf *out);

#endif
