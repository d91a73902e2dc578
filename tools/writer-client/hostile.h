/* hostile.h: rsvp-writer-client's attack mode: what a process holding a valid client certificate
 * could send to a writer to corrupt its counts or exhaust its memory, sent for real, one attack
 * at a time, with what the writer answered. A writer passes when it accepts none of them and the
 * partition's stored offset is the same afterwards. Nothing here is ever meant to be applied:
 * every request breaks at least one rule of the writer's (services/writer/validate.h). */
#ifndef TOOLS_WRITER_CLIENT_HOSTILE_H
#define TOOLS_WRITER_CLIENT_HOSTILE_H

#include <stdint.h>

#include "tools/writer-client/conn.h"

typedef struct hostile_opts {
    const char *topic; /* the partition attacked: its stored offset is asked first */
    int32_t partition;
    const char *attacks;       /* comma-separated names, or "all" (hostile_names lists them) */
    int64_t flood_bytes;       /* size of the oversize request of minimal rows (64M) */
    int64_t max_request_bytes; /* the writer's MAX_REQUEST_BYTES: in-limit floods are built under it */
    int64_t connections;       /* connections opened at once by the "connections" attack */
    int64_t conn_bytes;        /* request size on each of them */
    const char *other_cert;    /* a client certificate (and key) from another CA, for "other_ca" */
    const char *other_key;
    int offset_must_hold; /* 1: the partition is idle, its stored offset must not move */
    int argc;             /* this program's arguments: each attack runs in a child process */
    char **argv;
    int child; /* 1: this is such a child: run the one attack from child_from */
    int64_t child_from;
} hostile_opts;

/* hostile_names: the attacks, comma-separated, in the order "all" runs them. */
const char *hostile_names(void);

/* hostile_run: query the stored offset of (topic, partition) over a link dialled with c, run the
 * attacks from it (each in a child process of this program, argv with "--attack NAME
 * --hostile-child-from OFFSET" appended), query the offset again. The link attacks (no_certificate, plain_tcp, other_ca)
 * run only against a single tls+tcp:// URL (other_ca only with other_cert/other_key). Prints one
 * JSON line per attack ({"attack":..,"expect":..,"replies":{"ERROR":n,..},"no_reply":n,"message":
 * <first reply's message>,"verdict":"refused"|"ACCEPTED"}) and a summary line (with how long the
 * writer took to answer again afterwards). Returns 0 when every attack was refused, the writer
 * answers again within 30 s (and, with offset_must_hold, the offset did not move), 1 when something
 * was accepted or moved, an attack gave no outcome, or the writer did not answer the first query or
 * the last, 2
 * for an unknown attack. In a child (h->child) it runs the one attack and returns 1 if it was
 * accepted; the caller then exits at once (_exit: nothing of nng is closed). */
int hostile_run(const conn_opts *c, const hostile_opts *h);

#endif
