# tests/differential/reference_batch.py: the reference transformation (bench/spark/reference.py: from_json
# with the reference schema, the selects, the 12-column group-by with count(response)) as a PySpark batch
# over the exact bytes of the lines of a file, with the reference's settings (ANSI off). Lines are what the
# ingestor makes of the file: split at "\n", one trailing "\r" dropped, empty lines skipped.
# Usage: reference_batch.py LINES [--grouped OUT] [--per-line OUT]
#   --grouped: one line per key of the aggregate (the reference's output rows): "<count> <key>";
#   --per-line: one line per input line, in input order: "<key>" (the columns before the group-by).
# A key is a JSON object of the 12 columns as json.dumps writes it (doubles as floats, NULL as null),
# the text tests/unit/rsvp_dump.c's rsvp_dump_key writes for the parser's side.
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "spark"))

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as func  # noqa: E402

import reference  # noqa: E402

COLS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state", "group_city",
        "group_lat", "group_lon", "lat", "lon", "response"]
DOUBLES = {"group_lat", "group_lon", "lat", "lon"}


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            sys.exit(f"{path}: a line ends in \\r (the ingestor would drop it, Spark's text source would not)")
        if line:
            out.append(line)
    return out


def key_json(row):
    """The key of a result row as tests/unit/rsvp_dump.c's rsvp_dump_key writes it (json.dumps, compact)."""
    obj = {c: (float(row[c]) if c in DOUBLES and row[c] is not None else row[c]) for c in COLS}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lines")
    ap.add_argument("--grouped")
    ap.add_argument("--per-line")
    args = ap.parse_args()
    spark = (SparkSession.builder.appName("meetup-reference-batch")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.ansi.enabled", "false")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    # The lines as the raw topic holds them: Spark's text source splits at "\n" only (lineSep) and keeps the
    # bytes as they are; the value column is then binary, as the Kafka source's is. A trailing "\r" (the
    # ingestor drops it) never occurs in generated lines; read_lines() checks.
    lines = read_lines(args.lines)
    raw = (spark.read.option("lineSep", "\n").text(args.lines)
           .where(func.length("value") > 0)
           .select(func.col("value").cast("binary").alias("value"),
                   func.monotonically_increasing_id().alias("idx"),
                   func.lit(datetime.datetime(2026, 1, 1)).alias("timestamp")))
    # The reference's parse keeps only its own columns: carry the line number beside it.
    parsed = reference.parse(raw.withColumn("timestamp", func.struct("timestamp", "idx")))
    parsed = parsed.withColumn("idx", func.col("timestamp.idx")).withColumn("timestamp", func.col("timestamp.timestamp"))
    if args.per_line:
        keyed = parsed.select(func.col("idx"), func.col("event_name"), func.col("event_url"),
                              func.col("time").alias("event_time"), func.col("group_name"),
                              func.col("group_country"), func.col("group_state"), func.col("group_city"),
                              func.col("group_lat").cast("double").alias("group_lat"),
                              func.col("group_lon").cast("double").alias("group_lon"),
                              func.col("lat").cast("double").alias("lat"),
                              func.col("lon").cast("double").alias("lon"), func.col("response"))
        rows = sorted(keyed.collect(), key=lambda r: r["idx"])
        if len(rows) != len(lines):
            sys.exit(f"Spark read {len(rows)} lines, the file has {len(lines)}")
        with open(args.per_line, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(key_json(r) + "\n")
    if args.grouped:
        rows = reference.group(parsed).collect()
        with open(args.grouped, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(f"{r['response_count']} {key_json(r)}\n")
    spark.stop()


if __name__ == "__main__":
    main()
