# bench/spark/job.py: the reference job, the reference design's Spark Structured Streaming code as written:
# Kafka source -> from_json with its schema -> the same group-by (both in reference.py) ->
# foreachBatch JDBC append to meetup_table, outputMode update. Only the trigger, shuffle partitions
# and startingOffsets come from the command line. It stops once EXPECT input rows were processed (a backlog run) or, with EXPECT 0,
# once the file STOP_FILE exists (a steady-stream run), and prints one JSON result line.
# Usage: job.py BROKERS TOPIC JDBC_URL TRIGGER SHUFFLE_PARTITIONS EXPECT CHECKPOINT_DIR PROGRESS_FILE
#               [STATUS_FILE STOP_FILE]
# PROGRESS_FILE gets one line per non-empty micro-batch: trigger start and end (epoch s), input rows,
# batch id, the moment its counts were visible in PostgreSQL (epoch s: the reference's foreachBatch
# function returned, i.e. every JDBC transaction of the batch had committed) and its Kafka offset
# ranges ("partition:from-to,...", `to` exclusive). STATUS_FILE gets one JSON line with the JVM's and
# this process's pids once the query runs, so a benchmark can read their CPU from /proc.
import calendar
import json
import os
import sys
import threading
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as func
from pyspark.sql.streaming import StreamingQueryListener

import reference  # bench/spark/reference.py: schema, parse, group-by

brokers, topic, jdbc_url, trigger, shuffle, expect, ckpt, progress_path = sys.argv[1:9]
status_path, stop_path = (sys.argv[9:11] + [None, None])[:2]
expect = int(expect)
if expect <= 0 and not stop_path:
    raise SystemExit("job.py: EXPECT 0 needs a STOP_FILE")


def proc_stat(pid):
    """utime+stime in seconds, VmRSS and VmHWM in MB of pid."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm


t_launch = time.time()
spark = (SparkSession.builder.appName("meetup-reference")
         .config("spark.sql.shuffle.partitions", shuffle)
         .config("spark.sql.ansi.enabled", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("WARN")
jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
t_session = time.time()
cpu0, rss0, _ = proc_stat(jvm_pid)

# --- the reference's code from here (source, parse and group-by from reference.py, sink) ---
df = (spark.readStream.format("kafka")
      .option("kafka.bootstrap.servers", brokers)
      .option("subscribe", topic)
      .option("startingOffsets", "earliest")
      .load())
final_df = reference.group(reference.parse(df))

postgresProps = {"user": "postgres", "driver": "org.postgresql.Driver"}


def forEachBatchFunc(batchDF, batch_id):
    batchDF_1 = batchDF.withColumn("batch_id", func.lit(batch_id))
    batchDF_1.write.jdbc(url=jdbc_url, table="meetup_table", mode="append", properties=postgresProps)


# --- end of the reference's code but for the query below ---

# What the benchmark adds: the moment each batch's write returned (its counts are visible), and each
# micro-batch's progress written to PROGRESS_FILE.
visible = {}


def timed(batchDF, batch_id):
    forEachBatchFunc(batchDF, batch_id)
    visible[batch_id] = time.time()


def ranges(src):
    """ "p:from-to,..." of a SourceProgress's start and end offsets (JSON text or dict)."""
    def load(v):  # the first batch has no start offsets (None, "None" from the listener)
        if v is None or v == "None":
            return {}
        try:
            d = json.loads(v) if isinstance(v, str) else v
        except ValueError:
            print(f"job.py: offsets not JSON: {v!r}", file=sys.stderr)
            d = None
        return d if isinstance(d, dict) else {}
    start, end = load(src.startOffset), load(src.endOffset)
    out = []
    for t, parts in end.items():
        for part, to in sorted(parts.items(), key=lambda kv: int(kv[0])):
            frm = (start or {}).get(t, {}).get(part, 0)
            out.append(f"{part}:{frm}-{to}")
    return ",".join(out)


# Progress comes from a StreamingQueryListener, called once per micro-batch (polling the query's
# recentProgress would cost the JVM CPU that is measured as the job's).
lock = threading.Lock()
rows_done = 0
first_start = None
last_end = None
prog = open(progress_path, "w")


class Progress(StreamingQueryListener):
    def onQueryStarted(self, event):
        pass

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        pass

    def onQueryProgress(self, event):
        global rows_done, first_start, last_end
        p = event.progress
        if p.numInputRows == 0:
            return
        ts = p.timestamp  # trigger start, UTC, e.g. 2026-11-26T02:30:00.123Z
        start = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000
        end = start + p.durationMs["triggerExecution"] / 1000
        with lock:
            if prog.closed:
                return
            first_start = start if first_start is None else min(first_start, start)
            last_end = end if last_end is None else max(last_end, end)
            prog.write(f"{start:.3f} {end:.3f} {p.numInputRows} {p.batchId} "
                       f"{visible.get(p.batchId, end):.3f} {ranges(p.sources[0])}\n")
            prog.flush()
            rows_done += p.numInputRows


spark.streams.addListener(Progress())
query = (final_df.writeStream
         .trigger(processingTime=trigger)
         .outputMode("update")
         .option("checkpointLocation", ckpt)
         .foreachBatch(timed)
         .start())


if status_path:
    with open(status_path + ".tmp", "w") as f:
        f.write(json.dumps({"jvm_pid": jvm_pid, "py_pid": os.getpid(), "started": time.time()}) + "\n")
    os.rename(status_path + ".tmp", status_path)

peak_hwm = 0
while rows_done < expect if expect > 0 else not os.path.exists(stop_path):
    time.sleep(0.25)
    if query.exception() is not None:
        raise SystemExit(f"query failed: {query.exception()}")
    peak_hwm = max(peak_hwm, proc_stat(jvm_pid)[2])

cpu1, rss1, hwm1 = proc_stat(jvm_pid)
query.stop()
with lock:
    prog.close()
seconds = (last_end - first_start) if rows_done else 0
print(json.dumps({
    "rows": rows_done, "seconds": seconds, "rsvps_per_s": rows_done / seconds if seconds else 0,
    "first_batch_start": first_start, "last_batch_end": last_end, "launch": t_launch,
    "startup_s": t_session - t_launch, "jvm_cpu_s": cpu1 - cpu0,
    "cpu_s_per_million": (cpu1 - cpu0) / rows_done * 1e6 if rows_done else 0, "rss_start_mb": rss0, "rss_end_mb": rss1,
    "rss_peak_mb": max(peak_hwm, hwm1)}), flush=True)
spark.stop()
