/*
 * The genet-stat program, run against rings this test writes.
 *
 * The path of the genet-stat binary comes as argv[1] (tests/meson.build).
 * Each case runs it through /bin/sh with stdout captured and stderr sent to
 * a file, then checks the exit status and the text: the table (title line,
 * header, rows all the same width, human units), -n, a PID argument,
 * --json (parsed back with jansson, doubles exact, NaN as null), --list
 * and --list --json, --follow until the writer finishes (exit 0) or when it
 * has died (exit 1), and the error cases (missing, foreign, bad usage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "stats.h"

static const char *genet_stat;

struct result {
    int rc;
    char *out; /* stdout */
    char *err; /* stderr */
};

static char *slurp(FILE *f)
{
    size_t n = 0, cap = 4096;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t got;
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
    }
    b[n] = '\0';
    return b;
}

/* Run genet-stat with args (shell words). */
static struct result run(const char *args)
{
    char errpath[64], cmd[1024];
    snprintf(errpath, sizeof errpath, "/tmp/test_genet_stat.%ld.err", (long)getpid());
    snprintf(cmd, sizeof cmd, "'%s' %s 2>%s", genet_stat, args, errpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    struct result res;
    res.out = slurp(p);
    int status = pclose(p);
    assert_true(WIFEXITED(status));
    res.rc = WEXITSTATUS(status);
    FILE *e = fopen(errpath, "r");
    assert_non_null(e);
    res.err = slurp(e);
    fclose(e);
    unlink(errpath);
    print_message("    $ genet-stat %s  -> %d\n", args, res.rc);
    return res;
}

/* Echo captured output (print_message truncates long text). */
static void show(const char *s)
{
    fflush(stdout);
    fputs(s, stdout);
    fflush(stdout);
}

static void result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s, const char *prefix)
{
    int n = 0;
    for (const char *p = s; *p; p = strchr(p, '\n') + 1) {
        if (!prefix || !strncmp(p, prefix, strlen(prefix)))
            n++;
        if (!strchr(p, '\n'))
            break;
    }
    return n;
}

/* Line i (from 0) of s, into b. */
static const char *line(const char *s, int i, char *b, size_t n)
{
    for (; i > 0 && s; i--)
        s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL;
    assert_non_null(s);
    size_t len = strcspn(s, "\n");
    assert_true(len < n);
    memcpy(b, s, len);
    b[len] = '\0';
    return b;
}

static void make_record(uint64_t i, struct gn_stat_record *r)
{
    memset(r, 0, sizeof *r);
    r->t_ns = (int64_t)i * 100000000;
    r->step = (int64_t)i * 10;
    r->epoch = (int32_t)(i / 10);
    r->loss = 2.0 / (double)(i + 1);
    r->accuracy = (double)i / 30.0;
    r->groups = 3 + (int32_t)i;
    r->edges = 2 + 2 * (int32_t)i;
    r->duplications = (int64_t)i;
    r->refused = (int64_t)i / 7;
    r->tasks = (int64_t)i * 1000000;
    r->tasks_per_s = 12345.6;
    r->pool_groups_used = 3 + (int32_t)i;
    r->pool_groups_cap = 64;
    r->pool_edges_used = 2 + 2 * (int32_t)i;
    r->pool_edges_cap = 512;
    r->pool_params_used = 1000 * (int64_t)i;
    r->pool_params_cap = 1000000;
    r->t_forward_ns = (int64_t)i * 3000000;
    r->t_backward_ns = (int64_t)i * 6000000;
    r->t_update_ns = (int64_t)i * 1000;
    r->t_growth_ns = (int64_t)i * 50;
    r->t_kernel_wait_data_ns = (int64_t)i * 2000000000;
    r->t_loader_wait_kernel_ns = 0;
    r->queue_high_water = 100 + (int32_t)i;
}

/* A ring with 30 records; record 29's loss is NaN. */
static struct gn_ring *make_ring(const char *name)
{
    struct gn_ring *ring;
    struct gn_stat_record rec;
    assert_int_equal(gn_ring_create(name, 64, "cpu", &ring), GN_OK);
    for (uint64_t i = 0; i < 30; i++) {
        make_record(i, &rec);
        if (i == 29)
            rec.loss = NAN;
        assert_int_equal(gn_ring_append(ring, &rec), GN_OK);
    }
    return ring;
}

