#include "signer.h"

#include "alloc.h"
#include "protocol/aead.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "log.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sealed key is bound to its row's kid ("server-signing-key:<kid>"), so that a
 * database writer cannot move another (e.g. a retired) key's blob into the current
 * row. LEGACY_AAD is what keys were sealed with before; only reseal_legacy reads it. */
#define SEAL_AAD_PREFIX "server-signing-key:"
#define LEGACY_AAD "server-signing-key"
#define KID_MAX 128

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

static bool seal_aad(const char *kid, char aad[sizeof SEAL_AAD_PREFIX + KID_MAX])
{
    return kid && strlen(kid) <= KID_MAX &&
           snprintf(aad, sizeof SEAL_AAD_PREFIX + KID_MAX, "%s%s", SEAL_AAD_PREFIX, kid) > 0;
}

int signer_seal(const unsigned char master[32], const EVP_PKEY *key, const char *kid,
                unsigned char **out, size_t *len)
{
    char aad[sizeof SEAL_AAD_PREFIX + KID_MAX];
    unsigned char *der = NULL;
    size_t dlen = 0;
    int rc = -1;
    if (seal_aad(kid, aad) && jwk_private_to_der(key, &der, &dlen) == 0)
        rc = aead_seal(master, der, dlen, aad, out, len);
    if (der)
        OPENSSL_cleanse(der, dlen);
    free(der);
    return rc;
}

/* Opens blob with aad; the key only when it is the row's own: its thumbprint is kid
 * and (when given) it equals the row's public JWK. *mismatch tells the two failures
 * apart: it opened, but holds another key. */
static EVP_PKEY *unseal_with(const unsigned char master[32], const unsigned char *blob, size_t len,
                             const char *aad, const char *kid, const char *pub_jwk, bool *mismatch)
{
    unsigned char *der = NULL;
    size_t dlen = 0;
    *mismatch = false;
    if (aead_open(master, blob, len, aad, &der, &dlen) < 0)
        return NULL;
    EVP_PKEY *key = jwk_private_from_der(der, dlen);
    OPENSSL_cleanse(der, dlen);
    free(der);
    char *thumb = key ? jwk_thumbprint(key) : NULL;
    json_t *pj = pub_jwk ? json_loads(pub_jwk, 0, NULL) : NULL;
    EVP_PKEY *pub = pj ? jwk_to_pkey(pj) : NULL;
    *mismatch = key && (!thumb || strcmp(thumb, kid) != 0 ||
                        (pub_jwk && (!pub || EVP_PKEY_eq(key, pub) != 1)));
    free(thumb);
    json_decref(pj);
    EVP_PKEY_free(pub);
    if (*mismatch) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

EVP_PKEY *signer_unseal(const unsigned char master[32], const unsigned char *blob, size_t len,
                        const char *kid, const char *pub_jwk)
{
    char aad[sizeof SEAL_AAD_PREFIX + KID_MAX];
    bool mismatch;
    return seal_aad(kid, aad) ? unseal_with(master, blob, len, aad, kid, pub_jwk, &mismatch) : NULL;
}

/* A new key sealed for the table: kid, sealed (bytea hex), public JWK text. */
static int new_key_row(const unsigned char master[32], char **kid, char **sealed_hex, char **jwk)
{
    EVP_PKEY *k = jwk_generate_p256();
    unsigned char *sealed = NULL;
    size_t slen = 0;
    int rc = -1;
    *kid = k ? jwk_thumbprint(k) : NULL;
    if (!*kid || signer_seal(master, k, *kid, &sealed, &slen) < 0)
        goto out;
    json_t *pub = jwk_from_pkey(k, *kid);
    *jwk = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pub);
    *sealed_hex = valid_bytea_hex(sealed, slen);
    rc = *jwk ? 0 : -1; /* jwk_from_pkey may fail; the hex cannot */
out:
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
    const char *kid = PQgetvalue(r, 0, 0);
    EVP_PKEY *key = blob ? signer_unseal(master, blob, blen, kid, PQgetvalue(r, 0, 2)) : NULL;
    PQfreemem(blob);
    if (!key) {
        /* fail closed: never sign with a key that is not the row's own */
        log_kv(LOG_ERROR,
               "cannot open the signing key of its row: wrong PUSHGATE_KEY_FILE, or the row "
               "holds another key's sealed blob",
               "kid", kid, NULL);
        return NULL;
    }
    struct signer *s = xcalloc(1, sizeof *s);
    s->key = key;
    s->kid = xstrdup(kid);
    return s;
}

/* One row sealed with LEGACY_AAD: re-sealed for its kid once the key is shown to be
 * the row's own. 0 when done or not a legacy row; -1 when the row holds another key
 * (refuse to start) or the update failed. */
static int reseal_row(PGconn *pg, const PGresult *r, int i, const unsigned char master[32])
{
    const char *kid = PQgetvalue(r, i, 0), *old_hex = PQgetvalue(r, i, 1);
    size_t blen = 0;
    unsigned char *blob = PQunescapeBytea((const unsigned char *)old_hex, &blen);
    bool mismatch = false;
    EVP_PKEY *key =
        blob ? unseal_with(master, blob, blen, LEGACY_AAD, kid, PQgetvalue(r, i, 2), &mismatch)
             : NULL;
    PQfreemem(blob);
    unsigned char *sealed = NULL;
    size_t slen = 0;
    char *hex = key && signer_seal(master, key, kid, &sealed, &slen) == 0
                    ? valid_bytea_hex(sealed, slen)
                    : NULL;
    EVP_PKEY_free(key);
    free(sealed);
    PGresult *u = NULL;
    if (hex) { /* guarded by the old blob: two instances starting at once update once */
        const char *p[] = {kid, hex, old_hex};
        u = exec_params(pg, "UPDATE server_keys SET sealed = $2 WHERE kid = $1 AND sealed = $3", 3,
                        p);
        log_kv(u ? LOG_INFO : LOG_ERROR, "signing key re-sealed for its kid", "kid", kid, NULL);
    }
    if (mismatch)
        log_kv(LOG_ERROR, "a signing key row holds another key: refusing to start", "kid", kid,
               NULL);
    int rc = mismatch || (hex && !u) ? -1 : 0;
    PQclear(u);
    free(hex);
    return rc;
}

/* Start-up upgrade of keys sealed before the aad named the kid (see
 * docs/operations.md): every row whose blob opens with LEGACY_AAD is checked and
 * re-sealed for its kid, once; afterwards no row opens with LEGACY_AAD. BLOCKING. */
static int reseal_legacy(PGconn *pg, const unsigned char master[32])
{
    PGresult *r = exec_params(pg, "SELECT kid, sealed, public_jwk FROM server_keys", 0, NULL);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r); i++)
        if (reseal_row(pg, r, i, master) < 0)
            rc = -1;
    PQclear(r);
    return rc;
}

struct signer *signer_load(PGconn *pg, const unsigned char master[32])
{
    if (reseal_legacy(pg, master) < 0)
        return NULL;
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
