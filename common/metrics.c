/* metrics.c: the process-wide metrics registry (see metrics.h). Families (one name, help, type)
 * hold series (one label set); registration and rendering take g_lock, updates are C11 atomics.
 * Process metrics (CPU, RSS, start time) are read from /proc at scrape time. */
#include "common/metrics.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

#define HIST_MAX_BOUNDS 32

typedef enum mtype { MT_COUNTER, MT_GAUGE, MT_HIST } mtype;

struct mcounter {
    _Atomic uint64_t v;
};

struct mgauge {
    _Atomic uint64_t bits; /* the double's bits */
};

struct mhist {
    int n;
    double bounds[HIST_MAX_BOUNDS];
    _Atomic uint64_t buckets[HIST_MAX_BOUNDS + 1]; /* non-cumulative; [n] is +Inf */
    _Atomic uint64_t sum_bits;
};

typedef struct series {
    struct series *next;
    char *labels; /* "" for none */
    union {
        struct mcounter c;
        struct mgauge g;
        struct mhist h;
    } u;
} series;

typedef struct family {
    struct family *next;
    char *name;
    char *help;
    mtype type;
    series *first, *last;
} family;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static family *g_first, *g_last;

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static int valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p; p++) {
        int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return 0;
    }
    return 1;
}

/* Find or create the series name{labels} of type t; caller holds g_lock. */
static series *lookup(const char *name, const char *labels, const char *help, mtype t)
{
    if (!valid_name(name))
        return NULL;
    if (labels == NULL)
        labels = "";
    family *f = g_first;
    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    if (f) {
        if (f->type != t)
            return NULL;
        for (series *s = f->first; s; s = s->next)
            if (strcmp(s->labels, labels) == 0)
                return s;
    }
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f || !(f->name = strdup(name)) || (help && !(f->help = strdup(help)))) {
            if (f) {
                free(f->name);
                free(f);
            }
            free(s->labels);
            free(s);
            return NULL;
        }
        f->type = t;
        if (g_last)
            g_last->next = f;
        else
            g_first = f;
        g_last = f;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    return s;
}

/* metrics_counter: see metrics.h. Start-up; any thread. */
mcounter *metrics_counter(const char *name, const char *labels, const char *help)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(name, labels, help, MT_COUNTER);
    pthread_mutex_unlock(&g_lock);
    return s ? &s->u.c : NULL;
}

