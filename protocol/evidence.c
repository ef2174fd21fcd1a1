#include "evidence.h"

#include "b64url.h"
#include "jwk.h"
#include "jws.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* What the steps learn and pass on. The payloads are verified ones (owned). */
struct ev {
    const json_t *auth, *jwks, *device_jwk;
    const char *challenge, *evidence;
    json_t *request_id, *device_id, *status; /* borrowed from auth, strings */
    json_t *chal_claims, *ev_claims;
};

/* 1 when v is a JSON string exactly equal to want (length too: no embedded NUL games). */
static int str_is(const json_t *v, const char *want)
{
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           strcmp(json_string_value(v), want) == 0;
}

/* A member, with JSON null read as absent (api.md 1). */
static json_t *member(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

static const char *check_object(struct ev *e)
{
    json_t *challenge = member(e->auth, "challenge"), *evidence = member(e->auth, "evidence");
    e->request_id = member(e->auth, "requestId");
    e->status = member(e->auth, "status");
    e->device_id = member(e->auth, "deviceId");
    if (!json_is_object(e->auth) || !json_is_string(e->request_id) || !json_is_string(e->status))
        return "malformed_auth_object";
    if (!str_is(e->status, "accepted") && !str_is(e->status, "denied"))
        return "not_decided";
    if (evidence == NULL)
        return "no_evidence";
    if (challenge == NULL)
        return "no_challenge";
    if (!json_is_string(evidence) || !json_is_string(challenge) || !json_is_string(e->device_id))
        return "malformed_auth_object";
    e->challenge = json_string_value(challenge);
    e->evidence = json_string_value(evidence);
    return NULL;
}

/* The JWKS member of keys whose "kid" is kid, or NULL. */
static const json_t *jwks_find(const json_t *keys, const json_t *kid)
{
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (json_is_string(json_object_get(k, "kid")) && json_equal(json_object_get(k, "kid"), kid))
            return k;
    }
    return NULL;
}

/* The checks of a JWS header that name their own reason (jws_verify_es256 would only say
 * "no"). reasons[]: malformed, alg, typ. */
static const char *check_header(const char *compact, const char *typ, json_t **hdr,
                                const char *const reasons[3])
{
    if (jws_peek_header(compact, hdr) != 0)
        return reasons[0];
    if (!str_is(json_object_get(*hdr, "alg"), "ES256"))
        return reasons[1];
    if (!str_is(json_object_get(*hdr, "typ"), typ))
        return reasons[2];
    return NULL;
}

static const char *const challenge_header_reasons[3] = {
    "challenge_malformed", "challenge_alg_invalid", "challenge_typ_invalid"};

/* Step 2: the challenge verifies under the JWKS key its kid names. */
static const char *verify_challenge(struct ev *e)
{
    json_t *hdr = NULL;
    const json_t *keys = json_object_get(e->jwks, "keys");
    const char *why =
        check_header(e->challenge, EVIDENCE_CHALLENGE_TYP, &hdr, challenge_header_reasons);
    if (why == NULL && !json_is_array(keys))
        why = "jwks_malformed";
    const json_t *jwk = why == NULL ? jwks_find(keys, json_object_get(hdr, "kid")) : NULL;
    if (why == NULL && jwk == NULL)
        why = "challenge_kid_unknown";
    EVP_PKEY *key = why == NULL ? jwk_to_pkey(jwk) : NULL;
    if (why == NULL && key == NULL)
        why = "jwks_key_invalid";
    if (why == NULL &&
        jws_verify_es256(e->challenge, key, EVIDENCE_CHALLENGE_TYP, NULL, &e->chal_claims) != 0)
        why = "challenge_signature_invalid";
    EVP_PKEY_free(key);
    json_decref(hdr);
    return why;
}

/* Object members that, where the object has them, the challenge must show alike. */
static const struct {
    const char *name, *reason;
} shown[] = {
    {"username", "challenge_username_mismatch"},       {"type", "challenge_type_mismatch"},
    {"message", "challenge_message_mismatch"},         {"context", "challenge_context_mismatch"},
    {"transaction", "challenge_transaction_mismatch"},
};

/* The application the object names, if any: "applicationId" or "application".id. */
static const char *check_application(const struct ev *e, const json_t *app_id)
{
    json_t *own = member(e->auth, "applicationId");
    json_t *app = member(e->auth, "application");
    if (own != NULL && !json_equal(own, app_id))
        return "challenge_application_mismatch";
    if (app != NULL && !json_equal(json_is_object(app) ? json_object_get(app, "id") : app, app_id))
        return "challenge_application_mismatch";
    return NULL;
}

/* Step 3: the challenge is about this request, this device, this user. */
static const char *check_challenge_claims(const struct ev *e)
{
    const json_t *c = e->chal_claims;
    const json_t *app = json_object_get(c, "application");
    const json_t *app_id = json_object_get(app, "id");
    if (!json_is_string(json_object_get(c, "requestId")) ||
        !json_is_string(json_object_get(c, "deviceId")) ||
        !json_is_string(json_object_get(c, "nonce")) ||
        !json_is_string(json_object_get(c, "username")) || !json_is_string(app_id))
        return "challenge_claims_invalid";
    if (!json_equal(json_object_get(c, "requestId"), e->request_id))
        return "challenge_request_mismatch";
    if (!json_equal(json_object_get(c, "deviceId"), e->device_id))
        return "challenge_device_mismatch";
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        const json_t *want = member(e->auth, shown[i].name);
        if (want != NULL && !json_equal(want, json_object_get(c, shown[i].name)))
            return shown[i].reason;
    }
    return check_application(e, app_id);
}

