# SPDX-License-Identifier: ISC
# octospool — build, test, install.  See README.md.
VERSION   = 0.4.0
PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR  ?=
# CONFFILE=yes (the Debian package, debian/rules): the sample becomes
# $(SYSCONFDIR)/octospool/octospool.conf itself, which the package ships as
# a conffile, with a pristine copy in $(PREFIX)/share/octospool.  By
# default (an install from source) it is octospool.conf.sample, from which
# octospool-setup makes octospool.conf if there is none.
CONFFILE ?= no
ifeq ($(CONFFILE),yes)
SAMPLE    = $(PREFIX)/share/octospool/octospool.conf.sample
else
SAMPLE    = $(SYSCONFDIR)/octospool/octospool.conf.sample
endif

CC       ?= gcc
PKGS      = openssl libbsd-overlay zlib libxml-2.0 libmariadb libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      = -Wall -Wextra -Wformat=2 -Wshadow -Werror
HARDEN    = -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection \
	    -fPIE -fcf-protection
OPT      ?= -O2 -g
CFLAGS   += -std=gnu11 $(OPT) $(WARN) $(HARDEN) -pthread -Ilib \
	    -DVERSION='"$(VERSION)"' -DLIBBSD_OPENBSD_VIS -D_GNU_SOURCE $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--as-needed -pthread $(EXTRA_LDFLAGS)
LDLIBS   += $(PKG_LIBS) -lcrypto -lssl -lm

# Sanitizer build: make BUILD=asan (objects and binaries under build/asan).
BUILD    ?= release
ifeq ($(BUILD),asan)
OPT       = -O1 -g -fno-omit-frame-pointer
HARDEN    = -fstack-protector-strong -fPIE
EXTRA_CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined
EXTRA_LDFLAGS += -fsanitize=address,undefined
OBJDIR    = build/asan
BINOUT    = build/asan/bin
else
OBJDIR    = build/release
BINOUT    = bin
endif

