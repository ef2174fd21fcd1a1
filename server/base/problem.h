/* problem: RFC 9457 problem+json bodies with pushgate's stable `code`.
 *
 * problem_new() returns a new JSON object {"type":"about:blank","title",
 * "status","code","detail"}; the caller owns the reference. `detail` is for
 * humans and must never contain a secret. */
#ifndef PUSHGATE_PROBLEM_H
#define PUSHGATE_PROBLEM_H

#include <jansson.h>

/* The reason phrase used as `title` ("Not Found"); "Error" when unknown. */
const char *problem_title(int status);
json_t *problem_new(int status, const char *code, const char *detail);

#endif
