/* hostile.c: the attack mode of rsvp-writer-client (see hostile.h). Every request is built to
 * break a rule the writer checks (a negative or oversized delta, a range the messages do not fit,
 * an offset no Kafka partition reaches, more rows or partitions than allowed, more decode memory
 * than allowed) and, where a limit could be configured away, a second rule that does not depend
 * on any limit, so that no attack can ever be applied. */
#include "tools/writer-client/hostile.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"

extern char **environ;

#define TWO_POW_62 ((int64_t)1 << 62)

/* What an attack got back: replies by status, and requests that got none. */
typedef struct outcome {
    uint64_t replies[5]; /* by WriterReply status (0..4) */
    uint64_t no_reply;
    uint64_t dial_failed;
    char first_message[160]; /* of the first reply with a message */
} outcome;

/* ---- building requests ---- */

static int put_varint(buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return buf_append(b, tmp, n);
}

/* The Batch header fields (no rows) packed into b. has_messages 0 leaves messages out. */
static int put_header(buf *b, const char *topic, int32_t partition, int64_t from, int64_t to,
                      int has_messages, int64_t messages)
{
    Rsvp__V1__Batch hdr = RSVP__V1__BATCH__INIT;
    hdr.topic = (char *)topic;
    hdr.partition = partition;
    hdr.from_offset = from;
    hdr.to_offset = to;
    hdr.has_messages = has_messages;
    hdr.messages = messages;
    hdr.sender = "rsvp-writer-client hostile";
    size_t n = rsvp__v1__batch__get_packed_size(&hdr);
    if (buf_reserve(b, n) != 0)
        return ERR_NOMEM;
    b->len += rsvp__v1__batch__pack(&hdr, (uint8_t *)b->data + b->len);
    return 0;
}

/* Wrap the Batch body as WriterRequest field 1 into out. */
static int wrap(buf *out, const buf *body, int field)
{
    buf_reset(out);
    if (put_varint(out, (uint64_t)field << 3 | 2) || put_varint(out, body->len) ||
        buf_append(out, body->data, body->len))
        return ERR_NOMEM;
    return 0;
}

/* A row: event_name, and delta (as a proto AggRow). */
static int put_row(buf *b, const char *name, int64_t delta)
{
    Rsvp__V1__AggRow r = RSVP__V1__AGG_ROW__INIT;
    r.event_name = (char *)name;
    r.response = "yes";
    r.delta = delta;
    size_t n = rsvp__v1__agg_row__get_packed_size(&r);
    if (put_varint(b, 5u << 3 | 2) || put_varint(b, n) || buf_reserve(b, n))
        return ERR_NOMEM;
    b->len += rsvp__v1__agg_row__pack(&r, (uint8_t *)b->data + b->len);
    return 0;
}

/* A batch over [from, to) claiming messages, with rows (name i, delta deltas[i]). */
static int batch(buf *out, const hostile_opts *h, int64_t from, int64_t to, int has_messages,
                 int64_t messages, const int64_t *deltas, size_t n, int same_key)
{
    buf body = {0};
    int rc = put_header(&body, h->topic, h->partition, from, to, has_messages, messages);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "hostile-%zu", same_key ? (size_t)0 : i);
        rc = put_row(&body, name, deltas[i]);
    }
    if (rc == 0)
        rc = wrap(out, &body, 1);
    buf_free(&body);
    return rc;
}

/* bytes of minimal rows (field 5, length 2, delta 1) after a header claiming 0 messages: every row
 * breaks "delta <= messages" whatever the row limit. */
static int minimal_rows(buf *out, const hostile_opts *h, int64_t from, size_t bytes)
{
    buf body = {0};
    int rc = put_header(&body, h->topic, h->partition, from < 0 ? -1 : from, (from < 0 ? 0 : from) + 1, 1, 0);
    size_t rows = bytes > body.len + 16 ? (bytes - body.len - 16) / 4 : 1;
    if (rc == 0 && buf_reserve(&body, rows * 4) != 0)
        rc = ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < rows; i++) {
        static const unsigned char row[4] = {5u << 3 | 2, 2, 13u << 3, 1};
        memcpy(body.data + body.len, row, 4);
        body.len += 4;
    }
    if (rc == 0)
        rc = wrap(out, &body, 1);
    buf_free(&body);
    return rc;
}

