/* libFuzzer harness for mfa_otpauth_uri (server/mfa/mfa_util.c), a builder: the input
 * is split at NUL bytes into issuer, account and secret bytes. The URI built from them
 * must parse back, by the Key Uri Format's rules, into the same values:
 *   otpauth://totp/<pct issuer>:<pct account>?secret=S&issuer=<pct issuer>
 *   &algorithm=SHA1&digits=6&period=30
 * exactly one ':' in the label, no raw character outside the unreserved set and the
 * URI's own delimiters, every %XX decoding to the original bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mfa_util.h"
#include "protocol/base32.h"

static const char unreserved[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F') /* mfa_pct_encode writes uppercase only */
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a malloc'd string; aborts on anything but unreserved
 * characters and %XX (an encoded byte that needs no encoding is a fault too). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            if (!strchr(unreserved, s[i]) || s[i] == '\0')
                abort();
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi << 4 | lo) == 0 || strchr(unreserved, hi << 4 | lo))
            abort();
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static void expect_equal_decoded(const char *enc, size_t n, const char *want)
{
    char *dec = pct_decode(enc, n);
    if (strcmp(dec, want) != 0)
        abort();
    free(dec);
}

/* Takes "key=" off the front of *q up to the next '&' (or the end): its value. */
static const char *param(const char **q, const char *key, size_t *n)
{
    size_t k = strlen(key);
    if (strncmp(*q, key, k) != 0 || (*q)[k] != '=')
        abort();
    const char *v = *q + k + 1, *amp = strchr(v, '&');
    *n = amp ? (size_t)(amp - v) : strlen(v);
    *q = amp ? amp + 1 : v + *n;
    return v;
}

static void check_uri(const char *uri, const char *issuer, const char *account, const char *secret)
{
    static const char scheme[] = "otpauth://totp/";
    if (strncmp(uri, scheme, sizeof scheme - 1) != 0)
        abort();
    const char *label = uri + sizeof scheme - 1, *q = strchr(label, '?');
    const char *colon = memchr(label, ':', q ? (size_t)(q - label) : 0);
    if (!q || !colon || memchr(colon + 1, ':', (size_t)(q - colon - 1)))
        abort();
    expect_equal_decoded(label, (size_t)(colon - label), issuer);
    expect_equal_decoded(colon + 1, (size_t)(q - colon - 1), account);
    q++;
    size_t n;
    const char *v = param(&q, "secret", &n);
    if (n != strlen(secret) || strncmp(v, secret, n) != 0)
        abort();
    v = param(&q, "issuer", &n);
    expect_equal_decoded(v, n, issuer);
    if (strcmp(q, "algorithm=SHA1&digits=6&period=30") != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 3); /* three NULs: issuer, account and the seed always exist */
    memcpy(s, data, size);
    memset(s + size, 0, 3);
    const char *issuer = s, *account = issuer + strlen(issuer) + 1;
    const char *seed = account + strlen(account) + 1;
    size_t seedlen = (size_t)(seed - s) + MFA_SEED_LEN <= size ? MFA_SEED_LEN : 0;
    char *secret = base32_encode((const unsigned char *)seed, seedlen);
    char *uri = mfa_otpauth_uri(issuer, account, secret);
    check_uri(uri, issuer, account, secret);
    free(uri);
    free(secret);
    free(s);
    return 0;
}
