# tools/rsvpctl: the supervisor (rsvpctl up|status|scale|stop|top), the maintenance commands (dlq,
# rebuild) and their unit tests.
RSVPCTL_PURE := tools/rsvpctl/spec.c tools/rsvpctl/conffile.c tools/rsvpctl/env.c \
	tools/rsvpctl/prom.c tools/rsvpctl/restart.c
# dlq and rebuild run the parser's, the aggregator's and the writer's own code (a recount must be
# the pipeline's count): their source lists, from the modules included before this one.
RSVPCTL_SRCS := tools/rsvpctl/main.c $(RSVPCTL_PURE) tools/rsvpctl/control.c \
	tools/rsvpctl/super.c tools/rsvpctl/cli.c tools/rsvpctl/top.c tools/rsvpctl/kread.c tools/rsvpctl/dlq.c \
	tools/rsvpctl/rebuild.c $(PARSER_PURE_SRCS) $(AGG_CORE) $(WRITER_CORE)

$(eval $(call program,rsvpctl,$(RSVPCTL_SRCS),$(LIBS_PQ) $(LIBS_CURL) $(LIBS_PROTOBUF)))

$(eval $(call unit_test,test_rsvpctl_spec,tests/unit/test_rsvpctl_spec.c tools/rsvpctl/spec.c tools/rsvpctl/conffile.c tools/rsvpctl/env.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_rsvpctl_prom,tests/unit/test_rsvpctl_prom.c tools/rsvpctl/prom.c tools/rsvpctl/top.c tools/rsvpctl/cli.c tools/rsvpctl/control.c tools/rsvpctl/spec.c,$(LIBS_PQ) $(LIBS_CURL) $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_rsvpctl_restart,tests/unit/test_rsvpctl_restart.c tools/rsvpctl/restart.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_rsvpctl_control,tests/unit/test_rsvpctl_control.c tools/rsvpctl/control.c tools/rsvpctl/cli.c tools/rsvpctl/spec.c,$(LIBS_CURL) $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_rsvpctl_dlq,tests/unit/test_rsvpctl_dlq.c tools/rsvpctl/dlq.c tools/rsvpctl/kread.c $(PARSER_PURE_SRCS) $(WRITER_CORE),$(LIBS_PQ) $(LIBS_PROTOBUF)))
