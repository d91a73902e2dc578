# testdata.sh: where the tests find the recorded RSVPs and the reference job's counts (tests/data/, see its
# README). Sourced by lib.sh and writer_lib.sh; RSVP_DATA_DIR overrides the folder.
TESTDATA_DIR=${RSVP_DATA_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}
TESTDATA_RECORDED=$TESTDATA_DIR/meetup-rsvps-recorded.ndjson
TESTDATA_REFERENCE=$TESTDATA_DIR/reference-counts-recorded.jsonl
