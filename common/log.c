/* log.c: structured JSON-lines logging to stderr (see log.h). The fields spec is a printf format of
 * key=%conv pairs; we walk it ourselves, take each va_arg by its length modifier and emit a JSON
 * value, so the compiler type-checks calls while the output stays valid JSON. */
#include "common/log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"

static char g_service[64] = "rsvp";
static char g_instance[128];
static _Atomic int g_level = LOGL_INFO;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

/* log_init: service and instance are copied; call before other threads start. */
void log_init(const char *service, const char *instance, log_level level)
{
    snprintf(g_service, sizeof g_service, "%s", service ? service : "rsvp");
    snprintf(g_instance, sizeof g_instance, "%s", instance ? instance : "");
    log_set_level(level);
}

/* log_level_parse: "debug"/"info"/"warn"/"error" (also "warning") -> *out; 0 or ERR_INVALID. */
int log_level_parse(const char *s, log_level *out)
{
    if (s == NULL)
        return ERR_INVALID;
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, LEVEL_NAMES[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOGL_WARN;
        return 0;
    }
    return ERR_INVALID;
}

void log_set_level(log_level level)
{
    if ((int)level < LOGL_DEBUG)
        level = LOGL_DEBUG;
    if ((int)level > LOGL_ERROR)
        level = LOGL_ERROR;
    atomic_store(&g_level, (int)level);
}

