/*
 * Writing weight files (format in weights.h), atomically: a temporary file,
 * fsync, rename.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "weights.h"

static int put_u32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int put_f32(FILE *f, const float *v, int64_t n)
{
    /* the project targets little-endian machines (x86-64 and the GPU host) */
    return fwrite(v, sizeof(float), (size_t)n, f) == (size_t)n ? 0 : -1;
}

enum gn_status gn_weights_write(const char *path, const struct gn_model *m)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return gn_fail(GN_ERR_INVALID, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return gn_fail(GN_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    int bad = fwrite("GNWEIGHT", 1, 8, f) != 8 || put_u32(f, 1) || put_u32(f, (uint32_t)m->n_groups);
    for (int32_t p = 1; p < m->n_groups && !bad; p++) {
        const struct gn_group *g = &m->groups[m->order[p]];
        bad |= put_u32(f, (uint32_t)g->width) || put_u32(f, (uint32_t)g->in_count) ||
               put_f32(f, m->params + g->bias, g->width);
        for (int32_t i = 0; i < g->in_count && !bad; i++) {
            const struct gn_edge *e = &m->edges[m->in_list[g->in_begin + i]];
            int32_t K = m->groups[e->src].width;
            bad |= put_u32(f, (uint32_t)m->groups[e->src].pos) || put_u32(f, (uint32_t)K) ||
                   put_f32(f, m->params + e->w, (int64_t)K * g->width);
        }
    }
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return gn_fail(GN_ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    return GN_OK;
}
