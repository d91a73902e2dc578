/* err.c: names of the shared ERR_* codes. */
#include "common/err.h"

const char *err_str(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_NOMEM: return "out of memory";
    case ERR_INVALID: return "invalid input";
    case ERR_IO: return "i/o error";
    case ERR_TIMEOUT: return "timed out";
    case ERR_RETRY: return "transient failure, retry";
    case ERR_FATAL: return "fatal error";
    case ERR_RANGE: return "over a limit";
    case ERR_NOTFOUND: return "not found";
    case ERR_STALE: return "stale";
    case ERR_CLOSED: return "closed";
    case ERR_ABORTED: return "transaction aborted";
    default: return "unknown error";
    }
}
