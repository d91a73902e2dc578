/* source.c: one streaming HTTP GET on a libcurl multi handle. The easy handle is reused across
 * reconnects (keeps libcurl's connection and DNS caches). A non-200 response is not delivered:
 * the transfer ends and the caller backs off (honouring Retry-After). */
#include "services/ingestor/source.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/version.h"

/* Largest body piece per read and callback. Each callback and loop turn has a fixed cost (poll,
 * recv, a drain pass); unpaced, 2 MiB took ~0.2 CPU s per million lines off the loop thread
 * against 128 KiB. A slow stream still arrives in small pieces, and untouched pages cost no RSS. */
#define SOURCE_BUFFER_BYTES (2048L * 1024)

/* A trickle costs a loop turn per read: a stream paced at 10k lines/s arrived in ~6k reads/s, and
 * the turns, not the lines, took most of the CPU. After a read of less than SOURCE_TRICKLE_BYTES
 * the next wait starts with a nap of SOURCE_NAP_MS, so lines gather in the socket and are read
 * together. At 10k lines/s (paced, four services), 2 ms took the loop thread 1,814 system calls
 * and 455 context switches a second, 10 ms 660 and 232, 20 ms 428 and 198. A line then waits in
 * the socket at most SOURCE_NAP_MS before it is read and stamped (its Kafka timestamp is that
 * late), but not longer before its commit: the loop reads what waits before each interval commit
 * (ingestor.c). */
#define SOURCE_TRICKLE_BYTES (256 * 1024)
#define SOURCE_NAP_MS        10

struct source {
    CURLM *multi;
    CURL *easy;
    char *base_url;
    buf url;
    int64_t stall_ms;
    char *encoding; /* Accept-Encoding for libcurl; NULL: ask for none */
    source_data_fn fn;
    void *ud;
    int active;         /* easy handle added to multi */
    int paused;         /* write callback returned CURL_WRITEFUNC_PAUSE */
    int streaming;      /* 200 seen */
    long status;        /* response code once known */
    int64_t last_io_ms; /* monotonic time of the last header or body byte (or start/resume) */
    int64_t body_bytes;
    int64_t last_read; /* body bytes the previous source_poll delivered */
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    source *s = ud;
    s->last_io_ms = clock_mono_ms();
    return size * nmemb;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    source *s = ud;
    size_t n = size * nmemb;
    s->last_io_ms = clock_mono_ms();
    if (!s->status) {
        long code = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        s->status = code;
        s->streaming = code == 200;
    }
    if (!s->streaming)
        return 0; /* an error body: end the transfer, the status says why */
    int r = s->fn(s->ud, p, n);
    if (r == SOURCE_HOLD) {
        s->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (r == SOURCE_ABORT)
        return 0;
    s->body_bytes += (int64_t)n;
    return n;
}

int source_set_encoding(source *s, const char *encoding)
{
    char *e = NULL;
    if (encoding && !(e = strdup(encoding)))
        return ERR_NOMEM;
    free(s->encoding);
    s->encoding = e;
    return 0;
}

int source_new(source **out, const char *url, int64_t stall_ms, source_data_fn fn, void *ud)
{
    source *s = calloc(1, sizeof(*s));
    if (!s)
        return ERR_NOMEM;
    s->base_url = strdup(url);
    s->stall_ms = stall_ms;
    s->fn = fn;
    s->ud = ud;
    s->multi = curl_multi_init();
    s->easy = curl_easy_init();
    if (!s->base_url || !s->multi || !s->easy) {
        int rc = s->base_url ? ERR_IO : ERR_NOMEM;
        source_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void source_free(source *s)
{
    if (!s)
        return;
    source_stop(s);
    if (s->easy)
        curl_easy_cleanup(s->easy);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    buf_free(&s->url);
    free(s->base_url);
    free(s->encoding);
    free(s);
}

/* setup: every option of a transfer. curl_easy_reset would drop the caches, so options are simply
 * set again each time. */
static int setup(source *s)
{
    CURL *e = s->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                        \
    do {                                                                                                     \
        if (rc == CURLE_OK)                                                                                  \
            rc = curl_easy_setopt(e, opt, val);                                                              \
    } while (0)
    SET(CURLOPT_URL, s->url.data);
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, s->encoding); /* NULL: no Accept-Encoding, no decoding */
    SET(CURLOPT_USERAGENT, "rsvp-ingestor/" RSVP_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, s);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)s->stall_ms);
    SET(CURLOPT_BUFFERSIZE, SOURCE_BUFFER_BYTES);
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, 5L);
#undef SET
    return rc == CURLE_OK ? 0 : ERR_IO;
}

