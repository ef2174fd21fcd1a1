#include "dbbatch.h"

#include "alloc.h"

#include <stdlib.h>
#include <string.h>

char *dbbatch_array(const char *const *vals, int n)
{
    size_t len = 3; /* "{", "}", NUL */
    for (int i = 0; i < n; i++) {
        len += 5; /* "," plus the quotes, or NULL */
        for (const char *p = vals[i]; p && *p; p++)
            len += (*p == '"' || *p == '\\') ? 2 : 1;
    }
    char *out = xmalloc(len), *o = out;
    *o++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        if (!vals[i]) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (const char *p = vals[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                *o++ = '\\';
            *o++ = *p;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* Copies row `from` of res into row `to` of out, NULLs included. */
static int copy_row(PGresult *out, int to, const PGresult *res, int from)
{
    for (int c = 0; c < PQnfields(res); c++) {
        int len = PQgetisnull(res, from, c) ? -1 : PQgetlength(res, from, c);
        if (!PQsetvalue(out, to, c, PQgetvalue(res, from, c), len))
            return -1;
    }
    return 0;
}

PGresult *dbbatch_rows(const PGresult *res, int item)
{
    PGresult *out = PQcopyResult(res, PG_COPYRES_ATTRS);
    int last = PQnfields(res) - 1, n = 0;
    if (!out || last < 0)
        return out;
    for (int row = 0; row < PQntuples(res); row++) {
        if (PQgetisnull(res, row, last) || atoi(PQgetvalue(res, row, last)) != item)
            continue;
        if (copy_row(out, n++, res, row) < 0) {
            PQclear(out);
            return NULL;
        }
    }
    return out;
}
