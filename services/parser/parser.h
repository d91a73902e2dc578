/* parser.h: the parser's consume-transform-produce loop. Raw JSON from the raw topic becomes
 * packed rsvp.v1.Rsvp on the parsed topic (keyed by event_id) or goes unchanged to the
 * dead-letter topic, in Kafka transactions that also carry the consumer offsets (exactly once). */
#ifndef SERVICES_PARSER_PARSER_H
#define SERVICES_PARSER_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "common/http.h"
#include "services/parser/rsvp_json.h"

typedef struct parser_opts {
    const char *raw_topic;    /* consumed in group group_id, read_committed */
    const char *parsed_topic; /* valid RSVPs */
    const char *dlq_topic;    /* invalid messages, unchanged, with reason/source_* headers */
    const char *group_id;
    const char *instance_id;    /* transactional.id = "rsvp-parser-<instance_id>" */
    int64_t txn_messages;       /* commit after this many messages ... */
    int64_t txn_interval_ms;    /* ... or this long after the transaction's first message */
    int64_t txn_idle_ms;        /* ... or when no message came for this long (0: never) */
    int64_t session_timeout_ms; /* Kafka group session timeout */
    int static_membership;      /* group.instance.id = instance_id: a restarted replica rejoins at once */
    rsvp_json_limits limits;
} parser_opts;

typedef struct parser parser;

/* parser_new: create the transactional producer and the consumer (Kafka settings layered by
 * kafka_conf_new: defaults < KAFKA_* < -X), register the rsvp_parser_* metrics. h (may be NULL)
 * gets readiness. Nothing is sent yet. On success *out owns both clients. Returns 0, ERR_INVALID
 * (bad Kafka setting; errstr says which) or ERR_NOMEM. Main thread. */
int parser_new(parser **out, const parser_opts *o, httpd *h, char *errstr, size_t errlen);

/* parser_start: init_transactions (fences an older instance with the same transactional.id and
 * aborts its open transaction), retried with backoff while transient; then subscribe. Returns 0,
 * ERR_CLOSED (stop signal while retrying) or ERR_FATAL. Main thread. */
int parser_start(parser *p);

/* parser_run: the loop, until a stop signal (the open transaction is committed: returns 0) or a
 * fatal error such as a fenced producer (returns ERR_FATAL; nothing more is committed). Aborted
 * transactions rewind the consumer and are retried, so they do not end the loop. Main thread. */
int parser_run(parser *p);

/* parser_free: leave the group (the rebalance callback commits any open transaction unless a fatal
 * error happened), destroy the clients. NULL-safe. Main thread. */
void parser_free(parser *p);

#endif
