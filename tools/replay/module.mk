# tools/replay: rsvp-replay, the stand-in for Meetup's RSVP stream (file once, file loop, synthetic).
REPLAY_LIB_SRCS := tools/replay/timeline.c tools/replay/rewrite.c tools/replay/synth.c
$(eval $(call program,rsvp-replay,tools/replay/main.c tools/replay/server.c $(REPLAY_LIB_SRCS),-lz $(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_replay_timeline,tests/unit/test_replay_timeline.c $(REPLAY_LIB_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_replay_rewrite,tests/unit/test_replay_rewrite.c tools/replay/rewrite.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_replay_synth,tests/unit/test_replay_synth.c $(REPLAY_LIB_SRCS),$(LIBS_PROTOBUF)))
