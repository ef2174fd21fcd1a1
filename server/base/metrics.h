/* metrics: this process's counters for GET /metrics (api.md 9; h_ops.c
 * serves it): requests by route and status, the decision latency histogram,
 * device polls by whether they read the database. Counters only: the gauges
 * (held requests, database state and counts) are h_ops.c's. http.c reports
 * replies through its observer (struct http_routing), set by serve.c. */
#ifndef PUSHGATE_METRICS_H
#define PUSHGATE_METRICS_H

#include <stdbool.h>

struct evbuffer;

/* route: the route pattern, or "unmatched". */
void metrics_request(const char *route, int status);
/* Device answer received -> waiters answered, in seconds. */
void metrics_decision_latency(double seconds);
/* A device poll began with a database read (true) or without one (false:
 * the device was known to have nothing pending, devknown.h). */
void metrics_poll(bool read);
void metrics_free(void);

/* A webhook attempt's outcome (mail/webhooks.c). */
enum metrics_webhook { METRICS_WEBHOOK_DELIVERED, METRICS_WEBHOOK_RETRIED, METRICS_WEBHOOK_FAILED };
void metrics_webhook(enum metrics_webhook outcome);

/* Prometheus text (HELP, TYPE and samples) appended to b. */
void metrics_write_requests(struct evbuffer *b);
void metrics_write_polls(struct evbuffer *b);
void metrics_write_latency(struct evbuffer *b);
void metrics_write_webhooks(struct evbuffer *b);

#endif
