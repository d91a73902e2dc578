/* wlink.h: the aggregator's link to the writer(s): one nng REQ socket dialled to every writer URL
 * (nng load-balances requests and reconnects in the background) with two independent request
 * channels (nng contexts): one for batches, one for offset queries, so a query never waits
 * behind a batch. Requests complete asynchronously; the caller polls without blocking. */
#ifndef SERVICES_AGGREGATOR_WLINK_H
#define SERVICES_AGGREGATOR_WLINK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

typedef struct wlink wlink;

typedef enum wlink_chan { WLINK_BATCH = 0, WLINK_QUERY = 1, WLINK_NCHAN } wlink_chan;

/* TLS client settings for tls+tcp:// writer URLs (paths to PEM files; NULL or "" = unset). */
typedef struct wlink_tls {
    const char *ca_file;     /* CA that signed the writer's certificate: required for tls+tcp */
    const char *cert_file;   /* client certificate, for writers that demand one (with key_file) */
    const char *key_file;    /* its private key */
    const char *server_name; /* name the writer's certificate must carry; default: the URL host */
} wlink_tls;

/* wlink_open: urls is a comma-separated list ("tcp://127.0.0.1:7400,tcp://10.0.0.2:7400").
 * Dialling is non-blocking (a writer that is down is retried in the background). On success *out
 * owns the link. Returns 0, ERR_INVALID (bad URL; reason logged) or ERR_IO. */
int wlink_open(wlink **out, const char *urls);
/* wlink_open_tls: wlink_open whose tls+tcp:// URLs are dialled with tls (may be NULL for none):
 * the writer's certificate is verified (auth mode required) against tls->ca_file and server name.
 * Returns ERR_INVALID (reason logged: a tls+tcp URL without a CA, a file that cannot be read or
 * does not parse, a certificate without its key) before anything is dialled. */
int wlink_open_tls(wlink **out, const char *urls, const wlink_tls *tls);
/* wlink_free: cancels outstanding requests, closes the socket. NULL-safe. */
void wlink_free(wlink *w);

/* wlink_start: send a packed WriterRequest on channel c (data is copied); the reply is awaited
 * for at most timeout_ms from now. Returns 0, ERR_INVALID if a request is already outstanding on
 * c, or ERR_NOMEM. */
int wlink_start(wlink *w, wlink_chan c, const void *data, size_t len, int64_t timeout_ms);

/* wlink_poll: wait at most wait_ms (0: only look) for the outstanding request of c.
 * Returns 1 while it is pending; 0 when a reply arrived (*reply decoded; the caller frees it with
 * rsvp__v1__writer_reply__free_unpacked(*reply, NULL)); ERR_TIMEOUT (no reply in time), ERR_IO
 * (transport failure) or ERR_INVALID (undecodable reply) when it failed; ERR_NOTFOUND if nothing
 * was outstanding. After a non-1 return the channel is free again. */
int wlink_poll(wlink *w, wlink_chan c, int64_t wait_ms, Rsvp__V1__WriterReply **reply);

/* wlink_set_wake: fn(arg) is called on nng's thread each time a request of any channel completes
 * (reply, failure or timeout), so that the owner's thread, asleep elsewhere (the consumer's poll),
 * collects it at once. NULL fn: none; returns after a call in progress ended, so arg may be freed
 * then. */
void wlink_set_wake(wlink *w, void (*fn)(void *), void *arg);

/* wlink_busy: 1 while a request is outstanding on c. */
int wlink_busy(const wlink *w, wlink_chan c);

/* wlink_call: wlink_start + wlink_poll in 100 ms steps; gives up with ERR_CLOSED as soon as
 * sig_stopping() is set (the request is then abandoned). Same returns as wlink_poll minus 1. */
int wlink_call(wlink *w, wlink_chan c, const void *data, size_t len, int64_t timeout_ms,
               Rsvp__V1__WriterReply **reply);

#endif
