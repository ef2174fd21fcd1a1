/* keys: the master key in PUSHGATE_KEY_FILE (32 random bytes, hex), which
 * seals secrets at rest. Created with mode 0600 when missing. BLOCKING file
 * I/O: called once at start, before the loop. */
#ifndef PUSHGATE_KEYS_H
#define PUSHGATE_KEYS_H

#include <stddef.h>

#define KEYS_MASTER_LEN 32

/* 0 ok; -1 with a message in err (never containing key material). */
int keys_load_master(const char *path, unsigned char key[KEYS_MASTER_LEN], char *err, size_t n);

/* A key of its own for one purpose (e.g. "pushgate audit chain v1"):
 * HKDF-SHA256 of the master key with `purpose` as info, so no derived key
 * reveals the master or another purpose's key. 0 ok, -1 on an OpenSSL failure. */
int keys_derive(const unsigned char master[KEYS_MASTER_LEN], const char *purpose,
                unsigned char out[KEYS_MASTER_LEN]);

#endif
