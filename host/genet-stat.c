/*
 * genet-stat: print the live counters of a genet-rt run from its stats ring.
 *
 *   genet-stat [-n N] [--follow] [--json] NAME|PID
 *   genet-stat --list [--json]
 *
 * Attaches to the ring read-only (ring.c checks it), prints the last N
 * records as an aligned table in human units, or one JSON object per line
 * in raw units; with --follow it then polls write_pos every 50 ms and prints
 * each new record, and stops once the writer has finished (exit 0) or died
 * (exit 1), after printing every record the writer appended. The columns
 * and the JSON fields are each driven by one table below, which --help
 * prints too.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "genet/genet.h"
#include "gn_config.h"
#include "ring.h"
#include "stats.h"

#define FOLLOW_POLL_NS 50000000L
/* how long a ring that is being made is waited for */
#define OPEN_WAIT_NS 2000000000L
#define DEFAULT_LAST 10

/* ---- human units ---- */

/* Three significant digits of v, 0 <= v < 999.5, without an exponent. */
static void fmt3(char *b, size_t n, double v, const char *unit)
{
    if (v < 9.995)
        snprintf(b, n, "%.2f%s", v, unit);
    else if (v < 99.95)
        snprintf(b, n, "%.1f%s", v, unit);
    else
        snprintf(b, n, "%.0f%s", v, unit);
}

/* A count: exact below 10000, then 12.3k, 456M, 1.20G, ... */
static void fmt_count(char *b, size_t n, double v)
{
    static const char *units[] = {"k", "M", "G", "T", "P", "E"};
    if (!isfinite(v) || v < 0) {
        snprintf(b, n, "%g", v);
        return;
    }
    if (v < 9999.5) {
        snprintf(b, n, v < 100 && v != floor(v) ? "%.1f" : "%.0f", v);
        return;
    }
    size_t u = 0;
    v /= 1000;
    while (v >= 999.5 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000;
        u++;
    }
    fmt3(b, n, v, units[u]);
}

/* A duration in at most 6 characters: 850ns, 12.3us, 4.56ms, 1.23s, 2m03s, 1h02m, 123h. */
static void fmt_duration(char *b, size_t n, int64_t ns)
{
    if (ns < 0) {
        snprintf(b, n, "-");
        return;
    }
    double v = (double)ns;
    if (v < 999.5)
        snprintf(b, n, "%lldns", (long long)ns);
    else if (v < 999.5e3)
        fmt3(b, n, v / 1e3, "us");
    else if (v < 999.5e6)
        fmt3(b, n, v / 1e6, "ms");
    else if (v < 59.95e9)
        fmt3(b, n, v / 1e9, "s");
    else if (ns < INT64_C(3600000000000)) {
        long long s = (long long)(ns / 1000000000);
        snprintf(b, n, "%lldm%02llds", s / 60, s % 60);
    } else if (ns < INT64_C(360000000000000)) {
        long long m = (long long)(ns / 60000000000);
        snprintf(b, n, "%lldh%02lldm", m / 60, m % 60);
    } else {
        snprintf(b, n, "%.0fh", v / 3.6e12);
    }
}

static void fmt_percent(char *b, size_t n, double used, double cap)
{
    if (cap <= 0)
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%.0f%%", 100.0 * used / cap);
}

/* ---- the table: one row per column ---- */

enum cell {
    CELL_DURATION, /* int64 ns */
    CELL_COUNT64,  /* int64 */
    CELL_COUNT32,  /* int32 */
    CELL_RATE,     /* double per second */
    CELL_INT,      /* int32, exact */
    CELL_LOSS,     /* double */
    CELL_FRACTION, /* double in [0, 1], as a percentage */
    CELL_USE32,    /* int32 used at off, int32 capacity at off2, as a percentage */
    CELL_USE64,    /* the same with int64 */
};

