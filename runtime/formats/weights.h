/*
 * Weight files: a network's parameters in canonical order, so another
 * program (the PyTorch side of the benchmark) can start from exactly the
 * weights genet-rt starts from. Little-endian binary:
 *
 *   "GNWEIGHT" (8 bytes), u32 version = 1, u32 n (groups, input and output
 *   included); then for each position p = 1 .. n-1 of the canonical order:
 *     u32 width, u32 in_count, f32 bias[width],
 *     for each in-edge in canonical order: u32 src_pos, u32 K, f32 W[K][width]
 *
 * Positions are the ids of the graph file gn_graph_write() writes (the
 * input is 0, hidden groups 1 .. n-2, the output n-1).
 */
#ifndef GN_RUNTIME_WEIGHTS_H
#define GN_RUNTIME_WEIGHTS_H

#include "genet/genet.h"
#include "model.h"

enum gn_status gn_weights_write(const char *path, const struct gn_model *m);

#endif