int log_enabled(log_level level)
{
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

/* One parsed conversion spec: %[flags][width][.prec][length]conv. */
typedef struct spec {
    int width_star, prec_star;
    int prec;  /* -1 = none */
    char len;  /* 0 none, 'H' hh, 'h', 'l', 'L' ll, 'z', 'j', 't', 'D' long double */
    char conv; /* '\0' if the format ends inside the spec */
} spec;

/* Parse the spec starting just after '%'; returns the pointer after it. Consumes no argument. */
static const char *parse_spec(const char *p, spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->prec = -1;
    while (*p && strchr("-+ #0'", *p))
        p++;
    if (*p == '*') {
        sp->width_star = 1;
        p++;
    } else {
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == '.') {
        p++;
        if (*p == '*') {
            sp->prec_star = 1;
            p++;
        } else {
            sp->prec = 0;
            for (; *p >= '0' && *p <= '9'; p++)
                if (sp->prec < 100000)
                    sp->prec = sp->prec * 10 + (*p - '0');
        }
    }
    if (p[0] == 'h' && p[1] == 'h') {
        sp->len = 'H';
        p += 2;
    } else if (p[0] == 'l' && p[1] == 'l') {
        sp->len = 'L';
        p += 2;
    } else if (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't' || *p == 'q') {
        sp->len = *p == 'q' ? 'L' : *p;
        p++;
    } else if (*p == 'L') {
        sp->len = 'D';
        p++;
    }
    sp->conv = *p;
    return *p ? p + 1 : p;
}

/* A double as a JSON number (null when not finite), or as plain text when text is set. */
static int put_double(buf *b, double v, int prec, char conv, int text)
{
    if (!isfinite(v))
        return buf_puts(b, text ? (isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") : "null");
    char tmp[512];
    char fmt[16];
    /* %a is hex and not JSON: print such values with %.17g instead. */
    if (conv == 'a' || conv == 'A') {
        conv = 'g';
        prec = 17;
    }
    if (conv == 'F')
        conv = 'f';
    if (conv == 'E')
        conv = 'e';
    if (conv == 'G')
        conv = 'g';
    if (prec >= 0)
        snprintf(fmt, sizeof fmt, "%%.%d%c", prec > 60 ? 60 : prec, conv);
    else
        snprintf(fmt, sizeof fmt, "%%%c", conv);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(tmp, sizeof tmp, fmt, v);
#pragma GCC diagnostic pop
    return buf_puts(b, tmp);
}

/* Take the arguments of one conversion from *ap (by its length modifier) and append its value:
 * as a JSON value, or as plain text (text = 1) when it is part of a longer value ("%s:%d").
 * Flags and width are ignored: they would only pad. */
static int put_conv(buf *b, const spec *sp, va_list *ap, int saved_errno, int text)
{
    int prec = sp->prec;
    if (sp->width_star)
        (void)va_arg(*ap, int);
    if (sp->prec_star)
        prec = va_arg(*ap, int);
    char len = sp->len;
    char tmp[64];
    switch (sp->conv) {
    case 'd':
    case 'i': {
        long long v;
        switch (len) {
        case 'H': v = (signed char)va_arg(*ap, int); break;
        case 'h': v = (short)va_arg(*ap, int); break;
        case 'l': v = va_arg(*ap, long); break;
        case 'L': v = va_arg(*ap, long long); break;
        case 'z': v = va_arg(*ap, ssize_t); break;
        case 'j': v = (long long)va_arg(*ap, intmax_t); break;
        case 't': v = va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, int); break;
        }
        snprintf(tmp, sizeof tmp, "%lld", v);
        return buf_puts(b, tmp);
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        unsigned long long v;
        switch (len) {
        case 'H': v = (unsigned char)va_arg(*ap, unsigned); break;
        case 'h': v = (unsigned short)va_arg(*ap, unsigned); break;
        case 'l': v = va_arg(*ap, unsigned long); break;
        case 'L': v = va_arg(*ap, unsigned long long); break;
        case 'z': v = va_arg(*ap, size_t); break;
        case 'j': v = (unsigned long long)va_arg(*ap, uintmax_t); break;
        case 't': v = (unsigned long long)va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, unsigned); break;
        }
        if (sp->conv == 'u')
            snprintf(tmp, sizeof tmp, "%llu", v);
        else if (text)
            snprintf(tmp, sizeof tmp, sp->conv == 'o' ? "%llo" : sp->conv == 'x' ? "%llx" : "%llX", v);
        else /* hex and octal are not JSON numbers: keep their text as a string */
            snprintf(tmp, sizeof tmp,
                     sp->conv == 'o'   ? "\"0%llo\""
                     : sp->conv == 'x' ? "\"0x%llx\""
                                       : "\"0x%llX\"",
                     v);
        return buf_puts(b, tmp);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A': {
        double v;
        if (len == 'D')
            v = (double)va_arg(*ap, long double);
        else
            v = va_arg(*ap, double);
        return put_double(b, v, prec, sp->conv, text);
    }
    case 'c': {
        char c = (char)va_arg(*ap, int);
        return text ? buf_putc(b, c) : buf_json_str(b, &c, 1);
    }
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (s == NULL)
            return buf_puts(b, text ? "(null)" : "null");
        size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
        return text ? buf_append(b, s, n) : buf_json_str(b, s, n);
    }
    case 'p': {
        void *v = va_arg(*ap, void *);
        snprintf(tmp, sizeof tmp, text ? "%p" : "\"%p\"", v);
        return buf_puts(b, tmp);
    }
    case 'm': {
        const char *s = strerror(saved_errno);
        return text ? buf_puts(b, s) : buf_json_str(b, s, strlen(s));
    }
    case 'n':
        (void)va_arg(*ap, void *); /* never written through */
        return text ? 0 : buf_puts(b, "null");
    case '%': return buf_puts(b, text ? "%" : "\"%\"");
    default: return text ? 0 : buf_puts(b, "null");
    }
}

/* Walk the fields spec "k=%d name=%s": a value that is one conversion becomes a typed JSON value;
 * any other value ("%s:%d", "literal", "50%%") becomes a JSON string of its printf text. Every
 * conversion takes its arguments, so the va_list never gets out of step. A bare word is true. */
