#!/usr/bin/env bash
# Serialization failures and deadlocks are retried inside the writer: a batch whose transaction
# fails twice with SQLSTATE 40001/40P01 still commits once (OK, rsvp_writer_tx_retries_total = 2);
# when the failures outlast TX_RETRIES the answer is RETRY, nothing is committed, and the resent
# batch applies exactly once. The failures come from a trigger driven by a sequence (sequences are
# not rolled back, so the trigger's budget survives the failed transactions).
set -euo pipefail
source "$(dirname "$0")/writer_lib.sh"
w_init test_writer_retries_serialization_failures

head -n 50 "$TESTDATA_REFERENCE" >"$W_TMP/rows.jsonl"
each=$(jq -s 'map(.response_count) | add' "$W_TMP/rows.jsonl")
w_start_writer W TX_RETRIES=3 WORKERS=1
port=${W%%:*} mport=${W##*:}
w_wait_ready "$mport" || w_fail "writer not ready"

# fail_until: the trigger fails while nextval('fail_seq') <= fail_until's value.
w_sql "CREATE SEQUENCE fail_seq; CREATE TABLE fail_until (n bigint, code text); INSERT INTO fail_until VALUES (2, '40001');
CREATE FUNCTION fail_some() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE lim bigint; c text;
BEGIN
  SELECT n, code INTO lim, c FROM fail_until;
  IF nextval('fail_seq') <= lim THEN RAISE EXCEPTION 'simulated conflict' USING ERRCODE = c; END IF;
  RETURN NEW;
END \$\$;
CREATE TRIGGER fail_some BEFORE INSERT ON rsvp_batches FOR EACH ROW EXECUTE FUNCTION fail_some();" >/dev/null

# batch FROM TO: the 50 rows (68 messages) over [FROM, TO)
batch() { w_client "$port" batch --topic t --partition 0 --from "$1" --to "$2" --rows-file "$W_TMP/rows.jsonl"; }
r=$(batch -1 100)
[ "$(w_field "$r" status)" = OK ] || w_fail "2 serialization failures should be absorbed: $r"
[ "$(w_metric "$mport" rsvp_writer_tx_retries_total)" = 2 ] || w_fail "tx_retries_total $(w_metric "$mport" rsvp_writer_tx_retries_total)"

# Deadlocks: 6 more failures (nextval is at 3 now, fail while <= 8) > 1 try + 3 retries.
w_sql "UPDATE fail_until SET n = 8, code = '40P01'"
r=$(batch 100 200)
[ "$(w_field "$r" status)" = RETRY ] || w_fail "persistent deadlocks should answer RETRY: $r"
[ "$(w_sql "SELECT sum(response_count) || '/' || (SELECT next_offset FROM rsvp_offsets) FROM rsvp_counts")" = "$each/100" ] ||
    w_fail "a RETRY batch left data behind"
r=$(batch 100 200)
[ "$(w_field "$r" status)" = OK ] || w_fail "resent batch: $r"
[ "$(w_sql "SELECT sum(response_count) || '/' || (SELECT next_offset FROM rsvp_offsets) || '/' || (SELECT count(*) FROM rsvp_batches) FROM rsvp_counts")" = "$((2 * each))/200/2" ] ||
    w_fail "after the resend: $(w_sql "SELECT sum(response_count) FROM rsvp_counts")"
[ "$(w_metric "$mport" 'rsvp_writer_batches_total{result="retry"}')" = 1 ] || w_fail "retry metric"
w_pass
