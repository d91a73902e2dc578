/* rsvpwire.h: the aggregate key of one packed rsvp.v1.Rsvp, read straight from the protobuf wire
 * bytes (no unpack, no allocation): the dozen fields the key needs are views into the payload, the
 * rest is skipped but still checked, so a payload is rejected exactly when protobuf-c would reject it. */
#ifndef SERVICES_AGGREGATOR_RSVPWIRE_H
#define SERVICES_AGGREGATOR_RSVPWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "services/aggregator/keytab.h"

/* rsvpwire_key: fill *k (by keytab_key_from_rsvp's rules: the `key` submessage when present, else
 * the typed fields with absent -> NULL and event_time = decimal digits of event.time written into
 * timebuf; a string ends at its first NUL byte as protobuf-c's C strings do) and *ingest_ms (ingest_time_ms, 0 if absent) from the packed Rsvp data[0..len).
 * k borrows data and timebuf (>= 24 bytes): both must outlive it. Returns 0, or ERR_INVALID when
 * rsvp__v1__rsvp__unpack would return NULL for the same bytes (truncated or malformed wire data,
 * a known field with the wrong wire type, group wire types), in which case *k and *ingest_ms are
 * unspecified. Pure function: any thread. */
int rsvpwire_key(const void *data, size_t len, keyview *k, char timebuf[24], int64_t *ingest_ms);

#endif
