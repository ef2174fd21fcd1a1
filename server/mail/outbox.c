/* mailer: outbox delivery (see outbox.h and docs/mail.md). Claim due rows
 * with a lease, open each sealed message, hand it to SMTP (curlev) or write
 * it as a .eml file, then record the outcome with one UPDATE. */
#include "outbox.h"
#include "alloc.h"
#include "valid.h"
#include "mailmsg.h"

#include "protocol/aead.h"
#include "curlev.h"
#include "db.h"
#include "log.h"
#include "server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OUTBOX_AAD "outbox" /* binds a sealed message to the outbox */
#define TICK_MS 1000
#define LEASE_S "120" /* > SEND_TIMEOUT_S: a live send never outlasts its lease */
#define CLAIM_MAX 10
#define INFLIGHT_MAX 20
#define RETRY_CAP_MS (10L * 60 * 1000)
#define CONNECT_TIMEOUT_S 10L
#define SEND_TIMEOUT_S 60L

enum outcome { SENT, RETRY, GIVE_UP };

struct job {
    TAILQ_ENTRY(job) link;
    struct outbox *m;
    char id[24];
    char kind[32];
    int attempts; /* before this attempt */
    char *rcpt;
    unsigned char *msg; /* the opened message: a secret, cleansed when dropped */
    size_t len, off;
    CURL *easy;
    struct curl_slist *rcpts;
    enum outcome result;
    char error[160]; /* short reason for last_error; never message content */
    bool tls_seen;   /* libcurl reported TLS traffic on the connection */
    const char *tls; /* "smtps", "starttls" or "none": logged with the outcome */
};
TAILQ_HEAD(job_list, job);

struct outbox {
    struct server *srv;
    struct event *tick; /* periodic look at the outbox */
    struct event *kick; /* one-shot: outbox_kick() */
    struct job_list jobs;
    int njobs;
    bool claiming, again;
    bool db_failing; /* log a failing claim once, not every tick */
    long retry_base_ms;
};

static void claim(struct outbox *m);

static void job_drop_message(struct job *j)
{
    if (j->msg) {
        OPENSSL_cleanse(j->msg, j->len);
        free(j->msg);
        j->msg = NULL;
    }
}

static void job_free(struct job *j)
{
    if (j->easy) {
        curlev_cancel(j->m->srv->curl, j->easy);
        curl_easy_cleanup(j->easy);
    }
    curl_slist_free_all(j->rcpts);
    job_drop_message(j);
    free(j->rcpt);
    TAILQ_REMOVE(&j->m->jobs, j, link);
    j->m->njobs--;
    free(j);
}

/* 5 s x 2^(attempts-1), capped at 10 minutes (base: PUSHGATE_MAIL_RETRY_BASE_MS). */
static long backoff_ms(const struct outbox *m, int attempts)
{
    int shift = attempts < 1 ? 0 : attempts - 1;
    long ms = m->retry_base_ms;
    while (shift-- > 0 && ms < RETRY_CAP_MS)
        ms *= 2;
    return ms < RETRY_CAP_MS ? ms : RETRY_CAP_MS;
}

static void log_outcome(struct job *j, const char *status, const char *attempts)
{
    log_kv(j->result == SENT ? LOG_INFO : LOG_WARN, "mail delivery", "outbox_id", j->id, "kind",
           j->kind, "attempts", attempts, "result", status, "tls", j->tls ? j->tls : "none",
           "error", j->result == SENT ? NULL : j->error, NULL);
}

