/* config.h: table-driven configuration. Each program declares its options once (name, env var,
 * type, default, help, bounds, secret); cfg_parse() applies default < environment < --flag,
 * validates, and prints --help from the same table, so docs and behaviour never disagree. Config
 * files (key=value lines, rsvpctl's) are parsed here too.
 * Kafka settings pass through by librdkafka's own names: env KAFKA_FOO_BAR=v means foo.bar=v, and
 * the flag -X foo.bar=v (as kcat) overrides it; kafka.h reads them with cfg_kafka_props(). */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum cfg_type {
    CFG_STRING,   /* dst: char ** (owned by the config module until cfg_free) */
    CFG_INT,      /* dst: int64_t *; min/max bound it when min < max */
    CFG_DOUBLE,   /* dst: double * */
    CFG_BOOL,     /* dst: int *; true/false/1/0/yes/no/on/off; a bare --flag means true */
    CFG_DURATION, /* dst: int64_t * milliseconds; "250ms", "30s", "5m", "1h", or a bare number = ms */
    CFG_SIZE,     /* dst: int64_t * bytes; "512", "64k", "16M", "1G" (powers of 1024) */
} cfg_type;

typedef struct cfg_option {
    const char *name; /* flag without dashes: "source-url" -> --source-url=V or --source-url V */
    const char *env;  /* environment variable: "SOURCE_URL" */
    cfg_type type;
    const char *def;  /* default as text; NULL = unset (CFG_STRING dst stays NULL) */
    const char *help; /* one line */
    int64_t min, max; /* inclusive bounds for INT/DURATION/SIZE when min < max */
    int secret;       /* masked as "***" in cfg_log_effective() */
    void *dst;
} cfg_option;

/* Options every service has; append CFG_COMMON_OPTIONS(&common) to each table:
 * LOG_LEVEL (debug|info|warn|error), METRICS_ADDR (host:port of /metrics, /healthz, /readyz, "" to
 * disable), INSTANCE_ID (replica name used in logs, client ids and transactional ids). */
typedef struct cfg_common {
    char *log_level;
    char *metrics_addr;
    char *instance_id;
} cfg_common;

#define CFG_COMMON_OPTIONS(c, default_metrics_addr)                                                          \
    {"log-level", "LOG_LEVEL", CFG_STRING, "info",         "log level: debug, info, warn, error",            \
     0,           0,           0,          &(c)->log_level},                                                 \
        {"metrics-addr",                                                                                     \
         "METRICS_ADDR",                                                                                     \
         CFG_STRING,                                                                                         \
         default_metrics_addr,                                                                               \
         "host:port for /metrics, /healthz, /readyz (empty disables)",                                       \
         0,                                                                                                  \
         0,                                                                                                  \
         0,                                                                                                  \
         &(c)->metrics_addr},                                                                                \
    {                                                                                                        \
        "instance-id", "INSTANCE_ID", CFG_STRING, NULL,                                                      \
            "replica name for logs, client and transactional ids (default: hostname-pid)", 0, 0, 0,          \
            &(c)->instance_id                                                                                \
    }

/* cfg_parse: fill every option's dst. opts ends with an entry whose name is NULL.
 * program: binary name for --help; summary: one line of what it does.
 * Returns 0 to run, 1 if --help or --version was printed (exit 0), ERR_INVALID on a bad value or
 * unknown flag after printing "program: <option>: <why>" to stderr (main exits 2).
 * After success, an unset instance_id in a cfg_common is not filled in: use cfg_instance_id(). */
int cfg_parse(const char *program, const char *summary, const cfg_option *opts, int argc, char **argv);

/* cfg_instance_id: the given id, or "<hostname>-<pid>" if id is NULL or empty. Static storage. */
const char *cfg_instance_id(const char *id);

/* cfg_kafka_props: the Kafka pass-through settings collected by cfg_parse, as parallel arrays of
 * librdkafka property names and values, environment first then -X flags (later wins). */
size_t cfg_kafka_props(const char *const **keys, const char *const **values);
/* cfg_kafka_props_from_env: how many leading entries of cfg_kafka_props() came from KAFKA_*
 * environment variables (the rest are -X flags). A KAFKA_* variable that is some option's own env
 * (e.g. KAFKA_BROKERS for --brokers) is not passed through. */
size_t cfg_kafka_props_from_env(void);

/* cfg_log_effective: one "config" log line with every option's effective value, secrets masked. */
void cfg_log_effective(const cfg_option *opts);

/* cfg_free: free strings allocated by cfg_parse and reset their dst to NULL. NULL-safe. */
void cfg_free(const cfg_option *opts);

/* cfg_option_default: give the option named name ('_' and '-' alike) in opts the default value
 * (borrowed: it must outlive the next cfg_parse), so that a config file sits between the built-in
 * default and the environment. 0, or ERR_NOTFOUND when opts has no such option. */
int cfg_option_default(cfg_option *opts, const char *name, const char *value);

/* Config files: one "key=value" per line; blank lines and lines starting with '#' are skipped;
 * spaces around the key and the value are dropped, and a value in double quotes loses them.
 * cfg_file_line gets each pair (not NUL-terminated) and returns 0, ERR_NOMEM, or ERR_INVALID with
 * why set (the caller's meaning of keys: unknown key, bad value...). */
typedef int (*cfg_file_line)(void *ctx, const char *key, size_t klen, const char *value, size_t vlen,
                             char *why, size_t whylen);

/* cfg_file_parse: call fn for every key=value line of text, in order. Returns 0; ERR_INVALID with
 * "line N: why" in err for a line without '=', with an empty key, or one fn refused; ERR_NOMEM. */
int cfg_file_parse(const char *text, cfg_file_line fn, void *ctx, char *err, size_t errlen);

/* cfg_file_load: cfg_file_parse of the file at path (at most 1 MiB). Also ERR_IO (unreadable,
 * "path: why" in err). */
int cfg_file_load(const char *path, cfg_file_line fn, void *ctx, char *err, size_t errlen);

/* Helpers for tests and tools: parse a duration or size with the rules above. 0 or ERR_INVALID. */
int cfg_parse_duration(const char *s, int64_t *ms);
int cfg_parse_size(const char *s, int64_t *bytes);

#endif
