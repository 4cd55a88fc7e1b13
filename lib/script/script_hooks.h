/* The five hooks of SPEC §7 and their return conventions, on top of the
 * engine (script.h): what each hook is given, and what its return value
 * means, as plain C results. Every hook is optional; an absent hook gives
 * the "unchanged" result (accept, forward, deliver, view ""). Every call
 * returns an hr_script_status; on anything but HR_SCRIPT_OK the result
 * holds nothing and the caller applies the route's script_on_error
 * (hr_script_vm_error has the message). A return value that breaks the
 * conventions below is a runtime error.
 *
 * Ownership: results own their heap parts; release them with the
 * matching _deinit (safe twice and on a zeroed result). */
#ifndef HR_SCRIPT_HOOKS_H
#define HR_SCRIPT_HOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "script.h"

/* Longest view key (bytes). */
#define HR_SCRIPT_VIEW_KEY_MAX 256
/* Longest refusal text of on_connect and close reason (bytes; a close
 * reason must fit a control frame: 125 - 2). */
#define HR_SCRIPT_TEXT_MAX 1024
#define HR_SCRIPT_REASON_MAX 123

/* ---- connections ---- */

/* A connection's `conn` table, kept in the state between calls: the fields
 * of info (a JSON object: id, user, claims, ip, path, query) plus `state`,
 * an empty table the script may fill. One per connection per vm. */
typedef struct hr_script_conn {
    hr_script_vm *vm;
    int ref; /* registry reference; 0 = none */
} hr_script_conn;

/* Builds c's table from info. Returns HR_SCRIPT_OK or HR_SCRIPT_MEMORY (c
 * then holds nothing). */
hr_script_status hr_script_hooks_conn_init(hr_script_vm *vm, const json_t *info, hr_script_conn *c);

/* Drops the table (safe twice and on a zeroed conn). */
void hr_script_hooks_conn_deinit(hr_script_conn *c);

/* ---- on_connect(req) ---- */

typedef struct hr_script_connect {
    bool accept;
    int status;      /* refused: the HTTP status (400..599, default 403) */
    char *text;      /* refused: the response text, or NULL */
    json_t *headers; /* accepted: object of header name -> string value to
                        add upstream, or NULL */
} hr_script_connect;

/* req: the JSON object given to the script (path, query, headers, ip, user,
 * claims). Returns: true -> accept; false[, status[, text]] -> refuse;
 * {headers = {name = value, ...}} -> accept and add those headers (names
 * are HTTP tokens, values strings without CR, LF or NUL). */
hr_script_status hr_script_hooks_on_connect(hr_script *s, const json_t *req,
                                            hr_script_connect *out);
void hr_script_connect_deinit(hr_script_connect *r);

/* ---- on_client_message(msg, conn) / on_server_message(msg, conn) ---- */

typedef enum hr_script_action {
    HR_SCRIPT_FORWARD = 0,
    HR_SCRIPT_DROP,
    HR_SCRIPT_REPLY,
    HR_SCRIPT_CLOSE,
} hr_script_action;

/* One message in: bytes of a text (UTF-8) or binary message. */
typedef struct hr_script_msg {
    bool binary;
    const char *p;
    size_t len;
} hr_script_msg;

typedef struct hr_script_verdict {
    hr_script_action action;
    bool changed; /* FORWARD: false = send the original message as it was */
    bool binary;  /* FORWARD (changed) and REPLY: the message kind */
    char *p;      /* FORWARD (changed) and REPLY: the bytes (owned) */
    size_t len;
    int close_code; /* CLOSE: 1000 or 3000..4999 */
    char *reason;   /* CLOSE: NUL-terminated, maybe "" (owned) */
} hr_script_verdict;

/* hook is "on_client_message" or "on_server_message". The script gets
 * msg = {text = ..., data = <decoded, when the text is JSON>} or
 * {binary = ...}, and conn. Returns:
 *   nil                         -> DROP
 *   {reply = v}                 -> REPLY: a string is sent as text (binary
 *                                  when not UTF-8), anything else as JSON text
 *   {close = code, reason = s}  -> CLOSE
 *   msg (any other table)       -> FORWARD: a changed msg.text is sent as
 *     text; else msg.data, when present, as JSON text (unchanged when it
 *     equals the decoded original, compared as JSON, key order aside); else
 *     msg.text or msg.binary. The first of reply, close, text/data/binary
 *     decides. */
hr_script_status hr_script_hooks_on_message(hr_script *s, const char *hook,
                                            const hr_script_conn *conn, const hr_script_msg *msg,
                                            hr_script_verdict *out);
void hr_script_verdict_deinit(hr_script_verdict *v);

/* ---- view_key(conn) ---- */

/* Writes the connection's view key (a string of at most
 * HR_SCRIPT_VIEW_KEY_MAX bytes; nil is the default view "") into
 * key[0..HR_SCRIPT_VIEW_KEY_MAX] NUL-terminated, length in *len. */
hr_script_status hr_script_hooks_view_key(hr_script *s, const hr_script_conn *conn,
                                          char key[HR_SCRIPT_VIEW_KEY_MAX + 1], size_t *len);

/* ---- on_event(event, key) ---- */

typedef struct hr_script_event_out {
    bool drop;
    bool changed; /* deliver: false = the event as it was */
    char *data;   /* deliver, changed: the new "data" as compact JSON (owned) */
    size_t data_len;
} hr_script_event_out;

/* The event's channel, id and data (JSON text) as read by
 * hr_cproto_parse_event; key is the view key. event = {channel, id, data =
 * <decoded>}. Returns nil -> drop for the whole view; a table -> deliver with
 * its `data` (nil -> null; unchanged when equal to the original as JSON;
 * channel and id cannot change and are ignored). Invalid data JSON is a
 * runtime error. */
hr_script_status hr_script_hooks_on_event(hr_script *s, const char *channel, size_t clen,
                                          const char *id, size_t idlen, const char *data,
                                          size_t dlen, const char *key, size_t klen,
                                          hr_script_event_out *out);
void hr_script_event_out_deinit(hr_script_event_out *e);

#endif
