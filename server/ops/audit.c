#include "audit.h"

#include "alloc.h"
#include "auditchain.h"
#include "db.h"
#include "log.h"
#include "server.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_BATCH "10000"
#define SEAL_EVERY_S 1

/* The chain's head and the next rows to seal, in one snapshot. A row the
 * sealer can see is committed, hence final; one still being written is not
 * visible yet and goes into a later block (sql/020_audit_keyed.sql). Nothing
 * while the old chain waits for its re-key. Columns: head seq, head mac, head
 * row_mac, then AUDITCHAIN_ROW_SQL. */
static const char FETCH_SQL[] =
    "SELECT h.seq, h.mac, h.row_mac, " AUDITCHAIN_ROW_SQL " FROM audit_log a"
    " LEFT JOIN LATERAL (SELECT seq, mac, row_mac FROM audit_seals ORDER BY seq DESC LIMIT 1) h"
    " ON true"
    " WHERE a.seal_seq IS NULL AND a.at < clock_timestamp() - make_interval(secs => $2)"
    " AND to_regclass('audit_seals_v1') IS NULL ORDER BY a.id LIMIT $1";
#define ROW_COL 3

static const char STORE_SQL[] =
    "SELECT audit_seal_store($1, $2::bytea, $3::bytea, $4::bytea, $5::bigint[], $6::text[])";

struct audit {
    struct server *srv;
    struct event *tick;
    char age[16];
    unsigned char key[AUDITCHAIN_MAC_LEN];
    bool sealing, stopped;
    /* the last head this process saw or wrote: the chain may only grow */
    long long seq;
    unsigned char head[AUDITCHAIN_MAC_LEN];
    /* the block being stored */
    long long pending_seq;
    unsigned char pending_mac[AUDITCHAIN_MAC_LEN];
};

static void seal(struct audit *a);

static void on_stored(void *arg, enum db_status st, PGresult *res)
{
    struct audit *a = arg;
    a->sealing = false;
    if (st != DB_OK)
        return; /* the next tick tries again */
    int n = atoi(PQgetvalue(res, 0, 0));
    if (n <= 0)
        return; /* another instance sealed first */
    a->seq = a->pending_seq;
    memcpy(a->head, a->pending_mac, sizeof a->head);
    log_kv(LOG_DEBUG, "audit rows sealed", "count", PQgetvalue(res, 0, 0), NULL);
    if (n == atoi(SEAL_BATCH) && !a->srv->draining)
        seal(a); /* more are waiting */
}

/* The chain in the database went backwards or changed under us: whoever did
 * it wants this process to re-seal rows it edited. Refuse, loudly. */
static bool head_replaced(struct audit *a, long long seq, const unsigned char *mac)
{
    if (a->seq == 0 || seq > a->seq)
        return false;
    if (seq == a->seq && mac && !memcmp(mac, a->head, sizeof a->head))
        return false;
    a->stopped = true;
    log_kv(LOG_ERROR, "audit chain cut or replaced in the database; sealing stopped", "hint",
           "run pushgated audit verify --expect-head with the last recorded head", NULL);
    return true;
}

static char *hex_param(const unsigned char mac[AUDITCHAIN_MAC_LEN])
{
    char hex[2 * AUDITCHAIN_MAC_LEN + 1];
    auditchain_hex(mac, hex);
    return xasprintf("\\x%s", hex);
}

/* MACs the rows of res in C and hands the block to audit_seal_store(). */
static void store_block(struct audit *a, PGresult *res, long long seq, const unsigned char *prev,
                        const unsigned char *prev_row)
{
    int n = PQntuples(res);
    char *ids = xmalloc((size_t)n * 22 + 3), *macs = xmalloc((size_t)n * 65 + 3);
    size_t il = 0, ml = 0;
    unsigned char row[AUDITCHAIN_MAC_LEN], mac[AUDITCHAIN_MAC_LEN];
    for (int i = 0; i < n; i++) {
        auditchain_row_mac(a->key, i ? row : prev_row, res, i, ROW_COL, row);
        char hex[2 * AUDITCHAIN_MAC_LEN + 1];
        auditchain_hex(row, hex);
        il += (size_t)sprintf(ids + il, "%c%s", i ? ',' : '{', PQgetvalue(res, i, ROW_COL));
        ml += (size_t)sprintf(macs + ml, "%c%s", i ? ',' : '{', hex);
    }
    strcpy(ids + il, "}");
    strcpy(macs + ml, "}");
    auditchain_block_mac(a->key, seq, n, prev, row, mac);
    a->pending_seq = seq;
    memcpy(a->pending_mac, mac, sizeof mac);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%lld", seq);
    char *pp = prev ? hex_param(prev) : NULL, *rp = hex_param(row), *mp = hex_param(mac);
    const char *p[] = {seqs, pp, rp, mp, ids, macs};
    db_query(a->srv->db, STORE_SQL, 6, p, on_stored, a);
    free(pp), free(rp), free(mp), free(ids), free(macs);
}

static void on_rows(void *arg, enum db_status st, PGresult *res)
{
    struct audit *a = arg;
    if (st != DB_OK || PQntuples(res) == 0 || a->srv->draining) {
        a->sealing = false;
        return;
    }
    long long seq = PQgetisnull(res, 0, 0) ? 0 : atoll(PQgetvalue(res, 0, 0));
    unsigned char prev[AUDITCHAIN_MAC_LEN], prev_row[AUDITCHAIN_MAC_LEN];
    bool have = auditchain_get_mac(res, 0, 1, prev) && auditchain_get_mac(res, 0, 2, prev_row);
    if (head_replaced(a, seq, have ? prev : NULL) || (seq > 0 && !have)) {
        a->sealing = false;
        return;
    }
    store_block(a, res, seq + 1, seq ? prev : NULL, seq ? prev_row : NULL);
}

static void seal(struct audit *a)
{
    a->sealing = true;
    const char *p[] = {SEAL_BATCH, a->age};
    db_query(a->srv->db, FETCH_SQL, 2, p, on_rows, a);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct audit *a = arg;
    if (!a->sealing && !a->stopped && !a->srv->draining)
        seal(a);
}

struct audit *audit_new(struct server *srv)
{
    struct audit *a = xcalloc(1, sizeof *a);
    a->srv = srv;
    snprintf(a->age, sizeof a->age, "%d", srv->cfg->audit_seal_age);
    if (auditchain_key(srv->master_key, a->key) < 0) {
        log_kv(LOG_ERROR, "cannot derive the audit chain key; audit rows stay unsealed", NULL);
        a->stopped = true;
    }
    a->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, a);
    struct timeval tv = {SEAL_EVERY_S, 0};
    event_add(a->tick, &tv);
    return a;
}

void audit_free(struct audit *a)
{
    if (!a)
        return;
    event_free(a->tick);
    OPENSSL_cleanse(a->key, sizeof a->key);
    free(a);
}
