#include "auditchain.h"

#include "alloc.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_PURPOSE "pushgate audit chain v1"

static const unsigned char zeros[AUDITCHAIN_MAC_LEN];

int auditchain_key(const unsigned char master[KEYS_MASTER_LEN],
                   unsigned char key[AUDITCHAIN_MAC_LEN])
{
    return keys_derive(master, CHAIN_PURPOSE, key);
}

static size_t put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
    return 8;
}

void auditchain_row_mac(const unsigned char key[AUDITCHAIN_MAC_LEN], const unsigned char *prev,
                        const PGresult *r, int i, int col, unsigned char out[AUDITCHAIN_MAC_LEN])
{
    size_t len = AUDITCHAIN_MAC_LEN;
    for (int c = col; c < col + AUDITCHAIN_ROW_NCOLS; c++)
        len += 9 + (size_t)PQgetlength(r, i, c);
    unsigned char *buf = xmalloc(len), *p = buf;
    memcpy(p, prev ? prev : zeros, AUDITCHAIN_MAC_LEN);
    p += AUDITCHAIN_MAC_LEN;
    for (int c = col; c < col + AUDITCHAIN_ROW_NCOLS; c++) {
        /* a NULL is a 1 flag and no length: never the same bytes as "" */
        int null = PQgetisnull(r, i, c);
        *p++ = (unsigned char)null;
        if (null)
            continue;
        size_t n = (size_t)PQgetlength(r, i, c);
        p += put_u64(p, n);
        memcpy(p, PQgetvalue(r, i, c), n);
        p += n;
    }
    HMAC(EVP_sha256(), key, AUDITCHAIN_MAC_LEN, buf, (size_t)(p - buf), out, NULL);
    free(buf);
}

void auditchain_block_mac(const unsigned char key[AUDITCHAIN_MAC_LEN], long long seq,
                          long long rows, const unsigned char *prev_block,
                          const unsigned char last_row[AUDITCHAIN_MAC_LEN],
                          unsigned char out[AUDITCHAIN_MAC_LEN])
{
    unsigned char buf[5 + 16 + 2 * AUDITCHAIN_MAC_LEN], *p = buf;
    memcpy(p, "block", 5);
    p += 5;
    p += put_u64(p, (uint64_t)seq);
    p += put_u64(p, (uint64_t)rows);
    memcpy(p, prev_block ? prev_block : zeros, AUDITCHAIN_MAC_LEN);
    p += AUDITCHAIN_MAC_LEN;
    memcpy(p, last_row, AUDITCHAIN_MAC_LEN);
    p += AUDITCHAIN_MAC_LEN;
    HMAC(EVP_sha256(), key, AUDITCHAIN_MAC_LEN, buf, (size_t)(p - buf), out, NULL);
}

void auditchain_hex(const unsigned char mac[AUDITCHAIN_MAC_LEN],
                    char out[2 * AUDITCHAIN_MAC_LEN + 1])
{
    /* not snprintf per byte: a seal of a few thousand rows spent most of its time there */
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < AUDITCHAIN_MAC_LEN; i++) {
        out[2 * i] = digits[mac[i] >> 4];
        out[2 * i + 1] = digits[mac[i] & 15];
    }
    out[2 * AUDITCHAIN_MAC_LEN] = '\0';
}

int auditchain_get_mac(const PGresult *r, int i, int col, unsigned char out[AUDITCHAIN_MAC_LEN])
{
    if (PQgetisnull(r, i, col))
        return 0;
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, col), &n);
    int ok = b && n == AUDITCHAIN_MAC_LEN;
    if (ok)
        memcpy(out, b, AUDITCHAIN_MAC_LEN);
    PQfreemem(b);
    return ok;
}
