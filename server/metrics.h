/* metrics: Prometheus text exposition for GET /metrics (api.md 9).
 *
 * Process-local counters (requests by route and status, decision latency
 * histogram) live here; gauges of held requests come from the registries;
 * auth outcomes and the outbox depth are read from the database (dbshared.h: one
 * read at a time, kept for PUSHGATE_METRICS_DB_SECONDS), so they describe the whole
 * deployment, not one instance. */
#ifndef PUSHGATE_METRICS_H
#define PUSHGATE_METRICS_H

#include "http.h"

#include <stdbool.h>

/* route: the route pattern, or "unmatched". */
void metrics_request(const char *route, int status);
/* Device answer received -> waiters answered, in seconds. */
void metrics_decision_latency(double seconds);
/* A device poll began with a database read (true) or without one (false:
 * the device was known to have nothing pending, devknown.h). */
void metrics_poll(bool read);
void metrics_free(void);

void h_metrics(struct req *r);

#endif
