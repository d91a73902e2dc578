/* log.h: structured logging. One JSON object per line on stderr:
 *   {"ts":"2026-11-26T01:02:03.456Z","level":"info","service":"parser","instance":"p-0",
 *    "msg":"up","version":"0.1.0","brokers":"127.0.0.1:19092"}
 * Fields come from a printf-style spec of key=conversion pairs separated by spaces, type-checked by
 * the compiler:  log_info("connected", "url=%s attempt=%d lag_ms=%lld", url, n, (long long)lag);
 * %s becomes a JSON string (NULL -> null), integer and floating conversions become JSON numbers
 * (non-finite -> null), %c a one-character string. Thread-safe (one write(2) per line).
 * Never log per message on a hot path: count it in a metric. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h> /* NULL, for log_info("msg", NULL) */

typedef enum log_level { LOGL_DEBUG = 0, LOGL_INFO = 1, LOGL_WARN = 2, LOGL_ERROR = 3 } log_level;

/* log_init: service and instance are copied; call before other threads start. */
void log_init(const char *service, const char *instance, log_level level);
/* log_level_parse: "debug"/"info"/"warn"/"error" -> *out; 0 or ERR_INVALID. */
int log_level_parse(const char *s, log_level *out);
void log_set_level(log_level level);
int log_enabled(log_level level);

/* log_write: fields NULL for none (a literal "" also works but gcc -Wformat-zero-length rejects
 * it under -Werror). Any thread. */
void log_write(log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level level, const char *msg, const char *fields, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* log_write_json: json_fields is a ready JSON fragment of members ("\"a\":1,\"b\":\"x\"") put
 * after msg, for callers whose fields are only known at run time (cfg_log_effective). */
void log_write_json(log_level level, const char *msg, const char *json_fields);

/* log_format_line: the same formatting into a caller buffer (for tests); returns length written
 * (truncated at cap - 1, always NUL-terminated, no trailing newline). */
int log_format_line(char *out, int cap, log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 5, 6)));

#define log_debug(msg, ...) log_write(LOGL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_write(LOGL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_write(LOGL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOGL_ERROR, msg, __VA_ARGS__)

#endif
