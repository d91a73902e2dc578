/* source.h: the RSVP stream source, one streaming HTTP GET at a time on libcurl's multi interface
 * so the caller's loop keeps control (polls Kafka and signals between waits of <= 100 ms). Bytes
 * go to a data callback that may refuse them (backpressure): the transfer is then paused and the
 * same bytes are delivered again after source_resume(). Stall detection is our own timer. */
#ifndef SERVICES_INGESTOR_SOURCE_H
#define SERVICES_INGESTOR_SOURCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct source source;

/* Return values of a source_data_fn. */
enum {
    SOURCE_TAKEN = 0, /* all n bytes consumed */
    SOURCE_HOLD = 1,  /* none consumed: pause; they come again after source_resume() */
    SOURCE_ABORT = 2, /* none consumed: end the transfer with an error */
};

/* source_data_fn: decoded (gunzipped) body bytes of a 200 response, called from inside
 * source_poll()/source_resume() on the caller's thread. */
typedef int (*source_data_fn)(void *ud, const char *p, size_t n);

/* Why a transfer ended, filled by source_poll(). */
typedef struct source_end {
    long http_status;       /* 0 if no response */
    int64_t retry_after_ms; /* Retry-After of the response, 0 if none */
    int stalled;            /* no byte for stall_ms */
    int64_t body_bytes;     /* decoded body bytes delivered */
    char reason[256];       /* curl's message, "http status N", "stalled" or "closed by peer" */
} source_end;

/* source_new: url is the base stream URL (copied); stall_ms > 0 is the longest silence before a
 * transfer is abandoned (also bounds the connect). fn/ud receive the body. On success *out owns
 * the source. Returns 0, ERR_NOMEM or ERR_IO (libcurl init failed). Call curl_global_init first. */
int source_new(source **out, const char *url, int64_t stall_ms, source_data_fn fn, void *ud);

/* source_set_encoding: what the source may compress with. NULL (the default) asks for none
 * (identity: on a fast link, deflate + inflate cost more CPU than the bytes they save); "" asks
 * for every encoding libcurl supports; else an Accept-Encoding list such as "gzip". libcurl
 * decodes the body before it reaches fn. Copied; applies from the next transfer. ERR_NOMEM or 0. */
int source_set_encoding(source *s, const char *encoding);

/* source_free: aborts a running transfer. NULL-safe. */
void source_free(source *s);

/* source_start: begin GET url[?|&]since_mtime=<since> (no parameter when since < 0). The previous
 * transfer must have ended (source_active() == 0). Returns 0, ERR_NOMEM or ERR_IO. */
int source_start(source *s, int64_t since_mtime);

/* source_poll: drive the transfer and wait up to timeout_ms for socket activity (or just sleep
 * when idle). After a small read it first naps a few ms (within timeout_ms) so that a slow stream
 * is read in fewer, larger pieces. Returns 1 when the transfer ended during this call (then *end
 * says why and source_active() is 0), else 0. */
int source_poll(source *s, int timeout_ms, source_end *end);

/* source_resume: unpause after SOURCE_HOLD; may call the data callback before returning. */
void source_resume(source *s);

/* source_stop: abandon the current transfer, if any (no end report). */
void source_stop(source *s);

/* source_active: a transfer is running. source_streaming: it got a 200 response. source_paused:
 * the data callback said SOURCE_HOLD and source_resume() was not called yet. */
int source_active(const source *s);
int source_streaming(const source *s);
int source_paused(const source *s);

/* source_url: the URL of the current or last transfer (with since_mtime). */
const char *source_url(const source *s);

#endif
