/* buf.h: a growable byte buffer, the reusable scratch space of hot paths (reset keeps capacity). */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data; /* always NUL-terminated when len < cap (callers may read it as a C string) */
    size_t len;
    size_t cap;
} buf;

/* Zero-initialised struct buf is valid and empty. All appenders return 0 or ERR_NOMEM; on
 * ERR_NOMEM the buffer is unchanged. */
int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_json_str: append s[0..n) as a JSON string literal with quotes; control characters, quote and
 * backslash are escaped, valid UTF-8 is kept as is, invalid bytes become U+FFFD. */
int buf_json_str(buf *b, const char *s, size_t n);
void buf_reset(buf *b); /* len = 0, keeps memory */
void buf_free(buf *b);  /* frees memory, leaves an empty buffer; NULL-safe */

#endif
