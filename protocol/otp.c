#include "otp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t otp_pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

int otp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits, char *out)
{
    unsigned char msg[8], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (out == NULL)
        return -1;
    out[0] = '\0';
    if (digits < 6 || digits > 8 || (key == NULL && keylen != 0) || keylen > INT32_MAX)
        return -1;
    for (int i = 7; i >= 0; i--) { /* counter as 8-byte big-endian */
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    if (HMAC(EVP_sha1(), key ? key : (const unsigned char *)"", (int)keylen, msg, sizeof(msg), md,
             &mdlen) == NULL ||
        mdlen != 20)
        return -1;
    /* RFC 4226 5.3 dynamic truncation. */
    unsigned off = md[19] & 0x0f;
    uint32_t bin = ((uint32_t)(md[off] & 0x7f) << 24) | ((uint32_t)md[off + 1] << 16) |
                   ((uint32_t)md[off + 2] << 8) | md[off + 3];
    uint32_t code = bin % otp_pow10[digits];
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + code % 10);
        code /= 10;
    }
    out[digits] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

int otp_totp_at(const unsigned char *key, size_t keylen, int64_t unix_time, int step, int digits,
                char *out)
{
    if (out != NULL)
        out[0] = '\0';
    if (unix_time < 0 || step <= 0)
        return -1;
    return otp_hotp(key, keylen, (uint64_t)(unix_time / step), digits, out);
}

int otp_random_digits(char *out, int digits)
{
    unsigned char buf[64];
    int have = 0;
    if (out == NULL)
        return -1;
    out[0] = '\0';
    if (digits < 1 || digits > 64)
        return -1;
    while (have < digits) {
        if (RAND_bytes(buf, sizeof(buf)) != 1) {
            out[0] = '\0';
            return -1;
        }
        /* 250 = 25 * 10: bytes 250..255 would favour 0..5, so they are dropped. */
        for (size_t i = 0; i < sizeof(buf) && have < digits; i++) {
            if (buf[i] < 250)
                out[have++] = (char)('0' + buf[i] % 10);
        }
    }
    out[digits] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

int otp_backup_code_new(char out[12])
{
    unsigned char buf[OTP_BACKUP_NORM_LEN];
    out[0] = '\0';
    if (RAND_bytes(buf, sizeof(buf)) != 1)
        return -1;
    /* 32 symbols: the low 5 bits of a uniform byte are uniform. */
    size_t o = 0;
    for (size_t i = 0; i < sizeof(buf); i++) {
        if (i == 5)
            out[o++] = '-';
        out[o++] = OTP_BACKUP_ALPHABET[buf[i] & 31];
    }
    out[o] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

/* Maps one input character to an alphabet symbol (lowercase, look-alikes folded),
 * or returns 0 when it cannot be part of a code. */
static char otp_backup_symbol(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c - 'A' + 'a');
    if (c == 'i' || c == 'l')
        return '1';
    if (c == 'o')
        return '0';
    if (c != '\0' && strchr(OTP_BACKUP_ALPHABET, c) != NULL)
        return (char)c;
    return 0;
}

int otp_backup_code_normalize(const char *in, char out[11])
{
    size_t o = 0;
    int hyphens = 0;
    out[0] = '\0';
    if (in == NULL)
        return -1;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ' ')
            continue;
        if (*p == '-' && ++hyphens <= 1)
            continue;
        char s = otp_backup_symbol((unsigned char)*p);
        if (s == 0 || o >= OTP_BACKUP_NORM_LEN) {
            out[0] = '\0';
            return -1;
        }
        out[o++] = s;
    }
    out[o] = '\0';
    if (o != OTP_BACKUP_NORM_LEN) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int otp_backup_hash(const char *normalized, const unsigned char salt[16], unsigned char out[32])
{
    uint64_t n = OTP_SCRYPT_N;
    uint32_t r = OTP_SCRYPT_R, p = OTP_SCRYPT_P;
    if (normalized == NULL || salt == NULL)
        return -1;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf); /* the context holds its own reference */
    if (ctx == NULL)
        return -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)normalized, strlen(normalized)),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, OTP_BACKUP_SALT_LEN),
        OSSL_PARAM_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_END,
    };
    int ok = EVP_KDF_derive(ctx, out, OTP_BACKUP_HASH_LEN, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Appends the local-part character c when it is printable ASCII, else a '*'. */
static size_t otp_put_visible(char *dst, size_t o, unsigned char c)
{
    dst[o++] = (c > 0x20 && c < 0x7f) ? (char)c : '*';
    return o;
}

char *otp_mask_email(const char *email)
{
    if (email == NULL)
        return NULL;
    const char *at = strrchr(email, '@');
    if (at == NULL || at == email || at[1] == '\0')
        return NULL;
    size_t local = (size_t)(at - email), dlen = strlen(at);
    char *out = malloc(2 + 3 + dlen + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    if (local >= 2)
        o = otp_put_visible(out, o, (unsigned char)email[0]);
    memcpy(out + o, "***", 3);
    o += 3;
    if (local >= 3)
        o = otp_put_visible(out, o, (unsigned char)at[-1]);
    memcpy(out + o, at, dlen + 1);
    return out;
}

char *otp_mask_phone(const char *e164)
{
    if (!otp_is_e164(e164))
        return NULL;
    size_t len = strlen(e164);
    char *out = malloc(2 + 7 + 4 + 1);
    if (out == NULL)
        return NULL;
    /* The API's example maps 11 digits to "+1" + 7 stars + 4: a fixed-width mask, which
     * also hides how long the number is. */
    memcpy(out, e164, 2);
    memcpy(out + 2, "*******", 7);
    memcpy(out + 9, e164 + len - 4, 5);
    return out;
}

int otp_is_e164(const char *s)
{
    if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    size_t n = 1;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n > 15)
            return 0;
    }
    return n >= 9; /* '+' plus 8..15 digits */
}
