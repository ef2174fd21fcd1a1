#include "challenge.h"

#include "server.h"
#include "signer.h"

#include <stdlib.h>

char *challenge_sign(const struct server *srv, const struct challenge_fields *f)
{
    json_t *payload = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:O, s:O, s:O, s:s, s:s, s:I, s:I}", "requestId",
        f->request_id, "deviceId", f->device_id, "application", "id", f->app_id, "name",
        f->app_name, "username", f->username, "type", f->type, "message", f->message, "context",
        f->context, "transaction", f->transaction, "verification", f->verification, "nonce",
        f->nonce, "iat", (json_int_t)f->iat, "exp", (json_int_t)f->exp);
    char *jws = payload ? signer_sign(srv->signer, "pushgate-challenge+jwt", payload) : NULL;
    json_decref(payload);
    return jws;
}

json_t *challenge_item(const struct server *srv, const struct challenge_fields *f)
{
    char *jws = challenge_sign(srv, f);
    json_t *item =
        jws ? json_pack("{s:s, s:s}", "requestId", f->request_id, "challenge", jws) : NULL;
    free(jws);
    return item;
}
