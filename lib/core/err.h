/* Herald error codes. Functions that can fail return 0 (or a positive count)
 * on success and one of these negative values on failure; libuv's negative
 * codes pass through unchanged, so the ranges must not collide with UV_E*
 * (libuv uses -1 .. -4096; ours start at -10000). */
#ifndef HR_ERR_H
#define HR_ERR_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    HR_OK = 0,
    HR_ENOMEM = -10000,    /* allocation failed */
    HR_EINVAL = -10001,    /* invalid argument or input */
    HR_EAGAIN = -10002,    /* need more input */
    HR_ETOOBIG = -10003,   /* a configured size limit was exceeded */
    HR_EPROTO = -10004,    /* peer violated the protocol */
    HR_EUTF8 = -10005,     /* invalid UTF-8 in a text message or close reason */
    HR_EDENIED = -10006,   /* authentication or authorisation refused */
    HR_ELIMIT = -10007,    /* a count limit (channels, connections) was reached */
    HR_ECLOSED = -10008,   /* the connection is closing or closed */
    HR_EBROKER = -10009,   /* the broker is unavailable */
    HR_EINTERNAL = -10010, /* a bug or an unexpected library failure */
};

/* Returns a short static description of code (ours or libuv's range). */
const char *hr_err_str(int code);

/* True for errors after which the process cannot go on (out of memory at
 * start-up is decided by the caller; this only classifies internal bugs). */
bool hr_err_is_fatal(int code);

/* Always-on invariant check: aborts with file:line. Never use on input. */
#define HR_ASSERT(cond)                                                                   \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "herald: assertion failed: %s (%s:%d)\n", #cond, __FILE__,    \
                    __LINE__);                                                            \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#define HR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
