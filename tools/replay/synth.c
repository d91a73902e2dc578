/* synth.c: deterministic synthetic RSVPs. Events and groups are rendered once at start into JSON
 * fragments (so an event's key columns are identical in every message that names it); a message
 * then costs a Zipf lookup, a few integers and memcpy. Strings in the tables below are already
 * JSON-encoded (some with \uXXXX escapes, a surrogate pair), so nothing is escaped per message. */
#include "tools/replay/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

typedef struct city {
    const char *name;    /* JSON-encoded */
    const char *slug;    /* ASCII, for urlnames */
    const char *country; /* ISO code, lower case as Meetup sends it */
    const char *state;   /* US/CA only, else NULL */
    double lat, lon;
} city;

/* Roughly by Meetup activity, so the Zipf over this table favours the first rows. */
static const city CITIES[] = {
    {"New York", "NYC", "us", "NY", 40.71, -74.01},
    {"London", "London", "gb", NULL, 51.51, -0.12},
    {"San Francisco", "SF", "us", "CA", 37.77, -122.42},
    {"Toronto", "Toronto", "ca", "ON", 43.65, -79.38},
    {"Berlin", "Berlin", "de", NULL, 52.52, 13.40},
    {"Chicago", "Chicago", "us", "IL", 41.88, -87.63},
    {"Paris", "Paris", "fr", NULL, 48.86, 2.35},
    {"Seattle", "Seattle", "us", "WA", 47.61, -122.33},
    {"Sydney", "Sydney", "au", NULL, -33.87, 151.21},
    {"Los Angeles", "LA", "us", "CA", 34.05, -118.24},
    {"Austin", "Austin", "us", "TX", 30.27, -97.74},
    {"Boston", "Boston", "us", "MA", 42.36, -71.06},
    {"Amsterdam", "Amsterdam", "nl", NULL, 52.37, 4.89},
    {"M\u00fcnchen", "Muenchen", "de", NULL, 48.14, 11.58},
    {"Montr\\u00e9al", "Montreal", "ca", "QC", 45.50, -73.57},
    {"Vancouver", "Vancouver", "ca", "BC", 49.28, -123.12},
    {"Madrid", "Madrid", "es", NULL, 40.42, -3.70},
    {"Barcelona", "Barcelona", "es", NULL, 41.39, 2.17},
    {"Washington", "DC", "us", "DC", 38.91, -77.04},
    {"Denver", "Denver", "us", "CO", 39.74, -104.99},
    {"Atlanta", "Atlanta", "us", "GA", 33.75, -84.39},
    {"Z\u00fcrich", "Zurich", "ch", NULL, 47.38, 8.54},
    {"Singapore", "Singapore", "sg", NULL, 1.29, 103.85},
    {"Bangalore", "Bangalore", "in", NULL, 12.97, 77.59},
    {"Tokyo", "Tokyo", "jp", NULL, 35.68, 139.69},
    {"S\\u00e3o Paulo", "Sao-Paulo", "br", NULL, -23.55, -46.63},
    {"Melbourne", "Melbourne", "au", NULL, -37.81, 144.96},
    {"Dublin", "Dublin", "ie", NULL, 53.35, -6.26},
    {"Stockholm", "Stockholm", "se", NULL, 59.33, 18.07},
    {"K\u00f8benhavn", "Copenhagen", "dk", NULL, 55.68, 12.57},
    {"Wien", "Vienna", "at", NULL, 48.21, 16.37},
    {"Warszawa", "Warsaw", "pl", NULL, 52.23, 21.01},
    {"Krak\u00f3w", "Krakow", "pl", NULL, 50.06, 19.94},
    {"Praha", "Prague", "cz", NULL, 50.08, 14.44},
    {"Lisboa", "Lisbon", "pt", NULL, 38.72, -9.14},
    {"Milano", "Milan", "it", NULL, 45.46, 9.19},
    {"Tel Aviv-Yafo", "Tel-Aviv", "il", NULL, 32.09, 34.78},
    {"Taipei", "Taipei", "tw", NULL, 25.03, 121.57},
    {"Seoul", "Seoul", "kr", NULL, 37.57, 126.98},
    {"Buenos Aires", "Buenos-Aires", "ar", NULL, -34.60, -58.38},
    {"Ciudad de M\u00e9xico", "CDMX", "mx", NULL, 19.43, -99.13},
    {"Auckland", "Auckland", "nz", NULL, -36.85, 174.76},
    {"Calgary", "Calgary", "ca", "AB", 51.05, -114.07},
    {"Portland", "Portland", "us", "OR", 45.52, -122.68},
    {"Reston", "Reston", "us", "VA", 38.96, -77.34},
    {"Nashua", "Nashua", "us", "NH", 42.76, -71.47},
    {"D\u00fcsseldorf", "Duesseldorf", "de", NULL, 51.23, 6.78},
    {"G\u00f6teborg", "Gothenburg", "se", NULL, 57.71, 11.97},
    {"Cape Town", "Cape-Town", "za", NULL, -33.92, 18.42},
    {"Nairobi", "Nairobi", "ke", NULL, -1.29, 36.82},
    {"Istanbul", "Istanbul", "tr", NULL, 41.01, 28.98},
    {"Hong Kong", "Hong-Kong", "hk", NULL, 22.32, 114.17},
};
#define NCITIES ((int)(sizeof CITIES / sizeof CITIES[0]))

