/* sms: text messages through the operator's SMS gateway webhook
 * (PUSHGATE_SMS_WEBHOOK_URL, api.md 10): POST {"to": "+1...", "text": "..."}
 * with Content-Type application/json, sent through curlev on the loop.
 *
 * Contract:
 *  - sms_send() returns -1 at once (done() never runs) when no webhook is
 *    configured or the transfer cannot be started; otherwise 0, and done()
 *    runs exactly once, later, from the loop: ok = 1 when the gateway
 *    answered 2xx within 10 s, else 0. At shutdown a transfer still running
 *    completes with ok = 0 (see curlev_free).
 *  - `to` (E.164) and `text` are copied. The text carries a one-time code:
 *    it is never logged and its copy is cleansed after the transfer; the
 *    number is logged at debug level only.
 *  - No redirects are followed; only http and https URLs are used. */
#ifndef PUSHGATE_SMS_H
#define PUSHGATE_SMS_H

struct server;

typedef void (*sms_done_fn)(void *arg, int ok);

int sms_send(struct server *srv, const char *to, const char *text, sms_done_fn done, void *arg);

#endif
