/* main.c: rsvp-writer-client, a small nng REQ client for tests and benchmarks of rsvp-writer:
 *   batch (rows from a JSON-lines file), query (stored offsets), garbage (random bytes),
 *   bench (rows/s of many batches). Prints the writer's reply as one JSON line on stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "proto/rsvp.pb-c.h"
#include "tools/writer-client/jsonrows.h"

typedef struct opts {
    const char *url, *cmd, *topic, *rows_file, *partitions, *sender;
    const char *tls_ca, *tls_cert, *tls_key, *tls_server_name;
    int partition;
    int64_t from, to, timeout_ms, bytes, messages, newest_ms, oldest_ms;
    int has_messages, has_newest, has_oldest;
    int64_t batches, rows;
    int fresh_keys;
    int has_partition, has_from, has_to;
} opts;

static void usage(void)
{
    fprintf(stderr, "usage: rsvp-writer-client [--url URL] [--timeout MS] [--tls-ca F] [--tls-cert F "
                    "--tls-key F] [--tls-server-name N] COMMAND ...\n"
                    "  batch --topic T --partition P --from F --to T [--rows-file rows.jsonl] "
                    "[--messages N] [--newest-ingest-ms MS|now] [--oldest-ingest-ms MS] [--sender S]\n"
                    "  query --topic T --partitions 0,1,...\n"
                    "  garbage --bytes N\n"
                    "  bench --topic T --partition P [--batches 100] [--rows 10000] [--fresh-keys]\n"
                    "Prints one JSON line. Exit 0 when the writer answered (any status), 1 without an "
                    "answer, 2 on usage errors.\n");
}

static int read_pem(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    *out = b.data;
    return 0;
}

static int dial(nng_socket *sock, const opts *o)
{
    int rv;
    if ((rv = nng_req0_open(sock)) != 0)
        return rv;
    nng_socket_set_ms(*sock, NNG_OPT_RECVTIMEO, (nng_duration)o->timeout_ms);
    nng_socket_set_ms(*sock, NNG_OPT_SENDTIMEO, (nng_duration)o->timeout_ms);
    /* One request, one answer: no automatic resend inside the timeout. */
    nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, (nng_duration)o->timeout_ms + 1000);
    nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, 0);
    nng_dialer d;
    if ((rv = nng_dialer_create(&d, *sock, o->url)) != 0)
        return rv;
    if (strncmp(o->url, "tls+", 4) == 0) {
        nng_tls_config *cfg;
        if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0)
            return rv;
        char *ca = NULL, *cert = NULL, *key = NULL;
        if (o->tls_ca && read_pem(o->tls_ca, &ca) == 0) {
            nng_tls_config_ca_chain(cfg, ca, NULL);
            nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
        } else {
            nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
        }
        if (o->tls_cert && o->tls_key && read_pem(o->tls_cert, &cert) == 0 && read_pem(o->tls_key, &key) == 0)
            nng_tls_config_own_cert(cfg, cert, key, NULL);
        if (o->tls_server_name)
            nng_tls_config_server_name(cfg, o->tls_server_name);
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);
        free(ca);
        free(cert);
        free(key);
        if (rv != 0)
            return rv;
    }
    /* Non-blocking: the request waits (up to the timeout) for a writer still starting. */
    return nng_dialer_start(d, NNG_FLAG_NONBLOCK);
}

/* Send req, receive and decode the reply. 0 or an nng error / -1 for an undecodable reply. */
static int roundtrip(nng_socket sock, const void *req, size_t len, Rsvp__V1__WriterReply **rep)
{
    nng_msg *m;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0)
        rv = nng_msg_append(m, req, len);
    if (rv == 0 && (rv = nng_sendmsg(sock, m, 0)) != 0)
        nng_msg_free(m);
    if (rv != 0)
        return rv;
    if ((rv = nng_recvmsg(sock, &m, 0)) != 0)
        return rv;
    *rep = rsvp__v1__writer_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    return *rep ? 0 : -1;
}

static const char *status_name(int st)
{
    switch (st) {
    case RSVP__V1__WRITER_REPLY__STATUS__OK: return "OK";
    case RSVP__V1__WRITER_REPLY__STATUS__STALE: return "STALE";
    case RSVP__V1__WRITER_REPLY__STATUS__RETRY: return "RETRY";
    case RSVP__V1__WRITER_REPLY__STATUS__ERROR: return "ERROR";
    default: return "UNSPECIFIED";
    }
}

