/*
 * The tasks of one training step and their dependencies, for the backends
 * that run a step through the shared scheduler core (cpu, cuda).
 *
 * A task is one (kind, group position, batch tile). With n groups in the
 * canonical order (position 0 the input, n-1 the output, H = n-2 hidden)
 * and T tiles, task ids are dense:
 *   forward  (pos 1..n-1, tile t): fwd0 + (pos-1)*T + t   (the output's forward
 *                                   also computes the loss and its error)
 *   backward (pos 1..n-2, tile t): bwd0 + (pos-1)*T + t
 *   update   (pos 1..n-1, part p):  upd0 + base(pos) + p  (gradients over all
 *                                   rows, the optimizer's step and the growth
 *                                   statistic of one slice of the group's
 *                                   parameters)
 * The host backends use one part per group (base(pos) = pos-1); the cuda
 * backend splits a group with many inputs into parts (upd_base / upd_pos
 * arrays, built with the DAG) so no single block computes a 784x32 block.
 * Dependencies (edge s -> g of the network, s hidden unless said):
 *   forward(s,t)   -> forward(g,t)
 *   forward(out,t) -> backward(s,t) for s -> out; -> update(out)
 *   backward(g,t)  -> backward(s,t) for s -> g;   -> update(g)
 *   backward(s,t)  -> update(g)     (update(g) rewrites W(s->g), which
 *                                    backward(s) reads)
 * (an edge to update(g) goes to every part of it)
 * The evaluation DAG has the forward tasks and their edges only.
 *
 * The DAGs are transitively reduced where a longer path already orders
 * two tasks (gn_task_cut_group below; the edges each rule drops):
 *   forward(s,t) -> forward(g,t), backward(g,t) -> backward(s,t) and
 *     forward(out,t) -> backward(s,t): s reaches another input of g (so
 *     the path s ~> s' -> g orders them, hop by hop);
 *   backward(g,t) -> update(g): g has a hidden input s (backward(g,t) ->
 *     ... -> backward(s,t) -> update(g));
 *   backward(s,t) -> update(g): s descends from another hidden input a of
 *     g (backward(s,t) -> ... -> backward(a,t) -> update(g)).
 * Every dropped edge is implied by the edges kept, so the order and what
 * each task sees are unchanged (a release and an acquire at each hop, or
 * one worker's program order), and no result depends on it. What it saves:
 * a decrement per dropped edge, and a chain's hop becomes one successor of
 * in-degree 1, which the release runs at once with no fence or atomic
 * (dag.h, the fast path).
 */
#ifndef GN_RUNTIME_TASKGRAPH_H
#define GN_RUNTIME_TASKGRAPH_H

#include <stdint.h>

#include "atomics.h"
#include "dag.h"
#include "model.h"

/* The task kinds: (kind, name). Dispatch switches, traces and tests all
 * iterate this list, so no kind is a magic number. */
#define GN_TASK_KINDS(X)                                                                           \
    X(FORWARD, "forward")                                                                          \
    X(BACKWARD, "backward")                                                                        \
    X(UPDATE, "update")

enum gn_task_kind {
#define GN_TASK_ENUM(kind, name) GN_TASK_##kind,
    GN_TASK_KINDS(GN_TASK_ENUM)
#undef GN_TASK_ENUM
    GN_TASK_KIND_COUNT
};

struct gn_taskmap {
    int32_t n;      /* groups in the order, input and output included */
    int32_t tiles;  /* T */
    int32_t tile;   /* rows per tile */
    uint32_t fwd0, bwd0, upd0, total;
    uint32_t parts; /* update tasks */
    const int32_t *upd_base; /* (n) first part of each position, or NULL: one part each */
    const int32_t *upd_pos;  /* (parts) position of each part, or NULL */
    const uint8_t *cut;      /* (edges) GN_TASK_CUT_* of each network edge, or NULL: none */
};
GN_STATIC_ASSERT(sizeof(struct gn_taskmap) == 56, "gn_taskmap is shared with the device");

struct gn_task {
    int32_t kind; /* enum gn_task_kind */
    int32_t pos;
    int32_t tile; /* the tile; for update, the part */
};