/* One row whose event_name is sent again and again: protobuf-c keeps every copy until the request
 * is done, so a few MB become tens of MB of decode memory. The batch claims 1 message for a delta
 * of 0: refused even if it decoded. */
static int decode_bomb(buf *out, const hostile_opts *h, int64_t from, size_t bytes)
{
    buf row = {0}, body = {0};
    size_t copies = bytes > 64 ? (bytes - 64) / 2 : 1;
    int rc = buf_reserve(&row, copies * 2 + 2);
    for (size_t i = 0; rc == 0 && i < copies; i++) {
        row.data[row.len++] = 1u << 3 | 2; /* event_name = "" */
        row.data[row.len++] = 0;
    }
    if (rc == 0) {
        row.data[row.len++] = 13u << 3; /* delta = 0 */
        row.data[row.len++] = 0;
        rc = put_header(&body, h->topic, h->partition, from < 0 ? -1 : from, (from < 0 ? 0 : from) + 1, 1, 1);
    }
    if (rc == 0)
        rc = put_varint(&body, 5u << 3 | 2) || put_varint(&body, row.len) ||
             buf_append(&body, row.data, row.len);
    if (rc == 0)
        rc = wrap(out, &body, 1);
    buf_free(&row);
    buf_free(&body);
    return rc ? ERR_NOMEM : 0;
}

/* An offset query for bytes' worth of packed partition numbers (one byte each). */
static int partitions_flood(buf *out, const hostile_opts *h, size_t bytes)
{
    buf body = {0};
    size_t n = bytes > 64 ? bytes - 64 : 1, tlen = strlen(h->topic);
    int rc = put_varint(&body, 1u << 3 | 2) || put_varint(&body, tlen) || buf_append(&body, h->topic, tlen) ||
             put_varint(&body, 2u << 3 | 2) || put_varint(&body, n) || buf_reserve(&body, n);
    if (rc == 0) {
        memset(body.data + body.len, 0, n);
        body.len += n;
        rc = wrap(out, &body, 2);
    }
    buf_free(&body);
    return rc ? ERR_NOMEM : 0;
}

static int garbage(buf *out, size_t bytes)
{
    buf_reset(out);
    if (buf_reserve(out, bytes) != 0)
        return ERR_NOMEM;
    uint64_t x = (uint64_t)time(NULL) * 2654435761u + 1;
    for (size_t i = 0; i < bytes; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out->data[i] = (char)x;
    }
    out->data[0] = (char)0xff; /* field 15, wire type 7: never a WriterRequest */
    out->len = bytes;
    return 0;
}

/* ---- sending ---- */

static void note_reply(outcome *o, const Rsvp__V1__WriterReply *r)
{
    o->replies[(unsigned)r->status < 5 ? r->status : 0]++;
    if (r->message && o->first_message[0] == '\0')
        snprintf(o->first_message, sizeof o->first_message, "%s", r->message);
}

/* Send req once on a fresh link (each attack gets its own). The socket is never closed: nng 1.5.2
 * can hang in nng_close() on TLS sockets (seen after the writer cut a connection, and at random
 * with many at once), so every attack runs in a process of its own that exits without closing
 * anything (spawn_attack). */
static void send_once(const conn_opts *c, const buf *req, outcome *o)
{
    char err[256];
    nng_socket sock;
    if (conn_dial(&sock, c, err, sizeof err) != 0) {
        o->dial_failed++;
        return;
    }
    Rsvp__V1__WriterReply *rep = NULL;
    if (conn_roundtrip(sock, req->data, req->len, &rep) == 0) {
        note_reply(o, rep);
        rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    } else {
        o->no_reply++;
    }
}

/* Many links at once, each sending req and waiting for its reply: one small thread per link,
 * all started before any waits, so the writer sees every connection at the same time. */
typedef struct par {
    const conn_opts *c;
    const buf *req;
    outcome o;
    pthread_t t;
    int started;
} par;

static void *par_main(void *arg)
{
    par *p = arg;
    send_once(p->c, p->req, &p->o);
    return NULL;
}

