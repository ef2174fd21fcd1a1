#include "pollclaim.h"

#include "alloc.h"
#include "db.h"
#include "log.h"
#include "server.h"

#include <event2/event.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GENS 3
#define PENDING_ID (UINT64_MAX >> 1) /* sorts after every real row id */
#define PURGE_S 60
#define KEEP_SQL "interval '125 seconds'"

/* A value: (row id << 1) | ours. */
#define VAL(id, ours) (((uint64_t)(id) << 1) | (uint64_t)(ours))
#define VAL_ID(v) ((v) >> 1)
#define VAL_OURS(v) ((v)&1u)

/* Linear probing, key 0 = empty slot, at most 3/4 full (the keys are SHA-256
 * bits: evenly spread). vals NULL: a set of keys. */
struct table {
    uint64_t *keys, *vals;
    size_t cap, n; /* cap a power of two */
};

/* One generation: the keys this process took, with their row ids, and the keys
 * only peers claimed, which need no id (a key is taken here only when it is
 * known nowhere: a peer's claim of a key of ours goes into ours, with its id).
 * Every process keeps every instance's keys, so the peers' set is most of the
 * memory: 8 bytes a key instead of 16 (docs/benchmarks.md). */
struct gen {
    struct table ours, peers;
};

/* A key taken here, and its device (the write checks that it may still poll). */
struct taken {
    uint64_t key;
    char *device_id;
};

struct pollclaim {
    struct server *srv;
    struct gen gens[GENS]; /* gens[0]: the current one */
    struct taken *pending; /* taken, not yet in a flush */
    size_t npending, cappending;
    struct taken *flying; /* the flush in flight */
    size_t nflying;
    bool ready, reading;
    struct event *flush, *rotate, *purge;
};

static void table_init(struct table *t, size_t cap, bool with_vals)
{
    t->cap = cap;
    t->n = 0;
    t->keys = xcalloc(cap, sizeof *t->keys);
    t->vals = with_vals ? xcalloc(cap, sizeof *t->vals) : NULL;
}

static void table_free(struct table *t)
{
    free(t->keys);
    free(t->vals);
}

/* The slot of key, or of the empty slot where it would go. */
static size_t slot_of(const struct table *t, uint64_t key)
{
    size_t i = key & (t->cap - 1);
    while (t->keys[i] != key && t->keys[i] != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void table_put(struct table *t, uint64_t key, uint64_t val);

static void table_grow(struct table *t)
{
    struct table bigger;
    table_init(&bigger, t->cap * 2, t->vals != NULL);
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i])
            table_put(&bigger, t->keys[i], t->vals ? t->vals[i] : 0);
    table_free(t);
    *t = bigger;
}

/* key is not in t */
static void table_put(struct table *t, uint64_t key, uint64_t val)
{
    if ((t->n + 1) * 4 > t->cap * 3)
        table_grow(t);
    size_t i = slot_of(t, key);
    t->keys[i] = key;
    if (t->vals)
        t->vals[i] = val;
    t->n++;
}

static void gen_init(struct gen *g)
{
    table_init(&g->ours, 1024, true);
    table_init(&g->peers, 1024, false);
}

static void gen_free(struct gen *g)
{
    table_free(&g->ours);
    table_free(&g->peers);
}

/* The value of a key taken here (or of one of ours a peer claimed too), or NULL. */
static uint64_t *find(const struct pollclaim *pc, uint64_t key)
{
    for (int i = 0; i < GENS; i++) {
        const struct table *t = &pc->gens[i].ours;
        size_t at = slot_of(t, key);
        if (t->keys[at] == key)
            return &t->vals[at];
    }
    return NULL;
}

static bool peers_know(const struct pollclaim *pc, uint64_t key)
{
    for (int i = 0; i < GENS; i++) {
        const struct table *t = &pc->gens[i].peers;
        if (t->keys[slot_of(t, key)] == key)
            return true;
    }
    return false;
}

uint64_t pollclaim_key(const char *device_id, const char *jti)
{
    char buf[256];
    unsigned char md[EVP_MAX_MD_SIZE];
    int n = snprintf(buf, sizeof buf, "%s%c%s", device_id, '\0', jti); /* the NUL separates */
    if (n < 0 || (size_t)n >= sizeof buf ||
        !EVP_Digest(buf, (size_t)n, md, NULL, EVP_sha256(), NULL)) {
        log_kv(LOG_ERROR, "cannot hash a device proof's jti", NULL);
        abort(); /* devproof_parse bounds both: unreachable */
    }
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | md[i];
    return k ? k : 1; /* 0 marks an empty slot */
}

bool pollclaim_ready(const struct pollclaim *pc)
{
    return pc && pc->ready;
}

