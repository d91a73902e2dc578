#!/usr/bin/env bash
# Retention on a live database: two writers with PARTITION_INTERVAL=2s and RETENTION=6s take batches
# of four partitions (two senders per writer) without pause for about 20 s, crossing ten partition
# boundaries; once partitions expire, a reader keeps a transaction open on meetup_table for 8 s (a
# DETACH ... CONCURRENTLY has to wait for it; a plain DROP, or a CREATE TABLE ... PARTITION OF, would
# queue every batch behind it). Both writers' keepers race to create and to drop the same partitions. Passes when
# no batch was refused (every reply OK: no RETRY, STALE or ERROR), partitions were created and dropped,
# no batch took 5 s or more (none waited behind partition DDL), meetup_table and rsvp_batches hold only
# recent partitions, no partition is left detached or pending,
# and rsvp_counts is still exact: every key's total equals the number of batches sent.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_retention_drops_partitions_while_batches_apply

ENVS=(PARTITION_INTERVAL=2s RETENTION=6s)
w_start_writer W1 "${ENVS[@]}"
w_start_writer W2 "${ENVS[@]}"
p1=${W1%%:*} m1=${W1##*:} p2=${W2%%:*} m2=${W2##*:}
w_wait_ready "$m1" && w_wait_ready "$m2" || w_fail "writers not ready"
[ "$(w_sql "SELECT relkind FROM pg_class WHERE relname = 'meetup_table'")" = p ] || w_fail "meetup_table is not partitioned"

ROWS=50
# sender PORT PARTITION: batches of ROWS keys (the same keys each time, +1 each) until the stop file
# appears; one line per bench run (its JSON) in sent-PARTITION.jsonl.
sender() {
    while [ ! -e "$W_TMP/stop" ]; do
        w_client "$1" bench --topic rsvps.parsed --partition "$2" --batches 5 --rows $ROWS >>"$W_TMP/sent-$2.jsonl" ||
            { echo "partition $2: no answer" >>"$W_TMP/errors"; return 0; }
    done
}
pids=()
sender "$p1" 0 & pids+=($!)
sender "$p1" 1 & pids+=($!)
sender "$p2" 2 & pids+=($!)
sender "$p2" 3 & pids+=($!)

dropped() { echo $(($(w_metric "$m1" rsvp_writer_partitions_dropped_total) + $(w_metric "$m2" rsvp_writer_partitions_dropped_total))); }
# Once the first partitions expire (after about 8 s), a reader holds a snapshot of meetup_table for
# 8 s: the next drops fall into its transaction.
deadline=$((SECONDS + 60))
until [ "$(dropped)" -ge 2 ]; do
    [ $SECONDS -lt $deadline ] || { touch "$W_TMP/stop"; w_fail "no partition dropped in 60 s"; }
    sleep 0.2
done
psql -X -q "$DBURL" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM meetup_table; SELECT pg_sleep(8); COMMIT" \
    >"$W_TMP/reader.log" 2>&1 &
reader=$!
# then at least 12 s more of traffic and 8 more partitions dropped (4 per table)
d0=$(dropped)
start=$SECONDS
deadline=$((SECONDS + 90))
until [ $((SECONDS - start)) -ge 12 ] && [ "$(dropped)" -ge $((d0 + 8)) ]; do
    [ $SECONDS -lt $deadline ] || { touch "$W_TMP/stop"; w_fail "only $(($(dropped) - d0)) partitions dropped in 90 s"; }
    [ ! -s "$W_TMP/errors" ] || break
    sleep 0.5
done
touch "$W_TMP/stop"
wait "${pids[@]}"
wait "$reader" || w_fail "the reader failed: $(cat "$W_TMP/reader.log")"
[ ! -s "$W_TMP/errors" ] || w_fail "$(head -n 3 "$W_TMP/errors")"

# No batch refused: every bench run without a single non-OK reply, and the writers agree.
batches=$(cat "$W_TMP"/sent-*.jsonl | jq -s 'map(.batches) | add')
retries=$(cat "$W_TMP"/sent-*.jsonl | jq -s 'map(.retries) | add')
[ "$retries" = 0 ] || w_fail "$retries batches were not answered OK"
for m in "$m1" "$m2"; do
    for r in retry stale error; do
        n=$(w_metric "$m" "rsvp_writer_batches_total{result=\"$r\"}")
        [ "$n" = 0 ] || w_fail "writer metrics: $n batches answered $r"
    done
done
ok=$(($(w_metric "$m1" 'rsvp_writer_batches_total{result="ok"}') + $(w_metric "$m2" 'rsvp_writer_batches_total{result="ok"}')))
[ "$ok" = "$batches" ] || w_fail "$batches batches sent, $ok answered OK"
for m in "$m1" "$m2"; do
    n=$(w_metric "$m" rsvp_writer_batch_seconds_count)
    fast=$(w_metric "$m" 'rsvp_writer_batch_seconds_bucket{le="5"}')
    [ "$fast" = "$n" ] || w_fail "$((n - fast)) of $n batches took 5 s or more: they waited behind partition DDL"
done

# Counts exact: the same ROWS keys got +1 in every batch of every partition.
[ "$(w_sql "SELECT count(*) || '/' || min(response_count) || '/' || max(response_count) FROM rsvp_counts")" = "$ROWS/$batches/$batches" ] ||
    w_fail "rsvp_counts: $(w_sql "SELECT count(*), min(response_count), max(response_count) FROM rsvp_counts") after $batches batches"
[ "$(w_sql "SELECT string_agg(next_offset::text, ',' ORDER BY partition) FROM rsvp_offsets")" = \
    "$(for p in 0 1 2 3; do jq -s "map(.batches) | add * $ROWS" "$W_TMP/sent-$p.jsonl"; done | paste -sd,)" ] ||
    w_fail "offsets: $(w_sql "SELECT * FROM rsvp_offsets")"

created=$(($(w_metric "$m1" rsvp_writer_partitions_created_total) + $(w_metric "$m2" rsvp_writer_partitions_created_total)))
[ "$created" -ge 10 ] || w_fail "only $created partitions created"
[ "$(w_metric "$m1" rsvp_writer_partition_errors_total)" = 0 ] && [ "$(w_metric "$m2" rsvp_writer_partition_errors_total)" = 0 ] ||
    w_fail "partition keeper errors: $(grep -h 'partition keeper step failed' "$W_TMP"/writer-*.log | head -n 2)"
ndropped=$(dropped)

# Stopped writers finish the keeper step they are in (a detach completes), and exit 0.
for pid in "${W_PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${W_PIDS[@]}"; do
    rc=0
    wait "$pid" || rc=$?
    [ $rc = 0 ] || w_fail "writer $pid exited $rc on SIGTERM"
done

# Old partitions gone from both tables (retention 6 s + one interval + a keeper period of slack),
# none left detached, pending or orphaned, and the newest history totals still agree with rsvp_counts.
for t in meetup_table rsvp_batches; do
    old=$(w_sql "SELECT count(*) FROM $t WHERE committed_at < clock_timestamp() - interval '12 seconds'")
    [ "$old" = 0 ] || w_fail "$t: $old rows older than retention + interval + slack"
    parts=$(w_sql "SELECT count(*) FROM pg_inherits WHERE inhparent = '$t'::regclass")
    [ "$parts" -le 16 ] || w_fail "$t: $parts partitions (retention 6 s, 2 s each, 8 ahead)"
done
[ "$(w_sql "SELECT count(*) FROM pg_inherits WHERE inhdetachpending")" = 0 ] || w_fail "a detach is left pending"
[ "$(w_sql "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND relname ~ '^(meetup_table|rsvp_batches)_[0-9]{14}$'")" = 0 ] ||
    w_fail "detached partitions left behind"
[ "$(w_sql "SELECT count(*) FROM meetup_table")" -gt 0 ] || w_fail "meetup_table is empty: the current partitions were dropped"
# (the largest total in the history, not the row of the largest batch id: the four senders share their
# keys, so two batches may commit in the other order than their ids, which a pipeline never does)
diff=$(w_sql "SELECT count(*) FROM (SELECT event_name, max(response_count) AS response_count FROM meetup_table GROUP BY 1) l
    FULL JOIN rsvp_counts c USING (event_name) WHERE l.response_count IS DISTINCT FROM c.response_count")
[ "$diff" = 0 ] || w_fail "the history's newest totals differ from rsvp_counts in $diff keys"
echo "$batches batches of $ROWS rows, $created partitions created, $ndropped dropped"
w_pass
