/* webhooks: delivers webhook_events (sql/040) on the event loop, and writes
 * the derived expiries that become events (webhook_sweep).
 *
 * Events are written by SQL triggers in the same transaction as the change
 * they report. Every second each instance sweeps the due expiries and claims
 * due events with a 15 s lease (the 10 s attempt and a margin; a dead
 * instance's leases are taken over as soon as its heartbeat is 6 s old): at
 * most one event in flight per application (its oldest due one), at most
 * WEBHOOKS_INFLIGHT_MAX per process. Each attempt POSTs the event's stored
 * body with the Standard Webhooks headers (webhook-id: one per event,
 * webhook-timestamp: now, webhook-signature: whsig_sign), through curlev:
 * http/https only, no redirects, 10 s in all, the name resolved by libcurl's
 * threaded resolver (checked and logged at start: "async_dns"). A 2xx is
 * delivered; anything else is retried after 5 s (PUSHGATE_WEBHOOK_RETRY_BASE_MS)
 * doubling up to 1 h, until the event is 24 h old: then failed. Outcomes are
 * counted in metrics (metrics_webhook) and logged ("webhook delivery"), never
 * with the body or the secret. Never blocks. */
#ifndef PUSHGATE_WEBHOOKS_H
#define PUSHGATE_WEBHOOKS_H

struct server;
struct webhooks;

#define WEBHOOKS_INFLIGHT_MAX 32

/* NULL when the timer cannot be set up. Needs srv->db and srv->curl. */
struct webhooks *webhooks_new(struct server *srv);
/* After the loop stopped: attempts still running keep their leases, which
 * run out (or die with this instance's heartbeat) and are retried. */
void webhooks_free(struct webhooks *w);

/* The retry delay after the attempt number `attempts` (1 = the first):
 * base x 2^(attempts-1), capped at one hour. */
long webhooks_backoff_ms(long base_ms, int attempts);

#endif
