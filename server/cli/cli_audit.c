/* pushgated audit verify: walks the keyed chain (sql/020_audit_keyed.sql)
 * block by block and recomputes every MAC in C under the chain key, derived
 * from PUSHGATE_KEY_FILE -- not with anything in the database, which whoever
 * tampered with the rows could have changed too. Also audit_rekey(), the
 * step of `pushgated migrate` that turns an old plain-SHA-256 chain (007)
 * into a keyed one after checking it. */
#include "alloc.h"
#include "audit.h"
#include "auditchain.h"
#include "cli.h"
#include "log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REKEY_LOCK_ID "7350002" /* the sealers' lock (audit_seal_store) */

static PGresult *exec(PGconn *pg, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
        return r;
    fprintf(stderr, "pushgated: database error: %s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

/* One value of a one-row query; -1 on an error or a NULL. */
static long long query_ll(PGconn *pg, const char *sql, const char *param)
{
    const char *p[] = {param};
    PGresult *r = exec(pg, sql, param ? 1 : 0, p);
    long long v = r && PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static int old_chain_pending(PGconn *pg)
{
    return (int)query_ll(pg, "SELECT (to_regclass('audit_seals_v1') IS NOT NULL)::int", NULL);
}

/* The chain key; refuses to create a missing key file (a new key could only
 * say that every seal is wrong). 0 ok, -1 with a message on stderr. */
static int load_chain_key(const struct config *cfg, unsigned char key[AUDITCHAIN_MAC_LEN])
{
    if (access(cfg->key_file, F_OK) != 0) {
        fprintf(stderr,
                "pushgated: PUSHGATE_KEY_FILE %s does not exist: the audit chain is keyed by "
                "the master key, run this where the server's key file is\n",
                cfg->key_file);
        return -1;
    }
    unsigned char master[KEYS_MASTER_LEN];
    char err[256];
    int rc = keys_load_master(cfg->key_file, master, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "pushgated: %s\n", err);
    else if ((rc = auditchain_key(master, key)) < 0)
        fprintf(stderr, "pushgated: cannot derive the audit chain key\n");
    OPENSSL_cleanse(master, sizeof master);
    return rc;
}

/* ---- the keyed chain ---- */

struct walk {
    unsigned char key[AUDITCHAIN_MAC_LEN];
    long long seq, rows;
    unsigned char head[AUDITCHAIN_MAC_LEN]; /* the last block's mac */
    unsigned char row[AUDITCHAIN_MAC_LEN];  /* the last sealed row's mac */
    const char *expect;                     /* --expect-head, or NULL */
    int expect_found;
    long long broken;  /* seq of the first broken block, 0 if none */
    long long bad_row; /* the first bad row's id, 0 if not known */
    const char *why;
};

/* Recomputes the row chain over the block's rows (res); the first row whose
 * stored MAC differs goes to w->bad_row. Leaves the chain's end in out. */
static void chain_rows(struct walk *w, PGresult *res, unsigned char out[AUDITCHAIN_MAC_LEN])
{
    unsigned char stored[AUDITCHAIN_MAC_LEN];
    memcpy(out, w->row, AUDITCHAIN_MAC_LEN);
    for (int i = 0; i < PQntuples(res); i++) {
        auditchain_row_mac(w->key, out, res, i, 0, out); /* zeros first */
        int ok = auditchain_get_mac(res, i, AUDITCHAIN_ROW_NCOLS, stored) &&
                 !CRYPTO_memcmp(stored, out, AUDITCHAIN_MAC_LEN);
        if (!ok && !w->bad_row)
            w->bad_row = atoll(PQgetvalue(res, i, 0));
    }
}

/* Why block i of r (seq, rows, prev_mac, row_mac, mac) is broken, or NULL.
 * On success the walk moves past it. -1 on a database error. */
static int check_block(PGconn *pg, struct walk *w, PGresult *r, int i)
{
    long long seq = atoll(PQgetvalue(r, i, 0)), rows = atoll(PQgetvalue(r, i, 1));
    unsigned char prev[AUDITCHAIN_MAC_LEN], row_mac[AUDITCHAIN_MAC_LEN], mac[AUDITCHAIN_MAC_LEN];
    int has_prev = auditchain_get_mac(r, i, 2, prev);
    bool linked = w->seq ? has_prev && !memcmp(prev, w->head, sizeof prev) : PQgetisnull(r, i, 2);
    PGresult *res = exec(pg,
                         "SELECT " AUDITCHAIN_ROW_SQL ", a.seal_mac FROM audit_log a"
                         " WHERE a.seal_seq = $1 ORDER BY a.id",
                         1, (const char *[]){PQgetvalue(r, i, 0)});
    if (!res)
        return -1;
    unsigned char end[AUDITCHAIN_MAC_LEN], want[AUDITCHAIN_MAC_LEN];
    chain_rows(w, res, end);
    long long count = PQntuples(res);
    PQclear(res);
    auditchain_block_mac(w->key, seq, count, w->seq ? w->head : NULL, end, want);
    bool macs_ok = auditchain_get_mac(r, i, 3, row_mac) && auditchain_get_mac(r, i, 4, mac) &&
                   !CRYPTO_memcmp(mac, want, sizeof mac) && !memcmp(row_mac, end, sizeof end);
    w->why = seq != w->seq + 1 ? "a sealed block is missing"
             : !linked         ? "a block does not link to the one before"
             : count != rows   ? "a row of a sealed block was deleted or inserted"
             : w->bad_row      ? "a row was changed after sealing"
             : !macs_ok        ? "a block's seal is not the server's (re-sealed or forged)"
                               : NULL;
    if (w->why) {
        w->broken = w->seq + 1;
        return 0;
    }
    char hex[2 * AUDITCHAIN_MAC_LEN + 1];
    auditchain_hex(want, hex);
    w->expect_found |= w->expect && !strcmp(hex, w->expect);
    w->seq = seq, w->rows += rows;
    memcpy(w->head, want, sizeof want);
    memcpy(w->row, end, sizeof end);
    return 0;
}

static int walk_blocks(PGconn *pg, struct walk *w, int *n)
{
    char after[32];
    snprintf(after, sizeof after, "%lld", w->seq);
    const char *p[] = {after};
    PGresult *r = exec(pg,
                       "SELECT seq, rows, prev_mac, row_mac, mac FROM audit_seals "
                       "WHERE seq > $1 ORDER BY seq LIMIT 100",
                       1, p);
    if (!r)
        return -1;
    *n = PQntuples(r);
    int rc = 0;
    for (int i = 0; i < *n && rc == 0 && !w->broken; i++)
        rc = check_block(pg, w, r, i);
    PQclear(r);
    return rc;
}

/* Failures past the last block: rows marked with a block that is gone, rows
 * unsealed for longer than twice the sealing delay, a head that is not in the
 * chain. The delay is PUSHGATE_AUDIT_SEAL_AGE, or the statement time-out for 0
 * (seal at once): a row's transaction may commit that late. */
static int check_tail(PGconn *pg, const struct config *cfg, struct walk *w)
{
    char seq[32], grace[32];
    snprintf(seq, sizeof seq, "%lld", w->seq);
    int delay = cfg->audit_seal_age ? cfg->audit_seal_age : CONFIG_STATEMENT_TIMEOUT_S;
    snprintf(grace, sizeof grace, "%d", 2 * delay);
    long long orphan = query_ll(pg, "SELECT min(id) FROM audit_log WHERE seal_seq > $1", seq);
    long long stale = orphan > 0
                          ? -1
                          : query_ll(pg,
                                     "SELECT min(id) FROM audit_log WHERE seal_seq IS NULL"
                                     " AND at < clock_timestamp() - make_interval(secs => $1)",
                                     grace);
    if (PQstatus(pg) != CONNECTION_OK)
        return -1;
    w->why = orphan > 0  ? "a sealed block is missing"
             : stale > 0 ? "rows were left unsealed too long"
             : w->expect && !w->expect_found
                 ? "the expected head is not in the chain (cut or replaced)"
                 : NULL;
    if (w->why) {
        w->broken = w->seq + 1;
        w->bad_row = orphan > 0 ? orphan : stale > 0 ? stale : 0;
    }
    return 0;
}

static void print_result(const struct walk *w, long long unsealed)
{
    char head[2 * AUDITCHAIN_MAC_LEN + 1] = "", bad[32] = "null";
    if (w->seq)
        auditchain_hex(w->head, head);
    if (w->bad_row)
        snprintf(bad, sizeof bad, "%lld", w->bad_row);
    if (w->broken)
        printf("{\"ok\": false, \"brokenAt\": %lld, \"firstBadRow\": %s, \"reason\": \"%s\", "
               "\"verifiedRows\": %lld}\n",
               w->broken, bad, w->why, w->rows);
    else
        printf("{\"ok\": true, \"sealed\": %lld, \"unsealed\": %lld, \"blocks\": %lld, "
               "\"headHash\": \"%s\"}\n",
               w->rows, unsealed, w->seq, head);
}

static int valid_head(const char *s)
{
    size_t n = strlen(s);
    return n == 2 * AUDITCHAIN_MAC_LEN && strspn(s, "0123456789abcdef") == n;
}

/* verify [--expect-head HASH]: the hash, or "" without it; NULL on bad usage. */
static const char *parse_args(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "verify"))
        return "";
    if (argc == 4 && !strcmp(argv[1], "verify") && !strcmp(argv[2], "--expect-head") &&
        valid_head(argv[3]))
        return argv[3];
    return NULL;
}

static int verify(PGconn *pg, const struct config *cfg, struct walk *w)
{
    if (old_chain_pending(pg) != 0) {
        w->broken = 1;
        w->why = "the old audit chain is not re-keyed yet (run pushgated migrate)";
        return 0;
    }
    int n = 0, rc = 0;
    do
        rc = walk_blocks(pg, w, &n);
    while (rc == 0 && !w->broken && n > 0);
    return rc == 0 && !w->broken ? check_tail(pg, cfg, w) : rc;
}

int cli_audit(const struct config *cfg, int argc, char **argv)
{
    const char *expect = parse_args(argc, argv);
    if (!expect) {
        fprintf(stderr, "usage: pushgated audit verify [--expect-head HASH]  (HASH: 64 lowercase "
                        "hex digits, a headHash printed earlier)\n");
        return 2;
    }
    struct walk *w = xcalloc(1, sizeof *w);
    w->expect = *expect ? expect : NULL;
    PGconn *pg = load_chain_key(cfg, w->key) == 0 ? cli_connect(cfg) : NULL;
    int rc = pg ? verify(pg, cfg, w) : -1;
    if (rc == 0)
        print_result(w,
                     query_ll(pg, "SELECT count(*) FROM audit_log WHERE seal_seq IS NULL", NULL));
    PQfinish(pg);
    int broken = w->broken != 0;
    OPENSSL_cleanse(w, sizeof *w);
    free(w);
    return rc < 0 || broken ? 1 : 0;
}

/* ---- the re-key of an old chain (007: plain SHA-256 blocks over id ranges) ---- */

struct old_walk {
    long long seq, last_id;
    unsigned char head[32];
    int have_head;
    const char *why;
};

/* SHA-256 over id \x1f at \x1f app \x1f event \x1f subject \x1f data (007's bytes) */
static void old_row_digest(PGresult *r, int i, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (int c = 0; c < 6; c++) {
        if (c)
            EVP_DigestUpdate(ctx, "\x1f", 1);
        EVP_DigestUpdate(ctx, PQgetvalue(r, i, c), (size_t)PQgetlength(r, i, c));
    }
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}

/* 007's hash of the block (from, to]: SHA-256(prev hash || each row's digest). */
static int old_block_hash(PGconn *pg, const struct old_walk *w, long long to, long long *count,
                          unsigned char out[32])
{
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%lld", w->last_id);
    snprintf(hi, sizeof hi, "%lld", to);
    PGresult *r = exec(pg,
                       "SELECT id::text, to_char(at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), COALESCE(app_id, ''), event, subject, "
                       "data::text FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id",
                       2, (const char *[]){lo, hi});
    if (!r)
        return -1;
    *count = PQntuples(r);
    size_t off = w->have_head ? 32 : 0, len = off + 32 * (size_t)*count;
    unsigned char *buf = xmalloc(len + 1);
    memcpy(buf, w->head, off);
    for (int i = 0; i < PQntuples(r); i++)
        old_row_digest(r, i, buf + off + 32 * i);
    EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL);
    free(buf);
    PQclear(r);
    return 0;
}

