/* Unit tests for protocol/jws: RFC 7515 A.3, round trips, and every rejection path of
 * jws_verify_es256 and jws_peek. Tokens with hostile headers are signed here by hand
 * (properly, with the right key) so that each test fails for exactly one reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"

#define RFC_JWS                                                                                    \
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLm"  \
    "NvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"                                    \
    "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"                                                         \
    "xfKTUJqPP3-Kg6NU1Q"
#define RFC_JWK                                                                                    \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","     \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
#define TYP "pushgate-device+jwt"
#define GOOD_HDR "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"kid\":\"d_device01\"}"
#define GOOD_PAYLOAD "{\"htm\":\"GET\",\"htu\":\"/device\",\"iat\":1795000000}"

static const unsigned char p256_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static EVP_PKEY *key;   /* signs the test tokens */
static EVP_PKEY *other; /* an unrelated key */

static int setup(void **state)
{
    (void)state;
    key = jwk_generate_p256();
    other = jwk_generate_p256();
    return key && other ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
    return 0;
}

static char *b64_text(const char *text)
{
    return b64url_encode((const unsigned char *)text, strlen(text));
}

/* "<b64 hdr>.<b64 payload>", malloc'd. */
static char *signing_input(const char *hdr, const char *payload)
{
    char *h = b64_text(hdr), *p = b64_text(payload);
    char *out = malloc(strlen(h) + strlen(p) + 2);
    strcpy(out, h);
    strcat(out, ".");
    strcat(out, p);
    free(h);
    free(p);
    return out;
}

/* DER signature over msg with k, as OpenSSL produces it. */
static size_t der_sign(EVP_PKEY *k, const char *msg, unsigned char *der, size_t dersz)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    size_t len = dersz;
    assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(m, der, &len, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(m);
    return len;
}

/* JOSE r||s signature over msg with k. */
static void raw_sign(EVP_PKEY *k, const char *msg, unsigned char raw[64])
{
    unsigned char der[80];
    size_t len = der_sign(k, msg, der, sizeof(der));
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(sig);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
}

/* input + "." + b64(sig), malloc'd; frees input. */
static char *attach(char *input, const unsigned char *sig, size_t siglen)
{
    char *s = b64url_encode(sig, siglen);
    char *out = malloc(strlen(input) + strlen(s) + 2);
    strcpy(out, input);
    strcat(out, ".");
    strcat(out, s);
    free(s);
    free(input);
    return out;
}

/* A correctly signed token over arbitrary header and payload text. */
static char *make(EVP_PKEY *k, const char *hdr, const char *payload)
{
    unsigned char raw[64];
    char *in = signing_input(hdr, payload);
    raw_sign(k, in, raw);
    return attach(in, raw, sizeof(raw));
}

static void expect_fail(const char *compact, EVP_PKEY *k, const char *typ)
{
    json_t *h = (json_t *)1, *p = (json_t *)1;
    assert_int_equal(jws_verify_es256(compact, k, typ, &h, &p), -1);
    assert_null(h);
    assert_null(p);
}

static void expect_ok(const char *compact, EVP_PKEY *k, const char *typ)
{
    json_t *h = NULL, *p = NULL;
    assert_int_equal(jws_verify_es256(compact, k, typ, &h, &p), 0);
    assert_true(json_is_object(h));
    assert_true(json_is_object(p));
    json_decref(h);
    json_decref(p);
}

static EVP_PKEY *rfc_key(void)
{
    json_t *j = json_loads(RFC_JWK, 0, NULL);
    EVP_PKEY *k = jwk_to_pkey(j);
    json_decref(j);
    assert_non_null(k);
    return k;
}

/* RFC 7515 A.3 has header {"alg":"ES256"} with no "typ": verified with expect_typ NULL. */
static void test_rfc7515_a3(void **state)
{
    (void)state;
    EVP_PKEY *k = rfc_key();
    json_t *h = NULL, *p = NULL;
    assert_int_equal(jws_verify_es256(RFC_JWS, k, NULL, &h, &p), 0);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(p, "iss")), "joe");
    assert_int_equal(json_integer_value(json_object_get(p, "exp")), 1300819380);
    assert_true(json_is_true(json_object_get(p, "http://example.com/is_root")));
    json_decref(h);
    json_decref(p);
    /* Outputs are optional. */
    assert_int_equal(jws_verify_es256(RFC_JWS, k, NULL, NULL, NULL), 0);
    /* A typed verify refuses the untyped token. */
    expect_fail(RFC_JWS, k, "JWT");
    /* The last signature character changed (Q -> A): low bits of s flipped. */
    char *t = strdup(RFC_JWS);
    t[strlen(t) - 1] = 'A';
    expect_fail(t, k, NULL);
    free(t);
    expect_fail(RFC_JWS, key, NULL); /* another key */
    EVP_PKEY_free(k);
}

