/* rsvpscan.c: the top-level rsvp_id and mtime of one line, by common/json.h's scanner and integer
 * rule, so that the ingestor reads them exactly as the parser does. */
#include "services/ingestor/rsvpscan.h"

#include <string.h>

#include "common/err.h"
#include "common/json.h"

#define RSVPSCAN_MAX_DEPTH 64 /* containers open at once, the top-level object included */

int rsvpscan_line(const char *line, size_t n, int64_t *rsvp_id, int64_t *mtime)
{
    static const char *const names[2] = {"rsvp_id", "mtime"};
    json_tok v[2];
    int64_t id, mt;
    if (json_scan_top(line, n, RSVPSCAN_MAX_DEPTH, names, 2, v) != JSON_OK ||
        json_tok_int(line, &v[0], &id) != 0 || json_tok_int(line, &v[1], &mt) != 0 || id < 0 || mt < 0)
        return ERR_INVALID;
    *rsvp_id = id;
    *mtime = mt;
    return 0;
}

size_t rsvpscan_format_id(int64_t v, char *out)
{
    char tmp[24];
    size_t n = json_i64_dec(v < 0 ? 0 : v, tmp);
    memcpy(out, tmp, n + 1);
    return n;
}
