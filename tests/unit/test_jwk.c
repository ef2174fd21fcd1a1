/* Unit tests for protocol/jwk: JWK <-> EVP_PKEY for P-256, PKCS#8, RFC 7638 thumbprints,
 * and every rejection path of jwk_to_pkey. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"

/* RFC 7515 appendix A.3.1 public key. */
#define RFC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    return j;
}

static EVP_PKEY *key_from_text(const char *text)
{
    json_t *j = parse(text);
    EVP_PKEY *k = jwk_to_pkey(j);
    json_decref(j);
    return k;
}

static void expect_reject(const char *text)
{
    EVP_PKEY *k = key_from_text(text);
    if (k != NULL) {
        EVP_PKEY_free(k);
        fail_msg("accepted: %s", text);
    }
}

static void test_rfc_key_parses(void **state)
{
    (void)state;
    EVP_PKEY *k =
        key_from_text("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    assert_non_null(k);
    assert_true(jwk_is_p256(k));
    json_t *back = jwk_from_pkey(k, NULL);
    assert_string_equal(json_string_value(json_object_get(back, "x")), RFC_X);
    assert_string_equal(json_string_value(json_object_get(back, "y")), RFC_Y);
    assert_string_equal(json_string_value(json_object_get(back, "kty")), "EC");
    assert_string_equal(json_string_value(json_object_get(back, "crv")), "P-256");
    assert_int_equal(json_object_size(back), 4);
    json_decref(back);
    EVP_PKEY_free(k);
}

static void test_extra_members_tolerated(void **state)
{
    (void)state;
    EVP_PKEY *k =
        key_from_text("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                      "\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"ES256\","
                      "\"key_ops\":[\"verify\"],\"ext\":true}");
    assert_non_null(k);
    EVP_PKEY_free(k);
}

static void test_reject_private_member(void **state)
{
    (void)state;
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"d\":null}");
}

static void test_reject_kty_crv(void **state)
{
    (void)state;
    expect_reject("{\"kty\":\"RSA\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"ec\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":1,\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"p-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"EC\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC_X "\"}");
}

static void test_reject_alg_use(void **state)
{
    (void)state;
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"alg\":\"HS256\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"alg\":\"ES384\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"use\":\"enc\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y
                  "\",\"alg\":null}");
}

static void test_reject_coordinate_encoding(void **state)
{
    (void)state;
    /* 31 bytes (first byte dropped) and 33 bytes (zero byte prepended). */
    expect_reject(
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"zc4ncPbEXUGDy-5v20t7WAczNXvp7xO6z248e9FURQ\","
        "\"y\":\"" RFC_Y "\"}");
    expect_reject(
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AH_Nzidw9sRdQYPL7m_bS3tYBzM1e-nvE7rPbjx70VRF\","
        "\"y\":\"" RFC_Y "\"}");
    /* Padding, standard-base64 alphabet, whitespace. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "=\",\"y\":\"" RFC_Y "\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\""
                  "x/FEzRu9m36HLN/tue659LNpXW6pCyStikYjKIWI5a0\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\" " RFC_X "\",\"y\":\"" RFC_Y "\"}");
    /* Non-canonical trailing bits in the last character (0 -> 1). */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\""
                  "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}");
    /* Missing, non-string, empty. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\"}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":42}");
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"" RFC_Y "\"}");
}

static void test_reject_invalid_points(void **state)
{
    (void)state;
    /* y with its lowest bit flipped: not on the curve. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\""
                  "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw\"}");
    /* (0, 0): how infinity is sometimes smuggled in; not on the curve. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\","
                  "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                  "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    /* Coordinates >= p. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\","
                  "\"x\":\"__________________________________________8\","
                  "\"y\":\"__________________________________________8\"}");
    /* x, y swapped. */
    expect_reject("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_Y "\",\"y\":\"" RFC_X "\"}");
}

/* jwk_point_reload: the same key as the first parse, through one context reused; an
 * off-curve point is still refused by decoding alone (what skipping the quick check
 * relies on). */