GN_HD void gn_taskmap_init(struct gn_taskmap *tm, int32_t n_groups, int32_t tiles, int32_t tile)
{
    tm->n = n_groups;
    tm->tiles = tiles;
    tm->tile = tile;
    tm->fwd0 = 0;
    tm->bwd0 = (uint32_t)(n_groups - 1) * (uint32_t)tiles;
    tm->upd0 = tm->bwd0 + (uint32_t)(n_groups - 2) * (uint32_t)tiles;
    tm->parts = (uint32_t)(n_groups - 1);
    tm->total = tm->upd0 + tm->parts;
    tm->upd_base = NULL;
    tm->upd_pos = NULL;
    tm->cut = NULL;
}

GN_HD uint32_t gn_task_forward(const struct gn_taskmap *tm, int32_t pos, int32_t t)
{
    return tm->fwd0 + (uint32_t)(pos - 1) * (uint32_t)tm->tiles + (uint32_t)t;
}

GN_HD uint32_t gn_task_backward(const struct gn_taskmap *tm, int32_t pos, int32_t t)
{
    return tm->bwd0 + (uint32_t)(pos - 1) * (uint32_t)tm->tiles + (uint32_t)t;
}

/* Part p of the update of the group at pos. */
GN_HD uint32_t gn_task_update(const struct gn_taskmap *tm, int32_t pos, int32_t p)
{
    return tm->upd0 + (tm->upd_base ? (uint32_t)tm->upd_base[pos] : (uint32_t)(pos - 1)) +
           (uint32_t)p;
}

/* Update parts of the group at pos. */
GN_HD int32_t gn_task_update_parts(const struct gn_taskmap *tm, int32_t pos)
{
    return tm->upd_base ? tm->upd_base[pos + 1] - tm->upd_base[pos] : 1;
}

GN_HD struct gn_task gn_task_decode(const struct gn_taskmap *tm, uint32_t id)
{
    struct gn_task k;
    if (id >= tm->upd0) {
        const uint32_t i = id - tm->upd0;
        k.kind = GN_TASK_UPDATE;
        k.pos = tm->upd_pos ? tm->upd_pos[i] : (int32_t)i + 1;
        k.tile = tm->upd_base ? (int32_t)i - tm->upd_base[k.pos] : 0;
    } else if (id >= tm->bwd0) {
        k.kind = GN_TASK_BACKWARD;
        k.pos = (int32_t)((id - tm->bwd0) / (uint32_t)tm->tiles) + 1;
        k.tile = (int32_t)((id - tm->bwd0) % (uint32_t)tm->tiles);
    } else {
        k.kind = GN_TASK_FORWARD;
        k.pos = (int32_t)(id / (uint32_t)tm->tiles) + 1;
        k.tile = (int32_t)(id % (uint32_t)tm->tiles);
    }
    return k;
}

/*
 * The dependency rules above as functions of the model, written once: the
 * host builds its DAGs from them (gn_taskgraph_build) and the persistent
 * kernel rebuilds its own from them after growth.
 */

/* Update parts of group g: its input rows (the in-edges' source widths,
 * summed) in at most max_parts slices of at least min_rows rows each;
 * *rows gets the rows per part. max_parts 1: one part, the whole group. */
GN_HD int32_t gn_task_parts_of(const struct gn_model *m, int32_t g, int32_t max_parts,
                               int32_t min_rows, int32_t *rows)
{
    const struct gn_group *gr = &m->groups[g];
    int32_t ktot = 0;
    for (int32_t k = 0; k < gr->in_count; k++)
        ktot += m->groups[m->edges[m->in_list[gr->in_begin + k]].src].width;
    int32_t kp = (ktot + max_parts - 1) / max_parts;
    if (kp < min_rows) kp = min_rows;
    *rows = kp;
    return ktot > 0 ? (ktot + kp - 1) / kp : 1;
}

/* The least input rows of an update part (gn_task_parts_of's min_rows) on
 * the cuda backend, for a graph of `hidden` hidden groups run by `workers`
 * worker blocks: 128 where there is at least a hidden group per worker
 * (enough parts to keep every worker busy; fewer, longer parts pay fewer
 * takes and releases), else 64 (a few wide groups: more parts shorten the
 * step's last tasks). Measured on the H200, docs/PERF.md (fourteenth
 * round): 128 against 64 is 0.96-0.98 of the step on the 1,024- and
 * 4,096-group graphs and 1.24 on a graph of one 784-input group; 32 is
 * slower everywhere, 256 slower on the small graphs. Measured again on an
 * H100 once only the steps that read the growth statistic make it (plan.h;
 * a part of a plain step pays neither the parts' counter nor its fences):
 * MANY 64 is 1.013-1.054 of the step on the graphs it changes (layered,
 * many, deep, sweep-1024-64), FEW 32 1.016 on one-group and 1.070 on
 * sweep-64-32: on both, each extra part's take and release cost more than
 * the shorter parts save (a part's time barely falls with its rows), so
 * 128 / 64 stay (docs/PERF.md, thirty-seventh round). */