#define AT(field) offsetof(struct gn_stat_record, field)
static const struct column {
    const char *head;
    int width;
    enum cell cell;
    size_t off, off2;
    const char *help;
} columns[] = {
    {"time", 7, CELL_DURATION, AT(t_ns), 0, "time since the run started"},
    {"step", 7, CELL_COUNT64, AT(step), 0, "optimizer steps done"},
    {"ep", 4, CELL_INT, AT(epoch), 0, "epoch, from 0"},
    {"loss", 8, CELL_LOSS, AT(loss), 0, "training loss, mean over the epoch so far"},
    {"acc", 6, CELL_FRACTION, AT(accuracy), 0, "training accuracy over the epoch so far"},
    {"groups", 6, CELL_COUNT32, AT(groups), 0, "groups in the graph, input and output included"},
    {"edges", 6, CELL_COUNT32, AT(edges), 0, "edges in the graph"},
    {"dup", 5, CELL_COUNT64, AT(duplications), 0, "duplications made since the start"},
    {"refus", 5, CELL_COUNT64, AT(refused), 0,
     "duplications refused since the start (a pool was full)"},
    {"tasks", 6, CELL_COUNT64, AT(tasks), 0, "scheduler tasks run since the start"},
    {"task/s", 6, CELL_RATE, AT(tasks_per_s), 0, "tasks per second over the last interval"},
    {"pgrp", 4, CELL_USE32, AT(pool_groups_used), AT(pool_groups_cap), "group pool in use"},
    {"pedg", 4, CELL_USE32, AT(pool_edges_used), AT(pool_edges_cap), "edge pool in use"},
    {"ppar", 4, CELL_USE64, AT(pool_params_used), AT(pool_params_cap), "parameter pool in use"},
    {"fwd", 6, CELL_DURATION, AT(t_forward_ns), 0, "time in the forward pass since the start"},
    {"bwd", 6, CELL_DURATION, AT(t_backward_ns), 0, "time in the backward pass since the start"},
    {"upd", 6, CELL_DURATION, AT(t_update_ns), 0, "time in weight updates since the start"},
    {"grow", 6, CELL_DURATION, AT(t_growth_ns), 0, "time in growth since the start"},
    {"kwait", 6, CELL_DURATION, AT(t_kernel_wait_data_ns), 0,
     "time the kernel waited for data since the start"},
    {"lwait", 6, CELL_DURATION, AT(t_loader_wait_kernel_ns), 0,
     "time the loader waited for the kernel since the start"},
    {"qhw", 5, CELL_COUNT32, AT(queue_high_water), 0, "ready-queue high-water mark"},
};
#undef AT

static int32_t get32(const struct gn_stat_record *r, size_t off)
{
    int32_t v;
    memcpy(&v, (const char *)r + off, sizeof v);
    return v;
}

static int64_t get64(const struct gn_stat_record *r, size_t off)
{
    int64_t v;
    memcpy(&v, (const char *)r + off, sizeof v);
    return v;
}

static double getf(const struct gn_stat_record *r, size_t off)
{
    double v;
    memcpy(&v, (const char *)r + off, sizeof v);
    return v;
}

static void format_cell(char *b, size_t n, const struct column *c, const struct gn_stat_record *r)
{
    switch (c->cell) {
    case CELL_DURATION: fmt_duration(b, n, get64(r, c->off)); break;
    case CELL_COUNT64: fmt_count(b, n, (double)get64(r, c->off)); break;
    case CELL_COUNT32: fmt_count(b, n, get32(r, c->off)); break;
    case CELL_RATE: fmt_count(b, n, getf(r, c->off)); break;
    case CELL_INT: snprintf(b, n, "%d", (int)get32(r, c->off)); break;
    case CELL_LOSS: {
        double v = getf(r, c->off);
        snprintf(b, n, isfinite(v) && fabs(v) < 100 ? "%.4f" : "%.3g", v);
        break;
    }
    case CELL_FRACTION: snprintf(b, n, "%.1f%%", 100.0 * getf(r, c->off)); break;
    case CELL_USE32: fmt_percent(b, n, get32(r, c->off), get32(r, c->off2)); break;
    case CELL_USE64:
        fmt_percent(b, n, (double)get64(r, c->off), (double)get64(r, c->off2));
        break;
    }
}

#define NCOLUMNS (sizeof columns / sizeof columns[0])

