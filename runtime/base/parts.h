/*
 * Work split in parts over short-lived threads: the host's bulk passes
 * (the data set's pixels, the normalization's fit and copies) share one
 * way to cut a range and to run the parts. A part whose thread cannot
 * start runs on the caller, so a pass never fails for want of threads.
 */
#ifndef GN_BASE_PARTS_H
#define GN_BASE_PARTS_H

#include <stddef.h>
#include <stdint.h>

/* The most parts gn_parts_split makes and gn_parts_run takes. */
#define GN_PARTS_MAX 64

/* Parts of [0, n) for up to `threads` workers (clamped to 1..GN_PARTS_MAX),
 * each a multiple of `align` long (but the last), at least `align`: their
 * starts in start[0..k) and start[k] = n; returns k (at least 1). */
int32_t gn_parts_split(int64_t n, int32_t threads, int64_t align, int64_t *start);

/* Runs fn(part i) for i in [0, n) (n <= GN_PARTS_MAX), part i at
 * (char *)parts + i * size: parts 1.. on threads of their own, part 0 on
 * the caller (and any part whose thread cannot start); returns when all
 * are done. */
void gn_parts_run(void *(*fn)(void *), void *parts, size_t size, int32_t n);

/* The whole pages inside [p, p + bytes) faulted in for writing in one call
 * (Linux's MADV_POPULATE_WRITE, 5.14 and later), before a part writes them
 * all: one entry into the kernel instead of a fault a page. The contents
 * stay as they are; where the call is unknown or fails, nothing happens
 * and the writes fault the pages in as before. */
void gn_parts_prefault(void *p, size_t bytes);

#endif
