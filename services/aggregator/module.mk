# services/aggregator: rsvp-aggregator (rsvps.parsed -> per-partition deltas -> nng batches to the
# writer) and its unit tests. Included after services/parser/module.mk: the wire-decoder test reads
# recorded JSON through the parser ($(PARSER_PURE_SRCS)).
AGG_CORE := services/aggregator/keytab.c services/aggregator/rsvpwire.c services/aggregator/aggregator.c
AGG_LOOP := $(AGG_CORE) services/aggregator/aggloop.c
AGG_SRCS := services/aggregator/main.c $(AGG_LOOP) services/aggregator/kconsumer.c services/aggregator/wlink.c

$(eval $(call program,rsvp-aggregator,$(AGG_SRCS),$(LIBS_PROTOBUF)))

$(eval $(call unit_test,test_agg_keytab,tests/unit/test_agg_keytab.c $(AGG_CORE),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_agg_ranges,tests/unit/test_agg_ranges.c $(AGG_CORE),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_agg_loop,tests/unit/test_agg_loop.c $(AGG_LOOP),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_agg_wlink,tests/unit/test_agg_wlink.c services/aggregator/wlink.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_agg_rsvpwire,tests/unit/test_agg_rsvpwire.c $(AGG_CORE) $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