static void print_table_header(void)
{
    for (size_t c = 0; c < NCOLUMNS; c++)
        printf("%s%*s", c ? " " : "", columns[c].width, columns[c].head);
    putchar('\n');
}

static void print_table_row(const struct gn_stat_record *r)
{
    char b[64];
    for (size_t c = 0; c < NCOLUMNS; c++) {
        format_cell(b, sizeof b, &columns[c], r);
        printf("%s%*s", c ? " " : "", columns[c].width, b);
    }
    putchar('\n');
}

/* ---- JSON: one row per field ---- */

enum ftype { F_I32, F_I64, F_F64 };

#define FIELD(name, type) {#name, offsetof(struct gn_stat_record, name), type}
static const struct field {
    const char *name;
    size_t offset;
    enum ftype type;
} fields[] = {
    FIELD(t_ns, F_I64),
    FIELD(step, F_I64),
    FIELD(epoch, F_I32),
    FIELD(loss, F_F64),
    FIELD(accuracy, F_F64),
    FIELD(groups, F_I32),
    FIELD(edges, F_I32),
    FIELD(duplications, F_I64),
    FIELD(refused, F_I64),
    FIELD(pruned, F_I64),
    FIELD(tasks, F_I64),
    FIELD(tasks_per_s, F_F64),
    FIELD(pool_groups_used, F_I32),
    FIELD(pool_groups_cap, F_I32),
    FIELD(pool_edges_used, F_I32),
    FIELD(pool_edges_cap, F_I32),
    FIELD(pool_params_used, F_I64),
    FIELD(pool_params_cap, F_I64),
    FIELD(t_forward_ns, F_I64),
    FIELD(t_backward_ns, F_I64),
    FIELD(t_update_ns, F_I64),
    FIELD(t_growth_ns, F_I64),
    FIELD(t_kernel_wait_data_ns, F_I64),
    FIELD(t_loader_wait_kernel_ns, F_I64),
    FIELD(queue_high_water, F_I32),
};
#undef FIELD