static void test_table(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], args[256], b[512], h[512];
    snprintf(name, sizeof name, "genet-test-stat-%ld-table", (long)getpid());
    struct gn_ring *ring = make_ring(name);

    struct result r = run(name);
    show(r.out);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_int_equal(count_lines(r.out, NULL), 12);
    line(r.out, 0, b, sizeof b);
    assert_int_equal(strncmp(b, "# ", 2), 0);
    assert_non_null(strstr(b, name));
    assert_non_null(strstr(b, "backend cpu"));
    assert_non_null(strstr(b, "running"));
    line(r.out, 1, h, sizeof h);
    assert_non_null(strstr(h, "time"));
    assert_non_null(strstr(h, "loss"));
    assert_non_null(strstr(h, "qhw"));
    for (int i = 2; i < 12; i++)
        assert_int_equal(strlen(line(r.out, i, b, sizeof b)), strlen(h));
    line(r.out, 11, b, sizeof b);
    /* record 29: 2.90s, step 290, epoch 2, 29.0M tasks, 58.0s kernel wait */
    assert_non_null(strstr(b, "2.90s"));
    assert_non_null(strstr(b, " 290 "));
    assert_non_null(strstr(b, "29.0M"));
    assert_non_null(strstr(b, "12.3k"));
    assert_non_null(strstr(b, "58.0s"));
    assert_non_null(strstr(b, "nan"));
    line(r.out, 10, b, sizeof b);
    assert_non_null(strstr(b, "0.0690")); /* record 28: loss 2/29 */
    assert_non_null(strstr(b, "93.3%"));  /* accuracy 28/30 */
    result_free(&r);

    snprintf(args, sizeof args, "-n 3 %s", name);
    r = run(args);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out, NULL), 5);
    assert_non_null(strstr(line(r.out, 2, b, sizeof b), " 270 "));
    result_free(&r);

    snprintf(args, sizeof args, "-n 1000 %s", name + strlen("genet-"));
    r = run(args);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out, NULL), 32);
    result_free(&r);

    snprintf(args, sizeof args, "-n 0 %s", name);
    r = run(args);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out, NULL), 2);
    result_free(&r);
    gn_ring_close(ring, 0);
}

static void test_pid(void **state)
{
    (void)state;
    char args[64];
    struct gn_ring *ring;
    struct gn_stat_record rec;
    assert_int_equal(gn_ring_create(NULL, 8, "serial", &ring), GN_OK);
    make_record(1, &rec);
    gn_ring_append(ring, &rec);
    snprintf(args, sizeof args, "%ld", (long)getpid());
    struct result r = run(args);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "backend serial"));
    assert_int_equal(count_lines(r.out, NULL), 3);
    result_free(&r);
    gn_ring_close(ring, 0);
}

static void test_json(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], args[256], b[1024];
    snprintf(name, sizeof name, "genet-test-stat-%ld-json", (long)getpid());
    struct gn_ring *ring = make_ring(name);
    snprintf(args, sizeof args, "--json -n 2 %s", name);
    struct result r = run(args);
    show(r.out);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out, NULL), 2);
    for (int i = 0; i < 2; i++) {
        json_error_t e;
        json_t *o = json_loads(line(r.out, i, b, sizeof b), 0, &e);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "index")), 28 + i);
        assert_int_equal(json_integer_value(json_object_get(o, "step")), 280 + 10 * i);
        assert_int_equal(json_integer_value(json_object_get(o, "t_kernel_wait_data_ns")),
                         (28 + i) * 2000000000LL);
        assert_true(json_real_value(json_object_get(o, "accuracy")) == (28.0 + i) / 30.0);
        assert_true(json_real_value(json_object_get(o, "tasks_per_s")) == 12345.6);
        assert_int_equal(json_integer_value(json_object_get(o, "pool_edges_cap")), 512);
        if (i == 0)
            assert_true(json_real_value(json_object_get(o, "loss")) == 2.0 / 29.0);
        else
            assert_true(json_is_null(json_object_get(o, "loss")));
        assert_int_equal(json_object_size(o), 26); /* 25 before "pruned" */
        json_decref(o);
    }
    result_free(&r);

    r = run("--list");
    show(r.out);
    assert_int_equal(r.rc, 0);
    const char *p = strstr(r.out, name);
    assert_non_null(p);
    line(p, 0, b, sizeof b);
    assert_non_null(strstr(b, "cpu"));
    assert_non_null(strstr(b, "running"));
    assert_non_null(strstr(b, " 30 "));
    assert_int_equal(strncmp(r.out, "NAME", 4), 0);
    result_free(&r);

    r = run("--list --json");
    assert_int_equal(r.rc, 0);
    int found = 0;
    for (int i = 0; i < count_lines(r.out, NULL); i++) {
        json_error_t e;
        json_t *o = json_loads(line(r.out, i, b, sizeof b), 0, &e);
        assert_non_null(o);
        if (!strcmp(json_string_value(json_object_get(o, "name")), name)) {
            found = 1;
            assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
            assert_string_equal(json_string_value(json_object_get(o, "backend")), "cpu");
            assert_int_equal(json_integer_value(json_object_get(o, "records")), 30);
            assert_int_equal(json_integer_value(json_object_get(o, "capacity")), 64);
            assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
        }
        json_decref(o);
    }
    assert_true(found);
    result_free(&r);
    gn_ring_close(ring, 0);
}

