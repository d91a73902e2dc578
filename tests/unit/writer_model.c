/* writer_model.c: the in-memory database side of the writer for tests (see writer_model.h). Two
 * open-addressing tables (offsets by topic and partition, totals by encoded key) that never
 * shrink; a batch is checked, then staged in full before anything changes, so a refused batch
 * leaves the tables exactly as they were. */
#include "tests/unit/writer_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "services/writer/copy.h"

typedef struct slot {
    char *key; /* NULL: empty */
    size_t klen;
    int64_t value;
} slot;

typedef struct table {
    slot *s;
    size_t cap, n;
} table;

struct writer_model {
    table offsets; /* key: topic NUL partition (4 bytes) */
    table totals;  /* key: the row's COPY tuple without its delta */
    int64_t max_rows, max_offset;
    uint64_t calls, applied;
    int fail_next;
    writer_db inner; /* writer_model_checked: the real database side */
};

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

static slot *find(table *t, const char *k, size_t n, int add)
{
    if (add && (t->n + 1) * 2 > t->cap) {
        table g = {calloc(t->cap ? t->cap * 2 : 64, sizeof(slot)), t->cap ? t->cap * 2 : 64, 0};
        if (!g.s)
            abort();
        for (size_t i = 0; i < t->cap; i++)
            if (t->s[i].key) {
                size_t j = hash(t->s[i].key, t->s[i].klen) & (g.cap - 1);
                while (g.s[j].key)
                    j = (j + 1) & (g.cap - 1);
                g.s[j] = t->s[i];
                g.n++;
            }
        free(t->s);
        *t = g;
    }
    if (t->cap == 0)
        return NULL;
    size_t j = hash(k, n) & (t->cap - 1);
    for (; t->s[j].key; j = (j + 1) & (t->cap - 1))
        if (t->s[j].klen == n && memcmp(t->s[j].key, k, n) == 0)
            return &t->s[j];
    if (!add)
        return NULL;
    t->s[j].key = malloc(n ? n : 1);
    if (!t->s[j].key)
        abort();
    memcpy(t->s[j].key, k, n);
    t->s[j].klen = n;
    t->s[j].value = 0;
    t->n++;
    return &t->s[j];
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->s[i].key);
    free(t->s);
}

/* offset_key: topic NUL partition, malloc'ed (aborts on allocation failure). */
static char *offset_key(const char *topic, int32_t partition, size_t *len)
{
    size_t n = strlen(topic);
    char *k = malloc(n + 5);
    if (!k)
        abort();
    memcpy(k, topic, n + 1);
    memcpy(k + n + 1, &partition, 4);
    *len = n + 5;
    return k;
}

/* The rules of an honest aggregator's batch, written again here (not validate.c's code). */
static void check_rules(const writer_model *m, const Rsvp__V1__Batch *b)
{
    const char *broken = NULL;
    int64_t start = b->from_offset < 0 ? 0 : b->from_offset, sum = 0;
    if (!b->topic || !*b->topic || b->partition < 0)
        broken = "topic or partition";
    else if ((int64_t)b->n_rows > m->max_rows)
        broken = "row count";
    else if (b->from_offset < -1 || b->to_offset > m->max_offset || b->to_offset <= start)
        broken = "offsets";
    else if (!b->has_messages || b->messages < 0 || b->messages > b->to_offset - start)
        broken = "messages";
    for (size_t i = 0; !broken && i < b->n_rows; i++) {
        if (!b->rows[i] || b->rows[i]->delta < 0 || b->rows[i]->delta > b->messages)
            broken = "delta";
        else
            sum += b->rows[i]->delta;
        if (sum > b->messages)
            broken = "sum of deltas";
    }
    if (!broken && sum != b->messages)
        broken = "sum of deltas";
    if (broken) {
        fprintf(stderr, "writer_model: a batch breaking the rules (%s) reached the database\n", broken);
        abort();
    }
}