static void on_recorded(void *arg, enum db_status st, PGresult *res)
{
    struct job *j = arg;
    if (st != DB_OK)
        log_kv(LOG_WARN, "mail outcome not recorded; the lease will run out and it is retried",
               "outbox_id", j->id, "result", j->result == SENT ? "sent" : "not sent", NULL);
    else if (PQntuples(res) == 1)
        log_outcome(j, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    else
        log_kv(LOG_INFO, "mail outcome dropped: row no longer queued", "outbox_id", j->id, NULL);
    struct outbox *m = j->m;
    job_free(j);
    if (m->again)
        claim(m);
}

static const char SQL_SENT[] =
    "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = now(), "
    "sealed = NULL, last_error = NULL, lease_until = NULL "
    "WHERE id = $1 AND status = 'queued' RETURNING status, attempts";
/* Past expires_at a failure is final: the message is erased. */
static const char SQL_RETRY[] =
    "UPDATE outbox SET attempts = attempts + 1, last_error = $2, lease_until = NULL, "
    "next_attempt_at = now() + make_interval(secs => $3::double precision / 1000), "
    "status = CASE WHEN expires_at <= now() THEN 'failed' ELSE 'queued' END, "
    "sealed = CASE WHEN expires_at <= now() THEN NULL ELSE sealed END "
    "WHERE id = $1 AND status = 'queued' RETURNING status, attempts";
static const char SQL_GIVE_UP[] =
    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2, "
    "sealed = NULL, lease_until = NULL "
    "WHERE id = $1 AND status = 'queued' RETURNING status, attempts";

/* Records the attempt's outcome with one UPDATE; the job ends in on_recorded. */
static void job_finish(struct job *j, enum outcome result, const char *error)
{
    job_drop_message(j);
    j->result = result;
    snprintf(j->error, sizeof j->error, "%s", error ? error : "");
    char delay[24];
    snprintf(delay, sizeof delay, "%ld", backoff_ms(j->m, j->attempts + 1));
    const char *p[] = {j->id, j->error, delay};
    const char *sql = result == SENT ? SQL_SENT : result == RETRY ? SQL_RETRY : SQL_GIVE_UP;
    int n = result == SENT ? 1 : result == RETRY ? 3 : 2;
    db_query(j->m->srv->db, sql, n, p, on_recorded, j);
}

/* ---- SMTP through libcurl, driven by the loop ---- */

static size_t smtp_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct job *j = arg;
    size_t n = j->len - j->off;
    if (n > size * nitems)
        n = size * nitems;
    memcpy(buf, j->msg + j->off, n);
    j->off += n;
    return n;
}

/* Watches for TLS records (libcurl reports them only to a debug function):
 * how we know that a STARTTLS took place. Never looks at the bytes. */
static int smtp_debug(CURL *e, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)e, (void)data, (void)size;
    struct job *j = arg;
    if (type == CURLINFO_SSL_DATA_IN || type == CURLINFO_SSL_DATA_OUT)
        j->tls_seen = true;
    return 0;
}

static bool is_smtps(const char *url)
{
    return strncasecmp(url, "smtps://", 8) == 0;
}

bool outbox_relay_is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool loop = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        size_t n = strlen(host);
        unsigned char a[16];
        if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
            host[n - 1] = '\0';
            loop = inet_pton(AF_INET6, host + 1, a) == 1 &&
                   (IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a) ||
                    (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a) && a[12] == 127));
        } else {
            loop = inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return loop;
}

long outbox_use_ssl(const char *url, int mode)
{
    if (mode == SMTP_TLS_NONE)
        return (long)CURLUSESSL_NONE;
    if (mode == SMTP_TLS_REQUIRED && !outbox_relay_is_loopback(url))
        return (long)CURLUSESSL_ALL;
    return (long)CURLUSESSL_TRY;
}

static void on_smtp_done(void *arg, CURLcode rc, long code)
{
    struct job *j = arg;
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    const char *url = j->m->srv->cfg->smtp_url;
    j->tls = is_smtps(url) ? "smtps" : j->tls_seen ? "starttls" : "none";
    if (rc == CURLE_OK)
        return job_finish(j, SENT, NULL);
    char err[160];
    if (rc == CURLE_USE_SSL_FAILED)
        snprintf(err, sizeof err,
                 "the relay offers no STARTTLS and PUSHGATE_SMTP_TLS is required: not sent");
    else if (code > 0)
        snprintf(err, sizeof err, "%s (SMTP %ld)", curl_easy_strerror(rc), code);
    else
        snprintf(err, sizeof err, "%s", curl_easy_strerror(rc));
    job_finish(j, RETRY, err);
}

