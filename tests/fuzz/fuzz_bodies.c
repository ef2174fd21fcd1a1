/* libFuzzer harness for every route's JSON body check (server/push/push_body.c,
 * server/enroll/enroll_body.c, server/mfa/mfa_body.c). The input is parsed the way
 * http.c parses a request body (JSON_REJECT_DUPLICATES, an object, top-level nulls
 * dropped) and handed to each check, under each configuration it depends on. A body a
 * check accepts must satisfy api.md 1 and the route's section, judged here again
 * independently: no unknown member, strings of the right length in characters or
 * bytes, without control characters (C0, DEL, C1), transaction <= 4 KiB serialized and
 * nesting depth <= 4, numbers in range, enumerations from their sets. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "enroll_body.h"
#include "mfa_body.h"
#include "push_body.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* Code points of valid UTF-8 s (jansson checked it), or -1 when one is a control. */
static long chars_no_controls(const char *s)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        unsigned cp = *p;
        if (*p >= 0xC0 && *p < 0xE0)
            cp = (unsigned)(*p & 0x1F) << 6 | (p[1] & 0x3F);
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return -1;
        n++;
    }
    return n;
}

static int text_ok(const char *s, long max_chars)
{
    long n = s ? chars_no_controls(s) : -1;
    return n >= 1 && n <= max_chars;
}

static int username_ok(const char *s)
{
    return s && strlen(s) >= 1 && strlen(s) <= 128 && chars_no_controls(s) >= 0;
}

/* Every member of body is one of the NULL-terminated names. */
static int only_members(const json_t *body, const char *const *names)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        const char *const *n = names;
        while (*n && strcmp(*n, k))
            n++;
        if (!*n)
            return 0;
    }
    return 1;
}

static int depth(const json_t *v)
{
    int d = 0;
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, c) d = depth(c) > d ? depth(c) : d;
    else if (json_is_array(v))
        json_array_foreach(v, i, c) d = depth(c) > d ? depth(c) : d;
    else
        return 0;
    return d + 1;
}

static int digits(const char *s, size_t n)
{
    return s && strlen(s) == n && strspn(s, "0123456789") == n;
}

static void check_context(const json_t *ctx)
{
    const char *k;
    json_t *v;
    CHECK(json_is_object(ctx));
    json_object_foreach((json_t *)ctx, k, v)
    {
        CHECK(text_ok(k, AUTH_CONTEXT_KEY_MAX) && json_is_string(v));
        CHECK(text_ok(json_string_value(v), AUTH_TEXT_MAX));
    }
}

static void check_auth(json_t *body, int require_code, int async)
{
    static const char *const names[] = {"username",     "type",        "message",
                                        "context",      "transaction", "timeout",
                                        "verification", "displayCode", NULL};
    struct auth_input in = {0};
    in.async = async;
    if (auth_body_check(body, require_code, &in) != NULL)
        return;
    CHECK(only_members(body, names) && username_ok(in.username));
    CHECK(!strcmp(in.type, "authentication") || !strcmp(in.type, "authorization"));
    CHECK(!in.message || text_ok(in.message, AUTH_TEXT_MAX));
    if (in.context)
        check_context(in.context);
    if (in.transaction) {
        char *s = json_dumps(in.transaction, JSON_COMPACT);
        CHECK(json_is_object(in.transaction) && s && strlen(s) <= AUTH_TRANSACTION_MAX);
        CHECK(depth(in.transaction) <= AUTH_TRANSACTION_DEPTH);
        free(s);
    }
    CHECK(in.timeout >= 5 && in.timeout <= 300);
    int code = !strcmp(in.verification, "code");
    CHECK(code || !strcmp(in.verification, "none"));
    CHECK(!require_code || code);
    CHECK(code ? digits(in.code, 3) : in.code == NULL);
    /* asynchronous: the server draws the code; never the client's */
    CHECK(!(code && async) || (in.code == in.drawn && !json_object_get(body, "displayCode")));
}

