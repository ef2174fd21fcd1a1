/* whsig: webhook secrets and signatures (see whsig.h). */
#include "whsig.h"

#include "valid.h"

#include "protocol/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void aad_for(char aad[160], const char *app_id)
{
    snprintf(aad, 160, "webhook:%s", app_id);
}

int whsig_secret_new(unsigned char raw[WHSIG_SECRET_LEN], char text[WHSIG_SECRET_TEXT])
{
    if (RAND_bytes(raw, WHSIG_SECRET_LEN) != 1)
        return -1;
    memcpy(text, "whsec_", 6);
    EVP_EncodeBlock((unsigned char *)text + 6, raw, WHSIG_SECRET_LEN);
    return 0;
}

char *whsig_seal(const unsigned char master[32], const char *app_id, const unsigned char *raw,
                 size_t n)
{
    char aad[160];
    aad_for(aad, app_id);
    unsigned char *sealed = NULL;
    size_t len = 0;
    if (aead_seal(master, raw, n, aad, &sealed, &len) < 0)
        return NULL;
    char *hex = valid_bytea_hex(sealed, len);
    free(sealed);
    return hex;
}

int whsig_open(const unsigned char master[32], const char *app_id, const unsigned char *sealed,
               size_t sealed_len, unsigned char **raw, size_t *n)
{
    char aad[160];
    aad_for(aad, app_id);
    return aead_open(master, sealed, sealed_len, aad, raw, n);
}

void whsig_sign(const unsigned char *key, size_t keylen, const char *id, long long timestamp,
                const char *body, size_t body_len, char out[WHSIG_SIGNATURE_MAX])
{
    /* "<id>.<timestamp>." then the body, fed to one HMAC in two parts */
    char prefix[160];
    int plen = snprintf(prefix, sizeof prefix, "%s.%lld.", id, timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && plen > 0 && (size_t)plen < sizeof prefix &&
             EVP_MAC_init(ctx, key, keylen, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
             EVP_MAC_final(ctx, mac, &outl, sizeof mac) == 1;
    maclen = ok ? (unsigned int)outl : 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    memcpy(out, "v1,", 3);
    if (maclen == 0) {
        out[3] = '\0'; /* matches nothing: the receiver refuses, the event is retried */
        return;
    }
    EVP_EncodeBlock((unsigned char *)out + 3, mac, maclen);
    OPENSSL_cleanse(mac, sizeof mac);
}
