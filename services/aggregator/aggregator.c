/* aggregator.c: per-partition offset ranges, delta tables and frozen batches, and what to do with
 * each writer reply. No I/O: main.c performs the returned actions. Invariant per partition: the
 * frozen batch covers [f.from, f.to) and the live table covers [f.to, next); they are never merged,
 * so a batch the writer applied is never counted twice. */
#include "services/aggregator/aggregator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "services/aggregator/keytab.h"
#include "services/aggregator/rsvpwire.h"

typedef struct part {
    int32_t id;
    int64_t from;    /* range start of the live table; -1 = nothing stored yet */
    int64_t next;    /* last consumed offset + 1; -1 = nothing consumed and nothing stored */
    int64_t msgs;    /* offsets consumed in the live range (decode errors included) */
    int64_t counted; /* sum of deltas in the live range */
    int64_t newest_ingest, oldest_ingest; /* 0 = none */
    keytab *tab;
    /* the frozen batch, if has_frozen */
    int has_frozen;
    int64_t f_from, f_to, f_msgs;
    buf frozen; /* packed WriterRequest */
    int reread; /* a message was refused: take none until the caller re-read from next */
    int paused; /* the caller's consumer state */
    int64_t hold_until;
    /* rejection search (agg_on_reply) */
    int rejected;
    int64_t suspect_to, bad_offset;
    size_t cap;
    unsigned holds;
    char error[200];
} part;

/* One message's key, decoded and encoded ahead of counting (agg_consume_many). */
typedef struct prep {
    part *p;          /* its partition; NULL = not assigned */
    int rc;           /* rsvpwire_key's status */
    size_t off, klen; /* the encoded key: keys.data + off */
    uint32_t hash;
    int64_t d;      /* what it adds: 0 for a NULL response (the key still exists) */
    int64_t ingest; /* 0 = none */
} prep;

struct agg {
    char *topic;
    char *sender;
    size_t max_keys;
    size_t max_bytes;
    part **parts;
    size_t nparts, capparts;
    part *inflight;   /* partition whose batch is in flight */
    int inflight_any; /* a request is in flight (its partition may have been revoked) */
    size_t next_send; /* where agg_next_request starts looking: partitions take turns */
    buf scratch;      /* rows of the batch being frozen */
    buf keys;         /* encoded keys of the messages being counted */
    prep *preps;
    size_t cappreps;
    agg_stats stats;
};

static const char *const result_names[AGG_NRES] = {
    "ok", "stale_applied", "stale", "retry", "timeout", "transport", "error", "dropped",
};

const char *agg_result_name(agg_result r)
{
    return (unsigned)r < AGG_NRES ? result_names[r] : "unknown";
}

static const char *const trigger_names[AGG_NTRIG] = {"interval", "max_keys", "max_bytes", "shutdown",
                                                     "bisect"};

const char *agg_trigger_name(agg_trigger t)
{
    return (unsigned)t < AGG_NTRIG ? trigger_names[t] : "unknown";
}

agg *agg_new(const char *topic, const char *sender, size_t max_batch_keys, size_t max_batch_bytes)
{
    agg *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->topic = strdup(topic);
    a->sender = strdup(sender ? sender : "");
    if (!a->topic || !a->sender) {
        agg_free(a);
        return NULL;
    }
    a->max_keys = max_batch_keys ? max_batch_keys : (size_t)-1;
    a->max_bytes = max_batch_bytes ? max_batch_bytes : (size_t)-1;
    return a;
}

static void part_free(part *p)
{
    if (!p)
        return;
    keytab_free(p->tab);
    buf_free(&p->frozen);
    free(p);
}

void agg_free(agg *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nparts; i++)
        part_free(a->parts[i]);
    free(a->parts);
    buf_free(&a->scratch);
    buf_free(&a->keys);
    free(a->preps);
    free(a->topic);
    free(a->sender);
    free(a);
}

static int capped(const part *p)
{
    return p->cap && (size_t)p->msgs >= p->cap;
}

static int full(const agg *a, const part *p)
{
    return keytab_count(p->tab) >= a->max_keys || keytab_key_bytes(p->tab) >= a->max_bytes || capped(p);
}

