/* Unit tests for protocol/evidence: a real-shaped decided auth object is built here, its
 * challenge signed by a server key exactly as api.md 6.2 describes and its response by a
 * device key as 6.3 describes, and every check of 7.1 is made to fail on its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"
#include "protocol/evidence.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"

#define REQ "q_622b95833bab53f6"
#define REQ2 "q_0000000000000002"
#define DEV "d_93kd0000aaaa"
#define DEV2 "d_other0000bbbb"
#define NONCE "bm9uY2Utb2YtMTI4LWJpdHMtYXQtbGVhc3Q"

static EVP_PKEY *server_key, *device_key, *other_server, *other_device;
static char *server_kid, *other_kid;

static int setup(void **state)
{
    (void)state;
    server_key = jwk_generate_p256();
    device_key = jwk_generate_p256();
    other_server = jwk_generate_p256();
    other_device = jwk_generate_p256();
    server_kid = jwk_thumbprint(server_key);
    other_kid = jwk_thumbprint(other_server);
    return server_key && device_key && other_server && other_device && server_kid && other_kid ? 0
                                                                                               : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(server_key);
    EVP_PKEY_free(device_key);
    EVP_PKEY_free(other_server);
    EVP_PKEY_free(other_device);
    free(server_kid);
    free(other_kid);
    return 0;
}

/* What one case varies; zero values give the plain accepted object of api.md 5. */
struct spec {
    const char *request_id;   /* in the challenge and the response (default REQ) */
    const char *verification; /* "none" */
    const char *decision;     /* "approve" */
    const char *reason;       /* response reason (NULL: none) */
    const char *code;         /* response code (NULL: none) */
    const char *nonce;        /* response nonce (default: the challenge's) */
    const char *chal;         /* response chal (default: the real one; "" omits it) */
    const char *status;       /* object status ("accepted") */
    const char *obj_reason;   /* object reason (NULL: json null) */
    const char *display_code; /* object displayCode (asynchronous mode), NULL: absent */
};

static json_t *challenge_payload(const char *request_id, const char *verification)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, "
                     "s:s, s:I, s:I}",
                     "requestId", request_id, "deviceId", DEV, "application", "id", "a_x81aaaaaa",
                     "name", "Acme Bank", "username", "alice", "type", "authorization", "message",
                     "Confirm transfer of 250.00 EUR to Bob", "context", "ipAddress", "203.0.113.9",
                     "transaction", "amount", "250.00", "currency", "EUR", "payee", "Bob",
                     "verification", verification, "nonce", NONCE, "iat", (json_int_t)1795000000,
                     "exp", (json_int_t)1795000060);
}

static char *sign_challenge(EVP_PKEY *key, const char *kid, const char *request_id,
                            const char *verification)
{
    json_t *p = challenge_payload(request_id, verification);
    char *jws = jws_sign_es256(key, EVIDENCE_CHALLENGE_TYP, kid, p);
    json_decref(p);
    assert_non_null(jws);
    return jws;
}

/* base64url(SHA-256(jws)), written independently of evidence.c's own helper. */
static char *chal_of(const char *jws)
{
    unsigned char md[32];
    assert_int_equal(EVP_Digest(jws, strlen(jws), md, NULL, EVP_sha256(), NULL), 1);
    return b64url_encode(md, sizeof md);
}

static char *sign_response(EVP_PKEY *key, const char *kid, const struct spec *s,
                           const char *challenge)
{
    char *chal = chal_of(challenge);
    json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "requestId", s->request_id ? s->request_id : REQ,
                          "nonce", s->nonce ? s->nonce : NONCE, "decision",
                          s->decision ? s->decision : "approve", "iat", (json_int_t)1795000007);
    if (!s->chal || *s->chal)
        json_object_set_new(p, "chal", json_string(s->chal ? s->chal : chal));
    if (s->reason)
        json_object_set_new(p, "reason", json_string(s->reason));
    if (s->code)
        json_object_set_new(p, "code", json_string(s->code));
    char *jws = jws_sign_es256(key, EVIDENCE_RESPONSE_TYP, kid, p);
    json_decref(p);
    free(chal);
    assert_non_null(jws);
    return jws;
}

static json_t *object_of(const struct spec *s, const char *challenge, const char *evidence)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "requestId", REQ,
                          "status", s->status ? s->status : "accepted", "username", "alice",
                          "createdAt", "2026-11-22T06:47:00Z", "expiresAt", "2026-11-22T06:48:00Z",
                          "decidedAt", "2026-11-22T06:47:10Z", "deviceId", DEV, "reason",
                          s->obj_reason ? json_string(s->obj_reason) : json_null(), "evidence",
                          evidence, "challenge", challenge);
    if (s->display_code)
        json_object_set_new(o, "displayCode", json_string(s->display_code));
    return o;
}

