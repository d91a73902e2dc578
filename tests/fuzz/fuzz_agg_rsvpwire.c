/* fuzz_agg_rsvpwire.c: libFuzzer target for the aggregator's wire decoder
 * (services/aggregator/rsvpwire.c). The input is a candidate rsvp.v1.Rsvp payload; the decoder must
 * agree with protobuf-c's unpack + keytab_key_from_rsvp (the path it replaced) on accept/reject and,
 * when accepted, on every key column (bytes, NULL-ness, double bits) and the ingest time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rsvp.pb-c.h"
#include "services/aggregator/keytab.h"
#include "services/aggregator/rsvpwire.h"

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c)) {                                                                                          \
            fprintf(stderr, "fuzz_agg_rsvpwire: check failed: %s\n", #c);                                    \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keyview kn, ko;
    char tbn[24], tbo[24];
    int64_t ingest;
    int rc = rsvpwire_key(data, size, &kn, tbn, &ingest);
    Rsvp__V1__Rsvp *r = rsvp__v1__rsvp__unpack(NULL, size, data);
    CHECK((r == NULL) == (rc != 0));
    if (!r)
        return 0;
    keytab_key_from_rsvp(r, &ko, tbo);
    for (int i = 0; i < KEY_NSTR; i++) {
        CHECK(!ko.str[i] == !kn.str[i]);
        if (ko.str[i]) {
            CHECK(ko.str_len[i] == kn.str_len[i]);
            CHECK(memcmp(ko.str[i], kn.str[i], ko.str_len[i]) == 0);
        }
    }
    for (int i = 0; i < KEY_NNUM; i++) {
        CHECK(ko.has_num[i] == kn.has_num[i]);
        if (ko.has_num[i])
            CHECK(memcmp(&ko.num[i], &kn.num[i], sizeof(double)) == 0);
    }
    CHECK((r->has_ingest_time_ms ? r->ingest_time_ms : 0) == ingest);
    rsvp__v1__rsvp__free_unpacked(r, NULL);
    return 0;
}
