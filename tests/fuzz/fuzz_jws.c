/* libFuzzer harness for protocol/jws: input is a compact JWS string, given to jws_peek,
 * jws_peek_header and to jws_verify_es256 with a fixed public key (RFC 7515 A.3) under
 * several typ expectations. Anything that verifies must also peek, with alg "ES256";
 * anything that peeks must also peek its header (the server finds the key with it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/jwk.h"
#include "protocol/jws.h"

static const char fixed_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static EVP_PKEY *fixed_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        json_t *j = json_loads(fixed_jwk, 0, NULL);
        key = jwk_to_pkey(j);
        json_decref(j);
        if (key == NULL)
            abort();
    }
    return key;
}

static void check_verify(const char *s, const char *typ, int peek_ok)
{
    json_t *h = NULL, *p = NULL;
    int rc = jws_verify_es256(s, fixed_key(), typ, &h, &p);
    if (rc == 0) {
        const char *alg = json_string_value(json_object_get(h, "alg"));
        if (!peek_ok || alg == NULL || strcmp(alg, "ES256") != 0 || !json_is_object(p))
            abort();
        if (json_object_get(h, "crit") != NULL || strlen(s) > JWS_MAX_LEN)
            abort();
    } else if (h != NULL || p != NULL) {
        abort();
    }
    json_decref(h);
    json_decref(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *h = NULL, *p = NULL;
    int peek_ok = jws_peek(s, &h, &p) == 0;
    json_decref(h);
    json_decref(p);
    json_t *hh = (json_t *)1;
    int header_ok = jws_peek_header(s, &hh) == 0;
    if ((peek_ok && !header_ok) || (header_ok != (hh != NULL)))
        abort();
    json_decref(hh);
    check_verify(s, NULL, peek_ok);
    check_verify(s, "pushgate-device+jwt", peek_ok);
    check_verify(s, "pushgate-response+jwt", peek_ok);
    free(s);
    return 0;
}