#ifndef GN_TASK_PART_ROWS_MANY
#define GN_TASK_PART_ROWS_MANY 128 /* a variant's knob (-D): at least a group per worker */
#endif
#ifndef GN_TASK_PART_ROWS_FEW
#define GN_TASK_PART_ROWS_FEW 64 /* a variant's knob (-D): fewer groups than workers */
#endif
GN_HD int32_t gn_task_part_rows(int64_t hidden, int64_t workers)
{
    return hidden >= workers ? GN_TASK_PART_ROWS_MANY : GN_TASK_PART_ROWS_FEW;
}

/* Whether hidden group g is the last of t's sources by position (the
 * in-list runs by source position): in a level-by-level run, the forward of
 * t waits for g's last, so g's forward is the one that makes it ready. */
GN_HD int gn_task_last_source(const struct gn_model *m, int32_t t, int32_t g)
{
    const struct gn_group *gt = &m->groups[t];
    return gt->in_count > 0 && m->edges[m->in_list[gt->in_begin + gt->in_count - 1]].src == g;
}

/* Whether g is the first of s's targets by position (the out-list runs by
 * target position): the error flows back to s from g last. */
GN_HD int gn_task_first_target(const struct gn_model *m, int32_t s, int32_t g)
{
    const struct gn_group *gs = &m->groups[s];
    return gs->out_count > 0 && m->edges[m->out_list[gs->out_begin]].dst == g;
}

/*
 * The transitive reduction (the top of this file), as flags of each
 * network edge s -> g, made from the network alone:
 *   GN_TASK_CUT_PATH  s reaches another input of g: the edge's forward and
 *                     backward task edges are dropped;
 *   GN_TASK_CUT_LATE  s descends from another hidden input of g:
 *                     backward(s,t) -> update(g) is dropped.
 * Each group's flags come from the GN_TASK_CUT_WINDOW positions before it
 * (bit i of a 64-bit mask: position lo + i): exact for an edge whose
 * source lies within the window (every node of a path between two inputs
 * of g lies between them); an edge from further back is kept, which is
 * always safe. In three parts, so the kernel can spread them over a warp:
 * the window's input masks (gn_task_cut_inputs, one a position: the lanes
 * take a position each), the two sweeps over those masks
 * (gn_task_cut_sweep, 2 x 64 steps of register work), the flags written
 * (gn_task_cut_write, the lanes take the in-list's entries); the host runs
 * them in a row (gn_task_cut_group). Groups are independent; each reads
 * only the tail of its in-list (sorted by source position) that lies in
 * its window, so the output's list of a thousand entries costs no more
 * than a short one's. GN_TASK_REDUCE 0 (-D, a variant's knob) cuts
 * nothing.
 */
#ifndef GN_TASK_REDUCE
#define GN_TASK_REDUCE 1
#endif
#define GN_TASK_CUT_PATH 1u
#define GN_TASK_CUT_LATE 2u
#define GN_TASK_CUT_WINDOW 64 /* the bits of the sweeps' masks */

/* The first position of the window of the group at p (never the input's). */
GN_HD int32_t gn_task_cut_lo(int32_t p)
{
    return p > GN_TASK_CUT_WINDOW ? p - GN_TASK_CUT_WINDOW : 1;
}

/* The inputs of the group at position q (lo <= q <= lo + 64) that lie in
 * the window from lo, as bits; the in-list's entries from its end (it runs
 * by source position: those in the window are its tail, whatever its
 * length), every stride-th from the first-th last (the union over first =
 * 0 .. stride-1 is the whole mask). */
GN_HD uint64_t gn_task_cut_inputs(const struct gn_model *m, int32_t q, int32_t lo, int32_t first,
                                  int32_t stride)
{
    const struct gn_group *h = &m->groups[m->order[q]];
    uint64_t b = 0;
    for (int32_t i = h->in_count - 1 - first; i >= 0; i -= stride) {
        const int32_t s = m->edges[m->in_list[h->in_begin + i]].src;
        const int32_t ps = s >= 0 ? m->groups[s].pos : -1;
        if (ps < lo) break;
        b |= (uint64_t)1 << (ps - lo);
    }
    return b;
}

