/* Unit tests for server/io/signer's sealing: a signing key's blob is bound to its row's kid
 * (aad "server-signing-key:<kid>") and opens only as the row's own key. The database
 * paths (start-up re-seal, refusing a swapped blob) are in tests/integration/test_keys.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/aead.h"
#include "protocol/jwk.h"
#include "signer.h"

#include <openssl/crypto.h>

static const unsigned char master[32] = "0123456789abcdef0123456789abcde";

struct row {
    EVP_PKEY *key;
    char *kid, *jwk;
    unsigned char *sealed;
    size_t len;
};

static void make_row(struct row *r)
{
    r->key = jwk_generate_p256();
    assert_non_null(r->key);
    r->kid = jwk_thumbprint(r->key);
    json_t *pub = jwk_from_pkey(r->key, r->kid);
    r->jwk = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pub);
    assert_int_equal(signer_seal(master, r->key, r->kid, &r->sealed, &r->len), 0);
}

static void free_row(struct row *r)
{
    EVP_PKEY_free(r->key);
    free(r->kid);
    free(r->jwk);
    free(r->sealed);
}

static void test_opens_as_its_own_row(void **state)
{
    (void)state;
    struct row a;
    make_row(&a);
    EVP_PKEY *k = signer_unseal(master, a.sealed, a.len, a.kid, a.jwk);
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_eq(k, a.key), 1);
    EVP_PKEY_free(k);
    k = signer_unseal(master, a.sealed, a.len, a.kid, NULL);
    assert_non_null(k);
    EVP_PKEY_free(k);
    unsigned char wrong[32] = "0123456789abcdef0123456789abcdX";
    assert_null(signer_unseal(wrong, a.sealed, a.len, a.kid, a.jwk));
    free_row(&a);
}

/* The attack: a retired key's blob moved into the current row (kid and JWK stay). */
static void test_another_rows_blob_does_not_open(void **state)
{
    (void)state;
    struct row cur, old;
    make_row(&cur);
    make_row(&old);
    assert_null(signer_unseal(master, old.sealed, old.len, cur.kid, cur.jwk));
    assert_null(signer_unseal(master, old.sealed, old.len, cur.kid, NULL));
    /* its own blob, but the row's public key is another one */
    assert_null(signer_unseal(master, cur.sealed, cur.len, cur.kid, old.jwk));
    free_row(&cur);
    free_row(&old);
}

/* A blob sealed with the constant aad of before (or no aad) does not open here: only
 * signer_load's one-time re-seal reads those. */
static void test_constant_aad_blob_does_not_open(void **state)
{
    (void)state;
    struct row a;
    make_row(&a);
    unsigned char *der = NULL, *legacy = NULL;
    size_t dlen = 0, llen = 0;
    assert_int_equal(jwk_private_to_der(a.key, &der, &dlen), 0);
    assert_int_equal(aead_seal(master, der, dlen, "server-signing-key", &legacy, &llen), 0);
    assert_null(signer_unseal(master, legacy, llen, a.kid, a.jwk));
    free(legacy);
    assert_int_equal(aead_seal(master, der, dlen, NULL, &legacy, &llen), 0);
    assert_null(signer_unseal(master, legacy, llen, a.kid, a.jwk));
    free(legacy);
    OPENSSL_cleanse(der, dlen);
    free(der);
    free_row(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_as_its_own_row),
        cmocka_unit_test(test_another_rows_blob_does_not_open),
        cmocka_unit_test(test_constant_aad_blob_does_not_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
