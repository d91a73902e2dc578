/* file.h: reading a whole file into memory, the one place that does it (TLS PEM files, config
 * files, recorded streams). */
#ifndef COMMON_FILE_H
#define COMMON_FILE_H

#include <stddef.h>

/* file_read_all: the whole of path into a malloc'ed buffer, NUL-terminated (so PEM and config text
 * can be used as C strings; the length excludes the NUL). max_bytes > 0 refuses a larger file with
 * ERR_RANGE (0: no limit). On success *out (caller frees) and *len (may be NULL) are set and 0 is
 * returned; otherwise ERR_IO (cannot open or read: errno's text in err), ERR_RANGE or ERR_NOMEM,
 * with "path: why" in err. Any thread. */
int file_read_all(const char *path, size_t max_bytes, char **out, size_t *len, char *err, size_t errlen);

#endif
