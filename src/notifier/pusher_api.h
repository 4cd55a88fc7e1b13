/* nf_pusher_api: the Pusher HTTP API on the notifier (SPEC §8), for the
 * official server libraries: POST /apps/<id>/events and /batch_events
 * publish through the broker like POST /publish; GET /apps/<id>/channels
 * and /channels/<name> answer what this instance can tell. Every request
 * carries Pusher's signed query (auth_key, auth_timestamp, auth_version,
 * body_md5, auth_signature); a bad or stale signature is 401. */
#ifndef NF_PUSHER_API_H
#define NF_PUSHER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "net/conn.h"
#include "proto/http_head.h"

/* Answers head (a path under /apps/) when --pusher-app-id is set and
 * returns true; returns false (nothing answered) when Pusher is off, so the
 * caller's 404 applies. */
bool nf_pusher_api_request(nf_loop *l, hr_conn *c, const hr_http_head *head, const uint8_t *body,
                           size_t len);

#endif
