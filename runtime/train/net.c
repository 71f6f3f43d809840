/*
 * Trained networks (the public gn_net handle): a model file loaded for
 * inference, and the two ways to make one (from a trainer, from a
 * checkpoint).
 *
 * A gn_net is a model (pools sized exactly to the file's graph) and
 * forward buffers of GN_NET_BATCH rows. Inference runs the serial
 * backend's forward, gn_backend_host_forward: groups in canonical order,
 * then the softmax cross-entropy; rows are independent, so every row's
 * logits, loss and argmax are bitwise what training-time evaluation gives
 * on any CPU backend. Loss and accuracy are summed chunk by chunk in row
 * order as gn_trainer_evaluate does.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "error.h"
#include "modelfile.h"
#include "trainer.h"

#define GN_NET_BATCH 256

struct gn_net {
    struct gn_model m;
    struct gn_norm norm; /* the inputs' normalization (mode none: none) */
    struct gn_buffers buf;
    uint8_t *y;  /* (GN_NET_BATCH) labels of the chunk */
    float *xn;   /* (GN_NET_BATCH, inputs) the chunk normalized (mode none: NULL) */
};

enum gn_status gn_trainer_save_model(gn_trainer *t, const char *path)
{
    if (!t || !path)
        return gn_fail(GN_ERR_INVALID, "gn_trainer_save_model: no trainer or path");
    return gn_modelfile_write(path, gn_trainer_model(t), gn_trainer_norm(t));
}

enum gn_status gn_checkpoint_export(const char *checkpoint, const char *path)
{
    if (!checkpoint || !path)
        return gn_fail(GN_ERR_INVALID, "gn_checkpoint_export: no checkpoint or path");
    struct gn_checkpoint ck;
    struct gn_model m = {0};
    enum gn_status st = gn_checkpoint_load(checkpoint, &ck);
    if (st)
        return st;
    const struct gn_checkpoint_header *h = &ck.h;
    /* room for every block's padding: a checkpoint of the layout before
     * blocks were aligned is re-laid out as it loads (model.h) */
    const int64_t pool = h->n_params + gn_param_slack((int64_t)h->n_groups + h->n_edges);
    st = gn_model_init(&m, h->inputs, h->classes, h->group_size, h->n_groups,
                       h->n_edges > 0 ? h->n_edges : 1, pool > 0 ? pool : 1);
    if (!st)
        st = gn_checkpoint_model(&ck, &m);
    if (!st)
        st = gn_modelfile_write(path, &m, &ck.norm);
    gn_model_free(&m);
    gn_checkpoint_free(&ck);
    return st;
}

enum gn_status gn_net_load(gn_net **out, const char *path)
{
    if (!out)
        return gn_fail(GN_ERR_INVALID, "gn_net_load: no output");
    *out = NULL;
    gn_net *n = calloc(1, sizeof *n);
    if (!n)
        return gn_fail(GN_ERR_NOMEM, "gn_net_load: out of memory");
    enum gn_status st = gn_modelfile_load(path, &n->m, &n->norm);
    if (st)
        goto error;
    if (n->norm.mode != GN_NORMALIZE_NONE &&
        !(n->xn = malloc((size_t)GN_NET_BATCH * (size_t)n->m.inputs * sizeof *n->xn))) {
        st = gn_fail(GN_ERR_NOMEM, "gn_net_load: out of memory");
        goto error;
    }
    if ((st = gn_buffers_init(&n->buf, &n->m, GN_NET_BATCH)))
        goto error;
    n->y = calloc(GN_NET_BATCH, 1);
    if (!n->y) {
        st = gn_fail(GN_ERR_NOMEM, "gn_net_load: out of memory");
        goto error;
    }
    *out = n;
    return GN_OK;

error:
    gn_net_close(n);
    return st;
}

int32_t gn_net_inputs(const gn_net *n)
{
    return n ? n->m.inputs : 0;
}

int32_t gn_net_classes(const gn_net *n)
{
    return n ? n->m.classes : 0;
}

