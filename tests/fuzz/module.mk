# tests/fuzz: libFuzzer targets (`make fuzzers` builds them, tests/fuzz/run.sh runs them: `make fuzz`).
# Each target is built from the source lists of the module it fuzzes, so a new file in a module is fuzzed too.
$(eval $(call fuzzer,fuzz_parser,tests/fuzz/fuzz_parser.c tests/unit/rsvp_dump.c $(PARSER_PURE_SRCS),))
$(eval $(call fuzzer,fuzz_writer,tests/fuzz/fuzz_writer.c tests/unit/writer_model.c $(WRITER_CORE),$(LIBS_PQ)))
$(eval $(call fuzzer,fuzz_linesplit,tests/fuzz/fuzz_linesplit.c services/ingestor/linesplit.c,))
$(eval $(call fuzzer,fuzz_agg_rsvpwire,tests/fuzz/fuzz_agg_rsvpwire.c $(AGG_CORE),))
