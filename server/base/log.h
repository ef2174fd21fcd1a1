/* log: one line per event, text (logfmt) or JSON, written to stderr.
 *
 * Contract: callers pass the event name and NULL-terminated key/value string
 * pairs. Values are escaped; callers must never pass secrets (application
 * secrets, link tokens, codes, keys). Thread-unsafe by design: the server is
 * single-threaded. */
#ifndef PUSHGATE_LOG_H
#define PUSHGATE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Parses "debug"/"info"/"warn"/"error"; returns -1 when unknown. */
int log_level_parse(const char *s);
void log_setup(enum log_level min, int json);
int log_enabled(enum log_level level);

/* log_kv(LOG_INFO, "listening", "addr", "127.0.0.1:8080", NULL) */
void log_kv(enum log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
