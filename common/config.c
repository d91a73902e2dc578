/* config.c: table-driven configuration (see config.h). Every option is filled from its default,
 * then its environment variable, then its --flag; --help is printed from the same table. Kafka
 * pass-through settings (KAFKA_* environment, -X key=value) are collected for kafka.c. */
#include "common/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/version.h"

extern char **environ;

/* Kafka pass-through: parallel arrays, environment entries first (g_kafka_env of them). */
static char **g_kafka_keys;
static char **g_kafka_vals;
static size_t g_kafka_n, g_kafka_cap, g_kafka_env;

static const char *const TYPE_NAMES[] = {"string", "int", "double", "bool", "duration", "size"};

static void kafka_props_clear(void)
{
    for (size_t i = 0; i < g_kafka_n; i++) {
        free(g_kafka_keys[i]);
        free(g_kafka_vals[i]);
    }
    free(g_kafka_keys);
    free(g_kafka_vals);
    g_kafka_keys = g_kafka_vals = NULL;
    g_kafka_n = g_kafka_cap = g_kafka_env = 0;
}

/* Set key=value (both copied); a later value for the same key replaces the earlier one. */
static int kafka_props_set(const char *key, size_t klen, const char *val)
{
    for (size_t i = 0; i < g_kafka_n; i++) {
        if (strlen(g_kafka_keys[i]) == klen && memcmp(g_kafka_keys[i], key, klen) == 0) {
            char *v = strdup(val);
            if (!v)
                return ERR_NOMEM;
            free(g_kafka_vals[i]);
            g_kafka_vals[i] = v;
            return 0;
        }
    }
    if (g_kafka_n == g_kafka_cap) {
        size_t cap = g_kafka_cap ? g_kafka_cap * 2 : 16;
        char **k = realloc(g_kafka_keys, cap * sizeof *k);
        if (!k)
            return ERR_NOMEM;
        g_kafka_keys = k;
        char **v = realloc(g_kafka_vals, cap * sizeof *v);
        if (!v)
            return ERR_NOMEM;
        g_kafka_vals = v;
        g_kafka_cap = cap;
    }
    char *k = strndup(key, klen);
    char *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        return ERR_NOMEM;
    }
    g_kafka_keys[g_kafka_n] = k;
    g_kafka_vals[g_kafka_n] = v;
    g_kafka_n++;
    return 0;
}

/* cfg_kafka_props: see config.h. The arrays stay valid until the next cfg_parse or cfg_free. */
size_t cfg_kafka_props(const char *const **keys, const char *const **values)
{
    if (keys)
        *keys = (const char *const *)g_kafka_keys;
    if (values)
        *values = (const char *const *)g_kafka_vals;
    return g_kafka_n;
}

/* cfg_kafka_props_from_env: how many leading entries of cfg_kafka_props() came from KAFKA_*
 * environment variables (the rest are -X flags). */
size_t cfg_kafka_props_from_env(void)
{
    return g_kafka_env;
}

/* Signed decimal integer with an optional unit suffix table; the whole string must be used. */
static int parse_i64(const char *s, int64_t *out, const char **rest)
{
    if (s == NULL || *s == '\0' || *s == ' ')
        return ERR_INVALID;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return ERR_INVALID;
    *out = v;
    *rest = end;
    return 0;
}

static int mul_checked(int64_t v, int64_t m, int64_t *out)
{
    if (v > 0 && v > INT64_MAX / m)
        return ERR_INVALID;
    if (v < 0 && v < INT64_MIN / m)
        return ERR_INVALID;
    *out = v * m;
    return 0;
}

/* cfg_parse_duration: "250ms", "30s", "5m", "1h", "2d" or a bare number of ms. */
int cfg_parse_duration(const char *s, int64_t *ms)
{
    int64_t v;
    const char *u;
    if (parse_i64(s, &v, &u) != 0)
        return ERR_INVALID;
    int64_t m;
    if (*u == '\0' || strcmp(u, "ms") == 0)
        m = 1;
    else if (strcmp(u, "s") == 0)
        m = 1000;
    else if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0)
        m = 60000;
    else if (strcmp(u, "h") == 0)
        m = 3600000;
    else if (strcmp(u, "d") == 0)
        m = 86400000;
    else
        return ERR_INVALID;
    return mul_checked(v, m, ms);
}