/* The decided object of s, signed by the real server and device keys. */
static json_t *make_object(const struct spec *s)
{
    char *c = sign_challenge(server_key, server_kid, s->request_id ? s->request_id : REQ,
                             s->verification ? s->verification : "none");
    char *e = sign_response(device_key, DEV, s, c);
    json_t *o = object_of(s, c, e);
    free(c);
    free(e);
    return o;
}

static json_t *jwks_of(EVP_PKEY *key, const char *kid)
{
    return json_pack("{s:[o]}", "keys", jwk_from_pkey(key, kid));
}

/* Runs evidence_verify on auth with the given trust anchors and returns the reason
 * ("" when valid). Consumes auth. */
static char *verify_with(json_t *auth, json_t *jwks, json_t *device)
{
    json_t *out = evidence_verify(auth, jwks, device);
    assert_non_null(out);
    json_t *valid = json_object_get(out, "valid");
    assert_true(json_is_boolean(valid));
    const char *reason = json_string_value(json_object_get(out, "reason"));
    char *r = strdup(json_is_true(valid) ? "" : reason);
    if (json_is_true(valid))
        assert_null(reason);
    json_decref(out);
    json_decref(auth);
    return r;
}

static void expect(json_t *auth, const char *want)
{
    json_t *jwks = jwks_of(server_key, server_kid), *device = jwk_from_pkey(device_key, NULL);
    char *got = verify_with(auth, jwks, device);
    assert_string_equal(got, want);
    free(got);
    json_decref(jwks);
    json_decref(device);
}

/* Changes one base64url character in the middle of the payload of the JWS in member. */
static void change_one_byte(json_t *auth, const char *member)
{
    char *jws = strdup(json_string_value(json_object_get(auth, member)));
    char *at = strchr(jws, '.') + 10;
    *at = *at == 'A' ? 'B' : 'A';
    json_object_set_new(auth, member, json_string(jws));
    free(jws);
}

static void test_valid_accepted_object_and_summary(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    json_t *jwks = jwks_of(server_key, server_kid), *device = jwk_from_pkey(device_key, NULL);
    json_t *out = evidence_verify(auth, jwks, device);
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "{\"valid\":true,\"requestId\":\"" REQ "\",\"decision\":\"approve\","
                              "\"deviceId\":\"" DEV "\",\"username\":\"alice\",\"application\":"
                              "{\"id\":\"a_x81aaaaaa\",\"name\":\"Acme Bank\"},\"message\":"
                              "\"Confirm transfer of 250.00 EUR to Bob\",\"transaction\":"
                              "{\"amount\":\"250.00\",\"currency\":\"EUR\",\"payee\":\"Bob\"},"
                              "\"decidedAt\":\"2026-11-22T06:47:10Z\"}");
    free(text);
    json_decref(out);
    json_decref(auth);
    json_decref(jwks);
    json_decref(device);
}

static void test_one_byte_changed_in_challenge(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    change_one_byte(auth, "challenge");
    expect(auth, "challenge_signature_invalid");
}

static void test_one_byte_changed_in_evidence(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    change_one_byte(auth, "evidence");
    expect(auth, "evidence_signature_invalid");
}

/* Indistinguishable from a changed byte: a signature that does not verify says no more. */
static void test_another_devices_key(void **state)
{
    (void)state;
    json_t *jwks = jwks_of(server_key, server_kid), *device = jwk_from_pkey(other_device, NULL);
    char *got = verify_with(make_object(&(struct spec){0}), jwks, device);
    assert_string_equal(got, "evidence_signature_invalid");
    free(got);
    json_decref(jwks);
    json_decref(device);
}

static void test_another_servers_jwks(void **state)
{
    (void)state;
    json_t *device = jwk_from_pkey(device_key, NULL);
    json_t *jwks = jwks_of(other_server, other_kid);
    char *got = verify_with(make_object(&(struct spec){0}), jwks, device);
    assert_string_equal(got, "challenge_kid_unknown");
    free(got);
    json_decref(jwks);
    /* the same kid on another key (a forged JWKS) */
    jwks = jwks_of(other_server, server_kid);
    got = verify_with(make_object(&(struct spec){0}), jwks, device);
    assert_string_equal(got, "challenge_signature_invalid");
    free(got);
    json_decref(jwks);
    json_decref(device);
}

