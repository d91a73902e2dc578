/* testdata.h: where the unit tests find the recorded RSVPs and the reference counts (tests/data/, see its
 * README). Unit tests run from the repository root, as `make unit` runs them; RSVP_DATA_DIR overrides. */
#ifndef TESTS_UNIT_TESTDATA_H
#define TESTS_UNIT_TESTDATA_H

#include <stdio.h>
#include <stdlib.h>

#define TESTDATA_DIR       "tests/data"
#define TESTDATA_RECORDED  "meetup-rsvps-recorded.ndjson"
#define TESTDATA_REFERENCE "reference-counts-recorded.jsonl"

/* Writes the path of the data file NAME into out[0..cap) and returns out. A missing file is the caller's
 * failure to report: data the tests need is part of the repository, so it is never skipped. */
static inline const char *testdata_path(char *out, size_t cap, const char *name)
{
    const char *d = getenv("RSVP_DATA_DIR");
    snprintf(out, cap, "%s/%s", d && *d ? d : TESTDATA_DIR, name);
    return out;
}

#endif
