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

#endif
