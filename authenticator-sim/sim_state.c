#include "sim_state.h"

#include "protocol/b64url.h"
#include "protocol/jwk.h"
#include "protocol/token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX_BYTES (64 * 1024 * 1024)

int sim_state_add(struct sim_state *st, const char *device_id, const char *username, EVP_PKEY *key)
{
    if (st->ndevs == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4;
        struct sim_dev *d = realloc(st->devs, cap * sizeof *d);
        if (!d)
            return -1;
        st->devs = d;
        st->cap = cap;
    }
    struct sim_dev *d = &st->devs[st->ndevs];
    d->device_id = strdup(device_id);
    d->username = strdup(username ? username : "");
    d->key = key;
    if (!d->device_id || !d->username) {
        free(d->device_id);
        free(d->username);
        return -1;
    }
    st->ndevs++;
    return 0;
}

void sim_state_clear(struct sim_state *st)
{
    for (size_t i = 0; i < st->ndevs; i++) {
        free(st->devs[i].device_id);
        free(st->devs[i].username);
        EVP_PKEY_free(st->devs[i].key);
    }
    free(st->devs);
    free(st->server);
    free(st->device_name);
    json_decref(st->jwks);
    json_decref(st->application);
    memset(st, 0, sizeof *st);
}

static EVP_PKEY *key_from_text(const char *b64)
{
    unsigned char *der = NULL;
    size_t n = 0;
    if (!b64 || b64url_decode(b64, strlen(b64), &der, &n) < 0)
        return NULL;
    EVP_PKEY *k = jwk_private_from_der(der, n);
    OPENSSL_cleanse(der, n);
    free(der);
    return k;
}

static char *key_to_text(const EVP_PKEY *key)
{
    unsigned char *der = NULL;
    size_t n = 0;
    if (jwk_private_to_der(key, &der, &n) < 0)
        return NULL;
    char *s = b64url_encode(der, n);
    OPENSSL_cleanse(der, n);
    free(der);
    return s;
}

/* One device entry (either shape): deviceId, username, privateKey. */
static int load_dev(struct sim_state *st, json_t *o, size_t i, char *err, size_t errlen)
{
    const char *id = json_string_value(json_object_get(o, "deviceId"));
    const char *user = json_string_value(json_object_get(o, "username"));
    EVP_PKEY *k = key_from_text(json_string_value(json_object_get(o, "privateKey")));
    if (!id || !token_is_valid_id(id) || !k) {
        snprintf(err, errlen, "device %zu: %s", i,
                 k ? "deviceId missing or malformed" : "privateKey missing or not a P-256 key");
        EVP_PKEY_free(k);
        return -1;
    }
    if (sim_state_add(st, id, user, k) < 0) {
        EVP_PKEY_free(k);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int load_json(json_t *root, struct sim_state *st, char *err, size_t errlen)
{
    const char *server = json_string_value(json_object_get(root, "server"));
    json_t *jwks = json_object_get(root, "jwks"), *devs = json_object_get(root, "devices");
    json_t *app = json_object_get(root, "application");
    if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1) {
        snprintf(err, errlen, "not a pushgate-sim state file (version 1)");
        return -1;
    }
    if (!server || !json_is_object(jwks) || !json_is_array(json_object_get(jwks, "keys"))) {
        snprintf(err, errlen, "\"server\" or \"jwks\" missing or malformed");
        return -1;
    }
    st->server = strdup(server);
    st->jwks = json_incref(jwks);
    st->application = json_is_object(app) ? json_incref(app) : NULL;
    const char *name = json_string_value(json_object_get(root, "deviceName"));
    st->device_name = name ? strdup(name) : NULL;
    st->many = devs != NULL;
    if (!st->many)
        return load_dev(st, root, 0, err, errlen);
    if (!json_is_array(devs)) {
        snprintf(err, errlen, "\"devices\" is not an array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(devs); i++)
        if (load_dev(st, json_array_get(devs, i), i, err, errlen) < 0)
            return -1;
    return 0;
}

/* Refuses anything but a regular file that only its owner may read or write. */
static int check_file(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) < 0) {
        snprintf(err, errlen, "cannot read %s: %s%s", path, strerror(errno),
                 errno == ENOENT ? " (enroll first: pushgate-sim enroll LINK)" : "");
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > STATE_MAX_BYTES) {
        snprintf(err, errlen, "%s is not a state file (not a regular file, or too large)", path);
        return -1;
    }
    if (sb.st_mode & 077) {
        snprintf(err, errlen,
                 "%s has mode %04o: it holds private keys, so group and others must have no "
                 "access (chmod 600 %s)",
                 path, (unsigned)(sb.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

int sim_state_load(const char *path, struct sim_state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (check_file(path, err, errlen) < 0)
        return -1;
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s is corrupt: line %d: %s", path, je.line, je.text);
        return -1;
    }
    char why[256];
    int rc = load_json(root, st, why, sizeof why);
    json_decref(root);
    if (rc == 0 && st->ndevs == 0)
        snprintf(why, sizeof why, "it holds no device"), rc = -1;
    if (rc < 0) {
        snprintf(err, errlen, "%s is corrupt: %s", path, why);
        sim_state_clear(st);
    }
    return rc;
}

/* The device's fields into o; -1 when its key cannot be encoded. */
static int dump_dev(json_t *o, const struct sim_dev *d)
{
    char *k = key_to_text(d->key);
    if (!k)
        return -1;
    json_object_set_new(o, "deviceId", json_string(d->device_id));
    json_object_set_new(o, "username", json_string(d->username));
    json_object_set_new(o, "privateKey", json_string(k));
    OPENSSL_cleanse(k, strlen(k));
    free(k);
    return 0;
}

static json_t *dump_json(const struct sim_state *st)
{
    json_t *root = json_pack("{s:i, s:s, s:O, s:O?}", "version", 1, "server", st->server, "jwks",
                             st->jwks, "application", st->application);
    if (!root)
        return NULL;
    int rc = 0;
    if (!st->many) {
        json_object_set_new(root, "deviceName",
                            json_string(st->device_name ? st->device_name : ""));
        rc = dump_dev(root, &st->devs[0]);
    } else {
        json_t *arr = json_array();
        json_object_set_new(root, "devices", arr);
        for (size_t i = 0; i < st->ndevs && rc == 0; i++) {
            json_t *o = json_object();
            json_array_append_new(arr, o);
            rc = dump_dev(o, &st->devs[i]);
        }
    }
    if (rc < 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Atomic replace: temp file beside path (same file system), fsync, rename. */
static int write_atomic(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    int rc = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    if (close(fd) < 0 && rc == 0)
        rc = -1, saved = errno;
    if (rc == 0 && rename(tmp, path) == 0)
        return 0;
    saved = rc == 0 ? errno : saved;
    unlink(tmp);
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
    return -1;
}

int sim_state_save(const char *path, const struct sim_state *st, char *err, size_t errlen)
{
    json_t *root = st->ndevs > 0 ? dump_json(st) : NULL;
    char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "cannot encode the state (out of memory?)");
        return -1;
    }
    int rc = write_atomic(path, text, err, errlen);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return rc;
}
