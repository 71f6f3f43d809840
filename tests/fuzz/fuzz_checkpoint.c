/*
 * libFuzzer target: the checkpoint reader (runtime/formats/checkpoint.c:
 * gn_checkpoint_parse on a memory buffer, then gn_checkpoint_model, which
 * rebuilds and validates the graph).
 *
 * Each input is decoded twice: as it is (so the magic, version, size and
 * checksum checks are fuzzed), and with its CRC-32 trailer recomputed, so
 * that mutations reach the header, record and graph checks behind the
 * checksum, which random bytes would almost never pass.
 *
 * Checks: no crash, leak or sanitizer report; a checkpoint that decodes
 * has counts that fit the file, and its graph either rebuilds into a model
 * or is refused with an error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "checkpoint.h"
#include "model.h"

static void decode(const uint8_t *data, size_t size)
{
    struct gn_checkpoint ck;
    if (gn_checkpoint_parse(data, size, "fuzz.ckpt", &ck) != GN_OK) return;
    const struct gn_checkpoint_header *h = &ck.h;
    if (h->n_groups < 2 || (uint64_t)h->n_params * 8 > size) abort();
    struct gn_model m;
    int32_t ne = h->n_edges > 0 ? h->n_edges : 1;
    if (gn_model_init(&m, h->inputs, h->classes, h->group_size, h->n_groups, ne, h->n_params) ==
        GN_OK) {
        if (gn_checkpoint_model(&ck, &m) == GN_OK && m.order[0] != GN_SLOT_INPUT) abort();
        gn_model_free(&m);
    }
    gn_checkpoint_free(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    if (size < 8) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), fixed, (uInt)(size - 4));
    for (int k = 0; k < 4; k++)
        fixed[size - 4 + k] = (uint8_t)(c >> (8 * k));
    decode(fixed, size);
    free(fixed);
    return 0;
}