/* Checks old block i of r (seq, last_id, rows, prev_hash, hash). */
static int old_check_block(PGconn *pg, struct old_walk *w, PGresult *r, int i)
{
    long long seq = atoll(PQgetvalue(r, i, 0)), last = atoll(PQgetvalue(r, i, 1));
    long long rows = atoll(PQgetvalue(r, i, 2)), count = 0;
    size_t plen = 0, hlen = 0;
    unsigned char *prev = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 3), &plen);
    unsigned char *hash = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 4), &hlen);
    unsigned char want[32];
    int rc = old_block_hash(pg, w, last, &count, want);
    if (rc == 0) {
        bool linked = w->have_head ? plen == 32 && !memcmp(prev, w->head, 32) : plen == 0;
        w->why = seq != w->seq + 1 ? "a sealed block is missing"
                 : !linked         ? "a block does not link to the one before"
                 : count != rows   ? "a row of a sealed block was deleted or inserted"
                 : hlen != 32 || memcmp(hash, want, 32) ? "a row was changed after sealing"
                                                        : NULL;
    }
    PQfreemem(prev);
    PQfreemem(hash);
    if (rc == 0 && !w->why) {
        w->seq = seq, w->last_id = last, w->have_head = 1;
        memcpy(w->head, want, 32);
    }
    return rc;
}