typedef struct topic {
    const char *urlkey, *name;
} topic;

static const topic TOPICS[] = {
    {"softwaredev", "Software Development"},
    {"python", "Python"},
    {"javascript", "JavaScript"},
    {"data-science", "Data Science"},
    {"machine-learning", "Machine Learning"},
    {"startups", "Startup Businesses"},
    {"entrepreneurship", "Entrepreneurship"},
    {"hiking", "Hiking"},
    {"outdoors", "Outdoors"},
    {"walkers", "Walking"},
    {"language", "Language & Culture"},
    {"language-exchange", "Language Exchange"},
    {"french-language", "French Language"},
    {"spanish", "Spanish Language"},
    {"wine", "Wine"},
    {"food-and-drink", "Food and Drink"},
    {"diningout", "Dining Out"},
    {"newintown", "New In Town"},
    {"socialnetwork", "Social Networking"},
    {"fun-times", "Fun Times"},
    {"boardgames", "Board Games"},
    {"gaming", "Gaming"},
    {"photo", "Photography"},
    {"yoga", "Yoga"},
    {"meditation", "Meditation"},
    {"running", "Running"},
    {"cycling", "Cycling"},
    {"book-club", "Book Club"},
    {"writing", "Writing"},
    {"film", "Film"},
    {"live-music", "Live Music"},
    {"dance", "Dance"},
    {"salsa", "Salsa"},
    {"cafe", "Caf\\u00e9 Culture"},
    {"blockchain", "Blockchain"},
    {"cloud-computing", "Cloud Computing"},
    {"devops", "DevOps"},
    {"women-in-tech", "Women in Technology"},
    {"parents", "Parents"},
    {"singles", "Singles"},
    {"geek", "Geek Culture"},
    {"self-improvement", "Self-Improvement"},
};
#define NTOPICS ((int)(sizeof TOPICS / sizeof TOPICS[0]))

static const char *const ADJ[] = {
    "Monthly",  "Weekly",  "Friday", "Saturday Morning", "Sunday", "Intro to",   "Advanced",
    "Beginner", "Evening", "Open",   "Summer",           "Winter", "Late Night", "Casual",
};
#define NADJ ((int)(sizeof ADJ / sizeof ADJ[0]))

/* Drawn for ~8% of events: raw UTF-8, \uXXXX escapes and one surrogate pair (an emoji). */
static const char *const INTL[] = {
    "Sp\u00e9cial",       "Gro\u00dfer",   "Soir\u00e9e",          "Fr\\u00fchlings", "Caf\u00e9",
    "\u65e5\u672c\u8a9e", "\\u00c9change", "Sushi \\ud83c\\udf63", "Stra\u00dfen",
};
#define NINTL ((int)(sizeof INTL / sizeof INTL[0]))

static const char *const NOUN[] = {
    "Python",        "Hike",         "Board Game", "Language Exchange", "Wine Tasting",
    "Startup Pitch", "Data Science", "Yoga",       "Photo Walk",        "Book Club",
    "Salsa",         "Run",          "Hack Night", "Networking",        "Meditation",
    "Film",          "Trivia",       "Stammtisch", "Kubernetes",        "Brunch",
    "Sushi",         "Tapas",        "Code Dojo",
};
#define NNOUN ((int)(sizeof NOUN / sizeof NOUN[0]))

static const char *const KIND[] = {
    "Meetup", "Night", "Session",      "Social",     "Workshop", "Talk", "Party",
    "Club",   "Walk",  "Get-Together", "Happy Hour", "Q&A",      "Jam",
};
#define NKIND ((int)(sizeof KIND / sizeof KIND[0]))

static const char *const GSUFFIX[] = {
    "Meetup",      "Club",   "Community", "Society",    "Group",
    "Enthusiasts", "Lovers", "Network",   "Collective", "Friends",
};
#define NGSUFFIX ((int)(sizeof GSUFFIX / sizeof GSUFFIX[0]))

static const char *const VENUE[] = {
    "The Crown & Anchor",  "Caf\u00e9 Central", "WeWork",          "Public Library",
    "Central Park",        "The Hub",           "Brauhaus",        "Starbucks",
    "Community Center",    "Innovation Lab",    "Irish Pub",       "Bierg\u00e4rtchen",
    "Google Office",       "City Hall",         "Rooftop Bar",     "Trailhead",
    "Caf\\u00e9 de Flore", "Yoga Studio",       "Coworking Space", "Jack Straw's  Castle",
};
#define NVENUE ((int)(sizeof VENUE / sizeof VENUE[0]))

static const char *const FIRST[] = {
    "Jos\u00e9", "Fran\\u00e7ois", "J\u00fcrgen", "Zo\u00eb",     "Bj\u00f6rn", "\u674e\u660e",
    "Ana",       "Ren\u00e9e",     "S\u00f8ren",  "\\u00c9milie",
};
#define NFIRST ((int)(sizeof FIRST / sizeof FIRST[0]))

typedef struct frag {
    uint32_t venue_off, venue_len; /* "venue":{...}, (with the trailing comma) or empty */
    uint32_t tail_off, tail_len;   /* "event":{...},"group":{...}} */
} frag;

struct synth {
    uint64_t seed;
    double *event_cdf; /* SYNTH_EVENTS cumulative Zipf weights, last = 1 */
    frag *frags;       /* per event */
    buf text;          /* every fragment, back to back */
};

uint64_t synth_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A splitmix64 stream: state advances by the golden gamma, output is the finaliser. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). The modulo bias is irrelevant at these sizes. */
static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

/* Uniform double in [0, 1). */
static double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Independent streams per (seed, domain, index): domains keep events, groups and messages apart. */
static rng rng_for(uint64_t seed, uint64_t domain, uint64_t index)
{
    rng r = {synth_mix64(seed ^ synth_mix64(domain * 0x100000001b3ULL ^ synth_mix64(index)))};
    return r;
}

enum { DOM_MSG = 1, DOM_EVENT = 2, DOM_GROUP = 3 };

/* Zipf rank in [0, n) with exponent s, by inversion of the approximate continuous CDF; cheap
 * enough for set-up of groups and cities (events use the exact table). */
static uint32_t zipf_approx(rng *r, uint32_t n, double s)
{
    double u = rng_unit(r);
    double hn = (pow((double)n + 1.0, 1.0 - s) - 1.0) / (1.0 - s);
    double x = pow(u * hn * (1.0 - s) + 1.0, 1.0 / (1.0 - s)) - 1.0;
    uint32_t k = (uint32_t)x;
    return k >= n ? n - 1 : k;
}

/* A coordinate the way Meetup prints it: up to 6 decimals, trailing zeros dropped (keep one). */
static int put_coord(buf *b, double v)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof tmp, "%.6f", v);
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return ERR_INVALID;
    while (n > 2 && tmp[n - 1] == '0' && tmp[n - 2] != '.')
        n--;
    if (strcmp(tmp, "-0.0") == 0)
        return buf_puts(b, "0.0");
    return buf_append(b, tmp, (size_t)n);
}

