/* keytab.c: the per-partition delta table. A key is encoded into a canonical byte string (null
 * bitmap, normalised doubles, length-prefixed NUL-terminated strings) so that equality is memcmp and
 * the hash is over bytes; records [u32 keylen][i64 delta][key] are appended to one arena and the
 * open-addressing slot array holds {hash32, arena offset + 1}: about 60 bytes per key + strings. */
#include "services/aggregator/keytab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define REC_HDR     12u   /* u32 keylen + i64 delta */
#define MIN_SLOTS   1024u /* power of two */
#define FLAG_STR(i) (1u << (i))
#define FLAG_NUM(i) (1u << (KEY_NSTR + (i))) /* 12 flags: the key's first two bytes */

typedef struct slot {
    uint32_t hash;
    uint32_t off1; /* arena offset + 1; 0 = empty */
} slot;

struct keytab {
    slot *slots;
    size_t nslots; /* power of two */
    size_t count;
    unsigned char *arena;
    size_t alen, acap;
    unsigned char *scratch; /* the key being looked up */
    size_t scap;
};

double keytab_norm_double(double d)
{
    if (d == 0.0)
        return 0.0; /* -0.0 == 0.0 is true: both become +0.0 */
    if (isnan(d))
        return NAN;
    return d;
}

size_t keytab_i64_dec(int64_t v, char out[24])
{
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[24];
    size_t n = sizeof tmp, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) { /* two digits per division */
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (u >= 10) {
        tmp[--n] = pairs[u * 2 + 1];
        tmp[--n] = pairs[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    if (v < 0)
        out[len++] = '-';
    memcpy(out + len, tmp + n, sizeof tmp - n);
    len += sizeof tmp - n;
    out[len] = '\0';
    return len;
}

static void set_str(keyview *k, int i, const char *s)
{
    k->str[i] = s;
    k->str_len[i] = s ? strlen(s) : 0;
}

static void set_num(keyview *k, int i, protobuf_c_boolean has, double v)
{
    k->has_num[i] = has;
    k->num[i] = v;
}

void keytab_key_from_rsvp(const Rsvp__V1__Rsvp *r, keyview *k, char timebuf[24])
{
    memset(k, 0, sizeof *k);
    const Rsvp__V1__Key *x = r->key;
    if (x) {
        set_str(k, KEY_EVENT_NAME, x->event_name);
        set_str(k, KEY_EVENT_URL, x->event_url);
        set_str(k, KEY_EVENT_TIME, x->event_time);
        set_str(k, KEY_GROUP_NAME, x->group_name);
        set_str(k, KEY_GROUP_COUNTRY, x->group_country);
        set_str(k, KEY_GROUP_STATE, x->group_state);
        set_str(k, KEY_GROUP_CITY, x->group_city);
        set_str(k, KEY_RESPONSE, x->response);
        set_num(k, KEY_GROUP_LAT, x->has_group_lat, x->group_lat);
        set_num(k, KEY_GROUP_LON, x->has_group_lon, x->group_lon);
        set_num(k, KEY_LAT, x->has_lat, x->lat);
        set_num(k, KEY_LON, x->has_lon, x->lon);
        return;
    }
    const Rsvp__V1__Event *e = r->event;
    const Rsvp__V1__Group *g = r->group;
    const Rsvp__V1__Venue *v = r->venue;
    if (e) {
        set_str(k, KEY_EVENT_NAME, e->event_name);
        set_str(k, KEY_EVENT_URL, e->event_url);
        if (e->has_time) {
            k->str_len[KEY_EVENT_TIME] = keytab_i64_dec(e->time, timebuf);
            k->str[KEY_EVENT_TIME] = timebuf;
        }
    }
    if (g) {
        set_str(k, KEY_GROUP_NAME, g->group_name);
        set_str(k, KEY_GROUP_COUNTRY, g->group_country);
        set_str(k, KEY_GROUP_STATE, g->group_state);
        set_str(k, KEY_GROUP_CITY, g->group_city);
        set_num(k, KEY_GROUP_LAT, g->has_group_lat, g->group_lat);
        set_num(k, KEY_GROUP_LON, g->has_group_lon, g->group_lon);
    }
    if (v) {
        set_num(k, KEY_LAT, v->has_lat, v->lat);
        set_num(k, KEY_LON, v->has_lon, v->lon);
    }
    if (r->has_response && r->response == RSVP__V1__RESPONSE__RESPONSE_YES)
        set_str(k, KEY_RESPONSE, "yes");
    else if (r->has_response && r->response == RSVP__V1__RESPONSE__RESPONSE_NO)
        set_str(k, KEY_RESPONSE, "no");
}

/* A hash over bytes, 16 at a time with one 64x64->128 multiply each (the wyhash construction;
 * keys are 50-300 bytes, and this is most of the per-message cost of a lookup). */
static uint64_t mum(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    const uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull, k2 = 0x8ebc6af09c88c6e3ull;
    uint64_t h = k0 ^ mum((uint64_t)n ^ k1, k0), a = 0, b = 0;
    while (n > 16) {
        h = mum(load64(p) ^ k1, load64(p + 8) ^ h);
        p += 16;
        n -= 16;
    }
    if (n > 8) { /* 9..16 bytes left: two overlapping words */
        a = load64(p);
        b = load64(p + n - 8);
    } else if (n > 0) {
        memcpy(&a, p, n);
    }
    return mum(k1 ^ n, mum(a ^ k1, b ^ h) ^ k2);
}

static size_t put_varint(unsigned char *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t get_varint(const unsigned char *p, size_t *v)
{
    size_t n = 0, shift = 0, r = 0;
    do {
        r |= (size_t)(p[n] & 0x7f) << shift;
        shift += 7;
    } while (p[n++] & 0x80);
    *v = r;
    return n;
}

static int grow(unsigned char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    /* Double while small; past 16 MiB grow by 25%: glibc moves large blocks with mremap (no
     * copy), and the slack of doubling would otherwise be ~30% of a big table's memory. */
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c += c < (16u << 20) ? c : c / 4;
    unsigned char *np = realloc(*p, c);
    if (!np)
        return ERR_NOMEM;
    *p = np;
    *cap = c;
    return 0;
}

size_t keytab_encoded_max(const keyview *k)
{
    size_t need = 2 + 8 * KEY_NNUM;
    for (int i = 0; i < KEY_NSTR; i++)
        if (k->str[i])
            need += 10 + k->str_len[i] + 1;
    return need;
}

size_t keytab_encode(const keyview *k, unsigned char *p)
{
    size_t n = 2;
    unsigned flags = 0;
    for (int i = 0; i < KEY_NNUM; i++) {
        if (!k->has_num[i])
            continue;
        flags |= FLAG_NUM(i);
        double d = keytab_norm_double(k->num[i]);
        memcpy(p + n, &d, 8);
        n += 8;
    }
    for (int i = 0; i < KEY_NSTR; i++) {
        if (!k->str[i])
            continue;
        flags |= FLAG_STR(i);
        n += put_varint(p + n, k->str_len[i]);
        memcpy(p + n, k->str[i], k->str_len[i]);
        n += k->str_len[i];
        p[n++] = '\0'; /* so keytab_next can hand out C strings (protobuf-c wants them) */
    }
    p[0] = (unsigned char)(flags & 0xff);
    p[1] = (unsigned char)(flags >> 8);
    return n;
}

uint32_t keytab_hash(const unsigned char *key, size_t len)
{
    return (uint32_t)hash_bytes(key, len);
}

keytab *keytab_new(void)
{
    keytab *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->slots = calloc(MIN_SLOTS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->nslots = MIN_SLOTS;
    return t;
}

void keytab_free(keytab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->arena);
    free(t->scratch);
    free(t);
}

/* Double the slot array (load factor stays <= 0.7), rehashing from the stored 32-bit hashes. */
static int rehash(keytab *t)
{
    size_t n = t->nslots * 2;
    slot *ns = calloc(n, sizeof *ns);
    if (!ns)
        return ERR_NOMEM;
    for (size_t i = 0; i < t->nslots; i++) {
        slot s = t->slots[i];
        if (!s.off1)
            continue;
        size_t j = s.hash & (n - 1);
        while (ns[j].off1)
            j = (j + 1) & (n - 1);
        ns[j] = s;
    }
    free(t->slots);
    t->slots = ns;
    t->nslots = n;
    return 0;
}

void keytab_prefetch(const keytab *t, uint32_t h, int record)
{
    const slot *sl = &t->slots[h & (t->nslots - 1)];
    if (!record) {
        __builtin_prefetch(sl);
        return;
    }
    if (sl->off1 && sl->hash == h) { /* likely the key's record: its header and first bytes */
        const unsigned char *rec = t->arena + sl->off1 - 1;
        __builtin_prefetch(rec);
        __builtin_prefetch(rec + 64);
    }
}

int keytab_add(keytab *t, const keyview *k, int64_t d)
{
    if (grow(&t->scratch, &t->scap, keytab_encoded_max(k)))
        return ERR_NOMEM;
    size_t klen = keytab_encode(k, t->scratch);
    return keytab_add_encoded(t, t->scratch, klen, keytab_hash(t->scratch, klen), d);
}

int keytab_add_encoded(keytab *t, const unsigned char *key, size_t klen, uint32_t h, int64_t d)
{
    size_t mask = t->nslots - 1, j = h & mask;
    for (; t->slots[j].off1; j = (j + 1) & mask) {
        if (t->slots[j].hash != h)
            continue;
        unsigned char *rec = t->arena + t->slots[j].off1 - 1;
        uint32_t rlen;
        memcpy(&rlen, rec, 4);
        if (rlen != klen || memcmp(rec + REC_HDR, key, klen) != 0)
            continue;
        int64_t delta;
        memcpy(&delta, rec + 4, 8);
        delta += d;
        memcpy(rec + 4, &delta, 8);
        return 0;
    }
    /* New key: make room first so that a failure leaves the table unchanged. */
    if (t->alen + REC_HDR + klen >= UINT32_MAX)
        return ERR_RANGE;
    if (grow(&t->arena, &t->acap, t->alen + REC_HDR + klen))
        return ERR_NOMEM;
    if ((t->count + 1) * 10 > t->nslots * 7) {
        if (rehash(t))
            return ERR_NOMEM;
        mask = t->nslots - 1;
        for (j = h & mask; t->slots[j].off1; j = (j + 1) & mask) {
        }
    }
    unsigned char *rec = t->arena + t->alen;
    uint32_t rlen = (uint32_t)klen;
    memcpy(rec, &rlen, 4);
    memcpy(rec + 4, &d, 8);
    memcpy(rec + REC_HDR, key, klen);
    t->slots[j].hash = h;
    t->slots[j].off1 = (uint32_t)(t->alen + 1);
    t->alen += REC_HDR + klen;
    t->count++;
    return 0;
}

size_t keytab_count(const keytab *t)
{
    return t->count;
}

size_t keytab_bytes(const keytab *t)
{
    return sizeof *t + t->nslots * sizeof(slot) + t->acap + t->scap;
}

size_t keytab_used_bytes(const keytab *t)
{
    return sizeof *t + t->nslots * sizeof(slot) + t->alen;
}

size_t keytab_key_bytes(const keytab *t)
{
    return t->alen;
}

int keytab_next(const keytab *t, size_t *pos, keyview *k, int64_t *delta)
{
    if (*pos >= t->alen)
        return 0;
    const unsigned char *rec = t->arena + *pos;
    uint32_t rlen;
    memcpy(&rlen, rec, 4);
    memcpy(delta, rec + 4, 8);
    const unsigned char *p = rec + REC_HDR;
    unsigned flags = (unsigned)p[0] | (unsigned)p[1] << 8;
    size_t n = 2;
    memset(k, 0, sizeof *k);
    for (int i = 0; i < KEY_NNUM; i++) {
        if (!(flags & FLAG_NUM(i)))
            continue;
        k->has_num[i] = 1;
        memcpy(&k->num[i], p + n, 8);
        n += 8;
    }
    for (int i = 0; i < KEY_NSTR; i++) {
        if (!(flags & FLAG_STR(i)))
            continue;
        n += get_varint(p + n, &k->str_len[i]);
        k->str[i] = (const char *)p + n;
        n += k->str_len[i] + 1;
    }
    *pos += REC_HDR + rlen;
    return 1;
}

void keytab_reset(keytab *t)
{
    /* Give back a slot array that one burst blew up far beyond the usual key count. */
    if (t->nslots > MIN_SLOTS && t->count * 8 < t->nslots / 4) {
        slot *ns = calloc(MIN_SLOTS, sizeof *ns);
        if (ns) {
            free(t->slots);
            t->slots = ns;
            t->nslots = MIN_SLOTS;
        }
    }
    /* and key strings that one burst blew up (kept up to 256 KiB: a usual range's keys) */
    if (t->acap > (256u << 10) && t->alen * 4 < t->acap) {
        free(t->arena);
        t->arena = NULL;
        t->acap = 0;
    }
    memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->count = 0;
    t->alen = 0;
}
