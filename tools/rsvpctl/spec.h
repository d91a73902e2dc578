/* spec.h: the services rsvpctl supervises (names, start and stop order, default ports) and the
 * replica spec "parser=3,aggregator=2" of --replicas and `rsvpctl scale`. Pure, no I/O. */
#ifndef TOOLS_RSVPCTL_SPEC_H
#define TOOLS_RSVPCTL_SPEC_H

#include <stddef.h>

/* Start order: the stream source, then the data path backwards so every consumer's peer is up
 * first (writer before aggregator before parser before ingestor). Stop order is the reverse of
 * the data path: intake first, writer last (see spec_stop_order). */
typedef enum spec_svc {
    SVC_REPLAY = 0,
    SVC_WRITER,
    SVC_AGGREGATOR,
    SVC_PARSER,
    SVC_INGESTOR,
    SVC_COUNT
} spec_svc;

#define SPEC_MAX_REPLICAS 16

/* spec_name: "writer", "parser", ... for a valid svc; "?" otherwise. */
const char *spec_name(int svc);
/* spec_find: the svc named by s[0..len) ("parser"), or -1. */
int spec_find(const char *s, size_t len);
/* spec_port_offset: 1 for ingestor ... 5 for replay, so base 9100 gives the documented defaults
 * (ingestor 9101, parser 9102, aggregator 9103, writer 9104, replay 9105). */
int spec_port_offset(int svc);
/* spec_metrics_port: base + offset(svc) + 10 * replica. */
int spec_metrics_port(int base, int svc, int replica);
/* spec_stop_order: the i-th service to stop (i in [0, SVC_COUNT)): ingestor, replay, parser,
 * aggregator, writer. */
int spec_stop_order(int i);

/* spec_parse_replicas: parse "parser=3,aggregator=2" (also separated by spaces; names of the four
 * services, counts 0..SPEC_MAX_REPLICAS). On success sets counts[svc] and bit (1u << svc) in *mask
 * for each service named, leaves the others alone, and returns 0. On a bad spec returns
 * ERR_INVALID, writes a reason into err, and changes nothing. */
int spec_parse_replicas(const char *s, int counts[SVC_COUNT], unsigned *mask, char *err, size_t errlen);

/* spec_writer_scheme_ok: 1 if scheme is one the writer link may use ("tcp", "tls+tcp"), else 0. */
int spec_writer_scheme_ok(const char *scheme);
/* spec_writer_url: "SCHEME://host:port" into out (truncated to cap); scheme NULL or "" means "tcp".
 * Returns what snprintf returns (>= cap: truncated, < 0: error). Writer LISTEN and aggregator
 * WRITER_URL are both built with it, so they always agree. */
int spec_writer_url(char *out, size_t cap, const char *scheme, const char *host, int port);

/* spec_format_replicas: "ingestor=1,parser=2,aggregator=2,writer=1" into out (truncated to cap). */
void spec_format_replicas(const int counts[SVC_COUNT], char *out, size_t cap);

#endif
