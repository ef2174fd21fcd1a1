/* sim_state: the simulator's state file -- device keys, ids, and what was pinned at
 * enrolment (server URL, server JWKS).
 *
 * Two shapes, one loader (docs/simulator.md):
 *   one device  {"version":1, "server", "jwks", "application", "username", "deviceName",
 *                "deviceId", "privateKey"}                     (enroll, run, status, revoke)
 *   many        {"version":1, "server", "jwks", "application",
 *                "devices": [{"deviceId", "username", "privateKey"}, ...]}       (load)
 * privateKey is the PKCS#8 DER private key in base64url. The file holds private keys: it is
 * written with mode 0600, atomically (a temp file in the same directory, fsync, rename),
 * and a file that group or others may read or write is refused, as ssh refuses keys. */
#ifndef PUSHGATE_SIM_STATE_H
#define PUSHGATE_SIM_STATE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

struct sim_dev {
    char *device_id;
    char *username;
    EVP_PKEY *key;
};

struct sim_state {
    char *server;        /* base URL every request goes to */
    json_t *jwks;        /* pinned server keys */
    json_t *application; /* {"id","name"} or NULL */
    char *device_name;   /* one-device files only */
    int many;            /* 1: the "devices" shape */
    struct sim_dev *devs;
    size_t ndevs, cap;
};

/* Reads path into *st (zeroed first). 0, or -1 with a readable reason in err: missing,
 * unreadable, wrong permissions, not JSON, a field missing or malformed, a bad key. */
int sim_state_load(const char *path, struct sim_state *st, char *err, size_t errlen);

/* Writes st to path atomically with mode 0600. 0, or -1 with a reason in err. */
int sim_state_save(const char *path, const struct sim_state *st, char *err, size_t errlen);

/* Appends a device (takes ownership of key; copies the strings). 0, or -1 on OOM. */
int sim_state_add(struct sim_state *st, const char *device_id, const char *username, EVP_PKEY *key);

/* Frees everything st owns and zeroes it. */
void sim_state_clear(struct sim_state *st);

#endif
