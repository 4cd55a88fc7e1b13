/* gw_health: active health checks of a runtime's upstream pools: every
 * interval_ms a GET of the configured path to each server (over the
 * keep-alive client); a 2xx/3xx answer within timeout_ms is a success.
 * Successes and failures feed gw_pool_report (rise/fall). */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <stdbool.h>

#include "app.h"

/* True when some upstream of cfg has a health_check section. */
bool gw_health_wanted(const gw_config *cfg);

/* Starts the checks for rt's pools (borrowed: rt must stop them with
 * gw_health_stop before it goes). Returns NULL when none is wanted or when
 * out of memory (gw_health_wanted tells which). */
gw_health *gw_health_start(gw_app *app, gw_runtime *rt);

/* Stops the timers and cancels checks in flight; the memory goes once
 * libuv has closed the timers. NULL is a no-op. */
void gw_health_stop(gw_health *h);

#endif
