#include "sim_stats.h"

#include <math.h>
#include <stdlib.h>

void sim_series_add(struct sim_series *s, double ms)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        float *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (float)ms;
}

static int cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const struct sim_series *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    return s->v[rank > 0 ? rank - 1 : 0];
}

static double round2(double x)
{
    return round(x * 100.0) / 100.0;
}

json_t *sim_series_json(struct sim_series *s)
{
    double sum = 0;
    qsort(s->v, s->n, sizeof *s->v, cmp);
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)s->n, "p50",
                     round2(pct(s, 50)), "p90", round2(pct(s, 90)), "p99", round2(pct(s, 99)),
                     "max", round2(s->n ? s->v[s->n - 1] : 0), "mean",
                     round2(s->n ? sum / (double)s->n : 0));
}

void sim_series_free(struct sim_series *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