/* The rows of old block (lo, hi] become keyed block seq. */
static int rekey_block(PGconn *pg, struct walk *k, long long lo, long long hi)
{
    char l[32], h[32];
    snprintf(l, sizeof l, "%lld", lo);
    snprintf(h, sizeof h, "%lld", hi);
    PGresult *r = exec(pg,
                       "SELECT " AUDITCHAIN_ROW_SQL " FROM audit_log a"
                       " WHERE a.id > $1 AND a.id <= $2 ORDER BY a.id",
                       2, (const char *[]){l, h});
    if (!r)
        return -1;
    int n = PQntuples(r);
    char *ids = xmalloc((size_t)n * 22 + 3), *macs = xmalloc((size_t)n * 65 + 3);
    size_t il = 0, ml = 0;
    for (int i = 0; i < n; i++) {
        char hex[2 * AUDITCHAIN_MAC_LEN + 1];
        auditchain_row_mac(k->key, k->row, r, i, 0, k->row);
        auditchain_hex(k->row, hex);
        il += (size_t)sprintf(ids + il, "%c%s", i ? ',' : '{', PQgetvalue(r, i, 0));
        ml += (size_t)sprintf(macs + ml, "%c%s", i ? ',' : '{', hex);
    }
    strcpy(ids + il, n ? "}" : "{}");
    strcpy(macs + ml, n ? "}" : "{}");
    PQclear(r);
    unsigned char mac[AUDITCHAIN_MAC_LEN];
    auditchain_block_mac(k->key, k->seq + 1, n, k->seq ? k->head : NULL, k->row, mac);
    char sq[32], prev[70], rowm[70], macm[70];
    snprintf(sq, sizeof sq, "%lld", k->seq + 1);
    strcpy(prev, "\\x"), auditchain_hex(k->head, prev + 2);
    strcpy(rowm, "\\x"), auditchain_hex(k->row, rowm + 2);
    strcpy(macm, "\\x"), auditchain_hex(mac, macm + 2);
    const char *p[] = {sq, k->seq ? prev : NULL, rowm, macm, ids, macs};
    long long stored = -1;
    if ((r = exec(pg, "SELECT audit_seal_store($1, $2, $3, $4, $5, $6)", 6, p)))
        stored = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    free(ids), free(macs);
    k->seq++;
    memcpy(k->head, mac, sizeof mac);
    return stored == n && n > 0 ? 0 : -1;
}

