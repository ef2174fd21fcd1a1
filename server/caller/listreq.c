#include "listreq.h"

#include "alloc.h"
#include "httpcheck.h"
#include "keys.h"
#include "server.h"
#include "protocol/b64url.h"
#include "protocol/token.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define MAC_LEN 16 /* of HMAC-SHA256's 32 bytes: forging still takes 2^128 tries */

/* The cursor key, derived once per process (the master key does not change). */
static bool cursor_key(const struct server *srv, unsigned char key[KEYS_MASTER_LEN])
{
    static unsigned char cached[KEYS_MASTER_LEN];
    static bool have;
    if (!have && keys_derive(srv->master_key, "pushgate list cursor v1", cached) == 0)
        have = true;
    memcpy(key, cached, KEYS_MASTER_LEN);
    return have;
}

/* The MAC of a position under what it is bound to. Every part goes in with its
 * NUL, so no two bindings run into each other; an absent filter is "\x01", which
 * no filter accepts (each refuses control characters), so it differs from any
 * value that gets past its handler's check. */
static bool cursor_mac(const struct req *r, const struct listreq *l, const char *at_us,
                       const char *id, unsigned char out[MAC_LEN])
{
    const char *parts[4 + LISTREQ_MAX_FILTERS + 1], **p = parts;
    *p++ = l->list;
    *p++ = r->caller == CALLER_ADMIN ? "admin" : r->app_id;
    *p++ = l->app ? l->app : "";
    for (int i = 0; i < LISTREQ_MAX_FILTERS; i++)
        *p++ = l->filter[i] ? l->filter[i] : "\x01";
    *p++ = at_us;
    *p++ = id;
    size_t len = 0, n = (size_t)(p - parts);
    for (size_t i = 0; i < n; i++)
        len += strlen(parts[i]) + 1;
    unsigned char *msg = xmalloc(len), *w = msg;
    for (size_t i = 0; i < n; i++)
        w = (unsigned char *)memcpy(w, parts[i], strlen(parts[i]) + 1) + strlen(parts[i]) + 1;
    unsigned char key[KEYS_MASTER_LEN], full[EVP_MAX_MD_SIZE] = {0};
    unsigned int full_len = 0;
    bool ok = cursor_key(r->srv, key) &&
              HMAC(EVP_sha256(), key, sizeof key, msg, len, full, &full_len) != NULL;
    OPENSSL_cleanse(key, sizeof key);
    free(msg);
    memcpy(out, full, MAC_LEN);
    return ok;
}

char *listreq_cursor(const struct req *r, const struct listreq *l, const char *at_us,
                     const char *id)
{
    unsigned char mac[MAC_LEN];
    if (!cursor_mac(r, l, at_us, id, mac))
        return NULL;
    char *pos = xasprintf("%s.%s", at_us, id);
    char *a = b64url_encode((unsigned char *)pos, strlen(pos));
    char *b = b64url_encode(mac, sizeof mac);
    char *out = a && b ? xasprintf("%s.%s", a, b) : NULL;
    free(pos);
    free(a);
    free(b);
    return out;
}

/* "<at_us>.<id>" as the cursor's first part carries it. */
static bool split_position(const char *pos, struct listreq *l)
{
    const char *dot = strchr(pos, '.');
    size_t n = dot ? (size_t)(dot - pos) : 0;
    if (n < 1 || n >= sizeof l->at_us || strspn(pos, "0123456789") != n)
        return false;
    memcpy(l->at_us, pos, n);
    l->at_us[n] = '\0';
    if (!valid_b64url(dot + 1, 1, sizeof l->id - 1))
        return false;
    strcpy(l->id, dot + 1);
    return true;
}

/* Checks the cursor's MAC against this request's binding; fills the position. */
static bool read_cursor(const struct req *r, const char *text, struct listreq *l)
{
    const char *dot = strchr(text, '.');
    unsigned char *pos = NULL, *mac = NULL, want[MAC_LEN];
    size_t npos = 0, nmac = 0;
    bool ok = dot && b64url_decode(text, (size_t)(dot - text), &pos, &npos) == 0 &&
              b64url_decode(dot + 1, strlen(dot + 1), &mac, &nmac) == 0 && nmac == MAC_LEN &&
              strlen((char *)pos) == npos && split_position((char *)pos, l) &&
              cursor_mac(r, l, l->at_us, l->id, want) && token_ct_equal(mac, want, MAC_LEN);
    free(pos);
    free(mac);
    l->after = ok;
    return ok;
}

static bool parse_limit(const char *s, int *limit)
{
    size_t n = s ? strlen(s) : 0;
    if (!s) {
        *limit = LISTREQ_DEFAULT_LIMIT;
        return true;
    }
    if (n < 1 || n > 3 || strspn(s, "0123456789") != n)
        return false;
    *limit = atoi(s);
    return *limit >= 1 && *limit <= LISTREQ_MAX_LIMIT;
}

