# tests/differential: differential-keys, the parser's verdict per line for the differential test
# (tests/differential/run.sh, `make differential`).
$(BUILD)/tests/differential-keys: $(call objs,tests/differential/keys.c tests/unit/rsvp_dump.c $(PARSER_PURE_SRCS)) $(PROTO_O) $(BUILD)/lib/libcommon.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_PROTOBUF) $(LIBS_BASE)
BINS += $(BUILD)/tests/differential-keys
