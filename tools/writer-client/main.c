/* main.c: rsvp-writer-client, a small nng REQ client for tests, benchmarks and security checks of
 * rsvp-writer: batch (rows from a JSON-lines file), query (stored offsets), garbage (random
 * bytes), bench (rows/s of many batches), hostile (attacks a writer must refuse: hostile.c).
 * Options come from the shared table (common/config.h): defaults < environment < flags, before or
 * after the command word. Prints one JSON line per answer on stdout. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/err.h"
#include "proto/rsvp.pb-c.h"
#include "tools/writer-client/conn.h"
#include "tools/writer-client/hostile.h"
#include "tools/writer-client/jsonrows.h"

/* An integer option nobody gave (the batch fields must be given explicitly). */
#define UNSET      INT64_MIN
#define UNSET_TEXT "-9223372036854775808"

static char *url, *tls_ca, *tls_cert, *tls_key, *tls_server_name;
static char *topic, *rows_file, *partitions, *sender, *newest_ms, *attacks, *other_cert, *other_key;
static int64_t timeout_ms, partition, from, to, messages, oldest_ms, bytes, batches, rows;
static int64_t flood_bytes, max_request_bytes, connections, conn_bytes, child_from;
static int fresh_keys, offset_must_hold;

/* clang-format off */
static const cfg_option options[] = {
    {"url", "WRITER_URL", CFG_STRING, "tcp://127.0.0.1:7400",
     "writer URL(s), comma-separated: tcp://, tls+tcp://, ipc://", 0, 0, 0, &url},
    {"timeout", NULL, CFG_DURATION, "10s", "per request: send and reply", 1, 3600000, 0, &timeout_ms},
    {"tls-ca", "TLS_CA", CFG_STRING, NULL, "tls+tcp://: PEM CA that signed the writer's certificate", 0, 0, 0,
     &tls_ca},
    {"tls-cert", "TLS_CERT", CFG_STRING, NULL, "tls+tcp://: PEM client certificate", 0, 0, 0, &tls_cert},
    {"tls-key", "TLS_KEY", CFG_STRING, NULL, "tls+tcp://: its private key", 0, 0, 0, &tls_key},
    {"tls-server-name", "TLS_SERVER_NAME", CFG_STRING, NULL,
     "tls+tcp://: DNS name the writer's certificate carries (default: the URL's host)", 0, 0, 0,
     &tls_server_name},
    {"topic", NULL, CFG_STRING, NULL, "batch, query, bench, hostile: topic", 0, 0, 0, &topic},
    {"partition", NULL, CFG_INT, UNSET_TEXT, "batch, bench, hostile: partition", 0, 0, 0, &partition},
    {"from", NULL, CFG_INT, UNSET_TEXT, "batch: from_offset", 0, 0, 0, &from},
    {"to", NULL, CFG_INT, UNSET_TEXT, "batch: to_offset", 0, 0, 0, &to},
    {"rows-file", NULL, CFG_STRING, NULL, "batch: rows as JSON lines (the 12 key columns and delta)", 0, 0, 0,
     &rows_file},
    {"messages", NULL, CFG_INT, UNSET_TEXT, "batch: messages (default: the sum of the deltas)", 0, 0, 0,
     &messages},
    {"newest-ingest-ms", NULL, CFG_STRING, NULL, "batch: newest_ingest_ms, or now", 0, 0, 0, &newest_ms},
    {"oldest-ingest-ms", NULL, CFG_INT, UNSET_TEXT, "batch: oldest_ingest_ms", 0, 0, 0, &oldest_ms},
    {"sender", NULL, CFG_STRING, "rsvp-writer-client", "batch: sender", 0, 0, 0, &sender},
    {"partitions", NULL, CFG_STRING, NULL, "query: partitions, e.g. 0,1,2", 0, 0, 0, &partitions},
    {"bytes", NULL, CFG_SIZE, "100", "garbage: request size", 0, (int64_t)1 << 31, 0, &bytes},
    {"batches", NULL, CFG_INT, "100", "bench: batches", 1, INT32_MAX, 0, &batches},
    {"rows", NULL, CFG_INT, "10000", "bench: rows per batch", 1, 100000000, 0, &rows},
    {"fresh-keys", NULL, CFG_BOOL, "false", "bench: new keys every batch (inserts, not upserts)", 0, 0, 0,
     &fresh_keys},
    {"attack", NULL, CFG_STRING, "all", "hostile: attacks to run, comma-separated, or all", 0, 0, 0, &attacks},
    {"flood-bytes", NULL, CFG_SIZE, "64M", "hostile: size of the oversize request of minimal rows", 64,
     (int64_t)1 << 31, 0, &flood_bytes},
    {"max-request-bytes", NULL, CFG_SIZE, "8M",
     "hostile: the writer's MAX_REQUEST_BYTES (in-limit floods are built just under it)", 1024, (int64_t)1 << 30,
     0, &max_request_bytes},
    {"connections", NULL, CFG_INT, "2000", "hostile: connections opened at once", 1, 100000, 0, &connections},
    {"conn-bytes", NULL, CFG_SIZE, "64k", "hostile: request size on each of those connections", 64,
     (int64_t)1 << 30, 0, &conn_bytes},
    {"other-cert", NULL, CFG_STRING, NULL, "hostile: client certificate from another CA (attack other_ca)", 0, 0,
     0, &other_cert},
    {"other-key", NULL, CFG_STRING, NULL, "hostile: its private key", 0, 0, 0, &other_key},
    {"offset-must-hold", NULL, CFG_BOOL, "false",
     "hostile: the attacked partition is idle: fail if its stored offset moves", 0, 0, 0, &offset_must_hold},
    {"hostile-child-from", NULL, CFG_INT, UNSET_TEXT,
     "hostile, internal: run one attack from this offset in this process (how each attack is run)", 0, 0, 0,
     &child_from},
    {NULL, NULL, CFG_STRING, NULL, NULL, 0, 0, 0, NULL},
};
/* clang-format on */

