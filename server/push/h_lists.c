/* The lists of api.md 11 (h_lists.h). Each handler checks its filters, then one
 * statement reads limit + 1 rows of its list function (sql/041_lists.sql): the
 * extra row says whether a next page exists, and the last row shown is where
 * that page starts (its cursor). */
#include "h_lists.h"

#include "alloc.h"
#include "authview.h"
#include "db.h"
#include "listreq.h"
#include "server.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The list functions' columns: position (at_us, id), then the item: a JSON
 * document, or an auth view's columns (authview.h). */
enum { COL_AT, COL_ID, COL_ITEM };
enum item_kind { ITEM_JSON, ITEM_AUTH };

struct page {
    struct req *r;
    struct listreq l;
    enum item_kind kind;
};

static json_t *page_item(const PGresult *res, int row, enum item_kind kind)
{
    if (kind == ITEM_AUTH)
        return authview_json(res, row, COL_ITEM);
    return json_loads(PQgetvalue(res, row, COL_ITEM), 0, NULL);
}

/* The page's items, or NULL when a row is not what the function returns. */
static json_t *page_items(const PGresult *res, int shown, enum item_kind kind)
{
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        json_t *it = page_item(res, i, kind);
        if (!it) {
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, it);
    }
    return items;
}

static void on_page(void *arg, enum db_status st, PGresult *res)
{
    struct page *p = arg;
    struct req *r = p->r;
    int n = st == DB_OK ? PQntuples(res) : 0, shown = n > p->l.limit ? p->l.limit : n;
    json_t *items = st == DB_OK ? page_items(res, shown, p->kind) : NULL;
    char *next = items && n > shown ? listreq_cursor(r, &p->l, PQgetvalue(res, shown - 1, COL_AT),
                                                     PQgetvalue(res, shown - 1, COL_ID))
                                    : NULL;
    bool more = n > shown;
    free(p);
    if (st != DB_OK)
        return http_db_failure(r, st);
    if (!items || (more && !next)) {
        json_decref(items);
        return http_problem(r, 500, "internal", "cannot build the page");
    }
    listreq_reply(r, items, next);
}

/* Runs sql, whose last parameter is the row count (the page's limit + 1: it is
 * appended here). An empty scope (listreq.h) answers without the database. */
static void run_page(struct req *r, const struct listreq *l, enum item_kind kind, const char *sql,
                     int nparams, const char **params)
{
    if (l->empty)
        return listreq_reply(r, json_array(), NULL);
    char rows[16];
    snprintf(rows, sizeof rows, "%d", l->limit + 1);
    params[nparams - 1] = rows;
    struct page *p = xcalloc(1, sizeof *p);
    p->r = r;
    p->l = *l;
    p->kind = kind;
    db_query(r->srv->db, sql, nparams, params, on_page, p);
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

/* since (RFC 3339) as microseconds for SQL; true when absent. */
static bool since_param(const char *since, char out[24])
{
    long long us;
    if (!since)
        return true;
    if (!listreq_time(since, &us))
        return false;
    snprintf(out, 24, "%lld", us);
    return true;
}

static const char *after_at(const struct listreq *l)
{
    return l->after ? l->at_us : NULL;
}

static const char *after_id(const struct listreq *l)
{
    return l->after ? l->id : NULL;
}

void h_registrations_list(struct req *r)
{
    static const char *const names[] = {"username", "status"};
    static const char *const statuses[] = {"pending", "retrieved", "completed",
                                           "expired", "cancelled", NULL};
    struct listreq l;
    if (!listreq_parse(r, "registrations", names, 2, &l))
        return;
    if (l.filter[0] && !valid_username(l.filter[0]))
        return http_bad_request(r, "username is not a username");
    if (l.filter[1] && !one_of(l.filter[1], statuses))
        return http_bad_request(r, "status is not a registration status");
    const char *p[] = {l.app, l.filter[0], l.filter[1], after_at(&l), after_id(&l), NULL};
    run_page(r, &l, ITEM_JSON, "SELECT * FROM registration_list($1, $2, $3, $4, $5, $6)", 6, p);
}

void h_auth_list(struct req *r)
{
    static const char *const names[] = {"username", "status", "since"};
    static const char *const statuses[] = {"pending", "accepted",  "denied",
                                           "expired", "cancelled", NULL};
    struct listreq l;
    char since[24];
    if (!listreq_parse(r, "auth", names, 3, &l))
        return;
    if (l.filter[0] && !valid_username(l.filter[0]))
        return http_bad_request(r, "username is not a username");
    if (l.filter[1] && !one_of(l.filter[1], statuses))
        return http_bad_request(r, "status is not an auth request status");
    if (!since_param(l.filter[2], since))
        return http_bad_request(r, "since is not an RFC 3339 date-time");
    const char *p[] = {l.app,        l.filter[0],  l.filter[1], l.filter[2] ? since : NULL,
                       after_at(&l), after_id(&l), NULL};
    run_page(r, &l, ITEM_AUTH, "SELECT at_us, id, (v).* FROM auth_list($1, $2, $3, $4, $5, $6, $7)",
             7, p);
}

void h_users_list(struct req *r)
{
    static const char *const names[] = {"q"};
    struct listreq l;
    if (!listreq_parse(r, "users", names, 1, &l))
        return;
    if (l.filter[0] && !valid_username(l.filter[0]))
        return http_bad_request(r, "q is not the start of a username");
    const char *p[] = {l.app, l.filter[0], after_at(&l), after_id(&l), NULL};
    run_page(r, &l, ITEM_JSON, "SELECT * FROM user_list($1, $2, $3, $4, $5)", 5, p);
}

/* /audit and /applications: an application's credentials are valid, and not enough. */
static bool admin_only(struct req *r)
{
    if (r->caller == CALLER_ADMIN)
        return true;
    http_problem(r, 403, "forbidden", "only the admin may list this"); /* frees r */
    return false;
}

static bool valid_event_type(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz_.") == n;
}

void h_audit_list(struct req *r)
{
    static const char *const names[] = {"type", "username", "since"};
    struct listreq l;
    char since[24];
    if (!admin_only(r) || !listreq_parse(r, "audit", names, 3, &l))
        return;
    if (l.filter[0] && !valid_event_type(l.filter[0]))
        return http_bad_request(r, "type is not an audit event type");
    if (l.filter[1] && !valid_username(l.filter[1]))
        return http_bad_request(r, "username is not a username");
    if (!since_param(l.filter[2], since))
        return http_bad_request(r, "since is not an RFC 3339 date-time");
    const char *p[] = {l.app,        l.filter[0],  l.filter[1], l.filter[2] ? since : NULL,
                       after_at(&l), after_id(&l), NULL};
    run_page(r, &l, ITEM_JSON, "SELECT * FROM audit_list($1, $2, $3, $4, $5, $6, $7)", 7, p);
}

void h_applications_list(struct req *r)
{
    struct listreq l;
    if (!admin_only(r) || !listreq_parse(r, "applications", NULL, 0, &l))
        return;
    const char *p[] = {l.app, after_at(&l), after_id(&l), NULL};
    run_page(r, &l, ITEM_JSON, "SELECT * FROM application_list($1, $2, $3, $4)", 4, p);
}
