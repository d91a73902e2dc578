/* fuzz_linesplit.c: libFuzzer target for the ingestor's line splitter (services/ingestor/linesplit.c).
 * The input's first two bytes choose max_line and the chunking; the rest is the stream. What comes
 * out must equal a simple model of the whole stream: split on '\n', one trailing '\r' dropped,
 * empty lines skipped, each line over max_line reported OVERSIZE exactly once, never returned. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingestor/linesplit.h"

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "fuzz_linesplit: check failed: %s\n", #c);                                       \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One event of the model or of the splitter: a line (its bytes) or an oversize report. */
typedef struct event {
    int kind;
    const char *p;
    size_t n;
} event;

/* model: the events the stream s[0..n) must produce with a splitter of max_line; returns the count.
 * A trailing partial line produces OVERSIZE only when it is already too long to be valid. */
static size_t model(const char *s, size_t n, size_t max_line, event *ev)
{
    size_t k = 0, i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (!nl) {
            size_t plen = n - i;
            if (plen > max_line && !(plen == max_line + 1 && s[n - 1] == '\r'))
                ev[k++] = (event){LINESPLIT_OVERSIZE, NULL, 0};
            break;
        }
        size_t l = (size_t)(nl - (s + i));
        size_t len = l;
        if (len > 0 && s[i + len - 1] == '\r')
            len--;
        if (len > max_line)
            ev[k++] = (event){LINESPLIT_OVERSIZE, NULL, 0};
        else if (len > 0)
            ev[k++] = (event){LINESPLIT_LINE, s + i, len};
        i += l + 1;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_line = (size_t)(data[0] % 64) + 1;
    uint32_t rng = data[1] * 2654435761u + 1;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;

    event *want = calloc(n + 1, sizeof(*want));
    CHECK(want != NULL);
    size_t nwant = model(s, n, max_line, want);

    linesplit *ls = NULL;
    CHECK(linesplit_new(&ls, max_line) == 0);
    size_t got = 0, off = 0, largest_feed = 0;
    while (off < n) {
        rng = rng * 1103515245u + 12345u;
        size_t chunk = (size_t)((rng >> 16) % 97) + 1; /* 1..97 bytes, lines cross chunks */
        if (chunk > n - off)
            chunk = n - off;
        if (chunk > largest_feed)
            largest_feed = chunk;
        CHECK(linesplit_feed(ls, s + off, chunk) == 0);
        off += chunk;
        for (;;) {
            const char *line = NULL;
            size_t len = 0;
            int r = linesplit_next(ls, &line, &len);
            CHECK(r == LINESPLIT_NONE || r == LINESPLIT_LINE || r == LINESPLIT_OVERSIZE);
            if (r == LINESPLIT_NONE)
                break;
            CHECK(got < nwant);
            CHECK(want[got].kind == r);
            if (r == LINESPLIT_LINE) {
                CHECK(len == want[got].n && memcmp(line, want[got].p, len) == 0);
                if (rng & 0x100) { /* backpressure: give it back, it must come again */
                    linesplit_unget(ls);
                    const char *again = NULL;
                    size_t alen = 0;
                    CHECK(linesplit_next(ls, &again, &alen) == LINESPLIT_LINE);
                    CHECK(alen == len && memcmp(again, want[got].p, len) == 0);
                }
            }
            got++;
        }
        /* drained: only a partial line (at most max_line + a possible '\r') stays buffered */
        CHECK(linesplit_pending(ls) <= max_line + 1);
    }
    CHECK(got == nwant);
    linesplit_reset(ls);
    CHECK(linesplit_pending(ls) == 0);
    linesplit_free(ls);
    free(want);
    return 0;
}
