/* env.h: building a child's environment (the supervisor's own environment plus per-replica and
 * config-file variables) before fork, so the child only calls execve(). Pure. */
#ifndef TOOLS_RSVPCTL_ENV_H
#define TOOLS_RSVPCTL_ENV_H

#include <stddef.h>

/* env_merge: a new NULL-terminated array: base (e.g. environ; may be NULL) with every
 * "NAME=value" string of set applied in order, a later one replacing an earlier one of the same
 * NAME in place, new names appended. Strings are not copied: the array points into base and set,
 * which must outlive it. The caller free()s the array. NULL on ERR_NOMEM. Entries of set
 * without '=' are ignored. */
char **env_merge(char *const *base, const char *const *set, size_t nset);

/* env_lookup: the value of NAME in a NULL-terminated environment array, or NULL. */
const char *env_lookup(char *const *env, const char *name);

#endif