static void push_pending(struct pollclaim *pc, struct taken t)
{
    if (pc->npending == pc->cappending) {
        pc->cappending = pc->cappending ? pc->cappending * 2 : 256;
        pc->pending = xrealloc(pc->pending, pc->cappending * sizeof *pc->pending);
    }
    pc->pending[pc->npending++] = t;
}

static void flush(struct pollclaim *pc);

bool pollclaim_take(struct pollclaim *pc, uint64_t key, const char *device_id)
{
    if (find(pc, key) || peers_know(pc, key))
        return false;
    table_put(&pc->gens[0].ours, key, VAL(PENDING_ID, 1));
    push_pending(pc, (struct taken){key, xstrdup(device_id)});
    if (pc->npending >= POLLCLAIM_ROW_MAX)
        flush(pc);
    return true;
}

enum pollclaim_state pollclaim_state(const struct pollclaim *pc, uint64_t key)
{
    const uint64_t *v = find(pc, key);
    if (!v || !VAL_OURS(*v))
        return POLLCLAIM_LOST;
    return VAL_ID(*v) == PENDING_ID ? POLLCLAIM_PENDING : POLLCLAIM_OURS;
}

/* A claim of key by row id: the smallest id owns the key. */
static void record(struct pollclaim *pc, uint64_t key, uint64_t id, bool ours)
{
    uint64_t *v = find(pc, key);
    if (v) {
        if (id < VAL_ID(*v))
            *v = VAL(id, ours);
    } else if (ours) { /* (gone only when its generation aged out: a long outage) */
        table_put(&pc->gens[0].ours, key, VAL(id, true));
    } else if (!peers_know(pc, key)) {
        table_put(&pc->gens[0].peers, key, 0);
    }
}

/* "<16 hex digits>..." -> each key claimed by id. */
static void record_hex(struct pollclaim *pc, const char *hex, uint64_t id, bool ours)
{
    size_t n = strlen(hex) / 16;
    for (size_t i = 0; i < n; i++) {
        char word[17];
        memcpy(word, hex + i * 16, 16);
        word[16] = '\0';
        uint64_t key = strtoull(word, NULL, 16);
        if (key)
            record(pc, key, id, ours);
    }
}

/* ------------------------------------------------------------------ writing */

static void free_flying(struct pollclaim *pc)
{
    for (size_t i = 0; i < pc->nflying; i++)
        free(pc->flying[i].device_id);
    free(pc->flying);
    pc->flying = NULL;
    pc->nflying = 0;
}

/* Row id and the 1-based positions of devices that may no longer poll (revoked,
 * or of a disabled application): their polls are refused when they answer. */
static void flushed_ok(struct pollclaim *pc, PGresult *res)
{
    uint64_t id = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    for (size_t i = 0; i < pc->nflying; i++)
        record(pc, pc->flying[i].key, id, true);
    if (log_enabled(LOG_DEBUG)) {
        char n[24];
        snprintf(n, sizeof n, "%zu", pc->nflying);
        log_kv(LOG_DEBUG, "device poll claims written", "keys", n, "row", PQgetvalue(res, 0, 0),
               NULL);
    }
    for (const char *s = PQgetvalue(res, 0, 1); *s;) {
        char *end;
        unsigned long n = strtoul(s, &end, 10);
        if (end == s)
            break;
        uint64_t *v = n >= 1 && n <= pc->nflying ? find(pc, pc->flying[n - 1].key) : NULL;
        if (v)              /* (gone only when its generation aged out: a long outage) */
            *v = VAL(0, 0); /* lost to "nobody" */
        s = *end ? end + 1 : end;
    }
}

static void on_flushed(void *arg, enum db_status st, PGresult *res)
{
    struct pollclaim *pc = arg;
    if (st == DB_OK && PQntuples(res) == 1) {
        flushed_ok(pc, res);
    } else { /* the polls stay PENDING; their keys go with the next row */
        log_kv(LOG_WARN, "cannot write device poll claims; retrying", NULL);
        for (size_t i = 0; i < pc->nflying; i++) {
            if (pc->npending < POLLCLAIM_REQUEUE_MAX) {
                push_pending(pc, pc->flying[i]);
                pc->flying[i].device_id = NULL;
            }
        }
    }
    free_flying(pc);
    if (pc->npending >= POLLCLAIM_ROW_MAX)
        flush(pc);
}

