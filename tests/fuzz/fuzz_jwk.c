/* libFuzzer harness for protocol/jwk: input is JSON text given to jwk_to_pkey. Any key
 * that is accepted must survive jwk_from_pkey -> jwk_to_pkey unchanged and have a
 * thumbprint. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/jwk.h"

static void check_key(EVP_PKEY *key)
{
    json_t *back = jwk_from_pkey(key, "kid");
    EVP_PKEY *again = back ? jwk_to_pkey(back) : NULL;
    char *thumb = jwk_thumbprint(key);
    if (again == NULL || EVP_PKEY_eq(key, again) != 1 || thumb == NULL || strlen(thumb) != 43)
        abort();
    free(thumb);
    EVP_PKEY_free(again);
    json_decref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *jwk = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (jwk == NULL)
        return 0;
    EVP_PKEY *key = jwk_to_pkey(jwk);
    if (key != NULL) {
        if (json_object_get(jwk, "d") != NULL)
            abort(); /* a private JWK must never be accepted */
        check_key(key);
        EVP_PKEY_free(key);
    }
    json_decref(jwk);
    return 0;
}
