#!/usr/bin/env python3
"""report.py: the verdict and the Markdown table of a soak run (tests/soak/run.sh), and the plot's data.

  report.py SAMPLES FAULTS COMPARE OUT_MD PLOT_DAT [key=value ...]

SAMPLES: samples.tsv (a header, one line per minute; "-" where a source did not answer). FAULTS: the
run's faults.txt ("<s> <kind> <target>"). COMPARE: tests/chaos/truth.py compare's output. key=value pairs
are the run's parameters and figures, printed as given (counts_exact=1 or 0 is also part of the verdict).
Growth is the median of the last third of the samples over the median of the first third, minus one,
for each service's RSS and open fds (summed over its replicas) and for the freshness p99; over 10% fails.
warmup=faults leaves out of the thirds the samples up to one minute after every kind of fault (kill -9,
broker restart, PostgreSQL restart, writer pause) has happened once: the first of each kind brings
one-time costs (code and buffers of its recovery path, a catch-up's high-water mark); warmup=SECONDS
leaves out the samples up to then; warmup=0 (the default) compares all samples. Without at least 3
samples after the warm-up, all count.
Prints the verdict; exit 0 when nothing grew over the limit, 1 otherwise.
"""
import statistics
import sys

LIMIT = 0.10
SERVICES = ["ingestor", "parser", "aggregator", "writer"]


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def load(path):
    with open(path, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(head, (num(x) for x in line.rstrip("\n").split("\t")))) for line in f if line.strip()]
    return head, rows


def median(rows, col):
    vals = [r[col] for r in rows if r.get(col) is not None]
    return statistics.median(vals) if vals else None


KINDS = ("kill9", "kafka", "postgres", "writer_sigstop")


def warmup(how, faults):
    """(seconds, note): the samples at or before seconds are left out of the thirds."""
    if how in ("0", "none", ""):
        return 0.0, "none"
    if how != "faults":
        return float(how), "%s s (given)" % how
    seen = {}
    for fl in faults:
        if len(fl) < 2:
            continue
        kind = next((k for k in KINDS if fl[1].startswith(k)), None)
        if kind and kind not in seen:
            seen[kind] = float(fl[0])
            if len(seen) == len(KINDS):
                return float(fl[0]) + 60, "until one minute after the first fault of every kind (%.0f s)" % (
                    float(fl[0]) + 60)
    return 0.0, "not every kind of fault happened: all samples compared"


