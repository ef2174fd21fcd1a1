/* httpdate: the HTTP Date header value (RFC 9110 IMF-fixdate), cached per second.
 *
 * evhttp formats a fresh Date for every reply that lacks one (evutil_date_rfc1123,
 * three snprintf calls): an eighth of the instructions of a GET /healthz. Every
 * reply within the same second carries the same text, so http.c sets the header
 * from here and evhttp leaves it alone. Pure apart from the one-slot cache; no
 * locale is consulted (day and month names are fixed by the RFC). */
#ifndef PUSHGATE_HTTPDATE_H
#define PUSHGATE_HTTPDATE_H

#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes the IMF-fixdate of t (UTC) and a NUL into out; returns out.
 * Years outside 0..9999 are written as 0000 or 9999 (the format has four
 * digits); a t that gmtime_r cannot convert gives the epoch's date. */
char *httpdate_format(time_t t, char out[HTTPDATE_LEN + 1]);

/* The date of t, formatted again only when t differs from the previous call's
 * (event-loop thread only: one static slot). The pointer stays valid until the
 * next call. */
const char *httpdate_cached(time_t t);

#endif
