/* resume.c: resume point + duplicate filter (see resume.h for the rules). One state is a FIFO of
 * the remembered lines in the order they were noted (each with its expiry: the mtime below which the
 * source no longer sends it again), an open-addressing hash table (linear probing, load <= 1/2,
 * backward-shift deletion) counting them per identity, the line above L, a small sorted array of
 * held lines, and the counters of lines beyond the memory bound. For a source sorted by mtime the
 * FIFO is sorted by expiry too, so expiring is popping its head: a note costs O(1) amortised. The
 * hash table exists only while it is needed: it is built from the FIFO at a reconnect and dropped
 * once every remembered line has been seen again (`unseen` reaches 0), so a connection streaming
 * new lines, and the committed copy, never touch it. */
#include "services/ingestor/resume.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define NO_MTIME     INT64_MIN /* mtime of an unreadable line's identity */
#define PENDING      INT64_MAX /* expiry of an unreadable line whose bound is not known yet */
#define MIN_CAP      16
#define SHRINK_CAP   1024 /* a table this large and 1/8 full is rehashed smaller */
#define MIN_COUNTERS 1024 /* counters of each kind allowed even when max_lines is smaller */

typedef struct slot {
    int64_t key; /* rsvp_id, or the hash of an unreadable line */
    int64_t mtime;
    uint32_t produced; /* remembered instances; 0 = empty slot */
    uint32_t seen;     /* sightings on the connection `epoch` */
    uint32_t epoch;
    uint32_t pad;
} slot;

typedef struct rec { /* one remembered instance, in FIFO order */
    int64_t key, mtime, expiry;
} rec;

typedef struct line { /* the line above L, or a held line */
    int64_t id, mtime;
    uint32_t produced, seen, epoch;
} line;

typedef struct over { /* lines remembered only by number, all with mtime >= lo */
    uint64_t n, seen;
    uint32_t epoch;
    int pending;    /* unreadable: their upper bound is not known yet */
    int64_t lo, hi; /* window: lo == hi == their mtime; unreadable: lowest and highest mtime they
                       can have; held: their lowest and highest mtime */
} over;

typedef struct state {
    int64_t first, second; /* the two highest mtimes noted (not held); L = second */
    int64_t floor;         /* since_mtime never goes below it (memory bound), -1 */
    int64_t prev;          /* mtime of the last readable line noted (not held), -1 */
    int64_t prev_any;      /* mtime of the last readable line noted, held ones too, -1 */
    int has_top;           /* top: the one line at `first` when first > second */
    line top;
    uint64_t below_top;
    slot *slots; /* the index of the FIFO (and only when indexed) */
    size_t cap, used;
    int indexed;
    uint64_t unseen; /* indexed: remembered instances (table, top, held) not seen on this connection */
    rec *ring;       /* capacity rcap (power of two), len records from head */
    size_t rcap, head, len;
    size_t pending; /* the last `pending` records are unreadable lines without a bound */
    line *held;     /* sorted by (mtime, id) */
    size_t nheld, hcap;
    over held_over;
    uint64_t counted; /* lines in all the counters */
    over *wb;         /* window lines beyond max_lines: one counter per mtime, sorted by mtime */
    size_t nwb, wbcap;
    over *ub; /* unreadable lines beyond max_lines: one counter per readable line before them */
    size_t nub, ubcap;
} state;

typedef struct op { /* one note since the last commit */
    int64_t key, mtime, now;
} op;

struct resume {
    resume_limits lim;
    state cur, com;
    uint32_t epoch; /* the current connection; never 0 (0 marks the committed copy's calls) */
    int passed;     /* a new line above L arrived on this connection */
    int64_t since;  /* the since_mtime of this connection (-1: none) */
    op *log;
    size_t nlog, logcap;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static size_t home_of(int64_t key, int64_t mtime, size_t mask)
{
    return (size_t)(mix((uint64_t)key ^ mix((uint64_t)mtime)) & mask);
}

static uint32_t seen_of(uint32_t seen, uint32_t ep, uint32_t epoch)
{
    return ep == epoch ? seen : 0;
}

static void mark(uint32_t *seen, uint32_t *ep, uint32_t epoch)
{
    if (*ep != epoch) {
        *ep = epoch;
        *seen = 0;
    }
    (*seen)++;
}

static uint64_t over_seen(const over *o, uint32_t epoch)
{
    return o->epoch == epoch ? o->seen : 0;
}

static void over_mark(over *o, uint32_t epoch)
{
    if (o->epoch != epoch) {
        o->epoch = epoch;
        o->seen = 0;
    }
    o->seen++;
}

uint64_t resume_line_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then the length mixed in */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return mix(h ^ (uint64_t)len);
}

