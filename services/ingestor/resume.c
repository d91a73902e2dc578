/* resume.c: resume point + boundary multiset. An open-addressing hash table (linear probing, load
 * <= 1/2) maps rsvp_id -> (produced count at L, sightings on this connection). It is usually tiny
 * (ids sharing one millisecond), so clearing it when L advances must stay cheap: a table that grew
 * for a burst is dropped back to the small size. */
#include "services/ingestor/resume.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define RESUME_MIN_CAP    16
#define RESUME_SHRINK_CAP 1024 /* a cleared table larger than this is reallocated small */

typedef struct slot {
    int64_t id;
    uint32_t produced; /* 0 = empty slot */
    uint32_t seen;     /* sightings of (id, L) on the current connection */
} slot;

struct resume {
    int64_t mtime; /* L; -1 = none */
    slot *slots;
    size_t cap;   /* power of two */
    size_t used;  /* occupied slots */
    size_t total; /* sum of produced */
};

static uint64_t mix(int64_t v)
{
    uint64_t x = (uint64_t)v;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int resume_new(resume **out)
{
    resume *r = calloc(1, sizeof(*r));
    if (!r)
        return ERR_NOMEM;
    r->slots = calloc(RESUME_MIN_CAP, sizeof(*r->slots));
    if (!r->slots) {
        free(r);
        return ERR_NOMEM;
    }
    r->cap = RESUME_MIN_CAP;
    r->mtime = -1;
    *out = r;
    return 0;
}

void resume_free(resume *r)
{
    if (!r)
        return;
    free(r->slots);
    free(r);
}

/* find: the slot of id, or the empty slot where it would go. */
static slot *find(slot *slots, size_t cap, int64_t id)
{
    size_t mask = cap - 1;
    size_t i = mix(id) & mask;
    while (slots[i].produced && slots[i].id != id)
        i = (i + 1) & mask;
    return &slots[i];
}

static int grow(resume *r)
{
    size_t ncap = r->cap * 2;
    slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return ERR_NOMEM;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i].produced)
            *find(ns, ncap, r->slots[i].id) = r->slots[i];
    free(r->slots);
    r->slots = ns;
    r->cap = ncap;
    return 0;
}

static void clear_table(resume *r)
{
    if (r->cap > RESUME_SHRINK_CAP) {
        slot *ns = calloc(RESUME_MIN_CAP, sizeof(*ns));
        if (ns) {
            free(r->slots);
            r->slots = ns;
            r->cap = RESUME_MIN_CAP;
        }
    }
    memset(r->slots, 0, r->cap * sizeof(*r->slots));
    r->used = r->total = 0;
}

int resume_check(const resume *r, int64_t rsvp_id, int64_t mtime)
{
    if (mtime > r->mtime)
        return RESUME_NEW;
    if (mtime < r->mtime)
        return RESUME_OLDER;
    const slot *s = find(r->slots, r->cap, rsvp_id);
    return s->seen < s->produced ? RESUME_BOUNDARY : RESUME_NEW;
}

int resume_note(resume *r, int64_t rsvp_id, int64_t mtime)
{
    if (mtime < r->mtime)
        return 0;
    if (mtime > r->mtime) {
        clear_table(r);
        r->mtime = mtime;
    }
    slot *s = find(r->slots, r->cap, rsvp_id);
    if (!s->produced) {
        /* Grow before inserting so that ERR_NOMEM leaves the state as it was. */
        if ((r->used + 1) * 2 > r->cap) {
            if (grow(r) != 0)
                return ERR_NOMEM;
            s = find(r->slots, r->cap, rsvp_id);
        }
        s->id = rsvp_id;
        r->used++;
    }
    s->produced++;
    s->seen++;
    r->total++;
    return 0;
}

void resume_skip(resume *r, int64_t rsvp_id, int64_t mtime)
{
    if (mtime != r->mtime)
        return;
    slot *s = find(r->slots, r->cap, rsvp_id);
    if (s->produced)
        s->seen++;
}

void resume_reconnect(resume *r)
{
    for (size_t i = 0; i < r->cap; i++)
        r->slots[i].seen = 0;
}

int64_t resume_mtime(const resume *r)
{
    return r->mtime;
}

size_t resume_boundary_count(const resume *r)
{
    return r->total;
}

int resume_copy(resume *dst, const resume *src)
{
    if (dst == src)
        return 0;
    if (dst->cap != src->cap) {
        slot *ns = malloc(src->cap * sizeof(*ns));
        if (!ns)
            return ERR_NOMEM;
        free(dst->slots);
        dst->slots = ns;
        dst->cap = src->cap;
    }
    memcpy(dst->slots, src->slots, src->cap * sizeof(*src->slots));
    dst->used = src->used;
    dst->total = src->total;
    dst->mtime = src->mtime;
    return 0;
}

void resume_clear(resume *r)
{
    clear_table(r);
    r->mtime = -1;
}
