#!/usr/bin/env bash
# PostgreSQL down is transient: a writer started before its database answers RETRY (never hangs),
# becomes ready when the database appears, answers RETRY again while the database is stopped,
# reconnects with backoff when it returns, and the retried batches apply exactly once.
# Uses a throwaway PostgreSQL cluster (initdb) on a port of the writer range, never the shared one.
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_retries_while_database_down

command -v initdb >/dev/null && command -v pg_ctl >/dev/null || w_fail "initdb/pg_ctl not found"
PGDIR="$W_TMP/pg"
mkdir -p "$PGDIR"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && { chmod 755 "$W_TMP"; chown postgres "$PGDIR"; }
as_pg initdb -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$W_TMP/initdb.log" 2>&1 ||
    w_fail "initdb: $(tail -n 5 "$W_TMP/initdb.log")"
pgport=$(w_free_port)
pg_start() {
    as_pg pg_ctl -D "$PGDIR/data" -l "$PGDIR/pg.log" -w -t 30 \
        -o "-p $pgport -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
        w_fail "pg_ctl start: $(tail -n 5 "$PGDIR/pg.log")"
}
pg_stop() { as_pg pg_ctl -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true; }
W_EXTRA_CLEANUP=pg_stop
DBURL="postgresql://postgres@127.0.0.1:$pgport/postgres"

head -n 20 "$TESTDATA_REFERENCE" >"$W_TMP/rows.jsonl"
each=$(jq -s 'map(.response_count) | add' "$W_TMP/rows.jsonl")
T=rsvps.parsed

# 1. Writer first, database not there yet.
w_start_writer W BACKOFF_BASE=100ms BACKOFF_MAX=500ms DB_PING_INTERVAL=200ms
port=${W%%:*} mport=${W##*:}
r=$(w_client "$port" batch --topic $T --partition 0 --from -1 --to 100 --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = RETRY ] || w_fail "expected RETRY with no database: $r"
r=$(w_client "$port" query --topic $T --partitions 0)
[ "$(w_field "$r" status)" = RETRY ] || w_fail "expected RETRY for a query with no database: $r"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz")" = 503 ] || w_fail "ready without database"
[ "$(w_metric "$mport" rsvp_writer_db_up)" = 0 ] || w_fail "db_up should be 0"

# Retry a batch until it is applied (OK) or found applied (STALE with stored == to).
apply() { # apply FROM TO
    local deadline=$((SECONDS + 30)) r st
    while [ $SECONDS -lt $deadline ]; do
        r=$(w_client "$port" batch --topic $T --partition 0 --from "$1" --to "$2" --rows-file "$W_TMP/rows.jsonl")
        st=$(w_field "$r" status)
        [ "$st" = OK ] && return 0
        [ "$st" = STALE ] && [ "$(w_field "$r" stored_offset)" = "$2" ] && return 0
        [ "$st" = RETRY ] || w_fail "batch $1..$2: $r"
        sleep 0.2
    done
    w_fail "batch $1..$2 not applied within 30 s: $r"
}

# 2. Database appears: ready, batch applies.
pg_start
w_wait_ready "$mport" 20 || w_fail "writer not ready after the database started"
apply -1 100
[ "$(w_metric "$mport" rsvp_writer_db_up)" = 1 ] || w_fail "db_up should be 1"

# 3. Database stops: RETRY, not ready.
pg_stop
r=$(w_client "$port" batch --topic $T --partition 0 --from 100 --to 200 --rows-file "$W_TMP/rows.jsonl")
[ "$(w_field "$r" status)" = RETRY ] || w_fail "expected RETRY after the database stopped: $r"
deadline=$((SECONDS + 10))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz")" = 503 ]; do
    [ $SECONDS -lt $deadline ] || w_fail "still ready with the database stopped"
    sleep 0.1
done

# 4. Database back: the same batch applies, exactly once.
pg_start
apply 100 200
apply 200 300
got=$(psql -X -At "$DBURL" -c "SELECT sum(response_count) || '/' || (SELECT next_offset FROM rsvp_offsets) || '/' || (SELECT count(*) FROM rsvp_batches) FROM rsvp_counts")
[ "$got" = "$((3 * each))/300/3" ] || w_fail "after restart: $got (want $((3 * each))/300/3)"
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="retry"}')" -ge 2 ] || w_fail "retry metric"
kill -0 "${W_PIDS[0]}" || w_fail "writer died"
w_pass