def main(argv):
    samples, faults_path, compare_path, out_md, plot_dat = argv[1:6]
    params = dict(a.split("=", 1) for a in argv[6:])
    head, rows = load(samples)
    faults = []
    try:
        with open(faults_path, encoding="utf-8") as f:
            faults = [l.split() for l in f if l.strip()]
    except FileNotFoundError:
        pass
    compare = {}
    with open(compare_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not line.startswith(" "):
                compare[parts[0]] = parts[1]

    warm_s, warm_note = warmup(params.get("warmup", "0"), faults)
    compared = [r for r in rows if r.get("t_s") is not None and r["t_s"] > warm_s]
    if len(compared) < 3:
        compared, warm_s, warm_note = rows, 0.0, warm_note + "; fewer than 3 samples after it: all samples compared"
    k = max(1, len(compared) // 3)
    first, last = compared[:k], compared[-k:]
    checks = []  # (what, first, last, growth, ok)
    for svc in SERVICES:
        for what, col in (("RSS MB", svc + "_rss_mb"), ("open fds", svc + "_fds")):
            a, b = median(first, col), median(last, col)
            g = (b / a - 1) if a and b is not None else None
            checks.append((svc + " " + what, a, b, g, g is not None and g <= LIMIT))
    a, b = median(first, "fresh_p99_s"), median(last, "fresh_p99_s")
    g = (b / a - 1) if a and b is not None else None
    checks.append(("freshness p99 s", a, b, g, g is not None and g <= LIMIT))
    growth_ok = all(c[4] for c in checks) and len(rows) >= 3
    exact = params.get("counts_exact") == "1"

    def fmt(v, digits=1):
        return "-" if v is None else ("%.*f" % (digits, v))

    out = []
    out.append("# Soak run")
    out.append("")
    out.append("`make soak DURATION=%s` (tests/soak/run.sh): the pipeline under `rsvpctl up` (ingestor, parser x2, "
               "aggregator x2, writer x2) at a steady synthetic rate on its own Kafka and PostgreSQL, a fault every "
               "few minutes in turn (kill -9 of a random replica, broker kill -9 + restart, PostgreSQL immediate "
               "restart, a writer SIGSTOPped past the aggregator's timeout), writers with a short RETENTION so "
               "partitions are dropped all along. One sample per minute; services are summed over their replicas; "
               "freshness p99 is over the batches committed in the sample's minute (from rsvp_batches)."
               % params.get("duration", "?"))
    out.append("")
    out.append("| parameter | value |")
    out.append("|---|---|")
    for key in ("commit", "duration", "rate", "count", "seed", "fault_every", "retention", "partition_interval"):
        out.append("| %s | %s |" % (key.replace("_", " "), params.get(key, "?")))
    out.append("")
    out.append("## Verdict: %s" % ("PASS" if growth_ok and exact else "FAIL"))
    out.append("")
    out.append("Warm-up left out of the thirds: %s; thirds of the %d samples after it: %d each." % (
        warm_note, len(compared), k))
    out.append("")
    out.append("| check | first third (median) | last third (median) | growth | limit | ok |")
    out.append("|---|---|---|---|---|---|")
    for what, a, b, g, ok in checks:
        out.append("| %s | %s | %s | %s | +%d%% | %s |" % (what, fmt(a, 3 if "fresh" in what else 1),
                                                         fmt(b, 3 if "fresh" in what else 1),
                                                         "-" if g is None else "%+.1f%%" % (100 * g),
                                                         int(LIMIT * 100), "yes" if ok else "**no**"))
    out.append("")
    out.append("| result | value |")
    out.append("|---|---|")
    for key, label in (("rsvps_truth", "RSVPs counted (truth)"), ("rsvps_stored", "RSVPs in rsvp_counts"),
                       ("keys_compared", "keys compared"), ("mismatches", "mismatches (rsvp_counts)"),
                       ("latest_mismatches", "mismatches (newest meetup_table row, surviving keys)")):
        out.append("| %s | %s |" % (label, compare.get(key, "?")))
    for key in ("restarts", "partitions_dropped", "batches_refused", "stop_exit"):
        out.append("| %s | %s |" % (key.replace("_", " "), params.get(key, "?")))
    kinds = {}
    for fl in faults:
        if len(fl) >= 2:
            kinds[fl[1]] = kinds.get(fl[1], 0) + 1
    out.append("| faults | %s |" % (", ".join("%s x%d" % kv for kv in sorted(kinds.items())) or "none"))
    out.append("")
    out.append("![soak series](soak.svg)")
    out.append("")
    out.append("## Samples")
    out.append("")
    cols = ["t_s"] + [s + "_rss_mb" for s in SERVICES] + [s + "_heap_mb" for s in SERVICES] + \
           [s + "_fds" for s in SERVICES] + \
           [s + "_threads" for s in SERVICES] + ["fresh_p99_s", "rate_per_s", "parser_lag", "agg_lag",
                                                  "meetup_mb", "meetup_parts", "batches_mb", "batches_parts",
                                                  "counts_mb", "counts_keys"]
    short = {"t_s": "min"}
    for s in SERVICES:
        short[s + "_rss_mb"] = s[:3] + " RSS MB"
        short[s + "_heap_mb"] = s[:3] + " heap MB"
        short[s + "_fds"] = s[:3] + " fds"
        short[s + "_threads"] = s[:3] + " thr"
    short.update({"fresh_p99_s": "fresh p99 s", "rate_per_s": "RSVPs/s", "parser_lag": "parser lag",
                  "agg_lag": "agg lag", "meetup_mb": "meetup MB", "meetup_parts": "meetup parts",
                  "batches_mb": "batches MB", "batches_parts": "batches parts", "counts_mb": "counts MB",
                  "counts_keys": "keys"})
    out.append("| " + " | ".join(short[c] for c in cols) + " |")
    out.append("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "t_s":
                cells.append(fmt(None if v is None else v / 60, 0))
            elif v is None:
                cells.append("-")
            elif c == "fresh_p99_s":
                cells.append("%.3f" % v)
            elif float(v).is_integer():
                cells.append("%d" % v)
            else:
                cells.append("%.1f" % v)
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Faults (seconds since the start):")
    out.append("")
    for fl in faults:
        out.append("- %s s: %s %s" % (fl[0], fl[1], " ".join(fl[2:])))
    with open(out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")

    with open(plot_dat, "w", encoding="utf-8") as f:
        plot_cols = ["t_s"] + [s + "_rss_mb" for s in SERVICES] + [s + "_fds" for s in SERVICES] + \
                    ["fresh_p99_s", "parser_lag", "agg_lag", "meetup_mb", "batches_mb", "counts_mb", "meetup_parts"]
        f.write("# " + " ".join(plot_cols) + "\n")
        for r in rows:
            vals = []
            for c in plot_cols:
                v = r.get(c)
                vals.append("NaN" if v is None else ("%g" % (v / 60 if c == "t_s" else v)))
            f.write(" ".join(vals) + "\n")
        f.write("\n\n# faults: minute\n")
        for fl in faults:
            f.write("%g 1\n" % (float(fl[0]) / 60))

    for what, a, b, g, ok in checks:
        print("%-22s first %-8s last %-8s growth %-8s %s" % (what, fmt(a, 3), fmt(b, 3),
                                                           "-" if g is None else "%+.1f%%" % (100 * g),
                                                           "ok" if ok else "OVER THE LIMIT"))
    print("counts exact: %s; %d samples, warm-up: %s" % ("yes" if exact else "NO", len(rows), warm_note))
    return 0 if growth_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
