/* keytab.c: the per-partition delta table. A key is encoded into a canonical byte string (null
 * bitmap, normalised doubles, length-prefixed NUL-terminated strings) so that equality is memcmp and
 * the hash is over bytes; records [u32 keylen][i64 delta][key] are appended to one arena and the
 * open-addressing slot array holds {hash32, arena offset + 1}: about 60 bytes per key + strings. */
#include "services/aggregator/keytab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define REC_HDR 12u          /* u32 keylen + i64 delta */
#define MIN_SLOTS 1024u      /* power of two */
#define FLAG_STR(i) (1u << (i))
#define FLAG_NUM(i) (1u << (KEY_NSTR + (i)))
#define RESP_SHIFT (KEY_NSTR + KEY_NNUM)

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

double keytab_norm_double(double d) {
    if (d == 0.0) return 0.0; /* -0.0 == 0.0 is true: both become +0.0 */
    if (isnan(d)) return NAN;
    return d;
}

/* Decimal digits of v (the reference casts event.time, an int64, to a string). */
static size_t i64_to_dec(int64_t v, char *out) {
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out[len++] = '-';
    while (n) out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

static void set_str(keyview *k, int i, const char *s) {
    k->str[i] = s;
    k->str_len[i] = s ? strlen(s) : 0;
}

void keytab_key_from_rsvp(const Rsvp__V1__Rsvp *r, keyview *k, char timebuf[24]) {
    memset(k, 0, sizeof *k);
    const Rsvp__V1__Event *e = r->event;
    const Rsvp__V1__Group *g = r->group;
    const Rsvp__V1__Venue *v = r->venue;
    if (e) {
        set_str(k, KEY_EVENT_NAME, e->event_name);
        set_str(k, KEY_EVENT_URL, e->event_url);
        if (e->has_time) {
            k->str_len[KEY_EVENT_TIME] = i64_to_dec(e->time, timebuf);
            k->str[KEY_EVENT_TIME] = timebuf;
        }
    }
    if (g) {
        set_str(k, KEY_GROUP_NAME, g->group_name);
        set_str(k, KEY_GROUP_COUNTRY, g->group_country);
        set_str(k, KEY_GROUP_STATE, g->group_state);
        set_str(k, KEY_GROUP_CITY, g->group_city);
        k->has_num[KEY_GROUP_LAT] = g->has_group_lat;
        k->num[KEY_GROUP_LAT] = g->group_lat;
        k->has_num[KEY_GROUP_LON] = g->has_group_lon;
        k->num[KEY_GROUP_LON] = g->group_lon;
    }
    if (v) {
        k->has_num[KEY_LAT] = v->has_lat;
        k->num[KEY_LAT] = v->lat;
        k->has_num[KEY_LON] = v->has_lon;
        k->num[KEY_LON] = v->lon;
    }
    if (r->has_response && r->response == RSVP__V1__RESPONSE__RESPONSE_YES)
        k->response = KEY_RESPONSE_YES;
    else if (r->has_response && r->response == RSVP__V1__RESPONSE__RESPONSE_NO)
        k->response = KEY_RESPONSE_NO;
    else
        k->response = KEY_RESPONSE_NULL;
}

/* A 64-bit multiply-xorshift hash over bytes, 8 at a time (keys are 50-300 bytes). */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    uint64_t v;
    while (n >= 8) {
        memcpy(&v, p, 8);
        h = (h ^ mix64(v)) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    v = 0;
    memcpy(&v, p, n);
    h = (h ^ mix64(v ^ 0xa0761d6478bd642full)) * 0x9e3779b97f4a7c15ull;
    return mix64(h);
}

static size_t put_varint(unsigned char *p, size_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t get_varint(const unsigned char *p, size_t *v) {
    size_t n = 0, shift = 0, r = 0;
    do {
        r |= (size_t)(p[n] & 0x7f) << shift;
        shift += 7;
    } while (p[n++] & 0x80);
    *v = r;
    return n;
}

static int grow(unsigned char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    /* Double while small; past 16 MiB grow by 25%: glibc moves large blocks with mremap (no
     * copy), and the slack of doubling would otherwise be ~30% of a big table's memory. */
    size_t c = *cap ? *cap : 4096;
    while (c < need) c += c < (16u << 20) ? c : c / 4;
    unsigned char *np = realloc(*p, c);
    if (!np) return ERR_NOMEM;
    *p = np;
    *cap = c;
    return 0;
}

/* Canonical encoding of k into t->scratch; returns its length or 0 on ERR_NOMEM. */
static size_t encode_key(keytab *t, const keyview *k) {
    size_t need = 2 + 8 * KEY_NNUM;
    for (int i = 0; i < KEY_NSTR; i++)
        if (k->str[i]) need += 10 + k->str_len[i] + 1;
    if (grow(&t->scratch, &t->scap, need)) return 0;
    unsigned char *p = t->scratch;
    size_t n = 2;
    unsigned flags = (unsigned)k->response << RESP_SHIFT;
    for (int i = 0; i < KEY_NNUM; i++) {
        if (!k->has_num[i]) continue;
        flags |= FLAG_NUM(i);
        double d = keytab_norm_double(k->num[i]);
        memcpy(p + n, &d, 8);
        n += 8;
    }
    for (int i = 0; i < KEY_NSTR; i++) {
        if (!k->str[i]) continue;
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

keytab *keytab_new(void) {
    keytab *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->slots = calloc(MIN_SLOTS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->nslots = MIN_SLOTS;
    return t;
}

void keytab_free(keytab *t) {
    if (!t) return;
    free(t->slots);
    free(t->arena);
    free(t->scratch);
    free(t);
}

/* Double the slot array (load factor stays <= 0.7), rehashing from the stored 32-bit hashes. */
static int rehash(keytab *t) {
    size_t n = t->nslots * 2;
    slot *ns = calloc(n, sizeof *ns);
    if (!ns) return ERR_NOMEM;
    for (size_t i = 0; i < t->nslots; i++) {
        slot s = t->slots[i];
        if (!s.off1) continue;
        size_t j = s.hash & (n - 1);
        while (ns[j].off1) j = (j + 1) & (n - 1);
        ns[j] = s;
    }
    free(t->slots);
    t->slots = ns;
    t->nslots = n;
    return 0;
}

int keytab_add(keytab *t, const keyview *k, int64_t d) {
    size_t klen = encode_key(t, k);
    if (!klen) return ERR_NOMEM;
    uint32_t h = (uint32_t)hash_bytes(t->scratch, klen);
    size_t mask = t->nslots - 1, j = h & mask;
    for (; t->slots[j].off1; j = (j + 1) & mask) {
        if (t->slots[j].hash != h) continue;
        unsigned char *rec = t->arena + t->slots[j].off1 - 1;
        uint32_t rlen;
        memcpy(&rlen, rec, 4);
        if (rlen != klen || memcmp(rec + REC_HDR, t->scratch, klen) != 0) continue;
        int64_t delta;
        memcpy(&delta, rec + 4, 8);
        delta += d;
        memcpy(rec + 4, &delta, 8);
        return 0;
    }
    /* New key: make room first so that a failure leaves the table unchanged. */
    if (t->alen + REC_HDR + klen >= UINT32_MAX) return ERR_RANGE;
    if (grow(&t->arena, &t->acap, t->alen + REC_HDR + klen)) return ERR_NOMEM;
    if ((t->count + 1) * 10 > t->nslots * 7) {
        if (rehash(t)) return ERR_NOMEM;
        mask = t->nslots - 1;
        for (j = h & mask; t->slots[j].off1; j = (j + 1) & mask) {
        }
    }
    unsigned char *rec = t->arena + t->alen;
    uint32_t rlen = (uint32_t)klen;
    memcpy(rec, &rlen, 4);
    memcpy(rec + 4, &d, 8);
    memcpy(rec + REC_HDR, t->scratch, klen);
    t->slots[j].hash = h;
    t->slots[j].off1 = (uint32_t)(t->alen + 1);
    t->alen += REC_HDR + klen;
    t->count++;
    return 0;
}

size_t keytab_count(const keytab *t) { return t->count; }

size_t keytab_bytes(const keytab *t) {
    return sizeof *t + t->nslots * sizeof(slot) + t->acap + t->scap;
}

size_t keytab_used_bytes(const keytab *t) {
    return sizeof *t + t->nslots * sizeof(slot) + t->alen;
}

size_t keytab_key_bytes(const keytab *t) { return t->alen; }

int keytab_next(const keytab *t, size_t *pos, keyview *k, int64_t *delta) {
    if (*pos >= t->alen) return 0;
    const unsigned char *rec = t->arena + *pos;
    uint32_t rlen;
    memcpy(&rlen, rec, 4);
    memcpy(delta, rec + 4, 8);
    const unsigned char *p = rec + REC_HDR;
    unsigned flags = (unsigned)p[0] | (unsigned)p[1] << 8;
    size_t n = 2;
    memset(k, 0, sizeof *k);
    k->response = (int)(flags >> RESP_SHIFT) & 3;
    for (int i = 0; i < KEY_NNUM; i++) {
        if (!(flags & FLAG_NUM(i))) continue;
        k->has_num[i] = 1;
        memcpy(&k->num[i], p + n, 8);
        n += 8;
    }
    for (int i = 0; i < KEY_NSTR; i++) {
        if (!(flags & FLAG_STR(i))) continue;
        n += get_varint(p + n, &k->str_len[i]);
        k->str[i] = (const char *)p + n;
        n += k->str_len[i] + 1;
    }
    *pos += REC_HDR + rlen;
    return 1;
}

void keytab_reset(keytab *t) {
    /* Give back a slot array that one burst blew up far beyond the usual key count. */
    if (t->nslots > MIN_SLOTS && t->count * 8 < t->nslots / 4) {
        slot *ns = calloc(MIN_SLOTS, sizeof *ns);
        if (ns) {
            free(t->slots);
            t->slots = ns;
            t->nslots = MIN_SLOTS;
        }
    }
    if (t->acap > (1u << 20) && t->alen * 4 < t->acap) {
        free(t->arena);
        t->arena = NULL;
        t->acap = 0;
    }
    memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->count = 0;
    t->alen = 0;
}
