#include "sim_client.h"

#include "sim_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_client_open(struct sim_client *c, const char *path)
{
    char err[600];
    memset(c, 0, sizeof *c);
    if (sim_state_load(path, &c->st, err, sizeof err) < 0) {
        sim_err("%s", err);
        return -1;
    }
    if (c->st.many) {
        sim_err("%s holds %zu load-test devices: use pushgate-sim load", path, c->st.ndevs);
    } else if (sim_url_parse(c->st.server, &c->url, err, sizeof err) < 0) {
        sim_err("%s is corrupt: server: %s", path, err);
    } else if (!(c->keys = sim_keyset_new(c->st.jwks))) {
        sim_err("%s is corrupt: the pinned jwks holds no P-256 key", path);
    } else if (!(c->base = event_base_new()) || !(c->conn = sim_conn_new(c->base, &c->url))) {
        sim_err("cannot set up the event loop or the HTTP client");
    } else {
        c->dev = &c->st.devs[0];
        return 0;
    }
    sim_client_close(c);
    return -1;
}

void sim_client_close(struct sim_client *c)
{
    sim_conn_free(c->conn);
    sim_keyset_free(c->keys);
    if (c->base)
        sim_http_base_free(c->base);
    sim_state_clear(&c->st);
    memset(c, 0, sizeof *c);
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "GET";
    }
}

/* Path (with query) and Authorization for one request; -1 on failure. */
static int prepare(struct sim_client *c, enum evhttp_cmd_type method, const char *route,
                   const char *query, char *path, size_t pathsz, char **authz)
{
    char htu[1024];
    if (sim_url_path(&c->url, route, htu, sizeof htu) < 0 ||
        snprintf(path, pathsz, "%s%s%s", route, query ? "?" : "", query ? query : "") >=
            (int)pathsz)
        return -1;
    *authz = sim_device_authz(c->dev->key, c->dev->device_id, method_name(method), htu);
    return *authz ? 0 : -1;
}

int sim_client_request(struct sim_client *c, enum evhttp_cmd_type method, const char *route,
                       const char *query, const json_t *body, int timeout_s, sim_http_cb cb,
                       void *arg)
{
    char path[1200], *authz = NULL;
    if (prepare(c, method, route, query, path, sizeof path, &authz) < 0)
        return -1;
    const char *h[] = {"Authorization", authz, "Accept", "application/json", NULL};
    int rc = sim_http_request(c->conn, method, path, h, body, timeout_s, cb, arg);
    free(authz);
    return rc;
}

int sim_client_sync(struct sim_client *c, enum evhttp_cmd_type method, const char *route,
                    const json_t *body, int timeout_s, struct sim_resp *out)
{
    char path[1200], *authz = NULL;
    memset(out, 0, sizeof *out);
    if (prepare(c, method, route, NULL, path, sizeof path, &authz) < 0)
        return -1;
    const char *h[] = {"Authorization", authz, "Accept", "application/json", NULL};
    int rc = sim_http_sync(c->base, c->conn, method, path, h, body, timeout_s, out);
    free(authz);
    return rc;
}