/* cfg_parse_size: "512", "512b", "64k", "16M", "1G", "1T" (powers of 1024; "KiB"/"kb" accepted). */
int cfg_parse_size(const char *s, int64_t *bytes)
{
    int64_t v;
    const char *u;
    if (parse_i64(s, &v, &u) != 0 || v < 0 || *s == '-')
        return ERR_INVALID;
    int64_t m = 1;
    if (*u) {
        switch (*u) {
        case 'b':
        case 'B': m = 1; break;
        case 'k':
        case 'K': m = 1024; break;
        case 'm':
        case 'M': m = 1024 * 1024; break;
        case 'g':
        case 'G': m = 1024LL * 1024 * 1024; break;
        case 't':
        case 'T': m = 1024LL * 1024 * 1024 * 1024; break;
        default: return ERR_INVALID;
        }
        if (*u != 'b' && *u != 'B') {
            u++;
            if (*u == 'i' || *u == 'I')
                u++;
            if (*u == 'b' || *u == 'B')
                u++;
        } else {
            u++;
        }
        if (*u)
            return ERR_INVALID;
    }
    return mul_checked(v, m, bytes);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on", "y"};
    static const char *const no[] = {"false", "0", "no", "off", "n"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return ERR_INVALID;
}

/* Parse s into o->dst. On failure, *why says why (static or in whybuf). */
static int set_value(const cfg_option *o, const char *s, char *whybuf, size_t whylen)
{
    int64_t i64;
    switch (o->type) {
    case CFG_STRING: {
        char *v = s ? strdup(s) : NULL;
        if (s && !v) {
            snprintf(whybuf, whylen, "out of memory");
            return ERR_NOMEM;
        }
        char **dst = o->dst;
        free(*dst);
        *dst = v;
        return 0;
    }
    case CFG_BOOL:
        if (parse_bool(s, o->dst) != 0) {
            snprintf(whybuf, whylen, "bad boolean \"%s\" (want true/false/1/0/yes/no/on/off)", s);
            return ERR_INVALID;
        }
        return 0;
    case CFG_DOUBLE: {
        errno = 0;
        char *end;
        double d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || errno == ERANGE || !isfinite(d)) {
            snprintf(whybuf, whylen, "bad number \"%s\"", s);
            return ERR_INVALID;
        }
        *(double *)o->dst = d;
        return 0;
    }
    case CFG_INT: {
        const char *rest;
        if (parse_i64(s, &i64, &rest) != 0 || *rest != '\0') {
            snprintf(whybuf, whylen, "bad integer \"%s\"", s);
            return ERR_INVALID;
        }
        break;
    }
    case CFG_DURATION:
        if (cfg_parse_duration(s, &i64) != 0) {
            snprintf(whybuf, whylen, "bad duration \"%s\" (e.g. 250ms, 30s, 5m, 1h)", s);
            return ERR_INVALID;
        }
        break;
    case CFG_SIZE:
        if (cfg_parse_size(s, &i64) != 0) {
            snprintf(whybuf, whylen, "bad size \"%s\" (e.g. 512, 64k, 16M, 1G)", s);
            return ERR_INVALID;
        }
        break;
    default: snprintf(whybuf, whylen, "bad option type"); return ERR_INVALID;
    }
    if (o->min < o->max && (i64 < o->min || i64 > o->max)) {
        snprintf(whybuf, whylen, "%s out of range [%lld, %lld]", s, (long long)o->min, (long long)o->max);
        return ERR_INVALID;
    }
    *(int64_t *)o->dst = i64;
    return 0;
}

static void print_usage(FILE *f, const char *program, const char *summary, const cfg_option *opts)
{
    fprintf(f,
            "%s %s: %s\n\nUsage: %s [--option=value ...] [-X kafka.property=value ...]\n\n"
            "Options (precedence: default < environment < flag):\n",
            program, RSVP_VERSION, summary ? summary : "", program);
    for (const cfg_option *o = opts; o && o->name; o++) {
        const char *def = o->def ? o->def : "(none)";
        if (o->secret && o->def)
            def = "***";
        fprintf(f, "  --%s=<%s>  %s  default: %s  %s", o->name, TYPE_NAMES[o->type], o->env ? o->env : "-",
                *def ? def : "\"\"", o->help ? o->help : "");
        if (o->min < o->max && o->type != CFG_STRING && o->type != CFG_BOOL && o->type != CFG_DOUBLE)
            fprintf(f, " (range %lld..%lld)", (long long)o->min, (long long)o->max);
        fputc('\n', f);
    }
    fprintf(f, "  -h, --help  print this help and exit\n"
               "  --version  print the version and exit\n\n"
               "Kafka settings pass through by librdkafka's own property names:\n"
               "  environment KAFKA_FOO_BAR=v sets foo.bar=v (lower-cased, '_' -> '.'), e.g.\n"
               "  KAFKA_SECURITY_PROTOCOL=ssl; the flag -X key=value (as kcat) overrides it, e.g.\n"
               "  -X security.protocol=sasl_ssl -X sasl.mechanisms=PLAIN.\n");
}

