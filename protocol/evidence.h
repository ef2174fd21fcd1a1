/* evidence: offline verification of a decided auth object (api.md 5, 6.2, 6.3, 7.1).
 *
 * Pure: no database, no configuration, no clock, no I/O. Given the auth object as the
 * server returned it, the server's JWKS of that time and the deciding device's public
 * JWK, it checks, in this order, stopping at the first failure:
 *
 *  1. the object: a JSON object with string "requestId" and "status"; status is
 *     "accepted" or "denied" (else "not_decided": expired, cancelled and pending requests
 *     carry nothing a device signed); string "evidence" (else "no_evidence", e.g. a
 *     request that ended denied/device_revoked), string "challenge" (else "no_challenge")
 *     and string "deviceId";
 *  2. the challenge JWS: header alg ES256, typ "pushgate-challenge+jwt", a string kid
 *     naming a key of the JWKS, and a signature that verifies under that key (jws.h);
 *  3. its claims: string requestId, deviceId and nonce, string username, object
 *     application with a string id; requestId and deviceId equal the object's; username,
 *     type, message, context and transaction equal the object's where the object has them
 *     (non-null); the application's id equals the object's "applicationId" or
 *     "application".id where the object has one;
 *  4. the evidence JWS: header alg ES256, typ "pushgate-response+jwt", kid equal to the
 *     object's deviceId (= the challenge's), and a signature that verifies under the
 *     device key;
 *  5. its claims: string requestId, nonce, chal and decision ("approve" | "deny");
 *     optional reason ("not_me", only with deny) and code (string); a null claim counts as
 *     absent (api.md 1); other claims are ignored (the signature covers them anyway).
 *     requestId equals the object's, nonce the challenge's, and chal equals
 *     base64url(SHA-256(the exact bytes of the object's "challenge")) without padding;
 *  6. the decision agrees with status and reason, by the server's own rule (sql
 *     auth_decide_first):
 *        deny + reason not_me              -> denied   / fraud_reported
 *        deny without reason               -> denied   / user_denied
 *        approve, verification not "code"  -> accepted / null
 *        approve, verification "code":
 *          no code in the evidence         -> denied   / code_mismatch
 *          object has "displayCode" (asynchronous mode): code == displayCode -> accepted /
 *            null, else denied / code_mismatch
 *          no displayCode in the object (synchronous mode: the application drew the code
 *            and the server does not echo it): either accepted / null or denied /
 *            code_mismatch is consistent, and only the application can tell which.
 *     A status that differs gives "decision_status_mismatch"; the same status with a
 *     different reason gives "decision_reason_mismatch".
 *
 * Reasons (stable strings, one per failing check):
 *   malformed_auth_object, not_decided, no_evidence, no_challenge, jwks_malformed,
 *   challenge_malformed, challenge_alg_invalid, challenge_typ_invalid,
 *   challenge_kid_unknown, jwks_key_invalid, challenge_signature_invalid,
 *   challenge_claims_invalid, challenge_request_mismatch, challenge_device_mismatch,
 *   challenge_username_mismatch, challenge_type_mismatch, challenge_message_mismatch,
 *   challenge_context_mismatch, challenge_transaction_mismatch,
 *   challenge_application_mismatch, evidence_malformed, evidence_alg_invalid,
 *   evidence_typ_invalid, evidence_kid_mismatch, device_key_invalid,
 *   evidence_signature_invalid, evidence_claims_invalid, evidence_chal_missing,
 *   evidence_request_mismatch, evidence_nonce_mismatch, evidence_chal_mismatch,
 *   decision_status_mismatch, decision_reason_mismatch.
 * A changed byte in the evidence and another device's key both end as
 * evidence_signature_invalid: a signature that does not verify cannot say which. */
#ifndef PUSHGATE_EVIDENCE_H
#define PUSHGATE_EVIDENCE_H

#include <jansson.h>

#define EVIDENCE_CHALLENGE_TYP "pushgate-challenge+jwt"
#define EVIDENCE_RESPONSE_TYP "pushgate-response+jwt"

/* Runs the checks above. Returns a new JSON object (caller json_decref's), exactly the
 * output of api.md 7.1, members in this order:
 *   {"valid": true, "requestId", "decision" (the device's: "approve" | "deny"), "deviceId",
 *    "username", "application", "message", "transaction" (these four from the verified
 *    challenge), "decidedAt" (the object's, null when absent)}
 *   {"valid": false, "reason": "<one of the reasons above>"}
 * Any argument may be NULL or of the wrong JSON type (that is a reason, not a crash).
 * NULL only when out of memory. */
json_t *evidence_verify(const json_t *auth, const json_t *jwks, const json_t *device_jwk);

#endif
