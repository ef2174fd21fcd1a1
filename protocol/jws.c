#include "jws.h"

#include "b64url.h"
#include "ecdsa_der.h"
#include "jwk.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <stdlib.h>
#include <string.h>

#define JWS_COORD_LEN 32
#define JWS_SIG_LEN (2 * JWS_COORD_LEN)

/* Order n of the P-256 group (FIPS 186-4 D.1.2.3), big-endian. */
static const unsigned char jws_p256_order[JWS_COORD_LEN] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

/* The three segments of a compact JWS, pointing into the caller's string. */
struct jws_parts {
    const char *p[3];
    size_t n[3];
    size_t signing_len; /* length of "<header>.<payload>" */
};

/* Splits into exactly three non-empty parts. Length is bounded before anything else. */
static int jws_split(const char *compact, struct jws_parts *parts)
{
    if (compact == NULL)
        return -1;
    size_t len = strnlen(compact, JWS_MAX_LEN + 1);
    if (len > JWS_MAX_LEN)
        return -1;
    const char *d1 = memchr(compact, '.', len);
    if (d1 == NULL)
        return -1;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - compact));
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - compact)) != NULL)
        return -1;
    parts->p[0] = compact;
    parts->n[0] = (size_t)(d1 - compact);
    parts->p[1] = d1 + 1;
    parts->n[1] = (size_t)(d2 - d1 - 1);
    parts->p[2] = d2 + 1;
    parts->n[2] = len - (size_t)(d2 + 1 - compact);
    parts->signing_len = (size_t)(d2 - compact);
    return (parts->n[0] && parts->n[1] && parts->n[2]) ? 0 : -1;
}

