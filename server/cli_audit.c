/* pushgated audit verify: walks the audit chain in seq order and recomputes
 * every hash in C (not with the database's own functions, which whoever
 * tampered with the rows could also have replaced). */
#include "audit.h"
#include "cli.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH "5000"

struct walk {
    long long seq; /* last verified */
    unsigned char prev[32];
    int have_prev;
    long long broken; /* first broken seq, 0 if none */
    const char *why;
};

/* sha256(prev || id \x1f at \x1f app \x1f event \x1f subject \x1f data \x1f seq) */
static void row_hash(const struct walk *w, PGresult *r, int i, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    if (w->have_prev)
        EVP_DigestUpdate(ctx, w->prev, 32);
    for (int c = 0; c < 7; c++) {
        if (c)
            EVP_DigestUpdate(ctx, "\x1f", 1);
        EVP_DigestUpdate(ctx, PQgetvalue(r, i, c), (size_t)PQgetlength(r, i, c));
    }
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}

/* Checks one row; returns 0 or -1 (w->broken/why set). */
static int check_row(struct walk *w, PGresult *r, int i)
{
    long long seq = atoll(PQgetvalue(r, i, 6));
    size_t plen = 0, hlen = 0;
    unsigned char *prev = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 7), &plen);
    unsigned char *hash = PQunescapeBytea((unsigned char *)PQgetvalue(r, i, 8), &hlen);
    unsigned char want[32];
    row_hash(w, r, i, want);
    w->why = seq != w->seq + 1 ? "a row is missing"
             : (w->have_prev ? plen != 32 || memcmp(prev, w->prev, 32) : plen != 0)
                 ? "prev_hash does not link to the previous row"
             : hlen != 32 || memcmp(hash, want, 32) ? "the row was changed after sealing"
                                                    : NULL;
    PQfreemem(prev);
    PQfreemem(hash);
    if (w->why) {
        w->broken = w->seq + 1;
        return -1;
    }
    w->seq = seq;
    memcpy(w->prev, want, 32);
    w->have_prev = 1;
    return 0;
}

static int walk_batch(PGconn *pg, struct walk *w, int *rows)
{
    char after[32];
    snprintf(after, sizeof after, "%lld", w->seq);
    const char *p[] = {after, BATCH};
    PGresult *r = PQexecParams(
        pg,
        "SELECT id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        "COALESCE(app_id, ''), event, subject, data::text, seq::text, prev_hash, hash "
        "FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pushgated: database error: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *rows = PQntuples(r);
    for (int i = 0; i < *rows; i++)
        if (check_row(w, r, i) < 0)
            break;
    PQclear(r);
    return 0;
}

static long long count_unsealed(PGconn *pg)
{
    PGresult *r = PQexec(pg, "SELECT count(*) FROM audit_log WHERE seq IS NULL");
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

static void print_result(const struct walk *w, long long unsealed)
{
    char head[65] = "";
    for (int i = 0; w->have_prev && i < 32; i++)
        snprintf(head + 2 * i, 3, "%02x", w->prev[i]);
    if (w->broken)
        printf("{\"ok\": false, \"brokenAt\": %lld, \"reason\": \"%s\", \"verified\": %lld}\n",
               w->broken, w->why, w->seq);
    else
        printf("{\"ok\": true, \"sealed\": %lld, \"unsealed\": %lld, \"headSeq\": %lld, "
               "\"headHash\": \"%s\"}\n",
               w->seq, unsealed, w->seq, head);
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
    int rows = 0, rc = 0;
    do
        rc = walk_batch(pg, &w, &rows);
    while (rc == 0 && !w.broken && rows == atoi(BATCH));
    if (rc == 0)
        print_result(&w, count_unsealed(pg));
    PQfinish(pg);
    return rc < 0 || w.broken ? 1 : 0;
}
