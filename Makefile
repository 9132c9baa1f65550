# SPDX-License-Identifier: MIT
# dpmail: one top-level GNU make. Sources are found by convention, so a module adds files
# without touching this file:
#   common/ dataplane/*/ crypto/*/ control/*/   -> build/libdpmail.a (everything but *_main.c
#                                                  and control/cli/)
#   dataplane/main/dpmaild_main.c              -> build/dpmaild
#   control/cli/*.c                            -> build/dpmailctl
#   bench/*.c                                  -> build/dpmail-bench
#   tests/unit/<module>/*_test.c               -> build/tests/unit/<module>/<name> (Check)
#   tests/tools/*.c                            -> build/tests/tools/<name> (test helpers)
#   tests/fuzz/*_fuzz.c                        -> build/fuzz/<name> (clang + libFuzzer)
# Optional per-directory fragments (*/module.mk, */*/module.mk) may add flags or targets.
#
#   make            build (installs missing Debian packages first: make deps)
#   make test       build and run every test (unit, integration, brief fuzz)
#   make run        build and start the relay on its embedded default in a private namespace
#   make asan       everything built with ASan+UBSan into build/asan
#   make test-asan  the unit and integration tests on the ASan build
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 300) each
#   make soak       long-running tests (tests/soak/*.sh)
#   V=1             show commands

BUILD    ?= build
SAN      ?=
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

.DEFAULT_GOAL := all
.SECONDARY:
.PHONY: all deps binaries test test-unit test-integration asan test-asan fuzz fuzz-build run soak clean docs

# ---- set-up --------------------------------------------------------------------------------
# deps must run before any pkg-config query, so the public targets re-enter make once the
# packages are there.
deps:
	$(Q)./mk/deps.sh

ifeq ($(DPMAIL_INNER),)
all: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 binaries
test: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 binaries tests-build fuzz-build
	$(Q)BUILD=$(BUILD) ./tests/run.sh
asan: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 BUILD=build/asan SAN=1 binaries tests-build
test-asan: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 BUILD=build/asan SAN=1 binaries tests-build
	$(Q)BUILD=build/asan ./tests/run.sh --no-fuzz
run: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 binaries
	$(Q)./mk/run.sh
fuzz: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 fuzz-build
	$(Q)FUZZ_SECONDS=$${FUZZ_SECONDS:-300} ./tests/fuzz/run.sh
soak: deps
	$(Q)$(MAKE) --no-print-directory DPMAIL_INNER=1 binaries tests-build
	$(Q)for t in tests/soak/*.sh; do [ -e "$$t" ] || continue; BUILD=$(BUILD) bash "$$t" || exit 1; done
else
all: binaries
endif

clean:
	rm -rf build

# ---- flags ---------------------------------------------------------------------------------
PKGS      := libdpdk openssl liburcu-qsbr liburing yaml-0.1 jansson libmicrohttpd libunbound \
             hiredis opendkim
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lIPSec_MB -lm -lpthread
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

INCLUDES  := -Icommon -Idataplane -Icrypto -Icontrol
WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-address-of-packed-member
CSTD      := -std=gnu17
CFLAGS    ?= -O2 -g
ASANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANFLAGS  := $(if $(SAN),$(ASANFLAGS))
# -march: DPDK's headers need SSE4.2 (CRC32C); the machine kind is fixed (x86-64 with AES-NI).
ALL_CFLAGS = $(CSTD) $(CFLAGS) $(WARN) -march=corei7 -maes -mpclmul -D_GNU_SOURCE -MMD -MP \
             $(INCLUDES) $(PKG_CFLAGS) $(SANFLAGS)
LDFLAGS_ALL = $(SANFLAGS)

# ---- sources -------------------------------------------------------------------------------
LIB_DIRS  := common $(wildcard dataplane/*) $(wildcard crypto/*) $(filter-out control/cli,$(wildcard control/*))
LIB_SRCS  := $(filter-out %_main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
DPMAILD_SRCS := dataplane/main/dpmaild_main.c
CTL_SRCS  := $(wildcard control/cli/*.c)
BENCH_SRCS := $(wildcard bench/*.c)
UNIT_SRCS := $(wildcard tests/unit/*/*_test.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TLIB_SRCS := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJS  := $(call obj,$(LIB_SRCS))
LIBDPMAIL := $(BUILD)/libdpmail.a
UNIT_BINS := $(patsubst tests/unit/%_test.c,$(BUILD)/tests/unit/%_test,$(UNIT_SRCS))
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRCS))
BINS      := $(BUILD)/dpmaild $(BUILD)/dpmailctl $(BUILD)/dpmail-bench

-include $(wildcard */module.mk */*/module.mk)

binaries: $(BINS)
tests-build: $(UNIT_BINS) $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(if $(findstring tests/,$<),$(CHECK_CFLAGS)) -c $< -o $@

$(LIBDPMAIL): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

link = $(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(1) $(LIBDPMAIL) $(PKG_LIBS) $(2)

$(BUILD)/dpmaild: $(call obj,$(DPMAILD_SRCS)) $(LIBDPMAIL)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$(call obj,$(DPMAILD_SRCS)))

$(BUILD)/dpmailctl: $(call obj,$(CTL_SRCS)) $(LIBDPMAIL)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$(call obj,$(CTL_SRCS)))

$(BUILD)/dpmail-bench: $(call obj,$(BENCH_SRCS)) $(LIBDPMAIL)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$(call obj,$(BENCH_SRCS)))

$(BUILD)/tests/unit/%_test: $(BUILD)/obj/tests/unit/%_test.o $(call obj,$(TLIB_SRCS)) $(LIBDPMAIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$< $(call obj,$(TLIB_SRCS)),$(CHECK_LIBS))

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o $(call obj,$(TLIB_SRCS)) $(LIBDPMAIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$< $(call obj,$(TLIB_SRCS)))

# ---- fuzzing (clang + libFuzzer; separate objects) -----------------------------------------
FUZZ_SRCS := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BINS := $(patsubst tests/fuzz/%_fuzz.c,build/fuzz/%_fuzz,$(FUZZ_SRCS))
FUZZ_CC   := clang-14
FUZZ_CFLAGS = $(CSTD) -O1 -g $(WARN) -Wno-unused-command-line-argument -march=corei7 -maes -mpclmul \
              -D_GNU_SOURCE -DDPMAIL_FUZZ $(INCLUDES) $(PKG_CFLAGS) \
              -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_LIB_OBJS := $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRCS))

fuzz-build: $(FUZZ_BINS)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/libdpmail.a: $(FUZZ_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

build/fuzz/%_fuzz: build/fuzz/obj/tests/fuzz/%_fuzz.o build/fuzz/libdpmail.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< build/fuzz/libdpmail.a $(PKG_LIBS)

-include $(shell find $(BUILD)/obj build/fuzz/obj -name '*.d' 2>/dev/null)