/* The shortest of %.15g..%.17g that reads back as v; null when not finite. */
static void json_double(double v)
{
    char b[40];
    if (!isfinite(v)) {
        fputs("null", stdout);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    fputs(b, stdout);
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json_row(const struct gn_stat_record *r)
{
    printf("{\"index\":%llu", (unsigned long long)gn_stat_record_index(r));
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const struct field *f = &fields[i];
        printf(",\"%s\":", f->name);
        if (f->type == F_I32)
            printf("%d", (int)get32(r, f->offset));
        else if (f->type == F_I64)
            printf("%lld", (long long)get64(r, f->offset));
        else
            json_double(getf(r, f->offset));
    }
    fputs("}\n", stdout);
}

/* ---- commands ---- */

static const char *usage_text =
    "usage: genet-stat [-n N] [--follow] [--json] NAME|PID\n"
    "       genet-stat --list [--json]\n"
    "\n"
    "Print the live counters that a genet-rt run publishes in its stats ring, a\n"
    "ring buffer in POSIX shared memory (/dev/shm/NAME). NAME is the name the run\n"
    "printed at start (--stats-ring; \"genet-<pid>\" by default, the \"genet-\" may\n"
    "be left out); a PID means that process's default ring. The ring is opened\n"
    "read-only and the run is never slowed down by a reader; one that its run\n"
    "is still making is waited for, up to 2 s.\n"
    "\n"
    "options:\n"
    "  -n N          print the last N records (default %d; fewer if the ring holds\n"
    "                fewer; 0 with --follow prints only new ones)\n"
    "  -f, --follow  then keep printing records as they come, every record once,\n"
    "                until the run ends, and say so in a last line: exit 0 when it\n"
    "                finishes, 1 when its process dies (records the ring had to\n"
    "                overwrite before they were printed are reported on stderr)\n"
    "  --json        one JSON object per record and line: \"index\" and every field\n"
    "                in raw units (ns, counts; NaN and Inf as null); the last line of\n"
    "                --follow goes to stderr. With --list, one object per ring\n"
    "  --list        list the rings present, with writer pid, backend, state\n"
    "                (running, finished, died), records written and capacity\n"
    "  --version     print the version\n"
    "  -h, --help    this text\n"
    "\n"
    "table columns (the times are cumulative since the start, like the counters\n"
    "that say so; human units: k = 1000, M = 1000000, ...):\n";

static void usage(FILE *f)
{
    fprintf(f, usage_text, DEFAULT_LAST);
    for (size_t c = 0; c < NCOLUMNS; c++)
        fprintf(f, "  %-7s %s\n", columns[c].head, columns[c].help);
    fprintf(f, "\n"
               "exit status: 0 ok; 1 on an error (a message on stderr) or when the run's\n"
               "process died without finishing. A ring whose run died stays in /dev/shm\n"
               "until removed (rm /dev/shm/NAME); a new run of the same name replaces it.\n");
}

static void fmt_start(char *b, size_t n, int64_t unix_ns)
{
    time_t t = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(b, n, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(b, n, "-");
}

static int cmd_list(int json)
{
    char **names;
    size_t count;
    if (gn_ring_list(&names, &count) != GN_OK) {
        fprintf(stderr, "genet-stat: %s\n", gn_error_message());
        return 1;
    }
    int width = 4;
    for (size_t i = 0; i < count; i++)
        if ((int)strlen(names[i]) > width)
            width = (int)strlen(names[i]);
    if (!json) {
        if (count == 0)
            fprintf(stderr, "genet-stat: no stats rings in /dev/shm\n");
        else
            printf("%-*s %8s %-8s %-8s %9s %9s  %s\n", width, "NAME", "PID", "BACKEND", "STATE",
                   "RECORDS", "CAPACITY", "STARTED");
    }
    for (size_t i = 0; i < count; i++) {
        struct gn_ring_reader *r;
        if (gn_ring_open(names[i], &r) != GN_OK) {
            if (json) {
                fputs("{\"name\":", stdout);
                json_string(names[i]);
                fputs(",\"error\":", stdout);
                json_string(gn_error_message());
                fputs("}\n", stdout);
            } else {
                printf("%-*s %8s  %s\n", width, names[i], "-", gn_error_message());
            }
            continue;
        }
        struct gn_ring_info info;
        enum gn_ring_writer_state state;
        char start[32];
        gn_ring_reader_info(r, &info);
        gn_ring_writer_alive(r, &state);
        uint64_t pos = gn_ring_write_pos(r);
        if (pos > (uint64_t)INT64_MAX) {
            /* no writer gets there: a corrupt header (JSON integers stop at 2^63) */
            if (json) {
                fputs("{\"name\":", stdout);
                json_string(names[i]);
                fputs(",\"error\":\"corrupt ring: impossible write position\"}\n", stdout);
            } else {
                printf("%-*s %8s  %s\n", width, names[i], "-",
                       "corrupt ring: impossible write position");
            }
            gn_ring_reader_close(r);
            continue;
        }
        fmt_start(start, sizeof start, info.start_unix_ns);
        if (json) {
            fputs("{\"name\":", stdout);
            json_string(info.name);
            printf(",\"pid\":%d,\"backend\":", (int)info.pid);
            json_string(info.backend);
            printf(",\"state\":\"%s\",\"records\":%llu,\"capacity\":%u,\"start_unix_ns\":%lld}\n",
                   gn_ring_writer_state_str(state), (unsigned long long)pos, info.capacity,
                   (long long)info.start_unix_ns);
        } else {
            printf("%-*s %8d %-8s %-8s %9llu %9u  %s\n", width, info.name, (int)info.pid,
                   info.backend, gn_ring_writer_state_str(state), (unsigned long long)pos,
                   info.capacity, start);
        }
        gn_ring_reader_close(r);
    }
    gn_ring_list_free(names, count);
    return 0;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {0, ns};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Print records [*next, write_pos) as they stand now and advance *next.
 * Records the writer reuses before they are read are skipped and counted.
 */
static void drain(const struct gn_ring_reader *r, uint64_t *next, int json, uint64_t capacity)
{
    uint64_t pos = gn_ring_write_pos(r);
    while (*next < pos) {
        struct gn_stat_record rec;
        switch (gn_ring_read(r, *next, &rec)) {
        case GN_RING_READ_OK:
            if (json)
                print_json_row(&rec);
            else
                print_table_row(&rec);
            (*next)++;
            break;
        case GN_RING_READ_OVERWRITTEN: {
            pos = gn_ring_write_pos(r);
            uint64_t oldest = pos > capacity ? pos - capacity : 0;
            uint64_t to = oldest > *next + 1 ? oldest : *next + 1;
            fflush(stdout);
            fprintf(stderr, "genet-stat: records %llu to %llu were overwritten before they "
                            "could be read\n",
                    (unsigned long long)*next, (unsigned long long)(to - 1));
            *next = to;
            break;
        }
        case GN_RING_READ_TORN:
        case GN_RING_READ_NOT_YET:
            sched_yield();
            break;
        }
    }
}

static int cmd_show(const char *arg, long last, int follow, int json)
{
    struct gn_ring_reader *r;
    struct gn_ring_info info;
    /* a run that has just started may still be making its ring */
    if (gn_ring_open_wait(arg, OPEN_WAIT_NS, &r) != GN_OK) {
        fprintf(stderr, "genet-stat: %s\n", gn_error_message());
        return 1;
    }
    gn_ring_reader_info(r, &info);
    if (follow)
        setvbuf(stdout, NULL, _IOLBF, 0);

    enum gn_ring_writer_state state;
    gn_ring_writer_alive(r, &state); /* DIED is reported at the end, after the records */
    uint64_t pos = gn_ring_write_pos(r);
    uint64_t next = pos > (uint64_t)last ? pos - (uint64_t)last : 0;
    if (pos > info.capacity && next < pos - info.capacity)
        next = pos - info.capacity;
    if (!json) {
        char start[32];
        fmt_start(start, sizeof start, info.start_unix_ns);
        printf("# %s: pid %d, backend %s, started %s, %s\n", info.name, (int)info.pid,
               info.backend, start, gn_ring_writer_state_str(state));
        print_table_header();
    }
    for (;;) {
        drain(r, &next, json, info.capacity);
        if (!follow || state != GN_RING_WRITER_RUNNING)
            break;
        fflush(stdout);
        sleep_ns(FOLLOW_POLL_NS);
        /* The state first, then drain: a finished writer appends nothing after FINISHED. */
        gn_ring_writer_alive(r, &state);
    }

    int rc = 0;
    if (state == GN_RING_WRITER_DIED) {
        fflush(stdout);
        fprintf(stderr, "genet-stat: %s\n", gn_error_message());
        rc = 1;
    } else if (follow && state == GN_RING_WRITER_FINISHED) {
        FILE *f = json ? stderr : stdout;
        fflush(stdout);
        fprintf(f, "# %s: run finished (pid %d, %llu records)\n", info.name, (int)info.pid,
                (unsigned long long)gn_ring_write_pos(r));
    }
    gn_ring_reader_close(r);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "genet-stat: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"list", no_argument, NULL, 'l'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0},
    };
    long last = DEFAULT_LAST;
    int follow = 0, json = 0, list = 0, c;
    while ((c = getopt_long(argc, argv, "n:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': {
            char *end;
            errno = 0;
            last = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || last < 0) {
                fprintf(stderr, "genet-stat: -n wants a count of records (0 or more), got '%s'\n",
                        optarg);
                return 1;
            }
            break;
        }
        case 'f': follow = 1; break;
        case 'j': json = 1; break;
        case 'l': list = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("genet-stat %s\n", GN_VERSION); return 0;
        default:
            fprintf(stderr, "genet-stat: see genet-stat --help\n");
            return 1;
        }
    }
    if (list) {
        if (optind != argc || follow) {
            fprintf(stderr, "genet-stat: --list takes no ring name and no --follow\n");
            return 1;
        }
        return cmd_list(json);
    }
    if (optind + 1 != argc) {
        fprintf(stderr, optind == argc ? "genet-stat: which ring? give its NAME or PID "
                                         "(genet-stat --list shows them)\n"
                                       : "genet-stat: give one ring NAME or PID\n");
        return 1;
    }
    return cmd_show(argv[optind], last, follow, json);
}
