# rsvp-pipeline: the one entry point.
#   make            build every binary into build/bin (zero warnings, -Werror)
#   make test       install what is missing, build, unit tests (also under ASan+UBSan), integration tests
#   make run        the whole pipeline on this machine (real Kafka + PostgreSQL), live view
#   make bench      benchmarks, all ratios from one run (Spark included): bench/results/latest.md
#   make bench-ab   OLD=dir [NEW=dir]: old against new binaries alternated (bench/ab.sh)
#   make differential  the pipeline against the reference Spark job on generated lines (tests/differential)
#   make fuzz       libFuzzer targets, bounded time (FUZZ_SECONDS); make fuzzers only builds them
#   make sim        the deterministic simulation of the aggregator and the writer (many seeds)
#   make asan       build with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan
#   make soak       the pipeline for DURATION (30m) at 5k RSVPs/s under faults; bench/results/soak.md
#   make deps       install the Debian packages (idempotent)
#   make clean
# Non-recursive: each folder declares its binaries in a module.mk included below.

BUILD ?= build
SAN ?=
V ?=
Q := $(if $(V),,@)
CC ?= cc

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
CSTD := -std=c11 -D_GNU_SOURCE
OPT := -O2 -g
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SANLD := -fsanitize=address,undefined
endif
CPPFLAGS += -I. -I$(BUILD)/gen
CFLAGS ?=
CFLAGS += $(CSTD) $(OPT) $(WARN) -MMD -MP
LDFLAGS += $(SANLD) -Wl,--as-needed
LIBS_BASE := -lpthread -lm

PKG_LIBS = $(shell pkg-config --libs $(1) 2>/dev/null)
LIBS_RDKAFKA := $(call PKG_LIBS,rdkafka)
LIBS_CURL := $(call PKG_LIBS,libcurl)
LIBS_PQ := $(call PKG_LIBS,libpq)
LIBS_PROTOBUF := $(call PKG_LIBS,libprotobuf-c)
LIBS_CMOCKA := $(call PKG_LIBS,cmocka)
LIBS_NNG := -lnng
CPPFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)

BINS :=
UNIT_TESTS :=
FUZZERS :=

# --- generated protobuf code (proto/rsvp.proto -> $(BUILD)/gen/proto/rsvp.pb-c.{c,h}) ---
PROTO_C := $(BUILD)/gen/proto/rsvp.pb-c.c
PROTO_H := $(BUILD)/gen/proto/rsvp.pb-c.h
PROTO_O := $(BUILD)/obj/gen/rsvp.pb-c.o
$(PROTO_C) $(PROTO_H) &: proto/rsvp.proto
	@mkdir -p $(BUILD)/gen
	$(Q)protoc-c --c_out=$(BUILD)/gen proto/rsvp.proto
$(PROTO_O): $(PROTO_C)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CSTD) $(OPT) -Wall -MMD -MP -c -o $@ $<

# --- every C object: $(BUILD)/obj/<path>.o from <path>.c ---
$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# $(call program,NAME,SOURCES,LIBS): build/bin/NAME from SOURCES + libcommon + generated proto
define program
$(BUILD)/bin/$(1): $(call objs,$(2)) $(PROTO_O) $(BUILD)/lib/libcommon.a
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $(3) $$(LIBS_PROTOBUF) $$(LIBS_NNG) $$(LIBS_RDKAFKA) $$(LIBS_BASE)
BINS += $(BUILD)/bin/$(1)
endef

# $(call unit_test,NAME,SOURCES,LIBS): build/tests/NAME, a cmocka test binary
define unit_test
$(BUILD)/tests/$(1): $(call objs,$(2)) $(PROTO_O) $(BUILD)/lib/libcommon.a
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $(3) $$(LIBS_CMOCKA) $$(LIBS_PROTOBUF) $$(LIBS_NNG) $$(LIBS_RDKAFKA) $$(LIBS_BASE)
UNIT_TESTS += $(BUILD)/tests/$(1)
endef