/* ---- the hash table ---- */

static slot *find(slot *slots, size_t cap, int64_t key, int64_t mtime)
{
    size_t mask = cap - 1, i = home_of(key, mtime, mask);
    while (slots[i].produced && (slots[i].key != key || slots[i].mtime != mtime))
        i = (i + 1) & mask;
    return &slots[i];
}

static int rehash(state *s, size_t ncap)
{
    slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return ERR_NOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].produced)
            *find(ns, ncap, s->slots[i].key, s->slots[i].mtime) = s->slots[i];
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

/* del: empty slot i, shifting back the entries of its probe run that may move into the hole. */
static void del(state *s, size_t i)
{
    size_t mask = s->cap - 1;
    for (size_t j = (i + 1) & mask; s->slots[j].produced; j = (j + 1) & mask) {
        size_t h = home_of(s->slots[j].key, s->slots[j].mtime, mask);
        if (((j - h) & mask) >= ((j - i) & mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    memset(&s->slots[i], 0, sizeof(s->slots[i]));
    s->used--;
}

/* ---- the FIFO ---- */

static rec *ring_at(const state *s, size_t k)
{
    return &s->ring[(s->head + k) & (s->rcap - 1)];
}

static int ring_grow(state *s)
{
    size_t ncap = s->rcap ? s->rcap * 2 : MIN_CAP;
    rec *nr = malloc(ncap * sizeof(*nr));
    if (!nr)
        return ERR_NOMEM;
    for (size_t k = 0; k < s->len; k++)
        nr[k] = *ring_at(s, k);
    free(s->ring);
    s->ring = nr;
    s->rcap = ncap;
    s->head = 0;
    return 0;
}

/* unindex: drop the table (nothing left to recognise on this connection). */
static void unindex(state *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->used = 0;
    s->indexed = 0;
    s->unseen = 0;
}

/* seen_gone: an instance not seen on this connection is forgotten or counted elsewhere. */
static void seen_gone(state *s, uint64_t n)
{
    if (!s->indexed)
        return;
    s->unseen = s->unseen > n ? s->unseen - n : 0;
    if (!s->unseen)
        unindex(s);
}

/* pop: drop the FIFO's oldest record (and its instance in the table). */
static void pop(state *s, uint32_t epoch)
{
    rec *r = ring_at(s, 0);
    if (s->indexed) {
        slot *sl = find(s->slots, s->cap, r->key, r->mtime);
        if (sl->produced) {
            uint32_t q = seen_of(sl->seen, sl->epoch, epoch);
            int was_unseen = q < sl->produced;
            if (--sl->produced == 0)
                del(s, (size_t)(sl - s->slots));
            else if (q > sl->produced)
                sl->seen = sl->produced;
            if (was_unseen)
                seen_gone(s, 1);
        }
    }
    s->head = (s->head + 1) & (s->rcap - 1);
    s->len--;
    if (s->pending > s->len)
        s->pending = s->len;
}

/* ---- one state ---- */

static void state_init(state *s)
{
    memset(s, 0, sizeof(*s));
    s->first = s->second = s->floor = s->prev = s->prev_any = -1;
}

static void state_free(state *s)
{
    free(s->slots);
    free(s->ring);
    free(s->held);
    free(s->wb);
    free(s->ub);
    state_init(s);
}

/* cut: lines below it are not sent again (since_mtime), so not remembered; -1 while L is unset. */
static int64_t cut_of(const state *s, const resume_limits *lim)
{
    if (s->second < 0)
        return -1;
    int64_t c = s->second - lim->window_ms;
    if (c < s->floor)
        c = s->floor;
    return c < 0 ? 0 : c;
}

/* room: make *arr (elements of size elem) hold at least need, growing by doubling. */
static int room(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*(void **)arr, ncap * elem);
    if (!p)
        return ERR_NOMEM;
    *(void **)arr = p;
    *cap = ncap;
    return 0;
}

/* reserve: room for what one note may add (two instances, a held line, two counters), so that a
 * note either fails before changing anything or succeeds. Cheap unless something has to grow. */
static int reserve(state *s, const resume_limits *lim)
{
    size_t n = s->len + 2 <= lim->max_lines ? 2 : lim->max_lines - s->len;
    while (s->indexed && (s->used + n) * 2 > s->cap)
        if (rehash(s, s->cap * 2) != 0)
            return ERR_NOMEM;
    while (s->len + n > s->rcap)
        if (ring_grow(s) != 0)
            return ERR_NOMEM;
    if (n < 2 && (room(&s->wb, &s->wbcap, s->nwb + 2, sizeof(*s->wb)) != 0 ||
                  room(&s->ub, &s->ubcap, s->nub + 1, sizeof(*s->ub)) != 0))
        return ERR_NOMEM; /* counters are used only at max_lines */
    return 0;
}

/* expire: forget what the source no longer sends again (below the cut). */
static void expire(state *s, const resume_limits *lim, uint32_t epoch)
{
    int64_t cut = cut_of(s, lim);
    if (cut < 0)
        return;
    while (s->len && ring_at(s, 0)->expiry < cut)
        pop(s, epoch);
    size_t k = 0;
    for (; k < s->nheld && s->held[k].mtime < cut; k++)
        seen_gone(s, s->held[k].produced - seen_of(s->held[k].seen, s->held[k].epoch, epoch));
    if (k) {
        memmove(s->held, s->held + k, (s->nheld - k) * sizeof(*s->held));
        s->nheld -= k;
    }
    for (k = 0; k < s->nwb && s->wb[k].hi < cut; k++)
        s->counted -= s->wb[k].n;
    if (k) {
        memmove(s->wb, s->wb + k, (s->nwb - k) * sizeof(*s->wb));
        s->nwb -= k;
    }
    size_t keep = 0;
    for (k = 0; k < s->nub; k++) {
        if (s->ub[k].pending || s->ub[k].hi >= cut)
            s->ub[keep++] = s->ub[k];
        else
            s->counted -= s->ub[k].n;
    }
    s->nub = keep;
    if (s->held_over.n && s->held_over.hi < cut) {
        s->counted -= s->held_over.n;
        memset(&s->held_over, 0, sizeof(s->held_over));
    }
    if (s->indexed && s->cap > SHRINK_CAP && s->used * 8 < s->cap) {
        size_t ncap = s->cap;
        while (ncap > MIN_CAP && s->used * 4 < ncap / 2)
            ncap /= 2;
        (void)rehash(s, ncap); /* on failure the larger table simply stays */
    }
}

static void over_add(over *o, int64_t lo, int64_t hi, int seen_now, uint32_t epoch)
{
    if (!o->n || lo < o->lo)
        o->lo = lo;
    if (!o->n || hi > o->hi)
        o->hi = hi;
    o->n++;
    if (seen_now)
        over_mark(o, epoch);
}

/* wb_find: index of the first window counter with mtime >= m. */
static size_t wb_find(const state *s, int64_t m)
{
    size_t lo = 0, hi = s->nwb;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->wb[mid].lo < m)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* count: a line beyond max_lines is remembered by number only. Window lines: per mtime (after a
 * reconnect the source sends the lines of one mtime in the same order again, so the first n of
 * them not remembered one by one are the ones produced). Unreadable lines: per readable line
 * before them, with the range of mtimes they can have. At most max(max_lines, MIN_COUNTERS)
 * counters of each kind:
 * beyond, the oldest window counter is given up by raising the floor (since_mtime stays above
 * it), the oldest unreadable one by forgetting it (its lines may be produced again). */
static void count(state *s, const resume_limits *lim, int64_t mtime, int seen_now, uint32_t epoch)
{
    size_t max = lim->max_lines > MIN_COUNTERS ? lim->max_lines : MIN_COUNTERS;
    if (mtime == NO_MTIME) {
        over *last = s->nub ? &s->ub[s->nub - 1] : NULL;
        if (!last || !last->pending || last->lo != s->prev) {
            if (s->nub >= max) {
                s->counted -= s->ub[0].n;
                memmove(s->ub, s->ub + 1, (s->nub - 1) * sizeof(*s->ub));
                s->nub--;
            }
            last = &s->ub[s->nub++];
            memset(last, 0, sizeof(*last));
            last->pending = 1;
        }
        over_add(last, s->prev, PENDING, seen_now, epoch);
        s->counted++;
        return;
    }
    size_t k = wb_find(s, mtime);
    if (k == s->nwb || s->wb[k].lo != mtime) {
        memmove(s->wb + k + 1, s->wb + k, (s->nwb - k) * sizeof(*s->wb));
        memset(&s->wb[k], 0, sizeof(s->wb[k]));
        s->nwb++;
    }
    over_add(&s->wb[k], mtime, mtime, seen_now, epoch);
    s->counted++;
    if (s->nwb > max && s->wb[0].lo < s->second && s->floor <= s->wb[0].lo) {
        s->floor = s->wb[0].lo + 1;
        expire(s, lim, epoch);
    }
}

/* remember: one more instance of (key, mtime), in the FIFO and the table, or counted. */
static int remember(state *s, const resume_limits *lim, int64_t key, int64_t mtime, int64_t expiry,
                    int seen_now, uint32_t epoch)
{
    if (s->len >= lim->max_lines) {
        count(s, lim, mtime, seen_now, epoch);
        if (!seen_now)
            seen_gone(s, 1); /* counters are checked on their own */
        return RESUME_OVERFLOW;
    }
    if (s->indexed) {
        slot *sl = find(s->slots, s->cap, key, mtime);
        if (!sl->produced) {
            memset(sl, 0, sizeof(*sl));
            sl->key = key;
            sl->mtime = mtime;
            s->used++;
        }
        sl->produced++;
        if (seen_now)
            mark(&sl->seen, &sl->epoch, epoch);
    }
    *ring_at(s, s->len) = (rec){key, mtime, expiry};
    s->len++;
    if (mtime == NO_MTIME)
        s->pending++;
    return RESUME_REMEMBERED;
}

/* index: build the table from the FIFO for a new connection (epoch): every instance unseen. */
static int index_build(state *s, uint32_t epoch)
{
    unindex(s);
    uint64_t unseen = s->len + (s->has_top ? s->top.produced : 0);
    for (size_t k = 0; k < s->nheld; k++)
        unseen += s->held[k].produced;
    if (!unseen)
        return 0;
    size_t cap = MIN_CAP;
    while (cap < 2 * s->len + 2)
        cap *= 2;
    s->slots = calloc(cap, sizeof(*s->slots));
    if (!s->slots)
        return ERR_NOMEM;
    s->cap = cap;
    for (size_t k = 0; k < s->len; k++) {
        const rec *r = ring_at(s, k);
        slot *sl = find(s->slots, s->cap, r->key, r->mtime);
        if (!sl->produced) {
            sl->key = r->key;
            sl->mtime = r->mtime;
            sl->epoch = epoch;
            s->used++;
        }
        sl->produced++;
    }
    s->indexed = 1;
    s->unseen = unseen;
    return 0;
}

/* bound_pending: the unreadable lines noted since the last readable one get their expiry. */
static void bound_pending(state *s, int64_t bound)
{
    for (size_t k = s->len - s->pending; k < s->len; k++)
        ring_at(s, k)->expiry = bound;
    s->pending = 0;
    if (s->nub && s->ub[s->nub - 1].pending) {
        s->ub[s->nub - 1].pending = 0;
        s->ub[s->nub - 1].hi = bound;
    }
}

static int line_cmp(const line *l, int64_t id, int64_t mtime)
{
    if (l->mtime != mtime)
        return l->mtime < mtime ? -1 : 1;
    return l->id < id ? -1 : l->id > id;
}

/* held_find: index of the first held line >= (mtime, id). */
static size_t held_find(const state *s, int64_t id, int64_t mtime)
{
    size_t lo = 0, hi = s->nheld;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (line_cmp(&s->held[mid], id, mtime) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int hold(state *s, const resume_limits *lim, int64_t id, int64_t mtime, uint32_t epoch)
{
    if (s->nheld < lim->max_held && room(&s->held, &s->hcap, s->nheld + 1, sizeof(*s->held)) != 0)
        return ERR_NOMEM;
    size_t k = held_find(s, id, mtime);
    if (k < s->nheld && line_cmp(&s->held[k], id, mtime) == 0) {
        s->held[k].produced++;
        mark(&s->held[k].seen, &s->held[k].epoch, epoch);
        return RESUME_HELD;
    }
    if (s->nheld >= lim->max_held) {
        over_add(&s->held_over, mtime, mtime, 1, epoch);
        s->counted++;
        return RESUME_OVERFLOW;
    }
    memmove(s->held + k + 1, s->held + k, (s->nheld - k) * sizeof(*s->held));
    s->held[k] = (line){id, mtime, 1, 1, epoch};
    s->nheld++;
    return RESUME_HELD;
}

/* top_down: the line above L is now at L: it joins the window. */
static int top_down(state *s, const resume_limits *lim, const line *t, uint32_t epoch)
{
    return remember(s, lim, t->id, t->mtime, t->mtime, seen_of(t->seen, t->epoch, epoch) > 0, epoch);
}

static int beyond_clock(const resume_limits *lim, int64_t mtime, int64_t now)
{
    return now <= INT64_MAX - lim->max_future_ms && mtime > now + lim->max_future_ms;
}

/* must_reserve: whether this note may need memory reserve() provides (the common case: no). */
static int must_reserve(const state *s, const resume_limits *lim)
{
    return s->indexed || s->len + 2 > s->rcap || s->len + 2 > lim->max_lines;
}

static int state_note(state *s, const resume_limits *lim, int64_t id, int64_t mtime, int64_t now,
                      uint32_t epoch)
{
    if (must_reserve(s, lim) && reserve(s, lim) != 0)
        return ERR_NOMEM;
    /* An unreadable line between two readable ones has an mtime between theirs if the source is
     * sorted; an unsorted one may file it under either neighbour's (rsvp-replay: the one before).
     * So it is remembered until L - W passes both, a held neighbour's too (then as long as memory
     * allows, like the held line itself). */
    if (s->pending || (s->nub && s->ub[s->nub - 1].pending))
        bound_pending(s, mtime > s->prev_any ? mtime : s->prev_any);
    s->prev_any = mtime;
    if (beyond_clock(lim, mtime, now))
        return hold(s, lim, id, mtime, epoch);
    int64_t old_l = s->second;
    s->prev = mtime;
    int out = RESUME_REMEMBERED, out2 = RESUME_REMEMBERED;
    if (mtime > s->first) { /* the new top line; the old one, if any, is now at L */
        line old = s->top;
        int had = s->has_top;
        s->second = s->first;
        s->first = mtime;
        s->top = (line){id, mtime, 1, 1, epoch};
        s->has_top = 1;
        s->below_top = 0;
        if (had)
            out2 = top_down(s, lim, &old, epoch);
    } else if (mtime == s->first && s->has_top) { /* a second line at the top: L moves there */
        s->second = mtime;
        s->has_top = 0;
        out2 = top_down(s, lim, &s->top, epoch);
        out = remember(s, lim, id, mtime, mtime, 1, epoch);
    } else {
        if (mtime > s->second)
            s->second = mtime;
        if (s->has_top)
            s->below_top++;
        if (mtime >= cut_of(s, lim))
            out = remember(s, lim, id, mtime, mtime, 1, epoch);
    }
    if (s->second != old_l)
        expire(s, lim, epoch);
    return out != RESUME_REMEMBERED ? out : out2;
}

static int state_note_unreadable(state *s, const resume_limits *lim, uint64_t hash, uint32_t epoch)
{
    if (must_reserve(s, lim) && reserve(s, lim) != 0)
        return ERR_NOMEM;
    return remember(s, lim, (int64_t)hash, NO_MTIME, PENDING, 1, epoch);
}

/* state_copy: dst = src (all or nothing), without the index. Reuses dst's arrays when they have
 * the same capacity, so a copy at every commit costs a memcpy of what is live. */
static int state_copy(state *dst, const state *src)
{
    void *nr = dst->rcap == src->rcap ? NULL : malloc(src->rcap * sizeof(rec));
    void *nh = dst->hcap == src->hcap ? NULL : malloc(src->hcap * sizeof(line));
    void *nw = dst->wbcap == src->wbcap ? NULL : malloc(src->wbcap * sizeof(over));
    void *nu = dst->ubcap == src->ubcap ? NULL : malloc(src->ubcap * sizeof(over));
    if ((dst->rcap != src->rcap && src->rcap && !nr) || (dst->hcap != src->hcap && src->hcap && !nh) ||
        (dst->wbcap != src->wbcap && src->wbcap && !nw) || (dst->ubcap != src->ubcap && src->ubcap && !nu)) {
        free(nr);
        free(nh);
        free(nw);
        free(nu);
        return ERR_NOMEM;
    }
    rec *ring = dst->ring;
    line *held = dst->held;
    over *wb = dst->wb, *ub = dst->ub;
    if (dst->rcap != src->rcap) {
        free(ring);
        ring = nr;
    }
    if (dst->hcap != src->hcap) {
        free(held);
        held = nh;
    }
    if (dst->wbcap != src->wbcap) {
        free(wb);
        wb = nw;
    }
    if (dst->ubcap != src->ubcap) {
        free(ub);
        ub = nu;
    }
    free(dst->slots);
    *dst = *src;
    dst->slots = NULL; /* dst is the committed copy or rolled back: indexed at the next reconnect */
    dst->cap = dst->used = 0;
    dst->indexed = 0;
    dst->unseen = 0;
    dst->ring = ring;
    dst->held = held;
    dst->wb = wb;
    dst->ub = ub;
    dst->head = 0;
    for (size_t k = 0; k < src->len; k++) /* the live records, from index 0 */
        ring[k] = *ring_at(src, k);
    if (src->nheld)
        memcpy(held, src->held, src->nheld * sizeof(*held));
    if (src->nwb)
        memcpy(wb, src->wb, src->nwb * sizeof(*wb));
    if (src->nub)
        memcpy(ub, src->ub, src->nub * sizeof(*ub));
    return 0;
}

/* ---- the public API: cur is what was produced, com what was committed ---- */

int resume_new(resume **out, const resume_limits *lim)
{
    if (!lim || lim->window_ms < 0 || lim->max_future_ms < 0 || lim->max_lines < 1 || lim->max_held < 1)
        return ERR_INVALID;
    resume *r = calloc(1, sizeof(*r));
    if (!r)
        return ERR_NOMEM;
    r->lim = *lim;
    r->epoch = 1;
    r->since = -1;
    state_init(&r->cur);
    state_init(&r->com);
    *out = r;
    return 0;
}

void resume_free(resume *r)
{
    if (!r)
        return;
    state_free(&r->cur);
    state_free(&r->com);
    free(r->log);
    free(r);
}

/* seen: a remembered instance was sent again on this connection. */
static int seen(state *s, uint32_t *cnt, uint32_t *ep, uint32_t epoch)
{
    mark(cnt, ep, epoch);
    seen_gone(s, 1);
    return RESUME_DUPLICATE;
}

int resume_classify(resume *r, int64_t rsvp_id, int64_t mtime)
{
    state *s = &r->cur;
    uint32_t e = r->epoch;
    if (mtime < r->since)
        return r->passed ? RESUME_NEW : RESUME_OLDER;
    if (s->unseen) {
        if (s->has_top && s->top.id == rsvp_id && s->top.mtime == mtime &&
            seen_of(s->top.seen, s->top.epoch, e) < s->top.produced)
            return seen(s, &s->top.seen, &s->top.epoch, e);
        slot *sl = find(s->slots, s->cap, rsvp_id, mtime);
        if (sl->produced && seen_of(sl->seen, sl->epoch, e) < sl->produced)
            return seen(s, &sl->seen, &sl->epoch, e);
        size_t k = held_find(s, rsvp_id, mtime);
        line *h = k < s->nheld ? &s->held[k] : NULL;
        if (h && line_cmp(h, rsvp_id, mtime) == 0 && seen_of(h->seen, h->epoch, e) < h->produced)
            return seen(s, &h->seen, &h->epoch, e);
    }
    size_t w = wb_find(s, mtime);
    if (w < s->nwb && s->wb[w].lo == mtime && over_seen(&s->wb[w], e) < s->wb[w].n) {
        over_mark(&s->wb[w], e);
        return RESUME_COUNTED;
    }
    over *o = &s->held_over;
    if (o->n && mtime >= o->lo && over_seen(o, e) < o->n) {
        over_mark(o, e);
        return RESUME_COUNTED;
    }
    if (mtime > s->second)
        r->passed = 1;
    return RESUME_NEW;
}

int resume_classify_unreadable(resume *r, uint64_t hash)
{
    state *s = &r->cur;
    uint32_t e = r->epoch;
    if (s->unseen) {
        slot *sl = find(s->slots, s->cap, (int64_t)hash, NO_MTIME);
        if (sl->produced && seen_of(sl->seen, sl->epoch, e) < sl->produced)
            return seen(s, &sl->seen, &sl->epoch, e);
    }
    /* counted unreadable lines: only those the source surely sends again (their lowest possible
     * mtime >= since), in the order they were produced */
    for (size_t k = 0; k < s->nub; k++) {
        over *o = &s->ub[k];
        if (o->lo >= r->since && over_seen(o, e) < o->n) {
            over_mark(o, e);
            return RESUME_COUNTED;
        }
    }
    return RESUME_NEW;
}

/* log_reserve: room for one more log entry, so that a note is logged whenever it succeeds. */
static int log_reserve(resume *r)
{
    return room(&r->log, &r->logcap, r->nlog + 1, sizeof(*r->log));
}

int resume_note(resume *r, int64_t rsvp_id, int64_t mtime, int64_t now_ms)
{
    if (log_reserve(r) != 0)
        return ERR_NOMEM;
    int rc = state_note(&r->cur, &r->lim, rsvp_id, mtime, now_ms, r->epoch);
    if (rc >= 0)
        r->log[r->nlog++] = (op){rsvp_id, mtime, now_ms};
    return rc;
}

int resume_note_unreadable(resume *r, uint64_t hash)
{
    if (log_reserve(r) != 0)
        return ERR_NOMEM;
    int rc = state_note_unreadable(&r->cur, &r->lim, hash, r->epoch);
    if (rc >= 0)
        r->log[r->nlog++] = (op){(int64_t)hash, NO_MTIME, 0};
    return rc;
}

int resume_reconnect(resume *r)
{
    uint32_t e = r->epoch + 1 ? r->epoch + 1 : 1;
    if (index_build(&r->cur, e) != 0)
        return ERR_NOMEM;
    r->epoch = e;
    r->passed = 0;
    r->since = cut_of(&r->cur, &r->lim);
    return 0;
}

int resume_beyond_clock(const resume *r, int64_t mtime, int64_t now_ms)
{
    return beyond_clock(&r->lim, mtime, now_ms);
}

int64_t resume_mtime(const resume *r)
{
    return r->cur.second;
}

int64_t resume_since(const resume *r)
{
    return cut_of(&r->cur, &r->lim);
}

int resume_commit(resume *r)
{
    int rc = 0;
    /* replaying a note costs about as much as copying 16 remembered lines */
    if (r->nlog * 16 > r->cur.len + r->cur.nheld + r->cur.nwb + r->cur.nub) {
        rc = state_copy(&r->com, &r->cur);
    } else {
        for (size_t i = 0; i < r->nlog && rc >= 0; i++) {
            const op *o = &r->log[i];
            rc = o->mtime == NO_MTIME ? state_note_unreadable(&r->com, &r->lim, (uint64_t)o->key, 0)
                                      : state_note(&r->com, &r->lim, o->key, o->mtime, o->now, 0);
        }
    }
    r->nlog = 0;
    return rc < 0 ? rc : 0;
}

int resume_rollback(resume *r)
{
    int rc = state_copy(&r->cur, &r->com);
    if (rc == 0)
        r->nlog = 0;
    return rc;
}

void resume_clear(resume *r)
{
    state_free(&r->cur);
    state_free(&r->com);
    r->nlog = 0;
    r->since = -1;
    r->passed = 0;
}

uint64_t resume_lines_below_top(const resume *r)
{
    return r->cur.has_top ? r->cur.below_top : 0;
}

void resume_get_info(const resume *r, resume_info *out)
{
    const state *s = &r->cur;
    memset(out, 0, sizeof(*out));
    out->lines = s->len;
    out->held = s->nheld;
    out->overflow = s->counted;
    out->held_over = s->held_over.n;
    out->top_mtime = s->has_top ? s->top.mtime : -1;
    out->top_id = s->has_top ? s->top.id : -1;
    out->below_top = s->has_top ? s->below_top : 0;
    out->highest_mtime = s->first;
}
