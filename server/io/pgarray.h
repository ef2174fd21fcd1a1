/* pgarray: a one-dimensional text[] column in PostgreSQL's text output
 * ("{a,b}"), as a statement returns it. An element is double-quoted when it is
 * empty, holds a delimiter, brace, quote, backslash or space, or spells NULL;
 * inside quotes a backslash escapes the next character. An unquoted NULL is
 * the SQL NULL, which no caller expects: it makes the parse fail. */
#ifndef PUSHGATE_PGARRAY_H
#define PUSHGATE_PGARRAY_H

#include <stddef.h>

struct pgarray {
    char **items; /* n malloc'd, unescaped strings */
    size_t n;
};

/* Parses text into *a. 0, or -1 (and *a empty) when text is not such an array
 * (a NULL element, nesting, explicit bounds, trailing bytes...). */
int pgarray_parse(const char *text, struct pgarray *a);
void pgarray_free(struct pgarray *a);

#endif
