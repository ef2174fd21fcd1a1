#include "sim_util.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sim_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pushgate-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t sim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int sim_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    if (!s || !*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

char *sim_json_text(const void *json)
{
    if (!json || json_is_null((const json_t *)json))
        return strdup("null");
    char *s = json_dumps((const json_t *)json, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : strdup("?");
}