static void test_challenge_of_another_request(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    char *other = sign_challenge(server_key, server_kid, REQ2, "none");
    json_object_set_new(auth, "challenge", json_string(other));
    expect(json_incref(auth), "challenge_request_mismatch");
    /* and with the object's requestId moved along: the evidence names the first one */
    json_object_set_new(auth, "requestId", json_string(REQ2));
    expect(auth, "evidence_request_mismatch");
    free(other);
}

/* The same challenge claims signed again are other bytes: chal binds the exact JWS. */
static void test_challenge_signed_again(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    char *again = sign_challenge(server_key, server_kid, REQ, "none");
    json_object_set_new(auth, "challenge", json_string(again));
    expect(auth, "evidence_chal_mismatch");
    free(again);
}

static void test_status_changed_to_denied(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "status", json_string("denied"));
    expect(json_incref(auth), "decision_status_mismatch");
    json_object_set_new(auth, "reason", json_string("user_denied"));
    expect(auth, "decision_status_mismatch");
}

static void test_denied_objects(void **state)
{
    (void)state;
    expect(make_object(
               &(struct spec){.decision = "deny", .status = "denied", .obj_reason = "user_denied"}),
           "");
    expect(make_object(&(struct spec){.decision = "deny",
                                      .reason = "not_me",
                                      .status = "denied",
                                      .obj_reason = "fraud_reported"}),
           "");
    expect(make_object(&(struct spec){
               .decision = "deny", .status = "denied", .obj_reason = "fraud_reported"}),
           "decision_reason_mismatch");
    expect(make_object(&(struct spec){.decision = "deny",
                                      .reason = "not_me",
                                      .status = "denied",
                                      .obj_reason = "user_denied"}),
           "decision_reason_mismatch");
    expect(make_object(&(struct spec){.decision = "deny"}), "decision_status_mismatch");
}

static void test_verification_code(void **state)
{
    (void)state;
    /* asynchronous mode: the object shows the code, so it decides */
    expect(
        make_object(&(struct spec){.verification = "code", .code = "473", .display_code = "473"}),
        "");
    expect(
        make_object(&(struct spec){.verification = "code", .code = "474", .display_code = "473"}),
        "decision_status_mismatch");
    expect(make_object(&(struct spec){.verification = "code",
                                      .code = "474",
                                      .display_code = "473",
                                      .status = "denied",
                                      .obj_reason = "code_mismatch"}),
           "");
    expect(make_object(&(struct spec){.verification = "code",
                                      .code = "473",
                                      .display_code = "473",
                                      .status = "denied",
                                      .obj_reason = "code_mismatch"}),
           "decision_status_mismatch");
    /* no code sent: never accepted */
    expect(make_object(&(struct spec){.verification = "code"}), "decision_status_mismatch");
    expect(make_object(&(struct spec){
               .verification = "code", .status = "denied", .obj_reason = "code_mismatch"}),
           "");
    /* synchronous mode: the code is the application's; both outcomes are consistent */
    expect(make_object(&(struct spec){.verification = "code", .code = "473"}), "");
    expect(make_object(&(struct spec){.verification = "code",
                                      .code = "473",
                                      .status = "denied",
                                      .obj_reason = "code_mismatch"}),
           "");
    expect(make_object(&(struct spec){.verification = "code",
                                      .code = "473",
                                      .status = "denied",
                                      .obj_reason = "user_denied"}),
           "decision_reason_mismatch");
    /* a code mismatch needs a code-verified challenge */
    expect(make_object(
               &(struct spec){.code = "473", .status = "denied", .obj_reason = "code_mismatch"}),
           "decision_status_mismatch");
}

static void test_undecided_objects_are_not_verifiable(void **state)
{
    (void)state;
    const char *statuses[] = {"expired", "cancelled", "pending"};
    for (size_t i = 0; i < 3; i++) {
        json_t *auth = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:s}", "requestId", REQ,
                                 "status", statuses[i], "username", "alice", "decidedAt",
                                 "deviceId", "evidence", "challenge", "reason", "timeout");
        expect(auth, "not_decided");
    }
    json_t *revoked = json_pack("{s:s, s:s, s:s, s:n, s:n}", "requestId", REQ, "status", "denied",
                                "reason", "device_revoked", "evidence", "challenge");
    expect(revoked, "no_evidence");
    json_t *auth = make_object(&(struct spec){0});
    json_object_del(auth, "challenge"); /* an object from a server before v1.1 */
    expect(auth, "no_challenge");
}

