/* keys: the master key in PUSHGATE_KEY_FILE (32 random bytes, hex), which
 * seals secrets at rest. Created with mode 0600 when missing. BLOCKING file
 * I/O: called once at start, before the loop. */
#ifndef PUSHGATE_KEYS_H
#define PUSHGATE_KEYS_H

#include <stddef.h>

#define KEYS_MASTER_LEN 32

/* 0 ok; -1 with a message in err (never containing key material). */
int keys_load_master(const char *path, unsigned char key[KEYS_MASTER_LEN], char *err, size_t n);

#endif