/* Takes no message now: the caller pauses it. */
static int blocked(const agg *a, const part *p)
{
    return (p->has_frozen && full(a, p)) || p->hold_until != 0;
}

static void end_search(part *p)
{
    p->rejected = 0;
    p->suspect_to = 0;
    p->bad_offset = -1;
    p->cap = 0;
    p->holds = 0;
    p->error[0] = '\0';
    p->hold_until = 0;
}

static part *find(const agg *a, int32_t id)
{
    for (size_t i = 0; i < a->nparts; i++)
        if (a->parts[i]->id == id)
            return a->parts[i];
    return NULL;
}

/* Start an empty live range at `from` (deltas and ingest times cleared). */
static void open_range(part *p, int64_t from)
{
    keytab_reset(p->tab);
    p->from = from;
    p->next = from;
    p->msgs = p->counted = 0;
    p->newest_ingest = p->oldest_ingest = 0;
}

/* Past this capacity a used batch buffer (the packed body, a partition's frozen copy) is given back
 * rather than kept: a catch-up's batches reach MAX_BATCH_BYTES and more, the usual ones a few
 * hundred KB, and a kept buffer would pin the largest batch ever sent for good. Past BUF_SMALL it
 * is given back too when this use filled less than a quarter of it: after a catch-up's big batch
 * the next usual one frees it (the soak's aggregators otherwise kept ~1 MB per partition and
 * buffer after their first catch-up). */
#define BUF_KEEP  ((size_t)1 << 20)
#define BUF_SMALL ((size_t)256 << 10)

static void buf_done(buf *b)
{
    if (b->cap > BUF_KEEP || (b->cap > BUF_SMALL && b->len < b->cap / 4))
        buf_free(b);
    else
        buf_reset(b);
}

/* Drop everything unwritten of p (live table and frozen batch); count what was lost. */
static void drop_state(agg *a, part *p)
{
    a->stats.discarded_msgs += (uint64_t)p->msgs + (p->has_frozen ? (uint64_t)p->f_msgs : 0);
    p->has_frozen = 0;
    buf_done(&p->frozen);
    if (a->inflight == p)
        a->inflight = NULL;
}

int agg_assign(agg *a, int32_t partition, int64_t stored_next)
{
    part *p = find(a, partition);
    if (!p) {
        if (a->nparts == a->capparts) {
            size_t nc = a->capparts ? a->capparts * 2 : 8;
            part **np = realloc(a->parts, nc * sizeof *np);
            if (!np)
                return ERR_NOMEM;
            a->parts = np;
            a->capparts = nc;
        }
        p = calloc(1, sizeof *p);
        if (!p || !(p->tab = keytab_new())) {
            free(p);
            return ERR_NOMEM;
        }
        p->id = partition;
        end_search(p);
        a->parts[a->nparts++] = p;
    } else {
        drop_state(a, p);
    }
    open_range(p, stored_next < 0 ? -1 : stored_next);
    p->reread = 0; /* the caller positions its consumer at stored_next */
    return 0;
}

void agg_revoke(agg *a, int32_t partition)
{
    for (size_t i = 0; i < a->nparts; i++) {
        part *p = a->parts[i];
        if (p->id != partition)
            continue;
        drop_state(a, p);
        a->parts[i] = a->parts[--a->nparts];
        part_free(p);
        return;
    }
}

int agg_assigned(const agg *a, int32_t partition)
{
    return find(a, partition) != NULL;
}

size_t agg_partitions(const agg *a, int32_t *out, size_t cap)
{
    for (size_t i = 0; i < a->nparts && i < cap; i++)
        out[i] = a->parts[i]->id;
    return a->nparts;
}

/* Decode a payload and append its encoded key to a->keys. 0 or ERR_NOMEM (a decode error is
 * pr->rc, not a failure). */
static int prepare(agg *a, const void *payload, size_t len, prep *pr)
{
    keyview k;
    char timebuf[24];
    pr->rc = rsvpwire_key(payload, len, &k, timebuf, &pr->ingest);
    if (pr->rc)
        return 0;
    /* count(response) of the reference: a NULL response creates the key but adds 0 */
    pr->d = k.str[KEY_RESPONSE] ? 1 : 0;
    if (buf_reserve(&a->keys, keytab_encoded_max(&k)))
        return ERR_NOMEM;
    unsigned char *key = (unsigned char *)a->keys.data + a->keys.len;
    pr->off = a->keys.len;
    pr->klen = keytab_encode(&k, key);
    pr->hash = keytab_hash(key, pr->klen);
    a->keys.len += pr->klen;
    return 0;
}

/* agg_consume's bookkeeping for one prepared message of partition pr->p. */
static int consume(agg *a, int64_t offset, const prep *pr)
{
    part *p = pr->p;
    if (p->next >= 0 && offset < p->next) {
        a->stats.duplicates++;
        return ERR_STALE;
    }
    /* The table is full and its predecessor is still in flight (counting more would make the next
     * batch exceed max_keys, and the writer's row limit), or the partition is held, or it refused an
     * earlier message: leave the message uncounted and the range end where it is. Every later message
     * is refused too until the caller has sought back to p->next (agg_rewound), whatever comes first,
     * the writer's reply or the caller's pause: counting a later one would make the range skip this. */
    if (p->reread || blocked(a, p)) {
        p->reread = 1;
        a->stats.deferred++;
        return ERR_RANGE;
    }
    /* Full with nothing in flight (its batch was just acknowledged): cut the batch before this
     * message, so no batch ever holds more than max_keys keys. */
    if (!p->has_frozen && full(a, p) && agg_freeze(a, 0) < 0)
        return ERR_NOMEM;
    a->stats.consumed++;
    int rc = 0;
    if (pr->rc) {
        a->stats.decode_errors++;
        rc = ERR_INVALID;
    } else {
        const unsigned char *key = (const unsigned char *)a->keys.data + pr->off;
        if (keytab_add_encoded(p->tab, key, pr->klen, pr->hash, pr->d) != 0) {
            a->stats.consumed--;
            return ERR_NOMEM;
        }
        p->counted += pr->d;
        if (pr->ingest > 0) {
            if (!p->newest_ingest || pr->ingest > p->newest_ingest)
                p->newest_ingest = pr->ingest;
            if (!p->oldest_ingest || pr->ingest < p->oldest_ingest)
                p->oldest_ingest = pr->ingest;
        }
    }
    p->msgs++;
    p->next = offset + 1;
    return rc;
}

int agg_consume(agg *a, int32_t partition, int64_t offset, const void *payload, size_t len)
{
    agg_msg m = {partition, offset, payload, len, 0};
    agg_consume_many(a, &m, 1);
    return m.rc;
}

#define PREFETCH_AHEAD 4 /* messages between loading a record and comparing it */

void agg_consume_many(agg *a, agg_msg *m, size_t n)
{
    size_t i = 0;
    if (n > a->cappreps) {
        prep *np = realloc(a->preps, n * sizeof *np);
        if (!np)
            goto nomem;
        a->preps = np;
        a->cappreps = n;
    }
    /* 1: every key decoded, encoded and hashed, and the table slots they map to on their way into
     * the cache: the lookups below then mostly hit, instead of waiting on memory one by one. */
    buf_reset(&a->keys);
    for (i = 0; i < n; i++) {
        prep *pr = &a->preps[i];
        pr->p = find(a, m[i].partition);
        if (!pr->p)
            continue;
        if (prepare(a, m[i].payload, m[i].len, pr))
            goto nomem;
        if (!pr->rc)
            keytab_prefetch(pr->p->tab, pr->hash, 0);
    }
    /* 2: counted in order, exactly as n calls of agg_consume would */
    for (i = 0; i < n; i++) {
        const prep *ahead = i + PREFETCH_AHEAD < n ? &a->preps[i + PREFETCH_AHEAD] : NULL;
        if (ahead && ahead->p && !ahead->rc)
            keytab_prefetch(ahead->p->tab, ahead->hash, 1);
        const prep *pr = &a->preps[i];
        m[i].rc = pr->p ? consume(a, m[i].offset, pr) : ERR_NOTFOUND;
        if (m[i].rc == ERR_NOMEM) {
            i++;
            goto nomem;
        }
    }
    if (a->keys.cap > (4u << 20))
        buf_free(&a->keys); /* a burst of huge messages: give it back */
    return;
nomem:
    for (; i < n; i++)
        m[i].rc = ERR_NOMEM;
}

