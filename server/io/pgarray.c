#include "pgarray.h"

#include "alloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pgarray_free(struct pgarray *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->items[i]);
    free(a->items);
    *a = (struct pgarray){0};
}

/* *p at the opening quote; leaves it past the closing one. */
static char *parse_quoted(const char **p)
{
    const char *s = *p + 1;
    char *buf = xmalloc(strlen(s) + 1), *o = buf;
    while (*s && *s != '"') {
        if (*s == '\\' && s[1])
            s++;
        *o++ = *s++;
    }
    if (*s != '"') {
        free(buf);
        return NULL;
    }
    *o = '\0';
    *p = s + 1;
    return buf;
}

/* PostgreSQL quotes every element that would need it, so a bare one is plain. */
static char *parse_bare(const char **p)
{
    size_t len = strcspn(*p, ",}");
    if (len == 0 || strcspn(*p, "{\"\\ \t\n") < len ||
        (len == 4 && strncasecmp(*p, "NULL", 4) == 0))
        return NULL;
    char *item = xstrndup(*p, len);
    *p += len;
    return item;
}

static int push(struct pgarray *a, size_t *cap, char *item)
{
    if (a->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        char **grown = xrealloc(a->items, ncap * sizeof *grown);
        a->items = grown;
        *cap = ncap;
    }
    a->items[a->n++] = item;
    return 0;
}

int pgarray_parse(const char *text, struct pgarray *a)
{
    *a = (struct pgarray){0};
    if (!text || *text != '{')
        return -1;
    const char *p = text + 1;
    if (*p == '}')
        return p[1] ? -1 : 0;
    size_t cap = 0;
    for (;;) {
        char *item = *p == '"' ? parse_quoted(&p) : parse_bare(&p);
        if (!item || push(a, &cap, item) < 0) {
            free(item);
            break;
        }
        if (*p == '}' && p[1] == '\0')
            return 0;
        if (*p++ != ',')
            break;
    }
    pgarray_free(a);
    return -1;
}