/* "{"d1","d2"}": a text[] literal (ids are checked characters, quoted anyway). */
static char *devices_literal(const struct taken *t, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(t[i].device_id) + 3;
    char *out = xmalloc(len), *o = out;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *c = t[i].device_id; *c; c++) {
            if (*c == '"' || *c == '\\')
                *o++ = '\\';
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* One row with up to POLLCLAIM_ROW_MAX pending keys; one row in flight at a time. */
static void flush(struct pollclaim *pc)
{
    if (pc->flying || pc->npending == 0 || !pc->srv->instance_id)
        return;
    size_t n = pc->npending < POLLCLAIM_ROW_MAX ? pc->npending : POLLCLAIM_ROW_MAX;
    pc->flying = xmalloc(n * sizeof *pc->flying);
    pc->nflying = n;
    memcpy(pc->flying, pc->pending, n * sizeof *pc->flying);
    memmove(pc->pending, pc->pending + n, (pc->npending - n) * sizeof *pc->pending);
    pc->npending -= n;
    char *hex = xmalloc(3 + n * 16);
    strcpy(hex, "\\x");
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 + i * 16, 17, "%016" PRIx64, pc->flying[i].key);
    char *devices = devices_literal(pc->flying, n);
    const char *p[] = {pc->srv->instance_id, hex, devices};
    db_query(pc->srv->db, "SELECT id, refused FROM poll_claims_add($1, $2::bytea, $3::text[])", 3,
             p, on_flushed, pc);
    free(hex);
    free(devices);
}

static void on_flush_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    flush(arg);
}

/* ------------------------------------------------------------------ reading */

void pollclaim_peer(struct pollclaim *pc, const char *payload)
{
    const char *c1 = strchr(payload, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!pc || !c2)
        return;
    const char *me = pc->srv->instance_id;
    if (me && (size_t)(c1 - payload) == strlen(me) && !strncmp(payload, me, strlen(me)))
        return; /* ours: on_flushed records it */
    record_hex(pc, c2 + 1, strtoull(c1 + 1, NULL, 10), false);
}

static void on_reread(void *arg, enum db_status st, PGresult *res)
{
    struct pollclaim *pc = arg;
    pc->reading = false;
    if (st != DB_OK) {
        log_kv(LOG_WARN, "cannot read device poll claims; polls are claimed one by one", NULL);
        return;
    }
    const char *me = pc->srv->instance_id;
    for (int i = 0; i < PQntuples(res); i++)
        if (!me || strcmp(PQgetvalue(res, i, 0), me) != 0)
            record_hex(pc, PQgetvalue(res, i, 2), strtoull(PQgetvalue(res, i, 1), NULL, 10), false);
    if (!pc->ready) {
        char n[24];
        snprintf(n, sizeof n, "%d", PQntuples(res));
        log_kv(LOG_DEBUG, "device poll claims read", "rows", n, NULL);
    }
    pc->ready = true;
}

void pollclaim_listening(struct pollclaim *pc)
{
    if (!pc || pc->reading)
        return;
    pc->reading = true;
    db_query(pc->srv->db,
             "SELECT instance_id, id, encode(digests, 'hex') FROM poll_claims "
             "WHERE at > now() - " KEEP_SQL,
             0, NULL, on_reread, pc);
}

/* ------------------------------------------------------------------ ageing */

static void on_rotate(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pollclaim *pc = arg;
    gen_free(&pc->gens[GENS - 1]);
    memmove(&pc->gens[1], &pc->gens[0], (GENS - 1) * sizeof pc->gens[0]);
    gen_init(&pc->gens[0]);
}

static void on_purged(void *arg, enum db_status st, PGresult *res)
{
    (void)arg, (void)st, (void)res; /* the next tick tries again */
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pollclaim *pc = arg;
    db_query(pc->srv->db, "DELETE FROM poll_claims WHERE at < now() - " KEEP_SQL, 0, NULL,
             on_purged, pc);
}

static struct event *every(struct pollclaim *pc, long ms, event_callback_fn cb)
{
    struct event *ev = event_new(pc->srv->base, -1, EV_PERSIST, cb, pc);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(ev, &tv);
    return ev;
}

struct pollclaim *pollclaim_new(struct server *srv)
{
    struct pollclaim *pc = xcalloc(1, sizeof *pc);
    pc->srv = srv;
    for (int i = 0; i < GENS; i++)
        gen_init(&pc->gens[i]);
    pc->flush = every(pc, POLLCLAIM_FLUSH_MS, on_flush_tick);
    pc->rotate = every(pc, POLLCLAIM_GEN_S * 1000L, on_rotate);
    pc->purge = every(pc, PURGE_S * 1000L, on_purge);
    return pc;
}

void pollclaim_free(struct pollclaim *pc)
{
    if (!pc)
        return;
    for (int i = 0; i < GENS; i++)
        gen_free(&pc->gens[i]);
    for (size_t i = 0; i < pc->npending; i++)
        free(pc->pending[i].device_id);
    free(pc->pending);
    free_flying(pc);
    event_free(pc->flush);
    event_free(pc->rotate);
    event_free(pc->purge);
    free(pc);
}
