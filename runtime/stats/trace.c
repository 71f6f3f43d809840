/*
 * Growth traces (trace.h): JSON lines written with fprintf, one record a
 * line, flushed after each so a viewer can follow a live run.
 *
 * Records hold deltas against what the trace already wrote (the start
 * record's graph is the first delta, against an empty one). Group slots are
 * bump-allocated and, without pruning, never reused during a run, so the
 * groups new since the previous record are exactly slots [written,
 * n_groups). A pruning round renames slots (prune.c compacts the pools):
 * its record lists the removed slots ("pruned_groups", as numbered in the previous
 * record) and the renamed ones ("renamed"), and then the whole graph again
 * (every group in new_groups, every edge in new_edges), which replaces the
 * one before. Edges change in
 * place (depthwise growth re-points the parent's out-edges to leave from
 * the child), so the writer keeps a copy of every edge slot's (src, dst) as
 * last written and reports the slots that appeared or moved. A slot with
 * src = -1 is space a refused duplication left unused: it is skipped.
 * Which duplication made a group is read off the graph: a depthwise child
 * has an edge from its parent, a widthwise one never does (it sits beside
 * its parent with copies of its in-edges).
 *
 * Loss and accuracy in a step record are means over the steps since the
 * previous record. Every step record carries the gradient statistic of
 * every group (indexed by slot) and the marked slots, since those change
 * at every step.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "grow.h"
#include "trace.h"

struct gn_trace {
    FILE *f;
    char *path;
    int32_t every;
    int32_t groups_written; /* slots [0, groups_written) are in the trace */
    int32_t edges_seen;     /* edge slots compared so far */
    int32_t edges_cap;
    int32_t *esrc, *edst; /* (edges_cap): each edge slot as last written */
    int64_t steps_total;  /* the run's last step: always recorded */
    double loss_sum;      /* since the previous step record */
    int64_t hits, rows, steps;
};

static const char *kind_name(int32_t kind)
{
    switch (kind) {
    case GN_GROUP_INPUT: return "input";
    case GN_GROUP_OUTPUT: return "output";
    default: return "hidden";
    }
}

static void put_num(FILE *f, double v, int digits)
{
    if (isfinite(v)) fprintf(f, "%.*g", digits, v);
    else fputs("null", f);
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* The duplication that made slot g: "depth", "width", or null for groups
 * of the start graph. */
static void put_dup(FILE *f, const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    if (gr->parent < 0) {
        fputs("null", f);
        return;
    }
    for (int32_t i = 0; i < gr->in_count; i++) {
        if (m->edges[m->in_list[gr->in_begin + i]].src == gr->parent) {
            fputs("\"depth\"", f);
            return;
        }
    }
    fputs("\"width\"", f);
}

static void put_group(FILE *f, const struct gn_model *m, int32_t g)
{
    const struct gn_group *gr = &m->groups[g];
    fprintf(f, "{\"id\":%d,\"kind\":\"%s\",\"width\":%d,\"parent\":%d,\"dup\":", g,
            kind_name(gr->kind), gr->width, gr->parent);
    put_dup(f, m, g);
    fprintf(f, ",\"born\":%d,\"pos\":%d}", gr->born, gr->pos);
}

/* New groups, new and moved edges, and (when the graph changed) the
 * canonical order; remembers what it wrote. */
static void put_changes(struct gn_trace *tr, const struct gn_model *m)
{
    FILE *f = tr->f;
    int changed = 0;
    if (m->n_groups > tr->groups_written) {
        fputs(",\"new_groups\":[", f);
        for (int32_t g = tr->groups_written; g < m->n_groups; g++) {
            if (g > tr->groups_written) fputc(',', f);
            put_group(f, m, g);
        }
        fputc(']', f);
        tr->groups_written = m->n_groups;
        changed = 1;
    }
    int first_new = 1, first_moved = 1;
    int32_t n = m->n_edges < tr->edges_cap ? m->n_edges : tr->edges_cap;
    /* New edges first (one array), then moved ones (a second pass). */
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t e = 0; e < n; e++) {
            const struct gn_edge *ed = &m->edges[e];
            if (ed->src < 0) continue;
            int known = e < tr->edges_seen && tr->esrc[e] >= 0;
            if (pass == 0 && !known) {
                fputs(first_new ? ",\"new_edges\":[" : ",", f);
                first_new = 0;
            } else if (pass == 1 && known && (tr->esrc[e] != ed->src || tr->edst[e] != ed->dst)) {
                fputs(first_moved ? ",\"moved_edges\":[" : ",", f);
                first_moved = 0;
            } else {
                continue;
            }
            fprintf(f, "[%d,%d,%d]", e, ed->src, ed->dst);
        }
        if (pass == 0 && !first_new) fputc(']', f);
        if (pass == 1 && !first_moved) fputc(']', f);
    }
    for (int32_t e = 0; e < n; e++) {
        tr->esrc[e] = m->edges[e].src;
        tr->edst[e] = m->edges[e].dst;
    }
    if (n > tr->edges_seen) tr->edges_seen = n;
    if (changed || !first_new || !first_moved) {
        fputs(",\"order\":[", f);
        for (int32_t i = 0; i < m->n_groups; i++) fprintf(f, i ? ",%d" : "%d", m->order[i]);
        fputc(']', f);
    }
}

