/*
 * genet-rt export, eval and predict: the commands that make and use model
 * files (runtime/formats/modelfile.h), through the public gn_net API.
 *
 *   genet-rt export CHECKPOINT -o FILE
 *   genet-rt eval MODEL DATASET [--json] [--confusion]
 *   genet-rt predict MODEL DATA -o FILE [--logits]
 *
 * Which examples: for an IDX directory the test set (t10k-*), for a CSV
 * file the file's own rows (its sibling test file is not used). Inference
 * is the serial backend's forward on the CPU, so no GPU is needed and the
 * numbers are those training-time evaluation gives.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "genet/genet.h"
#include "infer.h"

static const char *usage_export =
    "usage: genet-rt export CHECKPOINT -o FILE\n"
    "\n"
    "Write the network a checkpoint holds (genet-rt train --checkpoint) as a model\n"
    "file: safetensors with one tensor per edge weight block and per bias, and the\n"
    "graph in the metadata (the same file genet-rt train --save-model writes).\n"
    "\n"
    "  -o, --output FILE    the model file to write\n"
    "  --help               this text\n";

static const char *usage_eval =
    "usage: genet-rt eval MODEL DATASET [--json] [--confusion]\n"
    "\n"
    "Loss (mean softmax cross-entropy) and accuracy of a model file on a dataset:\n"
    "for an IDX directory its test set (t10k-*), for a CSV file the file's own rows\n"
    "(label first, then the features). Runs on the CPU with the serial backend's\n"
    "forward, so the numbers equal training-time evaluation.\n"
    "\n"
    "  --confusion          also print the confusion matrix (rows: true label,\n"
    "                       columns: predicted class)\n"
    "  --json               print one JSON object on stdout instead of text\n"
    "  --help               this text\n";

static const char *usage_predict =
    "usage: genet-rt predict MODEL DATA -o FILE [--logits]\n"
    "\n"
    "Write a CSV with a header and one line per example of DATA (an IDX directory:\n"
    "its test set; a CSV file: its rows): the example's label, the predicted class\n"
    "and the class probabilities (softmax of the logits), p0..pC-1.\n"
    "\n"
    "  -o, --output FILE    the CSV to write\n"
    "  --logits             write the logits z0..zC-1 instead of the probabilities\n"
    "  --help               this text\n";

static int fail(const char *cmd, const char *what)
{
    fprintf(stderr, "genet-rt %s: %s\n", cmd, what);
    return 1;
}

/* Parse the common options: positional arguments into pos (want of them),
 * -o, --json, --confusion, --logits. Returns -1 to go on, else an exit code. */
struct infer_args {
    const char *pos[2];
    const char *out;
    int json, confusion, logits;
};

static int infer_parse(int argc, char **argv, const char *usage, int want, int need_out,
                       struct infer_args *a)
{
    enum { O_JSON = 256, O_CONF, O_LOGITS, O_HELP };
    static const struct option opts[] = {
        {"output", 1, 0, 'o'}, {"json", 0, 0, O_JSON}, {"confusion", 0, 0, O_CONF},
        {"logits", 0, 0, O_LOGITS}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0},
    };
    memset(a, 0, sizeof *a);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case O_JSON: a->json = 1; break;
        case O_CONF: a->confusion = 1; break;
        case O_LOGITS: a->logits = 1; break;
        case 'h':
        case O_HELP: fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (argc - optind != want || (need_out && !a->out)) {
        fprintf(stderr, "genet-rt %s: %s\n\n%s", argv[0],
                argc - optind != want ? "wrong number of arguments" : "missing -o FILE", usage);
        return 2;
    }
    for (int i = 0; i < want; i++) a->pos[i] = argv[optind + i];
    return -1;
}

int gn_cmd_export(int argc, char **argv)
{
    struct infer_args a;
    int rc = infer_parse(argc, argv, usage_export, 1, 1, &a);
    if (rc >= 0) return rc;
    if (gn_checkpoint_export(a.pos[0], a.out)) return fail("export", gn_error_message());
    fprintf(stderr, "model written to %s\n", a.out);
    return 0;
}

/* Load the examples a command works on (see the file's comment) into *d;
 * *which says which set it is. */
static int load_examples(const char *cmd, const char *path, struct gn_data *d, const char **which)
{
    struct gn_data train = {0}, test = {0};
    struct stat sb;
    int dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (gn_data_load(path, &train, &test)) return fail(cmd, gn_error_message());
    if (dir) {
        gn_data_free(&train);
        *d = test;
        *which = "test set";
    } else {
        gn_data_free(&test);
        *d = train;
        *which = "file";
    }
    return 0;
}

/* The network and the examples agree on features and labels. */
static int check_fit(const char *cmd, const gn_net *n, const struct gn_data *d, const char *data)
{
    char msg[512];
    if (d->features != gn_net_inputs(n)) {
        snprintf(msg, sizeof msg, "%s has %d features per example, the network takes %d", data,
                 d->features, gn_net_inputs(n));
        return fail(cmd, msg);
    }
    if (d->count > 0 && d->classes > gn_net_classes(n)) {
        snprintf(msg, sizeof msg, "%s has labels up to %d, the network has %d classes (0 to %d)",
                 data, d->classes - 1, gn_net_classes(n), gn_net_classes(n) - 1);
        return fail(cmd, msg);
    }
    return 0;
}

