/* pushgated audit verify: walks the sealed blocks (sql/007_audit.sql)
 * in order and recomputes every hash in C -- not with the database's own
 * functions, which whoever tampered with the rows could have replaced too. */
#include "alloc.h"
#include "audit.h"
#include "cli.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    long long seq, last_id, rows;
    unsigned char head[32];
    int have_head;
    long long broken; /* seq of the first broken block, 0 if none */
    const char *why;
};

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL);
}

/* SHA-256 over id \x1f at \x1f app \x1f event \x1f subject \x1f data */
static void row_digest(PGresult *r, int i, unsigned char out[32])
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

static PGresult *exec(PGconn *pg, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    fprintf(stderr, "pushgated: database error: %s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

/* hash = SHA-256(previous block's hash || digest of each row) */
static int block_hash(PGconn *pg, long long from, long long to, long long *count,
                      const struct walk *w, unsigned char out[32])
{
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%lld", from);
    snprintf(hi, sizeof hi, "%lld", to);
    const char *p[] = {lo, hi};
    PGresult *r = exec(pg,
                       "SELECT id::text, to_char(at AT TIME ZONE 'UTC', "
                       "'YYYY-MM-DD\"T\"HH24:MI:SS.US'), COALESCE(app_id, ''), event, subject, "
                       "data::text FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id",
                       2, p);
    if (!r)
        return -1;
    *count = PQntuples(r);
    size_t len = (w->have_head ? 32 : 0) + 32 * (size_t)*count;
    unsigned char *buf = xmalloc(len + 1);
    if (w->have_head)
        memcpy(buf, w->head, 32);
    for (int i = 0; i < PQntuples(r); i++)
        row_digest(r, i, buf + (w->have_head ? 32 : 0) + 32 * i);
    sha256(buf, len, out);
    free(buf);
    PQclear(r);
    return 0;
}

/* Checks the block in row i of r; -1 on a database error. */
static int check_block(PGconn *pg, struct walk *w, PGresult *r, int i)
{
    long long seq = atoll(PQgetvalue(r, i, 0)), last = atoll(PQgetvalue(r, i, 1));
    long long rows = atoll(PQgetvalue(r, i, 2)), count = 0;
    size_t plen = 0, hlen = 0;
    unsigned char *prev = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 3), &plen);
    unsigned char *hash = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 4), &hlen);
    unsigned char want[32];
    int rc = block_hash(pg, w->last_id, last, &count, w, want);
    if (rc == 0) {
        bool linked = w->have_head ? plen == 32 && !memcmp(prev, w->head, 32) : plen == 0;
        w->why = seq != w->seq + 1 ? "a sealed block is missing"
                 : !linked         ? "a block does not link to the one before"
                 : count != rows   ? "a row of a sealed block was deleted or inserted"
                 : hlen != 32 || memcmp(hash, want, 32) ? "a row was changed after sealing"
                                                        : NULL;
        if (w->why)
            w->broken = w->seq + 1;
    }
    PQfreemem(prev);
    PQfreemem(hash);
    if (rc == 0 && !w->why) {
        w->seq = seq;
        w->last_id = last;
        w->rows += rows;
        memcpy(w->head, want, 32);
        w->have_head = 1;
    }
    return rc;
}

static int walk_blocks(PGconn *pg, struct walk *w, int *n)
{
    char after[32];
    snprintf(after, sizeof after, "%lld", w->seq);
    const char *p[] = {after};
    PGresult *r = exec(pg,
                       "SELECT seq, last_id, rows, prev_hash, hash FROM audit_seals "
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

static long long count_unsealed(PGconn *pg, long long last_id)
{
    char lo[32];
    snprintf(lo, sizeof lo, "%lld", last_id);
    const char *p[] = {lo};
    PGresult *r = exec(pg, "SELECT count(*) FROM audit_log WHERE id > $1", 1, p);
    long long n = r ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

static void print_result(const struct walk *w, long long unsealed)
{
    char head[65] = "";
    for (int i = 0; w->have_head && i < 32; i++)
        snprintf(head + 2 * i, 3, "%02x", w->head[i]);
    if (w->broken)
        printf("{\"ok\": false, \"brokenAt\": %lld, \"reason\": \"%s\", \"verifiedRows\": %lld}\n",
               w->broken, w->why, w->rows);
    else
        printf("{\"ok\": true, \"sealed\": %lld, \"unsealed\": %lld, \"blocks\": %lld, "
               "\"headHash\": \"%s\"}\n",
               w->rows, unsealed, w->seq, head);
}

int cli_audit(const struct config *cfg, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: pushgated audit verify\n");
        return 2;
    }
    PGconn *pg = cli_connect(cfg);
    if (!pg)
        return 1;
    struct walk w = {0};
    int n = 0, rc = 0;
    do
        rc = walk_blocks(pg, &w, &n);
    while (rc == 0 && !w.broken && n > 0);
    if (rc == 0)
        print_result(&w, count_unsealed(pg, w.last_id));
    PQfinish(pg);
    return rc < 0 || w.broken ? 1 : 0;
}
