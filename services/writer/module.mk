# services/writer: rsvp-writer (aggregator batches -> PostgreSQL, exactly once) and its unit tests.
# WRITER_CORE: the request path without the nng server (what the unit tests and the fuzzer link)
WRITER_CORE := services/writer/writer.c services/writer/store.c services/writer/schema.c services/writer/partition.c \
	services/writer/copy.c services/writer/validate.c
WRITER_SRCS := services/writer/server.c services/writer/retention.c $(WRITER_CORE)

$(eval $(call program,rsvp-writer,services/writer/main.c $(WRITER_SRCS),$(LIBS_PQ) $(LIBS_PROTOBUF)))

$(eval $(call unit_test,test_writer_copy,tests/unit/test_writer_copy.c services/writer/copy.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_writer_validate,tests/unit/test_writer_validate.c services/writer/validate.c services/writer/schema.c services/writer/store.c services/writer/partition.c services/writer/copy.c,$(LIBS_PQ) $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_writer_request,tests/unit/test_writer_request.c tests/unit/writer_model.c $(WRITER_CORE),$(LIBS_PQ) $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_writer_partition,tests/unit/test_writer_partition.c services/writer/partition.c services/writer/schema.c,$(LIBS_PQ) $(LIBS_PROTOBUF)))
