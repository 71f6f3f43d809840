/*
 * Host memory check (see hostmem.h): MemAvailable from /proc/meminfo
 * against the bytes a run asks for.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hostmem.h"

enum gn_status gn_hostmem_available(int64_t *bytes)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return GN_ERR_UNSUPPORTED;
    char line[256];
    enum gn_status st = GN_ERR_UNSUPPORTED;
    while (fgets(line, sizeof line, f)) {
        long long kb;
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
            *bytes = (int64_t)kb * 1024;
            st = GN_OK;
            break;
        }
    }
    fclose(f);
    return st;
}

enum gn_status gn_hostmem_check(double need, const char *detail)
{
    int64_t avail;
    if (gn_hostmem_available(&avail) != GN_OK) return GN_OK;
    if (need <= (double)avail) return GN_OK;
    const double mib = 1024.0 * 1024.0;
    return gn_fail(GN_ERR_NOMEM,
                   "not enough host memory: the run needs %.1f MiB (%s) but %.1f MiB are "
                   "available (MemAvailable in /proc/meminfo); lower --max-groups, "
                   "--max-params, --max-edges or --batch",
                   need / mib, detail, (double)avail / mib);
}