static const char SUMMARY[] =
    "test, benchmark and attack client of rsvp-writer. Commands (one, anywhere among the options):\n"
    "  batch --topic T --partition P --from F --to T [--rows-file rows.jsonl] [--messages N] ...\n"
    "  query --topic T --partitions 0,1,...\n"
    "  garbage --bytes N\n"
    "  bench --topic T --partition P [--batches 100] [--rows 10000] [--fresh-keys]\n"
    "  hostile --topic T --partition P [--attack all|NAME,...]   (docs/operations.md)\n"
    "Prints one JSON line per answer. Exit 0 when the writer answered (any status; hostile: refused\n"
    "everything), 1 without an answer (hostile: something was accepted), 2 on usage errors";

static void print_line(buf *b)
{
    buf_putc(b, '\n');
    fputs(b->data, stdout);
    fflush(stdout);
    buf_reset(b);
}

static void print_error(const char *what, int rv)
{
    buf b = {0};
    conn_error_json(&b, what, rv);
    print_line(&b);
    buf_free(&b);
}

/* Send req and print the reply (or the failure). 0 when an answer came, 1 otherwise. */
static int request_and_print(nng_socket sock, const Rsvp__V1__WriterRequest *req)
{
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = conn_request(sock, req, &rep);
    if (rv != 0) {
        print_error("no reply", rv);
        return 1;
    }
    buf b = {0};
    conn_reply_json(&b, rep);
    print_line(&b);
    buf_free(&b);
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return 0;
}

static int load_rows(const char *path, Rsvp__V1__AggRow **out, size_t *n, int64_t *sum)
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
    *out = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (*n == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            Rsvp__V1__AggRow *nr = realloc(*out, alloc * sizeof **out);
            if (!nr) {
                rc = -1;
                break;
            }
            *out = nr;
        }
        char err[128];
        if (jsonrows_parse(line, (size_t)len, &(*out)[*n], err, sizeof err) != 0) {
            fprintf(stderr, "rsvp-writer-client: %s:%d: %s\n", path, lineno, err);
            rc = -1;
            break;
        }
        *sum += (*out)[*n].delta;
        (*n)++;
    }
    free(line);
    fclose(f);
    return rc;
}

static int cmd_batch(nng_socket sock)
{
    Rsvp__V1__AggRow *rs = NULL;
    size_t n = 0;
    int64_t sum = 0;
    if (rows_file && load_rows(rows_file, &rs, &n, &sum) != 0)
        return 2;
    Rsvp__V1__AggRow **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!ptrs)
        return 1;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rs[i];
    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = topic;
    b.partition = (int32_t)partition;
    b.from_offset = from;
    b.to_offset = to;
    b.n_rows = n;
    b.rows = ptrs;
    b.has_messages = 1;
    b.messages = messages != UNSET ? messages : sum;
    if (newest_ms) {
        b.has_newest_ingest_ms = 1;
        b.newest_ingest_ms = strcmp(newest_ms, "now") == 0 ? clock_wall_ms() : strtoll(newest_ms, NULL, 10);
    }
    b.has_oldest_ingest_ms = oldest_ms != UNSET;
    b.oldest_ingest_ms = oldest_ms;
    b.sender = sender;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    int rc = request_and_print(sock, &req);
    for (size_t i = 0; i < n; i++)
        jsonrows_row_clear(&rs[i]);
    free(rs);
    free(ptrs);
    return rc;
}

