# tools/writer-client: rsvp-writer-client, the nng client that tests and benchmarks drive the writer with, and
# its attack mode (hostile) for security checks of a running writer.
WRITER_CLIENT_SRCS := tools/writer-client/main.c tools/writer-client/conn.c tools/writer-client/hostile.c \
	tools/writer-client/jsonrows.c
$(eval $(call program,rsvp-writer-client,$(WRITER_CLIENT_SRCS),$(LIBS_PROTOBUF)))
