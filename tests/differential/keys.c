/* keys.c: the parser's verdict on each line of a file, one output line per input line, for the
 * differential test to compare with the reference job line by line and to turn a difference into a
 * golden case: "<reason> <key>" (reason "ok" when counted normally; key as rsvp_dump_key writes it)
 * or "<reason>" for a dead letter only. Lines are what the ingestor makes of the file: split at
 * "\n", one trailing "\r" dropped, empty lines skipped.
 * Usage: differential-keys [--validation=strict] LINES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "services/parser/rsvp_json.h"
#include "tests/unit/rsvp_dump.h"

int main(int argc, char **argv)
{
    rsvp_json_limits lim = rsvp_json_limits_default();
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "--validation=", 13)) {
            if (rsvp_json_mode_parse(argv[i] + 13, &lim.mode) != 0) {
                fprintf(stderr, "differential-keys: --validation is reference or strict\n");
                return 2;
            }
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: differential-keys [--validation=strict] LINES\n");
        return 2;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    buf data = {0}, out = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&data, chunk, n) != 0)
            return 1;
    fclose(f);
    rsvp_json *p = NULL;
    if (rsvp_json_new(&p, &lim) != 0)
        return 1;
    const char *s = data.data ? data.data : "", *e = s + data.len;
    while (s < e) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        size_t len = (size_t)((nl ? nl : e) - s);
        size_t l = len > 0 && s[len - 1] == '\r' ? len - 1 : len;
        if (l > 0) {
            Rsvp__V1__Rsvp *x = NULL;
            rsvp_json_reason r = rsvp_json_parse(p, s, l, &x);
            buf_reset(&out);
            buf_puts(&out, rsvp_json_reason_str(r));
            if (x) {
                buf_putc(&out, ' ');
                if (rsvp_dump_key(&out, x) != 0)
                    return 1;
            }
            buf_putc(&out, '\n');
            fwrite(out.data, 1, out.len, stdout);
        }
        s += len + 1;
    }
    rsvp_json_free(p);
    buf_free(&data);
    buf_free(&out);
    return fflush(stdout) == 0 ? 0 : 1;
}