void mcounter_add(mcounter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t mcounter_get(const mcounter *c)
{
    return c ? atomic_load_explicit(&((mcounter *)c)->v, memory_order_relaxed) : 0;
}

mgauge *metrics_gauge(const char *name, const char *labels, const char *help)
{
    pthread_mutex_lock(&g_lock);
    series *s = lookup(name, labels, help, MT_GAUGE);
    pthread_mutex_unlock(&g_lock);
    return s ? &s->u.g : NULL;
}

void mgauge_set(mgauge *g, double v)
{
    if (g)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void mgauge_add(mgauge *g, double v)
{
    if (g)
        atomic_add_double(&g->bits, v);
}

double mgauge_get(const mgauge *g)
{
    return g ? bitsd(atomic_load_explicit(&((mgauge *)g)->bits, memory_order_relaxed)) : 0.0;
}

/* metrics_histogram: see metrics.h. Bounds must be ascending and finite; n in 1..32. A second
 * registration of the same name+labels returns the first one (its bounds win). */
mhist *metrics_histogram(const char *name, const char *labels, const char *help, const double *bounds, int n)
{
    if (n < 1 || n > HIST_MAX_BOUNDS || bounds == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;
    pthread_mutex_lock(&g_lock);
    series *s = lookup(name, labels, help, MT_HIST);
    if (s && s->u.h.n == 0) {
        s->u.h.n = n;
        memcpy(s->u.h.bounds, bounds, (size_t)n * sizeof *bounds);
    }
    pthread_mutex_unlock(&g_lock);
    return s ? &s->u.h : NULL;
}

void mhist_observe(mhist *h, double v)
{
    if (!h)
        return;
    int i = 0;
    /* Linear scan: n <= 32 and the common case is the first few buckets. NaN lands in +Inf. */
    while (i < h->n && !(v <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t mhist_count(const mhist *h)
{
    if (!h)
        return 0;
    uint64_t c = 0;
    for (int i = 0; i <= h->n; i++)
        c += atomic_load_explicit(&((mhist *)h)->buckets[i], memory_order_relaxed);
    return c;
}

/* mhist_quantile: as Prometheus' histogram_quantile(): linear inside the bucket, the first bucket
 * starts at 0 (or at its bound if negative), the +Inf bucket answers the highest finite bound.
 * NaN when empty or q outside [0, 1]. */
double mhist_quantile(const mhist *h, double q)
{
    if (!h || !(q >= 0.0 && q <= 1.0))
        return NAN;
    uint64_t cnt[HIST_MAX_BOUNDS + 1];
    uint64_t total = 0;
    for (int i = 0; i <= h->n; i++) {
        cnt[i] = atomic_load_explicit(&((mhist *)h)->buckets[i], memory_order_relaxed);
        total += cnt[i];
    }
    if (total == 0)
        return NAN;
    double rank = q * (double)total;
    uint64_t cum = 0;
    for (int i = 0; i <= h->n; i++) {
        uint64_t prev = cum;
        cum += cnt[i];
        if ((double)cum >= rank && cnt[i] > 0) {
            if (i == h->n)
                return h->bounds[h->n - 1];
            double lo = i == 0 ? (h->bounds[0] > 0 ? 0.0 : h->bounds[0]) : h->bounds[i - 1];
            double hi = h->bounds[i];
            return lo + (hi - lo) * ((rank - (double)prev) / (double)cnt[i]);
        }
    }
    return h->bounds[h->n - 1];
}

/* Prometheus float text: shortest round-trip form, NaN / +Inf / -Inf. */
static void fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int put_help(buf *out, const family *f)
{
    int rc = 0;
    if (f->help) {
        rc |= buf_printf(out, "# HELP %s ", f->name);
        for (const char *p = f->help; *p; p++) {
            if (*p == '\\')
                rc |= buf_puts(out, "\\\\");
            else if (*p == '\n')
                rc |= buf_puts(out, "\\n");
            else
                rc |= buf_putc(out, *p);
        }
        rc |= buf_putc(out, '\n');
    }
    static const char *const TYPES[] = {"counter", "gauge", "histogram"};
    rc |= buf_printf(out, "# TYPE %s %s\n", f->name, TYPES[f->type]);
    return rc;
}

/* name{labels,extra} or name{extra} or name; extra may be NULL. */
static int put_sample_name(buf *out, const char *name, const char *suffix, const char *labels,
                           const char *extra)
{
    int rc = buf_puts(out, name);
    rc |= buf_puts(out, suffix);
    int has_l = labels && *labels, has_e = extra && *extra;
    if (has_l || has_e) {
        rc |= buf_putc(out, '{');
        if (has_l)
            rc |= buf_puts(out, labels);
        if (has_l && has_e)
            rc |= buf_putc(out, ',');
        if (has_e)
            rc |= buf_puts(out, extra);
        rc |= buf_putc(out, '}');
    }
    rc |= buf_putc(out, ' ');
    return rc;
}

static int put_series(buf *out, const family *f, const series *s)
{
    char num[64];
    int rc = 0;
    switch (f->type) {
    case MT_COUNTER:
        rc |= put_sample_name(out, f->name, "", s->labels, NULL);
        rc |= buf_printf(out, "%llu\n", (unsigned long long)mcounter_get(&s->u.c));
        break;
    case MT_GAUGE:
        fmt_double(num, sizeof num, mgauge_get(&s->u.g));
        rc |= put_sample_name(out, f->name, "", s->labels, NULL);
        rc |= buf_printf(out, "%s\n", num);
        break;
    case MT_HIST: {
        const mhist *h = &s->u.h;
        uint64_t cum = 0;
        for (int i = 0; i <= h->n; i++) {
            cum += atomic_load_explicit(&((mhist *)h)->buckets[i], memory_order_relaxed);
            char le[80];
            if (i < h->n) {
                fmt_double(num, sizeof num, h->bounds[i]);
                snprintf(le, sizeof le, "le=\"%s\"", num);
            } else {
                snprintf(le, sizeof le, "le=\"+Inf\"");
            }
            rc |= put_sample_name(out, f->name, "_bucket", s->labels, le);
            rc |= buf_printf(out, "%llu\n", (unsigned long long)cum);
        }
        fmt_double(num, sizeof num,
                   bitsd(atomic_load_explicit(&((mhist *)h)->sum_bits, memory_order_relaxed)));
        rc |= put_sample_name(out, f->name, "_sum", s->labels, NULL);
        rc |= buf_printf(out, "%s\n", num);
        /* _count is the +Inf bucket read above, so the two always agree */
        rc |= put_sample_name(out, f->name, "_count", s->labels, NULL);
        rc |= buf_printf(out, "%llu\n", (unsigned long long)cum);
        break;
    }
    }
    return rc;
}

/* Process start as Unix seconds: /proc/self/stat starttime (ticks since boot) + btime. */
static double process_start_seconds(void)
{
    static double cached;
    if (cached > 0)
        return cached;
    double start = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[2048];
        if (fgets(line, sizeof line, f)) {
            /* fields after the ")" of comm: state is field 3, starttime is field 22 */
            char *p = strrchr(line, ')');
            unsigned long long ticks = 0;
            if (p) {
                p++;
                for (int field = 3; field <= 22 && p; field++) {
                    p = strchr(p, ' ');
                    if (p)
                        p++;
                    if (field == 22 && p)
                        ticks = strtoull(p, NULL, 10);
                }
            }
            FILE *s = fopen("/proc/stat", "r");
            if (s) {
                unsigned long long btime = 0;
                char l2[512];
                while (fgets(l2, sizeof l2, s))
                    if (sscanf(l2, "btime %llu", &btime) == 1)
                        break;
                fclose(s);
                long hz = sysconf(_SC_CLK_TCK);
                if (btime && hz > 0)
                    start = (double)btime + (double)ticks / (double)hz;
            }
        }
        fclose(f);
    }
    if (start <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start = (double)ts.tv_sec;
    }
    cached = start;
    return start;
}

static int put_process(buf *out)
{
    char num[64];
    int rc = 0;
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
              (double)ru.ru_stime.tv_usec / 1e6;
    fmt_double(num, sizeof num, cpu);
    rc |= buf_printf(out,
                     "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                     "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                     "process_cpu_seconds_total %s\n",
                     num);
    double rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size, res;
        if (fscanf(f, "%llu %llu", &size, &res) == 2)
            rss = (double)res * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    } else if (getrusage(RUSAGE_SELF, &ru) == 0) {
        rss = (double)ru.ru_maxrss * 1024.0;
    }
    fmt_double(num, sizeof num, rss);
    rc |= buf_printf(out,
                     "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                     "# TYPE process_resident_memory_bytes gauge\n"
                     "process_resident_memory_bytes %s\n",
                     num);
    /* The C heap (glibc, every arena): what is in use, what is free but still held (the part
     * malloc_trim, common/memtrim.h, can give back) and what is mapped for large blocks. Tells a
     * growing RSS that is live memory from one that is fragmentation. */
    struct mallinfo2 mi = mallinfo2();
    const struct {
        const char *kind;
        size_t v;
    } heap[] = {{"in_use", mi.uordblks}, {"free", mi.fordblks}, {"mmap", mi.hblkhd}};
    rc |= buf_printf(out, "# HELP process_heap_bytes C heap bytes: in_use (heap blocks in use), free (held "
                          "but unused), mmap (large blocks mapped apart, in use).\n"
                          "# TYPE process_heap_bytes gauge\n");
    for (size_t i = 0; i < sizeof heap / sizeof heap[0]; i++) {
        fmt_double(num, sizeof num, (double)heap[i].v);
        rc |= buf_printf(out, "process_heap_bytes{kind=\"%s\"} %s\n", heap[i].kind, num);
    }
    fmt_double(num, sizeof num, process_start_seconds());
    rc |= buf_printf(out,
                     "# HELP process_start_time_seconds Start time of the process since unix "
                     "epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
                     "process_start_time_seconds %s\n",
                     num);
    return rc;
}

/* metrics_render: see metrics.h. Any thread (takes g_lock; updates keep running meanwhile). */
int metrics_render(buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    for (const family *f = g_first; f && rc == 0; f = f->next) {
        rc |= put_help(out, f);
        for (const series *s = f->first; s; s = s->next)
            rc |= put_series(out, f, s);
    }
    pthread_mutex_unlock(&g_lock);
    if (rc == 0)
        rc = put_process(out);
    return rc ? ERR_NOMEM : 0;
}

/* metrics_free_all: see metrics.h. Every pointer returned before is invalid afterwards. */
void metrics_free_all(void)
{
    pthread_mutex_lock(&g_lock);
    family *f = g_first;
    g_first = g_last = NULL;
    pthread_mutex_unlock(&g_lock);
    while (f) {
        family *fn = f->next;
        series *s = f->first;
        while (s) {
            series *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
}
