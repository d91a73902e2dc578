/* conffile.c: the meaning of the keys of rsvpctl's config file (see conffile.h); the key=value
 * syntax is common/config.c's. Every line is checked when the file is read, so a typo fails
 * `rsvpctl up` at once instead of being ignored. */
#include "tools/rsvpctl/conffile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/err.h"

enum { ENT_OPTION, ENT_REPLICAS, ENT_ENV };

typedef struct entry {
    int kind;
    int svc;     /* ENT_REPLICAS: the service; ENT_ENV: the service or -1 for every child */
    int count;   /* ENT_REPLICAS */
    char *key;   /* ENT_OPTION: normalised key */
    char *value; /* ENT_OPTION: value; ENT_ENV: "NAME=value" */
} entry;

struct conffile {
    entry *ents;
    size_t n, cap;
};

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int env_name_ok(const char *s, size_t n)
{
    if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

static int add(conffile *c, entry e)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        entry *ne = realloc(c->ents, ncap * sizeof *ne);
        if (!ne)
            return ERR_NOMEM;
        c->ents = ne;
        c->cap = ncap;
    }
    c->ents[c->n++] = e;
    return 0;
}

/* parse_line: key k[0..kn), value v[0..vn) of one line into c (a cfg_file_line). */
static int parse_line(void *ctx, const char *k, size_t kn, const char *v, size_t vn, char *err, size_t errlen)
{
    conffile *c = ctx;
    entry e = {.kind = ENT_OPTION, .svc = -1};
    const char *dot = memchr(k, '.', kn);

    for (size_t i = 0; i < kn; i++)
        if (!(isalnum((unsigned char)k[i]) || k[i] == '_' || k[i] == '-' || k[i] == '.')) {
            snprintf(err, errlen, "bad key '%.*s'", (int)kn, k);
            return ERR_INVALID;
        }
    if (dot && (size_t)(dot - k) == 8 && memcmp(k, "replicas", 8) == 0) {
        const char *name = dot + 1;
        size_t nn = kn - 9;
        char buf[64], why[128];
        int counts[SVC_COUNT] = {0};
        unsigned m = 0;
        int svc = spec_find(name, nn);
        if (svc < 0 || svc == SVC_REPLAY || vn > 16) {
            snprintf(err, errlen, "unknown service in '%.*s'", (int)kn, k);
            return ERR_INVALID;
        }
        snprintf(buf, sizeof buf, "%s=%.*s", spec_name(svc), (int)vn, v);
        if (spec_parse_replicas(buf, counts, &m, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s", why);
            return ERR_INVALID;
        }
        e.kind = ENT_REPLICAS;
        e.svc = svc;
        e.count = counts[svc];
        return add(c, e);
    }
    if (dot) {
        /* env.NAME or <service>.env.NAME */
        const char *name = NULL;
        size_t nn = 0;
        if ((size_t)(dot - k) == 3 && memcmp(k, "env", 3) == 0) {
            name = dot + 1;
            nn = kn - 4;
        } else {
            int svc = spec_find(k, (size_t)(dot - k));
            size_t rest = kn - (size_t)(dot - k) - 1;
            if (svc >= 0 && rest > 4 && memcmp(dot + 1, "env.", 4) == 0) {
                e.svc = svc;
                name = dot + 5;
                nn = rest - 4;
            }
        }
        if (!name) {
            snprintf(err, errlen, "unknown key '%.*s'", (int)kn, k);
            return ERR_INVALID;
        }
        if (!env_name_ok(name, nn)) {
            snprintf(err, errlen, "bad environment variable name '%.*s'", (int)nn, name);
            return ERR_INVALID;
        }
        e.kind = ENT_ENV;
        e.value = malloc(nn + vn + 2);
        if (!e.value)
            return ERR_NOMEM;
        memcpy(e.value, name, nn);
        e.value[nn] = '=';
        memcpy(e.value + nn + 1, v, vn);
        e.value[nn + 1 + vn] = '\0';
    } else {
        e.key = dup_range(k, kn);
        e.value = dup_range(v, vn);
        if (!e.key || !e.value) {
            free(e.key);
            free(e.value);
            return ERR_NOMEM;
        }
        for (char *p = e.key; *p; p++)
            if (*p == '_')
                *p = '-';
    }
    int rc = add(c, e);
    if (rc < 0) {
        free(e.key);
        free(e.value);
    }
    return rc;
}

int conffile_parse(const char *text, conffile **out, char *err, size_t errlen)
{
    conffile *c = calloc(1, sizeof *c);
    if (!c)
        return ERR_NOMEM;
    int rc = cfg_file_parse(text, parse_line, c, err, errlen);
    if (rc < 0) {
        conffile_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void conffile_free(conffile *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->ents[i].key);
        free(c->ents[i].value);
    }
    free(c->ents);
    free(c);
}

static int key_eq(const char *norm, const char *key)
{
    for (; *norm && *key; norm++, key++) {
        char k = *key == '_' ? '-' : *key;
        if (*norm != k)
            return 0;
    }
    return *norm == *key;
}

const char *conffile_get(const conffile *c, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; c && i < c->n; i++)
        if (c->ents[i].kind == ENT_OPTION && key_eq(c->ents[i].key, key))
            v = c->ents[i].value;
    return v;
}

const char *conffile_option_key(const conffile *c, size_t idx)
{
    size_t seen = 0;
    for (size_t i = 0; c && i < c->n; i++) {
        if (c->ents[i].kind != ENT_OPTION)
            continue;
        if (seen++ == idx)
            return c->ents[i].key;
    }
    return NULL;
}

void conffile_replicas(const conffile *c, int counts[SVC_COUNT], unsigned *mask)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (c->ents[i].kind == ENT_REPLICAS) {
            counts[c->ents[i].svc] = c->ents[i].count;
            *mask |= 1u << c->ents[i].svc;
        }
}

size_t conffile_env(const conffile *c, int svc, const char **out, size_t cap)
{
    size_t n = 0;
    /* two passes: every-child lines first so that per-service lines override them */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; c && i < c->n; i++) {
            const entry *e = &c->ents[i];
            if (e->kind != ENT_ENV || (pass == 0 ? e->svc != -1 : e->svc != svc))
                continue;
            if (n < cap)
                out[n] = e->value;
            n++;
        }
    return n;
}
