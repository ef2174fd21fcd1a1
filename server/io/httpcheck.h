/* httpcheck: what evhttp (libevent 2.1) lets through but HTTP/1.1 does not, checked on
 * a request's parsed head before anything acts on it. Pure functions (no libevent, no
 * allocation), so libFuzzer drives them directly (tests/fuzz/fuzz_httphead.c,
 * fuzz_pathseg.c).
 *
 * Why each rule exists (request smuggling, docs/http.md):
 *  - evhttp splits a header line at its first ':' and keeps what comes before as the
 *    name, so "Content-Length : 5" is a header named "Content-Length " that evhttp does
 *    not take for a length: the body would be parsed as a second request. RFC 9112 5.1:
 *    a name is a token with no whitespace before the colon; anything else is refused.
 *  - evhttp honours the first of two Content-Length headers and would accept one beside
 *    Transfer-Encoding.
 *  - evhttp does not read the body of a HEAD or TRACE request at all: declared, it would
 *    become the next request on the connection. */
#ifndef PUSHGATE_HTTPCHECK_H
#define PUSHGATE_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct httpcheck_field {
    const char *name;
    const char *value;
};

/* 0 when the head may be served; -1 otherwise, *why then says why (a static string for
 * a 400 invalid_request answered with Connection: close). body_unread: the method is
 * one whose body evhttp does not read (HEAD, TRACE). */
int httpcheck_head(const struct httpcheck_field *f, size_t n, bool body_unread, const char **why);

/* A decoded path capture (len bytes, may hold any byte): well-formed UTF-8 (no overlong
 * forms, surrogates or code points above U+10FFFF, no NUL), as a JSON body's text is once
 * jansson has read it. Bytes that are not would reach SQL (whose text refuses them: a
 * 500, or a false 503). Control characters and the length are the handler's to judge, as
 * in a body: a username with them names no user (404 user_not_found). */
bool httpcheck_segment(const char *s, size_t len);

/* Where a request head ends, as evhttp finds it (lines end at LF, a CR before it is
 * dropped; the head ends at the first empty line), counted over the bytes as they
 * arrive, in pieces of any size: errpage.c tells a head evhttp refused for its size
 * from one it refused as malformed. Zero it at the request's first byte. */
/* evhttp's max_headers_size (http.c: HTTP_MAX_HEAD, asserted equal). */
#define HTTPCHECK_MAX_HEAD (16 * 1024)

struct httpcheck_headscan {
    size_t bytes;       /* of the head so far, line ends included (all of it once done) */
    unsigned char line; /* 0: at a line's start, 1: a lone CR so far, 2: inside a line */
    bool done;          /* the empty line has been seen */
};

/* Feeds n bytes of the stream; returns how many belong to the head (n until done; once
 * done, 0: the rest is the body or the next request). */
size_t httpcheck_head_scan(struct httpcheck_headscan *s, const char *p, size_t n);

#endif
