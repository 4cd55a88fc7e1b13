/* Logging: one line per event on stderr:
 *   2026-11-27T18:40:54.123Z info notifier listening addr=127.0.0.1:7070
 * hr_log() tests the level before evaluating any argument. Never log tokens,
 * keys or Authorization values; escape client-supplied strings with
 * hr_log_escape(). lib/proto never logs. */
#ifndef HR_LOG_H
#define HR_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum hr_log_level {
    HR_LOG_DEBUG = 0,
    HR_LOG_INFO = 1,
    HR_LOG_WARN = 2,
    HR_LOG_ERROR = 3,
    HR_LOG_OFF = 4,
} hr_log_level;

extern hr_log_level hr_log_threshold;

/* Parses "debug", "info", "warn", "error" or "off". Returns 0 or HR_EINVAL. */
int hr_log_parse_level(const char *s, hr_log_level *out);

/* Writes one line; use the hr_log macro instead. */
void hr_log_write(hr_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hr_log(level, component, ...)                                                     \
    do {                                                                                  \
        if ((level) >= hr_log_threshold)                                                  \
            hr_log_write((level), (component), __VA_ARGS__);                              \
    } while (0)

/* Copies s[0..len) into out (capacity cap, always NUL-terminated) with
 * control characters, quotes, backslashes and non-ASCII bytes escaped as \xHH;
 * truncates with "..." when it does not fit. Returns out. */
char *hr_log_escape(char *out, size_t cap, const char *s, size_t len);

#endif
