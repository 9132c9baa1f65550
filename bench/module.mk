# SPDX-License-Identifier: MIT
# bench/: dpmail-bench's own files are not in libdpmail.a, so its unit tests and fuzz targets
# link the bench objects (all but bench_main.o) themselves, and see bench/ headers.
# These pattern rules are more specific (shorter stem) than the generic ones in the Makefile.
BENCH_LIB_SRCS := $(filter-out bench/bench_main.c,$(wildcard bench/*.c))

$(BUILD)/obj/tests/unit/bench/%.o: ALL_CFLAGS += -Ibench
$(BUILD)/tests/unit/bench/%_test: $(BUILD)/obj/tests/unit/bench/%_test.o $(call obj,$(BENCH_LIB_SRCS)) $(LIBDPMAIL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(call link,$< $(call obj,$(BENCH_LIB_SRCS)),$(CHECK_LIBS))

build/fuzz/obj/tests/fuzz/bench_%.o: FUZZ_CFLAGS += -Ibench
build/fuzz/bench_%_fuzz: build/fuzz/obj/tests/fuzz/bench_%_fuzz.o $(patsubst %.c,build/fuzz/obj/%.o,$(BENCH_LIB_SRCS)) build/fuzz/libdpmail.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
