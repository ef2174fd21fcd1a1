#include "metrics.h"

#include "alloc.h"
#include "hmap.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counter {
    char route[64];
    int status;
    unsigned long long n;
};

static struct hmap *requests; /* "route status" -> struct counter */

static const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
#define NBUCKETS (sizeof buckets / sizeof *buckets)
static unsigned long long latency_counts[NBUCKETS + 1];
static double latency_sum;
static unsigned long long polls_read, polls_unread;

void metrics_poll(bool read)
{
    if (read)
        polls_read++;
    else
        polls_unread++;
}

/* "route status": built by hand, since this runs for every reply and an
 * snprintf was a third of its cost. route is cut at 63 bytes, status at 0..999. */
static void request_key(char key[70], const char *route, int status)
{
    size_t n = strnlen(route, 63);
    unsigned s = status < 0 ? 0 : status > 999 ? 999 : (unsigned)status;
    memcpy(key, route, n);
    key[n] = ' ';
    key[n + 1] = (char)('0' + s / 100);
    key[n + 2] = (char)('0' + s / 10 % 10);
    key[n + 3] = (char)('0' + s % 10);
    key[n + 4] = '\0';
}

void metrics_request(const char *route, int status)
{
    char key[70];
    request_key(key, route, status);
    if (!requests)
        requests = hmap_new();
    struct counter *c = hmap_get(requests, key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        snprintf(c->route, sizeof c->route, "%s", route);
        c->status = status;
        hmap_add(requests, key, c);
    }
    c->n++;
}

void metrics_decision_latency(double seconds)
{
    size_t i = 0;
    while (i < NBUCKETS && seconds > buckets[i])
        i++;
    latency_counts[i]++;
    latency_sum += seconds;
}

static void free_counter(void *v, void *arg)
{
    (void)arg;
    free(v);
}

void metrics_free(void)
{
    if (requests)
        hmap_each(requests, free_counter, NULL);
    hmap_free(requests);
    requests = NULL;
}

static void emit_request(void *v, void *arg)
{
    struct counter *c = v;
    evbuffer_add_printf(arg, "pushgate_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        c->route, c->status, c->n);
}

void metrics_write_requests(struct evbuffer *b)
{
    evbuffer_add_printf(b, "# HELP pushgate_http_requests_total answers by route and status\n"
                           "# TYPE pushgate_http_requests_total counter\n");
    if (requests)
        hmap_each(requests, emit_request, b);
}

void metrics_write_polls(struct evbuffer *b)
{
    evbuffer_add_printf(b,
                        "# HELP pushgate_device_polls_total device polls by whether they began "
                        "with a database read\n"
                        "# TYPE pushgate_device_polls_total counter\n"
                        "pushgate_device_polls_total{read=\"database\"} %llu\n"
                        "pushgate_device_polls_total{read=\"none\"} %llu\n",
                        polls_read, polls_unread);
}

void metrics_write_latency(struct evbuffer *b)
{
    unsigned long long cum = 0;
    evbuffer_add_printf(b, "# HELP pushgate_decision_latency_seconds device answer received "
                           "to application answered (this instance)\n"
                           "# TYPE pushgate_decision_latency_seconds histogram\n");
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += latency_counts[i];
        evbuffer_add_printf(b, "pushgate_decision_latency_seconds_bucket{le=\"%g\"} %llu\n",
                            buckets[i], cum);
    }
    cum += latency_counts[NBUCKETS];
    evbuffer_add_printf(b,
                        "pushgate_decision_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "pushgate_decision_latency_seconds_sum %.6f\n"
                        "pushgate_decision_latency_seconds_count %llu\n",
                        cum, latency_sum, cum);
}

static unsigned long long webhook_counts[3]; /* by enum metrics_webhook */

void metrics_webhook(enum metrics_webhook outcome)
{
    if ((unsigned)outcome < 3)
        webhook_counts[outcome]++;
}

void metrics_write_webhooks(struct evbuffer *b)
{
    evbuffer_add_printf(b,
                        "# HELP pushgate_webhook_deliveries_total webhook attempts by outcome "
                        "(this instance): delivered, retried (to be tried again), failed (given "
                        "up)\n"
                        "# TYPE pushgate_webhook_deliveries_total counter\n"
                        "pushgate_webhook_deliveries_total{outcome=\"delivered\"} %llu\n"
                        "pushgate_webhook_deliveries_total{outcome=\"retried\"} %llu\n"
                        "pushgate_webhook_deliveries_total{outcome=\"failed\"} %llu\n",
                        webhook_counts[METRICS_WEBHOOK_DELIVERED],
                        webhook_counts[METRICS_WEBHOOK_RETRIED],
                        webhook_counts[METRICS_WEBHOOK_FAILED]);
}