# --- libFuzzer targets: $(FUZZ_BUILD)/NAME, built with clang under ASan + UBSan by `make fuzzers` ---
CC_FUZZ ?= clang
FUZZ_BUILD ?= build/fuzz
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(CSTD) -g -O1 $(FUZZ_SAN) $(WARN) -MMD -MP
fuzz_objs = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))
$(FUZZ_BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC-FUZZ $<")
	$(Q)$(CC_FUZZ) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_BUILD)/obj/gen/rsvp.pb-c.o: $(PROTO_C)
	@mkdir -p $(@D)
	$(Q)$(CC_FUZZ) $(CPPFLAGS) $(CSTD) -g -O1 $(FUZZ_SAN) -c -o $@ $<

# $(call fuzzer,NAME,SOURCES,LIBS): $(FUZZ_BUILD)/NAME from SOURCES + common/ (fuzz build) + generated proto
define fuzzer
$(FUZZ_BUILD)/$(1): $(call fuzz_objs,$(2)) $(FUZZ_BUILD)/obj/gen/rsvp.pb-c.o $(FUZZ_BUILD)/lib/libcommon.a
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LD-FUZZ $$@")
	$$(Q)$$(CC_FUZZ) $(FUZZ_SAN) -o $$@ $$^ $(3) $$(LIBS_PROTOBUF) $$(LIBS_BASE)
FUZZERS += $(FUZZ_BUILD)/$(1)
endef

# Every module file must exist: a missing one is a build error, not a silently smaller build.
include common/module.mk
include services/ingestor/module.mk
include services/parser/module.mk
include services/aggregator/module.mk
include services/writer/module.mk
include tools/replay/module.mk
include tools/rsvpctl/module.mk
include tools/writer-client/module.mk
include tests/unit/module.mk
include tests/fuzz/module.mk
include tests/sim/module.mk
include tests/differential/module.mk
include bench/module.mk

.DEFAULT_GOAL := all
.PHONY: all unit asan asan-unit test run bench bench-spark bench-ab fuzz fuzzers chaos sim soak differential k8s-scenarios deps clean stack-up stack-down docs

all: $(BINS)

unit: $(UNIT_TESTS)
	$(Q)tests/run-unit.sh $(UNIT_TESTS)

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all $(patsubst $(BUILD)/%,build/asan/%,$(UNIT_TESTS))

asan-unit:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SAN=1 unit

deps:
	$(Q)deploy/local/deps.sh

test:
	$(Q)tests/run.sh

run:
	$(Q)deploy/local/run.sh

bench:
	$(Q)bench/run.sh

bench-spark:
	$(Q)bench/spark.sh

# old against new binaries alternated on the same workloads: make bench-ab OLD=/tmp/old/build NEW=build
bench-ab:
	$(Q)bench/ab.sh $(or $(OLD),$(error bench-ab: set OLD=<old build dir>)) $(or $(NEW),$(BUILD))

fuzzers: $(FUZZERS)

fuzz: fuzzers
	$(Q)tests/fuzz/run.sh

chaos:
	$(Q)tests/chaos/run.sh --profile all $(CHAOS_ARGS)

# the deterministic simulation: 500 seeds x 20,000 fault steps, then convergence (>= 10^7 steps); SIM_ARGS overrides
sim: $(BUILD)/tests/agg-sim
	$(Q)$(BUILD)/tests/agg-sim $(SIM_ARGS)

# the long Kubernetes runs (1M backlog, node drain, HPA and KEDA up and down) on the test cluster: docs/deploy.md
k8s-scenarios:
	$(Q)INTEGRATION_DIR=tests/k8s-scenarios PHASES="$${PHASES:-build stack integration}" tests/run.sh

# the pipeline against the reference Spark job on 10,000+ generated lines (DIFF_COUNT, DIFF_SEED)
differential: all
	$(Q)tests/differential/run.sh --count $(or $(DIFF_COUNT),10000) $(if $(DIFF_SEED),--seed $(DIFF_SEED))

DURATION ?= 30m
soak: all
	$(Q)tests/soak/run.sh --duration $(DURATION)

stack-up:
	$(Q)deploy/local/stack.sh up

stack-down:
	$(Q)deploy/local/stack.sh down

docs: all
	$(Q)tools/gen-config-docs.sh > docs/config.md

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
