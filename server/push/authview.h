/* authview: the API object of an auth request (api.md 5), built from the
 * columns of sql's auth_view_t (expanded with (v).*):
 * id, status, reason, username, created, expires, decided (Unix seconds),
 * device, evidence, displayCode, async, challenge. displayCode appears only for
 * requests made in asynchronous mode. */
#ifndef PUSHGATE_AUTHVIEW_H
#define PUSHGATE_AUTHVIEW_H

#include <jansson.h>
#include <libpq-fe.h>

#define AUTHVIEW_NCOLS 12

/* New reference, or NULL when the view at col is NULL (no request). */
json_t *authview_json(const PGresult *res, int row, int col);
/* RFC 3339 UTC ("2026-11-22T06:47:10Z") of Unix seconds. */
void authview_time(long long unix_s, char out[32]);

#endif
