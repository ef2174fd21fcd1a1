/* sim_util: messages, clocks and number parsing shared by every pushgate-sim command.
 *
 * Errors go to stderr as "pushgate-sim: <message>", one line each; commands return
 * non-zero after reporting. Nothing here exits the process. */
#ifndef PUSHGATE_SIM_UTIL_H
#define PUSHGATE_SIM_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses of every command. */
#define SIM_OK 0
#define SIM_FAIL 1  /* the server refused, the network failed, a file is bad */
#define SIM_USAGE 2 /* the command line is wrong */

/* printf-style error line on stderr, prefixed "pushgate-sim: ". */
void sim_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic clock in microseconds (for latencies and deadlines). */
uint64_t sim_now_us(void);

/* Parses a whole decimal integer within [min, max] into *out. 0, or -1 when s is not
 * one (empty, trailing characters, out of range). */
int sim_parse_long(const char *s, long min, long max, long *out);

/* Formats a JSON value compactly into a malloc'd string ("null" for NULL). */
char *sim_json_text(const void *json);

#endif
