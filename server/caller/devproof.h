/* devauth: the device proof of api.md 6.1 on every /device... request.
 *
 * `Authorization: Device <JWS>`: header {"alg":"ES256","typ":
 * "pushgate-device+jwt","kid":<deviceId>}, payload {htm, htu, iat, jti}. Any
 * failure -- no header, unknown or revoked kid, bad signature, another alg,
 * htm/htu mismatch, |now - iat| > 60 s, a jti seen from that device in the
 * last 121 s (the 120 s of api.md 6.1, and past the end of its iat's window:
 * iat may be now + 60), a device of a disabled application -- gets the same
 * 401 invalid_device_proof. Within 121 s of a database crash or failover that
 * emptied the claims, every proof gets 503 (a replay could not be told
 * apart). Parsed device keys are cached (a device's key never changes); once cached, no read is
 * made here and the device statements themselves refuse a revoked device with the same 401
 * (sql/006_auth.sql, sql/008_lean_auth.sql). The jti is claimed in the database
 * (sql/012_device_jtis.sql, sql/021_proofs.sql; claims that queue together share a statement), so a
 * proof is accepted once by all instances together, restarts included; the claim is a write, and
 * while the database is unreachable device requests get 503. Once a minute rows past the window are
 * deleted. Long-polls are claimed without a write each (devproof_check_poll, caller/pollclaim.h). */
#ifndef PUSHGATE_DEVPROOF_H
#define PUSHGATE_DEVPROOF_H

#include "http.h"

#include <openssl/evp.h>

struct server;
struct devproof;

struct devproof *devproof_new(struct server *srv);
void devproof_free(struct devproof *d);

/* On success (the proof's jti claimed too) sets r->device_id and calls next(r);
 * else answers r itself. */
void devproof_check(struct req *r, void (*next)(struct req *r));
/* The same without the claim: also sets r->device_jti, and next must claim it in
 * the statement that acts on the request (auth_decide_claimed: one round trip, and
 * nothing is decided for a replayed proof). */
void devproof_check_unclaimed(struct req *r, void (*next)(struct req *r));

/* GET /device/challenges (AUTH_DEVICE_POLL): the jti is taken without a write
 * (caller/pollclaim.h) when the peers' claims are known, else claimed as by
 * devproof_check; r->device_id and r->device_jti are set. The poll's answer must
 * then go through one of these two (each takes body and answers r):
 * - devproof_reply_claimed: challenges; the jti is claimed in device_jtis first
 *   (401 when it was claimed, 503 when the database cannot say), so a proof
 *   hands out challenges once across all instances;
 * - devproof_reply_idle: nothing to hand out; answered when this instance's
 *   claim is written and no peer claimed the same proof with a lower row id (else
 *   401), or, when still unwritten, after the claim in device_jtis. */
void devproof_check_poll(struct req *r, void (*next)(struct req *r));
void devproof_reply_claimed(struct req *r, json_t *body);
void devproof_reply_idle(struct req *r, json_t *body);

/* The cached key of a device that passed devproof_check (borrowed). */
EVP_PKEY *devproof_key(struct server *srv, const char *device_id);

void devproof_unauthorized(struct req *r);

#endif