/* Verifies every old block (seq, last_id, rows, prev_hash, hash) in blocks. */
static const char *old_verify(PGconn *pg, PGresult *blocks, long long *at)
{
    struct old_walk w = {0};
    for (int i = 0; i < PQntuples(blocks); i++) {
        if (old_check_block(pg, &w, blocks, i) < 0)
            return "database error";
        if (w.why) {
            *at = w.seq + 1;
            return w.why;
        }
    }
    return NULL;
}

/* In the caller's transaction: checks the old chain, drops it, re-seals its
 * blocks one for one under the key. 0 ok, -1 refused or failed (said why). */
static int rekey_locked(PGconn *pg, struct walk *k)
{
    PGresult *b = exec(
        pg, "SELECT seq, last_id, rows, prev_hash, hash FROM audit_seals_v1 ORDER BY seq", 0, NULL);
    if (!b)
        return -1;
    long long at = 0;
    const char *why = old_verify(pg, b, &at);
    if (why) {
        fprintf(stderr,
                "pushgated: REFUSED: the old audit chain does not verify (block %lld: %s); "
                "it was NOT re-keyed and stays in audit_seals_v1, and new audit rows stay "
                "unsealed until this is resolved. Investigate before anything else.\n",
                at, why);
        PQclear(b);
        return -1;
    }
    PGresult *d = exec(pg, "DROP TABLE audit_seals_v1", 0, NULL);
    int rc = d ? 0 : -1;
    PQclear(d);
    for (int i = 0; rc == 0 && i < PQntuples(b); i++)
        rc = rekey_block(pg, k, i ? atoll(PQgetvalue(b, i - 1, 1)) : 0, atoll(PQgetvalue(b, i, 1)));
    PQclear(b);
    return rc;
}

