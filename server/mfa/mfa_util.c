#include "mfa_util.h"

#include "alloc.h"
#include "protocol/otp.h"
#include "protocol/token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mfa_pct_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(3 * strlen(s) + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            *o++ = (char)*p;
            continue;
        }
        *o++ = '%';
        *o++ = hex[*p >> 4];
        *o++ = hex[*p & 15];
    }
    *o = '\0';
    return out;
}

char *mfa_otpauth_uri(const char *issuer, const char *account, const char *secret)
{
    char *iss = mfa_pct_encode(issuer), *acc = mfa_pct_encode(account);
    char *uri = xasprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6"
                          "&period=30",
                          iss, acc, secret, iss);
    free(iss);
    free(acc);
    return uri;
}

enum mfa_code_kind mfa_code_classify(const char *code, char norm[11])
{
    norm[0] = '\0';
    if (strlen(code) == OTP_DIGITS && strspn(code, "0123456789") == OTP_DIGITS)
        return MFA_CODE_OTP;
    if (otp_backup_code_normalize(code, norm) == 0)
        return MFA_CODE_BACKUP;
    return MFA_CODE_NONE;
}

int64_t mfa_totp_match(const unsigned char *seed, size_t seedlen, int64_t now, const char *code)
{
    if (now < OTP_TOTP_STEP || strlen(code) != OTP_DIGITS)
        return -1;
    int64_t t = now / OTP_TOTP_STEP, found = -1;
    char want[OTP_DIGITS + 1];
    /* All three are computed whatever matches, so the time taken says nothing. */
    for (int64_t s = t - 1; s <= t + 1; s++) {
        if (otp_totp_at(seed, seedlen, s * OTP_TOTP_STEP, OTP_TOTP_STEP, OTP_DIGITS, want) < 0)
            continue;
        if (token_ct_equal(want, code, OTP_DIGITS) && found < 0)
            found = s;
    }
    OPENSSL_cleanse(want, sizeof want);
    return found;
}

static int code_key(const unsigned char master[32], unsigned char key[32])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!ctx)
        return -1;
    static const char info[] = "pushgate mfa code v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, 32),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, sizeof info - 1),
        OSSL_PARAM_END,
    };
    int ok = EVP_KDF_derive(ctx, key, 32, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? 0 : -1;
}

int mfa_code_mac(const unsigned char master[32], const char *purpose, const char *app_id,
                 const char *username, const char *code, unsigned char out[MFA_MAC_LEN])
{
    unsigned char key[32];
    if (code_key(master, key) < 0)
        return -1;
    /* NUL separators: none of the parts can contain one, so the encoding is injective. */
    size_t n = strlen(purpose) + strlen(app_id) + strlen(username) + strlen(code) + 4;
    char *msg = xmalloc(n), *p = msg;
    int rc = -1;
    if (msg) {
        const char *parts[] = {purpose, app_id, username, code};
        for (size_t i = 0; i < 4; i++) {
            size_t k = strlen(parts[i]) + 1;
            memcpy(p, parts[i], k);
            p += k;
        }
        unsigned int len = 0;
        rc = HMAC(EVP_sha256(), key, sizeof key, (unsigned char *)msg, n, out, &len) ? 0 : -1;
        OPENSSL_cleanse(msg, n);
        free(msg);
    }
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

char *mfa_seed_aad(const char *app_id, const char *username)
{
    return xasprintf("totp:%s:%s", app_id, username);
}

int mfa_sms_text(char *out, size_t n, const char *app, const char *code)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026 */
    char tail[128];
    int t = snprintf(tail, sizeof tail, " code: %s (valid for 10 minutes). Do not share it.", code);
    size_t alen = strlen(app);
    if (t < 0 || (size_t)t >= sizeof tail || n < (size_t)t + sizeof ellipsis)
        return -1;
    if (alen + (size_t)t < n)
        return snprintf(out, n, "%s%s", app, tail);
    /* room for the name: n - NUL - tail - ellipsis; back off to a lead byte */
    size_t cut = n - 1 - (size_t)t - (sizeof ellipsis - 1);
    while (cut > 0 && ((unsigned char)app[cut] & 0xC0) == 0x80)
        cut--;
    return snprintf(out, n, "%.*s%s%s", (int)cut, app, ellipsis, tail);
}
