/*
 * The backends compiled into this build, and their probes: the public
 * gn_backend_probe, and the choice --backend auto makes (cuda where its
 * probe says a usable GPU exists, else the best CPU backend).
 */
#include <stdio.h>
#include <time.h>

#include "backend.h"
#include "error.h"
#include "gn_config.h"

int64_t gn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void gn_setup_mark(struct gn_setup *s, const char *name, int64_t *since)
{
    const int64_t now = gn_now_ns();
    if (s && s->n < GN_SETUP_MAX) {
        snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
        s->ns[s->n++] = now - *since;
    }
    *since = now;
}

const struct gn_backend_ops *gn_backend_ops_of(enum gn_backend b)
{
    switch (b) {
    case GN_BACKEND_SERIAL: return &gn_backend_serial;
#if GN_HAVE_CPU_BACKEND
    case GN_BACKEND_CPU: return &gn_backend_cpu;
#endif
#if GN_HAVE_CUDA_BACKEND
    case GN_BACKEND_CUDA: return &gn_backend_cuda;
#endif
    default: return NULL;
    }
}

void gn_backend_warm(enum gn_backend b, int precision)
{
    const struct gn_backend_ops *ops = gn_backend_ops_of(b);
    if (ops && ops->warm) ops->warm(precision);
}

enum gn_status gn_backend_probe(enum gn_backend b, char *why, size_t len)
{
    char scratch[8];
    if (!why || len == 0) {
        why = scratch;
        len = sizeof scratch;
    }
    why[0] = '\0';
    if (b == GN_BACKEND_AUTO) {
        char sub[256];
        enum gn_backend pick = GN_BACKEND_CUDA;
        if (gn_backend_probe(GN_BACKEND_CUDA, sub, sizeof sub) != GN_OK)
            pick = gn_backend_ops_of(GN_BACKEND_CPU) ? GN_BACKEND_CPU : GN_BACKEND_SERIAL;
        snprintf(why, len, "auto picks the %s backend: %s", gn_backend_name(pick), sub);
        return GN_OK;
    }
    const struct gn_backend_ops *ops = gn_backend_ops_of(b);
    if (!ops) {
        if (b == GN_BACKEND_CUDA)
            snprintf(why, len, "this build has no CUDA backend (configured with -Dcuda=disabled "
                               "or without nvcc)");
        else if (b == GN_BACKEND_CPU || b == GN_BACKEND_SERIAL)
            snprintf(why, len, "the %s backend is not available in this build",
                     gn_backend_name(b));
        else
            snprintf(why, len, "no backend %d", (int)b);
        return gn_fail(GN_ERR_UNSUPPORTED, "%s", why);
    }
    enum gn_status st = ops->probe(why, len);
    if (st) gn_fail(st, "%s", why);
    return st;
}
