/* sim_client: one enrolled device talking to its server -- the state file loaded, the
 * pinned keys parsed, one connection on a private event loop. Used by run, status and
 * revoke; every /device... request gets a fresh device proof (api.md 6.1). */
#ifndef PUSHGATE_SIM_CLIENT_H
#define PUSHGATE_SIM_CLIENT_H

#include "sim_http.h"
#include "sim_proof.h"
#include "sim_state.h"

struct sim_client {
    struct sim_state st;
    struct sim_dev *dev; /* st.devs[0] */
    struct sim_url url;
    struct event_base *base;
    struct sim_conn *conn;
    struct sim_keyset *keys;
};

/* Loads the one-device state file at path and connects (lazily: nothing is sent yet).
 * 0, or -1 after reporting why on stderr. */
int sim_client_open(struct sim_client *c, const char *path);
void sim_client_close(struct sim_client *c);

/* Starts method on route (a path without query; query may be NULL, e.g. "wait=30") with a
 * device proof for it. Same contract as sim_http_request. */
int sim_client_request(struct sim_client *c, enum evhttp_cmd_type method, const char *route,
                       const char *query, const json_t *body, int timeout_s, sim_http_cb cb,
                       void *arg);

/* The same, run to completion (see sim_http_sync). */
int sim_client_sync(struct sim_client *c, enum evhttp_cmd_type method, const char *route,
                    const json_t *body, int timeout_s, struct sim_resp *out);

#endif
