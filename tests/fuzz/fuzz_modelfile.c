/*
 * libFuzzer target: the model-file reader (runtime/formats/modelfile.c,
 * gn_modelfile_parse on a memory buffer, the input normalization included).
 *
 * Input: the file's bytes (safetensors). The seed corpus holds small model
 * files genet-rt wrote (make_modelfile_seeds.sh), so the fuzzer starts past
 * the header and the metadata.
 *
 * Checks: no crash, leak or sanitizer report; a file that parses is encoded
 * again, parsed again, and must give the same graph and bitwise the same
 * parameters (the round trip eval, predict and export rely on).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_model m, r;
    struct gn_norm n, rn;
    if (gn_modelfile_parse(data, size, "fuzz.safetensors", &m, &n)) return 0;
    /* what the writer makes of an accepted file reads back, and writes
     * again to the same bytes: the canonical form is stable */
    void *buf = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    if (gn_modelfile_encode(&m, &n, &buf, &len)) abort();
    if (gn_modelfile_parse(buf, len, "again.safetensors", &r, &rn)) abort();
    if (r.n_groups != m.n_groups || r.n_edges != m.n_edges || r.n_params != m.n_params) abort();
    if (rn.mode != n.mode || rn.features != n.features) abort();
    if (gn_modelfile_encode(&r, &rn, &again, &len2)) abort();
    if (len2 != len || memcmp(buf, again, len) != 0) abort();
    free(again);
    free(buf);
    gn_norm_free(&rn);
    gn_norm_free(&n);
    gn_model_free(&r);
    gn_model_free(&m);
    return 0;
}
