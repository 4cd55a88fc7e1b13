/* Line-oriented logging to stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "err.h"

hr_log_level hr_log_threshold = HR_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int hr_log_parse_level(const char *s, hr_log_level *out)
{
    for (size_t i = 0; i < HR_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (hr_log_level)i;
            return 0;
        }
    }
    return HR_EINVAL;
}

void hr_log_write(hr_log_level level, const char *component, const char *fmt, ...)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int w = snprintf(line + n, sizeof line - n, ".%03ldZ %s %s ", (long)(tv.tv_usec / 1000),
                     level_names[level], component);
    if (w > 0 && (size_t)w < sizeof line - n)
        n += (size_t)w;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (w > 0)
        n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    (void)fwrite(line, 1, n, stderr); /* nowhere to report a failed log write */
}

char *hr_log_escape(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return out;
    for (size_t i = 0; i < len; i++) {
        const unsigned char c = (unsigned char)s[i];
        const bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        const size_t need = plain ? 1 : 4;
        if (o + need + 4 > cap) {
            if (cap >= 4) {
                o = o + 4 > cap ? cap - 4 : o;
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}
