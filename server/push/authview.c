#include "authview.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    V_ID,
    V_STATUS,
    V_REASON,
    V_USER,
    V_CREATED,
    V_EXPIRES,
    V_DECIDED,
    V_DEVICE,
    V_EVIDENCE,
    V_CODE,
    V_ASYNC,
    V_CHALLENGE
};

void authview_time(long long unix_s, char out[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *time_or_null(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    char buf[32];
    authview_time(atoll(PQgetvalue(res, row, col)), buf);
    return json_string(buf);
}

json_t *authview_json(const PGresult *res, int row, int col)
{
    if (PQnfields(res) < col + AUTHVIEW_NCOLS || PQgetisnull(res, row, col + V_ID))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "requestId", text_or_null(res, row, col + V_ID));
    json_object_set_new(o, "status", text_or_null(res, row, col + V_STATUS));
    json_object_set_new(o, "username", text_or_null(res, row, col + V_USER));
    json_object_set_new(o, "createdAt", time_or_null(res, row, col + V_CREATED));
    json_object_set_new(o, "expiresAt", time_or_null(res, row, col + V_EXPIRES));
    json_object_set_new(o, "decidedAt", time_or_null(res, row, col + V_DECIDED));
    json_object_set_new(o, "deviceId", text_or_null(res, row, col + V_DEVICE));
    json_object_set_new(o, "reason", text_or_null(res, row, col + V_REASON));
    json_object_set_new(o, "evidence", text_or_null(res, row, col + V_EVIDENCE));
    json_object_set_new(o, "challenge", text_or_null(res, row, col + V_CHALLENGE));
    if (strcmp(PQgetvalue(res, row, col + V_ASYNC), "t") == 0)
        json_object_set_new(o, "displayCode", text_or_null(res, row, col + V_CODE));
    return o;
}
