# services/parser: rsvp-parser (raw JSON -> rsvp.v1.Rsvp, dead letters, Kafka transactions) and its
# unit tests.
PARSER_PURE_SRCS := services/parser/rsvp_json.c services/parser/sparkjson.c services/parser/javatext.c \
	services/parser/rsvpenc.c
PARSER_SRCS := services/parser/main.c services/parser/parser.c $(PARSER_PURE_SRCS)
$(eval $(call program,rsvp-parser,$(PARSER_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_parser_json,tests/unit/test_parser_json.c tests/unit/rsvp_dump.c $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_parser_recorded,tests/unit/test_parser_recorded.c tests/unit/rsvp_dump.c $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_parser_fastpath,tests/unit/test_parser_fastpath.c $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_parser_rsvpenc,tests/unit/test_parser_rsvpenc.c $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
