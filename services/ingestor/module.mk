# services/ingestor: rsvp-ingestor (HTTP stream -> rsvps.raw, Kafka transactions) and its unit tests.
INGESTOR_PURE_SRCS := services/ingestor/linesplit.c services/ingestor/rsvpscan.c \
	services/ingestor/resume.c
INGESTOR_SRCS := services/ingestor/main.c services/ingestor/ingestor.c services/ingestor/source.c \
	services/ingestor/producer.c services/ingestor/recover.c $(INGESTOR_PURE_SRCS)
$(eval $(call program,rsvp-ingestor,$(INGESTOR_SRCS),$(LIBS_CURL) $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_ingestor_linesplit,tests/unit/test_ingestor_linesplit.c services/ingestor/linesplit.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_ingestor_rsvpscan,tests/unit/test_ingestor_rsvpscan.c services/ingestor/rsvpscan.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_ingestor_resume,tests/unit/test_ingestor_resume.c services/ingestor/resume.c,$(LIBS_PROTOBUF)))
