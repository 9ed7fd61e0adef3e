# sfrun — coalesce concurrent runs of the same command.

VERSION	= 0.1.0

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DESTDIR	?=

CC	?= cc
CFLAGS	?= -O2 -g
WARNINGS = -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	   -Wshadow -Wwrite-strings -Wpointer-arith -Werror
BSD_CFLAGS != pkg-config --cflags libbsd-overlay
BSD_LIBS   != pkg-config --libs libbsd-overlay
# hiredis parses what Redis says, and OpenSSL carries it for rediss://; only
# sfrund (its bridge) needs them.
HIREDIS_CFLAGS != pkg-config --cflags hiredis openssl
HIREDIS_LIBS   != pkg-config --libs hiredis
SSL_LIBS       != pkg-config --libs openssl

B	= build

# SANITIZE=1 builds everything with ASan and UBSan into build/sanitize,
# stopping at the first error; `make check SANITIZE=1` tests that build.
ifeq ($(SANITIZE),1)
B	= build/sanitize
CFLAGS	+= -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -DSFRUN_VERSION='"$(VERSION)"' \
	     $(BSD_CFLAGS) $(HIREDIS_CFLAGS) -Ilib $(WARNINGS) $(CFLAGS)
# STATIC=1 (the default) makes sfrun a static PIE and links libbsd and libmd
# into sfrund statically: a quick call spends a measurable part of its time
# in the dynamic loader (see README). STATIC=0 links everything dynamically,
# as a distribution may prefer. The sanitizers need the dynamic loader.
STATIC ?= 1
ifeq ($(SANITIZE),1)
STATIC	= 0
endif
BSD_LINK = $(BSD_LIBS) -lmd
# Every backend run execs a bridge (sfrund): loading libssl and libcrypto
# dynamically cost it ~30 ms a run, so STATIC=1 links them in statically.
ifeq ($(STATIC),1)
LIBS	= -Wl,-Bstatic $(BSD_LINK) -Wl,-Bdynamic
SSL_LINK = -Wl,-Bstatic $(SSL_LIBS) -Wl,-Bdynamic
CLIENT_LINK = -static-pie -Wl,--fatal-warnings $(BSD_LINK)
else
LIBS	= $(BSD_LINK)
SSL_LINK = $(SSL_LIBS)
CLIENT_LINK = $(BSD_LINK)
endif