static void print_reply(const Rsvp__V1__WriterReply *r)
{
    buf b = {0};
    buf_printf(&b, "{\"status\":\"%s\"", status_name(r->status));
    if (r->has_batch_id)
        buf_printf(&b, ",\"batch_id\":%" PRId64, r->batch_id);
    if (r->has_stored_offset)
        buf_printf(&b, ",\"stored_offset\":%" PRId64, r->stored_offset);
    if (r->message) {
        buf_puts(&b, ",\"message\":");
        buf_json_str(&b, r->message, strlen(r->message));
    }
    if (r->n_offsets) {
        buf_puts(&b, ",\"offsets\":[");
        for (size_t i = 0; i < r->n_offsets; i++)
            buf_printf(&b, "%s{\"partition\":%d,\"next_offset\":%" PRId64 "}", i ? "," : "",
                       r->offsets[i]->partition, r->offsets[i]->next_offset);
        buf_putc(&b, ']');
    }
    buf_puts(&b, "}\n");
    fputs(b.data, stdout);
    fflush(stdout);
    buf_free(&b);
}

static void print_error(const char *what, int rv)
{
    printf("{\"error\":\"%s\",\"detail\":\"%s\"}\n", what, rv > 0 ? nng_strerror(rv) : "bad reply");
    fflush(stdout);
}

static int send_request(nng_socket sock, const Rsvp__V1__WriterRequest *req, int print)
{
    size_t n = rsvp__v1__writer_request__get_packed_size(req);
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return 1;
    rsvp__v1__writer_request__pack(req, p);
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = roundtrip(sock, p, n, &rep);
    free(p);
    if (rv != 0) {
        print_error("no reply", rv);
        return 1;
    }
    if (print)
        print_reply(rep);
    int ok = rep->status == RSVP__V1__WRITER_REPLY__STATUS__OK;
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return print ? 0 : !ok;
}

static int load_rows(const char *path, Rsvp__V1__AggRow **rows, size_t *n, int64_t *sum)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rsvp-writer-client: %s: cannot open\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    *n = 0;
    *sum = 0;
    *rows = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (*n == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            Rsvp__V1__AggRow *nr = realloc(*rows, alloc * sizeof **rows);
            if (!nr) {
                rc = -1;
                break;
            }
            *rows = nr;
        }
        char err[128];
        if (jsonrows_parse(line, (size_t)len, &(*rows)[*n], err, sizeof err) != 0) {
            fprintf(stderr, "rsvp-writer-client: %s:%d: %s\n", path, lineno, err);
            rc = -1;
            break;
        }
        *sum += (*rows)[*n].delta;
        (*n)++;
    }
    free(line);
    fclose(f);
    return rc;
}

static int cmd_batch(nng_socket sock, const opts *o)
{
    Rsvp__V1__AggRow *rows = NULL;
    size_t n = 0;
    int64_t sum = 0;
    if (o->rows_file && load_rows(o->rows_file, &rows, &n, &sum) != 0)
        return 2;
    Rsvp__V1__AggRow **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rows[i];
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = (char *)o->topic;
    b.partition = o->partition;
    b.from_offset = o->from;
    b.to_offset = o->to;
    b.n_rows = n;
    b.rows = ptrs;
    b.has_messages = 1;
    b.messages = o->has_messages ? o->messages : sum;
    b.has_newest_ingest_ms = o->has_newest;
    b.newest_ingest_ms = o->newest_ms;
    b.has_oldest_ingest_ms = o->has_oldest;
    b.oldest_ingest_ms = o->oldest_ms;
    b.sender = (char *)(o->sender ? o->sender : "rsvp-writer-client");
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    int rc = send_request(sock, &req, 1);
    for (size_t i = 0; i < n; i++)
        jsonrows_row_clear(&rows[i]);
    free(rows);
    free(ptrs);
    return rc;
}

static int cmd_query(nng_socket sock, const opts *o)
{
    int32_t parts[1024];
    size_t n = 0;
    for (const char *p = o->partitions; p && *p && n < 1024;) {
        char *end;
        parts[n++] = (int32_t)strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p)
            return 2;
    }
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = (char *)o->topic;
    q.n_partitions = n;
    q.partitions = parts;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    return send_request(sock, &req, 1);
}