static void send_parallel(const conn_opts *c, const buf *req, size_t n, outcome *o)
{
    par *ps = calloc(n, sizeof *ps);
    pthread_attr_t attr;
    if (ps == NULL || pthread_attr_init(&attr) != 0) {
        free(ps);
        o->dial_failed += n;
        return;
    }
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (size_t i = 0; i < n; i++) {
        ps[i].c = c;
        ps[i].req = req;
        ps[i].started = pthread_create(&ps[i].t, &attr, par_main, &ps[i]) == 0;
        if (!ps[i].started)
            o->dial_failed++;
    }
    pthread_attr_destroy(&attr);
    for (size_t i = 0; i < n; i++) {
        if (!ps[i].started)
            continue;
        pthread_join(ps[i].t, NULL);
        for (int s = 0; s < 5; s++)
            o->replies[s] += ps[i].o.replies[s];
        o->no_reply += ps[i].o.no_reply;
        o->dial_failed += ps[i].o.dial_failed;
        if (o->first_message[0] == '\0')
            memcpy(o->first_message, ps[i].o.first_message, sizeof o->first_message);
    }
    free(ps);
}

/* ---- the attacks ---- */

enum {
    A_NO_CERTIFICATE, /* the link attacks first: they meet a writer no other attack has worn */
    A_PLAIN_TCP,
    A_OTHER_CA,
    A_NEGATIVE_DELTA,
    A_HUGE_DELTA,
    A_RANGE_TO_2_62,
    A_ISSUE_ATTACK,
    A_TO_INT64_MAX,
    A_FROM_BELOW,
    A_EMPTY_RANGE,
    A_ROWS_EXCEED_MESSAGES,
    A_MESSAGES_EXCEED_RANGE,
    A_MESSAGES_MISSING,
    A_DUPLICATE_KEY,
    A_STALE,
    A_MINIMAL_ROWS_AT_LIMIT,
    A_MINIMAL_ROWS_FLOOD,
    A_DECODE_BOMB,
    A_PARTITIONS_FLOOD,
    A_GARBAGE,
    A_PARALLEL_FLOODS,
    A_CONNECTIONS,
    A_UNAUTHENTICATED_FLOOD, /* last: nng 1.5.2's TLS listener may need its watchdog after it */
    A_COUNT
};

static const struct {
    const char *name;
    const char *expect; /* the reply wanted: a bad_requests reason, a status, or "no reply" */
} ATTACKS[A_COUNT] = {
    [A_NO_CERTIFICATE] = {"no_certificate", "no reply"},
    [A_PLAIN_TCP] = {"plain_tcp", "no reply"},
    [A_OTHER_CA] = {"other_ca", "no reply"},
    [A_NEGATIVE_DELTA] = {"negative_delta", "bad_delta"},
    [A_HUGE_DELTA] = {"huge_delta", "bad_delta"},
    [A_RANGE_TO_2_62] = {"range_to_2^62", "bad_offset"},
    [A_ISSUE_ATTACK] = {"range_to_2^62_negative_deltas", "bad_offset"},
    [A_TO_INT64_MAX] = {"to_int64_max", "bad_offset"},
    [A_FROM_BELOW] = {"from_below_-1", "bad_offset"},
    [A_EMPTY_RANGE] = {"empty_range", "bad_range"},
    [A_ROWS_EXCEED_MESSAGES] = {"rows_exceed_messages", "bad_messages"},
    [A_MESSAGES_EXCEED_RANGE] = {"messages_exceed_range", "bad_range"},
    [A_MESSAGES_MISSING] = {"messages_missing", "bad_messages"},
    [A_DUPLICATE_KEY] = {"duplicate_key", "ERROR"},
    [A_STALE] = {"stale_offset", "STALE"},
    [A_MINIMAL_ROWS_AT_LIMIT] = {"minimal_rows_at_limit", "too_many_rows"},
    [A_MINIMAL_ROWS_FLOOD] = {"minimal_rows_flood", "no reply"},
    [A_DECODE_BOMB] = {"decode_bomb", "decode_limit"},
    [A_PARTITIONS_FLOOD] = {"partitions_flood", "too_many_partitions"},
    [A_GARBAGE] = {"garbage", "unpack"},
    [A_PARALLEL_FLOODS] = {"parallel_floods", "too_many_rows"},
    [A_CONNECTIONS] = {"connections", "bad_delta"},
    [A_UNAUTHENTICATED_FLOOD] = {"unauthenticated_connections", "no reply"},
};

const char *hostile_names(void)
{
    static char names[512];
    if (names[0] == '\0') {
        size_t at = 0;
        for (int i = 0; i < A_COUNT; i++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? "," : "", ATTACKS[i].name);
    }
    return names;
}

