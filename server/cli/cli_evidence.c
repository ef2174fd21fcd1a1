#include "cli.h"
#include "protocol/evidence.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two trusted inputs, read from files. */
struct evidence_args {
    const char *jwks, *device_key;
};

static int evidence_usage(void)
{
    fprintf(stderr, "usage: pushgated evidence verify --jwks JWKS.json --device-key DEVICE.jwk "
                    "< AUTH_OBJECT.json\n");
    return 2;
}

/* argv[0] is "evidence", argv[1] "verify", then both options once each, in any order. */
static int evidence_parse(int argc, char **argv, struct evidence_args *a)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0)
        return -1;
    for (int i = 2; i < argc; i += 2) {
        const char **slot = !strcmp(argv[i], "--jwks")         ? &a->jwks
                            : !strcmp(argv[i], "--device-key") ? &a->device_key
                                                               : NULL;
        if (slot == NULL || *slot != NULL || i + 1 >= argc)
            return -1;
        *slot = argv[i + 1];
    }
    return a->jwks && a->device_key ? 0 : -1;
}

/* A key file the auditor trusts: unreadable or not JSON is the auditor's problem (exit 2),
 * not a property of the evidence. Duplicate members are refused: they make a key mean
 * whatever the reader picks. */
static json_t *evidence_load_key(const char *path)
{
    json_error_t err;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL)
        fprintf(stderr, "pushgated: %s: %s\n", path, err.text);
    return v;
}

/* The auth object under test, from stdin. Not JSON (or with duplicate members, which
 * could show an auditor one status and a program another) is invalid evidence: NULL, and
 * evidence_verify says "malformed_auth_object". A read error is exit 2 (*io_error). */
static json_t *evidence_load_object(int *io_error)
{
    json_error_t err;
    json_t *v = json_loadf(stdin, JSON_REJECT_DUPLICATES, &err);
    *io_error = ferror(stdin) != 0;
    if (*io_error)
        fprintf(stderr, "pushgated: cannot read the auth object from stdin\n");
    return v;
}

/* pushgated evidence verify (api.md 7.1): checks a decided auth object against the JWKS
 * and the device key (protocol/evidence.h lists the checks and reasons). No database and
 * no configuration: main.c dispatches here before loading any. Prints the 7.1 JSON on
 * stdout; exit 0 valid, 1 not valid, 2 usage error or unreadable input. */
int cli_evidence(int argc, char **argv)
{
    struct evidence_args a = {0};
    if (evidence_parse(argc, argv, &a) != 0)
        return evidence_usage();
    int io_error = 0;
    json_t *jwks = evidence_load_key(a.jwks);
    json_t *device = jwks ? evidence_load_key(a.device_key) : NULL;
    json_t *auth = device ? evidence_load_object(&io_error) : NULL;
    json_t *out = device && !io_error ? evidence_verify(auth, jwks, device) : NULL;
    char *text = out ? json_dumps(out, JSON_PRESERVE_ORDER) : NULL;
    int rc = text == NULL ? 2 : json_is_true(json_object_get(out, "valid")) ? 0 : 1;
    if (text != NULL)
        puts(text);
    free(text);
    json_decref(out);
    json_decref(auth);
    json_decref(device);
    json_decref(jwks);
    return rc;
}
