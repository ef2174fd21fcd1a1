#include "idem.h"

#include "alloc.h"
#include "protocol/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDEM_KEY_MAX 128

/* 1-128 characters from '!' to '~' and the space (api.md 1: printable ASCII). */
static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

int idem_read(struct req *r, const char *route, const char **key, char hash[65])
{
    const char *k = http_header(r, "Idempotency-Key");
    if (!k)
        return 0;
    if (!key_ok(k)) {
        http_bad_request(r, "Idempotency-Key must be 1 to 128 printable ASCII characters");
        return -1;
    }
    /* canonical: whitespace and member order of the sent JSON do not matter */
    char *doc = json_dumps(r->body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *text = xasprintf("%s\n%s", route, doc ? doc : "null");
    token_sha256_hex(text, hash);
    free(text);
    free(doc);
    *key = k;
    return 1;
}
