# agg_lib.sh: helpers for the aggregator's end-to-end tests (sourced after lib.sh, not run).
#   agg_free_port              a free TCP port reserved for this test (ports.sh)
#   agg_total DBURL            sum(response_count) of rsvp_counts (0 before the writer created it)
#   agg_compare DBURL LOOPS    rsvp_counts == reference x LOOPS key by key (strings and doubles exact,
#                              NULLs included) and the newest meetup_table row per key == rsvp_counts;
#                              prints the differences and returns 1 if any
#   agg_metric PORT SERIES     value of one series on http://127.0.0.1:PORT/metrics (0 when absent)

AGG_REFERENCE=${AGG_REFERENCE:-$TESTDATA_REFERENCE}
AGG_RECORDED=${AGG_RECORDED:-$TESTDATA_RECORDED}

agg_free_port() { port_reserve; }

agg_total() {
	psql "$1" -X -q -A -t -c "SELECT coalesce(sum(response_count), 0) FROM rsvp_counts" 2>/dev/null || echo 0
}

agg_metric() {
	local v
	v=$(curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v s="$2" '$1 == s { print $2 }')
	echo "${v:-0}"
}

# The tables are read as JSON built by PostgreSQL: float8 is printed shortest-exact, so Python's
# float() gives back the very same double; strings arrive exactly (JSON escapes).
agg_compare() {
	local url=$1 loops=$2 counts latest
	counts=$TEST_DIR/rsvp_counts.json
	latest=$TEST_DIR/meetup_latest.json
	psql "$url" -X -q -A -t -v ON_ERROR_STOP=1 -o "$counts" \
		-c "SELECT coalesce(json_agg(c), '[]') FROM rsvp_counts c" || return 1
	psql "$url" -X -q -A -t -v ON_ERROR_STOP=1 -o "$latest" -c "
		SELECT coalesce(json_agg(m), '[]') FROM (
		  SELECT DISTINCT ON (event_name, event_url, event_time, group_name, group_country, group_state,
		                      group_city, group_lat, group_lon, lat, lon, response) *
		  FROM meetup_table
		  ORDER BY event_name, event_url, event_time, group_name, group_country, group_state, group_city,
		           group_lat, group_lon, lat, lon, response, batch_id DESC) m" || return 1
	python3 - "$AGG_REFERENCE" "$counts" "$latest" "$loops" <<'EOF'
import json, math, struct, sys
COLS = ["event_name", "event_url", "event_time", "group_name", "group_country", "group_state",
        "group_city", "group_lat", "group_lon", "lat", "lon", "response"]
DBL = {"group_lat", "group_lon", "lat", "lon"}

def key(row):
    k = []
    for c in COLS:
        v = row.get(c)
        if v is not None and c in DBL:
            v = float(v)
            v = 0.0 if v == 0.0 else v            # -0.0 is 0.0 for the reference too
            v = ("d", struct.pack("<d", v))       # compare doubles bit for bit
        k.append(v)
    return tuple(k)

def table(rows, what):
    out = {}
    for r in rows:
        k = key(r)
        if k in out:
            print(f"{what}: duplicate key {k}")
            sys.exit(1)
        out[k] = int(r["response_count"])
    return out

ref_path, counts_path, latest_path, loops = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ref = table((json.loads(l) for l in open(ref_path, encoding="utf-8") if l.strip()), "reference")
ref = {k: v * loops for k, v in ref.items()}
got = table(json.load(open(counts_path, encoding="utf-8")), "rsvp_counts")
latest = table(json.load(open(latest_path, encoding="utf-8")), "meetup_table")

bad = 0
for name, exp, have in (("rsvp_counts vs reference", ref, got), ("meetup_table latest vs rsvp_counts", got, latest)):
    missing = [k for k in exp if k not in have]
    extra = [k for k in have if k not in exp]
    diff = [k for k in exp if k in have and exp[k] != have[k]]
    for k in (missing[:3] + extra[:3] + diff[:3]):
        print(f"  {name}: key {k}: expected {exp.get(k)} got {have.get(k)}")
    if missing or extra or diff:
        print(f"{name}: {len(missing)} missing, {len(extra)} extra, {len(diff)} different "
              f"(of {len(exp)} keys)")
        bad = 1
print(f"compared {len(ref)} keys, sum {sum(ref.values())}: {'DIFFERENT' if bad else 'identical'}")
sys.exit(bad)
EOF
}