struct late_writer {
    struct gn_ring *ring;
};

/* Append five more records, 20 ms apart, then finish. */
static void *late_writer_main(void *arg)
{
    struct late_writer *w = arg;
    struct gn_stat_record rec;
    for (uint64_t i = 30; i < 35; i++) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        make_record(i, &rec);
        gn_ring_append(w->ring, &rec);
    }
    gn_ring_finish(w->ring);
    return NULL;
}

static void test_follow_finished(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], args[256], b[512];
    snprintf(name, sizeof name, "genet-test-stat-%ld-follow", (long)getpid());
    struct late_writer w = {make_ring(name)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, late_writer_main, &w), 0);
    snprintf(args, sizeof args, "--follow -n 100 %s", name);
    struct result r = run(args);
    pthread_join(t, NULL);
    show(r.out);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    int n = count_lines(r.out, NULL);
    assert_int_equal(n, 2 + 35 + 1);
    assert_non_null(strstr(line(r.out, n - 2, b, sizeof b), " 340 "));
    line(r.out, n - 1, b, sizeof b);
    assert_non_null(strstr(b, "run finished"));
    assert_non_null(strstr(b, "35 records"));
    result_free(&r);

    /* Already finished: --follow --json prints the records and stops. */
    snprintf(args, sizeof args, "--follow --json -n 3 %s", name);
    r = run(args);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out, NULL), 3);
    assert_non_null(strstr(r.err, "run finished"));
    result_free(&r);
    gn_ring_close(w.ring, 0);
}

static void test_died(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], args[256];
    snprintf(name, sizeof name, "genet-test-stat-%ld-died", (long)getpid());
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct gn_ring *ring;
        struct gn_stat_record rec;
        if (gn_ring_create(name, 8, "cuda", &ring) != GN_OK)
            _exit(2);
        make_record(0, &rec);
        gn_ring_append(ring, &rec);
        make_record(1, &rec);
        gn_ring_append(ring, &rec);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    snprintf(args, sizeof args, "--follow %s", name);
    struct result r = run(args);
    show(r.out);
    show(r.err);
    assert_int_equal(r.rc, 1);
    assert_int_equal(count_lines(r.out, NULL), 4);
    assert_non_null(strstr(r.err, "died without finishing"));
    result_free(&r);

    r = run(name);
    assert_int_equal(r.rc, 1);
    assert_int_equal(count_lines(r.out, NULL), 4);
    assert_non_null(strstr(r.out, "died"));
    assert_non_null(strstr(r.err, "died without finishing"));
    result_free(&r);

    r = run("--list");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "died"));
    result_free(&r);

    char path[GN_RING_NAME_MAX + 1];
    snprintf(path, sizeof path, "/%s", name);
    shm_unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    char name[GN_RING_NAME_MAX], path[GN_RING_NAME_MAX + 1];
    snprintf(name, sizeof name, "genet-test-stat-%ld-missing", (long)getpid());
    struct result r = run(name);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "not found"));
    result_free(&r);

    snprintf(name, sizeof name, "genet-test-stat-%ld-foreign", (long)getpid());
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a ring, just some bytes here", 32), 32);
    close(fd);
    r = run(name);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "is not a genet stats ring"));
    result_free(&r);
    r = run("--list");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "is not a genet stats ring"));
    result_free(&r);
    shm_unlink(path);

    r = run("");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "which ring?"));
    result_free(&r);
    r = run("-n x genet-1");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "-n wants a count"));
    result_free(&r);
    r = run("--bogus");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "--help"));
    result_free(&r);
    r = run("'bad name'");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "is not allowed"));
    result_free(&r);

    r = run("--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: genet-stat"));
    assert_non_null(strstr(r.out, "--follow"));
    assert_non_null(strstr(r.out, "kwait"));
    result_free(&r);
}

/* Remove what a failed case left behind: this process's test rings. */
static void remove_leftovers(void)
{
    char prefix[64], path[300];
    snprintf(prefix, sizeof prefix, "genet-test-stat-%ld-", (long)getpid());
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            snprintf(path, sizeof path, "/%s", e->d_name);
            shm_unlink(path);
        }
    closedir(d);
    snprintf(path, sizeof path, "/genet-%ld", (long)getpid());
    shm_unlink(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_genet_stat PATH-TO-genet-stat\n");
        return 1;
    }
    genet_stat = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_pid),
        cmocka_unit_test(test_json),         cmocka_unit_test(test_follow_finished),
        cmocka_unit_test(test_died),         cmocka_unit_test(test_errors),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_leftovers();
    return failed;
}
