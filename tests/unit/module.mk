# tests/unit/: cmocka unit tests of common/ (one file per module), plus metrics_dump for
# tests/unit/promtool-check.sh (built like a test, not run by run-unit.sh).
$(eval $(call unit_test,test_config,tests/unit/test_config.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_log,tests/unit/test_log.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_metrics,tests/unit/test_metrics.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_backoff,tests/unit/test_backoff.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_clock,tests/unit/test_clock.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_buf,tests/unit/test_buf.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_sig,tests/unit/test_sig.c,))
$(eval $(call unit_test,test_memtrim,tests/unit/test_memtrim.c,))
$(eval $(call unit_test,test_memtrim_arena,tests/unit/test_memtrim_arena.c,))
$(eval $(call unit_test,test_http,tests/unit/test_http.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_kafka,tests/unit/test_kafka.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_kafka_fenced,tests/unit/test_kafka_fenced.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_ktxn,tests/unit/test_ktxn.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_kgroup,tests/unit/test_kgroup.c,$(LIBS_PROTOBUF)))
$(eval $(call unit_test,test_msgblock,tests/unit/test_msgblock.c,))
$(eval $(call unit_test,test_file,tests/unit/test_file.c,))
$(eval $(call unit_test,test_tls,tests/unit/test_tls.c,))

$(BUILD)/tests/metrics_dump: $(call objs,tests/unit/metrics_dump.c) $(BUILD)/lib/libcommon.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_BASE)