static int cmd_garbage(nng_socket sock, const opts *o)
{
    size_t n = (size_t)o->bytes;
    uint8_t *p = malloc(n ? n : 1);
    uint64_t x = (uint64_t)time(NULL) * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    /* Make sure it is no valid WriterRequest: field 15, wire type 7 does not exist. */
    if (n > 0)
        p[0] = 0xff;
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = roundtrip(sock, p, n, &rep);
    free(p);
    if (rv != 0) {
        print_error("no reply", rv);
        return 1;
    }
    print_reply(rep);
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return 0;
}

/* bench: batches of distinct keys; the same keys each batch (upserts) unless --fresh-keys. */
static int cmd_bench(nng_socket sock, const opts *o)
{
    size_t n = (size_t)o->rows;
    Rsvp__V1__AggRow *rows = calloc(n, sizeof *rows);
    Rsvp__V1__AggRow **ptrs = calloc(n, sizeof *ptrs);
    char(*names)[48] = calloc(n, sizeof *names);
    if (!rows || !ptrs || !names)
        return 1;
    /* Where does the partition stand? */
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    int32_t part = o->partition;
    q.topic = (char *)o->topic;
    q.n_partitions = 1;
    q.partitions = &part;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    size_t len = rsvp__v1__writer_request__get_packed_size(&req);
    uint8_t qb[256];
    rsvp__v1__writer_request__pack(&req, qb);
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = roundtrip(sock, qb, len, &rep);
    if (rv != 0 || rep->status != RSVP__V1__WRITER_REPLY__STATUS__OK || rep->n_offsets != 1) {
        print_error("offset query failed", rv);
        return 1;
    }
    int64_t from = rep->offsets[0]->next_offset;
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);

    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = (char *)o->topic;
    b.partition = o->partition;
    b.rows = ptrs;
    b.n_rows = n;
    b.has_messages = 1;
    b.messages = (int64_t)n;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    int64_t t0 = clock_mono_ns(), sent_rows = 0, retries = 0;
    for (int64_t k = 0; k < o->batches; k++) {
        for (size_t i = 0; i < n; i++) {
            rsvp__v1__agg_row__init(&rows[i]);
            if (o->fresh_keys)
                snprintf(names[i], sizeof names[i], "bench-%" PRId64 "-%zu", k, i);
            else
                snprintf(names[i], sizeof names[i], "bench-%zu", i);
            rows[i].event_name = names[i];
            rows[i].event_url = "https://www.meetup.com/bench/events/1/";
            rows[i].event_time = "1527350400000";
            rows[i].group_name = "Bench Group";
            rows[i].group_country = "us";
            rows[i].group_city = "Austin";
            rows[i].has_group_lat = rows[i].has_group_lon = 1;
            rows[i].group_lat = 30.22;
            rows[i].group_lon = -97.75;
            rows[i].has_lat = rows[i].has_lon = (i % 5) != 0;
            rows[i].lat = 30.234737;
            rows[i].lon = -97.742775;
            rows[i].response = "yes";
            rows[i].delta = 1;
            ptrs[i] = &rows[i];
        }
        b.from_offset = from;
        b.to_offset = (from < 0 ? 0 : from) + (int64_t)n;
        b.has_newest_ingest_ms = 1;
        b.newest_ingest_ms = clock_wall_ms();
        int rc;
        while ((rc = send_request(sock, &req, 0)) != 0 && retries < 100)
            retries++;
        if (rc != 0) {
            print_error("batch failed", -1);
            return 1;
        }
        from = b.to_offset;
        sent_rows += (int64_t)n;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    printf("{\"batches\":%" PRId64 ",\"rows_per_batch\":%zu,\"rows\":%" PRId64
           ",\"seconds\":%.3f,\"rows_per_s\":%.0f,\"fresh_keys\":%s,\"retries\":%" PRId64 "}\n",
           o->batches, n, sent_rows, secs, (double)sent_rows / secs, o->fresh_keys ? "true" : "false",
           retries);
    free(rows);
    free(ptrs);
    free(names);
    return 0;
}

