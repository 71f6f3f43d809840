/*
 * Internal error reporting: gn_fail() records a formatted message for the
 * calling thread and returns the status, so a failing path reads
 *     return gn_fail(GN_ERR_FORMAT, "%s: wrong magic 0x%08x", path, m);
 */
#ifndef GN_RUNTIME_ERROR_H
#define GN_RUNTIME_ERROR_H

#include "genet/genet.h"

#if defined(__GNUC__)
#define GN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GN_PRINTF(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum gn_status gn_fail(enum gn_status s, const char *fmt, ...) GN_PRINTF(2, 3);
void gn_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif
