/* simworld.c: the simulated world of simworld.h: logs, group coordinator, consumers, links, the model
 * writer and the invariant. One PRNG, one virtual clock, one event queue: nothing else decides. */
#include "tests/sim/simworld.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/rsvp.pb-c.h"
#include "services/aggregator/aggloop.h"
#include "services/writer/validate.h"

#define NAGG    2
#define MAXP    4
#define MAXKEYS 64

enum { R_DATA, R_MARKER, R_ABORTED };

/* One log entry. Only committed data records are delivered (read_committed). */
typedef struct rec {
    uint8_t kind, resp, poison; /* resp: 0 NULL, 1 yes, 2 no */
    uint16_t key;
} rec;

typedef struct plog {
    rec *r;
    int64_t *counted; /* counted[o]: RSVPs (non-NULL responses) among data records [0, o) */
    size_t n, cap;
    int64_t data_end; /* last data record's offset + 1 (0: none) */
} plog;

/* A request on a link, shared by the events that carry it. */
typedef struct req {
    uint64_t id;
    int agg, gen, chan;
    uint8_t *data;
    size_t len;
    int refs;
} req;

enum { EV_PROCESS, EV_REPLY, EV_LOST_REVOKE, EV_DB_UP };

typedef struct event {
    int64_t t;
    uint64_t seq;
    int type;
    req *rq;        /* PROCESS, REPLY */
    uint8_t *reply; /* REPLY: packed WriterReply */
    size_t rlen;
    int agg, part, gen; /* LOST_REVOKE */
} event;

typedef struct chan {
    uint64_t id; /* outstanding request, 0 none */
    int64_t deadline;
    int done;
    uint8_t *reply;
    size_t rlen;
} chan;

enum { N_ASSIGN, N_REVOKE };
typedef struct note {
    int type, part, then_assign_to; /* REVOKE of a normal move: the next owner (-1 none) */
} note;

typedef struct cpart {
    int assigned, paused, sought;
    int64_t pos, pre_seek;
} cpart;

typedef struct sagg {
    int alive, gen, idx;
    aggloop *l;
    cpart cp[MAXP];
    note notes[64];
    int nnotes;
    int burst;
    chan ch[WLINK_NCHAN];
    char sender[16];
    simworld *w;
} sagg;

struct simworld {
    uint64_t rng, trace, seq, step;
    int64_t now;
    int nparts, nkeys;
    plog logs[MAXP];
    /* the model writer's store */
    int64_t stored[MAXP], store_msgs[MAXP];
    int64_t counts[MAXKEYS][3];
    int db_down_until_set;
    int64_t db_up_at;
    int poison_ok; /* the operator fixed what made the database reject poison records */
    /* coordinator */
    int owner[MAXP], moving[MAXP];
    sagg a[NAGG];
    event *ev;
    size_t nev, capev;
    uint64_t next_req;
    int faults; /* 0 in the convergence phase */
    /* this seed's knobs */
    size_t max_keys;
    int64_t trigger_ms, timeout_ms, backoff_base, backoff_max;
    int64_t wall_base, trigger_offset_ms; /* the aggregators' wall clock is now + wall_base */
    int p_lose_req, p_lose_reply, p_dup, p_crash_commit, p_3567, p_poison, max_delay;
    sim_result *res;
};

/* ---- determinism: one PRNG, one trace ---- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(simworld *w)
{
    w->rng = mix(w->rng);
    return w->rng;
}

static int64_t below(simworld *w, int64_t n)
{
    return n > 0 ? (int64_t)(rnd(w) % (uint64_t)n) : 0;
}

static int chance(simworld *w, int percent)
{
    return below(w, 1000) < percent; /* per mille */
}

static void trace(simworld *w, uint64_t a, uint64_t b)
{
    w->trace = mix(w->trace ^ mix(a * 31 + b));
}

static void fail(simworld *w, const char *fmt, ...)
{
    if (w->res->failed)
        return;
    w->res->failed = 1;
    int n = snprintf(w->res->why, sizeof w->res->why, "step %llu, t=%lld ms: ", (unsigned long long)w->step,
                     (long long)w->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->res->why + n, sizeof w->res->why - (size_t)n, fmt, ap);
    va_end(ap);
}

/* ---- the input: the one place a simulated record becomes an rsvp.v1.Rsvp ---- */

/* sim_payload: the packed Rsvp of record r into out (cap bytes); its length. The key is event_name
 * "e<key>" (a poison record: preceded by a 0xff byte, which is not UTF-8) and the response. Follow a
 * change of the key's protobuf fields here. */
static size_t sim_payload(const rec *r, uint8_t *out, size_t cap)
{
    char name[16];
    snprintf(name, sizeof name, "%se%u", r->poison ? "\xff" : "", (unsigned)r->key);
    Rsvp__V1__Event e = RSVP__V1__EVENT__INIT;
    e.event_name = name;
    e.has_time = 1;
    e.time = 1490439600000;
    Rsvp__V1__Rsvp m = RSVP__V1__RSVP__INIT;
    m.event = &e;
    if (r->resp) {
        m.has_response = 1;
        m.response = r->resp == 1 ? RSVP__V1__RESPONSE__RESPONSE_YES : RSVP__V1__RESPONSE__RESPONSE_NO;
    }
    size_t n = rsvp__v1__rsvp__get_packed_size(&m);
    return n <= cap ? rsvp__v1__rsvp__pack(&m, out) : 0;
}

/* The key of a row the model writer stores: -1 if it is not one of ours. */
static int row_key(const Rsvp__V1__AggRow *row, int *resp)
{
    const char *s = row->event_name;
    if (!s)
        return -1;
    if ((unsigned char)*s == 0xff)
        s++;
    if (*s != 'e')
        return -1;
    int k = atoi(s + 1);
    if (k < 0 || k >= MAXKEYS)
        return -1;
    *resp = !row->response                      ? 0
            : strcmp(row->response, "yes") == 0 ? 1
            : strcmp(row->response, "no") == 0  ? 2
                                                : -1;
    return *resp < 0 ? -1 : k;
}

/* ---- logs ---- */

static void log_append(simworld *w, int p, rec r)
{
    plog *g = &w->logs[p];
    if (g->n + 1 >= g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->r = realloc(g->r, g->cap * sizeof *g->r);
        g->counted = realloc(g->counted, (g->cap + 1) * sizeof *g->counted);
        if (!g->r || !g->counted)
            abort();
        if (g->n == 0)
            g->counted[0] = 0;
    }
    g->r[g->n] = r;
    g->counted[g->n + 1] = g->counted[g->n] + (r.kind == R_DATA && r.resp ? 1 : 0);
    g->n++;
    if (r.kind == R_DATA) {
        g->data_end = (int64_t)g->n;
        w->res->records++;
    }
}

/* A producer transaction: k records, then its commit or abort marker (aborted records leave gaps). */
static void produce(simworld *w)
{
    int p = (int)below(w, w->nparts), k = 1 + (int)below(w, 8), aborted = chance(w, 100);
    for (int i = 0; i < k; i++) {
        rec r = {aborted ? R_ABORTED : R_DATA, (uint8_t)below(w, 3), 0, (uint16_t)below(w, w->nkeys)};
        r.poison = !aborted && w->faults && chance(w, w->p_poison);
        log_append(w, p, r);
    }
    log_append(w, p, (rec){R_MARKER, 0, 0, 0});
    trace(w, 1, (uint64_t)p * 100 + (uint64_t)k);
}

/* ---- events ---- */

static void push(simworld *w, event e)
{
    if (w->nev == w->capev) {
        w->capev = w->capev ? w->capev * 2 : 64;
        if (!(w->ev = realloc(w->ev, w->capev * sizeof *w->ev)))
            abort();
    }
    e.seq = ++w->seq;
    w->ev[w->nev++] = e;
}

static void req_unref(req *r)
{
    if (r && --r->refs == 0) {
        free(r->data);
        free(r);
    }
}

static uint8_t *pack_reply(const Rsvp__V1__WriterReply *rep, size_t *len)
{
    *len = rsvp__v1__writer_reply__get_packed_size(rep);
    uint8_t *b = malloc(*len ? *len : 1);
    if (!b)
        abort();
    rsvp__v1__writer_reply__pack(rep, b);
    return b;
}

/* The reply travels back unless lost; late or stale ones are dropped at the link, as nng's REQ does. */
static void send_reply(simworld *w, req *rq, const Rsvp__V1__WriterReply *rep)
{
    if (w->faults && chance(w, w->p_lose_reply))
        return;
    event e = {.t = w->now + below(w, w->max_delay + 1), .type = EV_REPLY, .rq = rq};
    e.reply = pack_reply(rep, &e.rlen);
    rq->refs++;
    push(w, e);
}

/* The writer's offset check and the invariant at the moment a batch is applied: its rows must equal
 * a direct count of the partition's records in [from, to). */
static void writer_batch(simworld *w, req *rq, const Rsvp__V1__Batch *b)
{
    Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
    const char *why = NULL;
    if (validate_batch(b, 1000000, (int64_t)1 << 53, &why) != VR_OK) {
        int poison = strstr(why, "UTF-8") != NULL;
        if (!poison)
            fail(w, "the writer rejects a batch that has no poison record: %s", why);
        if (!poison || !w->poison_ok) {
            rep.status = RSVP__V1__WRITER_REPLY__STATUS__ERROR;
            rep.message = (char *)why;
            w->res->rejections++;
            send_reply(w, rq, &rep);
            return;
        }
    }
    int p = b->partition;
    if (p < 0 || p >= w->nparts) {
        fail(w, "batch of unknown partition %d", p);
        return;
    }
    int64_t st = w->stored[p];
    if (!(b->from_offset == -1 ? st == -1 : st == b->from_offset)) {
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__STALE;
        rep.has_stored_offset = 1;
        rep.stored_offset = st;
        w->res->stale++;
        send_reply(w, rq, &rep);
        return;
    }
    /* invariant: the batch counts exactly the records of its range */
    const plog *g = &w->logs[p];
    int64_t from = b->from_offset < 0 ? 0 : b->from_offset;
    if (b->to_offset > (int64_t)g->n) {
        fail(w, "batch p%d [%lld, %lld) beyond the log end %zu", p, (long long)b->from_offset,
             (long long)b->to_offset, g->n);
        return;
    }
    int64_t direct[MAXKEYS][3], rows[MAXKEYS][3];
    memset(direct, 0, sizeof direct);
    memset(rows, 0, sizeof rows);
    for (int64_t o = from; o < b->to_offset; o++)
        if (g->r[o].kind == R_DATA && g->r[o].resp)
            direct[g->r[o].key][g->r[o].resp]++;
    for (size_t i = 0; i < b->n_rows; i++) {
        int resp, k = row_key(b->rows[i], &resp);
        if (k < 0) {
            fail(w, "batch p%d: a row of no key of ours", p);
            return;
        }
        rows[k][resp] += b->rows[i]->delta;
    }
    for (int k = 0; k < MAXKEYS; k++)
        for (int r = 0; r < 3; r++)
            if (rows[k][r] != direct[k][r]) {
                fail(w, "batch p%d [%lld, %lld) from %s counts key e%d/%d as %lld, the records say %lld", p,
                     (long long)b->from_offset, (long long)b->to_offset, b->sender ? b->sender : "?", k, r,
                     (long long)rows[k][r], (long long)direct[k][r]);
                return;
            }
    if (b->has_messages && b->messages != g->counted[b->to_offset] - g->counted[from]) {
        fail(w, "batch p%d [%lld, %lld): messages %lld, the records say %lld", p, (long long)b->from_offset,
             (long long)b->to_offset, (long long)b->messages,
             (long long)(g->counted[b->to_offset] - g->counted[from]));
        return;
    }
    for (int k = 0; k < MAXKEYS; k++)
        for (int r = 0; r < 3; r++)
            w->counts[k][r] += rows[k][r];
    w->store_msgs[p] += g->counted[b->to_offset] - g->counted[from];
    w->stored[p] = b->to_offset;
    w->res->batches++;
    trace(w, 2, (uint64_t)p << 40 | (uint64_t)b->to_offset);
    if (w->faults && chance(w, w->p_crash_commit)) { /* committed, then the writer died: no reply */
        w->db_up_at = w->now + 1 + below(w, 300);
        return;
    }
    rep.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
    rep.has_batch_id = 1;
    rep.batch_id = (int64_t)w->res->batches;
    send_reply(w, rq, &rep);
}

static void writer_process(simworld *w, req *rq)
{
    Rsvp__V1__WriterReply rep = RSVP__V1__WRITER_REPLY__INIT;
    if (w->now < w->db_up_at) { /* database down, or the writer restarting */
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__RETRY;
        rep.message = "database unavailable";
        send_reply(w, rq, &rep);
        return;
    }
    Rsvp__V1__WriterRequest *r = rsvp__v1__writer_request__unpack(NULL, rq->len, rq->data);
    if (!r) {
        fail(w, "a request that does not decode");
        return;
    }
    if (r->body_case == RSVP__V1__WRITER_REQUEST__BODY_BATCH) {
        writer_batch(w, rq, r->batch);
    } else if (r->body_case == RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY) {
        const Rsvp__V1__OffsetQuery *q = r->offset_query;
        Rsvp__V1__PartitionOffset po[MAXP + 1], *pp[MAXP + 1];
        size_t n = 0;
        for (size_t i = 0; i < q->n_partitions && n <= MAXP; i++) {
            rsvp__v1__partition_offset__init(&po[n]);
            po[n].partition = q->partitions[i];
            po[n].next_offset = q->partitions[i] < w->nparts ? w->stored[q->partitions[i]] : -1;
            pp[n] = &po[n];
            n++;
        }
        rep.status = RSVP__V1__WRITER_REPLY__STATUS__OK;
        rep.n_offsets = n;
        rep.offsets = pp;
        send_reply(w, rq, &rep);
    } else {
        fail(w, "a request without a body");
    }
    rsvp__v1__writer_request__free_unpacked(r, NULL);
}