static int cmd_query(nng_socket sock)
{
    int32_t parts[1024];
    size_t n = 0;
    for (const char *p = partitions; *p && n < 1024;) {
        char *end;
        parts[n++] = (int32_t)strtol(p, &end, 10);
        if (end == p)
            return 2;
        p = *end == ',' ? end + 1 : end;
    }
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = topic;
    q.n_partitions = n;
    q.partitions = parts;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    return request_and_print(sock, &req);
}

static int cmd_garbage(nng_socket sock)
{
    size_t n = (size_t)bytes;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return 1;
    uint64_t x = (uint64_t)time(NULL) * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    /* Make sure it is no valid WriterRequest: field 15, wire type 7 does not exist. */
    if (n > 0)
        p[0] = 0xff;
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = conn_roundtrip(sock, p, n, &rep);
    free(p);
    if (rv != 0) {
        print_error("no reply", rv);
        return 1;
    }
    buf b = {0};
    conn_reply_json(&b, rep);
    print_line(&b);
    buf_free(&b);
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return 0;
}

/* One bench batch round trip: 0 when the writer answered OK. */
static int bench_send(nng_socket sock, const Rsvp__V1__WriterRequest *req)
{
    Rsvp__V1__WriterReply *rep = NULL;
    if (conn_request(sock, req, &rep) != 0)
        return 1;
    int ok = rep->status == RSVP__V1__WRITER_REPLY__STATUS__OK;
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return !ok;
}

/* bench: batches of distinct keys; the same keys each batch (upserts) unless --fresh-keys. */
static int cmd_bench(nng_socket sock)
{
    size_t n = (size_t)rows;
    Rsvp__V1__AggRow *rs = calloc(n, sizeof *rs);
    Rsvp__V1__AggRow **ptrs = calloc(n, sizeof *ptrs);
    char(*names)[48] = calloc(n, sizeof *names);
    int rc = 1;
    if (!rs || !ptrs || !names)
        goto out;
    /* Where does the partition stand? */
    int32_t part = (int32_t)partition;
    int64_t at;
    int rv = conn_stored_offset(sock, topic, part, &at);
    if (rv != 0) {
        print_error("offset query failed", rv);
        goto out;
    }

    Rsvp__V1__Batch b = RSVP__V1__BATCH__INIT;
    b.topic = topic;
    b.partition = part;
    b.rows = ptrs;
    b.n_rows = n;
    b.has_messages = 1;
    b.messages = (int64_t)n;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_BATCH;
    req.batch = &b;
    int64_t t0 = clock_mono_ns(), sent_rows = 0, retries = 0;
    for (int64_t k = 0; k < batches; k++) {
        for (size_t i = 0; i < n; i++) {
            rsvp__v1__agg_row__init(&rs[i]);
            if (fresh_keys)
                snprintf(names[i], sizeof names[i], "bench-%" PRId64 "-%zu", k, i);
            else
                snprintf(names[i], sizeof names[i], "bench-%zu", i);
            rs[i].event_name = names[i];
            rs[i].event_url = "https://www.meetup.com/bench/events/1/";
            rs[i].event_time = "1527350400000";
            rs[i].group_name = "Bench Group";
            rs[i].group_country = "us";
            rs[i].group_city = "Austin";
            rs[i].has_group_lat = rs[i].has_group_lon = 1;
            rs[i].group_lat = 30.22;
            rs[i].group_lon = -97.75;
            rs[i].has_lat = rs[i].has_lon = (i % 5) != 0;
            rs[i].lat = 30.234737;
            rs[i].lon = -97.742775;
            rs[i].response = "yes";
            rs[i].delta = 1;
            ptrs[i] = &rs[i];
        }
        b.from_offset = at;
        b.to_offset = (at < 0 ? 0 : at) + (int64_t)n;
        b.has_newest_ingest_ms = 1;
        b.newest_ingest_ms = clock_wall_ms();
        int brc;
        while ((brc = bench_send(sock, &req)) != 0 && retries < 100)
            retries++;
        if (brc != 0) {
            print_error("batch failed", -1);
            goto out;
        }
        at = b.to_offset;
        sent_rows += (int64_t)n;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    printf("{\"batches\":%" PRId64 ",\"rows_per_batch\":%zu,\"rows\":%" PRId64
           ",\"seconds\":%.3f,\"rows_per_s\":%.0f,\"fresh_keys\":%s,\"retries\":%" PRId64 "}\n",
           batches, n, sent_rows, secs, (double)sent_rows / secs, fresh_keys ? "true" : "false", retries);
    rc = 0;
out:
    free(rs);
    free(ptrs);
    free(names);
    return rc;
}

/* find_command: index of the command word in argv (the first word that is neither an option nor
 * the value of one, per the option table), or 0 when there is none. */
static int find_command(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return i;
        if (strchr(a, '=') != NULL)
            continue;
        for (const cfg_option *o = options; o->name; o++)
            if (strcmp(a + 2, o->name) == 0 && o->type != CFG_BOOL)
                i++; /* its value */
    }
    return 0;
}

