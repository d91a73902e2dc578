# tools/writer-client: rsvp-writer-client, the nng client that tests and benchmarks drive the writer with.
$(eval $(call program,rsvp-writer-client,tools/writer-client/main.c tools/writer-client/jsonrows.c,$(LIBS_PROTOBUF)))