static const cfg_option *find_option(const cfg_option *opts, const char *name, size_t n)
{
    for (const cfg_option *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && memcmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

static int is_option_env(const cfg_option *opts, const char *env, size_t n)
{
    for (const cfg_option *o = opts; o && o->name; o++)
        if (o->env && strlen(o->env) == n && memcmp(o->env, env, n) == 0)
            return 1;
    return 0;
}

/* KAFKA_FOO_BAR=v -> foo.bar=v, except variables that are an option's own env (e.g. KAFKA_BROKERS
 * when a service declares it as its --brokers option). KAFKA_BROKERS, kcat's word for the broker
 * list, is an alias of KAFKA_BOOTSTRAP_SERVERS (which wins when both are set: it comes later). */
static int collect_kafka_env(const cfg_option *opts)
{
    const char *brokers = getenv("KAFKA_BROKERS");
    if (brokers && *brokers && !is_option_env(opts, "KAFKA_BROKERS", 13) &&
        kafka_props_set("bootstrap.servers", 17, brokers) != 0)
        return ERR_NOMEM;
    for (char **e = environ; e && *e; e++) {
        const char *s = *e;
        if (strncmp(s, "KAFKA_", 6) != 0)
            continue;
        const char *eq = strchr(s, '=');
        if (!eq || eq == s + 6 || is_option_env(opts, s, (size_t)(eq - s)))
            continue;
        char key[256];
        size_t n = (size_t)(eq - (s + 6));
        if (n >= sizeof key)
            continue;
        for (size_t i = 0; i < n; i++) {
            char c = s[6 + i];
            key[i] = c == '_' ? '.' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        if (n == 7 && memcmp(key, "brokers", 7) == 0)
            continue; /* alias: added first, below, so an explicit bootstrap.servers wins */
        if (kafka_props_set(key, n, eq + 1) != 0)
            return ERR_NOMEM;
    }
    g_kafka_env = g_kafka_n;
    return 0;
}

static int bad(const char *program, const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", program, what, why);
    return ERR_INVALID;
}

/* cfg_parse: see config.h. String dsts are set (default or NULL) before anything can fail, so
 * cfg_free() is safe after any return. Not thread-safe; call once from main(). */
int cfg_parse(const char *program, const char *summary, const cfg_option *opts, int argc, char **argv)
{
    char why[512];
    kafka_props_clear();

    /* 1. defaults (strings first so that cfg_free is always safe) */
    for (const cfg_option *o = opts; o && o->name; o++)
        if (o->type == CFG_STRING)
            *(char **)o->dst = NULL;
    for (const cfg_option *o = opts; o && o->name; o++) {
        if (o->def == NULL)
            continue;
        int rc = set_value(o, o->def, why, sizeof why);
        if (rc != 0) {
            char what[128];
            snprintf(what, sizeof what, "--%s (default)", o->name);
            bad(program, what, why);
            return rc == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID;
        }
    }

    /* 2. environment */
    for (const cfg_option *o = opts; o && o->name; o++) {
        const char *v = o->env ? getenv(o->env) : NULL;
        if (v == NULL)
            continue;
        int rc = set_value(o, v, why, sizeof why);
        if (rc != 0) {
            bad(program, o->env, why);
            return rc == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID;
        }
    }
    if (collect_kafka_env(opts) != 0)
        return ERR_NOMEM;

    /* 3. flags, in order */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout, program, summary, opts);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", program, RSVP_VERSION);
            return 1;
        }
        if (strncmp(a, "-X", 2) == 0) {
            const char *kv = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!kv || !eq || eq == kv)
                return bad(program, "-X", "expects key=value (a librdkafka property)");
            if (kafka_props_set(kv, (size_t)(eq - kv), eq + 1) != 0)
                return ERR_NOMEM;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return bad(program, a, "unexpected argument (options are --name=value)");
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const cfg_option *o = find_option(opts, name, nlen);
        char what[160];
        snprintf(what, sizeof what, "--%.*s", (int)(nlen > 120 ? 120 : nlen), name);
        if (o == NULL)
            return bad(program, what, "unknown option (see --help)");
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == CFG_BOOL)
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return bad(program, what, "missing value");
        int rc = set_value(o, v, why, sizeof why);
        if (rc != 0) {
            bad(program, what, why);
            return rc == ERR_NOMEM ? ERR_NOMEM : ERR_INVALID;
        }
    }
    return 0;
}

/* cfg_instance_id: see config.h. */
const char *cfg_instance_id(const char *id)
{
    static char gen[300];
    if (id && *id)
        return id;
    if (gen[0] == '\0') {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(gen, sizeof gen, "%s-%ld", host, (long)getpid());
    }
    return gen;
}

/* Kafka property names that carry secrets. */
static int kafka_key_secret(const char *k)
{
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "jaas") || strstr(k, "private") ||
           strstr(k, "token") || strstr(k, "key.pem") || strstr(k, "credentials");
}

