/*
 * Host memory check: before a run allocates its pools, compare what it
 * will need with what the kernel says is available (MemAvailable in
 * /proc/meminfo), so that a run too large for the host is a clear error
 * at the start instead of an allocation that Linux's overcommit grants and
 * the OOM killer later collects.
 */
#ifndef GN_RUNTIME_HOSTMEM_H
#define GN_RUNTIME_HOSTMEM_H

#include <stdint.h>

#include "genet/genet.h"

/* MemAvailable in bytes; GN_ERR_UNSUPPORTED where /proc/meminfo does not
 * say (then no check is made). */
enum gn_status gn_hostmem_available(int64_t *bytes);

/* GN_ERR_NOMEM when need bytes (need is a double: a request may not fit
 * in 64 bits) exceed what is available, with need, the available amount
 * and `detail` (what the bytes are for) in the message. */
enum gn_status gn_hostmem_check(double need, const char *detail);

#endif
