#include "keys.h"

#include "protocol/hkdf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEX_LEN (KEYS_MASTER_LEN * 2)

static int create_key(const char *path, char *err, size_t n)
{
    unsigned char raw[KEYS_MASTER_LEN];
    char hex[HEX_LEN + 2];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        snprintf(err, n, "random generator failed");
        return -1;
    }
    for (int i = 0; i < KEYS_MASTER_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[HEX_LEN] = '\n';
    OPENSSL_cleanse(raw, sizeof raw);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, n, "PUSHGATE_KEY_FILE %s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, hex, HEX_LEN + 1);
    OPENSSL_cleanse(hex, sizeof hex);
    if (w != HEX_LEN + 1 || fsync(fd) != 0 || close(fd) != 0) {
        snprintf(err, n, "PUSHGATE_KEY_FILE %s: cannot write", path);
        return -1;
    }
    return 0;
}

static int parse_hex(const char *hex, unsigned char *out)
{
    for (int i = 0; i < KEYS_MASTER_LEN; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

int keys_load_master(const char *path, unsigned char key[KEYS_MASTER_LEN], char *err, size_t n)
{
    if (access(path, F_OK) != 0 && create_key(path, err, n) < 0)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, n, "PUSHGATE_KEY_FILE %s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char hex[HEX_LEN + 8] = {0};
    size_t got = fread(hex, 1, sizeof hex - 1, f);
    fclose(f);
    int rc = 0;
    if (got < HEX_LEN || strspn(hex, "0123456789abcdefABCDEF") != HEX_LEN ||
        parse_hex(hex, key) < 0) {
        snprintf(err, n, "PUSHGATE_KEY_FILE %s: expected %d hex characters", path, HEX_LEN);
        rc = -1;
    }
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

int keys_derive(const unsigned char master[KEYS_MASTER_LEN], const char *purpose,
                unsigned char out[KEYS_MASTER_LEN])
{
    return hkdf_sha256(master, KEYS_MASTER_LEN, NULL, 0, (const unsigned char *)purpose,
                       strlen(purpose), out, KEYS_MASTER_LEN);
}
