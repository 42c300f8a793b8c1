# aigw: one binary (./aigw) over one core library (build/libaigw.a).
#
#   make              build ./aigw
#   make test         unit tests (cmocka) + end-to-end tests (bats), one summary line
#   make check        fuzz the HTTP parser and the provider translators briefly,
#                     then the same tests with ASan + UBSan
#   make install      PREFIX=/usr/local: binary, aigw-<cmd> links, man pages, completions
#   make docs         regenerate the generated parts of man/ from the tables
#   make CC=clang     any C11 compiler works

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
FUZZ_SECONDS ?= 20
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) -Ilib \
             -I/usr/include/cjson -DAIGW_VERSION=\"$(VERSION)\"
# libcurl is not linked: lib/curl_dl.c loads it on the first https://
# transfer (the headers still come from libcurl4-openssl-dev).
LDLIBS   = -lsqlite3 -lyaml -lcjson -lbearssl -lpthread -lm
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

LIB_SRC  := $(filter-out %_test.c,$(wildcard lib/*.c lib/provider/*.c))
CMD_SRC  := $(wildcard cmd/*.c)
TEST_SRC := $(wildcard lib/*_test.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:lib/%.c=$(BUILD)/test/%)
COMMANDS := $(shell sed -n 's/^AIGW_COMMAND[(]\([a-z]*\)[)]/\1/p' cmd/commands.def)

ifeq ($(BUILD),build)
AIGW_BIN = aigw
else
AIGW_BIN = $(BUILD)/aigw
endif

.PHONY: all test check unit e2e install uninstall docs clean
all: $(AIGW_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libaigw.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(AIGW_BIN): $(CMD_OBJ) $(BUILD)/libaigw.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libaigw.a $(LDLIBS)

$(BUILD)/test/%: $(BUILD)/lib/%.o $(BUILD)/libaigw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libaigw.a $(LDLIBS) -lcmocka

# Test objects are compiled like the library, from lib/*_test.c.
$(BUILD)/lib/%_test.o: lib/%_test.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -c $< -o $@

test: $(AIGW_BIN) $(TEST_BIN)
	@AIGW="$(abspath $(AIGW_BIN))" scripts/run-tests.sh $(BUILD)

# The libFuzzer targets (HTTP parser, provider translators) run briefly
# first (clang), then the whole suite under the sanitizers, whose summary
# line stays the last one.
check:
	scripts/fuzz/run.sh $(FUZZ_SECONDS) > build-fuzz.log 2>&1 || { tail -20 build-fuzz.log; exit 1; }
	@grep -E '^(stat::number_of_executed_units|Done )' build-fuzz.log || true
	AIGW_SANITIZED=1 $(MAKE) BUILD=build-san CC=$(CC) \
	    EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" test

install: $(AIGW_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(AIGW_BIN) $(DESTDIR)$(PREFIX)/bin/aigw
	for c in $(COMMANDS); do ln -sf aigw $(DESTDIR)$(PREFIX)/bin/aigw-$$c; done
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 completions/aigw.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/aigw
	install -m 0644 completions/_aigw $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_aigw
	install -m 0644 completions/aigw.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/aigw.fish

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/aigw
	for c in $(COMMANDS); do rm -f $(DESTDIR)$(PREFIX)/bin/aigw-$$c; done
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/aigw.1 $(DESTDIR)$(PREFIX)/share/man/man1/aigw-*.1
	rm -f $(DESTDIR)$(PREFIX)/share/man/man5/aigw.yaml.5
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/aigw
	rm -f $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_aigw
	rm -f $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/aigw.fish

docs: $(AIGW_BIN)
	AIGW="$(abspath $(AIGW_BIN))" scripts/gen-docs.sh

clean:
	rm -rf build build-san build-clang build-fuzz.log aigw

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(TEST_SRC:lib/%.c=$(BUILD)/lib/%.d)
.SECONDARY:
