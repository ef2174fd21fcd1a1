/* auth: who is calling. Resolves the route's credential requirement
 * (application headers, admin bearer token) and then calls `next`, or
 * answers 401 / 503 itself.
 *
 * Every failure of application credentials gets the same 401 body, whether
 * the id is unknown, the secret wrong or the application disabled; secrets
 * are compared as SHA-256 digests in constant time. */
#ifndef PUSHGATE_AUTH_H
#define PUSHGATE_AUTH_H

#include "http.h"

void auth_caller(struct req *r, void (*next)(struct req *r));

/* Generates a new application secret (base64url of 32 random bytes) into
 * out (>= 44 bytes) and its stored digest into hash (65 bytes). */
int auth_new_secret(char out[64], char hash[65]);

#endif