LIB_SRCS = $(wildcard lib/*.c)
LIB_OBJS = $(LIB_SRCS:lib/%.c=$(B)/lib/%.o)
UNIT_SRCS = $(wildcard tests/unit/*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES = $(FUZZ_SRCS:tests/fuzz/%.c=%)
REPLAY_BINS = $(FUZZ_NAMES:%=$(B)/tests/replay_%)

all: $(B)/sfrun $(B)/sfrund

$(B)/lib/%.o: lib/%.c lib/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/cmd/%.o: cmd/%.c lib/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libsfrun.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

$(B)/sfrun: $(B)/cmd/sfrun.o $(B)/libsfrun.a
	$(CC) $(LDFLAGS) -o $@ $< $(B)/libsfrun.a $(CLIENT_LINK)

# The same client linked dynamically, for tests/valgrind.sh: memcheck can
# only watch malloc and free where it can replace them at load time.
$(B)/memcheck/sfrun: $(B)/cmd/sfrun.o $(B)/libsfrun.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(B)/libsfrun.a $(LIBS)

$(B)/sfrund: $(B)/cmd/sfrund.o $(B)/libsfrun.a
	$(CC) $(LDFLAGS) -o $@ $< $(B)/libsfrun.a $(LIBS) $(HIREDIS_LIBS) \
	    $(SSL_LINK)

$(B)/tests/%: tests/unit/%.c tests/unit/unit.h $(B)/libsfrun.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(B)/libsfrun.a $(LIBS)

# Each fuzz target, built without libFuzzer, replays its committed corpus.
$(B)/tests/replay_%: tests/fuzz/%.c tests/fuzz/fuzz.h tests/fuzz/replay.c $(B)/libsfrun.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DCORPUS_DIR='"tests/fuzz/corpus/$*"' $(LDFLAGS) \
	    -o $@ $< tests/fuzz/replay.c $(B)/libsfrun.a $(LIBS)

units: $(UNIT_BINS) $(REPLAY_BINS)

# make fuzz: every target under libFuzzer for FUZZ_SECONDS each, growing
# its corpus in tests/fuzz/corpus/NAME; crashes land in build/fuzz/.
FUZZ_SECONDS ?= 600
FUZZ_CC	?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	     -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE \
	     -DSFRUN_VERSION='"$(VERSION)"' $(BSD_CFLAGS) -Ilib

fuzz-build: $(FUZZ_NAMES:%=build/fuzz/%)

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(LIB_SRCS) lib/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(LIBS) $(HIREDIS_LIBS) \
	    $(SSL_LIBS)

fuzz: fuzz-build
	for t in $(FUZZ_NAMES); do \
		mkdir -p tests/fuzz/corpus/$$t build/fuzz/$$t.crashes && \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix=build/fuzz/$$t.crashes/ \
		    tests/fuzz/corpus/$$t || exit 1; \
	done

check: all units $(B)/memcheck/sfrun
	SFRUN_BUILD=$(CURDIR)/$(B) tests/run

demo: all
	tests/demo.sh

# The randomized fault soak at full size: 3 hosts x 20 runs (make check
# runs it with 2, to stay within its time).
FAULT_ROUNDS ?= 20
soak-faults: all
	FAULT_ROUNDS=$(FAULT_ROUNDS) SFRUN_BUILD=$(CURDIR)/$(B) \
	    tests/run tests/faults.bats

bench: all
	bench/run

# Where make install puts the systemd user units and the completions.
UNITDIR	?= $(PREFIX)/lib/systemd/user
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(B)/sfrun $(B)/sfrund $(DESTDIR)$(BINDIR)/
	install -m 644 man/sfrun.1 man/sfrund.1 $(DESTDIR)$(MANDIR)/man1/
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/sfrund.service \
	    >$(DESTDIR)$(UNITDIR)/sfrund.service
	chmod 644 $(DESTDIR)$(UNITDIR)/sfrund.service
	install -m 644 contrib/systemd/sfrund.socket $(DESTDIR)$(UNITDIR)/
	install -m 644 contrib/completions/sfrun.bash \
	    $(DESTDIR)$(BASHCOMPDIR)/sfrun
	install -m 644 contrib/completions/_sfrun $(DESTDIR)$(ZSHCOMPDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sfrun $(DESTDIR)$(BINDIR)/sfrund
	rm -f $(DESTDIR)$(MANDIR)/man1/sfrun.1 $(DESTDIR)$(MANDIR)/man1/sfrund.1
	rm -f $(DESTDIR)$(UNITDIR)/sfrund.service \
	    $(DESTDIR)$(UNITDIR)/sfrund.socket
	rm -f $(DESTDIR)$(BASHCOMPDIR)/sfrun $(DESTDIR)$(ZSHCOMPDIR)/_sfrun

# make lint: static analysis, all of it clean. The clang-tidy checks are
# chosen: bugprone and the static analyzer, minus those that only restate
# C idioms (swappable parameters, reserved names, narrowing, bounded
# string functions flagged as unsafe).
# valist.Uninitialized is off: clang-tidy 14 reports va_start'ed lists in
# client_say and redis_cmd as uninitialized, a known false positive.
TIDY_CHECKS = -*,bugprone-*,-bugprone-easily-swappable-parameters,$\
	-bugprone-reserved-identifier,-bugprone-narrowing-conversions,$\
	clang-analyzer-*,$\
	-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,$\
	-clang-analyzer-valist.Uninitialized,$\
	misc-redundant-expression,performance-*
SHELL_SCRIPTS = tests/run tests/demo.sh tests/helper.bash tests/redis.bash \
	tests/valgrind.sh .ci/run \
	$(wildcard bench/run bench/*.sh) contrib/completions/sfrun.bash

lint: lint-man
	cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	    --enable=warning,performance,portability \
	    --suppress=missingIncludeSystem -D_GNU_SOURCE -DLIBBSD_OVERLAY \
	    -Ilib -I/usr/include/bsd lib cmd
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
	    lib/*.c cmd/*.c -- -std=c11 -D_GNU_SOURCE -DSFRUN_VERSION='"lint"' \
	    $(BSD_CFLAGS) -Ilib
	shellcheck -x $(SHELL_SCRIPTS)
	# The suites at warning level: their command strings for sfrun -c are
	# single-quoted on purpose, and bats defines what they seem to lack.
	shellcheck -x -S warning -e SC2030,SC2031,SC2034,SC2154 tests/*.bats

lint-man:
	mandoc -T lint -W warning man/sfrun.1 man/sfrund.1

clean:
	rm -rf $(B)

.PHONY: all units check demo bench install uninstall lint lint-man clean fuzz \
	fuzz-build soak-faults
