# common/: the small shared library every binary links (libcommon.a).
COMMON_SRCS := common/err.c common/clock.c common/buf.c common/backoff.c common/sig.c common/msgblock.c \
	common/config.c common/log.c common/metrics.c common/http.c common/kafka.c \
	common/ktxn.c common/kgroup.c common/file.c common/tls.c common/json.c common/memtrim.c

$(BUILD)/lib/libcommon.a: $(call objs,$(COMMON_SRCS))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/lib/libcommon.a: $(call fuzz_objs,$(COMMON_SRCS))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^
