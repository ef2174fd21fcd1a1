/* idem: the Idempotency-Key request header (api.md 1) of POST /registration
 * and POST /auth. The key's rows, and what a retry gets, live in SQL
 * (sql/032_idempotency.sql); this reads and checks the header and computes
 * what "the same body" means (docs/http.md "Idempotent retries"). */
#ifndef PUSHGATE_IDEM_H
#define PUSHGATE_IDEM_H

#include "http.h"

/* The header of r, when r carries one: returns 0 without the header (nothing
 * else done, no cost), 1 with a valid key (*key points into r's headers,
 * hash = SHA-256 hex of route, a newline and r's body as canonical JSON:
 * compact, keys sorted), or -1 after answering 400 invalid_request for a key
 * that is not 1-128 printable ASCII characters. r->body must be parsed. */
int idem_read(struct req *r, const char *route, const char **key, char hash[65]);

#endif