/* Decodes one base64url part holding a JSON object (duplicates rejected). */
static json_t *jws_decode_object(const char *p, size_t n)
{
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (b64url_decode(p, n, &raw, &rawlen) != 0)
        return NULL;
    json_t *obj = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int jws_peek(const char *compact, json_t **header, json_t **payload)
{
    struct jws_parts parts;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    *header = NULL;
    *payload = NULL;
    if (jws_split(compact, &parts) != 0 ||
        b64url_decode(parts.p[2], parts.n[2], &sig, &siglen) != 0)
        return -1;
    free(sig);
    *header = jws_decode_object(parts.p[0], parts.n[0]);
    *payload = jws_decode_object(parts.p[1], parts.n[1]);
    if (*header == NULL || *payload == NULL) {
        json_decref(*header);
        json_decref(*payload);
        *header = NULL;
        *payload = NULL;
        return -1;
    }
    return 0;
}

int jws_peek_header(const char *compact, json_t **header)
{
    struct jws_parts parts;
    *header = NULL;
    if (jws_split(compact, &parts) != 0)
        return -1;
    *header = jws_decode_object(parts.p[0], parts.n[0]);
    return *header ? 0 : -1;
}

/* 1 when v is a JSON string exactly equal to want (length too: no embedded NUL games). */
static int jws_str_is(const json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           strcmp(json_string_value(v), want) == 0;
}

static int jws_check_header(const json_t *hdr, const char *expect_typ)
{
    const json_t *typ = json_object_get(hdr, "typ");
    const json_t *kid = json_object_get(hdr, "kid");
    if (!jws_str_is(json_object_get(hdr, "alg"), "ES256"))
        return -1;
    if (expect_typ != NULL ? !jws_str_is(typ, expect_typ) : typ != NULL)
        return -1;
    if (json_object_get(hdr, "crit") != NULL)
        return -1;
    if (kid != NULL && !json_is_string(kid))
        return -1;
    return 0;
}

/* 1 when the 32-byte big-endian scalar v satisfies 1 <= v <= n-1. Not secret: memcmp. */
static int jws_scalar_in_range(const unsigned char *v)
{
    static const unsigned char zero[JWS_COORD_LEN];
    return memcmp(v, zero, JWS_COORD_LEN) != 0 && memcmp(v, jws_p256_order, JWS_COORD_LEN) < 0;
}

/* Returns 1 only when OpenSSL says the signature is valid (it returns 0 for a bad
 * signature and a negative value for errors: both are failure here). raw is JOSE r||s. */
static int jws_digest_verify(EVP_PKEY *key, const char *msg, size_t msglen,
                             const unsigned char *raw)
{
    unsigned char der[ECDSA_DER_MAX];
    if (!jws_scalar_in_range(raw) || !jws_scalar_in_range(raw + JWS_COORD_LEN))
        return 0;
    size_t derlen = ecdsa_der_from_raw(raw, der);
    if (derlen == 0)
        return 0;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx != NULL && EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(mctx, der, derlen, (const unsigned char *)msg, msglen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

static int jws_check_signature(const struct jws_parts *parts, EVP_PKEY *key)
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (b64url_decode(parts->p[2], parts->n[2], &sig, &siglen) != 0)
        return -1;
    int ok = siglen == JWS_SIG_LEN && jws_digest_verify(key, parts->p[0], parts->signing_len, sig);
    free(sig);
    return ok ? 0 : -1;
}

int jws_verify_es256(const char *compact, EVP_PKEY *key, const char *expect_typ,
                     json_t **header_out, json_t **payload_out)
{
    struct jws_parts parts;
    json_t *hdr = NULL, *payload = NULL;
    if (header_out)
        *header_out = NULL;
    if (payload_out)
        *payload_out = NULL;
    if (!jwk_is_p256(key) || jws_split(compact, &parts) != 0)
        return -1;
    hdr = jws_decode_object(parts.p[0], parts.n[0]);
    if (hdr == NULL || jws_check_header(hdr, expect_typ) != 0 ||
        jws_check_signature(&parts, key) != 0)
        goto fail;
    /* Only authenticated bytes reach the payload parser. */
    payload = jws_decode_object(parts.p[1], parts.n[1]);
    if (payload == NULL)
        goto fail;
    if (header_out)
        *header_out = json_incref(hdr);
    if (payload_out)
        *payload_out = json_incref(payload);
    json_decref(hdr);
    json_decref(payload);
    return 0;
fail:
    json_decref(hdr);
    return -1;
}

/* Builds the protected header JSON text (compact, members in insertion order). */
static char *jws_header_json(const char *typ, const char *kid)
{
    json_t *hdr = json_pack("{s:s}", "alg", "ES256");
    if (hdr == NULL)
        return NULL;
    if ((typ && json_object_set_new(hdr, "typ", json_string(typ)) != 0) ||
        (kid && json_object_set_new(hdr, "kid", json_string(kid)) != 0)) {
        json_decref(hdr);
        return NULL;
    }
    char *text = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    return text;
}

/* Encodes text (JSON) as base64url; frees text. */
static char *jws_b64_text(char *text)
{
    if (text == NULL)
        return NULL;
    char *b64 = b64url_encode((const unsigned char *)text, strlen(text));
    free(text);
    return b64;
}

/* Signs msg and writes the JOSE r||s form into raw. */
static int jws_sign_raw(EVP_PKEY *key, const char *msg, size_t msglen, unsigned char *raw)
{
    unsigned char der[80]; /* DER ECDSA P-256 signature is at most 72 bytes */
    size_t derlen = sizeof(der);
    ECDSA_SIG *sig = NULL;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx != NULL && EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(mctx, der, &derlen, (const unsigned char *)msg, msglen) == 1;
    EVP_MD_CTX_free(mctx);
    const unsigned char *p = der;
    if (ok)
        sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    ok = sig != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, JWS_COORD_LEN) == JWS_COORD_LEN &&
         BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + JWS_COORD_LEN, JWS_COORD_LEN) == JWS_COORD_LEN;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

/* Joins "<a>.<b>" (and "<a>.<b>.<c>" when c != NULL) into a new malloc'd string. */
static char *jws_join(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *out = malloc(la + lb + lc + 3);
    if (out == NULL)
        return NULL;
    memcpy(out, a, la);
    out[la] = '.';
    memcpy(out + la + 1, b, lb);
    out[la + 1 + lb] = '\0';
    if (c != NULL) {
        out[la + 1 + lb] = '.';
        memcpy(out + la + 2 + lb, c, lc + 1);
    }
    return out;
}

char *jws_sign_es256(EVP_PKEY *key, const char *typ, const char *kid, const json_t *payload)
{
    unsigned char raw[JWS_SIG_LEN];
    char *out = NULL, *input = NULL, *sig = NULL;
    if (!json_is_object(payload) || !jwk_is_p256(key))
        return NULL;
    char *h = jws_b64_text(jws_header_json(typ, kid));
    char *p = jws_b64_text(json_dumps(payload, JSON_COMPACT));
    if (h == NULL || p == NULL)
        goto out;
    input = jws_join(h, p, NULL);
    if (input == NULL || jws_sign_raw(key, input, strlen(input), raw) != 0)
        goto out;
    sig = b64url_encode(raw, sizeof(raw));
    if (sig != NULL)
        out = jws_join(h, p, sig);
    /* A token its own verifier would refuse is a bug at the caller: fail here, loudly. */
    if (out != NULL && strlen(out) > JWS_MAX_LEN) {
        free(out);
        out = NULL;
    }
out:
    free(h);
    free(p);
    free(input);
    free(sig);
    return out;
}