static int put_varint(buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    return buf_append(b, tmp, n);
}

/* Append one length-delimited field (tag, length, bytes produced by a protobuf-c packer). */
static int put_message(buf *b, unsigned field, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (put_varint(b, (uint64_t)field << 3 | 2) || put_varint(b, n) || buf_reserve(b, n))
        return ERR_NOMEM;
    protobuf_c_message_pack(m, (uint8_t *)b->data + b->len);
    b->len += n;
    return 0;
}

/* Pack p's live range as WriterRequest{batch} into p->frozen. Protobuf concatenation appends
 * repeated fields, so the batch body is the packed header followed by one field-5 record per row:
 * no array of AggRow is built, each row is packed straight from the table. */
static int pack_batch(agg *a, part *p, size_t *rows_out)
{
    buf *body = &a->scratch;
    buf_reset(body);
    Rsvp__V1__Batch hdr = RSVP__V1__BATCH__INIT;
    hdr.topic = a->topic;
    hdr.partition = p->id;
    hdr.from_offset = p->from;
    hdr.to_offset = p->next;
    hdr.has_messages = 1;
    hdr.messages = p->counted;
    if (p->newest_ingest) {
        hdr.has_newest_ingest_ms = hdr.has_oldest_ingest_ms = 1;
        hdr.newest_ingest_ms = p->newest_ingest;
        hdr.oldest_ingest_ms = p->oldest_ingest;
    }
    hdr.sender = a->sender;
    size_t n = rsvp__v1__batch__get_packed_size(&hdr);
    if (buf_reserve(body, n))
        return ERR_NOMEM;
    body->len = rsvp__v1__batch__pack(&hdr, (uint8_t *)body->data);

    size_t pos = 0, rows = 0;
    keyview k;
    int64_t delta;
    while (keytab_next(p->tab, &pos, &k, &delta)) {
        Rsvp__V1__AggRow row = RSVP__V1__AGG_ROW__INIT;
        row.event_name = (char *)k.str[KEY_EVENT_NAME];
        row.event_url = (char *)k.str[KEY_EVENT_URL];
        row.event_time = (char *)k.str[KEY_EVENT_TIME];
        row.group_name = (char *)k.str[KEY_GROUP_NAME];
        row.group_country = (char *)k.str[KEY_GROUP_COUNTRY];
        row.group_state = (char *)k.str[KEY_GROUP_STATE];
        row.group_city = (char *)k.str[KEY_GROUP_CITY];
        row.has_group_lat = k.has_num[KEY_GROUP_LAT];
        row.group_lat = k.num[KEY_GROUP_LAT];
        row.has_group_lon = k.has_num[KEY_GROUP_LON];
        row.group_lon = k.num[KEY_GROUP_LON];
        row.has_lat = k.has_num[KEY_LAT];
        row.lat = k.num[KEY_LAT];
        row.has_lon = k.has_num[KEY_LON];
        row.lon = k.num[KEY_LON];
        row.response = (char *)k.str[KEY_RESPONSE];
        row.delta = delta;
        if (put_message(body, 5, &row.base))
            return ERR_NOMEM;
        rows++;
    }
    /* WriterRequest field 1 (batch) around the body */
    buf *out = &p->frozen;
    buf_reset(out);
    if (put_varint(out, 1u << 3 | 2) || put_varint(out, body->len) || buf_append(out, body->data, body->len))
        return ERR_NOMEM;
    buf_done(body);
    *rows_out = rows;
    return 0;
}

int agg_freeze(agg *a, int all)
{
    return agg_freeze_for(a, all, AGG_TRIG_INTERVAL);
}

int agg_freeze_for(agg *a, int all, agg_trigger why_all)
{
    int n = 0;
    for (size_t i = 0; i < a->nparts; i++) {
        part *p = a->parts[i];
        if (p->has_frozen || p->msgs == 0)
            continue;
        if (!all && !full(a, p))
            continue;
        agg_trigger why = keytab_count(p->tab) >= a->max_keys        ? AGG_TRIG_MAX_KEYS
                          : keytab_key_bytes(p->tab) >= a->max_bytes ? AGG_TRIG_MAX_BYTES
                          : capped(p)                                ? AGG_TRIG_BISECT
                                                                     : why_all;
        size_t rows = 0;
        if (pack_batch(a, p, &rows)) {
            buf_done(&p->frozen);
            return ERR_NOMEM;
        }
        p->has_frozen = 1;
        p->f_from = p->from;
        p->f_to = p->next;
        p->f_msgs = p->msgs;
        a->stats.rows += rows;
        a->stats.cut[why]++;
        open_range(p, p->next);
        n++;
    }
    return n;
}

int agg_backlogged(const agg *a)
{
    for (size_t i = 0; i < a->nparts; i++)
        if (a->parts[i]->has_frozen && full(a, a->parts[i]))
            return 1;
    return 0;
}

int agg_next_request(agg *a, int32_t *partition, const void **data, size_t *len)
{
    if (a->inflight_any)
        return 0;
    /* Start after the partition sent last: under a backlog a partition refills as soon as it is
     * acknowledged, and a scan from the table's start would send it again and again. */
    for (size_t k = 0; k < a->nparts; k++) {
        size_t i = (a->next_send + k) % a->nparts;
        part *p = a->parts[i];
        if (!p->has_frozen)
            continue;
        a->next_send = i + 1;
        a->inflight = p;
        a->inflight_any = 1;
        *partition = p->id;
        *data = p->frozen.data;
        *len = p->frozen.len;
        return 1;
    }
    return 0;
}

int agg_inflight(const agg *a)
{
    return a->inflight_any;
}

/* The writer rejected p's frozen batch: the first record it rejects lies in [f_from, f_to). Halve the
 * batches until one record is left; that record is the one. */
static void reject(part *p, const char *why, agg_action *out)
{
    out->search = p->rejected ? AGG_SEARCH_NONE : AGG_SEARCH_STARTED;
    if (!p->rejected)
        p->holds = 0;
    p->rejected = 1;
    p->suspect_to = p->f_to;
    snprintf(p->error, sizeof p->error, "%s", why && *why ? why : "(no message)");
    if (p->f_msgs <= 1) {
        p->bad_offset = p->f_to - 1; /* the range holds one message: the last consumed */
        p->cap = 1;
        out->search = AGG_SEARCH_FOUND;
    } else {
        p->bad_offset = -1;
        p->cap = (size_t)(p->f_msgs / 2);
    }
}

static void set_result(agg *a, agg_action *out, agg_act act, agg_result res)
{
    out->act = act;
    out->result = res;
    a->stats.batches[res]++;
}

void agg_on_reply(agg *a, int err, const Rsvp__V1__WriterReply *reply, agg_action *out)
{
    part *p = a->inflight;
    a->inflight = NULL;
    a->inflight_any = 0;
    memset(out, 0, sizeof *out);
    out->partition = p ? p->id : -1;
    if (!p) {
        set_result(a, out, AGG_ACT_NONE, AGG_RES_DROPPED);
        return;
    }
    if (err || !reply) {
        set_result(a, out, AGG_ACT_RETRY, err == ERR_TIMEOUT ? AGG_RES_TIMEOUT : AGG_RES_TRANSPORT);
        return;
    }
    switch (reply->status) {
    case RSVP__V1__WRITER_REPLY__STATUS__OK: set_result(a, out, AGG_ACT_COMMIT, AGG_RES_OK); break;
    case RSVP__V1__WRITER_REPLY__STATUS__STALE:
        if (reply->has_stored_offset && reply->stored_offset == p->f_to) {
            set_result(a, out, AGG_ACT_COMMIT, AGG_RES_STALE_APPLIED);
            break;
        }
        if (p->rejected && reply->has_stored_offset && reply->stored_offset >= p->suspect_to) {
            end_search(p); /* someone else got past the rejected range */
            out->search = AGG_SEARCH_ENDED;
        }
        if (!reply->has_stored_offset) { /* a STALE without the truth: ask again */
            drop_state(a, p);
            open_range(p, p->f_from);
            set_result(a, out, AGG_ACT_REQUERY, AGG_RES_STALE);
            return;
        }
        /* Someone else wrote (or the store moved): our frozen and live deltas are void. */
        a->stats.discarded_msgs += (uint64_t)p->msgs;
        p->has_frozen = 0;
        a->stats.discarded_msgs += (uint64_t)p->f_msgs;
        buf_done(&p->frozen);
        open_range(p, reply->stored_offset < 0 ? -1 : reply->stored_offset);
        out->offset = p->from;
        set_result(a, out, AGG_ACT_SEEK, AGG_RES_STALE);
        return;
    case RSVP__V1__WRITER_REPLY__STATUS__RETRY: set_result(a, out, AGG_ACT_RETRY, AGG_RES_RETRY); return;
    default: /* ERROR or a status this build does not know: do not resend as is */
        reject(p, reply->message, out);
        a->stats.discarded_msgs += (uint64_t)p->msgs + (uint64_t)p->f_msgs;
        p->has_frozen = 0;
        buf_done(&p->frozen);
        open_range(p, p->f_from);
        set_result(a, out, AGG_ACT_REQUERY, AGG_RES_ERROR);
        return;
    }
    /* acknowledged: the live range already starts at f_to */
    if (p->rejected && p->f_to >= p->suspect_to) {
        end_search(p);
        out->search = AGG_SEARCH_ENDED;
    }
    p->has_frozen = 0;
    buf_done(&p->frozen);
    out->offset = p->f_to;
}