static void deliver_note(sagg *g, note n)
{
    if (g->nnotes < (int)(sizeof g->notes / sizeof g->notes[0]))
        g->notes[g->nnotes++] = n;
}

static void run_event(simworld *w, event *e)
{
    trace(w, 3 + (uint64_t)e->type, e->rq ? e->rq->id : (uint64_t)e->part);
    switch (e->type) {
    case EV_PROCESS: writer_process(w, e->rq); break;
    case EV_REPLY: {
        sagg *g = &w->a[e->rq->agg];
        chan *c = &g->ch[e->rq->chan];
        if (g->alive && g->gen == e->rq->gen && c->id == e->rq->id && !c->done && w->now < c->deadline) {
            c->done = 1;
            c->reply = e->reply;
            c->rlen = e->rlen;
            e->reply = NULL;
        }
        break;
    }
    case EV_LOST_REVOKE: {
        sagg *g = &w->a[e->agg];
        if (g->alive && g->gen == e->gen)
            deliver_note(g, (note){N_REVOKE, e->part, -1});
        else
            w->moving[e->part] = 0;
        break;
    }
    default: break;
    }
    free(e->reply);
    req_unref(e->rq);
}

/* Run every event due by t (in time, then creation order), then set the clock to t. */
static void advance(simworld *w, int64_t t)
{
    for (;;) {
        size_t best = w->nev;
        for (size_t i = 0; i < w->nev; i++)
            if (w->ev[i].t <= t && (best == w->nev || w->ev[i].t < w->ev[best].t ||
                                    (w->ev[i].t == w->ev[best].t && w->ev[i].seq < w->ev[best].seq)))
                best = i;
        if (best == w->nev)
            break;
        event e = w->ev[best];
        w->ev[best] = w->ev[--w->nev];
        if (e.t > w->now)
            w->now = e.t;
        run_event(w, &e);
    }
    if (t > w->now)
        w->now = t;
}

/* ---- the link (aggloop_writer) ---- */

static int l_start(void *ctx, wlink_chan ci, const void *data, size_t len, int64_t timeout_ms)
{
    sagg *g = ctx;
    simworld *w = g->w;
    chan *c = &g->ch[ci];
    if (c->id && !c->done && w->now < c->deadline)
        return ERR_INVALID;
    free(c->reply);
    *c = (chan){.id = ++w->next_req, .deadline = w->now + (timeout_ms > 0 ? timeout_ms : 1)};
    req *rq = calloc(1, sizeof *rq);
    uint8_t *copy = malloc(len ? len : 1);
    if (!rq || !copy)
        abort();
    memcpy(copy, data, len);
    *rq = (req){c->id, g->idx, g->gen, (int)ci, copy, len, 1};
    trace(w, 10, c->id);
    int copies = w->faults && chance(w, w->p_dup) ? 2 : 1; /* nng resends a request on a new pipe */
    for (int i = 0; i < copies; i++) {
        if (w->faults && chance(w, w->p_lose_req))
            continue;
        rq->refs++;
        push(w, (event){.t = w->now + below(w, w->max_delay + 1), .type = EV_PROCESS, .rq = rq});
    }
    req_unref(rq);
    return 0;
}

static int l_poll(void *ctx, wlink_chan ci, int64_t wait_ms, Rsvp__V1__WriterReply **reply)
{
    sagg *g = ctx;
    simworld *w = g->w;
    chan *c = &g->ch[ci];
    int64_t until = w->now + (wait_ms > 0 ? wait_ms : 0);
    for (;;) {
        if (!c->id)
            return ERR_NOTFOUND;
        if (c->done) {
            Rsvp__V1__WriterReply *r = rsvp__v1__writer_reply__unpack(NULL, c->rlen, c->reply);
            free(c->reply);
            *c = (chan){0};
            if (!r)
                return ERR_INVALID;
            *reply = r;
            return 0;
        }
        if (w->now >= c->deadline) {
            *c = (chan){0};
            return ERR_TIMEOUT;
        }
        if (w->now >= until)
            return 1;
        advance(w, until < c->deadline ? until : c->deadline);
    }
}

/* ---- the consumer (aggloop_consumer) ---- */

static void deliver_notes(sagg *g)
{
    simworld *w = g->w;
    while (g->nnotes > 0 && g->alive) {
        note n = g->notes[0];
        memmove(g->notes, g->notes + 1, (size_t)--g->nnotes * sizeof *g->notes);
        int32_t id = n.part;
        trace(w, 20 + (uint64_t)n.type, (uint64_t)g->idx * 10 + (uint64_t)id);
        if (n.type == N_ASSIGN) {
            int64_t off;
            aggloop_assign(g->l, &id, 1, &off);
            g->cp[id] = (cpart){.assigned = 1, .pos = off < 0 ? 0 : off};
            w->moving[id] = 0;
        } else {
            aggloop_revoke(g->l, &id, 1);
            g->cp[id].assigned = 0;
            if (n.then_assign_to >= 0 && w->a[n.then_assign_to].alive)
                deliver_note(&w->a[n.then_assign_to], (note){N_ASSIGN, id, -1});
            else
                w->moving[id] = 0;
        }
    }
}

static int c_poll(void *ctx, int wait_ms, aggloop_msg *m)
{
    sagg *g = ctx;
    simworld *w = g->w;
    deliver_notes(g); /* rebalances come from inside poll, before any message */
    if (g->burst == 0) {
        if (wait_ms <= 0)
            return 0;
        advance(w, w->now + below(w, wait_ms + 1));
        deliver_notes(g);
        g->burst = 1 + (int)below(w, 40);
    }
    int cand[MAXP], nc = 0;
    for (int p = 0; p < w->nparts; p++) {
        cpart *c = &g->cp[p];
        if (!c->assigned || c->paused)
            continue;
        while (c->pos < (int64_t)w->logs[p].n && w->logs[p].r[c->pos].kind != R_DATA)
            c->pos++; /* markers and aborted records are never delivered */
        if (c->pos < (int64_t)w->logs[p].n)
            cand[nc++] = p;
    }
    if (nc == 0) {
        g->burst = 0;
        if (wait_ms > 0)
            advance(w, w->now + wait_ms);
        return 0;
    }
    g->burst--;
    int p = cand[below(w, nc)];
    cpart *c = &g->cp[p];
    uint8_t *buf = malloc(64);
    if (!buf)
        abort();
    size_t len = sim_payload(&w->logs[p].r[c->pos], buf, 64);
    *m = (aggloop_msg){p, c->pos, buf, len, buf};
    trace(w, 30, (uint64_t)p << 40 | (uint64_t)c->pos);
    c->pos++;
    return 1;
}

static void c_release(void *ctx, aggloop_msg *m)
{
    (void)ctx;
    free(m->handle);
}

static void c_pause(void *ctx, const int32_t *parts, size_t n, int pause)
{
    sagg *g = ctx;
    for (size_t i = 0; i < n; i++) {
        cpart *c = &g->cp[parts[i]];
        if (!c->assigned)
            continue;
        /* older librdkafka: a pause that follows a seek may restore the pre-seek position (#3567) */
        if (pause && c->sought && g->w->faults && chance(g->w, g->w->p_3567))
            c->pos = c->pre_seek;
        c->sought = 0;
        c->paused = pause;
    }
    trace(g->w, 40 + (uint64_t)pause, n);
}

static void c_seek(void *ctx, const int32_t *parts, const int64_t *offs, size_t n)
{
    sagg *g = ctx;
    for (size_t i = 0; i < n; i++) {
        cpart *c = &g->cp[parts[i]];
        if (!c->assigned)
            continue;
        c->pre_seek = c->pos;
        c->sought = 1;
        c->pos = offs[i] < 0 ? 0 : offs[i];
        trace(g->w, 50, (uint64_t)parts[i] << 40 | (uint64_t)c->pos);
    }
}

static void c_commit(void *ctx, int32_t partition, int64_t offset)
{
    sagg *g = ctx;
    trace(g->w, 60, (uint64_t)partition << 40 | (uint64_t)offset);
}

static int64_t c_lag(void *ctx)
{
    (void)ctx;
    return 0;
}

/* ---- the clock (aggloop_clock) ---- */

static int64_t k_now(void *ctx)
{
    return ((sagg *)ctx)->w->now;
}

static int64_t k_wall(void *ctx)
{
    const simworld *w = ((sagg *)ctx)->w;
    return w->now + w->wall_base;
}

static void k_sleep(void *ctx, int64_t ms)
{
    simworld *w = ((sagg *)ctx)->w;
    advance(w, w->now + ms);
}

static int k_stopping(void *ctx)
{
    (void)ctx;
    return 0;
}

