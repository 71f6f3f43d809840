/*
 * An outside program built against the installed genet: only
 * <genet/genet.h> and `pkg-config --cflags --libs --static genet`
 * (tests/install.sh builds and runs it). It checks the names, that a bad
 * setting is refused, and that 3 serial steps on a tiny in-memory dataset
 * report 3 steps with a finite loss. Prints one "ok" line; exits 1 on a
 * failed check.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <genet/genet.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "use_genet: check failed: %s (line %d)\n", #cond, __LINE__);           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

enum { COUNT = 64, FEATURES = 8 };

static void count_calls(void *ctx, const struct gn_progress *p) {
    (void)p;
    ++*(int *)ctx;
}

int main(void) {
    /* Two classes: feature k is high for class k % 2. */
    static float x[COUNT * FEATURES]; // (COUNT, FEATURES)
    static uint8_t y[COUNT];
    for (int i = 0; i < COUNT; i++) {
        y[i] = (uint8_t)(i % 2);
        for (int k = 0; k < FEATURES; k++)
            x[i * FEATURES + k] = (k % 2 == y[i] ? 0.8f : 0.1f) + 0.01f * (float)(i % 7);
    }
    struct gn_data train = {.count = COUNT, .features = FEATURES, .classes = 2, .x = x, .y = y};

    CHECK(strcmp(gn_backend_name(GN_BACKEND_SERIAL), "serial") == 0);
    CHECK(strcmp(gn_status_str(GN_OK), gn_status_str(GN_ERR_INVALID)) != 0);

    struct gn_settings s;
    gn_default_settings(&s);
    CHECK(s.batch > 0 && s.group_size > 0);
    s.backend = GN_BACKEND_SERIAL;
    s.group_size = 4;
    s.batch = 16;
    s.steps = 3;
    s.grow = GN_GROW_OFF;

    gn_trainer *t = NULL;
    struct gn_settings bad = s;
    bad.batch = 0;
    CHECK(gn_trainer_open(&t, &bad, &train, NULL, NULL) == GN_ERR_INVALID);
    CHECK(gn_error_message()[0] != '\0');

    enum gn_status st = gn_trainer_open(&t, &s, &train, NULL, NULL);
    if (st != GN_OK) fprintf(stderr, "use_genet: %s: %s\n", gn_status_str(st), gn_error_message());
    CHECK(st == GN_OK);
    enum gn_backend used = gn_trainer_backend(t);
    CHECK(used == GN_BACKEND_SERIAL);
    int calls = 0;
    st = gn_trainer_run(t, count_calls, &calls);
    if (st != GN_OK) fprintf(stderr, "use_genet: %s: %s\n", gn_status_str(st), gn_error_message());
    CHECK(st == GN_OK);
    struct gn_progress p;
    gn_trainer_progress(t, &p);
    double loss, acc;
    CHECK(gn_trainer_evaluate(t, &train, &loss, &acc) == GN_OK);
    gn_trainer_close(t);

    CHECK(p.step == 3);
    CHECK(calls >= 3);
    CHECK(isfinite(p.loss) && p.loss > 0);
    CHECK(isfinite(loss) && acc >= 0 && acc <= 1);
    printf("ok: genet %s backend, %lld steps, loss %.4f, accuracy %.3f, %d hidden group(s)\n",
           gn_backend_name(used), (long long)p.step, loss, acc, p.groups);
    return 0;
}
