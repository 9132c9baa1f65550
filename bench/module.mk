# SPDX-License-Identifier: MIT
# bench/: dpmail-bench's own files are not in libdpmail.a, so its unit tests and fuzz targets
# link the bench objects (all but bench_main.o) themselves, and see bench/ headers.
# Static pattern rules (explicit, so they win over the Makefile's generic pattern rules even
# when a bench object has not been built yet).
BENCH_LIB_SRCS   := $(filter-out bench/bench_main.c,$(wildcard bench/*.c))
BENCH_UNIT_BINS  := $(patsubst tests/unit/bench/%_test.c,$(BUILD)/tests/unit/bench/%_test,$(wildcard tests/unit/bench/*_test.c))
BENCH_FUZZ_BINS  := $(patsubst tests/fuzz/%_fuzz.c,build/fuzz/%_fuzz,$(wildcard tests/fuzz/bench_*_fuzz.c))
BENCH_FUZZ_OBJS  := $(patsubst %.c,build/fuzz/obj/%.o,$(BENCH_LIB_SRCS))

$(BUILD)/obj/tests/unit/bench/%.o: ALL_CFLAGS += -Ibench
$(BENCH_UNIT_BINS): $(BUILD)/tests/unit/bench/%_test: $(BUILD)/obj/tests/unit/bench/%_test.o $(call obj,$(BENCH_LIB_SRCS)) $(LIBDPMAIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$< $(call obj,$(BENCH_LIB_SRCS)),$(CHECK_LIBS))

build/fuzz/obj/tests/fuzz/bench_%.o: FUZZ_CFLAGS += -Ibench
$(BENCH_FUZZ_BINS): build/fuzz/%_fuzz: build/fuzz/obj/tests/fuzz/%_fuzz.o $(BENCH_FUZZ_OBJS) build/fuzz/libdpmail.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
