#include "keyswap.h"

#include "db.h"
#include "log.h"
#include "server.h"
#include "signer.h"

#include <string.h>

static void on_current(void *arg, enum db_status st, PGresult *res)
{
    struct server *srv = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        log_kv(LOG_WARN, "cannot read the current signing key: keeping the loaded one", NULL);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), signer_kid(srv->signer)) == 0) {
        log_kv(LOG_DEBUG, "signing key checked: unchanged", NULL);
        return;
    }
    /* opening costs a few hundred microseconds on the loop, once per rotation */
    struct signer *fresh = signer_open(res, srv->master_key);
    if (!fresh) {
        log_kv(LOG_ERROR, "cannot open the rotated signing key: keeping the loaded one", NULL);
        return;
    }
    signer_free(srv->signer);
    srv->signer = fresh;
    log_kv(LOG_INFO, "signing key changed", "kid", signer_kid(fresh), NULL);
}

void keyswap_check(struct server *srv)
{
    db_query(srv->db, SIGNER_CURRENT_SQL, 0, NULL, on_current, srv);
}
