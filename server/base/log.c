#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static int as_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_setup(enum log_level min, int json)
{
    min_level = min;
    as_json = json;
}

int log_enabled(enum log_level level)
{
    return level >= min_level;
}

static void timestamp(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, n - len, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* logfmt quoting: bare when the value has no space, quote or '=' */
static void text_value(FILE *f, const char *v)
{
    if (*v && strpbrk(v, " \"=\t\n\\") == NULL) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void emit_json(const char *ts, enum log_level level, const char *msg, va_list ap)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg", msg);
    const char *k;
    while (o && (k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        json_object_set_new(o, k, v ? json_string(v) : json_null());
    }
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    json_decref(o);
}

static void emit_text(const char *ts, enum log_level level, const char *msg, va_list ap)
{
    fprintf(stderr, "%s %-5s %s", ts, level_names[level], msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        fprintf(stderr, " %s=", k);
        text_value(stderr, v ? v : "null");
    }
    fputc('\n', stderr);
}

void log_kv(enum log_level level, const char *msg, ...)
{
    if (level < min_level)
        return;
    char ts[40];
    timestamp(ts, sizeof ts);
    va_list ap;
    va_start(ap, msg);
    if (as_json)
        emit_json(ts, level, msg, ap);
    else
        emit_text(ts, level, msg, ap);
    va_end(ap);
    fflush(stderr);
}