static int wanted(const char *list, const char *name)
{
    if (strcmp(list, "all") == 0)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* stored_offset: the partition's stored next offset (-1: none) in *out; 0 or -1 without an answer. */
static int stored_offset(const conn_opts *c, const hostile_opts *h, int64_t *out)
{
    nng_socket sock;
    char err[256];
    if (conn_dial(&sock, c, err, sizeof err) != 0) {
        fprintf(stderr, "rsvp-writer-client hostile: %s\n", err);
        return -1;
    }
    int rc = conn_stored_offset(sock, h->topic, h->partition, out) == 0 ? 0 : -1;
    return rc; /* the socket stays open until the process exits (see send_once) */
}

/* Build attack a's request into req. */
static int build(int a, const hostile_opts *h, int64_t from, buf *req)
{
    int64_t f0 = from < 0 ? 0 : from; /* where the range starts */
    int64_t d1 = 1, d5[5] = {1, 1, 1, 1, 1};
    size_t near_limit = h->max_request_bytes > 512 ? (size_t)h->max_request_bytes - 256 : 256;
    switch (a) {
    case A_NEGATIVE_DELTA: {
        int64_t d = -1000000000000000;
        return batch(req, h, from, f0 + 10, 1, 0, &d, 1, 0);
    }
    case A_HUGE_DELTA: {
        int64_t d = 1000000000000000;
        return batch(req, h, from, f0 + 10, 1, 10, &d, 1, 0);
    }
    case A_RANGE_TO_2_62: return batch(req, h, from, TWO_POW_62, 1, 1, &d1, 1, 0);
    case A_ISSUE_ATTACK: {
        int64_t d[2] = {-1000000000000000, -1000000000000000};
        return batch(req, h, from, TWO_POW_62, 1, 0, d, 2, 0);
    }
    case A_TO_INT64_MAX: return batch(req, h, from, INT64_MAX, 1, 1, &d1, 1, 0);
    case A_FROM_BELOW: return batch(req, h, -7, f0 + 1, 1, 1, &d1, 1, 0);
    case A_EMPTY_RANGE: return batch(req, h, from, f0, 1, 0, NULL, 0, 0);
    case A_ROWS_EXCEED_MESSAGES: return batch(req, h, from, f0 + 10, 1, 2, d5, 5, 0);
    case A_MESSAGES_EXCEED_RANGE: {
        int64_t d = 11;
        return batch(req, h, from, f0 + 10, 1, 11, &d, 1, 0);
    }
    case A_MESSAGES_MISSING: return batch(req, h, from, f0 + 1, 0, 0, &d1, 1, 0);
    case A_DUPLICATE_KEY: return batch(req, h, from, f0 + 2, 1, 2, d5, 2, 1);
    case A_STALE: return batch(req, h, f0 + 1000000000000, f0 + 1000000000001, 1, 1, &d1, 1, 0);
    case A_MINIMAL_ROWS_AT_LIMIT: return minimal_rows(req, h, from, near_limit);
    case A_MINIMAL_ROWS_FLOOD: return minimal_rows(req, h, from, (size_t)h->flood_bytes);
    case A_DECODE_BOMB: return decode_bomb(req, h, from, near_limit);
    case A_PARTITIONS_FLOOD: return partitions_flood(req, h, near_limit);
    case A_GARBAGE: return garbage(req, 4096);
    case A_PARALLEL_FLOODS: return minimal_rows(req, h, from, near_limit);
    case A_CONNECTIONS: return minimal_rows(req, h, from, (size_t)h->conn_bytes);
    default: {
        int64_t d = -1;
        return batch(req, h, from, f0 + 1, 1, 0, &d, 1, 0); /* link attacks: bad_delta if ever answered */
    }
    }
}

/* The link of attack a: the given one, or the same writer without a certificate, over plain TCP,
 * or with the certificate of another CA. 0, or 1 when the attack does not apply. */
static int attack_link(int a, const conn_opts *c, const char *other_cert, const char *other_key,
                       conn_opts *out, char *url, size_t cap)
{
    *out = *c;
    out->raw = 1; /* one attempt per request: an attack is never resent behind our back */
    if (a != A_NO_CERTIFICATE && a != A_PLAIN_TCP && a != A_OTHER_CA && a != A_UNAUTHENTICATED_FLOOD)
        return 0;
    if (!tls_url(c->url) || strchr(c->url, ',') != NULL)
        return 1; /* only a single tls+tcp:// writer has a certificate to do without */
    if (a == A_NO_CERTIFICATE || a == A_UNAUTHENTICATED_FLOOD) {
        out->tls.cert = out->tls.key = NULL;
    } else if (a == A_PLAIN_TCP) {
        snprintf(url, cap, "%s", c->url + 4); /* tls+tcp://h:p -> tcp://h:p */
        out->url = url;
    } else {
        if (!other_cert || !*other_cert || !other_key || !*other_key)
            return 1;
        out->tls.cert = other_cert;
        out->tls.key = other_key;
    }
    return 0;
}

static void print_outcome(const char *name, const char *expect, size_t bytes, size_t sends, const outcome *o,
                          int accepted)
{
    buf b = {0};
    buf_printf(&b, "{\"attack\":\"%s\",\"expect\":\"%s\",\"sent_bytes\":%zu,\"requests\":%zu,\"replies\":{",
               name, expect, bytes, sends);
    int first = 1;
    for (int s = 0; s < 5; s++)
        if (o->replies[s]) {
            buf_printf(&b, "%s\"%s\":%" PRIu64, first ? "" : ",", conn_status_name(s), o->replies[s]);
            first = 0;
        }
    buf_printf(&b, "},\"no_reply\":%" PRIu64 ",\"dial_failed\":%" PRIu64 ",\"message\":", o->no_reply,
               o->dial_failed);
    buf_json_str(&b, o->first_message, strlen(o->first_message));
    buf_printf(&b, ",\"verdict\":\"%s\"}\n", accepted ? "ACCEPTED" : "refused");
    fputs(b.data, stdout);
    fflush(stdout);
    buf_free(&b);
}

/* run_attack: one attack from offset `from`, its line printed. 1 if the writer accepted it. */
static int run_attack(int a, const conn_opts *c, const hostile_opts *h, int64_t from)
{
    conn_opts link;
    char url[512];
    buf req = {0};
    if (attack_link(a, c, h->other_cert, h->other_key, &link, url, sizeof url) != 0)
        return 0;
    if (build(a, h, from, &req) != 0) {
        fprintf(stderr, "rsvp-writer-client hostile: %s: out of memory\n", ATTACKS[a].name);
        return 0;
    }
    outcome o;
    memset(&o, 0, sizeof o);
    size_t sends = a == A_CONNECTIONS || a == A_UNAUTHENTICATED_FLOOD ? (size_t)h->connections
                   : a == A_PARALLEL_FLOODS                           ? 16
                                                                      : 1;
    if (sends > 1)
        send_parallel(&link, &req, sends, &o);
    else
        send_once(&link, &req, &o);
    int ok = o.replies[RSVP__V1__WRITER_REPLY__STATUS__OK] > 0;
    print_outcome(ATTACKS[a].name, ATTACKS[a].expect, req.len, sends, &o, ok);
    buf_free(&req);
    return ok;
}

/* spawn_attack: run attack a in a child process of this program (the same arguments, this attack
 * only, from `from`) and pass its line on. Each attack gets a process of its own because nng 1.5.2
 * can hang in nng_close() on TLS sockets whose connection the writer cut: the child prints its line
 * and exits without closing anything. Returns 1 if the writer accepted the attack, -1 if the child
 * gave no line before deadline_ms (it is killed), else 0. */
static int spawn_attack(int a, const hostile_opts *h, int64_t from, int64_t deadline_ms)
{
    char fromtext[32];
    snprintf(fromtext, sizeof fromtext, "%" PRId64, from);
    char **argv = calloc((size_t)h->argc + 6, sizeof *argv);
    int fds[2];
    if (!argv || pipe(fds) != 0) {
        free(argv);
        return -1;
    }
    int n = 0;
    for (int i = 0; i < h->argc; i++)
        argv[n++] = h->argv[i];
    argv[n++] = "--attack";
    argv[n++] = (char *)ATTACKS[a].name;
    argv[n++] = "--hostile-child-from";
    argv[n++] = fromtext;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        fprintf(stderr, "rsvp-writer-client hostile: cannot start a child: %s\n", strerror(rc));
        return -1;
    }
    buf out = {0};
    int64_t end = clock_mono_ms() + deadline_ms;
    for (;;) {
        int64_t left = end - clock_mono_ms();
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0)
            break;
        char chunk[4096];
        ssize_t got = pfd.revents ? read(fds[0], chunk, sizeof chunk) : 0;
        if (pfd.revents && got <= 0)
            break; /* the child is done */
        if (got > 0)
            buf_append(&out, chunk, (size_t)got);
    }
    close(fds[0]);
    kill(pid, SIGKILL); /* gone already, or stuck after its line */
    waitpid(pid, NULL, 0);
    int accepted = -1;
    if (out.len > 0 && strstr(out.data, "\"verdict\":") != NULL) {
        fputs(out.data, stdout);
        accepted = strstr(out.data, "\"verdict\":\"ACCEPTED\"") != NULL;
    } else {
        printf("{\"attack\":\"%s\",\"error\":\"no outcome within %" PRId64 " ms\"}\n", ATTACKS[a].name,
               deadline_ms);
    }
    fflush(stdout);
    buf_free(&out);
    return accepted;
}