/* Every group's gradient statistic (by slot) and the marked slots. */
static void put_state(FILE *f, const struct gn_model *m)
{
    fputs(",\"grad\":[", f);
    for (int32_t g = 0; g < m->n_groups; g++) {
        if (g) fputc(',', f);
        put_num(f, m->groups[g].kind == GN_GROUP_INPUT ? 0.0 : m->groups[g].grad_std, 4);
    }
    fputs("],\"marked\":[", f);
    int first = 1;
    for (int32_t g = 0; g < m->n_groups; g++) {
        if (!(m->groups[g].flags & GN_GROUP_MARKED)) continue;
        fprintf(f, first ? "%d" : ",%d", g);
        first = 0;
    }
    fputc(']', f);
}

static int32_t live_edges(const struct gn_model *m)
{
    int32_t n = 0;
    for (int32_t e = 0; e < m->n_edges; e++) n += m->edges[e].src >= 0;
    return n;
}

static void put_counts(FILE *f, const struct gn_model *m)
{
    fprintf(f,
            ",\"hidden\":%d,\"edges\":%d,\"duplications\":%lld,\"refused\":%lld,\"pruned\":%lld",
            m->n_groups - 2, live_edges(m), (long long)m->duplications, (long long)m->refused,
            (long long)m->pruned);
}

static enum gn_status end_record(struct gn_trace *tr)
{
    fputs("}\n", tr->f);
    if (fflush(tr->f) != 0 || ferror(tr->f))
        return gn_fail(GN_ERR_IO, "%s: cannot write the trace: %s", tr->path, strerror(errno));
    return GN_OK;
}

enum gn_status gn_trace_open(struct gn_trace **out, const char *path, int32_t every)
{
    *out = NULL;
    if (!path || !*path) return gn_fail(GN_ERR_INVALID, "--trace wants a file name");
    if (every < 0) return gn_fail(GN_ERR_INVALID, "--trace-every must be >= 0 (got %d)", every);
    struct gn_trace *tr = calloc(1, sizeof *tr);
    if (!tr) return gn_fail(GN_ERR_NOMEM, "out of memory");
    tr->path = strdup(path);
    tr->every = every;
    tr->f = fopen(path, "w");
    if (!tr->path || !tr->f) {
        enum gn_status st =
            gn_fail(tr->path ? GN_ERR_IO : GN_ERR_NOMEM, "%s: cannot create the trace: %s", path,
                    strerror(errno));
        gn_trace_close(tr);
        return st;
    }
    *out = tr;
    return GN_OK;
}

enum gn_status gn_trace_start(struct gn_trace *tr, const struct gn_plan *plan,
                              const char *backend, const struct gn_model *m, int64_t step)
{
    free(tr->esrc);
    free(tr->edst);
    tr->edges_cap = m->max_edges;
    tr->esrc = malloc((size_t)m->max_edges * sizeof(int32_t));
    tr->edst = malloc((size_t)m->max_edges * sizeof(int32_t));
    if (!tr->esrc || !tr->edst) return gn_fail(GN_ERR_NOMEM, "out of memory for the trace");
    tr->groups_written = 0;
    tr->edges_seen = 0;
    tr->loss_sum = 0.0;
    tr->hits = tr->rows = tr->steps = 0;
    tr->steps_total = plan->steps_total;

    FILE *f = tr->f;
    fputs("{\"type\":\"start\",\"format\":\"genet-trace\",\"version\":1,\"backend\":", f);
    put_str(f, backend);
    fputs(",\"precision\":", f);
    put_str(f, gn_precision_name((enum gn_precision)plan->precision));
    fprintf(f,
            ",\"inputs\":%d,\"classes\":%d,\"group_size\":%d,\"batch\":%d,\"seed\":%llu,"
            "\"steps_total\":%lld,\"steps_per_epoch\":%lld,\"grow\":",
            m->inputs, m->classes, m->group_size, plan->batch, (unsigned long long)plan->seed,
            (long long)plan->steps_total, (long long)plan->steps_per_epoch);
    put_str(f, gn_grow_policy_name((enum gn_grow_policy)plan->grow));
    fputs(",\"grow_criterion\":", f);
    put_str(f, gn_grow_criterion_name((enum gn_grow_criterion)plan->grow_criterion));
    fputs(",\"grow_threshold\":", f);
    put_num(f, plan->grow_threshold, 6);
    fputs(",\"grow_ratio\":", f);
    put_num(f, plan->grow_ratio, 6);
    fprintf(f, ",\"grow_every\":%d,\"trace_every\":%d,\"max_groups\":%d,\"max_edges\":%d",
            plan->grow_every, tr->every, m->max_groups, m->max_edges);
    fprintf(f, ",\"step\":%lld", (long long)step);
    put_counts(f, m);
    put_changes(tr, m);
    put_state(f, m);
    return end_record(tr);
}