/* Every parameter is one this list knows, and is text. */
static const char *check_names(const struct req *r, const char *const *names, size_t n)
{
    static const char *const common[] = {"limit", "cursor", "applicationId"};
    const struct evkeyval *kv;
    TAILQ_FOREACH(kv, &r->query, next)
    {
        bool known = false;
        for (size_t i = 0; i < 3; i++)
            known = known || strcmp(kv->key, common[i]) == 0;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(kv->key, names[i]) == 0;
        if (!known)
            return "unknown query parameter";
        if (!httpcheck_segment(kv->value, strlen(kv->value)))
            return "a query parameter is not well-formed UTF-8";
    }
    return NULL;
}

/* The scope (listreq.h): the credential's application; the admin's choice. */
static bool set_scope(struct req *r, struct listreq *l)
{
    const char *want = http_query(r, "applicationId");
    if (want && !valid_id(want))
        return false;
    l->app = r->caller == CALLER_ADMIN ? want : r->app_id;
    l->empty = r->caller != CALLER_ADMIN && want && strcmp(want, r->app_id) != 0;
    return true;
}

bool listreq_parse(struct req *r, const char *list, const char *const *names, size_t n,
                   struct listreq *out)
{
    memset(out, 0, sizeof *out);
    out->list = list;
    const char *why = check_names(r, names, n);
    if (!why && !parse_limit(http_query(r, "limit"), &out->limit))
        why = "limit must be an integer from 1 to 200";
    if (!why && !set_scope(r, out))
        why = "applicationId is not an application id";
    for (size_t i = 0; i < n && i < LISTREQ_MAX_FILTERS; i++)
        out->filter[i] = http_query(r, names[i]);
    const char *cursor = http_query(r, "cursor");
    if (!why && cursor && !read_cursor(r, cursor, out))
        why = "cursor is not one this list handed out for these filters";
    if (why)
        http_bad_request(r, why);
    return why == NULL;
}

void listreq_reply(struct req *r, json_t *items, char *next)
{
    json_t *page = json_object();
    json_object_set_new(page, "items", items);
    json_object_set_new(page, "nextCursor", next ? json_string(next) : json_null());
    free(next);
    http_reply_json(r, 200, page);
}

/* "+05:30" / "-08:00" / "Z" as seconds east of UTC. */
static bool parse_offset(const char *s, long *east)
{
    int h, m, used = 0;
    if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
        *east = 0;
        return true;
    }
    if ((s[0] != '+' && s[0] != '-') || sscanf(s + 1, "%2d:%2d%n", &h, &m, &used) != 2 ||
        used != 5 || s[6] != '\0' || h > 23 || m > 59)
        return false;
    *east = (s[0] == '-' ? -1 : 1) * (h * 3600L + m * 60L);
    return true;
}

/* "DDDD-DD-DDTDD:DD:DD" exactly (sscanf alone would skip spaces and take signs). */
static bool time_shape(const char *s)
{
    static const char shape[] = "DDDD-DD-DDTDD:DD:DD";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        bool digit = s[i] >= '0' && s[i] <= '9';
        bool ok = shape[i] == 'D'   ? digit
                  : shape[i] == 'T' ? s[i] == 'T' || s[i] == 't'
                                    : s[i] == shape[i];
        if (!ok)
            return false;
    }
    return true;
}

bool listreq_time(const char *s, long long *us)
{
    struct tm tm = {0};
    int used = 0;
    if (strlen(s) < 20 || !time_shape(s) ||
        sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    const char *p = s + 19;
    long frac = 0, scale = 1000000;
    if (*p == '.') {
        size_t digits = strspn(++p, "0123456789");
        if (digits < 1 || digits > 9)
            return false;
        for (size_t i = 0; i < digits; i++, p++)
            if (scale > 1)
                frac += (*p - '0') * (scale /= 10);
    }
    long east;
    if (!parse_offset(p, &east))
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    *us = ((long long)t - east) * 1000000LL + frac;
    return true;
}

bool listreq_target_app(struct req *r, bool required, const char *code, const char *detail,
                        const char **app)
{
    const char *want = http_query(r, "applicationId");
    if (want && !valid_id(want)) {
        http_bad_request(r, "applicationId is not an application id");
        return false;
    }
    if (r->caller != CALLER_ADMIN) {
        if (want && strcmp(want, r->app_id) != 0) {
            http_problem(r, 404, code, detail);
            return false;
        }
        *app = r->app_id;
        return true;
    }
    if (required && !want) {
        http_bad_request(r, "the admin names the application: ?applicationId=");
        return false;
    }
    *app = want;
    return true;
}
