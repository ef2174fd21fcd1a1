#include "aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* Feeds the AAD: the version byte, then the caller's string. Called with out == NULL as
 * OpenSSL's GCM API wants. */
static int aead_feed_aad(EVP_CIPHER_CTX *ctx, int enc, unsigned char version, const char *aad)
{
    int n = 0;
    size_t alen = aad ? strlen(aad) : 0;
    int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
        enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
    if (alen > AEAD_MAX_PLAINTEXT || update(ctx, NULL, &n, &version, 1) != 1)
        return -1;
    if (alen > 0 && update(ctx, NULL, &n, (const unsigned char *)aad, (int)alen) != 1)
        return -1;
    return 0;
}

/* Encrypts into out (layout in aead.h); out has room for ptlen + AEAD_OVERHEAD bytes. */
static int aead_seal_into(const unsigned char *key, const unsigned char *pt, size_t ptlen,
                          const char *aad, unsigned char *out)
{
    unsigned char *nonce = out + 1, *ct = out + 1 + AEAD_NONCE_LEN;
    int n = 0, fin = 0, ok = 0;
    out[0] = AEAD_VERSION;
    if (RAND_bytes(nonce, AEAD_NONCE_LEN) != 1)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return -1;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        aead_feed_aad(ctx, 1, AEAD_VERSION, aad) == 0 &&
        (ptlen == 0 || EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) == 1) &&
        EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1 && (size_t)(n + fin) == ptlen &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN, ct + ptlen) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int aead_seal(const unsigned char key[32], const unsigned char *pt, size_t ptlen, const char *aad,
              unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (ptlen > AEAD_MAX_PLAINTEXT || (pt == NULL && ptlen != 0))
        return -1;
    unsigned char *buf = malloc(ptlen + AEAD_OVERHEAD);
    if (buf == NULL)
        return -1;
    if (aead_seal_into(key, pt, ptlen, aad, buf) != 0) {
        OPENSSL_cleanse(buf, ptlen + AEAD_OVERHEAD);
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = ptlen + AEAD_OVERHEAD;
    return 0;
}

/* Decrypts ctlen bytes into pt and checks the tag. 0 only when the tag verifies. */
static int aead_open_into(const unsigned char *key, const unsigned char *in, size_t ctlen,
                          const char *aad, unsigned char *pt)
{
    const unsigned char *nonce = in + 1, *ct = in + 1 + AEAD_NONCE_LEN;
    unsigned char tag[AEAD_TAG_LEN];
    int n = 0, fin = 0, ok = 0;
    memcpy(tag, ct + ctlen, AEAD_TAG_LEN); /* ctrl wants a non-const pointer */
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return -1;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        aead_feed_aad(ctx, 0, in[0], aad) == 0 &&
        (ctlen == 0 || EVP_DecryptUpdate(ctx, pt, &n, ct, (int)ctlen) == 1) &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN, tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, pt + n, &fin) == 1 && (size_t)(n + fin) == ctlen)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int aead_open(const unsigned char key[32], const unsigned char *in, size_t inlen, const char *aad,
              unsigned char **pt, size_t *ptlen)
{
    *pt = NULL;
    *ptlen = 0;
    if (in == NULL || inlen < AEAD_OVERHEAD || in[0] != AEAD_VERSION ||
        inlen - AEAD_OVERHEAD > AEAD_MAX_PLAINTEXT)
        return -1;
    size_t ctlen = inlen - AEAD_OVERHEAD;
    unsigned char *buf = malloc(ctlen + 1);
    if (buf == NULL)
        return -1;
    if (aead_open_into(key, in, ctlen, aad, buf) != 0) {
        /* GCM decrypts before the tag is checked: wipe the unauthenticated plaintext. */
        OPENSSL_cleanse(buf, ctlen + 1);
        free(buf);
        return -1;
    }
    buf[ctlen] = '\0';
    *pt = buf;
    *ptlen = ctlen;
    return 0;
}
