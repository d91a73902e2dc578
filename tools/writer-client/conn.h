/* conn.h: rsvp-writer-client's side of the writer link: an nng REQ socket dialled to one or more
 * writer URLs (tls+tcp:// through common/tls.h), one request and its reply at a time, and the
 * reply printed as one JSON line. */
#ifndef TOOLS_WRITER_CLIENT_CONN_H
#define TOOLS_WRITER_CLIENT_CONN_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/tls.h"
#include "proto/rsvp.pb-c.h"

typedef struct conn_opts {
    const char *url;    /* one writer URL, or several separated by commas (as WRITER_URL) */
    int64_t timeout_ms; /* per request: send and reply */
    tls_files tls;      /* for tls+tcp:// URLs */
    int raw;            /* 1: a raw REQ socket: each request is sent once, never resent on another
                         * connection (nng 1.5.2's cooked REQ over TLS can hang in nng_close after
                         * the writer cut off a request it was resending) */
} conn_opts;

/* conn_dial: open a REQ socket and start non-blocking dialers to every URL (a request waits up
 * to the timeout for a writer still starting). On success *sock is open (caller closes it) and 0
 * is returned; otherwise an nng error, or ERR_INVALID for a bad TLS setting, with err set. */
int conn_dial(nng_socket *sock, const conn_opts *o, char *err, size_t errlen);

/* conn_msg: a request message for sock holding req[0..len) (with a request id header when the
 * socket is raw). 0 or an nng error. */
int conn_msg(nng_socket sock, const void *req, size_t len, nng_msg **out);

/* conn_roundtrip: send req[0..len), wait for the reply and decode it into *rep (caller frees with
 * rsvp__v1__writer_reply__free_unpacked). 0, an nng error (e.g. NNG_ETIMEDOUT: no reply), or -1
 * for a reply that does not decode. */
int conn_roundtrip(nng_socket sock, const void *req, size_t len, Rsvp__V1__WriterReply **rep);

/* conn_request: pack req and conn_roundtrip it. Same returns, ERR_NOMEM when packing fails. */
int conn_request(nng_socket sock, const Rsvp__V1__WriterRequest *req, Rsvp__V1__WriterReply **rep);

/* conn_stored_offset: ask the writer for the stored next offset of (topic, partition) into *out
 * (-1: nothing stored). 0, an nng error, or -1 when the reply is not an OK with one offset. */
int conn_stored_offset(nng_socket sock, const char *topic, int32_t partition, int64_t *out);

/* conn_status_name: "OK", "STALE", "RETRY", "ERROR" or "UNSPECIFIED". */
const char *conn_status_name(int status);

/* conn_reply_json: append the reply as a JSON object (status, batch_id, stored_offset, message,
 * offsets) without a newline. 0 or ERR_NOMEM. */
int conn_reply_json(buf *b, const Rsvp__V1__WriterReply *r);

/* conn_error_json: append {"error":what,"detail":<nng's text or "bad reply">}. */
int conn_error_json(buf *b, const char *what, int rv);

#endif
