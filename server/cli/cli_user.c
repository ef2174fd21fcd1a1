#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* pushgated user unlock APP_ID USERNAME: clears the OTP lockout (and its
 * failure count), a push fraud lock and the push back-off, so that the next
 * POST /auth is admitted at once (api.md 5.3; user_unlock in sql/023). argv[0]
 * is "user". */
int cli_user(const struct config *cfg, int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "unlock") != 0) {
        fprintf(stderr, "usage: pushgated user unlock APP_ID USERNAME\n");
        return 2;
    }
    PGconn *pg = cli_connect(cfg);
    if (!pg)
        return 1;
    const char *p[] = {argv[2], argv[3]};
    PGresult *r = PQexecParams(pg, "SELECT user_unlock($1, $2)", 2, NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fprintf(stderr, "pushgated: database error: %s", PQresultErrorMessage(r));
    else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        fprintf(stderr, "pushgated: no user %s in application %s\n", argv[3], argv[2]);
    else
        rc = 0;
    if (rc == 0)
        printf("{\"applicationId\": \"%s\", \"unlocked\": true}\n", argv[2]);
    PQclear(r);
    PQfinish(pg);
    return rc;
}