static void test_sign_verify_round_trip(void **state)
{
    (void)state;
    json_t *payload = json_loads(GOOD_PAYLOAD, 0, NULL);
    char *jws = jws_sign_es256(key, TYP, "d_device01", payload);
    assert_non_null(jws);
    json_t *h = NULL, *p = NULL;
    assert_int_equal(jws_verify_es256(jws, key, TYP, &h, &p), 0);
    assert_true(json_equal(p, payload));
    char *htext = json_dumps(h, JSON_COMPACT);
    assert_string_equal(htext, GOOD_HDR); /* member order alg, typ, kid */
    free(htext);
    json_decref(h);
    json_decref(p);
    expect_fail(jws, other, TYP);
    expect_fail(jws, key, NULL); /* typ present but an untyped verify wants none */
    expect_fail(jws, key, "pushgate-response+jwt");
    expect_fail(jws, key, "PUSHGATE-DEVICE+JWT"); /* exact match */
    free(jws);
    /* typ and kid are optional on the signing side. */
    jws = jws_sign_es256(key, NULL, NULL, payload);
    assert_non_null(jws);
    assert_int_equal(jws_verify_es256(jws, key, NULL, &h, NULL), 0);
    assert_int_equal(json_object_size(h), 1);
    json_decref(h);
    free(jws);
    json_decref(payload);
}

static void test_hand_made_good_token(void **state)
{
    (void)state;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    expect_ok(t, key, TYP);
    free(t);
}

static void test_reject_alg(void **state)
{
    (void)state;
    static const char *hdrs[] = {
        "{\"alg\":\"none\",\"typ\":\"" TYP "\"}",   "{\"alg\":\"HS256\",\"typ\":\"" TYP "\"}",
        "{\"alg\":\"ES384\",\"typ\":\"" TYP "\"}",  "{\"alg\":\"es256\",\"typ\":\"" TYP "\"}",
        "{\"alg\":\"ES256 \",\"typ\":\"" TYP "\"}", "{\"typ\":\"" TYP "\"}",
        "{\"alg\":null,\"typ\":\"" TYP "\"}",       "{\"alg\":[\"ES256\"],\"typ\":\"" TYP "\"}",
        "{\"alg\":\"EdDSA\",\"typ\":\"" TYP "\"}",  "{\"alg\":\"RS256\",\"typ\":\"" TYP "\"}",
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *t = make(key, hdrs[i], GOOD_PAYLOAD);
        expect_fail(t, key, TYP);
        free(t);
    }
    /* alg none in its usual form: empty signature part. */
    char *in = signing_input("{\"alg\":\"none\"}", GOOD_PAYLOAD);
    char *t = malloc(strlen(in) + 2);
    strcpy(t, in);
    strcat(t, ".");
    expect_fail(t, key, NULL);
    free(t);
    free(in);
}

static void test_reject_header_members(void **state)
{
    (void)state;
    static const char *hdrs[] = {
        "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"crit\":[\"exp\"],\"exp\":1}",
        "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"crit\":[]}",
        "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"kid\":7}",
        "{\"alg\":\"ES256\",\"typ\":7}",
        "{\"alg\":\"ES256\"}",                                       /* typ missing */
        "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"typ\":\"" TYP "\"}", /* duplicate member */
        "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"typ\":\"x\"}",
        "[\"ES256\"]",
        "\"ES256\"",
        "{\"alg\":\"ES256\",\"typ\":\"" TYP "\"", /* truncated JSON */
        "{\"alg\":\"ES256\",\"typ\":\"pushgate-device+jwt\\u0000\"}",
    };
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        char *t = make(key, hdrs[i], GOOD_PAYLOAD);
        expect_fail(t, key, TYP);
        free(t);
    }
    /* Unknown members (including key-carrying ones we ignore) are fine. */
    char *t = make(key, "{\"alg\":\"ES256\",\"typ\":\"" TYP "\",\"jwk\":{\"kty\":\"EC\"},\"x\":1}",
                   GOOD_PAYLOAD);
    expect_ok(t, key, TYP);
    free(t);
}

static void test_reject_payload(void **state)
{
    (void)state;
    static const char *payloads[] = {
        "[1,2]", "\"text\"", "42", "{\"a\":1,\"a\":2}", "{\"a\":", "not json",
    };
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        char *t = make(key, GOOD_HDR, payloads[i]);
        expect_fail(t, key, TYP);
        free(t);
    }
}