static int usage_error(const char *why)
{
    fprintf(stderr, "rsvp-writer-client: %s (see --help)\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    /* Configuration: the command word is taken out, the rest is the shared option table's. */
    int ci = find_command(argc, argv);
    const char *cmd = ci ? argv[ci] : NULL;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return 1;
    int nargs = 0;
    for (int i = 0; i < argc; i++)
        if (i != ci || ci == 0)
            args[nargs++] = argv[i];
    int rc = cfg_parse("rsvp-writer-client", SUMMARY, options, nargs, args);
    free(args);
    if (rc != 0) {
        cfg_free(options);
        return rc == 1 ? 0 : 2;
    }

    /* Validation: what each command needs. */
    static const char *const cmds[] = {"batch", "query", "garbage", "bench", "hostile"};
    int k = -1;
    for (int i = 0; cmd && i < 5; i++)
        if (strcmp(cmd, cmds[i]) == 0)
            k = i;
    const char *why = NULL;
    if (k < 0)
        why = cmd ? "unknown command" : "no command (batch, query, garbage, bench, hostile)";
    else if (k != 2 && topic == NULL)
        why = "--topic is required";
    else if (k == 0 && (partition == UNSET || from == UNSET || to == UNSET))
        why = "batch needs --partition, --from and --to";
    else if (k == 1 && partitions == NULL)
        why = "query needs --partitions";
    else if ((k == 3 || k == 4) && (partition < 0 || partition > INT32_MAX))
        why = "--partition (>= 0) is required";
    if (why) {
        cfg_free(options);
        return usage_error(why);
    }

    conn_opts co = {.url = url,
                    .timeout_ms = timeout_ms,
                    .tls = {.ca = tls_ca, .cert = tls_cert, .key = tls_key, .server_name = tls_server_name}};
    if (k == 4) {
        hostile_opts h = {.topic = topic,
                          .partition = (int32_t)partition,
                          .attacks = attacks,
                          .flood_bytes = flood_bytes,
                          .max_request_bytes = max_request_bytes,
                          .connections = connections,
                          .conn_bytes = conn_bytes,
                          .other_cert = other_cert,
                          .other_key = other_key,
                          .offset_must_hold = offset_must_hold,
                          .argc = argc,
                          .argv = argv,
                          .child = child_from != UNSET,
                          .child_from = child_from};
        rc = hostile_run(&co, &h);
        if (h.child) {
            fflush(stdout);
            _exit(rc); /* leave nng's sockets to the kernel (see hostile.h) */
        }
        cfg_free(options);
        return rc;
    }
    nng_socket sock;
    char err[512] = "";
    int rv = conn_dial(&sock, &co, err, sizeof err);
    if (rv != 0) {
        buf b = {0};
        buf_puts(&b, "{\"error\":\"dial failed\",\"detail\":");
        buf_json_str(&b, err, strlen(err));
        buf_putc(&b, '}');
        print_line(&b);
        buf_free(&b);
        cfg_free(options);
        return rv == ERR_INVALID ? 2 : 1;
    }
    rc = k == 0 ? cmd_batch(sock) : k == 1 ? cmd_query(sock) : k == 2 ? cmd_garbage(sock) : cmd_bench(sock);
    nng_close(sock);
    cfg_free(options);
    return rc;
}