/* cfg_log_effective: see config.h. One "config" line at info, fields named like the options. */
void cfg_log_effective(const cfg_option *opts)
{
    buf b = {0};
    int rc = 0;
    for (const cfg_option *o = opts; o && o->name; o++) {
        if (b.len)
            rc |= buf_putc(&b, ',');
        rc |= buf_json_str(&b, o->name, strlen(o->name));
        rc |= buf_putc(&b, ':');
        switch (o->type) {
        case CFG_STRING: {
            const char *s = *(char **)o->dst;
            if (s == NULL)
                rc |= buf_puts(&b, "null");
            else if (o->secret)
                rc |= buf_puts(&b, "\"***\"");
            else
                rc |= buf_json_str(&b, s, strlen(s));
            break;
        }
        case CFG_BOOL: rc |= buf_puts(&b, o->secret ? "\"***\"" : *(int *)o->dst ? "true" : "false"); break;
        case CFG_DOUBLE: {
            double d = *(double *)o->dst;
            if (o->secret)
                rc |= buf_puts(&b, "\"***\"");
            else if (isfinite(d))
                rc |= buf_printf(&b, "%.17g", d);
            else
                rc |= buf_puts(&b, "null");
            break;
        }
        default:
            if (o->secret)
                rc |= buf_puts(&b, "\"***\"");
            else
                rc |= buf_printf(&b, "%lld", (long long)*(int64_t *)o->dst);
            break;
        }
    }
    for (size_t i = 0; i < g_kafka_n; i++) {
        if (b.len)
            rc |= buf_putc(&b, ',');
        rc |= buf_puts(&b, "\"kafka.");
        /* property names are plain ASCII words; escape through a JSON string anyway */
        buf k = {0};
        rc |= buf_json_str(&k, g_kafka_keys[i], strlen(g_kafka_keys[i]));
        if (k.len >= 2)
            rc |= buf_append(&b, k.data + 1, k.len - 1);
        buf_free(&k);
        rc |= buf_putc(&b, ':');
        if (kafka_key_secret(g_kafka_keys[i]))
            rc |= buf_puts(&b, "\"***\"");
        else
            rc |= buf_json_str(&b, g_kafka_vals[i], strlen(g_kafka_vals[i]));
    }
    if (rc == 0)
        log_write_json(LOGL_INFO, "config", b.data ? b.data : "");
    buf_free(&b);
}

/* Option names match with '_' and '-' alike. */
static int name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if ((*a == '_' ? '-' : *a) != (*b == '_' ? '-' : *b))
            return 0;
    return *a == *b;
}

int cfg_option_default(cfg_option *opts, const char *name, const char *value)
{
    for (cfg_option *o = opts; o && o->name; o++) {
        if (name_eq(o->name, name)) {
            o->def = value;
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* cfg_file_parse: see config.h. */
int cfg_file_parse(const char *text, cfg_file_line fn, void *ctx, char *err, size_t errlen)
{
    const char *p = text ? text : "";
    for (int lineno = 1; *p; lineno++) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *next = eol ? eol + 1 : end;
        while (p < end && is_space(*p))
            p++;
        while (end > p && is_space(end[-1]))
            end--;
        if (p == end || *p == '#') {
            p = next;
            continue;
        }
        char why[256] = "";
        int rc = ERR_INVALID;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            snprintf(why, sizeof why, "expected key=value");
        } else {
            const char *ke = eq, *v = eq + 1;
            while (ke > p && is_space(ke[-1]))
                ke--;
            while (v < end && is_space(*v))
                v++;
            size_t vn = (size_t)(end - v);
            if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
                v++;
                vn -= 2;
            }
            if (ke == p)
                snprintf(why, sizeof why, "empty key");
            else
                rc = fn(ctx, p, (size_t)(ke - p), v, vn, why, sizeof why);
        }
        if (rc == ERR_NOMEM)
            return rc;
        if (rc != 0) {
            snprintf(err, errlen, "line %d: %s", lineno, why[0] ? why : "refused");
            return ERR_INVALID;
        }
        p = next;
    }
    return 0;
}

/* cfg_file_load: see config.h. */
int cfg_file_load(const char *path, cfg_file_line fn, void *ctx, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = file_read_all(path, (size_t)1 << 20, &text, NULL, err, errlen);
    if (rc != 0)
        return rc == ERR_RANGE ? ERR_INVALID : rc;
    rc = cfg_file_parse(text, fn, ctx, err, errlen);
    free(text);
    return rc;
}

/* cfg_free: see config.h; also drops the Kafka pass-through settings. NULL-safe. */
void cfg_free(const cfg_option *opts)
{
    for (const cfg_option *o = opts; o && o->name; o++) {
        if (o->type == CFG_STRING && o->dst) {
            char **dst = o->dst;
            free(*dst);
            *dst = NULL;
        }
    }
    kafka_props_clear();
}