static void test_reject_signature_lengths(void **state)
{
    (void)state;
    unsigned char raw[66];
    char *in = signing_input(GOOD_HDR, GOOD_PAYLOAD);
    raw_sign(key, in, raw);
    raw[64] = 0;
    raw[65] = 0;
    char *t = attach(strdup(in), raw, 63);
    expect_fail(t, key, TYP);
    free(t);
    t = attach(strdup(in), raw, 65); /* valid r||s plus one zero byte */
    expect_fail(t, key, TYP);
    free(t);
    t = attach(strdup(in), raw, 0);
    expect_fail(t, key, TYP);
    free(t);
    /* A valid DER signature, as a naive OpenSSL caller would send it. */
    unsigned char der[80];
    size_t derlen = der_sign(key, in, der, sizeof(der));
    t = attach(strdup(in), der, derlen);
    expect_fail(t, key, TYP);
    free(t);
    /* The correct signature still passes (the helpers are sound). */
    t = attach(in, raw, 64);
    expect_ok(t, key, TYP);
    free(t);
}

/* r and s must both be in [1, n-1]: zero and n (and beyond) are refused before OpenSSL. */
static void test_reject_scalar_range(void **state)
{
    (void)state;
    unsigned char good[64], raw[64];
    char *in = signing_input(GOOD_HDR, GOOD_PAYLOAD);
    raw_sign(key, in, good);
    struct {
        int half;
        int kind;
    } cases[] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 2}, {1, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(raw, good, 64);
        unsigned char *v = raw + 32 * cases[i].half;
        if (cases[i].kind == 0)
            memset(v, 0, 32); /* 0 */
        else if (cases[i].kind == 1)
            memcpy(v, p256_n, 32); /* n */
        else
            memset(v, 0xff, 32); /* 2^256 - 1 */
        char *t = attach(strdup(in), raw, 64);
        expect_fail(t, key, TYP);
        free(t);
    }
    memset(raw, 0, 64); /* r = s = 0: the "psychic signature" (CVE-2022-21449) */
    char *t = attach(strdup(in), raw, 64);
    expect_fail(t, key, TYP);
    free(t);
    free(in);
}

/* ECDSA is malleable: (r, n - s) verifies as well. We accept it (devices may produce
 * either form) and document that signatures are never replay keys. */
static void test_high_s_is_valid_ecdsa(void **state)
{
    (void)state;
    unsigned char raw[64];
    char *in = signing_input(GOOD_HDR, GOOD_PAYLOAD);
    raw_sign(key, in, raw);
    BIGNUM *n = BN_bin2bn(p256_n, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    assert_int_equal(BN_sub(s, n, s), 1);
    assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
    char *t = attach(in, raw, 64);
    expect_ok(t, key, TYP);
    free(t);
    BN_free(n);
    BN_free(s);
}

static void test_reject_bit_flips(void **state)
{
    (void)state;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    size_t len = strlen(t);
    /* Flip every character to another alphabet character; none may verify. */
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '.')
            continue;
        char saved = t[i];
        t[i] = saved == 'A' ? 'B' : 'A';
        json_t *h = NULL, *p = NULL;
        int rc = jws_verify_es256(t, key, TYP, &h, &p);
        if (rc == 0) {
            /* Only a change in the unused trailing bits could decode to the same bytes,
             * and canonical decoding rejects that too. */
            fail_msg("flip at %zu verified", i);
        }
        t[i] = saved;
    }
    expect_ok(t, key, TYP);
    free(t);
}

static void test_reject_structure(void **state)
{
    (void)state;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    expect_fail(NULL, key, TYP);
    expect_fail("", key, TYP);
    expect_fail("..", key, TYP);
    expect_fail("a.b", key, TYP);
    expect_fail("a.b.c.d", key, TYP);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s.", t); /* 4 parts, last empty */
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), "%s.x", t);
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), "%.*s", (int)(dot2 - t + 1), t); /* empty signature */
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), ".%s", dot1 + 1); /* empty header */
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), "%.*s.%s", (int)(dot1 - t), t, dot2); /* empty payload */
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), "%s=", t); /* padding on the signature */
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), " %s", t);
    expect_fail(buf, key, TYP);
    snprintf(buf, sizeof(buf), "%s\n", t);
    expect_fail(buf, key, TYP);
    /* JWS JSON serialization is not accepted. */
    expect_fail("{\"payload\":\"e30\",\"signatures\":[]}", key, TYP);
    free(t);
}

static void test_reject_bad_keys(void **state)
{
    (void)state;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    expect_fail(t, NULL, TYP);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    expect_fail(t, p384, TYP);
    EVP_PKEY_free(p384);
    free(t);
}

