#include "sms.h"

#include "alloc.h"
#include "curlev.h"
#include "log.h"
#include "server.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMS_TIMEOUT_S 10L

struct sms {
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* carries the code: cleansed before it is freed */
    size_t len;
    sms_done_fn done;
    void *arg;
};

static void sms_free(struct sms *s)
{
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    if (s->body) {
        OPENSSL_cleanse(s->body, s->len);
        free(s->body);
    }
    free(s);
}

/* The gateway's reply body is of no interest (and must not reach a log). */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static void on_done(void *arg, CURLcode rc, long status)
{
    struct sms *s = arg;
    int ok = rc == CURLE_OK && status >= 200 && status < 300;
    char code[24];
    snprintf(code, sizeof code, "%ld", status);
    log_kv(ok ? LOG_INFO : LOG_WARN, "sms delivery", "result", ok ? "sent" : "failed", "status",
           code, "error", rc == CURLE_OK ? NULL : curl_easy_strerror(rc), NULL);
    sms_done_fn done = s->done;
    void *done_arg = s->arg;
    sms_free(s);
    done(done_arg, ok);
}

static int sms_prepare(struct sms *s, const char *url)
{
    s->easy = curl_easy_init();
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!s->easy || !s->headers)
        return -1;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)s->len);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT, SMS_TIMEOUT_S);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, SMS_TIMEOUT_S);
    return 0;
}

int sms_send(struct server *srv, const char *to, const char *text, sms_done_fn done, void *arg)
{
    if (!srv->cfg->sms_webhook_url || !srv->curl)
        return -1;
    struct sms *s = xcalloc(1, sizeof *s);
    s->done = done;
    s->arg = arg;
    json_t *doc = json_pack("{s:s, s:s}", "to", to, "text", text);
    s->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc); /* jansson does not cleanse: the code lingers in freed heap */
    s->len = s->body ? strlen(s->body) : 0;
    if (!s->body || sms_prepare(s, srv->cfg->sms_webhook_url) < 0 ||
        curlev_add(srv->curl, s->easy, on_done, s) < 0) {
        sms_free(s);
        return -1;
    }
    log_kv(LOG_DEBUG, "sms queued", "to", to, NULL);
    return 0;
}