static CURL *smtp_easy(struct job *j, const struct config *cfg)
{
    char from[300], to[300];
    snprintf(from, sizeof from, "<%s>", cfg->mail_from);
    snprintf(to, sizeof to, "<%s>", j->rcpt);
    CURL *e = curl_easy_init();
    if (!e || !(j->rcpts = curl_slist_append(NULL, to))) {
        curl_easy_cleanup(e);
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL, outbox_use_ssl(cfg->smtp_url, cfg->smtp_tls));
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, smtp_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, j);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L); /* to the debug function only */
    /* A connection of its own: a reused one shows no handshake, and its TLS
     * state would go unseen (the debug function is per transfer). */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->rcpts);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, smtp_read);
    curl_easy_setopt(e, CURLOPT_READDATA, j);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
    return e;
}

static void smtp_send(struct job *j)
{
    j->easy = smtp_easy(j, j->m->srv->cfg);
    if (!j->easy)
        return job_finish(j, RETRY, "cannot set up the SMTP transfer");
    if (!j->m->srv->curl || curlev_add(j->m->srv->curl, j->easy, on_smtp_done, j) < 0) {
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
        return job_finish(j, RETRY, "cannot start the SMTP transfer");
    }
}

/* ---- file mode: <mail_dir>/<UTC time>-<id>.eml ---- */

/* mkdir -p, new directories 0700 (mail may carry link tokens). */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
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

/* Atomic: write a hidden .tmp, fsync, rename. A small local write is the one
 * synchronous I/O the mailer does on the loop (docs/mail.md). */
static int eml_write(const char *dir, const char *id, const unsigned char *msg, size_t len)
{
    char stamp[32], path[4200], tmp[4200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(path, sizeof path, "%s/%s-%s.eml", dir, stamp, id);
    snprintf(tmp, sizeof tmp, "%s/.%s-%s.eml.tmp", dir, stamp, id);
    if (make_dirs(dir) < 0)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, msg, len) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) < 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) == 0)
        return 0;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
}

static void file_send(struct job *j)
{
    if (eml_write(j->m->srv->cfg->mail_dir, j->id, j->msg, j->len) == 0)
        return job_finish(j, SENT, NULL);
    char err[160];
    snprintf(err, sizeof err, "cannot write to the mail directory: %s", strerror(errno));
    job_finish(j, RETRY, err);
}

/* ---- claiming ---- */

/* Opens the row's sealed message (bytea in hex text form) into j->msg. */
static int job_open(struct job *j, const char *hex)
{
    size_t n = 0;
    unsigned char *sealed = PQunescapeBytea((const unsigned char *)hex, &n);
    if (!sealed)
        return -1;
    int rc = aead_open(j->m->srv->master_key, sealed, n, OUTBOX_AAD, &j->msg, &j->len);
    PQfreemem(sealed);
    return rc;
}

static void job_start(struct outbox *m, PGresult *res, int row)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->m = m;
    TAILQ_INSERT_TAIL(&m->jobs, j, link);
    m->njobs++;
    snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, row, 0));
    snprintf(j->kind, sizeof j->kind, "%s", PQgetvalue(res, row, 3));
    j->attempts = atoi(PQgetvalue(res, row, 5));
    j->rcpt = xstrdup(PQgetvalue(res, row, 1));
    log_kv(LOG_DEBUG, "mail attempt", "outbox_id", j->id, "kind", j->kind, "recipient", j->rcpt,
           NULL);
    if (PQgetisnull(res, row, 2))
        return job_finish(j, GIVE_UP, "no message to send");
    if (!j->rcpt || job_open(j, PQgetvalue(res, row, 2)) < 0)
        return job_finish(j, RETRY, "cannot open the sealed message (wrong key file?)");
    if (m->srv->cfg->smtp_url)
        smtp_send(j);
    else
        file_send(j);
}