static void check_device(json_t *body)
{
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *resp = NULL;
    if (device_answer_body(body, &resp, why) != NULL)
        return;
    CHECK(json_object_size(body) == 1 &&
          resp == json_string_value(json_object_get(body, "response")));
}

static void check_registration(json_t *body)
{
    static const char *const names[] = {"username",  "email",    "displayName",
                                        "expiresIn", "delivery", NULL};
    char why[JSON_ERROR_TEXT_LENGTH];
    struct registration_input in;
    if (registration_body(body, &in, why) != NULL)
        return;
    CHECK(only_members(body, names) && username_ok(in.username));
    int none = !strcmp(in.delivery, "none");
    CHECK(none || !strcmp(in.delivery, "email"));
    CHECK(json_object_get(body, "delivery") || !none);
    if (!in.email) { /* only a hand-off may go without an address */
        CHECK(none && !json_object_get(body, "email"));
        in.email = "x@y";
    }
    size_t n = strlen(in.email);
    const char *at = strchr(in.email, '@');
    CHECK(n >= 3 && n <= 254 && at && at != in.email && at[1] && !strchr(at + 1, '@'));
    for (const unsigned char *p = (const unsigned char *)in.email; *p; p++)
        CHECK(*p > ' ' && *p != 0x7F);
    CHECK(!in.display || text_ok(in.display, REG_DISPLAY_MAX));
    CHECK(in.expires >= REG_EXPIRES_MIN && in.expires <= REG_EXPIRES_MAX);
    CHECK(json_object_get(body, "expiresIn") || in.expires == REG_EXPIRES_DEFAULT);
}

static void check_link(json_t *body)
{
    char why[JSON_ERROR_TEXT_LENGTH];
    struct link_bind_input in;
    if (link_bind_body(body, &in, why) != NULL)
        return;
    CHECK(json_object_size(body) == 3 && in.jwk == json_object_get(body, "publicKey"));
    CHECK(text_ok(in.name, LINK_DEVICE_NAME_MAX) && in.proof);
}

static void check_mfa_setup(json_t *body, const char *username, int sms)
{
    static const char *const names[] = {"channel", "email", "phone", NULL};
    char why[JSON_ERROR_TEXT_LENGTH];
    struct mfa_setup_input in;
    if (mfa_setup_body(body, username, sms, &in, why) != NULL)
        return;
    CHECK(only_members(body, names) && username_ok(username));
    if (!strcmp(in.channel, "totp")) {
        CHECK(!in.email && !in.phone);
    } else if (!strcmp(in.channel, "email")) {
        CHECK(!in.phone && (!in.email || strchr(in.email, '@')));
    } else {
        CHECK(!strcmp(in.channel, "sms") && sms && !in.email && in.phone);
        size_t n = strlen(in.phone);
        CHECK(in.phone[0] == '+' && in.phone[1] >= '1' && n <= 16 &&
              strspn(in.phone + 1, "0123456789") == n - 1);
    }
}

static void check_mfa_codes(json_t *body)
{
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *code = NULL;
    if (mfa_code_body(body, &code, why) == NULL)
        CHECK(json_object_size(body) == 1 && code &&
              code == json_string_value(json_object_get(body, "code")));
    for (int admin = 0; admin < 2; admin++) {
        code = (const char *)1;
        if (mfa_disable_body(body, admin, &code, why) != NULL)
            continue;
        CHECK(json_object_size(body) == (code != NULL) && (admin || code));
    }
    if (code && code != (const char *)1)
        CHECK(mfa_code_ok(code) == (*code && strlen(code) <= MFA_CODE_MAX));
}

static void check_mfa_requirements(json_t *body)
{
    static const char *const names[] = {"login", "withdrawal", "deviceRemoval", NULL};
    char why[JSON_ERROR_TEXT_LENGTH];
    struct mfa_requirements_input in;
    if (mfa_requirements_body(body, &in, why) != NULL)
        return;
    CHECK(only_members(body, names));
    CHECK(!in.login || json_is_boolean(in.login));
    CHECK(!in.withdrawal || json_is_boolean(in.withdrawal));
    CHECK(!in.removal || json_is_boolean(in.removal));
}

