/* file.c: whole-file reads (see file.h). */
#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int file_read_all(const char *path, size_t max_bytes, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    size_t cap = 4096, n = 0;
    char *p = malloc(cap + 1);
    int rc = p ? 0 : ERR_NOMEM;
    while (rc == 0) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break; /* end of file or error: ferror() below tells */
        if (max_bytes > 0 && cap > max_bytes) {
            rc = ERR_RANGE;
            break;
        }
        char *q = cap <= ((size_t)-1 - 1) / 2 ? realloc(p, cap * 2 + 1) : NULL;
        if (q == NULL) {
            rc = ERR_NOMEM;
            break;
        }
        p = q;
        cap *= 2;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        rc = ERR_IO;
    } else if (rc == 0 && max_bytes > 0 && n > max_bytes) {
        rc = ERR_RANGE;
    }
    fclose(f);
    if (rc == ERR_RANGE)
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max_bytes);
    else if (rc == ERR_NOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (rc != 0) {
        free(p);
        return rc;
    }
    p[n] = '\0';
    *out = p;
    if (len)
        *len = n;
    return 0;
}
