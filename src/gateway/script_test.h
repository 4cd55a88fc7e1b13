/* herald-gateway --script-test FILE.lua < messages.jsonl (SPEC §7): runs a
 * transformation script's hooks over JSON lines without a network, one
 * result line per input line, so script authors can test their scripts.
 *
 * Input lines (blank lines skipped):
 *   {"hook":"on_connect","req":{"path":..,"query":{..},"headers":{..},..}}
 *   {"hook":"on_client_message","msg":{"text":".."}|{"data":<JSON>}|{"binary":".."},"conn":{..}}
 *   {"hook":"on_server_message", ... as above}
 *   {"hook":"view_key","conn":{..}}
 *   {"hook":"on_event","event":{"channel":..,"id":..,"data":<JSON>},"key":".."|"conn":{..}}
 * conn is {"id":..,"user":..,"claims":{..},"ip":..,"path":..,"query":{..}};
 * lines with the same conn.id share one conn (and its conn.state). on_event
 * takes the view key from "key", else from view_key(conn), else "".
 *
 * Output lines: {"hook":..,"result":"ok"|"runtime"|"timeout"|"memory", ...}
 * with, when ok: on_connect "accept" and "http_status"/"text" or
 * "headers"; messages "action" (forward|drop|reply|close), "changed",
 * "text"/"binary", "code"/"reason"; view_key "key"; on_event "action"
 * (deliver|drop), "changed", "event" (the message clients receive);
 * otherwise "error" (the message). A line that cannot be read gives
 * {"line":N,"error":".."}. Script log() lines go to stderr. */
#ifndef GW_SCRIPT_TEST_H
#define GW_SCRIPT_TEST_H

#include <stdio.h>

/* Loads the script (exit status 2 with "file:line: problem" on err when it
 * does not compile) and runs the lines of in. Returns the exit status: 0,
 * 1 when some input line could not be read, 2 when the script did not
 * compile or could not be read. */
int gw_script_test_main(const char *path, FILE *in, FILE *out, FILE *err);

#endif