/* ---- aggregators ---- */

static void agg_start(simworld *w, int i)
{
    sagg *g = &w->a[i];
    g->alive = 1;
    g->gen++;
    g->nnotes = 0;
    g->burst = 0;
    memset(g->cp, 0, sizeof g->cp);
    memset(g->ch, 0, sizeof g->ch);
    snprintf(g->sender, sizeof g->sender, "agg%d.%d", i, g->gen);
    aggloop_opts o = {.topic = "t",
                      .sender = g->sender,
                      .max_batch_keys = w->max_keys,
                      .trigger_ms = w->trigger_ms,
                      .trigger_offset_ms = w->trigger_offset_ms,
                      .request_timeout_ms = w->timeout_ms,
                      .backoff_base_ms = w->backoff_base,
                      .backoff_max_ms = w->backoff_max,
                      .backoff_seed = rnd(w) | 1};
    aggloop_consumer c = {g, c_poll, c_release, c_pause, c_seek, c_commit, c_lag};
    aggloop_writer lw = {g, l_start, l_poll};
    aggloop_clock k = {g, k_now, k_sleep, k_stopping, k_wall};
    if (aggloop_new(&g->l, &o, &c, &lw, &k, NULL) != 0)
        abort();
    trace(w, 70, (uint64_t)i);
}

/* kill -9 (graceful: SIGTERM, the final flush first). Its partitions go to the other one. */
static void agg_stop(simworld *w, int i, int graceful)
{
    sagg *g = &w->a[i];
    if (graceful)
        aggloop_flush(g->l);
    aggloop_free(g->l);
    g->l = NULL;
    g->alive = 0;
    for (int c = 0; c < WLINK_NCHAN; c++)
        free(g->ch[c].reply);
    memset(g->ch, 0, sizeof g->ch);
    g->nnotes = 0;
    sagg *o = &w->a[1 - i];
    for (int p = 0; p < w->nparts; p++) {
        if (w->owner[p] != i)
            continue;
        w->owner[p] = o->alive ? 1 - i : -1;
        if (o->alive) {
            deliver_note(o, (note){N_ASSIGN, p, -1});
            w->moving[p] = 1;
        }
    }
    w->res->crashes++;
    trace(w, 80 + (uint64_t)graceful, (uint64_t)i);
}

/* Move partition p to the other aggregator: a normal rebalance (revoke, then assign) or a zombie (the
 * new owner is assigned at once; the old one learns it lost p only later, and keeps working till then). */
static void move(simworld *w)
{
    int p = (int)below(w, w->nparts), from = w->owner[p];
    if (w->moving[p] || !w->a[0].alive || !w->a[1].alive)
        return;
    int to = from < 0 ? (int)below(w, 2) : 1 - from;
    w->moving[p] = 1;
    w->owner[p] = to;
    w->res->rebalances++;
    if (from < 0) {
        deliver_note(&w->a[to], (note){N_ASSIGN, p, -1});
    } else if (chance(w, 400)) {
        deliver_note(&w->a[to], (note){N_ASSIGN, p, -1});
        push(w, (event){.t = w->now + below(w, 2 * w->timeout_ms),
                        .type = EV_LOST_REVOKE,
                        .agg = from,
                        .part = p,
                        .gen = w->a[from].gen});
    } else {
        deliver_note(&w->a[from], (note){N_REVOKE, p, to});
    }
    trace(w, 90, (uint64_t)p);
}

/* The group coordinator settles: every partition not being moved belongs to one live aggregator, whose
 * consumer has it assigned, and to no other (a restarted process joins, a lost member's partitions
 * are handed out again). */
static void reconcile(simworld *w)
{
    for (int p = 0; p < w->nparts; p++) {
        if (w->moving[p])
            continue;
        int o = w->owner[p];
        if (o < 0 || !w->a[o].alive)
            o = w->a[0].alive ? 0 : 1;
        if (!w->a[o].alive)
            continue;
        w->owner[p] = o;
        sagg *other = &w->a[1 - o];
        if (other->alive && other->cp[p].assigned) {
            w->moving[p] = 1;
            deliver_note(other, (note){N_REVOKE, p, w->a[o].cp[p].assigned ? -1 : o});
        } else if (!w->a[o].cp[p].assigned) {
            w->moving[p] = 1;
            deliver_note(&w->a[o], (note){N_ASSIGN, p, -1});
        }
    }
}

/* ---- the invariant ---- */

/* After every step: per partition, the store's RSVPs equal a direct count of the records below its
 * stored offset (each applied batch was checked key by key when it was applied); a partition an
 * aggregator calls stuck is stuck at a poison record. */
