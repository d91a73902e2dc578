/* conn.c: the writer link of rsvp-writer-client (see conn.h). */
#include "tools/writer-client/conn.h"

#include <inttypes.h>
#include <stdbool.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int conn_dial(nng_socket *sock, const conn_opts *o, char *err, size_t errlen)
{
    int rv;
    if ((rv = o->raw ? nng_req0_open_raw(sock) : nng_req0_open(sock)) != 0) {
        snprintf(err, errlen, "nng_req0_open: %s", nng_strerror(rv));
        return rv;
    }
    nng_socket_set_ms(*sock, NNG_OPT_RECVTIMEO, (nng_duration)o->timeout_ms);
    nng_socket_set_ms(*sock, NNG_OPT_SENDTIMEO, (nng_duration)o->timeout_ms);
    /* One request, one answer: no automatic resend inside the timeout. */
    nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, (nng_duration)o->timeout_ms + 1000);
    nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, 0);
    char *list = strdup(o->url ? o->url : "");
    if (list == NULL) {
        nng_close(*sock);
        return NNG_ENOMEM;
    }
    int n = 0;
    char *save = NULL;
    rv = 0;
    for (char *u = strtok_r(list, ",", &save); u && rv == 0; u = strtok_r(NULL, ",", &save)) {
        while (*u == ' ')
            u++;
        if (*u == '\0')
            continue;
        nng_dialer d;
        if ((rv = nng_dialer_create(&d, *sock, u)) != 0) {
            snprintf(err, errlen, "%s: %s", u, nng_strerror(rv));
            break;
        }
        if (tls_dialer_setup(d, u, &o->tls, err, errlen) != 0) {
            rv = ERR_INVALID;
            break;
        }
        /* Non-blocking: the request waits (up to the timeout) for a writer still starting. */
        if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
            snprintf(err, errlen, "%s: %s", u, nng_strerror(rv));
        n++;
    }
    free(list);
    if (rv == 0 && n == 0) {
        snprintf(err, errlen, "no writer URL");
        rv = NNG_EADDRINVAL;
    }
    if (rv != 0)
        nng_close(*sock);
    return rv;
}

int conn_msg(nng_socket sock, const void *req, size_t len, nng_msg **out)
{
    static unsigned id;
    bool raw = false;
    nng_msg *m;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0)
        rv = nng_msg_append(m, req, len);
    /* a raw REQ socket leaves the request id to us: any id with the high bit set */
    if (rv == 0 && nng_socket_get_bool(sock, NNG_OPT_RAW, &raw) == 0 && raw)
        rv = nng_msg_header_append_u32(m, 0x80000000u | (++id & 0x7fffffffu));
    if (rv != 0 && m) {
        nng_msg_free(m);
        return rv;
    }
    *out = m;
    return rv;
}

int conn_roundtrip(nng_socket sock, const void *req, size_t len, Rsvp__V1__WriterReply **rep)
{
    nng_msg *m = NULL;
    int rv = conn_msg(sock, req, len, &m);
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

int conn_request(nng_socket sock, const Rsvp__V1__WriterRequest *req, Rsvp__V1__WriterReply **rep)
{
    size_t n = rsvp__v1__writer_request__get_packed_size(req);
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        return ERR_NOMEM;
    rsvp__v1__writer_request__pack(req, p);
    int rv = conn_roundtrip(sock, p, n, rep);
    free(p);
    return rv;
}

int conn_stored_offset(nng_socket sock, const char *topic, int32_t partition, int64_t *out)
{
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = (char *)topic;
    q.n_partitions = 1;
    q.partitions = &partition;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    Rsvp__V1__WriterReply *rep = NULL;
    int rv = conn_request(sock, &req, &rep);
    if (rv != 0)
        return rv;
    rv = -1;
    if (rep->status == RSVP__V1__WRITER_REPLY__STATUS__OK && rep->n_offsets == 1) {
        *out = rep->offsets[0]->next_offset;
        rv = 0;
    }
    rsvp__v1__writer_reply__free_unpacked(rep, NULL);
    return rv;
}

const char *conn_status_name(int st)
{
    switch (st) {
    case RSVP__V1__WRITER_REPLY__STATUS__OK: return "OK";
    case RSVP__V1__WRITER_REPLY__STATUS__STALE: return "STALE";
    case RSVP__V1__WRITER_REPLY__STATUS__RETRY: return "RETRY";
    case RSVP__V1__WRITER_REPLY__STATUS__ERROR: return "ERROR";
    default: return "UNSPECIFIED";
    }
}

int conn_reply_json(buf *b, const Rsvp__V1__WriterReply *r)
{
    int rc = buf_printf(b, "{\"status\":\"%s\"", conn_status_name(r->status));
    if (r->has_batch_id)
        rc |= buf_printf(b, ",\"batch_id\":%" PRId64, r->batch_id);
    if (r->has_stored_offset)
        rc |= buf_printf(b, ",\"stored_offset\":%" PRId64, r->stored_offset);
    if (r->message) {
        rc |= buf_puts(b, ",\"message\":");
        rc |= buf_json_str(b, r->message, strlen(r->message));
    }
    if (r->n_offsets) {
        rc |= buf_puts(b, ",\"offsets\":[");
        for (size_t i = 0; i < r->n_offsets; i++)
            rc |= buf_printf(b, "%s{\"partition\":%d,\"next_offset\":%" PRId64 "}", i ? "," : "",
                             r->offsets[i]->partition, r->offsets[i]->next_offset);
        rc |= buf_putc(b, ']');
    }
    rc |= buf_putc(b, '}');
    return rc ? ERR_NOMEM : 0;
}

int conn_error_json(buf *b, const char *what, int rv)
{
    const char *detail = rv > 0 ? nng_strerror(rv) : rv == ERR_NOMEM ? "out of memory" : "bad reply";
    int rc = buf_puts(b, "{\"error\":");
    rc |= buf_json_str(b, what, strlen(what));
    rc |= buf_puts(b, ",\"detail\":");
    rc |= buf_json_str(b, detail, strlen(detail));
    rc |= buf_putc(b, '}');
    return rc ? ERR_NOMEM : 0;
}
