#include "sim_mail.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAIL_MAX_BYTES (1024 * 1024)

/* Start of the body: after the first empty line (CRLF or LF). NULL when there is none. */
static const char *body_start(const char *msg)
{
    const char *p = strstr(msg, "\r\n\r\n");
    const char *q = strstr(msg, "\n\n");
    if (p && (!q || p < q))
        return p + 4;
    return q ? q + 2 : NULL;
}

/* The value of header name in the head [msg, end), unfolded, malloc'd; NULL when absent. */
static char *header_value(const char *msg, const char *end, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = msg; line && line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nlen && !strncasecmp(line, name, nlen) && line[nlen] == ':') {
            const char *v = line + nlen + 1, *stop = eol;
            while (stop + 1 < end && (stop[1] == ' ' || stop[1] == '\t')) /* folded */
                stop = memchr(stop + 1, '\n', (size_t)(end - stop - 1)) ?: end;
            char *out = strndup(v, (size_t)(stop - v));
            for (char *c = out; c && *c; c++)
                if (*c == '\r' || *c == '\n' || *c == '\t')
                    *c = ' ';
            return out;
        }
        line = eol + 1;
    }
    return NULL;
}

/* "Alice <Alice@Example.com>" -> "alice@example.com" (in place). */
static char *bare_address(char *v)
{
    char *lt = strrchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *s = v, *e = v + strlen(v);
    if (lt && gt)
        s = lt + 1, e = gt;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    memmove(v, s, (size_t)(e - s));
    v[e - s] = '\0';
    for (char *c = v; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return v;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = toupper(c);
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Quoted-printable (RFC 2045) decoding of [s, e) into a malloc'd string. */
static char *qp_decode(const char *s, const char *e)
{
    char *out = malloc((size_t)(e - s) + 1), *o = out;
    if (!out)
        return NULL;
    while (s < e) {
        if (*s != '=') {
            *o++ = *s++;
        } else if (s + 2 < e && s[1] == '\r' && s[2] == '\n') {
            s += 3; /* soft line break */
        } else if (s + 1 < e && s[1] == '\n') {
            s += 2;
        } else if (s + 2 < e && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 3;
        } else {
            *o++ = *s++; /* a lone '=' is kept, as RFC 2045 suggests */
        }
    }
    *o = '\0';
    return out;
}

/* 1 when [s, e) is exactly http(s)://<something>/r/<22-128 base64url characters>. */
static int is_link(const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (!(n > 7 && !strncmp(s, "http://", 7)) && !(n > 8 && !strncmp(s, "https://", 8)))
        return 0;
    for (const char *c = s; c < e; c++)
        if (isspace((unsigned char)*c) || !isprint((unsigned char)*c))
            return 0;
    const char *r = NULL;
    for (const char *c = s; c + 3 <= e; c++)
        if (!strncmp(c, "/r/", 3))
            r = c;
    if (!r)
        return 0;
    size_t tlen = (size_t)(e - (r + 3));
    const char *ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    for (const char *c = r + 3; c < e; c++)
        if (!strchr(ok, *c))
            return 0;
    return tlen >= 22 && tlen <= 128;
}

/* The first line of text that is a registration link, malloc'd; NULL when none. */
static char *find_link(const char *text)
{
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        const char *end = eol ? eol : line + strlen(line);
        const char *e = end;
        while (e > line && (e[-1] == '\r' || e[-1] == ' '))
            e--;
        if (is_link(line, e))
            return strndup(line, (size_t)(e - line));
        if (!eol)
            break;
        line = eol + 1;
    }
    return NULL;
}

/* Decodes a part body [s, e) according to its transfer encoding. */
static char *decode_part(const char *cte, const char *s, const char *e)
{
    if (cte && strcasestr(cte, "quoted-printable"))
        return qp_decode(s, e);
    if (cte && strcasestr(cte, "base64"))
        return NULL; /* pushgated never sends it; an unknown sender's mail is not ours */
    return strndup(s, (size_t)(e - s));
}

/* The body of a MIME part whose headers start at h (they may be empty). */
static const char *part_body(const char *h)
{
    if (h[0] == '\n')
        return h + 1;
    if (h[0] == '\r' && h[1] == '\n')
        return h + 2;
    return body_start(h);
}

/* The decoded text/plain part of a multipart body, malloc'd; NULL when there is none. */
static char *plain_part(const char *body, const char *boundary)
{
    char delim[300];
    snprintf(delim, sizeof delim, "--%s", boundary);
    for (const char *p = strstr(body, delim); p; p = strstr(p + 1, delim)) {
        const char *head = strchr(p, '\n');
        const char *pb = head ? part_body(head + 1) : NULL;
        if (!head || !pb)
            return NULL;
        const char *next = strstr(pb, delim);
        const char *pe = next ? next : pb + strlen(pb);
        char *ctype = header_value(head + 1, pb, "Content-Type");
        char *cte = header_value(head + 1, pb, "Content-Transfer-Encoding");
        char *text = ctype && strcasestr(ctype, "text/plain") ? decode_part(cte, pb, pe) : NULL;
        free(ctype);
        free(cte);
        if (text)
            return text;
    }
    return NULL;
}

/* boundary="..." (or unquoted) from a Content-Type value, into out; -1 when absent. */
static int boundary_of(const char *ctype, char *out, size_t outsz)
{
    const char *b = strcasestr(ctype, "boundary=");
    if (!b)
        return -1;
    b += 9;
    int quoted = *b == '"';
    b += quoted;
    size_t n = quoted ? strcspn(b, "\"") : strcspn(b, "; \t");
    if (n == 0 || n >= outsz)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

static char *message_text(const char *msg, const char *body)
{
    char *ctype = header_value(msg, body, "Content-Type");
    char *cte = header_value(msg, body, "Content-Transfer-Encoding");
    char boundary[256];
    char *text = NULL;
    if (ctype && strcasestr(ctype, "multipart/") &&
        boundary_of(ctype, boundary, sizeof boundary) == 0)
        text = plain_part(body, boundary);
    else if (!ctype || strcasestr(ctype, "text/plain"))
        text = decode_part(cte, body, body + strlen(body));
    free(ctype);
    free(cte);
    return text;
}

int sim_mail_parse(const char *msg, size_t len, char **to, char **link)
{
    *to = *link = NULL;
    if (memchr(msg, '\0', len)) /* not text; also makes the str* calls below safe */
        return -1;
    char *copy = strndup(msg, len);
    const char *body = copy ? body_start(copy) : NULL;
    char *v = body ? header_value(copy, body, "To") : NULL;
    if (!v) {
        free(copy);
        return -1;
    }
    *to = bare_address(v);
    char *text = message_text(copy, body);
    *link = text ? find_link(text) : NULL;
    free(text);
    free(copy);
    return 0;
}

static int read_small(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = malloc(MAIL_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAIL_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAIL_MAX_BYTES) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void scan_one(const char *dir, const char *name, sim_mail_fn fn, void *arg)
{
    char path[4200];
    struct stat sb;
    size_t n = strlen(name);
    if (name[0] == '.' || n < 5 || strcmp(name + n - 4, ".eml") != 0 ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
        stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return;
    char *msg = NULL, *to = NULL, *link = NULL;
    if (read_small(path, &msg, &n) < 0)
        return;
    if (sim_mail_parse(msg, n, &to, &link) == 0 && link)
        fn(to, link, &sb.st_mtim, arg);
    free(msg);
    free(to);
    free(link);
}

int sim_mail_scan(const char *dir, sim_mail_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        scan_one(dir, e->d_name, fn, arg);
    closedir(d);
    return 0;
}

struct newest {
    const char *email;
    char *link;
    struct timespec mtime;
};

static void keep_newest(const char *to, const char *link, const struct timespec *mtime, void *arg)
{
    struct newest *nw = arg;
    if (strcasecmp(to, nw->email) != 0)
        return;
    if (nw->link && (mtime->tv_sec < nw->mtime.tv_sec ||
                     (mtime->tv_sec == nw->mtime.tv_sec && mtime->tv_nsec <= nw->mtime.tv_nsec)))
        return;
    free(nw->link);
    nw->link = strdup(link);
    nw->mtime = *mtime;
}

char *sim_mail_newest_link(const char *dir, const char *email, int *unreadable)
{
    struct newest nw = {email, NULL, {0, 0}};
    *unreadable = sim_mail_scan(dir, keep_newest, &nw) < 0;
    return nw.link;
}
