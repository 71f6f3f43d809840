/*
 * The in-process reducer (reduce.h): one staging buffer, one message in
 * flight. send_next and the broadcast's root copy into it; recv_prev and
 * the other ranks' broadcast copy out of it. Each message names its sender
 * and length, and a receive checks both, so the driver's calling order is
 * checked, not assumed.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "reduce.h"

struct gn_reduce {
    int32_t ranks;
    int64_t max_floats;
    float *stage;  /* (max_floats) the message in flight */
    int32_t from;  /* its sender, -1: none */
    int64_t n;     /* its length */
    int32_t bcast; /* 1: the message is a broadcast (stays for every rank) */
};

enum gn_status gn_reduce_open(struct gn_reduce **out, int32_t ranks, int64_t max_floats)
{
    *out = NULL;
    if (ranks < 1 || max_floats < 0)
        return gn_fail(GN_ERR_INVALID, "gn_reduce_open: %d ranks, %lld floats", ranks,
                       (long long)max_floats);
    struct gn_reduce *rd = calloc(1, sizeof *rd);
    if (!rd) return gn_fail(GN_ERR_NOMEM, "out of memory for the reducer");
    rd->stage = malloc((size_t)(max_floats > 0 ? max_floats : 1) * sizeof(float));
    if (!rd->stage) {
        free(rd);
        return gn_fail(GN_ERR_NOMEM, "out of memory for the reducer's %lld floats",
                       (long long)max_floats);
    }
    rd->ranks = ranks;
    rd->max_floats = max_floats;
    rd->from = -1;
    *out = rd;
    return GN_OK;
}

static enum gn_status post(struct gn_reduce *rd, int32_t rank, const float *x, int64_t n,
                           int bcast)
{
    if (n < 0 || n > rd->max_floats)
        return gn_fail(GN_ERR_INVALID, "reducer: a message of %lld floats (at most %lld)",
                       (long long)n, (long long)rd->max_floats);
    memcpy(rd->stage, x, (size_t)n * sizeof(float));
    rd->from = rank;
    rd->n = n;
    rd->bcast = bcast;
    return GN_OK;
}

static enum gn_status take(struct gn_reduce *rd, int32_t from, float *x, int64_t n, int bcast)
{
    if (rd->from != from || rd->n != n || rd->bcast != bcast)
        return gn_fail(GN_ERR_INVALID,
                       "reducer: rank %d expected %s of %lld floats from rank %d, pending: %s",
                       bcast ? from : from + 1, bcast ? "a broadcast" : "partial sums",
                       (long long)n, from, rd->from < 0 ? "none" : "another message");
    memcpy(x, rd->stage, (size_t)n * sizeof(float));
    if (!bcast) rd->from = -1; /* consumed; a broadcast stays for every rank */
    return GN_OK;
}

enum gn_status gn_reduce_send_next(struct gn_reduce *rd, int32_t rank, const float *x, int64_t n)
{
    if (rank < 0 || rank >= rd->ranks - 1)
        return gn_fail(GN_ERR_INVALID, "reducer: rank %d of %d has no next rank", rank, rd->ranks);
    return post(rd, rank, x, n, 0);
}

enum gn_status gn_reduce_recv_prev(struct gn_reduce *rd, int32_t rank, float *x, int64_t n)
{
    if (rank < 1 || rank >= rd->ranks)
        return gn_fail(GN_ERR_INVALID, "reducer: rank %d of %d has no previous rank", rank,
                       rd->ranks);
    return take(rd, rank - 1, x, n, 0);
}

enum gn_status gn_reduce_broadcast(struct gn_reduce *rd, int32_t root, int32_t rank, float *x,
                                   int64_t n)
{
    if (root < 0 || root >= rd->ranks || rank < 0 || rank >= rd->ranks)
        return gn_fail(GN_ERR_INVALID, "reducer: broadcast from rank %d to rank %d of %d", root,
                       rank, rd->ranks);
    return rank == root ? post(rd, root, x, n, 1) : take(rd, root, x, n, 1);
}

void gn_reduce_gather(struct gn_reduce *rd, int32_t rank, void *dst, const void *src,
                      size_t bytes, size_t offset)
{
    (void)rd;
    (void)rank;
    if (bytes) memcpy((char *)dst + offset, src, bytes);
}

void gn_reduce_close(struct gn_reduce *rd)
{
    if (!rd) return;
    free(rd->stage);
    free(rd);
}