int gn_cmd_eval(int argc, char **argv)
{
    struct infer_args a;
    int rc = infer_parse(argc, argv, usage_eval, 2, 0, &a);
    if (rc >= 0) return rc;
    gn_net *n = NULL;
    struct gn_data d = {0};
    int64_t *conf = NULL;
    const char *which = "";
    if (gn_net_load(&n, a.pos[0])) return fail("eval", gn_error_message());
    const int32_t C = gn_net_classes(n);
    if ((rc = load_examples("eval", a.pos[1], &d, &which))) goto error;
    if ((rc = check_fit("eval", n, &d, a.pos[1]))) goto error;
    conf = calloc((size_t)C * C, sizeof *conf);
    if (!conf) {
        rc = fail("eval", "out of memory");
        goto error;
    }
    double loss, acc;
    if (gn_net_evaluate(n, &d, &loss, &acc, conf)) {
        rc = fail("eval", gn_error_message());
        goto error;
    }
    if (a.json) {
        printf("{\"model\": \"%s\", \"dataset\": \"%s\", \"examples\": %d, \"loss\": %.6f, "
               "\"accuracy\": %.6f", a.pos[0], a.pos[1], d.count, loss, acc);
        if (a.confusion) {
            printf(", \"confusion\": [");
            for (int32_t t = 0; t < C; t++) {
                printf("%s[", t ? ", " : "");
                for (int32_t p = 0; p < C; p++)
                    printf("%s%" PRId64, p ? ", " : "", conf[(int64_t)t * C + p]);
                printf("]");
            }
            printf("]");
        }
        printf("}\n");
    } else {
        printf("model %s: %d inputs, %d hidden groups, %d classes\n", a.pos[0], gn_net_inputs(n),
               gn_net_groups(n), C);
        printf("%s (%s): %d examples  loss %.4f  accuracy %.4f\n", a.pos[1], which, d.count,
               loss, acc);
        if (a.confusion) {
            printf("confusion (rows: true label, columns: predicted)\n  true ");
            for (int32_t p = 0; p < C; p++) printf(" %6d", p);
            printf("\n");
            for (int32_t t = 0; t < C; t++) {
                printf("  %4d ", t);
                for (int32_t p = 0; p < C; p++) printf(" %6" PRId64, conf[(int64_t)t * C + p]);
                printf("\n");
            }
        }
    }
    rc = 0;

error:
    free(conf);
    gn_data_free(&d);
    gn_net_close(n);
    return rc;
}

int gn_cmd_predict(int argc, char **argv)
{
    struct infer_args a;
    int rc = infer_parse(argc, argv, usage_predict, 2, 1, &a);
    if (rc >= 0) return rc;
    gn_net *n = NULL;
    struct gn_data d = {0};
    float *z = NULL;
    FILE *f = NULL;
    const char *which = "";
    if (gn_net_load(&n, a.pos[0])) return fail("predict", gn_error_message());
    const int32_t C = gn_net_classes(n);
    if ((rc = load_examples("predict", a.pos[1], &d, &which))) goto error;
    if ((rc = check_fit("predict", n, &d, a.pos[1]))) goto error;
    z = malloc(((size_t)d.count * C + 1) * sizeof *z);
    if (!z) {
        rc = fail("predict", "out of memory");
        goto error;
    }
    if (gn_net_logits(n, d.x, d.count, z)) {
        rc = fail("predict", gn_error_message());
        goto error;
    }
    f = fopen(a.out, "w");
    if (!f) {
        perror(a.out);
        rc = 1;
        goto error;
    }
    fprintf(f, "label,predicted");
    for (int32_t c = 0; c < C; c++) fprintf(f, ",%s%d", a.logits ? "z" : "p", c);
    fprintf(f, "\n");
    for (int32_t i = 0; i < d.count; i++) {
        const float *r = z + (int64_t)i * C;
        int32_t best = 0; /* the first largest logit, as evaluation counts hits */
        for (int32_t c = 1; c < C; c++)
            if (r[c] > r[best]) best = c;
        double sum = 0.0;
        for (int32_t c = 0; c < C; c++) sum += exp((double)r[c] - (double)r[best]);
        fprintf(f, "%d,%d", d.y[i], best);
        for (int32_t c = 0; c < C; c++) {
            if (a.logits) fprintf(f, ",%.9g", (double)r[c]);
            else fprintf(f, ",%.9g", exp((double)r[c] - (double)r[best]) / sum);
        }
        fprintf(f, "\n");
    }
    if (ferror(f) | (fclose(f) != 0)) {
        f = NULL;
        rc = fail("predict", "cannot write the output file");
        goto error;
    }
    f = NULL;
    fprintf(stderr, "%d predictions of %s (%s) written to %s\n", d.count, a.pos[1], which, a.out);
    rc = 0;

error:
    if (f) fclose(f);
    free(z);
    gn_data_free(&d);
    gn_net_close(n);
    return rc;
}