int hostile_run(const conn_opts *c, const hostile_opts *h)
{
    for (const char *p = h->attacks; *p;) {
        size_t n = strcspn(p, ",");
        int known = n == 3 && strncmp(p, "all", 3) == 0;
        for (int a = 0; !known && a < A_COUNT; a++)
            known = strlen(ATTACKS[a].name) == n && strncmp(p, ATTACKS[a].name, n) == 0;
        if (!known) {
            fprintf(stderr, "rsvp-writer-client hostile: unknown attack '%.*s' (known: all,%s)\n", (int)n, p,
                    hostile_names());
            return 2;
        }
        p += n + (p[n] == ',');
    }
    if (h->child) { /* one attack, as spawn_attack asked */
        for (int a = 0; a < A_COUNT; a++)
            if (wanted(h->attacks, ATTACKS[a].name))
                return run_attack(a, c, h, h->child_from);
        return 2;
    }
    int64_t before, after, first = clock_mono_ms() + 30000;
    int asked;
    while ((asked = stored_offset(c, h, &before)) != 0 && clock_mono_ms() < first)
        clock_sleep_ms(1000);
    if (asked != 0) {
        printf("{\"error\":\"the writer did not answer the offset query: cannot attack from the stored "
               "offset\"}\n");
        return 1;
    }
    int accepted = 0, failed = 0, ran = 0;
    for (int a = 0; a < A_COUNT; a++) {
        conn_opts link;
        char url[512];
        if (!wanted(h->attacks, ATTACKS[a].name) ||
            attack_link(a, c, h->other_cert, h->other_key, &link, url, sizeof url) != 0)
            continue;
        /* each request waits at most twice the timeout (send, then reply); the threads of the
         * connection attacks start one after another */
        int r = spawn_attack(a, h, before,
                             2 * c->timeout_ms + 60000 + (a == A_CONNECTIONS ? h->connections * 20 : 0));
        accepted |= r == 1;
        failed |= r < 0;
        ran++;
    }
    /* The writer must take connections again: wait for it as long as its listener watchdog may
     * need (see services/writer/server.c), asking every second on a fresh connection. */
    int64_t t0 = clock_mono_ms(), deadline = t0 + 30000;
    int answered;
    while (!(answered = stored_offset(c, h, &after) == 0) && clock_mono_ms() < deadline)
        clock_sleep_ms(1000);
    int64_t recovered_ms = clock_mono_ms() - t0;
    int moved = !answered || after != before;
    char aftertext[32] = "null";
    if (answered)
        snprintf(aftertext, sizeof aftertext, "%" PRId64, after);
    printf("{\"summary\":\"hostile\",\"topic\":\"%s\",\"partition\":%d,\"attacks\":%d,\"accepted\":%d,"
           "\"failed_to_run\":%d,\"offset_before\":%" PRId64 ",\"offset_after\":%s,\"offset_moved\":%s,"
           "\"answered_again_after_ms\":%" PRId64 "}\n",
           h->topic, h->partition, ran, accepted, failed, before, aftertext, moved ? "true" : "false",
           answered ? recovered_ms : (int64_t)-1);
    fflush(stdout);
    return accepted || failed || !answered || (moved && h->offset_must_hold) ? 1 : 0;
}
