/* env.c: environment arrays for the children of rsvpctl (see env.h). Built in the parent because
 * after fork() in a threaded process (nng runs threads) only async-signal-safe calls are allowed,
 * and setenv() is not one. */
#include "tools/rsvpctl/env.h"

#include <stdlib.h>
#include <string.h>

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : 0;
}

char **env_merge(char *const *base, const char *const *set, size_t nset)
{
    size_t nbase = 0;
    while (base && base[nbase])
        nbase++;
    char **out = malloc((nbase + nset + 1) * sizeof *out);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < nbase; i++)
        out[n++] = base[i];
    for (size_t i = 0; i < nset; i++) {
        size_t nl = name_len(set[i]);
        if (!nl)
            continue;
        size_t j = 0;
        for (; j < n; j++)
            if (name_len(out[j]) == nl && memcmp(out[j], set[i], nl) == 0)
                break;
        out[j] = (char *)set[i];
        if (j == n)
            n++;
    }
    out[n] = NULL;
    return out;
}

const char *env_lookup(char *const *env, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=')
            return env[i] + nl + 1;
    return NULL;
}