static enum gn_status write_step(struct gn_trace *tr, const struct gn_model *m,
                                 const struct gn_trace_at *at)
{
    FILE *f = tr->f;
    fprintf(f, "{\"type\":\"step\",\"step\":%lld,\"epoch\":%lld,\"loss\":", (long long)at->step,
            (long long)at->epoch);
    put_num(f, tr->rows ? tr->loss_sum / (double)tr->rows : 0.0, 6);
    fputs(",\"acc\":", f);
    put_num(f, tr->rows ? (double)tr->hits / (double)tr->rows : 0.0, 6);
    fprintf(f, ",\"steps\":%lld,\"seconds\":%.3f", (long long)tr->steps, at->seconds);
    put_counts(f, m);
    if (at->n_events > 0) {
        fputs(",\"events\":[", f);
        for (int32_t i = 0; i < at->n_events; i++) {
            const struct gn_grow_event *e = &at->events[i];
            fprintf(f, "%s{\"parent\":%d,\"child\":%d,\"kind\":\"%s\",\"grad_std\":", i ? "," : "",
                    e->parent, e->child, e->kind == GN_DUP_WIDTH ? "width" : "depth");
            put_num(f, e->grad_std, 4);
            fputc('}', f);
        }
        fputc(']', f);
    }
    if (at->prune && at->prune->n_pruned > 0) {
        const struct gn_prune_log *pl = at->prune;
        fputs(",\"pruned_groups\":[", f);
        for (int32_t i = 0; i < pl->n_pruned; i++) fprintf(f, i ? ",%d" : "%d", pl->pruned[i]);
        fputs("],\"renamed\":[", f);
        for (int32_t i = 0; i < pl->n_moved; i++)
            fprintf(f, "%s[%d,%d]", i ? "," : "", pl->moved[i][0], pl->moved[i][1]);
        fputc(']', f);
        /* slots and edges renamed: the whole graph again below */
        tr->groups_written = 0;
        tr->edges_seen = 0;
    }
    put_changes(tr, m);
    put_state(f, m);
    tr->loss_sum = 0.0;
    tr->hits = tr->rows = tr->steps = 0;
    return end_record(tr);
}

enum gn_status gn_trace_step(struct gn_trace *tr, const struct gn_model *m,
                             const struct gn_trace_at *at, double loss_sum, int64_t hits,
                             int32_t rows)
{
    tr->loss_sum += loss_sum;
    tr->hits += hits;
    tr->rows += rows;
    tr->steps++;
    int due = (tr->every > 0 && at->step % tr->every == 0) || at->n_events > 0 ||
              (at->prune && at->prune->n_pruned > 0) ||
              m->n_groups != tr->groups_written || at->step >= tr->steps_total;
    return due ? write_step(tr, m, at) : GN_OK;
}

enum gn_status gn_trace_epoch(struct gn_trace *tr, const struct gn_progress *p)
{
    fprintf(tr->f, "{\"type\":\"epoch\",\"step\":%lld,\"epoch\":%d,\"loss\":", (long long)p->step,
            p->epoch);
    put_num(tr->f, p->loss, 6);
    fputs(",\"acc\":", tr->f);
    put_num(tr->f, p->accuracy, 6);
    fputs(",\"test_acc\":", tr->f);
    if (p->test_accuracy >= 0) put_num(tr->f, p->test_accuracy, 6);
    else fputs("null", tr->f);
    return end_record(tr);
}

enum gn_status gn_trace_end(struct gn_trace *tr, const struct gn_model *m,
                            const struct gn_trace_at *at, enum gn_status st)
{
    enum gn_status ws = GN_OK;
    if (tr->steps > 0) ws = write_step(tr, m, at);
    fprintf(tr->f, "{\"type\":\"end\",\"step\":%lld,\"status\":", (long long)at->step);
    put_str(tr->f, st ? gn_status_str(st) : "ok");
    fprintf(tr->f, ",\"seconds\":%.3f", at->seconds);
    put_counts(tr->f, m);
    enum gn_status es = end_record(tr);
    return ws ? ws : es;
}

void gn_trace_close(struct gn_trace *tr)
{
    if (!tr) return;
    if (tr->f) fclose(tr->f);
    free(tr->path);
    free(tr->esrc);
    free(tr->edst);
    free(tr);
}