LIB_SRC   = $(wildcard lib/*.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(OBJDIR)/%.o)
TOOLS     = $(notdir $(wildcard src/*))
TEST_TOOLS = $(notdir $(basename $(wildcard tests/tools/tt-*.c)))
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNITS     = $(UNIT_SRC:tests/unit/%.c=$(BINOUT)/unit/%)

all: $(TOOLS:%=$(BINOUT)/%) $(TEST_TOOLS:%=$(BINOUT)/%)

$(OBJDIR)/%.o: %.c $(wildcard lib/*.h src/*/*.h tests/unit/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(OBJDIR)/libocto.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

objs_of = $(patsubst %.c,$(OBJDIR)/%.o,$(wildcard src/$(1)/*.c))
.SECONDEXPANSION:
$(TOOLS:%=$(BINOUT)/%): $(BINOUT)/%: $$(call objs_of,$$*) $(OBJDIR)/libocto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINOUT)/tt-%: $(OBJDIR)/tests/tools/tt-%.o $(OBJDIR)/libocto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BINOUT)/unit/%: $(OBJDIR)/tests/unit/%.o $(OBJDIR)/libocto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

units: $(UNITS)

deps:
	@sh tools/deps.sh

# make check: deps, build, unit tests and bats, then the same under ASan+UBSan.
check: deps
	@sh tools/check.sh

check-quick: all units
	@sh tools/check.sh --quick

demo: deps
	@bash tools/demo.sh

bench: deps all
	@bash bench/run.sh

# make bench-purge: db-purge against pandora_db.pl's method on the same
# rows, and db-load's latency meanwhile (BENCH_ROWS, default 10,000,000;
# doc/BENCHMARKS.md).
bench-purge: deps all
	@bash bench/purge.sh

# make bench-e2e: the whole pipeline as deployed against its same-run
# ceiling (root; 3-4 minutes here; doc/BENCHMARKS.md).
bench-e2e: deps all
	@bash bench/e2e.sh

# make bench-cluster: two receiver nodes against one behind HAProxy, in
# one run, as a ratio (about a minute here; doc/BENCHMARKS.md).
bench-cluster: deps all
	@bash bench/cluster.sh

# make fuzz: every fuzz/<name>.c with clang and libFuzzer, all of lib/
# under ASan+UBSan, FUZZ_TIME seconds each; seeds: the test corpus.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_FLAGS  = -std=gnu11 -g -O1 -fno-omit-frame-pointer -Ilib \
	      -DVERSION='"$(VERSION)"' -DLIBBSD_OPENBSD_VIS -D_GNU_SOURCE \
	      $(PKG_CFLAGS) -fsanitize=address,undefined
FUZZERS     = $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/*.c))
FUZZ_OBJ    = $(LIB_SRC:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(wildcard lib/*.h) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/%: fuzz/%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	    $(PKG_LIBS) -lcrypto -lssl

fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do \
		mkdir -p $$f.corpus || exit 1; \
		echo "fuzz: $$f for $(FUZZ_TIME) s"; \
		$$f -max_total_time=$(FUZZ_TIME) -max_len=65536 -timeout=10 \
		    -rss_limit_mb=1024 -print_final_stats=1 \
		    -artifact_prefix=$$f- $$f.corpus \
		    tests/data/samples tests/data/variants tests/data/bad \
		    >$$f.log 2>&1 || { tail -40 $$f.log; exit 1; }; \
		grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units)' $$f.log; \
	done

lint-man:
	mandoc -Tlint -Wwarning doc/*.[1-8]

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSCONFDIR)/octospool $(DESTDIR)$(PREFIX)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d \
	    $(DESTDIR)$(PREFIX)/share/octospool $(DESTDIR)$(PREFIX)/share/octospool/sql
	for t in $(filter-out tentacle-send,$(TOOLS)); do \
		install -m 0755 $(BINOUT)/$$t $(DESTDIR)$(SBINDIR)/ || exit 1; done
	install -m 0755 $(BINOUT)/tentacle-send $(DESTDIR)$(BINDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' \
	    -e 's|@SYSUSERSDIR@|$(PREFIX)/lib/sysusers.d|g' \
	    -e 's|@TMPFILESDIR@|$(PREFIX)/lib/tmpfiles.d|g' \
	    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@SAMPLE@|$(SAMPLE)|g' tools/octospool-setup.in \
	    > $(DESTDIR)$(SBINDIR)/octospool-setup
	chmod 0755 $(DESTDIR)$(SBINDIR)/octospool-setup
	install -m 0644 $(wildcard doc/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(wildcard doc/*.8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(wildcard doc/*.5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(wildcard doc/*.7) $(DESTDIR)$(MANDIR)/man7/
ifeq ($(CONFFILE),yes)
	install -m 0644 etc/octospool.conf $(DESTDIR)$(SAMPLE)
	install -m 0640 etc/octospool.conf $(DESTDIR)$(SYSCONFDIR)/octospool/octospool.conf
else
	install -m 0640 etc/octospool.conf $(DESTDIR)$(SAMPLE)
endif
	for u in etc/systemd/*; do \
		sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
		    -e 's|/etc/octospool/|$(SYSCONFDIR)/octospool/|g' "$$u" \
		    > $(DESTDIR)$(PREFIX)/lib/systemd/system/$${u##*/} || exit 1; \
		chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$${u##*/}; \
	done
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/cron.d/octospool > $(DESTDIR)$(PREFIX)/share/octospool/cron.d-octospool
	chmod 0644 $(DESTDIR)$(PREFIX)/share/octospool/cron.d-octospool
	install -m 0644 etc/sysusers.d/octospool.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/
	install -m 0644 etc/tmpfiles.d/octospool.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/
	install -m 0755 tools/conf-verify.sh $(DESTDIR)$(PREFIX)/share/octospool/
	install -m 0644 etc/sql/octo.sql etc/sql/grants.sql.in etc/sql/pandora-min.sql \
	    $(DESTDIR)$(PREFIX)/share/octospool/sql/

clean:
	rm -rf build bin/*

.PHONY: all units deps check check-quick demo bench bench-purge bench-e2e bench-cluster fuzz lint-man install clean
.PRECIOUS: $(OBJDIR)/%.o
