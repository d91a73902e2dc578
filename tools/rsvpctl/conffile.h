/* conffile.h: rsvpctl's config file, simple "key=value" lines ('#' comments, blank lines,
 * optional double quotes around a value). Keys:
 *   replicas.<service>=N        replica count (ingestor, parser, aggregator, writer)
 *   env.<NAME>=value            environment variable for every child
 *   <service>.env.<NAME>=value  environment variable for one service's replicas (wins over env.)
 *   <option>=value              any `rsvpctl up` option by its flag name (bin, stop-timeout, ...;
 *                               '_' and '-' are the same), a default below env and flags.
 * Pure: parses text; reading the file is the caller's job. */
#ifndef TOOLS_RSVPCTL_CONFFILE_H
#define TOOLS_RSVPCTL_CONFFILE_H

#include <stddef.h>

#include "tools/rsvpctl/spec.h"

typedef struct conffile conffile;

/* conffile_parse: on success *out owns the parsed file (conffile_free) and 0 is returned. On a
 * syntax error returns ERR_INVALID with "line N: why" in err; ERR_NOMEM on allocation failure. */
int conffile_parse(const char *text, conffile **out, char *err, size_t errlen);
/* conffile_free: NULL-safe. */
void conffile_free(conffile *c);

/* conffile_get: the value of an option key (normalised: '_' == '-'), last one wins; NULL if
 * absent. The string lives as long as c. */
const char *conffile_get(const conffile *c, const char *key);
/* conffile_option_key: the key of the i-th option line (not replicas./env.), or NULL
 * past the end; lets the caller reject keys it does not know. */
const char *conffile_option_key(const conffile *c, size_t i);

/* conffile_replicas: apply every replicas.* line to counts and set its bit in *mask. */
void conffile_replicas(const conffile *c, int counts[SVC_COUNT], unsigned *mask);

/* conffile_env: the "NAME=value" strings for a replica of svc, in precedence order (env.* lines
 * first, then <service>.env.* lines; a later one overrides an earlier one of the same NAME when
 * merged with env_merge). Writes up to cap pointers (valid as long as c) and returns how many
 * exist. */
size_t conffile_env(const conffile *c, int svc, const char **out, size_t cap);

#endif
