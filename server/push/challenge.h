/* challenge: the server-signed challenge of api.md 6.2, as handed to a
 * device: {"requestId": ..., "challenge": "<JWS typ pushgate-challenge+jwt>"}.
 * Built from a device_challenges() row on a poll, or straight from
 * auth_create()'s answer when the device's poll is held here. ECDSA signatures
 * are randomized: a JWS signed here is only a candidate, which devpoll.c stores
 * (the first one stored wins, sql/030) before any device sees it. */
#ifndef PUSHGATE_CHALLENGE_H
#define PUSHGATE_CHALLENGE_H

#include <jansson.h>

struct server;

struct challenge_fields {
    const char *request_id, *device_id, *app_id, *app_name, *username, *type, *verification, *nonce;
    json_t *message, *context, *transaction; /* borrowed; json null when absent */
    long long iat, exp;
};

/* The compact JWS (malloc'd), or NULL when signing failed. */
char *challenge_sign(const struct server *srv, const struct challenge_fields *f);
/* New reference, or NULL when signing failed (never hand out an unsigned one). */
json_t *challenge_item(const struct server *srv, const struct challenge_fields *f);

#endif