static void on_claimed(void *arg, enum db_status st, PGresult *res)
{
    struct outbox *m = arg;
    m->claiming = false;
    if (st != DB_OK) {
        if (!m->db_failing)
            log_kv(LOG_WARN, "outbox claim failed; retrying at the next tick", "error",
                   st == DB_ERROR ? PQresultErrorMessage(res) : "database unavailable", NULL);
        m->db_failing = true;
        return;
    }
    m->db_failing = false;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        job_start(m, res, i);
    if (n == CLAIM_MAX)
        m->again = true; /* there may be more due rows */
    if (m->again)
        claim(m);
}

static void claim(struct outbox *m)
{
    if (m->claiming || m->njobs >= INFLIGHT_MAX) {
        m->again = true; /* after the running claim, or when a job ends */
        return;
    }
    m->again = false;
    if (m->srv->draining)
        return; /* a lease taken now would only delay the next instance */
    int room = INFLIGHT_MAX - m->njobs;
    char limit[8];
    snprintf(limit, sizeof limit, "%d", room < CLAIM_MAX ? room : CLAIM_MAX);
    /* leased to this instance: a live one takes over a dead one's rows (sql/023) */
    const char *p[] = {LEASE_S, limit, m->srv->instance_id};
    m->claiming = true;
    db_query(m->srv->db, "SELECT * FROM outbox_claim($1, $2, $3)", 3, p, on_claimed, m);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    claim(arg);
}

struct outbox *outbox_new(struct server *srv)
{
    struct outbox *m = xcalloc(1, sizeof *m);
    m->srv = srv;
    TAILQ_INIT(&m->jobs);
    m->retry_base_ms = srv->cfg->mail_retry_base_ms;
    m->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, m);
    m->kick = evtimer_new(srv->base, on_tick, m);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    if (!m->tick || !m->kick || event_add(m->tick, &tv) < 0) {
        outbox_free(m);
        return NULL;
    }
    static const char *const tls_modes[] = {"required", "optional", "none"};
    const char *url = srv->cfg->smtp_url;
    log_kv(LOG_INFO, "mailer started", "mode", url ? "smtp" : "files", "smtp_tls",
           url ? tls_modes[srv->cfg->smtp_tls] : NULL, "loopback_relay",
           url ? (outbox_relay_is_loopback(url) ? "yes" : "no") : NULL, NULL);
    return m;
}

/* The loop has stopped: a job still running keeps its lease, which runs out
 * so that the row is retried (at-least-once). */
void outbox_free(struct outbox *m)
{
    if (!m)
        return;
    while (!TAILQ_EMPTY(&m->jobs))
        job_free(TAILQ_FIRST(&m->jobs));
    if (m->tick)
        event_free(m->tick);
    if (m->kick)
        event_free(m->kick);
    free(m);
}

void outbox_kick(struct outbox *m)
{
    if (m)
        event_active(m->kick, EV_TIMEOUT, 0);
}

char *outbox_seal(const struct server *srv, const char *to, const char *subject, const char *text,
                  const char *html)
{
    char *msg = mailmsg_compose(srv->cfg->mail_from, to, subject, text, html);
    if (!msg)
        return NULL;
    unsigned char *sealed = NULL;
    size_t n = 0, len = strlen(msg);
    int rc = aead_seal(srv->master_key, (unsigned char *)msg, len, OUTBOX_AAD, &sealed, &n);
    OPENSSL_cleanse(msg, len);
    free(msg);
    char *hex = rc == 0 ? valid_bytea_hex(sealed, n) : NULL;
    free(sealed);
    return hex;
}
