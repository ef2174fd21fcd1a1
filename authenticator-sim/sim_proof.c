#include "sim_proof.h"

#include "protocol/b64url.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "protocol/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

char *sim_registration_proof(EVP_PKEY *key, const char *registration_id)
{
    json_t *p =
        json_pack("{s:s, s:I}", "registrationId", registration_id, "iat", (json_int_t)time(NULL));
    char *jws = p ? jws_sign_es256(key, "pushgate-registration+jwt", NULL, p) : NULL;
    json_decref(p);
    return jws;
}

char *sim_device_authz(EVP_PKEY *key, const char *device_id, const char *method, const char *path)
{
    char jti[32];
    if (token_random_b64(jti, sizeof jti, 18) < 0) /* 24 characters, 144 bits */
        return NULL;
    json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "htm", method, "htu", path, "iat",
                          (json_int_t)time(NULL), "jti", jti);
    char *jws = p ? jws_sign_es256(key, "pushgate-device+jwt", device_id, p) : NULL;
    json_decref(p);
    if (!jws)
        return NULL;
    size_t n = strlen(jws) + sizeof "Device ";
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "Device %s", jws);
    free(jws);
    return h;
}

int sim_chal(const char *challenge_jws, char *out, size_t outsz)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(challenge_jws, strlen(challenge_jws), md, &n, EVP_sha256(), NULL) != 1 ||
        n != sizeof md)
        return -1;
    return b64url_encode_to(md, sizeof md, out, outsz);
}

char *sim_response(EVP_PKEY *key, const char *device_id, const char *request_id, const char *nonce,
                   const char *chal, const char *decision, const char *reason, const char *code)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I}", "requestId", request_id, "nonce", nonce,
                          "chal", chal, "decision", decision, "iat", (json_int_t)time(NULL));
    if (p && reason)
        json_object_set_new(p, "reason", json_string(reason));
    if (p && code)
        json_object_set_new(p, "code", json_string(code));
    char *jws = p ? jws_sign_es256(key, "pushgate-response+jwt", device_id, p) : NULL;
    json_decref(p);
    return jws;
}

struct sim_keyset {
    size_t n;
    char **kids; /* NULL entries for keys without a kid */
    EVP_PKEY **keys;
};

struct sim_keyset *sim_keyset_new(const json_t *jwks)
{
    json_t *arr = json_object_get(jwks, "keys");
    size_t cap = json_is_array(arr) ? json_array_size(arr) : 0;
    struct sim_keyset *ks = calloc(1, sizeof *ks);
    if (!ks || cap == 0)
        goto fail;
    ks->kids = calloc(cap, sizeof *ks->kids);
    ks->keys = calloc(cap, sizeof *ks->keys);
    if (!ks->kids || !ks->keys)
        goto fail;
    for (size_t i = 0; i < cap; i++) {
        json_t *jwk = json_array_get(arr, i);
        EVP_PKEY *k = jwk_to_pkey(jwk); /* refuses anything but a P-256 public key */
        if (!k)
            continue;
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        ks->kids[ks->n] = kid ? strdup(kid) : NULL;
        ks->keys[ks->n++] = k;
    }
    if (ks->n > 0)
        return ks;
fail:
    sim_keyset_free(ks);
    return NULL;
}

void sim_keyset_free(struct sim_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->kids[i]);
        EVP_PKEY_free(ks->keys[i]);
    }
    free(ks->kids);
    free(ks->keys);
    free(ks);
}

/* Verifies under the pinned key named by kid (or any pinned key when there is no kid). */
static json_t *verify_pinned(const struct sim_keyset *ks, const char *jws)
{
    json_t *hdr = NULL, *payload = NULL;
    if (jws_peek(jws, &hdr, &payload) < 0)
        return NULL;
    json_decref(payload);
    payload = NULL;
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    for (size_t i = 0; i < ks->n && !payload; i++) {
        if (kid && (!ks->kids[i] || strcmp(kid, ks->kids[i]) != 0))
            continue;
        if (jws_verify_es256(jws, ks->keys[i], "pushgate-challenge+jwt", NULL, &payload) < 0)
            payload = NULL;
    }
    json_decref(hdr);
    return payload;
}

json_t *sim_challenge_check(const struct sim_keyset *ks, const char *jws, const char *device_id,
                            const char *request_id, const char **why)
{
    char chal[SIM_CHAL_SIZE];
    json_t *p = jws ? verify_pinned(ks, jws) : NULL;
    const char *dev = json_string_value(json_object_get(p, "deviceId"));
    const char *rid = json_string_value(json_object_get(p, "requestId"));
    *why = NULL;
    if (!p)
        *why = "its signature does not verify under the server keys pinned at enrolment";
    else if (!dev || strcmp(dev, device_id) != 0)
        *why = "it is addressed to another device";
    else if (!rid || !request_id || strcmp(rid, request_id) != 0)
        *why = "its requestId does not match the one it was listed under";
    else if (!json_is_string(json_object_get(p, "nonce")))
        *why = "it carries no nonce";
    else if (sim_chal(jws, chal, sizeof chal) < 0)
        *why = "it cannot be hashed";
    if (*why) {
        json_decref(p);
        return NULL;
    }
    json_object_set_new(p, "chal", json_string(chal));
    return p;
}
