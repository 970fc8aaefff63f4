# shmap: GNU make build. `make`, `make check`, `make demo`, `make bench`, `make install`.
# Variables: CC, CFLAGS, PREFIX, DESTDIR, SANITIZE=address,undefined, PYTHON.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

VERSION := $(shell sed -n 's/^\#define SHMAP_VERSION_STRING "\(.*\)"/\1/p' include/shmap.h)
SOMAJOR := 0

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -pthread
LDLIBS := -pthread -lrt

B := build
ifneq ($(SANITIZE),)
B := build/san
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC := $(wildcard src/*.c) $(wildcard src/backend/*.c) $(wildcard src/linux/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/*.c) $(wildcard tests/unit/*.c) $(wildcard tests/multi/*.c) \
	$(wildcard tests/cli/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

LIBA := $(B)/libshmap.a
LIBSO := $(B)/libshmap.so.$(VERSION)
SHMAP := $(B)/shmap
TESTS := $(B)/shmap-tests
BENCH := $(B)/shmap-bench
DEMO := $(B)/shmap-demo

.PHONY: all check demo bench install uninstall clean
all: $(LIBA) $(LIBSO) $(SHMAP) $(B)/shmap.pc

$(B)/%.o: %.c include/shmap.h $(wildcard src/*.h) $(wildcard tests/*.h) $(wildcard cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -Isrc -c $< -o $@

$(LIBA): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libshmap.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libshmap.so.$(VERSION) $(B)/libshmap.so.$(SOMAJOR)
	ln -sf libshmap.so.$(SOMAJOR) $(B)/libshmap.so

$(SHMAP): $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS) -lm

$(B)/shmap.pc: shmap.pc.in include/shmap.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

$(TESTS): $(TEST_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIBA) $(LDLIBS) -lm

$(BENCH): $(B)/bench/bench.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lm

$(DEMO): $(B)/demo/demo.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lm

check: all $(TESTS)
	SHMAP_BIN=$(abspath $(SHMAP)) $(TESTS) $(TESTARGS)

demo: $(SHMAP) $(DEMO)
	SHMAP_BIN=$(abspath $(SHMAP)) $(DEMO)

bench: $(BENCH)
	$(BENCH)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 include/shmap.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/
	ln -sf libshmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libshmap.so.$(SOMAJOR)
	ln -sf libshmap.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libshmap.so
	install -m 755 $(SHMAP) $(DESTDIR)$(BINDIR)/
	install -m 644 $(B)/shmap.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 docs/shmap.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/shmap.3 $(DESTDIR)$(MANDIR)/man3/

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/shmap.h $(DESTDIR)$(LIBDIR)/libshmap.* \
	    $(DESTDIR)$(BINDIR)/shmap $(DESTDIR)$(LIBDIR)/pkgconfig/shmap.pc \
	    $(DESTDIR)$(MANDIR)/man1/shmap.1 $(DESTDIR)$(MANDIR)/man3/shmap.3

clean:
	rm -rf build
