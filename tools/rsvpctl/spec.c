/* spec.c: service table and replica spec parsing for rsvpctl (see spec.h). Pure: no I/O, no
 * allocation, so every rule here is unit-tested in tests/unit/test_rsvpctl_spec.c. */
#include "tools/rsvpctl/spec.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

static const char *const names[SVC_COUNT] = {"replay", "writer", "aggregator", "parser", "ingestor"};
static const int port_offsets[SVC_COUNT] = {5, 4, 3, 2, 1};
static const int stop_order[SVC_COUNT] = {SVC_INGESTOR, SVC_REPLAY, SVC_PARSER, SVC_AGGREGATOR, SVC_WRITER};

const char *spec_name(int svc)
{
    return svc >= 0 && svc < SVC_COUNT ? names[svc] : "?";
}

int spec_find(const char *s, size_t len)
{
    for (int i = 0; i < SVC_COUNT; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

int spec_port_offset(int svc)
{
    return svc >= 0 && svc < SVC_COUNT ? port_offsets[svc] : 0;
}

int spec_metrics_port(int base, int svc, int replica)
{
    return base + spec_port_offset(svc) + 10 * replica;
}

int spec_stop_order(int i)
{
    return i >= 0 && i < SVC_COUNT ? stop_order[i] : -1;
}

int spec_parse_replicas(const char *s, int counts[SVC_COUNT], unsigned *mask, char *err, size_t errlen)
{
    int tmp[SVC_COUNT];
    unsigned m = 0;
    const char *p = s ? s : "";

    memcpy(tmp, counts, sizeof tmp);
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *name = p;
        while (*p && *p != '=' && *p != ',' && !isspace((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - name);
        if (*p != '=') {
            snprintf(err, errlen, "'%.*s': expected service=count", (int)nlen, name);
            return ERR_INVALID;
        }
        int svc = spec_find(name, nlen);
        if (svc < 0 || svc == SVC_REPLAY) {
            snprintf(err, errlen, "'%.*s': unknown service (ingestor, parser, aggregator, writer)", (int)nlen,
                     name);
            return ERR_INVALID;
        }
        p++;
        long n = 0;
        const char *digits = p;
        while (isdigit((unsigned char)*p) && n <= SPEC_MAX_REPLICAS)
            n = n * 10 + (*p++ - '0');
        if (p == digits || (*p && *p != ',' && !isspace((unsigned char)*p)) || n > SPEC_MAX_REPLICAS) {
            snprintf(err, errlen, "%s: count must be a number in 0..%d", names[svc], SPEC_MAX_REPLICAS);
            return ERR_INVALID;
        }
        tmp[svc] = (int)n;
        m |= 1u << svc;
    }
    if (!m) {
        snprintf(err, errlen, "empty replica spec (e.g. parser=3,aggregator=2)");
        return ERR_INVALID;
    }
    memcpy(counts, tmp, sizeof tmp);
    *mask |= m;
    return 0;
}

int spec_writer_scheme_ok(const char *scheme)
{
    return scheme && (strcmp(scheme, "tcp") == 0 || strcmp(scheme, "tls+tcp") == 0);
}

int spec_writer_url(char *out, size_t cap, const char *scheme, const char *host, int port)
{
    return snprintf(out, cap, "%s://%s:%d", scheme && *scheme ? scheme : "tcp", host, port);
}

void spec_format_replicas(const int counts[SVC_COUNT], char *out, size_t cap)
{
    static const int order[] = {SVC_INGESTOR, SVC_PARSER, SVC_AGGREGATOR, SVC_WRITER};
    size_t off = 0;

    if (!cap)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof order / sizeof order[0] && off < cap; i++) {
        int n = snprintf(out + off, cap - off, "%s%s=%d", i ? "," : "", names[order[i]], counts[order[i]]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
