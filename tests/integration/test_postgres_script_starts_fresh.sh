#!/usr/bin/env bash
# test_postgres_script_starts_fresh: deploy/local/postgres.sh keeps a cluster the postgres user cannot reach (a
# checkout under a private directory, like a fresh clone in mktemp -d) in /var/tmp/rsvp-pg-<hash of PG_VAR>,
# symlinked from PG_VAR. When PG_VAR is deleted without `clean` (lib_init empties a test's directory; a fresh
# clone lands on the path of an old one), the next `up` must start from an empty cluster, not from the tables
# of the earlier one: that stale cluster made a second run of the chaos test count every RSVP twice. And the
# fallback clusters of checkouts that are gone (~120 MB each) are collected, those still linked are kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init test_postgres_script_starts_fresh
source deploy/local/common.sh # pid_alive: a stopped server may linger as a zombie until its parent reaps it

((EUID == 0)) || fail "needs root: the fallback to /var/tmp only applies when the server runs as user postgres"
PORT=$(port_reserve) || fail "no free port"
PRIV=$(mktemp -d) # 0700, owned by root: user postgres cannot reach it
PGVAR=$PRIV/var/postgres
PENV=(env "PG_VAR=$PGVAR" "PG_PORT=$PORT")
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
ALT=
GONE=/var/tmp/rsvp-pg-gone$SUFFIX LIVE=/var/tmp/rsvp-pg-live$SUFFIX
pg_cleanup() {
	local rc=$?
	"${PENV[@]}" deploy/local/postgres.sh clean >/dev/null 2>&1 || true
	[[ -n $ALT && $ALT == /var/tmp/rsvp-pg-* ]] && rm -rf "$ALT"
	rm -rf "$GONE" "$LIVE"
	rm -rf "$PRIV"
	(exit $rc)
	lib_cleanup
}
trap pg_cleanup EXIT

# 0. Two fallback clusters of other checkouts: one whose checkout is gone, one still linked from its checkout.
mkdir -p "$GONE/data" "$LIVE/data" "$PRIV/live"
echo "$PRIV/gone/var/postgres" >"$GONE/.owner"
ln -s "$LIVE" "$PRIV/live/postgres"
echo "$PRIV/live/postgres" >"$LIVE/.owner"

# 1. First cluster: kept in /var/tmp, symlinked; a table in it. Creating it collects the gone checkout's cluster.
"${PENV[@]}" deploy/local/postgres.sh up >"$TEST_DIR/up1.log" 2>&1 || fail "first up: $(tail -n 3 "$TEST_DIR/up1.log")"
[[ -L $PGVAR ]] || fail "PG_VAR is not a symlink: the /var/tmp fallback was not taken"
ALT=$(readlink -f "$PGVAR")
[[ $ALT == /var/tmp/rsvp-pg-* ]] || fail "cluster kept in $ALT, want /var/tmp/rsvp-pg-*"
[[ ! -e $GONE ]] || fail "the cluster of a gone checkout ($GONE) was not collected"
[[ -d $LIVE/data ]] || fail "the cluster of a checkout that still links to it ($LIVE) was removed"
[[ $(head -n1 "$ALT/.owner") == "$PGVAR" ]] || fail "$ALT/.owner does not name $PGVAR"
psql_q "$URL" "CREATE TABLE stale_marker (x int); INSERT INTO stale_marker VALUES (1)" >/dev/null ||
	fail "cannot create the marker table"
"${PENV[@]}" deploy/local/postgres.sh down >>"$TEST_DIR/up1.log" 2>&1 || fail "down failed"

# 2. PG_VAR vanishes without `clean`; the next up must not bring the marker back.
rm -rf "$PRIV/var"
[[ -d $ALT/data ]] || fail "the old cluster is gone already, so this test would not show anything"
"${PENV[@]}" deploy/local/postgres.sh up >"$TEST_DIR/up2.log" 2>&1 || fail "second up: $(tail -n 3 "$TEST_DIR/up2.log")"
[[ $(readlink -f "$PGVAR") == "$ALT" ]] || fail "second cluster not at the same fallback path $ALT"
got=$(psql_q "$URL" "SELECT to_regclass('public.stale_marker') IS NULL") || fail "query failed"
[[ $got == t ]] || fail "the table of the earlier cluster is still there: up reused a stale cluster"
grep -q "removing the stale cluster" "$TEST_DIR/up2.log" || fail "the stale cluster was not reported"

# 2b. The same while that cluster is still running (up on another port): the stale server is stopped first.
PORT2=$(port_reserve) || fail "no free port"
psql_q "$URL" "CREATE TABLE running_marker (x int)" >/dev/null || fail "cannot create running_marker"
OLDPID=$(head -n1 "$ALT/data/postmaster.pid")
rm -rf "$PRIV/var"
env "PG_VAR=$PGVAR" "PG_PORT=$PORT2" deploy/local/postgres.sh up >"$TEST_DIR/up2b.log" 2>&1 ||
	fail "up over a running stale cluster: $(tail -n 3 "$TEST_DIR/up2b.log")"
pid_alive "$OLDPID" && fail "the stale server (pid $OLDPID) still runs"
URL2="postgresql://postgres@127.0.0.1:$PORT2/postgres"
got=$(psql_q "$URL2" "SELECT to_regclass('public.running_marker') IS NULL") || fail "query on the new cluster failed"
[[ $got == t ]] || fail "the running stale cluster's data was reused"
env "PG_VAR=$PGVAR" "PG_PORT=$PORT2" deploy/local/postgres.sh down >/dev/null 2>&1 || fail "down failed"
"${PENV[@]}" deploy/local/postgres.sh up >"$TEST_DIR/up2c.log" 2>&1 || fail "up again: $(tail -n 3 "$TEST_DIR/up2c.log")"

# 3. A kept symlink keeps its data (make run's cluster survives a restart); clean removes the fallback too.
psql_q "$URL" "CREATE TABLE kept_marker (x int)" >/dev/null || fail "cannot create kept_marker"
"${PENV[@]}" deploy/local/postgres.sh down >/dev/null 2>&1 || fail "down failed"
"${PENV[@]}" deploy/local/postgres.sh up >"$TEST_DIR/up3.log" 2>&1 || fail "third up: $(tail -n 3 "$TEST_DIR/up3.log")"
got=$(psql_q "$URL" "SELECT to_regclass('public.kept_marker') IS NOT NULL") || fail "query failed"
[[ $got == t ]] || fail "a restart through the kept symlink lost the cluster's data"
"${PENV[@]}" deploy/local/postgres.sh clean >/dev/null 2>&1 || fail "clean failed"
[[ ! -e $ALT ]] || fail "clean left $ALT behind"
pass
