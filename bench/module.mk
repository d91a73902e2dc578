# bench/: the micro-benchmarks make bench runs (bench/run.sh). Included after the services' module files,
# whose source lists they reuse.
$(eval $(call program,bench-parser,bench/bench_parser.c $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
$(eval $(call program,bench-aggregator,bench/bench_aggregator.c $(AGG_CORE) $(PARSER_PURE_SRCS),$(LIBS_PROTOBUF)))