static void check(simworld *w)
{
    for (int p = 0; p < w->nparts; p++) {
        int64_t st = w->stored[p], want = st < 0 ? 0 : w->logs[p].counted[st];
        if (w->store_msgs[p] != want)
            fail(w, "p%d: the store holds %lld RSVPs below offset %lld, the records %lld", p,
                 (long long)w->store_msgs[p], (long long)st, (long long)want);
    }
    for (int i = 0; i < NAGG; i++) {
        if (!w->a[i].alive)
            continue;
        const agg *a = aggloop_agg(w->a[i].l);
        size_t n = agg_npartitions(a);
        for (size_t j = 0; j < n; j++) {
            agg_part st;
            if (agg_part_at(a, j, &st) == 0 && st.bad_offset >= 0 &&
                (st.bad_offset >= (int64_t)w->logs[st.partition].n ||
                 !w->logs[st.partition].r[st.bad_offset].poison))
                fail(w, "agg%d calls p%d stuck at offset %lld, which is no poison record", i, st.partition,
                     (long long)st.bad_offset);
        }
    }
}

/* Final: every key of the store equals a direct count over every partition's applied prefix. */
static void check_store(simworld *w)
{
    int64_t direct[MAXKEYS][3];
    memset(direct, 0, sizeof direct);
    for (int p = 0; p < w->nparts; p++)
        for (int64_t o = 0; o < (w->stored[p] < 0 ? 0 : w->stored[p]); o++)
            if (w->logs[p].r[o].kind == R_DATA && w->logs[p].r[o].resp)
                direct[w->logs[p].r[o].key][w->logs[p].r[o].resp]++;
    for (int k = 0; k < MAXKEYS; k++)
        for (int r = 1; r < 3; r++)
            if (direct[k][r] != w->counts[k][r])
                fail(w, "store key e%d/%d = %lld, a direct count of the applied ranges %lld", k, r,
                     (long long)w->counts[k][r], (long long)direct[k][r]);
}

static int converged(const simworld *w)
{
    for (int p = 0; p < w->nparts; p++)
        if (w->logs[p].data_end > 0 && w->stored[p] < w->logs[p].data_end)
            return 0;
    return 1;
}

/* ---- one step ---- */

static void step(simworld *w)
{
    w->step++;
    int64_t roll = below(w, 100);
    int i = (int)below(w, NAGG);
    if (!w->a[i].alive)
        i = 1 - i;
    if (roll < 60 || !w->faults) {
        if (w->a[i].alive && aggloop_step(w->a[i].l) != 0)
            fail(w, "agg%d: aggloop_step failed", i);
    } else if (roll < 80) {
        produce(w);
    } else if (roll < 84) {
        move(w);
    } else if (roll < 85) {
        int busy = 0;
        for (int p = 0; p < w->nparts; p++)
            busy |= w->moving[p];
        if (!w->a[i].alive || busy)
            ;
        else if (w->a[1 - i].alive)
            agg_stop(w, i, chance(w, 300));
    } else if (roll < 87) {
        if (!w->a[1 - i].alive) {
            agg_start(w, 1 - i);
            trace(w, 71, 0);
        }
        reconcile(w);
    } else if (roll < 96) {
        advance(w, w->now + 1 + below(w, 60));
    } else if (roll < 97) {
        w->db_up_at = w->now + 1 + below(w, 500);
    } else if (roll < 98 && w->p_poison) {
        w->poison_ok = chance(w, 200); /* the operator's fix, or a new cause */
    } else {
        advance(w, w->now + 1);
    }
    check(w);
}

