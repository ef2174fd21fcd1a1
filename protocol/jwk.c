#include "jwk.h"

#include "b64url.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWK_COORD_LEN 32

int jwk_is_p256(const EVP_PKEY *key)
{
    char name[64];
    size_t len = 0;
    if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
        return 0;
    if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
        return 0;
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0;
}

/* 1 when v is a JSON string exactly equal to want. The length check matters because a
 * json_t built in code (not parsed) may hold an embedded NUL that strcmp would not see. */
static int jwk_str_is(const json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           strcmp(json_string_value(v), want) == 0;
}

/* Optional member: absent is fine, present must be the string want. */
static int jwk_optional_is(const json_t *jwk, const char *name, const char *want)
{
    const json_t *v = json_object_get(jwk, name);
    return v == NULL || jwk_str_is(v, want);
}

/* Decodes coordinate member name into exactly JWK_COORD_LEN bytes at out. */
static int jwk_coord(const json_t *jwk, const char *name, unsigned char *out)
{
    const json_t *v = json_object_get(jwk, name);
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (!json_is_string(v))
        return -1;
    if (b64url_decode(json_string_value(v), json_string_length(v), &raw, &rawlen) != 0)
        return -1;
    int rc = -1;
    if (rawlen == JWK_COORD_LEN) {
        memcpy(out, raw, JWK_COORD_LEN);
        rc = 0;
    }
    free(raw);
    return rc;
}

/* Decodes an uncompressed point 04||x||y as a P-256 public key through ctx (an "EC"
 * context, reusable). OpenSSL rejects coordinates >= p and points off the curve while
 * decoding. */
static EVP_PKEY *jwk_decode_point(EVP_PKEY_CTX *ctx, const unsigned char *pt, size_t ptlen)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, ptlen);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

/* Imports an uncompressed point as a P-256 public key: decoding, then the quick public
 * check, which repeats decoding's checks and rejects infinity. For P-256 (cofactor 1)
 * that is a full validation, so the expensive n*Q check of EVP_PKEY_public_check adds
 * nothing. */
static EVP_PKEY *jwk_import_point(const unsigned char *pt, size_t ptlen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = jwk_decode_point(ctx, pt, ptlen);
    EVP_PKEY_CTX_free(ctx);
    if (pkey == NULL)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_public_check_quick(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

int jwk_to_point(const json_t *jwk, unsigned char pt[JWK_POINT_LEN])
{
    if (!json_is_object(jwk) || !jwk_str_is(json_object_get(jwk, "kty"), "EC") ||
        !jwk_str_is(json_object_get(jwk, "crv"), "P-256"))
        return -1;
    if (json_object_get(jwk, "d") != NULL || !jwk_optional_is(jwk, "alg", "ES256") ||
        !jwk_optional_is(jwk, "use", "sig"))
        return -1;
    pt[0] = 0x04; /* uncompressed point form */
    if (jwk_coord(jwk, "x", pt + 1) != 0 || jwk_coord(jwk, "y", pt + 1 + JWK_COORD_LEN) != 0)
        return -1;
    return 0;
}

EVP_PKEY *jwk_point_to_pkey(const unsigned char pt[JWK_POINT_LEN])
{
    return jwk_import_point(pt, JWK_POINT_LEN);
}

EVP_PKEY_CTX *jwk_reload_ctx_new(void)
{
    return EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
}

EVP_PKEY *jwk_point_reload(EVP_PKEY_CTX *ctx, const unsigned char pt[JWK_POINT_LEN])
{
    return jwk_decode_point(ctx, pt, JWK_POINT_LEN);
}

EVP_PKEY *jwk_to_pkey(const json_t *jwk)
{
    unsigned char pt[JWK_POINT_LEN];
    return jwk_to_point(jwk, pt) == 0 ? jwk_point_to_pkey(pt) : NULL;
}

/* Fetches both affine coordinates, left-padded to 32 bytes, as base64url strings. */
static int jwk_coords_b64(const EVP_PKEY *key, char x[44], char y[44])
{
    BIGNUM *bx = NULL, *by = NULL;
    unsigned char bx_raw[JWK_COORD_LEN], by_raw[JWK_COORD_LEN];
    int rc = -1;
    if (!jwk_is_p256(key))
        return -1;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1)
        goto out;
    if (BN_bn2binpad(bx, bx_raw, JWK_COORD_LEN) != JWK_COORD_LEN ||
        BN_bn2binpad(by, by_raw, JWK_COORD_LEN) != JWK_COORD_LEN)
        goto out;
    if (b64url_encode_to(bx_raw, JWK_COORD_LEN, x, 44) != 0 ||
        b64url_encode_to(by_raw, JWK_COORD_LEN, y, 44) != 0)
        goto out;
    rc = 0;
out:
    BN_free(bx);
    BN_free(by);
    return rc;
}

json_t *jwk_from_pkey(const EVP_PKEY *key, const char *kid)
{
    char x[44], y[44];
    if (jwk_coords_b64(key, x, y) != 0)
        return NULL;
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
    if (jwk == NULL || kid == NULL)
        return jwk;
    if (json_object_set_new(jwk, "kid", json_string(kid)) != 0 ||
        json_object_set_new(jwk, "use", json_string("sig")) != 0 ||
        json_object_set_new(jwk, "alg", json_string("ES256")) != 0) {
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

EVP_PKEY *jwk_generate_p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Copies an OpenSSL-allocated secret into a plain malloc'd buffer, so that callers can
 * use free() as the contract says, and wipes the original. */
static unsigned char *jwk_dup_secret(unsigned char *src, size_t len)
{
    unsigned char *dst = malloc(len ? len : 1);
    if (dst != NULL)
        memcpy(dst, src, len);
    OPENSSL_clear_free(src, len);
    return dst;
}

int jwk_private_to_der(const EVP_PKEY *key, unsigned char **der, size_t *len)
{
    unsigned char *buf = NULL;
    size_t buflen = 0;
    *der = NULL;
    *len = 0;
    if (!jwk_is_p256(key))
        return -1;
    OSSL_ENCODER_CTX *ectx =
        OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_KEYPAIR, "DER", "PrivateKeyInfo", NULL);
    if (ectx == NULL)
        return -1;
    int ok = OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0 &&
             OSSL_ENCODER_to_data(ectx, &buf, &buflen) == 1;
    OSSL_ENCODER_CTX_free(ectx);
    if (!ok || buf == NULL)
        return -1;
    *der = jwk_dup_secret(buf, buflen);
    if (*der == NULL)
        return -1;
    *len = buflen;
    return 0;
}

EVP_PKEY *jwk_private_from_der(const unsigned char *der, size_t len)
{
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = der;
    size_t left = len;
    if (der == NULL || len == 0)
        return NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo", "EC",
                                                           EVP_PKEY_KEYPAIR, NULL, NULL);
    if (dctx == NULL)
        return NULL;
    int ok = OSSL_DECODER_from_data(dctx, &p, &left) == 1;
    OSSL_DECODER_CTX_free(dctx);
    /* Trailing bytes mean the blob is not what we stored: refuse it. */
    if (!ok || left != 0 || !jwk_is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

char *jwk_thumbprint(const EVP_PKEY *key)
{
    char x[44], y[44], json[160];
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (jwk_coords_b64(key, x, y) != 0)
        return NULL;
    /* RFC 7638 3.2: required members only, lexicographic order, no whitespace. */
    int n = snprintf(json, sizeof(json),
                     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    if (n < 0 || (size_t)n >= sizeof(json))
        return NULL;
    if (EVP_Digest(json, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return NULL;
    return b64url_encode(md, sizeof(md));
}