static void test_evidence_claims(void **state)
{
    (void)state;
    expect(make_object(&(struct spec){.nonce = "c29tZS1vdGhlci1ub25jZS0xMjgtYml0cw"}),
           "evidence_nonce_mismatch");
    expect(make_object(&(struct spec){.chal = ""}), "evidence_chal_missing");
    expect(make_object(&(struct spec){.chal = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}),
           "evidence_chal_mismatch");
    expect(make_object(&(struct spec){.decision = "maybe"}), "evidence_claims_invalid");
    expect(make_object(&(struct spec){.reason = "not_me"}), "evidence_claims_invalid");
    /* signed by the right key but naming another device */
    json_t *auth = make_object(&(struct spec){0});
    char *e = sign_response(device_key, DEV2, &(struct spec){0},
                            json_string_value(json_object_get(auth, "challenge")));
    json_object_set_new(auth, "evidence", json_string(e));
    free(e);
    expect(auth, "evidence_kid_mismatch");
}

static void test_headers_and_typ(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    json_t *p = challenge_payload(REQ, "none");
    char *c = jws_sign_es256(server_key, EVIDENCE_RESPONSE_TYP, server_kid, p);
    json_object_set_new(auth, "challenge", json_string(c));
    expect(json_incref(auth), "challenge_typ_invalid");
    free(c);
    /* a response typed as a challenge */
    char *e = jws_sign_es256(device_key, EVIDENCE_CHALLENGE_TYP, DEV, p);
    json_decref(auth);
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "evidence", json_string(e));
    expect(auth, "evidence_typ_invalid");
    free(e);
    json_decref(p);
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "challenge", json_string("not.a-jws"));
    expect(auth, "challenge_malformed");
}

static void test_object_fields_agree_with_challenge(void **state)
{
    (void)state;
    json_t *auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "username", json_string("bob"));
    expect(auth, "challenge_username_mismatch");
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "deviceId", json_string(DEV2));
    expect(auth, "challenge_device_mismatch");
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "message", json_string("Confirm transfer of 9999.00 EUR"));
    expect(auth, "challenge_message_mismatch");
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "applicationId", json_string("a_another0"));
    expect(auth, "challenge_application_mismatch");
    auth = make_object(&(struct spec){0});
    json_object_set_new(auth, "application", json_pack("{s:s}", "id", "a_x81aaaaaa"));
    expect(auth, "");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    json_t *jwks = jwks_of(server_key, server_kid), *device = jwk_from_pkey(device_key, NULL);
    char *got = verify_with(NULL, jwks, device);
    assert_string_equal(got, "malformed_auth_object");
    free(got);
    got = verify_with(json_string("x"), jwks, device);
    assert_string_equal(got, "malformed_auth_object");
    free(got);
    json_t *array = json_array();
    got = verify_with(make_object(&(struct spec){0}), array, device);
    assert_string_equal(got, "jwks_malformed");
    free(got);
    json_decref(array);
    json_t *bad = json_deep_copy(device);
    json_object_set_new(bad, "crv", json_string("P-384"));
    got = verify_with(make_object(&(struct spec){0}), jwks, bad);
    assert_string_equal(got, "device_key_invalid");
    free(got);
    json_object_set_new(json_array_get(json_object_get(jwks, "keys"), 0), "alg",
                        json_string("RS256"));
    got = verify_with(make_object(&(struct spec){0}), jwks, device);
    assert_string_equal(got, "jwks_key_invalid");
    free(got);
    json_decref(bad);
    json_decref(jwks);
    json_decref(device);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_accepted_object_and_summary),
        cmocka_unit_test(test_one_byte_changed_in_challenge),
        cmocka_unit_test(test_one_byte_changed_in_evidence),
        cmocka_unit_test(test_another_devices_key),
        cmocka_unit_test(test_another_servers_jwks),
        cmocka_unit_test(test_challenge_of_another_request),
        cmocka_unit_test(test_challenge_signed_again),
        cmocka_unit_test(test_status_changed_to_denied),
        cmocka_unit_test(test_denied_objects),
        cmocka_unit_test(test_verification_code),
        cmocka_unit_test(test_undecided_objects_are_not_verifiable),
        cmocka_unit_test(test_evidence_claims),
        cmocka_unit_test(test_headers_and_typ),
        cmocka_unit_test(test_object_fields_agree_with_challenge),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
