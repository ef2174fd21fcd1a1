#include "token.h"

#include "b64url.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

int token_random_b64(char *out, size_t outsz, size_t nbytes)
{
    unsigned char buf[TOKEN_MAX_BYTES];
    if (outsz > 0)
        out[0] = '\0';
    if (nbytes == 0 || nbytes > TOKEN_MAX_BYTES || outsz < b64url_encoded_len(nbytes) + 1)
        return -1;
    if (RAND_bytes(buf, (int)nbytes) != 1)
        return -1;
    int rc = b64url_encode_to(buf, nbytes, out, outsz);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

static int token_is_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int token_is_valid_id(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (n >= 64 || !token_is_id_char((unsigned char)s[n]))
            return 0;
    }
    return n >= 8;
}

char *token_new_id(const char *prefix, size_t nbytes)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    if (nbytes == 0 || nbytes > TOKEN_MAX_BYTES)
        return NULL;
    size_t total = plen + b64url_encoded_len(nbytes);
    if (total < 8 || total > 64)
        return NULL;
    char *id = malloc(total + 1);
    if (id == NULL)
        return NULL;
    memcpy(id, prefix ? prefix : "", plen);
    if (token_random_b64(id + plen, total + 1 - plen, nbytes) != 0 || !token_is_valid_id(id)) {
        free(id);
        return NULL;
    }
    return id;
}

void token_sha256_hex(const char *s, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return;
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int token_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
