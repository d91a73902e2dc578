/* rsvp_dump.h: a canonical one-line JSON text of an rsvp.v1.Rsvp for tests (golden cases, the
 * recorded-data round trip, the fuzzer). tests/unit/parser_recorded_check.py writes the same text
 * from Python, so the two can be compared byte for byte. */
#ifndef TESTS_UNIT_RSVP_DUMP_H
#define TESTS_UNIT_RSVP_DUMP_H

#include "common/buf.h"
#include "proto/rsvp.pb-c.h"

/* rsvp_dump: append the canonical text of x to out (no newline): fields in .proto order, absent
 * fields left out, absent members of a pair written as null; strings escaped as Python's
 * json.dumps(ensure_ascii=False); doubles in the shortest of %.15g/%.16g/%.17g that reads back
 * exactly. 0 or ERR_NOMEM. */
int rsvp_dump(buf *out, const Rsvp__V1__Rsvp *x);

/* rsvp_dump_key: append the aggregate key of x (its `key` submessage; every column NULL without one)
 * as Python's json.dumps(ensure_ascii=False, separators=(",", ":")) writes the object {event_name,
 * event_url, event_time, group_name, group_country, group_state, group_city, group_lat, group_lon,
 * lat, lon, response} (doubles as floats, NULL as null), so a key computed by the reference job in
 * Python compares byte for byte. 0 or ERR_NOMEM. */
int rsvp_dump_key(buf *out, const Rsvp__V1__Rsvp *x);

#endif
