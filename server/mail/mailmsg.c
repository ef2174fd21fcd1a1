#include "mailmsg.h"

#include "alloc.h"
#include "protocol/b64url.h"
#include "protocol/token.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* quoted-printable (RFC 2045) with CRLF line ends and soft breaks at 76 */
static void sb_qp(struct sbuf *b, const char *s)
{
    int col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char enc[4];
        if (*p == '\n') {
            sb_str(b, "\r\n");
            col = 0;
            continue;
        }
        int plain =
            (*p >= 33 && *p <= 126 && *p != '=') || (*p == ' ' && p[1] != '\n' && p[1] != '\0');
        if (plain)
            snprintf(enc, sizeof enc, "%c", *p);
        else
            snprintf(enc, sizeof enc, "=%02X", *p);
        if (col + (int)strlen(enc) > 75) {
            sb_str(b, "=\r\n");
            col = 0;
        }
        sb_str(b, enc);
        col += (int)strlen(enc);
    }
    sb_str(b, "\r\n");
}

static void sb_header(struct sbuf *b, const char *name, const char *value)
{
    sb_str(b, name);
    sb_str(b, ": ");
    for (const char *p = value; *p; p++)
        if (*p != '\r' && *p != '\n')
            sb_add(b, p, 1);
    sb_str(b, "\r\n");
}

static void sb_subject(struct sbuf *b, const char *subject)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
        ascii &= *p < 128;
    if (ascii) {
        sb_header(b, "Subject", subject);
        return;
    }
    size_t n = strlen(subject);
    unsigned char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(enc, (const unsigned char *)subject, (int)n);
    sb_str(b, "Subject: =?UTF-8?B?");
    sb_str(b, (const char *)enc);
    sb_str(b, "?=\r\n");
    free(enc);
}

static void sb_part(struct sbuf *b, const char *boundary, const char *ctype, const char *body)
{
    sb_str(b, "--");
    sb_str(b, boundary);
    sb_str(b, "\r\nContent-Type: ");
    sb_str(b, ctype);
    sb_str(b, "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    sb_qp(b, body);
}

char *mailmsg_compose(const char *from, const char *to, const char *subject, const char *text,
                      const char *html)
{
    struct sbuf b = {0};
    char date[64], rnd[32], line[128];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (token_random_b64(rnd, sizeof rnd, 16) < 0)
        return NULL;
    sb_header(&b, "From", from);
    sb_header(&b, "To", to);
    sb_subject(&b, subject);
    sb_header(&b, "Date", date);
    const char *at = strchr(from, '@');
    snprintf(line, sizeof line, "<%s%s>", rnd, at ? at : "@localhost");
    sb_header(&b, "Message-ID", line);
    sb_header(&b, "MIME-Version", "1.0");
    snprintf(line, sizeof line, "multipart/alternative; boundary=\"=_%s\"", rnd);
    sb_header(&b, "Content-Type", line);
    sb_str(&b, "\r\n");
    char boundary[40];
    snprintf(boundary, sizeof boundary, "=_%s", rnd);
    sb_part(&b, boundary, "text/plain", text);
    if (html)
        sb_part(&b, boundary, "text/html", html);
    sb_str(&b, "--");
    sb_str(&b, boundary);
    sb_str(&b, "--\r\n");
    return b.p;
}

char *mailmsg_html_escape(const char *s)
{
    struct sbuf b = {0};
    sb_str(&b, "");
    for (; *s; s++) {
        switch (*s) {
        case '&':
            sb_str(&b, "&amp;");
            break;
        case '<':
            sb_str(&b, "&lt;");
            break;
        case '>':
            sb_str(&b, "&gt;");
            break;
        case '"':
            sb_str(&b, "&quot;");
            break;
        case '\'':
            sb_str(&b, "&#39;");
            break;
        default:
            sb_add(&b, s, 1);
        }
    }
    return b.p;
}

int mailmsg_address_ok(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > 254 || !at || at == s || !at[1] || strchr(at + 1, '@'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 127 || *p == '<' || *p == '>' || *p == ',' || *p == '"')
            return 0;
    return 1;
}