static int model_apply(void *ctx, const Rsvp__V1__Batch *b, store_result *res)
{
    writer_model *m = ctx;
    memset(res, 0, sizeof *res);
    m->calls++;
    check_rules(m, b);
    if (m->fail_next) {
        int rc = m->fail_next;
        m->fail_next = 0;
        snprintf(res->message, sizeof res->message, "model: injected failure");
        return rc;
    }
    size_t okn;
    char *ok = offset_key(b->topic, b->partition, &okn);
    slot *o = find(&m->offsets, ok, okn, 0);
    int64_t stored = o ? o->value : -1;
    if ((o == NULL && b->from_offset != -1) || (o != NULL && b->from_offset != stored)) {
        free(ok);
        res->stored_offset = stored;
        snprintf(res->message, sizeof res->message, "model: stored offset %lld", (long long)stored);
        return ERR_STALE;
    }
    /* Stage every key first: a key twice is refused before anything changes. */
    buf *keys = calloc(b->n_rows ? b->n_rows : 1, sizeof *keys);
    if (!keys)
        abort();
    int rc = 0;
    for (size_t i = 0; i < b->n_rows; i++) {
        if (copy_append_row(&keys[i], b->rows[i]) != 0)
            abort();
        keys[i].len -= 12; /* the delta field: int32 length and int64 */
        for (size_t j = 0; j < i && rc == 0; j++)
            if (keys[j].len == keys[i].len && memcmp(keys[j].data, keys[i].data, keys[i].len) == 0)
                rc = ERR_INVALID;
    }
    if (rc == 0) {
        for (size_t i = 0; i < b->n_rows; i++)
            find(&m->totals, keys[i].data, keys[i].len, 1)->value += b->rows[i]->delta;
        find(&m->offsets, ok, okn, 1)->value = b->to_offset;
        m->applied++;
        res->batch_id = (int64_t)m->applied;
    } else {
        snprintf(res->message, sizeof res->message, "model: a key twice in one batch");
    }
    for (size_t i = 0; i < b->n_rows; i++)
        buf_free(&keys[i]);
    free(keys);
    free(ok);
    return rc;
}

static int checked_apply(void *ctx, const Rsvp__V1__Batch *b, store_result *res)
{
    writer_model *m = ctx;
    m->calls++;
    check_rules(m, b);
    return m->inner.apply_batch(m->inner.ctx, b, res);
}

static int checked_query(void *ctx, const char *topic, const int32_t *parts, size_t n, int64_t *out,
                         char *msg, size_t cap)
{
    writer_model *m = ctx;
    return m->inner.query_offsets(m->inner.ctx, topic, parts, n, out, msg, cap);
}

writer_db writer_model_checked(writer_model *m, writer_db inner)
{
    m->inner = inner;
    writer_db db = {checked_apply, checked_query, m};
    return db;
}

static int model_query(void *ctx, const char *topic, const int32_t *parts, size_t n, int64_t *out, char *msg,
                       size_t cap)
{
    (void)msg;
    (void)cap;
    for (size_t i = 0; i < n; i++)
        out[i] = writer_model_offset(ctx, topic, parts[i]);
    return 0;
}

writer_model *writer_model_new(int64_t max_rows, int64_t max_offset)
{
    writer_model *m = calloc(1, sizeof *m);
    if (m) {
        m->max_rows = max_rows;
        m->max_offset = max_offset;
    }
    return m;
}

void writer_model_free(writer_model *m)
{
    if (!m)
        return;
    table_free(&m->offsets);
    table_free(&m->totals);
    free(m);
}

writer_db writer_model_db(writer_model *m)
{
    writer_db db = {model_apply, model_query, m};
    return db;
}

static uint64_t table_hash(const table *t)
{
    uint64_t h = t->n; /* order-independent: a sum of per-entry hashes */
    for (size_t i = 0; i < t->cap; i++)
        if (t->s[i].key)
            h += hash(t->s[i].key, t->s[i].klen) * 31 + (uint64_t)t->s[i].value * 0x9e3779b97f4a7c15u;
    return h;
}

uint64_t writer_model_fingerprint(const writer_model *m)
{
    return table_hash(&m->offsets) * 3 + table_hash(&m->totals) * 7 + m->applied;
}

uint64_t writer_model_calls(const writer_model *m)
{
    return m->calls;
}

int64_t writer_model_offset(const writer_model *m, const char *topic, int32_t partition)
{
    size_t n;
    char *k = offset_key(topic, partition, &n);
    slot *o = find((table *)&m->offsets, k, n, 0);
    free(k);
    return o ? o->value : -1;
}

int64_t writer_model_total(const writer_model *m)
{
    int64_t sum = 0;
    for (size_t i = 0; i < m->totals.cap; i++)
        if (m->totals.s[i].key)
            sum += m->totals.s[i].value;
    return sum;
}

void writer_model_fail_next(writer_model *m, int rc)
{
    m->fail_next = rc;
}
