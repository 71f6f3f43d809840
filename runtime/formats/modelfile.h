/*
 * Model files: a trained network as safetensors, for `genet-rt eval` /
 * `predict`, the public gn_net handle and the PyTorch loader
 * (tools/genet_torch.py).
 *
 * Layout (the safetensors format): an 8-byte little-endian header length N,
 * N bytes of JSON header, then the tensors' raw little-endian bytes. The
 * header maps each tensor name to {"dtype": "F32", "shape": [...],
 * "data_offsets": [begin, end]} (byte offsets from the start of the data;
 * the tensors tile the data section, contiguous and non-overlapping), and
 * "__metadata__" to an object of strings. The writer pads the header with
 * spaces to a multiple of 8, so the data starts 8-byte aligned.
 *
 * Tensors, named by the ids of the graph file (graphfile.h: the input is 0,
 * the hidden group at canonical position p is p; the output has no id and
 * is called "output"):
 *     edge.<src>-><dst>.weight   [src width, dst width]  W[k][j] maps input
 *                                unit k to output unit j (model.h)
 *     group.<id>.bias            [group size]
 *     output.bias                [classes]
 * in canonical order: for each group after the input, its in-edges in
 * in_list order, then its bias.
 *
 * Metadata (all values strings, as safetensors requires):
 *     "format": "genet-model", "version": "1",
 *     "inputs", "classes", "group_size": decimal integers,
 *     "graph": the genet-graph JSON text (gn_graph_write's content).
 * Input normalization (normalize.h): a model trained on normalized inputs
 * has metadata "normalize" (the mode's name) and two tensors "input.shift"
 * and "input.scale", shape [inputs]; a reader applies x' = (x - shift) *
 * scale to every input row before the network, as training did. Without
 * the key the inputs are used as the dataset loader gives them.
 *
 * Reading checks, in order, and says which failed: the header length, the
 * header's JSON, every tensor entry (dtype, shape, offsets inside the data,
 * byte size = shape product x 4), that the tensors tile the data (no
 * overlap, no gap), the metadata (format, version, widths, the graph, which
 * must parse and match the widths), then that every tensor the graph needs
 * is present with its shape and no other one is.
 */
#ifndef GN_RUNTIME_MODELFILE_H
#define GN_RUNTIME_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "genet/genet.h"
#include "model.h"
#include "normalize.h"

#define GN_MODEL_FORMAT "genet-model"
#define GN_MODEL_VERSION 1
#define GN_MODEL_HEADER_MAX (100u << 20) /* the header's length limit, as safetensors has */

/* The whole file for m (rebuilt) and its input normalization (NULL or mode
 * none: none) in memory: *buf (malloc'd) of *len bytes. */
enum gn_status gn_modelfile_encode(const struct gn_model *m, const struct gn_norm *norm,
                                   void **buf, size_t *len);

/* Write m (and norm) as a model file at path, atomically (a temporary
 * file, fsync, rename). */
enum gn_status gn_modelfile_write(const char *path, const struct gn_model *m,
                                  const struct gn_norm *norm);

/* Decode len bytes (a whole file; name prefixes messages) into m
 * (uninitialised on entry; pools sized to the graph, weights from the file,
 * rebuilt) and norm (uninitialised on entry; mode none when the file has
 * none). norm NULL: a file with a normalization is refused (the caller
 * could not apply it). On error m and norm are left zeroed. */
enum gn_status gn_modelfile_parse(const void *buf, size_t len, const char *name,
                                  struct gn_model *m, struct gn_norm *norm);

/* Read and decode a model file. */
enum gn_status gn_modelfile_load(const char *path, struct gn_model *m, struct gn_norm *norm);

#endif