static void test_point_reload(void **state)
{
    (void)state;
    json_t *j = parse("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    unsigned char pt[JWK_POINT_LEN];
    assert_int_equal(jwk_to_point(j, pt), 0);
    EVP_PKEY *first = jwk_point_to_pkey(pt);
    assert_non_null(first);
    EVP_PKEY_CTX *ctx = jwk_reload_ctx_new();
    for (int i = 0; i < 3; i++) {
        EVP_PKEY *again = jwk_point_reload(ctx, pt);
        assert_non_null(again);
        assert_int_equal(EVP_PKEY_eq(first, again), 1);
        assert_true(jwk_is_p256(again));
        EVP_PKEY_free(again);
    }
    pt[JWK_POINT_LEN - 1] ^= 1; /* y's lowest bit: off the curve */
    assert_null(jwk_point_reload(ctx, pt));
    memset(pt + 1, 0xff, JWK_POINT_LEN - 1); /* coordinates >= p */
    assert_null(jwk_point_reload(ctx, pt));
    pt[JWK_POINT_LEN - 1] = 0;
    assert_null(jwk_point_reload(NULL, pt));
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(first);
    json_decref(j);
}

static void test_reject_non_objects(void **state)
{
    (void)state;
    assert_null(jwk_to_pkey(NULL));
    json_t *j = parse("[\"EC\"]");
    assert_null(jwk_to_pkey(j));
    json_decref(j);
    j = json_string("EC");
    assert_null(jwk_to_pkey(j));
    json_decref(j);
    /* A string with an embedded NUL built in code must not pass as "EC". */
    j = json_pack("{s:s%, s:s, s:s, s:s}", "kty", "EC\0X", (size_t)4, "crv", "P-256", "x", RFC_X,
                  "y", RFC_Y);
    assert_non_null(j);
    assert_null(jwk_to_pkey(j));
    json_decref(j);
}

static void test_generate_round_trip(void **state)
{
    (void)state;
    EVP_PKEY *k = jwk_generate_p256();
    assert_non_null(k);
    json_t *j = jwk_from_pkey(k, "kid-1");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kid")), "kid-1");
    assert_string_equal(json_string_value(json_object_get(j, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(j, "alg")), "ES256");
    assert_null(json_object_get(j, "d"));
    EVP_PKEY *pub = jwk_to_pkey(j);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(k, pub), 1);
    json_t *j2 = jwk_from_pkey(pub, "kid-1");
    assert_true(json_equal(j, j2));
    json_decref(j2);
    json_decref(j);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(k);
}

/* About 1 key in 128 has a coordinate with a leading zero byte: it must still be 32
 * bytes (43 characters), never the 31 a naive BN_bn2bin would give. */
static void test_leading_zero_coordinate(void **state)
{
    (void)state;
    int found = 0;
    for (int i = 0; i < 4096 && !found; i++) {
        EVP_PKEY *k = jwk_generate_p256();
        json_t *j = jwk_from_pkey(k, NULL);
        const char *x = json_string_value(json_object_get(j, "x"));
        const char *y = json_string_value(json_object_get(j, "y"));
        assert_int_equal(strlen(x), 43);
        assert_int_equal(strlen(y), 43);
        if (x[0] == 'A' && x[1] < 'E') { /* first byte zero <=> first 8 bits zero */
            EVP_PKEY *back = jwk_to_pkey(j);
            assert_non_null(back);
            assert_int_equal(EVP_PKEY_eq(k, back), 1);
            EVP_PKEY_free(back);
            found = 1;
        }
        json_decref(j);
        EVP_PKEY_free(k);
    }
    assert_true(found);
}

static void test_thumbprint_rfc_key(void **state)
{
    (void)state;
    EVP_PKEY *k =
        key_from_text("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    char *t = jwk_thumbprint(k);
    /* SHA-256 of {"crv":"P-256","kty":"EC","x":"f83O...","y":"x_FE..."}, computed
     * independently (Python hashlib). */
    assert_string_equal(t, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
    free(t);
    EVP_PKEY_free(k);
    k = jwk_generate_p256();
    t = jwk_thumbprint(k);
    assert_int_equal(strlen(t), 43);
    free(t);
    EVP_PKEY_free(k);
}

static void test_private_der_round_trip(void **state)
{
    (void)state;
    EVP_PKEY *k = jwk_generate_p256();
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(jwk_private_to_der(k, &der, &len), 0);
    assert_true(len > 60 && len < 200);
    EVP_PKEY *back = jwk_private_from_der(der, len);
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    /* The restored key signs; the original public key verifies. */
    json_t *payload = json_pack("{s:i}", "n", 1);
    char *jws = jws_sign_es256(back, "t+jwt", NULL, payload);
    assert_non_null(jws);
    assert_int_equal(jws_verify_es256(jws, k, "t+jwt", NULL, NULL), 0);
    free(jws);
    json_decref(payload);
    /* Trailing garbage and truncation are refused. */
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_null(jwk_private_from_der(longer, len + 1));
    assert_null(jwk_private_from_der(der, len - 1));
    assert_null(jwk_private_from_der(der, 0));
    assert_null(jwk_private_from_der((const unsigned char *)"garbage", 7));
    free(longer);
    OPENSSL_cleanse(der, len);
    free(der);
    EVP_PKEY_free(back);
    EVP_PKEY_free(k);
}

static void test_private_der_needs_private_key(void **state)
{
    (void)state;
    EVP_PKEY *k =
        key_from_text("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC_X "\",\"y\":\"" RFC_Y "\"}");
    unsigned char *der = (unsigned char *)"x";
    size_t len = 9;
    assert_int_equal(jwk_private_to_der(k, &der, &len), -1);
    assert_null(der);
    assert_int_equal(len, 0);
    EVP_PKEY_free(k);
}

static void test_other_curves_refused(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(k);
    assert_false(jwk_is_p256(k));
    assert_null(jwk_from_pkey(k, NULL));
    assert_null(jwk_thumbprint(k));
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(jwk_private_to_der(k, &der, &len), -1);
    EVP_PKEY_free(k);
    assert_false(jwk_is_p256(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_key_parses),
        cmocka_unit_test(test_extra_members_tolerated),
        cmocka_unit_test(test_reject_private_member),
        cmocka_unit_test(test_reject_kty_crv),
        cmocka_unit_test(test_reject_alg_use),
        cmocka_unit_test(test_reject_coordinate_encoding),
        cmocka_unit_test(test_reject_invalid_points),
        cmocka_unit_test(test_point_reload),
        cmocka_unit_test(test_reject_non_objects),
        cmocka_unit_test(test_generate_round_trip),
        cmocka_unit_test(test_leading_zero_coordinate),
        cmocka_unit_test(test_thumbprint_rfc_key),
        cmocka_unit_test(test_private_der_round_trip),
        cmocka_unit_test(test_private_der_needs_private_key),
        cmocka_unit_test(test_other_curves_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
