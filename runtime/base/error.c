/*
 * Status names and the per-thread last-error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static _Thread_local char gn_errbuf[512];

const char *gn_status_str(enum gn_status s)
{
    switch (s) {
    case GN_OK: return "ok";
    case GN_ERR_INVALID: return "invalid argument";
    case GN_ERR_NOMEM: return "out of memory";
    case GN_ERR_IO: return "i/o error";
    case GN_ERR_FORMAT: return "malformed input";
    case GN_ERR_UNSUPPORTED: return "unsupported";
    case GN_ERR_FULL: return "pool full";
    case GN_ERR_DEVICE: return "device error";
    case GN_ERR_NUMERIC: return "numeric error";
    case GN_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *gn_error_message(void)
{
    return gn_errbuf;
}

void gn_error_clear(void)
{
    gn_errbuf[0] = '\0';
}

/* Formats into a scratch buffer first, so a message may wrap the last one:
 * gn_fail(st, "loading %s: %s", path, gn_error_message()). */
enum gn_status gn_fail(enum gn_status s, const char *fmt, ...)
{
    char msg[sizeof gn_errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(gn_errbuf, msg, sizeof msg);
    return s;
}