/* Signed with the right key, but longer than JWS_MAX_LEN: refused before decoding. */
static void test_size_limit(void **state)
{
    (void)state;
    size_t best_ok = 0, first_bad = 0;
    char *pad = malloc(JWS_MAX_LEN);
    for (size_t n = 12100; n < 12400 && first_bad == 0; n++) {
        memset(pad, 'a', n);
        pad[n] = '\0';
        char payload[JWS_MAX_LEN];
        snprintf(payload, sizeof(payload), "{\"p\":\"%s\"}", pad);
        char *t = make(key, GOOD_HDR, payload);
        size_t len = strlen(t);
        json_t *h = NULL;
        int rc = jws_verify_es256(t, key, TYP, &h, NULL);
        json_decref(h);
        if (len <= JWS_MAX_LEN) {
            assert_int_equal(rc, 0);
            best_ok = len;
        } else {
            assert_int_equal(rc, -1);
            first_bad = len;
            json_t *pl = json_loads(payload, 0, NULL);
            assert_null(jws_sign_es256(key, TYP, "d_device01", pl)); /* sign refuses too */
            json_decref(pl);
        }
        free(t);
    }
    free(pad);
    assert_true(best_ok > JWS_MAX_LEN - 4 && first_bad > JWS_MAX_LEN);
}

static void test_peek(void **state)
{
    (void)state;
    json_t *h = NULL, *p = NULL;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    assert_int_equal(jws_peek(t, &h, &p), 0);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "d_device01");
    assert_string_equal(json_string_value(json_object_get(p, "htm")), "GET");
    json_decref(h);
    json_decref(p);
    /* No verification: a wrong signature or alg still parses. */
    t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(jws_peek(t, &h, &p), 0);
    json_decref(h);
    json_decref(p);
    free(t);
    t = make(key, "{\"alg\":\"none\"}", GOOD_PAYLOAD);
    assert_int_equal(jws_peek(t, &h, &p), 0);
    json_decref(h);
    json_decref(p);
    free(t);
}

static void test_peek_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {"",          "a.b",          "a.b.c.d",      "..",
                                "e30.e30.",  ".e30.AAAA",    "e30..AAAA",    "e30.e30.AA=A",
                                "e30.e30.A", "W10.e30.AAAA", "e30.W10.AAAA", "e30.e30.AA+A"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *h = (json_t *)1, *p = (json_t *)1;
        assert_int_equal(jws_peek(bad[i], &h, &p), -1);
        assert_null(h);
        assert_null(p);
    }
    json_t *h = NULL, *p = NULL;
    assert_int_equal(jws_peek("e30.e30.AAAA", &h, &p), 0); /* {} . {} . 3 bytes */
    json_decref(h);
    json_decref(p);
    char *dup = make(key, "{\"kid\":\"a\",\"kid\":\"b\"}", GOOD_PAYLOAD);
    assert_int_equal(jws_peek(dup, &h, &p), -1);
    free(dup);
}

static void test_peek_header(void **state)
{
    (void)state;
    json_t *h = NULL;
    char *t = make(key, GOOD_HDR, GOOD_PAYLOAD);
    assert_int_equal(jws_peek_header(t, &h), 0);
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "d_device01");
    json_decref(h);
    free(t);
    /* payload and signature are left to jws_verify_es256: not decoded here */
    assert_int_equal(jws_peek_header("e30.!!!.!!!", &h), 0);
    json_decref(h);
    static const char *bad[] = {
        "",          "a.b",          "a.b.c.d",       "..",          "e30.e30.", ".e30.AAAA",
        "e30..AAAA", "W10.e30.AAAA", "e30=.e30.AAAA", "e3+.e30.AAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h = (json_t *)1;
        assert_int_equal(jws_peek_header(bad[i], &h), -1);
        assert_null(h);
    }
    char *dup = make(key, "{\"kid\":\"a\",\"kid\":\"b\"}", GOOD_PAYLOAD);
    assert_int_equal(jws_peek_header(dup, &h), -1);
    free(dup);
}

static void test_sign_rejects(void **state)
{
    (void)state;
    json_t *arr = json_pack("[i]", 1);
    assert_null(jws_sign_es256(key, TYP, NULL, arr));
    json_decref(arr);
    json_t *obj = json_pack("{s:i}", "a", 1);
    assert_null(jws_sign_es256(NULL, TYP, NULL, obj));
    EVP_PKEY *pub = rfc_key(); /* no private part */
    assert_null(jws_sign_es256(pub, TYP, NULL, obj));
    EVP_PKEY_free(pub);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a3),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_hand_made_good_token),
        cmocka_unit_test(test_reject_alg),
        cmocka_unit_test(test_reject_header_members),
        cmocka_unit_test(test_reject_payload),
        cmocka_unit_test(test_reject_signature_lengths),
        cmocka_unit_test(test_reject_scalar_range),
        cmocka_unit_test(test_high_s_is_valid_ecdsa),
        cmocka_unit_test(test_reject_bit_flips),
        cmocka_unit_test(test_reject_structure),
        cmocka_unit_test(test_reject_bad_keys),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_peek_rejects),
        cmocka_unit_test(test_peek_header),
        cmocka_unit_test(test_sign_rejects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
