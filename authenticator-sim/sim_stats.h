/* sim_stats: latency samples and their percentiles for the load mode's report. */
#ifndef PUSHGATE_SIM_STATS_H
#define PUSHGATE_SIM_STATS_H

#include <jansson.h>
#include <stddef.h>

struct sim_series {
    float *v; /* milliseconds */
    size_t n, cap;
};

/* Adds one sample in milliseconds (dropped silently when memory runs out). */
void sim_series_add(struct sim_series *s, double ms);

/* {"count", "p50", "p90", "p99", "max", "mean"} in ms (nearest-rank percentiles, rounded to
 * 0.01 ms; all 0 when empty). Sorts the samples in place. NULL on OOM. */
json_t *sim_series_json(struct sim_series *s);

void sim_series_free(struct sim_series *s);

#endif