/* Lengths and numbers are invisible to coverage: a body one character over a limit
 * takes the same branches as one under it, and libFuzzer would drop the seeds at the
 * limits as redundant. These extra counters (libFuzzer reads the section) give each
 * limited field a feature per distance from its limit, so inputs that come closer are
 * kept, and the ones just over are found. */
enum { BUCKETS = 10 };
static uint8_t near_limit[32 * BUCKETS] __attribute__((section("__libfuzzer_extra_counters")));

static void mark(unsigned field, long long value, long long limit)
{
    long long d = limit - value;
    int b = d > 256   ? 0
            : d > 64  ? 1
            : d > 16  ? 2
            : d > 4   ? 3
            : d > 1   ? 4
            : d == 1  ? 5
            : d == 0  ? 6
            : d == -1 ? 7
            : d > -16 ? 8
                      : 9;
    near_limit[(field % 32) * BUCKETS + (unsigned)b]++;
}

static long chars(const char *s)
{
    long n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The limited fields of any body, accepted or not. */
static void mark_limits(const json_t *body)
{
    const char *u = json_string_value(json_object_get(body, "username"));
    const char *e = json_string_value(json_object_get(body, "email"));
    const char *c = json_string_value(json_object_get(body, "code"));
    mark(0, u ? (long long)strlen(u) : 0, 128);
    mark(1, chars(json_string_value(json_object_get(body, "message"))), AUTH_TEXT_MAX);
    mark(2, chars(json_string_value(json_object_get(body, "displayName"))), REG_DISPLAY_MAX);
    mark(3, chars(json_string_value(json_object_get(body, "deviceName"))), LINK_DEVICE_NAME_MAX);
    mark(4, e ? (long long)strlen(e) : 0, 254);
    mark(5, c ? (long long)strlen(c) : 0, MFA_CODE_MAX);
    mark(6, json_integer_value(json_object_get(body, "timeout")), 300);
    mark(7, json_integer_value(json_object_get(body, "timeout")), 5);
    mark(8, json_integer_value(json_object_get(body, "expiresIn")), REG_EXPIRES_MAX);
    mark(9, json_integer_value(json_object_get(body, "expiresIn")), REG_EXPIRES_MIN);
    json_t *tx = json_object_get(body, "transaction"), *ctx = json_object_get(body, "context");
    if (json_is_object(tx)) {
        char *t = json_dumps(tx, JSON_COMPACT);
        mark(10, t ? (long long)strlen(t) : 0, AUTH_TRANSACTION_MAX);
        mark(11, depth(tx), AUTH_TRANSACTION_DEPTH);
        free(t);
    }
    const char *k;
    json_t *v;
    json_object_foreach(json_is_object(ctx) ? ctx : NULL, k, v)
    {
        mark(12, chars(k), AUTH_CONTEXT_KEY_MAX);
        mark(13, chars(json_string_value(v)), AUTH_TEXT_MAX);
    }
}

/* http.c's read_json_body and http_json_drop_nulls, minus the HTTP. */
static json_t *parse_body(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return NULL;
    }
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(body, tmp, k, v)
    {
        if (json_is_null(v))
            json_object_del(body, k);
    }
    return body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) /* HTTP_MAX_BODY: larger bodies get 413 first */
        return 0;
    json_t *body = parse_body(data, size);
    if (!body)
        return 0;
    mark_limits(body);
    for (int i = 0; i < 4; i++)
        check_auth(body, i & 1, i >> 1);
    check_device(body);
    check_registration(body);
    check_link(body);
    for (int sms = 0; sms < 2; sms++) {
        check_mfa_setup(body, "alice", sms);
        check_mfa_setup(body, "bad\x01user", sms);
    }
    check_mfa_codes(body);
    check_mfa_requirements(body);
    json_decref(body);
    return 0;
}
