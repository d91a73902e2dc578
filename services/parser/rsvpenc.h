/* rsvpenc.h: the parser's encoder of rsvp.v1.Rsvp. It writes the same bytes as protobuf-c's
 * rsvp__v1__rsvp__pack (fields in number order, shortest varints, a string up to its first NUL),
 * in one pass: protobuf-c measures every submessage before it packs it, and every group topic
 * twice, through its generic descriptor walk, which was a quarter of the parser's parse+encode. */
#ifndef SERVICES_PARSER_RSVPENC_H
#define SERVICES_PARSER_RSVPENC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/rsvp.pb-c.h"

/* rsvpenc_pack: x packed into out, which must have room for
 * rsvp__v1__rsvp__get_packed_size(x) bytes (the encoder never writes past them); returns that size.
 * A message carrying unknown fields (the parser's never do) is packed by protobuf-c instead. */
size_t rsvpenc_pack(const Rsvp__V1__Rsvp *x, uint8_t *out);

#endif
