/* Error codes to text. */
#include "err.h"

const char *hr_err_str(int code)
{
    switch (code) {
    case HR_OK: return "ok";
    case HR_ENOMEM: return "out of memory";
    case HR_EINVAL: return "invalid input";
    case HR_EAGAIN: return "need more input";
    case HR_ETOOBIG: return "too big";
    case HR_EPROTO: return "protocol error";
    case HR_EUTF8: return "invalid UTF-8";
    case HR_EDENIED: return "denied";
    case HR_ELIMIT: return "limit reached";
    case HR_ECLOSED: return "closed";
    case HR_EBROKER: return "broker unavailable";
    case HR_EINTERNAL: return "internal error";
    default: return code < 0 && code > -4096 ? "system error" : "unknown error";
    }
}

bool hr_err_is_fatal(int code)
{
    return code == HR_EINTERNAL;
}
