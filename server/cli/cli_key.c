#include "cli.h"
#include "keys.h"
#include "signer.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define RETIRED_KEY_PUBLISH_DAYS 7

/* pushgated key rotate: a new signing key becomes current at once for the
 * JWKS, running instances switch to it when they hear the rotation's NOTIFY
 * (keyswap.h), and the retired key stays published for a week so that nothing
 * signed before stops verifying. argv[0] is "key". */
int cli_key(const struct config *cfg, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "rotate") != 0) {
        fprintf(stderr, "usage: pushgated key rotate\n");
        return 2;
    }
    unsigned char master[KEYS_MASTER_LEN];
    char err[512];
    if (keys_load_master(cfg->key_file, master, err, sizeof err) < 0) {
        fprintf(stderr, "pushgated: %s\n", err);
        return 1;
    }
    PGconn *pg = cli_connect(cfg);
    int rc = pg && signer_rotate(pg, master, RETIRED_KEY_PUBLISH_DAYS) == 0 ? 0 : 1;
    struct signer *s = rc == 0 ? signer_load(pg, master) : NULL;
    if (s)
        printf("{\"kid\": \"%s\"}\n", signer_kid(s));
    signer_free(s);
    PQfinish(pg);
    OPENSSL_cleanse(master, sizeof master);
    return s ? 0 : 1;
}