static const char *const evidence_header_reasons[3] = {"evidence_malformed", "evidence_alg_invalid",
                                                       "evidence_typ_invalid"};

/* Step 4: the evidence is the deciding device's, under its key. */
static const char *verify_evidence(struct ev *e)
{
    json_t *hdr = NULL;
    const char *why =
        check_header(e->evidence, EVIDENCE_RESPONSE_TYP, &hdr, evidence_header_reasons);
    if (why == NULL && !json_equal(json_object_get(hdr, "kid"), e->device_id))
        why = "evidence_kid_mismatch";
    EVP_PKEY *key = why == NULL ? jwk_to_pkey(e->device_jwk) : NULL;
    if (why == NULL && key == NULL)
        why = "device_key_invalid";
    if (why == NULL &&
        jws_verify_es256(e->evidence, key, EVIDENCE_RESPONSE_TYP, NULL, &e->ev_claims) != 0)
        why = "evidence_signature_invalid";
    EVP_PKEY_free(key);
    json_decref(hdr);
    return why;
}

/* base64url(SHA-256(jws)) without padding equals chal (a JSON string). */
static int chal_matches(const char *jws, const json_t *chal)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char want[44];
    if (EVP_Digest(jws, strlen(jws), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof md ||
        b64url_encode_to(md, sizeof md, want, sizeof want) != 0)
        return 0;
    return str_is(chal, want);
}

/* The decision and its optional reason and code are well-formed (as the server demands). */
static int decision_well_formed(const json_t *p)
{
    const json_t *decision = json_object_get(p, "decision");
    const json_t *reason = member(p, "reason"), *code = member(p, "code");
    if (!str_is(decision, "approve") && !str_is(decision, "deny"))
        return 0;
    if (reason != NULL && !(str_is(reason, "not_me") && str_is(decision, "deny")))
        return 0;
    return code == NULL || json_is_string(code);
}

/* Step 5: the evidence answers exactly this challenge. */
static const char *check_evidence_claims(const struct ev *e)
{
    const json_t *p = e->ev_claims;
    const json_t *chal = member(p, "chal");
    if (!json_is_string(json_object_get(p, "requestId")) ||
        !json_is_string(json_object_get(p, "nonce")) || !decision_well_formed(p) ||
        (chal != NULL && !json_is_string(chal)))
        return "evidence_claims_invalid";
    if (chal == NULL)
        return "evidence_chal_missing";
    if (!json_equal(json_object_get(p, "requestId"), e->request_id))
        return "evidence_request_mismatch";
    if (!json_equal(json_object_get(p, "nonce"), json_object_get(e->chal_claims, "nonce")))
        return "evidence_nonce_mismatch";
    if (!chal_matches(e->challenge, chal))
        return "evidence_chal_mismatch";
    return NULL;
}

/* The status and reason the server decides for an approval (sql auth_decide_first).
 * When the object does not carry the code (synchronous mode), both outcomes of a
 * code-verified approval are consistent: the object's status picks one. */
static void approve_outcome(const struct ev *e, const char **status, const char **reason)
{
    const json_t *code = member(e->ev_claims, "code");
    const json_t *shown = member(e->auth, "displayCode");
    int match = 1;
    if (str_is(member(e->chal_claims, "verification"), "code")) {
        if (code == NULL)
            match = 0;
        else if (shown != NULL)
            match = json_equal(code, shown);
        else
            match = str_is(e->status, "accepted");
    }
    *status = match ? "accepted" : "denied";
    *reason = match ? NULL : "code_mismatch";
}

/* Step 6: the decision the device signed agrees with the object's status and reason. */
static const char *check_outcome(const struct ev *e)
{
    const char *status = "denied", *reason = "user_denied";
    if (str_is(json_object_get(e->ev_claims, "decision"), "approve"))
        approve_outcome(e, &status, &reason);
    else if (member(e->ev_claims, "reason") != NULL)
        reason = "fraud_reported";
    const json_t *got = member(e->auth, "reason");
    if (!str_is(e->status, status))
        return "decision_status_mismatch";
    if (reason == NULL ? got != NULL : !str_is(got, reason))
        return "decision_reason_mismatch";
    return NULL;
}

/* The summary of api.md 7.1, from the verified challenge and the object. */
static json_t *summary(const struct ev *e)
{
    const json_t *c = e->chal_claims;
    return json_pack("{s:b, s:O, s:O, s:O, s:O, s:O, s:O?, s:O?, s:O?}", "valid", 1, "requestId",
                     e->request_id, "decision", json_object_get(e->ev_claims, "decision"),
                     "deviceId", e->device_id, "username", json_object_get(c, "username"),
                     "application", json_object_get(c, "application"), "message",
                     member(c, "message"), "transaction", member(c, "transaction"), "decidedAt",
                     member(e->auth, "decidedAt"));
}

json_t *evidence_verify(const json_t *auth, const json_t *jwks, const json_t *device_jwk)
{
    struct ev e = {.auth = auth, .jwks = jwks, .device_jwk = device_jwk};
    const char *why = check_object(&e);
    if (why == NULL)
        why = verify_challenge(&e);
    if (why == NULL)
        why = check_challenge_claims(&e);
    if (why == NULL)
        why = verify_evidence(&e);
    if (why == NULL)
        why = check_evidence_claims(&e);
    if (why == NULL)
        why = check_outcome(&e);
    json_t *out = why ? json_pack("{s:b, s:s}", "valid", 0, "reason", why) : summary(&e);
    json_decref(e.chal_claims);
    json_decref(e.ev_claims);
    return out;
}