int sim_run(uint64_t seed, uint64_t steps, sim_result *out)
{
    memset(out, 0, sizeof *out);
    simworld *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->res = out;
    w->rng = seed * 0x2545f4914f6cdd1dull + 1;
    w->trace = seed;
    w->faults = 1;
    w->nparts = 1 + (int)below(w, MAXP);
    w->nkeys = 2 + (int)below(w, MAXKEYS - 2);
    static const size_t keys[] = {1, 2, 3, 5, 8, 30, 100000};
    w->max_keys = keys[below(w, 7)];
    w->trigger_ms = 5 + below(w, 300);
    /* aligned triggers: the wall clock and offset come from the seed, not from the PRNG, so each
     * seed draws the same knobs and faults as before */
    w->wall_base = (int64_t)(seed % 100003);
    w->trigger_offset_ms = (int64_t)(seed / 7 % 400);
    w->timeout_ms = 20 + below(w, 300);
    w->backoff_base = 1 + below(w, 20);
    w->backoff_max = w->backoff_base + below(w, 500);
    w->max_delay = (int)below(w, 2) ? (int)below(w, 40) : (int)below(w, (int)w->timeout_ms * 2);
    w->p_lose_req = (int)below(w, 40);
    w->p_lose_reply = (int)below(w, 60);
    w->p_dup = (int)below(w, 60);
    w->p_crash_commit = (int)below(w, 30);
    w->p_3567 = (int)below(w, 300);
    w->p_poison = below(w, 4) == 0 ? 1 + (int)below(w, 3) : 0;
    for (int p = 0; p < MAXP; p++) {
        w->stored[p] = -1;
        w->owner[p] = -1;
        w->a[0].idx = 0;
    }
    for (int i = 0; i < NAGG; i++) {
        w->a[i].idx = i;
        w->a[i].w = w;
        agg_start(w, i);
    }
    for (int p = 0; p < w->nparts; p++) { /* the first rebalance: everything to one aggregator */
        w->owner[p] = 0;
        w->moving[p] = 1;
        deliver_note(&w->a[0], (note){N_ASSIGN, p, -1});
    }
    for (uint64_t s = 0; s < steps && !out->failed; s++)
        step(w);
    /* convergence: faults stop, the poison is accepted, every partition gets an owner */
    w->faults = 0;
    w->poison_ok = 1;
    if (w->max_delay > w->timeout_ms / 4) /* a healthy writer answers within the timeout */
        w->max_delay = (int)(w->timeout_ms / 4);
    w->db_up_at = 0;
    for (int i = 0; i < NAGG; i++)
        if (!w->a[i].alive)
            agg_start(w, i);
    /* liveness: no partition may go 20,000 steps without progress (a slow seed, one key per batch,
     * just takes longer) */
    uint64_t bound = 20000 + 20 * out->records, s = 0, idle = 0;
    int64_t last = -1;
    for (; s < bound && idle < 20000 && !out->failed && !(converged(w) && s > 200); s++) {
        step(w);
        if (s % 50 == 0) { /* zombies' revokes, lost replies: time passes; the group settles */
            advance(w, w->now + w->timeout_ms);
            reconcile(w);
        }
        int64_t sum = 0;
        for (int p = 0; p < w->nparts; p++)
            sum += w->stored[p];
        idle = sum == last ? idle + 1 : 0;
        last = sum;
    }
    if (!out->failed && !converged(w)) {
        char state[2048] = "";
        size_t n = 0;
        for (int p = 0; p < w->nparts; p++)
            n += (size_t)snprintf(state + n, sizeof state - n, " p%d stored %lld of %lld (owner %d);", p,
                                  (long long)w->stored[p], (long long)w->logs[p].data_end, w->owner[p]);
        for (int i = 0; i < NAGG; i++) {
            const agg *a = aggloop_agg(w->a[i].l);
            for (size_t j = 0; j < agg_npartitions(a); j++) {
                agg_part st;
                int64_t f, nx;
                int pend;
                agg_part_at(a, j, &st);
                agg_range(a, st.partition, &f, &nx, &pend);
                const cpart *c = &w->a[i].cp[st.partition];
                n += (size_t)snprintf(
                    state + n, sizeof state - n,
                    " [agg%d p%d from %lld next %lld pend %d blk %d rr %d paused %d/%d hold %lld "
                    "rej %d pos %lld assigned %d inflight %d]",
                    i, st.partition, (long long)f, (long long)nx, pend, st.blocked, st.reread, st.paused,
                    c->paused, (long long)st.hold_until, st.rejected, (long long)c->pos, c->assigned,
                    agg_inflight(a));
                if (n >= sizeof state)
                    n = sizeof state - 1;
            }
        }
        fail(w, "no convergence after %llu steps without faults (%llu without progress):%s",
             (unsigned long long)s, (unsigned long long)idle, state);
    }
    check_store(w);
    out->steps = w->step;
    out->trace = w->trace;
    for (int i = 0; i < NAGG; i++) {
        if (w->a[i].alive) {
            out->deferred += agg_get_stats(aggloop_agg(w->a[i].l))->deferred;
            aggloop_free(w->a[i].l);
        }
        for (int c = 0; c < WLINK_NCHAN; c++)
            free(w->a[i].ch[c].reply);
    }
    for (size_t i = 0; i < w->nev; i++) {
        free(w->ev[i].reply);
        req_unref(w->ev[i].rq);
    }
    free(w->ev);
    for (int p = 0; p < MAXP; p++) {
        free(w->logs[p].r);
        free(w->logs[p].counted);
    }
    free(w);
    return out->failed;
}
