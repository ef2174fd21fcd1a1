/* status and revoke: GET and DELETE /device for the enrolled device (api.md 6.4). */
#include "sim.h"
#include "sim_client.h"
#include "sim_util.h"

#include <stdio.h>
#include <stdlib.h>

#define DEVICE_TIMEOUT_S 20

static void report(const struct sim_client *c, const struct sim_resp *r, const char *what)
{
    char d[512];
    sim_resp_describe(r, d, sizeof d);
    if (r->status == 0)
        sim_err("%s: cannot reach the server at %s: %s", what, c->st.server, d);
    else if (r->status == 401)
        sim_err("%s: the server refused the device proof (%s): the device was revoked, or this "
                "machine's clock is more than 60 s off",
                what, d);
    else
        sim_err("%s: %s", what, d);
}

int sim_cmd_status(const struct sim_opts *o)
{
    struct sim_client c;
    struct sim_resp r = {0};
    if (sim_client_open(&c, o->state) < 0)
        return SIM_FAIL;
    int rc = SIM_FAIL;
    if (sim_client_sync(&c, EVHTTP_REQ_GET, "/device", NULL, DEVICE_TIMEOUT_S, &r) < 0)
        sim_err("cannot send the request");
    else if (r.status != 200 || !json_is_object(r.json))
        report(&c, &r, "status");
    else {
        char *text = json_dumps(r.json, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text ? text : r.body);
        free(text);
        rc = SIM_OK;
    }
    sim_resp_clear(&r);
    sim_client_close(&c);
    return rc;
}

int sim_cmd_revoke(const struct sim_opts *o)
{
    struct sim_client c;
    struct sim_resp r = {0};
    if (sim_client_open(&c, o->state) < 0)
        return SIM_FAIL;
    int rc = SIM_FAIL;
    if (sim_client_sync(&c, EVHTTP_REQ_DELETE, "/device", NULL, DEVICE_TIMEOUT_S, &r) < 0)
        sim_err("cannot send the request");
    else if (r.status != 204)
        report(&c, &r, "revoke");
    else {
        printf("device %s revoked; %s can no longer be used\n", c.dev->device_id, o->state);
        rc = SIM_OK;
    }
    sim_resp_clear(&r);
    sim_client_close(&c);
    return rc;
}