int32_t gn_net_groups(const gn_net *n)
{
    return n ? n->m.n_groups - 2 : 0;
}

/* Forward rows [i0, i0 + rows) of x (labels y, or 0 where NULL). */
static void gn_net_chunk(gn_net *n, const float *x, const uint8_t *y, int64_t i0, int32_t rows)
{
    for (int32_t r = 0; r < rows; r++)
        n->y[r] = y && y[i0 + r] < n->m.classes ? y[i0 + r] : 0;
    n->buf.x = x + i0 * n->m.inputs;
    if (n->xn) {
        /* the inputs as training saw them */
        gn_norm_apply_to(&n->norm, n->buf.x, n->xn, rows);
        n->buf.x = n->xn;
    }
    n->buf.y = n->y;
    n->buf.rows = rows;
    gn_backend_host_forward(&n->m, &n->buf);
}

enum gn_status gn_net_logits(gn_net *n, const float *x, int64_t rows, float *logits)
{
    if (!n || (rows > 0 && (!x || !logits)) || rows < 0)
        return gn_fail(GN_ERR_INVALID, "gn_net_logits: no network, input or output");
    const int32_t C = n->m.classes;
    for (int64_t i0 = 0; i0 < rows; i0 += GN_NET_BATCH) {
        int32_t k = (int32_t)(rows - i0 < GN_NET_BATCH ? rows - i0 : GN_NET_BATCH);
        gn_net_chunk(n, x, NULL, i0, k);
        memcpy(logits + i0 * C, gn_act(&n->buf, GN_SLOT_OUTPUT), (size_t)k * C * sizeof(float));
    }
    return GN_OK;
}

enum gn_status gn_net_evaluate(gn_net *n, const struct gn_data *d, double *loss,
                               double *accuracy, int64_t *confusion)
{
    if (!n || !d || !loss || !accuracy)
        return gn_fail(GN_ERR_INVALID, "gn_net_evaluate: no network, dataset or output");
    const int32_t C = n->m.classes;
    if (d->features != n->m.inputs)
        return gn_fail(GN_ERR_INVALID, "the dataset has %d features per example, the network "
                       "takes %d", d->features, n->m.inputs);
    for (int64_t i = 0; i < d->count; i++)
        if (d->y[i] >= C)
            return gn_fail(GN_ERR_INVALID, "example %lld has label %d, but the network has %d "
                           "classes (0 to %d)", (long long)i, d->y[i], C, C - 1);
    if (confusion)
        memset(confusion, 0, (size_t)C * C * sizeof *confusion);
    double ls = 0.0;
    int64_t hits = 0;
    for (int64_t i0 = 0; i0 < d->count; i0 += GN_NET_BATCH) {
        int32_t k = (int32_t)(d->count - i0 < GN_NET_BATCH ? d->count - i0 : GN_NET_BATCH);
        gn_net_chunk(n, d->x, d->y, i0, k);
        double l;
        int64_t h;
        gn_op_reduce_loss(&n->buf, &l, &h);
        ls += l;
        hits += h;
        const float *z = gn_act(&n->buf, GN_SLOT_OUTPUT);
        for (int32_t r = 0; confusion && r < k; r++) {
            /* the argmax gn_op_loss takes: the first largest logit */
            int32_t best = 0;
            for (int32_t c = 1; c < C; c++)
                if (z[(int64_t)r * C + c] > z[(int64_t)r * C + best]) best = c;
            confusion[(int64_t)d->y[i0 + r] * C + best]++;
        }
    }
    *loss = d->count ? ls / (double)d->count : 0.0;
    *accuracy = d->count ? (double)hits / (double)d->count : 0.0;
    return GN_OK;
}

void gn_net_close(gn_net *n)
{
    if (!n)
        return;
    gn_buffers_free(&n->buf);
    gn_model_free(&n->m);
    gn_norm_free(&n->norm);
    free(n->y);
    free(n->xn);
    free(n);
}