static const struct option long_opts[] = {{"url", 1, 0, 'u'},
                                          {"timeout", 1, 0, 'T'},
                                          {"topic", 1, 0, 't'},
                                          {"partition", 1, 0, 'p'},
                                          {"from", 1, 0, 'f'},
                                          {"to", 1, 0, 'o'},
                                          {"rows-file", 1, 0, 'r'},
                                          {"partitions", 1, 0, 'P'},
                                          {"bytes", 1, 0, 'b'},
                                          {"messages", 1, 0, 'm'},
                                          {"newest-ingest-ms", 1, 0, 'n'},
                                          {"oldest-ingest-ms", 1, 0, 'O'},
                                          {"sender", 1, 0, 's'},
                                          {"batches", 1, 0, 'B'},
                                          {"rows", 1, 0, 'R'},
                                          {"fresh-keys", 0, 0, 'F'},
                                          {"tls-ca", 1, 0, 'c'},
                                          {"tls-cert", 1, 0, 'C'},
                                          {"tls-key", 1, 0, 'K'},
                                          {"tls-server-name", 1, 0, 'S'},
                                          {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};

/* Parse options up to the first non-option word. 0, 1 (help printed) or 2 (usage error). */
static int parse_opts(int argc, char **argv, opts *o)
{
    int c;
    optind = 0; /* GNU: full re-initialisation */
    while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'u': o->url = optarg; break;
        case 'T': o->timeout_ms = strtoll(optarg, NULL, 10); break;
        case 't': o->topic = optarg; break;
        case 'p': o->partition = (int)strtol(optarg, NULL, 10), o->has_partition = 1; break;
        case 'f': o->from = strtoll(optarg, NULL, 10), o->has_from = 1; break;
        case 'o': o->to = strtoll(optarg, NULL, 10), o->has_to = 1; break;
        case 'r': o->rows_file = optarg; break;
        case 'P': o->partitions = optarg; break;
        case 'b': o->bytes = strtoll(optarg, NULL, 10); break;
        case 'm': o->messages = strtoll(optarg, NULL, 10), o->has_messages = 1; break;
        case 'n':
            o->newest_ms = strcmp(optarg, "now") == 0 ? clock_wall_ms() : strtoll(optarg, NULL, 10);
            o->has_newest = 1;
            break;
        case 'O': o->oldest_ms = strtoll(optarg, NULL, 10), o->has_oldest = 1; break;
        case 's': o->sender = optarg; break;
        case 'B': o->batches = strtoll(optarg, NULL, 10); break;
        case 'R': o->rows = strtoll(optarg, NULL, 10); break;
        case 'F': o->fresh_keys = 1; break;
        case 'c': o->tls_ca = optarg; break;
        case 'C': o->tls_cert = optarg; break;
        case 'K': o->tls_key = optarg; break;
        case 'S': o->tls_server_name = optarg; break;
        case 'h': usage(); return 1;
        default: usage(); return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {
        .url = "tcp://127.0.0.1:7400", .timeout_ms = 10000, .batches = 100, .rows = 10000, .bytes = 100};
    /* rsvp-writer-client [global options] COMMAND [command options] */
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (optind < argc) {
        int base = optind;
        o.cmd = argv[base];
        rc = parse_opts(argc - base, argv + base, &o);
        if (rc != 0)
            return rc == 1 ? 0 : 2;
        if (base + optind < argc)
            return usage(), 2;
    }
    if (o.cmd == NULL)
        return usage(), 2;
    int is_batch = !strcmp(o.cmd, "batch"), is_query = !strcmp(o.cmd, "query"),
        is_garbage = !strcmp(o.cmd, "garbage"), is_bench = !strcmp(o.cmd, "bench");
    if (!is_batch && !is_query && !is_garbage && !is_bench)
        return usage(), 2;
    if ((is_batch || is_query || is_bench) && o.topic == NULL)
        return usage(), 2;
    if (is_batch && (!o.has_partition || !o.has_from || !o.has_to))
        return usage(), 2;
    if (is_query && o.partitions == NULL)
        return usage(), 2;
    if (is_bench && (o.partition < 0 || o.rows <= 0 || o.batches <= 0))
        return usage(), 2;
    nng_socket sock;
    int rv = dial(&sock, &o);
    if (rv != 0) {
        print_error("dial failed", rv);
        return 1;
    }
    rc = is_batch     ? cmd_batch(sock, &o)
         : is_query   ? cmd_query(sock, &o)
         : is_garbage ? cmd_garbage(sock, &o)
                      : cmd_bench(sock, &o);
    nng_close(sock);
    return rc;
}
