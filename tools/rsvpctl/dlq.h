/* dlq.h: `rsvpctl dlq list` and `rsvpctl dlq redrive`: the dead letters of the parser by reason, and
 * their re-drive through the parser's code (services/parser/rsvp_json.c, as linked into this binary)
 * into the parsed topic, exactly once. What was re-driven is recorded in a ledger topic
 * (<dlq topic>.redriven, compacted, key "partition:offset" of the dead letter, value a JSON outcome),
 * written in the same Kafka transaction as the re-driven record, so a dead letter is counted at
 * most once however often the command runs or is killed; one that fails again stays in the
 * dead-letter topic and the ledger holds its new reason. Dead letters whose raw message a rebuild
 * from the raw topic has already recounted (rsvp_offsets holds the raw topic's cut) are left alone. */
#ifndef TOOLS_RSVPCTL_DLQ_H
#define TOOLS_RSVPCTL_DLQ_H

#include <stddef.h>
#include <stdint.h>

/* Advisory lock key held (session level) by `rsvpctl dlq redrive` and `rsvpctl rebuild` for their
 * whole run: one of them at a time ("rsvpctlx"). */
#define RSVPCTL_EXCLUSIVE_LOCK_KEY 0x7273767063746c78LL

/* The ledger's outcome of one dead letter. */
typedef enum dlq_outcome {
    DLQ_PENDING = 0, /* never re-driven (not in the ledger) */
    DLQ_REDRIVEN,    /* parsed and written to the parsed topic: counted */
    DLQ_FAILED,      /* re-driven and rejected again: the ledger has the new reason */
} dlq_outcome;

/* dlq_ledger_key: "partition:offset" of a dead letter into out (cap >= 32). Pure. */
void dlq_ledger_key(int32_t partition, int64_t offset, char *out, size_t cap);

/* dlq_ledger_parse: a ledger record (key, JSON value) into the dead letter's partition and offset,
 * its outcome and, for DLQ_FAILED, the new reason (copied into reason, cap bytes). 0, or ERR_INVALID
 * for a record that is not one of ours. Pure. */
int dlq_ledger_parse(const char *key, size_t klen, const char *val, size_t vlen, int32_t *partition,
                     int64_t *offset, dlq_outcome *outcome, char *reason, size_t cap);

/* dlq_main: `rsvpctl dlq ...` with argv[0] = "dlq". Returns the exit code: 0 done, 1 runtime failure
 * (Kafka or PostgreSQL unreachable, fenced by another re-drive, killed), 2 bad usage. */
int dlq_main(int argc, char **argv);

#endif
