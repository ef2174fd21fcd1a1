#include "appsecret.h"

#include "protocol/token.h"

int appsecret_new(char out[64], char hash[65])
{
    if (token_random_b64(out, 64, 32) < 0)
        return -1;
    appsecret_digest(out, hash);
    return 0;
}

void appsecret_digest(const char *secret, char hash[65])
{
    token_sha256_hex(secret, hash);
}
