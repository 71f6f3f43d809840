/*
 * Helpers shared by the libFuzzer targets: a private scratch directory in
 * /dev/shm (tmpfs, so a file per input costs no disk I/O) and a way to
 * write a byte range into a file there.
 *
 * The readers under test take file names (IDX, CSV, the stats ring), so each
 * target writes the fuzz input into files and calls the reader on them. The
 * directory holds the process id, so targets and fuzz jobs running side by
 * side never share files; it is removed at exit.
 */
#ifndef GN_TESTS_FUZZ_UTIL_H
#define GN_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char gn_fuzz_dir_path[128];

static inline void gn_fuzz_dir_remove(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", gn_fuzz_dir_path);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", gn_fuzz_dir_path);
}

/* The scratch directory /dev/shm/gn-fuzz-<what>-<pid>, made on first use. */
static inline const char *gn_fuzz_dir(const char *what)
{
    if (!gn_fuzz_dir_path[0]) {
        snprintf(gn_fuzz_dir_path, sizeof gn_fuzz_dir_path, "/dev/shm/gn-fuzz-%s-%d", what,
                 (int)getpid());
        char cmd[160];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", gn_fuzz_dir_path);
        if (system(cmd) != 0) abort();
        atexit(gn_fuzz_dir_remove);
    }
    return gn_fuzz_dir_path;
}

/* Write n bytes to path (replacing it); abort on failure: that is the
 * harness failing, not the reader. */
static inline void gn_fuzz_write(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A little-endian u32 from the input (0 past its end). */
static inline uint32_t gn_fuzz_u32(const uint8_t *p, size_t n, size_t at)
{
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++)
        if (at + k < n) v |= (uint32_t)p[at + k] << (8 * k);
    return v;
}

#endif