/* The sweeps of the group at lo + n: win[i] the inputs of position lo + i
 * (i < n), in the group's own. *far: the window's nodes that reach one of
 * its inputs (a path of two hops or more to the group); *down: those that
 * descend from one of its inputs. */
GN_HD void gn_task_cut_sweep(const uint64_t *win, int32_t n, uint64_t in, uint64_t *far,
                             uint64_t *down)
{
    /* up: the group's ancestors in the window, nearest first (a node's
     * inputs lie below it) */
    uint64_t up = in, f = 0, d = 0;
    for (int32_t i = n - 1; i >= 0; i--)
        if ((up >> i) & 1) {
            up |= win[i];
            f |= win[i];
        }
    /* down, lowest first: any path between two inputs runs through
     * ancestors of the group */
    for (int32_t i = 0; i < n; i++)
        if (((up >> i) & 1) && (win[i] & (in | d))) d |= (uint64_t)1 << i;
    *far = f;
    *down = d;
}

/* The flags of the in-edges of the group at p from its sweeps into cut, by
 * edge index: the entries whose source lies in the window (the list's
 * tail; every stride-th from the first-th last); the others' flags are
 * zero, as cut must hold them on entry. */
GN_HD void gn_task_cut_write(const struct gn_model *m, int32_t p, int32_t lo, uint64_t far,
                             uint64_t down, uint8_t *cut, int32_t first, int32_t stride)
{
    const struct gn_group *gr = &m->groups[m->order[p]];
    for (int32_t i = gr->in_count - 1 - first; i >= 0; i -= stride) {
        const int32_t e = m->in_list[gr->in_begin + i], s = m->edges[e].src;
        const int32_t b = (s >= 0 ? m->groups[s].pos : -1) - lo;
        if (b < 0) break;
        if (GN_TASK_REDUCE)
            cut[e] = (uint8_t)((((far >> b) & 1) ? GN_TASK_CUT_PATH : 0) |
                               (((down >> b) & 1) ? GN_TASK_CUT_LATE : 0));
    }
}

/* The three parts in a row: the flags of the in-edges of the group at
 * position p (1 .. n-1) into cut (zero on entry). */
GN_HD void gn_task_cut_group(const struct gn_model *m, int32_t p, uint8_t *cut)
{
    const int32_t lo = gn_task_cut_lo(p);
    uint64_t win[GN_TASK_CUT_WINDOW], far, down;
    for (int32_t q = lo; q < p; q++) win[q - lo] = gn_task_cut_inputs(m, q, lo, 0, 1);
    gn_task_cut_sweep(win, p - lo, gn_task_cut_inputs(m, p, lo, 0, 1), &far, &down);
    gn_task_cut_write(m, p, lo, far, down, cut, 0, 1);
}

/* Whether edge e's flags hold f (no flags without a cut array). */
GN_HD int gn_task_cut(const struct gn_taskmap *tm, int32_t e, uint8_t f)
{
    return tm->cut && (tm->cut[e] & f);
}

/*
 * Successors of task id in the training DAG (eval = 0) or the evaluation
 * DAG (eval = 1: the forward tasks only, the output's with no successors),
 * written to out when not NULL; returns their number.
 *
 * Their order decides no result, only which ready successor the worker
 * that finishes the task runs next: the release keeps the first ready one
 * as the continuation (dag.h), and the GPU worker reads the first one's
 * records ahead while the task runs (device/worker.cuh). So the successor
 * this task is likeliest to make ready comes first: among the forward's
 * targets (by position), those whose last source is this group, then the
 * rest; among the backward's hidden sources (nearest first), those whose
 * first target is this group, then the rest; then the update parts.
 */
