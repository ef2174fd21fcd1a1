#include "devproof_parse.h"

#include "protocol/claimtime.h"
#include "protocol/jws.h"
#include "valid.h"

#include <stdio.h>
#include <string.h>

int devproof_parse_header(const char *authorization, char kid[DEVPROOF_ID_SIZE], const char **jws)
{
    const char *h = authorization;
    json_t *hdr = NULL;
    if (!h || strncmp(h, "Device ", 7) != 0 || jws_peek_header(h + 7, &hdr) < 0)
        return -1;
    const char *k = json_string_value(json_object_get(hdr, "kid"));
    bool valid = k && valid_id(k);
    if (valid) {
        snprintf(kid, DEVPROOF_ID_SIZE, "%s", k);
        *jws = h + 7;
    }
    json_decref(hdr);
    return valid ? 0 : -1;
}

bool devproof_claims_ok(const json_t *payload, const char *method, const char *path, time_t now)
{
    const char *htm, *htu, *jti;
    json_int_t iat;
    if (json_unpack((json_t *)payload, "{s:s, s:s, s:I, s:s}", "htm", &htm, "htu", &htu, "iat",
                    &iat, "jti", &jti) < 0)
        return false;
    size_t jlen = strlen(jti);
    return strcmp(htm, method) == 0 && strcmp(htu, path) == 0 &&
           claimtime_within(now, iat, DEVPROOF_IAT_SKEW_S) && jlen >= 16 && jlen <= 64;
}

bool devproof_verify(const char *jws, EVP_PKEY *key, const char *method, const char *path,
                     time_t now, char jti[DEVPROOF_ID_SIZE])
{
    json_t *payload = NULL;
    bool ok = key && jws_verify_es256(jws, key, "pushgate-device+jwt", NULL, &payload) == 0 &&
              devproof_claims_ok(payload, method, path, now);
    if (ok)
        snprintf(jti, DEVPROOF_ID_SIZE, "%s", json_string_value(json_object_get(payload, "jti")));
    json_decref(payload);
    return ok;
}