int source_start(source *s, int64_t since_mtime)
{
    if (s->active)
        return ERR_INVALID;
    buf_reset(&s->url);
    int rc = buf_puts(&s->url, s->base_url);
    if (rc == 0 && since_mtime >= 0)
        rc = buf_printf(&s->url, "%csince_mtime=%" PRId64, strchr(s->base_url, '?') ? '&' : '?', since_mtime);
    if (rc != 0)
        return rc;
    s->errbuf[0] = '\0';
    s->paused = s->streaming = 0;
    s->status = 0;
    s->body_bytes = 0;
    s->last_read = INT64_MAX; /* no nap before the first read */
    if (setup(s) != 0)
        return ERR_IO;
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
        return ERR_IO;
    s->active = 1;
    s->last_io_ms = clock_mono_ms();
    return 0;
}

static void fill_end(source *s, CURLcode result, source_end *end)
{
    memset(end, 0, sizeof(*end));
    long code = s->status;
    if (!code)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    end->http_status = code;
    curl_off_t ra = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        end->retry_after_ms = (int64_t)ra * 1000;
    end->body_bytes = s->body_bytes;
    if (code != 0 && code != 200)
        snprintf(end->reason, sizeof end->reason, "http status %ld", code);
    else if (result == CURLE_OK)
        snprintf(end->reason, sizeof end->reason, "closed by peer");
    else
        snprintf(end->reason, sizeof end->reason, "%s",
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
}

int source_poll(source *s, int timeout_ms, source_end *end)
{
    int running = 0;
    if (s->active && !s->paused && s->last_read < SOURCE_TRICKLE_BYTES && timeout_ms > 0) {
        int nap = timeout_ms < SOURCE_NAP_MS ? timeout_ms : SOURCE_NAP_MS;
        clock_sleep_ms(nap);
        timeout_ms -= nap;
    }
    int64_t before = s->body_bytes;
    curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(s->multi, &running);
    s->last_read = s->body_bytes - before;
    int msgs;
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &msgs)) != NULL) {
        if (m->msg != CURLMSG_DONE || m->easy_handle != s->easy || !s->active)
            continue;
        CURLcode result = m->data.result; /* m is invalid after remove_handle */
        fill_end(s, result, end);
        curl_multi_remove_handle(s->multi, s->easy);
        s->active = s->paused = s->streaming = 0;
        return 1;
    }
    if (s->active && !s->paused && clock_mono_ms() - s->last_io_ms > s->stall_ms) {
        memset(end, 0, sizeof(*end));
        end->http_status = s->status;
        end->stalled = 1;
        end->body_bytes = s->body_bytes;
        snprintf(end->reason, sizeof end->reason, "stalled: no data for %lld ms", (long long)s->stall_ms);
        source_stop(s);
        return 1;
    }
    return 0;
}

void source_resume(source *s)
{
    if (!s->active || !s->paused)
        return;
    s->paused = 0;
    s->last_io_ms = clock_mono_ms(); /* the silence while we held the transfer is ours */
    curl_easy_pause(s->easy, CURLPAUSE_CONT);
}

void source_stop(source *s)
{
    if (!s->active)
        return;
    curl_multi_remove_handle(s->multi, s->easy);
    s->active = s->paused = s->streaming = 0;
}

int source_active(const source *s)
{
    return s->active;
}

int source_streaming(const source *s)
{
    return s->active && s->streaming;
}

int source_paused(const source *s)
{
    return s->paused;
}

const char *source_url(const source *s)
{
    return s->url.data ? s->url.data : s->base_url;
}
