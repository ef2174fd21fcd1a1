#include "signer.h"

#include "aead.h"
#include "jwk.h"
#include "jws.h"
#include "log.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_AAD "server-signing-key"

struct signer {
    EVP_PKEY *key;
    char *kid;
};

static PGresult *exec_params(PGconn *pg, const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        log_kv(LOG_ERROR, "signing key query failed", "error", PQresultErrorMessage(r), NULL);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* A new key sealed for the table: kid, sealed (bytea hex), public JWK text. */
static int new_key_row(const unsigned char master[32], char **kid, char **sealed_hex, char **jwk)
{
    EVP_PKEY *k = jwk_generate_p256();
    unsigned char *der = NULL, *sealed = NULL;
    size_t dlen = 0, slen = 0;
    int rc = -1;
    if (!k || jwk_private_to_der(k, &der, &dlen) < 0 ||
        aead_seal(master, der, dlen, SEAL_AAD, &sealed, &slen) < 0)
        goto out;
    *kid = jwk_thumbprint(k);
    json_t *pub = jwk_from_pkey(k, *kid);
    *jwk = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pub);
    *sealed_hex = valid_bytea_hex(sealed, slen);
    rc = *kid && *jwk && *sealed_hex ? 0 : -1;
out:
    if (der)
        OPENSSL_cleanse(der, dlen);
    free(der);
    free(sealed);
    EVP_PKEY_free(k);
    return rc;
}

static int insert_key(PGconn *pg, const unsigned char master[32])
{
    char *kid = NULL, *sealed = NULL, *jwk = NULL;
    int rc = new_key_row(master, &kid, &sealed, &jwk);
    if (rc == 0) {
        const char *p[] = {kid, sealed, jwk};
        /* two instances starting at once: the unique index keeps one */
        PGresult *r = exec_params(pg,
                                  "INSERT INTO server_keys (kid, sealed, public_jwk) "
                                  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                  3, p);
        rc = r ? 0 : -1;
        PQclear(r);
    }
    free(kid);
    free(sealed);
    free(jwk);
    return rc;
}

struct signer *signer_open(const PGresult *r, const unsigned char master[32])
{
    size_t blen = 0;
    unsigned char *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &blen);
    unsigned char *der = NULL;
    size_t dlen = 0;
    struct signer *s = NULL;
    if (blob && aead_open(master, blob, blen, SEAL_AAD, &der, &dlen) == 0) {
        s = calloc(1, sizeof *s);
        s->key = jwk_private_from_der(der, dlen);
        s->kid = strdup(PQgetvalue(r, 0, 0));
        OPENSSL_cleanse(der, dlen);
    } else {
        log_kv(LOG_ERROR, "cannot open the signing key: wrong PUSHGATE_KEY_FILE?", NULL);
    }
    PQfreemem(blob);
    free(der);
    if (s && !s->key) {
        signer_free(s);
        s = NULL;
    }
    return s;
}

struct signer *signer_load(PGconn *pg, const unsigned char master[32])
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = exec_params(pg, SIGNER_CURRENT_SQL, 0, NULL);
        if (!r)
            return NULL;
        if (PQntuples(r) == 1) {
            struct signer *s = signer_open(r, master);
            PQclear(r);
            return s;
        }
        PQclear(r);
        if (insert_key(pg, master) < 0)
            return NULL;
        log_kv(LOG_INFO, "signing key created", NULL);
    }
    return NULL;
}

void signer_free(struct signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->key);
    free(s->kid);
    free(s);
}

const char *signer_kid(const struct signer *s)
{
    return s->kid;
}

char *signer_sign(const struct signer *s, const char *typ, const json_t *payload)
{
    return jws_sign_es256(s->key, typ, s->kid, payload);
}

int signer_rotate(PGconn *pg, const unsigned char master[32], int publish_days)
{
    char days[16];
    snprintf(days, sizeof days, "%d", publish_days);
    const char *p[] = {days};
    PGresult *r = exec_params(pg, "BEGIN", 0, NULL);
    PQclear(r);
    r = exec_params(pg,
                    "UPDATE server_keys SET status = 'retired', retired_at = now(), "
                    "publish_until = now() + make_interval(days => $1::int) "
                    "WHERE status = 'current'",
                    1, p);
    int rc = r && insert_key(pg, master) == 0 ? 0 : -1;
    PQclear(r);
    if (rc == 0) { /* delivered at commit: running instances switch keys (keyswap.c) */
        r = exec_params(pg, "SELECT pg_notify('pushgate', 'k:')", 0, NULL);
        rc = r ? 0 : -1;
        PQclear(r);
    }
    r = exec_params(pg, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL);
    PQclear(r);
    return rc;
}
