/* The route table: every endpoint of api.md, in one screen. */
#include "routes.h"

#include "h_auth.h"
#include "h_device.h"
#include "h_link.h"
#include "h_lists.h"
#include "h_mfa_check.h"
#include "h_mfa_codes.h"
#include "h_mfa_status.h"
#include "h_ops.h"
#include "h_registration.h"
#include "h_users.h"
#include "h_web.h"

#include <event2/http.h>

#define GET (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define POST EVHTTP_REQ_POST
#define PUT EVHTTP_REQ_PUT
#define DELETE EVHTTP_REQ_DELETE

/* A table reads best aligned. */
/* clang-format off */
const struct route routes[] = {
    /* methods pattern                        auth               json   handler */
    {GET,    "/healthz",                     AUTH_NONE,         false, h_healthz},
    {GET,    "/readyz",                      AUTH_NONE,         false, h_readyz},
    {GET,    "/.well-known/jwks.json",       AUTH_NONE,         false, h_jwks},
    {GET,    "/metrics",                     AUTH_NONE,         false, h_metrics},
    {POST,   "/registration",                AUTH_APP_OR_ADMIN, true,  h_registration_create},
    {GET,    "/registration/{}",             AUTH_APP_OR_ADMIN, false, h_registration_get},
    {DELETE, "/registration/{}",             AUTH_APP_OR_ADMIN, false, h_registration_cancel},
    {GET,    "/r/{}",                        AUTH_NONE,         false, h_link_get},
    {POST,   "/r/{}",                        AUTH_NONE,         true,  h_link_bind},
    {POST,   "/auth",                        AUTH_APP,          true,  h_auth_create},
    {GET,    "/auth/{}",                     AUTH_APP_OR_ADMIN, false, h_auth_get},
    {DELETE, "/auth/{}",                     AUTH_APP_OR_ADMIN, false, h_auth_cancel},
    {GET,    "/device/challenges",           AUTH_DEVICE_POLL,  false, h_device_poll},
    {POST,   "/device/challenges/{}",        AUTH_DEVICE_JTI,   true,  h_device_answer},
    {GET,    "/device",                      AUTH_DEVICE,       false, h_device_get},
    {DELETE, "/device",                      AUTH_DEVICE,       false, h_device_revoke},
    {GET,    "/users/{}/devices",            AUTH_APP_OR_ADMIN, false, h_user_devices},
    {DELETE, "/users/{}/devices/{}",         AUTH_APP_OR_ADMIN, false, h_user_device_revoke},
    {POST,   "/users/{}/mfa/setup",          AUTH_APP,          true,  h_mfa_setup},
    {POST,   "/users/{}/mfa/enable",         AUTH_APP,          true,  h_mfa_enable},
    {POST,   "/users/{}/mfa/challenge",      AUTH_APP,          false, h_mfa_challenge},
    {POST,   "/users/{}/mfa/verify",         AUTH_APP,          true,  h_mfa_verify},
    {POST,   "/users/{}/mfa/disable",        AUTH_APP_OR_ADMIN, true,  h_mfa_disable},
    {POST,   "/users/{}/mfa/backup-codes",   AUTH_APP,          true,  h_mfa_backup_codes},
    {GET,    "/users/{}/mfa/status",         AUTH_APP_OR_ADMIN, false, h_mfa_status},
    {PUT,    "/users/{}/mfa/requirements",   AUTH_APP,          true,  h_mfa_requirements},
    {GET,    "/app",                         AUTH_NONE,         false, h_web_redirect},
    {GET,    "/app/",                        AUTH_NONE,         false, h_web_index},
    {GET,    "/app/{}",                      AUTH_NONE,         false, h_web_file},
    {GET,    "/console",                     AUTH_NONE,         false, h_console_redirect},
    {GET,    "/console/",                    AUTH_NONE,         false, h_console_index},
    {GET,    "/console/{}",                  AUTH_NONE,         false, h_console_file},
    /* lists and administration (api.md 11) */
    {GET,    "/registrations",               AUTH_APP_OR_ADMIN, false, h_registrations_list},
    {GET,    "/auth",                        AUTH_APP_OR_ADMIN, false, h_auth_list},
    {GET,    "/users",                       AUTH_APP_OR_ADMIN, false, h_users_list},
    {GET,    "/audit",                       AUTH_APP_OR_ADMIN, false, h_audit_list},
    {GET,    "/applications",                AUTH_APP_OR_ADMIN, false, h_applications_list},
    {POST,   "/users/{}/unlock",             AUTH_APP_OR_ADMIN, false, h_user_unlock},
};
/* clang-format on */
const size_t routes_count = sizeof routes / sizeof *routes;
