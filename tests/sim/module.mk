# tests/sim: the deterministic simulation of the aggregator-writer protocol (simworld.c) over the real
# aggregator loop and core and the writer's request validation. build/tests/agg-sim is `make sim`'s
# driver; test_agg_sim (a unit test, so in `make test`) runs a short sweep.
SIM_SRCS := tests/sim/simworld.c $(AGG_LOOP) services/writer/validate.c

$(BUILD)/tests/agg-sim: $(call objs,tests/sim/sim.c $(SIM_SRCS)) $(PROTO_O) $(BUILD)/lib/libcommon.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_PROTOBUF) $(LIBS_NNG) $(LIBS_BASE)

$(eval $(call unit_test,test_agg_sim,tests/unit/test_agg_sim.c $(SIM_SRCS),$(LIBS_PROTOBUF)))