static int exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = exec(pg, sql, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

int audit_rekey(PGconn *pg, const struct config *cfg)
{
    int pending = old_chain_pending(pg);
    if (pending <= 0)
        return pending < 0;
    struct walk *k = xcalloc(1, sizeof *k);
    int rc = load_chain_key(cfg, k->key);
    if (rc < 0)
        fprintf(stderr, "pushgated: the schema is migrated, but the old audit chain is not "
                        "re-keyed yet; audit rows stay unsealed until `pushgated migrate` runs "
                        "with the key file\n");
    /* one snapshot: the rows re-sealed are exactly the rows verified */
    if (rc == 0)
        rc = exec_ok(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    if (rc == 0 && (rc = exec_ok(pg, "SELECT pg_advisory_xact_lock(" REKEY_LOCK_ID ")")) == 0) {
        rc = old_chain_pending(pg) > 0 ? rekey_locked(pg, k) : 0;
        rc = exec_ok(pg, rc == 0 ? "COMMIT" : "ROLLBACK") < 0 ? -1 : rc;
    }
    if (rc == 0 && k->seq) {
        char n[32];
        snprintf(n, sizeof n, "%lld", k->seq);
        log_kv(LOG_INFO, "audit chain re-keyed", "blocks", n, NULL);
    }
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
    return rc < 0 ? 1 : 0;
}