/* Group g's fields after "group_topics", i.e. the whole "group":{...} object. */
static int render_group(buf *b, uint64_t seed, uint32_t g)
{
    rng r = rng_for(seed, DOM_GROUP, g);
    const city *c = &CITIES[zipf_approx(&r, NCITIES, 0.9)];
    uint32_t t0 = rng_below(&r, NTOPICS);
    const char *suffix = GSUFFIX[rng_below(&r, NGSUFFIX)];
    int emoji = rng_below(&r, 40) == 0;
    int ntopics = 1 + (int)rng_below(&r, 10);
    int rc = buf_puts(b, "\"group\":{\"group_topics\":[");
    for (int k = 0; k < ntopics && rc == 0; k++) {
        const topic *t = &TOPICS[(t0 + (uint32_t)k * 5u) % NTOPICS /* 5 is coprime to 42 */];
        rc = buf_printf(b, "%s{\"urlkey\":\"%s\",\"topic_name\":\"%s\"}", k ? "," : "", t->urlkey, t->name);
    }
    const topic *main_topic = &TOPICS[t0];
    rc = rc ? rc
            : buf_printf(b,
                         "],\"group_city\":\"%s\",\"group_country\":\"%s\",\"group_id\":%u,"
                         "\"group_name\":\"%s %s %s%s\",\"group_lon\":",
                         c->name, c->country, 1000000u + g * 7919u + (uint32_t)(seed % 997), c->name,
                         main_topic->name, suffix, emoji ? " \\ud83c\\udf1f" : "");
    rc = rc ? rc : put_coord(b, c->lon);
    rc =
        rc ? rc : buf_printf(b, ",\"group_urlname\":\"%s-%s-%s-%u\"", c->slug, main_topic->urlkey, suffix, g);
    if (c->state && rc == 0)
        rc = buf_printf(b, ",\"group_state\":\"%s\"", c->state);
    rc = rc ? rc : buf_puts(b, ",\"group_lat\":");
    rc = rc ? rc : put_coord(b, c->lat);
    return rc ? rc : buf_puts(b, "}}");
}

/* Event e: its venue fragment and its event+group tail, appended to s->text. */
static int render_event(synth *s, uint32_t e)
{
    buf *b = &s->text;
    frag *f = &s->frags[e];
    rng r = rng_for(s->seed, DOM_EVENT, e);
    uint32_t g = zipf_approx(&r, SYNTH_GROUPS, 1.05);
    rng gr = rng_for(s->seed, DOM_GROUP, g); /* the group's city, for the venue */
    const city *c = &CITIES[zipf_approx(&gr, NCITIES, 0.9)];
    uint32_t venue_roll = rng_below(&r, 100);
    int rc = 0;

    f->venue_off = (uint32_t)b->len;
    if (venue_roll >= 15) { /* ~15% of events have no venue */
        double lat = 0, lon = 0;
        if (venue_roll >= 17) { /* ~2% sit at the 0,0 placeholder, as in the recorded data */
            lat = c->lat + (rng_unit(&r) - 0.5) * 0.2;
            lon = c->lon + (rng_unit(&r) - 0.5) * 0.2;
        }
        rc = buf_printf(b, "\"venue\":{\"venue_name\":\"%s\",\"lon\":", VENUE[rng_below(&r, NVENUE)]);
        rc = rc ? rc : put_coord(b, lon);
        rc = rc ? rc : buf_puts(b, ",\"lat\":");
        rc = rc ? rc : put_coord(b, lat);
        rc = rc ? rc : buf_printf(b, ",\"venue_id\":%u},", 10000000u + rng_below(&r, 20000000));
    }
    f->venue_len = (uint32_t)(b->len - f->venue_off);

    f->tail_off = (uint32_t)b->len;
    uint32_t event_num = 200000000u + e * 4999u + rng_below(&r, 4999); /* unique per event */
    char event_id[16];
    if (rng_below(&r, 2)) {
        snprintf(event_id, sizeof event_id, "%u", event_num);
    } else {
        for (int k = 0; k < 12; k++)
            event_id[k] = (char)('b' + rng_below(&r, 24));
        event_id[12] = '\0';
    }
    /* events between 2025-01-01 and a year later, on quarter hours */
    int64_t when = 1735689600000LL + (int64_t)rng_below(&r, 365 * 96) * 900000LL;
    int spaced = rng_below(&r, 100) == 0; /* a few names keep a trailing space, as recorded */
    /* one draw per statement: argument evaluation order is unspecified in C */
    const char *adj = rng_below(&r, 100) < 8 ? INTL[rng_below(&r, NINTL)] : ADJ[rng_below(&r, NADJ)];
    const char *noun = NOUN[rng_below(&r, NNOUN)];
    const char *kind = KIND[rng_below(&r, NKIND)];
    rc = rc ? rc
            : buf_printf(b,
                         "\"event\":{\"event_name\":\"%s %s %s #%u%s\",\"event_id\":\"%s\","
                         "\"time\":%lld,\"event_url\":\"https:\\/\\/www.meetup.com\\/",
                         adj, noun, kind, 1 + e % 97, spaced ? " " : "", event_id, (long long)when);
    /* the url carries the group's urlname: render the group into a scratch tail, then splice */
    buf grp = {0};
    rc = rc ? rc : render_group(&grp, s->seed, g);
    if (rc == 0) {
        const char *u = strstr(grp.data, "\"group_urlname\":\"");
        const char *ustart = u ? u + 17 : "";
        const char *uend = u ? strchr(ustart, '"') : ustart;
        rc = buf_append(b, ustart, (size_t)(uend - ustart));
        rc = rc ? rc : buf_printf(b, "\\/events\\/%u\\/\"},", event_num);
        rc = rc ? rc : buf_append(b, grp.data, grp.len);
    }
    buf_free(&grp);
    f->tail_len = (uint32_t)(b->len - f->tail_off);
    return rc;
}

