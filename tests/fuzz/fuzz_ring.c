/*
 * libFuzzer target: the stats-ring reader (runtime/stats/ring.c: gn_ring_open,
 * gn_ring_reader_info, gn_ring_write_pos, gn_ring_read,
 * gn_ring_writer_alive) on a shared-memory object whose bytes are the
 * fuzz input.
 *
 * The input is written to /dev/shm/genet-fuzz<pid> (the ring name
 * "genet-fuzz<pid>") and opened read-only as genet-stat would. Records
 * around the write position and at both ends of the ring are read.
 *
 * Checks: no crash, leak or sanitizer report; a record returned as OK
 * carries the index that was asked for.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[64], path[96];
    snprintf(name, sizeof name, "genet-fuzz%d", (int)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    gn_fuzz_write(path, data, size);
    struct gn_ring_reader *r;
    if (gn_ring_open(name, &r) == GN_OK) {
        struct gn_ring_info info;
        gn_ring_reader_info(r, &info);
        uint64_t pos = gn_ring_write_pos(r);
        uint64_t probe[6] = {0, 1, pos, pos - 1, pos - info.capacity, info.capacity};
        for (int k = 0; k < 6; k++) {
            struct gn_stat_record rec;
            if (gn_ring_read(r, probe[k], &rec) == GN_RING_READ_OK &&
                gn_stat_record_index(&rec) != probe[k])
                abort();
        }
        enum gn_ring_writer_state ws;
        (void)gn_ring_writer_alive(r, &ws);
        gn_ring_reader_close(r);
    }
    unlink(path);
    return 0;
}