GN_HD uint32_t gn_task_succ(const struct gn_model *m, const struct gn_taskmap *tm, uint32_t id,
                            int eval, uint32_t *out)
{
    const struct gn_task k = gn_task_decode(tm, id);
    if (k.kind == GN_TASK_UPDATE) return 0;
    const int32_t g = m->order[k.pos];
    const struct gn_group *gr = &m->groups[g];
    uint32_t c = 0;
    if (k.kind == GN_TASK_FORWARD) {
        if (g != GN_SLOT_OUTPUT) {
            /* two passes where the order matters; counting, one */
            for (int last = 1; last >= (out ? 0 : 1); last--)
                for (int32_t i = 0; i < gr->out_count; i++) {
                    const int32_t e = m->out_list[gr->out_begin + i];
                    const int32_t t = m->edges[e].dst;
                    if (gn_task_cut(tm, e, GN_TASK_CUT_PATH) ||
                        (out && gn_task_last_source(m, t, g) != last))
                        continue;
                    if (out) out[c] = gn_task_forward(tm, m->groups[t].pos, k.tile);
                    c++;
                }
            return c;
        }
        if (eval) return 0;
    }
    /* forward of the output, or backward of a hidden group: the error flows
     * to the hidden sources; the group's update may run once all its tiles
     * are done (with a hidden source, its backward's update edge is
     * implied by that source's). */
    int32_t hidden = 0;
    for (int first = 1; first >= (out ? 0 : 1); first--)
        for (int32_t i = gr->in_count - 1; i >= 0; i--) {
            const int32_t e = m->in_list[gr->in_begin + i];
            const int32_t s = m->edges[e].src;
            if (s == GN_SLOT_INPUT) continue;
            hidden += first;
            if (gn_task_cut(tm, e, GN_TASK_CUT_PATH) ||
                (out && gn_task_first_target(m, s, g) != first))
                continue;
            if (out) out[c] = gn_task_backward(tm, m->groups[s].pos, k.tile);
            c++;
        }
    if (!tm->cut || hidden == 0)
        for (int32_t p = 0, np = gn_task_update_parts(tm, k.pos); p < np; p++) {
            if (out) out[c] = gn_task_update(tm, k.pos, p);
            c++;
        }
    if (k.kind == GN_TASK_BACKWARD) {
        /* backward(g) read W(g -> t): update(t) waits for it */
        for (int32_t i = 0; i < gr->out_count; i++) {
            const int32_t e = m->out_list[gr->out_begin + i];
            if (gn_task_cut(tm, e, GN_TASK_CUT_LATE)) continue;
            const int32_t tp = m->groups[m->edges[e].dst].pos;
            for (int32_t p = 0, np = gn_task_update_parts(tm, tp); p < np; p++) {
                if (out) out[c] = gn_task_update(tm, tp, p);
                c++;
            }
        }
    }
    return c;
}

/* In-degree of task id (the same in both DAGs for the forward tasks):
 * the edges gn_task_succ gives it, counted from its side. */
GN_HD uint32_t gn_task_indeg(const struct gn_model *m, const struct gn_taskmap *tm, uint32_t id)
{
    const struct gn_task k = gn_task_decode(tm, id);
    const int32_t g = m->order[k.pos];
    const struct gn_group *gr = &m->groups[g];
    if (k.kind == GN_TASK_BACKWARD) {
        uint32_t c = 0;
        for (int32_t i = 0; i < gr->out_count; i++)
            c += !gn_task_cut(tm, m->out_list[gr->out_begin + i], GN_TASK_CUT_PATH);
        return c;
    }
    /* forward: the hidden inputs not cut; update: per tile, its own
     * backward (cut where a hidden input exists) and the hidden inputs'
     * backwards not cut */
    const uint8_t f = k.kind == GN_TASK_FORWARD ? GN_TASK_CUT_PATH : GN_TASK_CUT_LATE;
    uint32_t c = 0, hidden = 0;
    for (int32_t i = 0; i < gr->in_count; i++) {
        const int32_t e = m->in_list[gr->in_begin + i];
        if (m->edges[e].src == GN_SLOT_INPUT) continue;
        hidden++;
        c += !gn_task_cut(tm, e, f);
    }
    if (k.kind == GN_TASK_FORWARD) return c;
    return (uint32_t)tm->tiles * (c + (!tm->cut || hidden == 0));
}

#ifdef __cplusplus
extern "C" {
#endif

const char *gn_task_kind_name(int32_t kind);

/* Tiles for a batch: rows per tile, explicit or chosen so that the first
 * level (often a single group) still gives every worker work. */
void gn_taskgraph_tiles(int32_t batch, int32_t tile_opt, int32_t workers, int32_t *tile,
                        int32_t *tiles);

/* Build the training-step DAG and the evaluation DAG of m (rebuilt), one
 * update part per group, from gn_task_succ and gn_task_indeg, reduced
 * (gn_task_cut_group; tm->cut is NULL again on return: the DAGs hold it). */
enum gn_status gn_taskgraph_build(struct gn_dag *train, struct gn_dag *eval,
                                  struct gn_taskmap *tm, const struct gn_model *m, int32_t tile,
                                  int32_t tiles);

#ifdef __cplusplus
}
#endif

#endif