int synth_new(synth **out, uint64_t seed)
{
    synth *s = calloc(1, sizeof *s);
    if (!s)
        return ERR_NOMEM;
    s->seed = seed;
    s->event_cdf = malloc(sizeof(double) * SYNTH_EVENTS);
    s->frags = calloc(SYNTH_EVENTS, sizeof(frag));
    if (!s->event_cdf || !s->frags || buf_reserve(&s->text, (size_t)SYNTH_EVENTS * 900) != 0) {
        synth_free(s);
        return ERR_NOMEM;
    }
    double acc = 0;
    for (int e = 0; e < SYNTH_EVENTS; e++) {
        acc += 1.0 / pow((double)e + 1.0, 0.9); /* Zipf s = 0.9: the head event ~4% of RSVPs */
        s->event_cdf[e] = acc;
    }
    for (int e = 0; e < SYNTH_EVENTS; e++)
        s->event_cdf[e] /= acc;
    s->event_cdf[SYNTH_EVENTS - 1] = 1.0;
    for (uint32_t e = 0; e < SYNTH_EVENTS; e++) {
        int rc = render_event(s, e);
        if (rc != 0) {
            synth_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

void synth_free(synth *s)
{
    if (!s)
        return;
    free(s->event_cdf);
    free(s->frags);
    buf_free(&s->text);
    free(s);
}

static int64_t event_from_unit(const synth *s, double u)
{
    int64_t lo = 0, hi = SYNTH_EVENTS - 1; /* first e with cdf[e] > u */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s->event_cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int64_t synth_event_of(const synth *s, int64_t i)
{
    rng r = rng_for(s->seed, DOM_MSG, (uint64_t)i);
    return event_from_unit(s, rng_unit(&r));
}

int synth_render(const synth *s, int64_t i, int64_t mtime, buf *out)
{
    rng r = rng_for(s->seed, DOM_MSG, (uint64_t)i);
    const frag *f = &s->frags[event_from_unit(s, rng_unit(&r))]; /* first draw: the event */
    uint32_t member_id = 1000000u + rng_below(&r, 300000000);
    uint32_t roll = rng_below(&r, 100);
    const char *response = roll < 75 ? "yes" : "no";
    uint32_t guests = rng_below(&r, 100) < 88 ? 0 : 1 + rng_below(&r, 5);
    int photo = rng_below(&r, 100) < 95;
    int intl_name = rng_below(&r, 100) < 6;
    uint32_t photo_id = rng_below(&r, 900000000);
    size_t keep = out->len;

    int rc = buf_reserve(out, f->venue_len + f->tail_len + 400);
    rc = rc ? rc : buf_putc(out, '{');
    rc = rc ? rc : buf_append(out, s->text.data + f->venue_off, f->venue_len);
    rc = rc ? rc
            : buf_printf(out,
                         "\"visibility\":\"public\",\"response\":\"%s\",\"guests\":%u,"
                         "\"member\":{\"member_id\":%u,",
                         response, guests, member_id);
    if (photo && rc == 0)
        rc = buf_printf(out,
                        "\"photo\":\"http:\\/\\/photos.example.invalid\\/photos\\/member\\/"
                        "thumb_%u.jpeg\",",
                        photo_id);
    if (rc == 0) {
        if (intl_name)
            rc = buf_printf(out, "\"member_name\":\"%s %c.\"},", FIRST[member_id % NFIRST],
                            'A' + (int)(member_id / NFIRST % 26));
        else
            rc = buf_printf(out, "\"member_name\":\"Member %08x\"},",
                            (unsigned)(synth_mix64(member_id) & 0xffffffffu));
    }
    rc = rc ? rc
            : buf_printf(out, "\"rsvp_id\":%lld,\"mtime\":%lld,", 1800000000LL + (long long)i,
                         (long long)mtime);
    rc = rc ? rc : buf_append(out, s->text.data + f->tail_off, f->tail_len);
    if (rc != 0) {
        out->len = keep;
        if (out->data)
            out->data[keep] = '\0';
    }
    return rc;
}
