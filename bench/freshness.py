#!/usr/bin/env python3
"""bench/freshness.py: the freshness distribution of a steady-stream run, for bench/run.sh.

Freshness of one RSVP = the moment its count is visible in PostgreSQL - the moment it entered Kafka (the
raw message's timestamp, which the ingestor sets when it produces the message). Only RSVPs that entered
Kafka inside the measurement window [T0, T1] (epoch ms) count.

  freshness.py batches BATCHES T0 T1 CDF
      The pipeline. BATCHES: one line per batch from rsvp_batches: messages oldest_ingest_ms
      newest_ingest_ms committed_ms. The writer does not store each RSVP's timestamp, so a batch's RSVPs
      are taken as spread evenly between its oldest and newest (at a paced rate they are).
  freshness.py spark PROGRESS DUMP T0 T1 CDF
      The reference job, exactly per RSVP. PROGRESS: job.py's file (start end rows batch_id visible_s
      ranges); DUMP: `kcat -f '%p %o %T\\n'` of the raw topic. Each RSVP is found in the micro-batch whose
      offset range holds it; its count is visible when that batch's foreachBatch write returned. The
      batch method above is computed too (spread_*), to show what the approximation costs.

Prints "key value" lines (n, p50, p99, max in ms; spark: unmatched, spread_p50, spread_p99) and writes the
CDF (seconds, fraction; ~400 points) to CDF for the plot.
"""
import bisect
import sys


def weighted_pct(pts, p):
    """pts: sorted (delay, weight); the delay below which a fraction p of the weight lies."""
    tot = sum(w for _, w in pts)
    acc = 0.0
    for d, w in pts:
        acc += w
        if acc >= p * tot:
            return d
    return pts[-1][0]


def write_cdf(pts, path):
    tot = sum(w for _, w in pts)
    acc, step, nxt = 0.0, tot / 400, 0.0
    with open(path, "w") as f:
        for d, w in pts:
            acc += w
            if acc >= nxt:
                f.write(f"{d / 1000:.4f} {acc / tot:.5f}\n")
                nxt += step


def spread(rows, t0, t1):
    """rows: (messages, oldest_ms, newest_ms, visible_ms). Sorted (delay, weight) of the RSVPs in [t0, t1],
    each batch's RSVPs spread evenly between its oldest and newest timestamp (at most 50 points a batch),
    and the largest delay of one of them."""
    pts, worst = [], None
    for m, old, new, done in rows:
        k = min(m, 50)
        for j in range(k):
            ts = old + (j + 0.5) / k * (new - old)
            if t0 <= ts <= t1:
                pts.append((done - ts, m / k))
        if old <= t1 and new >= t0:
            d = done - max(old, t0)
            worst = d if worst is None else max(worst, d)
    pts.sort()
    return pts, worst


def batches(path, t0, t1, cdf):
    rows = [tuple(int(float(x)) for x in line.split()[:4]) for line in open(path) if line.strip()]
    pts, worst = spread(rows, t0, t1)
    if not pts:
        print("n 0")
        return
    print("n", round(sum(w for _, w in pts)))
    print("p50", round(weighted_pct(pts, 0.5)))
    print("p99", round(weighted_pct(pts, 0.99)))
    print("max", round(worst))
    print("batches", sum(1 for m, old, new, _ in rows if old <= t1 and new >= t0))
    write_cdf(pts, cdf)


def spark(progress, dump, t0, t1, cdf):
    # per partition: sorted offset starts, with (end, visible_ms, batch index)
    starts, info, vis = {}, {}, []
    for line in open(progress):
        f = line.split()
        if len(f) < 6:
            continue
        b = len(vis)
        vis.append(float(f[4]) * 1000)
        for r in f[5].split(","):
            part, rng = r.split(":")
            lo, hi = (int(x) for x in rng.split("-"))
            if hi > lo:
                starts.setdefault(int(part), []).append((lo, hi, b))
    for part, lst in starts.items():
        lst.sort()
        info[part] = ([lo for lo, _, _ in lst], lst)
    delays, unmatched = [], 0
    per_batch = {}  # batch -> [messages, oldest, newest] of every RSVP of it (for the batch method)
    for line in open(dump):
        f = line.split()
        if len(f) != 3:
            continue
        part, off, ts = int(f[0]), int(f[1]), int(f[2])
        b = None
        if part in info:
            los, lst = info[part]
            i = bisect.bisect_right(los, off) - 1
            if i >= 0 and off < lst[i][1]:
                b = lst[i][2]
        if b is not None:
            s = per_batch.setdefault(b, [0, ts, ts])
            s[0] += 1
            s[1] = min(s[1], ts)
            s[2] = max(s[2], ts)
        if not t0 <= ts <= t1:
            continue
        if b is None:
            unmatched += 1
            continue
        delays.append(vis[b] - ts)
    print("unmatched", unmatched)
    if not delays:
        print("n 0")
        return
    delays.sort()
    n = len(delays)
    print("n", n)
    print("p50", round(delays[int(n * 0.5)]))
    print("p99", round(delays[min(n - 1, int(n * 0.99))]))
    print("max", round(delays[-1]))
    print("batches", sum(1 for b, (_, old, new) in per_batch.items() if old <= t1 and new >= t0))
    rows = [(m, old, new, vis[b]) for b, (m, old, new) in per_batch.items()]
    pts, _ = spread(rows, t0, t1)
    if pts:
        print("spread_p50", round(weighted_pct(pts, 0.5)))
        print("spread_p99", round(weighted_pct(pts, 0.99)))
    write_cdf([(d, 1) for d in delays], cdf)


def main(argv):
    if len(argv) == 6 and argv[1] == "batches":
        batches(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 7 and argv[1] == "spark":
        spark(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6])
    else:
        sys.exit("usage: freshness.py batches BATCHES T0 T1 CDF | spark PROGRESS DUMP T0 T1 CDF")


if __name__ == "__main__":
    main(sys.argv)