size_t agg_live_keys(const agg *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nparts; i++)
        n += keytab_count(a->parts[i]->tab);
    return n;
}

size_t agg_pending_batches(const agg *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nparts; i++)
        n += a->parts[i]->has_frozen ? 1 : 0;
    return n;
}

size_t agg_state_bytes(const agg *a)
{
    size_t n = sizeof *a + a->scratch.cap + a->keys.cap + a->cappreps * sizeof(prep);
    for (size_t i = 0; i < a->nparts; i++)
        n += sizeof(part) + keytab_bytes(a->parts[i]->tab) + a->parts[i]->frozen.cap;
    return n;
}

const agg_stats *agg_get_stats(const agg *a)
{
    return &a->stats;
}

size_t agg_npartitions(const agg *a)
{
    return a->nparts;
}

int agg_part_at(const agg *a, size_t i, agg_part *out)
{
    if (i >= a->nparts)
        return ERR_NOTFOUND;
    const part *p = a->parts[i];
    *out = (agg_part){.partition = p->id,
                      .next = p->next,
                      .blocked = blocked(a, p),
                      .reread = p->reread,
                      .paused = p->paused,
                      .hold_until = p->hold_until,
                      .rejected = p->rejected,
                      .suspect_to = p->suspect_to,
                      .bad_offset = p->bad_offset,
                      .cap = p->cap,
                      .holds = p->holds,
                      .error = p->error};
    return 0;
}

void agg_set_paused(agg *a, int32_t partition, int paused)
{
    part *p = find(a, partition);
    if (p)
        p->paused = paused;
}

void agg_rewound(agg *a, int32_t partition)
{
    part *p = find(a, partition);
    if (p)
        p->reread = 0;
}

void agg_hold(agg *a, int32_t partition, int64_t until_ms)
{
    part *p = find(a, partition);
    if (!p)
        return;
    p->hold_until = until_ms;
    if (until_ms)
        p->holds++;
}

int agg_range(const agg *a, int32_t partition, int64_t *from, int64_t *next, int *has_pending)
{
    const part *p = find(a, partition);
    if (!p)
        return ERR_NOTFOUND;
    *from = p->from;
    *next = p->next;
    *has_pending = p->has_frozen;
    return 0;
}

int agg_pack_offset_query(const char *topic, const int32_t *parts, size_t n, void **out, size_t *len)
{
    Rsvp__V1__OffsetQuery q = RSVP__V1__OFFSET_QUERY__INIT;
    q.topic = (char *)topic;
    q.n_partitions = n;
    q.partitions = (int32_t *)parts;
    Rsvp__V1__WriterRequest req = RSVP__V1__WRITER_REQUEST__INIT;
    req.body_case = RSVP__V1__WRITER_REQUEST__BODY_OFFSET_QUERY;
    req.offset_query = &q;
    size_t sz = rsvp__v1__writer_request__get_packed_size(&req);
    void *p = malloc(sz ? sz : 1);
    if (!p)
        return ERR_NOMEM;
    *len = rsvp__v1__writer_request__pack(&req, p);
    *out = p;
    return 0;
}
