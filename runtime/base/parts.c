/* Work split in parts over short-lived threads (parts.h). */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "parts.h"

int32_t gn_parts_split(int64_t n, int32_t threads, int64_t align, int64_t *start)
{
    if (threads < 1) threads = 1;
    if (threads > GN_PARTS_MAX) threads = GN_PARTS_MAX;
    int64_t per = (n + threads - 1) / threads;
    per = (per + align - 1) / align * align;
    if (per < 1) per = 1;
    int32_t k = 0;
    for (int64_t a = 0; a < n; a += per) start[k++] = a;
    if (k == 0) start[k++] = 0;
    start[k] = n;
    return k;
}

void gn_parts_run(void *(*fn)(void *), void *parts, size_t size, int32_t n)
{
    pthread_t th[GN_PARTS_MAX];
    int started[GN_PARTS_MAX] = {0};
    for (int32_t i = 1; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, fn, (char *)parts + (size_t)i * size) == 0;
    fn(parts);
    for (int32_t i = 1; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fn((char *)parts + (size_t)i * size);
    }
}

void gn_parts_prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (page == 0 || (page & (page - 1))) return;
    const uintptr_t b = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t e = ((uintptr_t)p + bytes) & ~(page - 1);
    if (e > b) (void)madvise((void *)b, e - b, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}