static int put_fields(buf *b, const char *fields, va_list *ap, int saved_errno)
{
    const char *p = fields;
    int rc = 0;
    buf text = {0};
    while (p && *p && rc == 0) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        rc |= buf_putc(b, ',');
        rc |= buf_json_str(b, key, (size_t)(p - key));
        rc |= buf_putc(b, ':');
        if (*p != '=') {
            rc |= buf_puts(b, "true");
            continue;
        }
        p++;
        spec sp;
        if (*p == '%' && p[1] != '%') {
            const char *end = parse_spec(p + 1, &sp);
            if (*end == '\0' || *end == ' ') {
                rc |= put_conv(b, &sp, ap, saved_errno, 0);
                p = end;
                continue;
            }
        }
        buf_reset(&text);
        while (*p && *p != ' ') {
            if (*p == '%') {
                p = parse_spec(p + 1, &sp);
                rc |= put_conv(&text, &sp, ap, saved_errno, 1);
            } else {
                rc |= buf_putc(&text, *p++);
            }
        }
        rc |= buf_json_str(b, text.data ? text.data : "", text.len);
    }
    buf_free(&text);
    return rc ? ERR_NOMEM : 0;
}

static int put_head(buf *b, log_level level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\"",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000), LEVEL_NAMES[level < 0 || level > 3 ? 3 : level]);
    int rc = buf_puts(b, tbuf);
    rc |= buf_puts(b, ",\"service\":");
    rc |= buf_json_str(b, g_service, strlen(g_service));
    if (g_instance[0]) {
        rc |= buf_puts(b, ",\"instance\":");
        rc |= buf_json_str(b, g_instance, strlen(g_instance));
    }
    rc |= buf_puts(b, ",\"msg\":");
    rc |= msg ? buf_json_str(b, msg, strlen(msg)) : buf_puts(b, "null");
    return rc ? ERR_NOMEM : 0;
}

static void write_line(buf *b)
{
    if (buf_putc(b, '\n') != 0)
        return;
    const char *p = b->data;
    size_t n = b->len;
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Format and write one line; ap may be NULL when fields is NULL. */
static void emit(log_level level, const char *msg, const char *json_fields, const char *fields, va_list *ap)
{
    int saved_errno = errno;
    buf b = {0};
    int rc = put_head(&b, level, msg);
    if (rc == 0 && json_fields && *json_fields)
        rc = buf_putc(&b, ',') | buf_puts(&b, json_fields);
    if (rc == 0 && fields && ap)
        rc = put_fields(&b, fields, ap, saved_errno);
    if (rc == 0 && buf_putc(&b, '}') == 0)
        write_line(&b);
    buf_free(&b);
    errno = saved_errno;
}

/* log_write: see log.h. Any thread. */
void log_write(log_level level, const char *msg, const char *fields, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fields);
    emit(level, msg, NULL, fields, &ap);
    va_end(ap);
}

/* log_vwrite: as log_write with a va_list (copied, so the caller may still va_end it). */
void log_vwrite(log_level level, const char *msg, const char *fields, va_list ap)
{
    if (!log_enabled(level))
        return;
    va_list cp;
    va_copy(cp, ap);
    emit(level, msg, NULL, fields, &cp);
    va_end(cp);
}

/* log_write_json: see log.h. Any thread. */
void log_write_json(log_level level, const char *msg, const char *json_fields)
{
    if (!log_enabled(level))
        return;
    emit(level, msg, json_fields, NULL, NULL);
}

/* log_format_line: as log_write into out (tests); truncated at cap - 1, NUL-terminated. */
int log_format_line(char *out, int cap, log_level level, const char *msg, const char *fields, ...)
{
    if (out == NULL || cap <= 0)
        return 0;
    buf b = {0};
    va_list ap;
    va_start(ap, fields);
    int rc = put_head(&b, level, msg);
    if (rc == 0)
        rc = put_fields(&b, fields, &ap, errno);
    va_end(ap);
    if (rc == 0)
        rc = buf_putc(&b, '}');
    size_t n = rc == 0 ? b.len : 0;
    if (n > (size_t)cap - 1)
        n = (size_t)cap - 1;
    if (n)
        memcpy(out, b.data, n);
    out[n] = '\0';
    buf_free(&b);
    return (int)n;
}
