# shmap: GNU make build. `make`, `make check`, `make demo`, `make bench`, `make install`,
# `make fuzz`.
# Variables: CC, CFLAGS, PREFIX, DESTDIR, SANITIZE=address,undefined (or thread), PYTHON
# (PYTHON=no: without the binding), PYTHONDIR, BENCHFLAGS, FITS=no (build the command without
# CFITSIO even where pkg-config finds it), B (the build directory: build, or build/san with
# SANITIZE).

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

# $(call sq,TEXT): TEXT for the inside of a shell's single quotes.
sq = $(subst ','\'',$(1))

# $(call remember,FILE,TEXT): write TEXT into FILE now, as the Makefile is read (a dry run
# too), unless FILE holds it already. Targets that depend on FILE are remade when TEXT
# changes (a variable given on the command line) and only then, as with git's GIT-CFLAGS.
# Done while reading, not by a rule that always runs, which would make `make -n` show every
# target out of date.
# Not for `make clean` alone, which must not write into the B it may refuse to remove.
remember = $(if $(filter-out clean,$(or $(MAKECMDGOALS),all)),$(shell mkdir -p $(dir $(1)) && \
	{ printf '%s\n' '$(call sq,$(2))' | cmp -s - $(1) || printf '%s\n' '$(call sq,$(2))' > $(1); }))

VERSION := $(shell sed -n 's/^\#define SHMAP_VERSION_STRING "\(.*\)"/\1/p' include/shmap.h)
# Before 1.0 any minor version may change the ABI (structs the library fills grow), so the
# soname carries major.minor: a program built against 0.1 does not load 0.2 by mistake.
SOMAJOR := $(basename $(VERSION))

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-missing-field-initializers
# 64-bit file offsets and times on 32-bit systems too (no-ops on 64-bit ones): segments and
# files past 2 GiB, and times past 2038. The public header uses neither off_t nor time_t, so
# programs built without these still match the library.
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64 $(WARN) $(CFLAGS) \
	-Iinclude -pthread
LDLIBS := -pthread -lrt

B := build
ifneq ($(SANITIZE),)
B := build/san
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif
# ThreadSanitizer does not model stand-alone fences, and gcc says so (-Wtsan) for those of the
# seqlocks (keywords, frames, in src/keyword.c, format.c, notify.c), which -Werror turns into
# a failed build. The warnings stay, as warnings: TSan may report false races on those reads.
# Only compilers that know the option get it (clang has no -Wtsan and rejects unknown ones).
comma := ,
ifneq ($(filter thread,$(subst $(comma), ,$(SANITIZE))),)
ALL_CFLAGS += $(shell $(CC) -Werror -Wtsan -fsyntax-only -x c /dev/null 2>/dev/null \
	&& echo -Wno-error=tsan)
endif

LIB_SRC := $(wildcard src/*.c) $(wildcard src/backend/*.c) $(wildcard src/linux/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CLI_SRC := $(wildcard cli/*.c)
# FITS import and export use CFITSIO when pkg-config finds it (FITS=no builds without it):
# cli/fits.c then, else cli/fits_none.c, which says what to install. Only the command links
# it; libshmap never depends on CFITSIO.
ifeq ($(origin FITS),undefined)
FITS := $(shell pkg-config --exists cfitsio 2>/dev/null && echo yes)
FITS_SKIP := FITS support not built: install libcfitsio-dev$(if $(shell command -v \
	pkg-config),, and pkg-config)
else
FITS_SKIP := FITS support not built (FITS=$(FITS))
# Asked for by name: the command says so, rather than what to install.
$(B)/cli/fits_none.o: ALL_CFLAGS += -DCLI_FITS_OFF='"$(FITS)"'
endif
ifeq ($(FITS),yes)
FITS_CFLAGS := $(shell pkg-config --cflags cfitsio)
FITS_LIBS := $(shell pkg-config --libs cfitsio)
CLI_SRC := $(filter-out cli/fits_none.c,$(CLI_SRC))
FITS_SKIP :=
else
CLI_SRC := $(filter-out cli/fits.c,$(CLI_SRC))
endif
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/*.c) $(wildcard tests/unit/*.c) $(wildcard tests/multi/*.c) \
	$(wildcard tests/cli/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

LIBA := $(B)/libshmap.a
LIBSO := $(B)/libshmap.so.$(VERSION)
SHMAP := $(B)/shmap
TESTS := $(B)/shmap-tests
BENCH := $(B)/shmap-bench
BENCH_NOTIFY := $(B)/shmap-bench-notify
BENCH_LOCK := $(B)/shmap-bench-lock
BENCH_FAULT := $(B)/shmap-bench-fault
BENCH_NAMES := $(B)/bench/names.o
# Passed to every benchmark by `make bench`: --quick (a tenth of the rounds), --strict.
BENCHFLAGS ?=
DEMO := $(B)/shmap-demo

# The Python binding is built for PYTHON: by default the first python3 that imports numpy.
# PYTHON=no (or empty) builds without it; one given that cannot be run or lacks numpy is said
# to be, once, rather than run for each of its questions below.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3 /usr/bin/python3; do \
	$$p -c 'import numpy' >/dev/null 2>&1 && { command -v $$p; break; }; done)
else ifeq ($(filter-out no,$(PYTHON)),)
PY_OFF := Python binding not built (PYTHON=$(PYTHON))
override PYTHON :=
else ifeq ($(shell $(PYTHON) -c 'import numpy' >/dev/null 2>&1 && echo yes),)
PY_OFF := Python binding not built: PYTHON=$(PYTHON) cannot be run or does not import numpy
override PYTHON :=
endif
ifneq ($(PYTHON),)
PY_INC := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NP_INC := $(shell $(PYTHON) -c 'import numpy; print(numpy.get_include())')
PY_EXT := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
# Where install puts the module: under PREFIX, as everything else. That is the platlib of the
# posix_prefix scheme with PREFIX as its base (PREFIX/lib/python3.X/site-packages), or the
# interpreter's own platlib when it is a sibling of that one: Debian's python3 searches
# /usr/local/lib/python3.X/dist-packages, not site-packages, and the default install is
# then imported without PYTHONPATH. PYTHONDIR=DIR overrides.
ifeq ($(origin PYTHONDIR),undefined)
PYTHONDIR := $(shell $(PYTHON) -c 'import os, sys, sysconfig; \
	base = {"base": sys.argv[1], "platbase": sys.argv[1]}; \
	path = sysconfig.get_path("platlib", "posix_prefix", base); \
	own = sysconfig.get_path("platlib"); \
	print(own if os.path.dirname(own) == os.path.dirname(path) else path)' '$(call sq,$(PREFIX))')
endif
PY_OK := $(wildcard $(PY_INC)/Python.h)
PYTEST_OK := $(shell $(PYTHON) -c 'import pytest' >/dev/null 2>&1 && echo yes)
endif
ifneq ($(and $(PY_OK),$(wildcard python/shmapmodule.c)),)
PYMOD := $(B)/python/shmap$(PY_EXT)
else
# What is missing: numpy (no python3 imports it), the headers (python3-dev), or both.
PY_ANY := $(or $(PYTHON),$(shell command -v python3 || command -v /usr/bin/python3))
PY_HDR := $(if $(PY_ANY),$(wildcard $(shell $(PY_ANY) -c \
	'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)/Python.h))
PY_SKIP := $(or $(PY_OFF),Python binding not built: install $(if $(PY_HDR),,python3-dev$(if \
	$(PYTHON),, and ))$(if $(PYTHON),,python3-numpy))
endif

# Sanitized extension modules load into an unsanitized interpreter only with the runtime
# preloaded; leaks inside CPython itself are not ours to report.
ifneq ($(SANITIZE),)
SAN_LIBS := $(patsubst address,libasan.so,$(patsubst undefined,libubsan.so,$(patsubst \
	thread,libtsan.so,$(filter address undefined thread,$(subst $(comma), ,$(SANITIZE))))))
PY_PRELOAD := LD_PRELOAD="$(foreach l,$(SAN_LIBS),$(shell $(CC) -print-file-name=$(l)))" \
	ASAN_OPTIONS=detect_leaks=0
# pytest's fault handler would report a crash before the sanitizer could say where.
PYTEST_FLAGS := -p no:faulthandler
endif
ifneq ($(PYMOD),)
ifneq ($(PYTEST_OK),)
PYTEST_CMD := PYTHONPATH=$(abspath $(B)/python) $(PY_PRELOAD) $(PYTHON) -m pytest -q -p no:cacheprovider \
	--basetemp=$(abspath $(B))/pytest-tmp $(PYTEST_FLAGS) tests/python 2>&1
else
PY_SKIP := Python tests not run: install python3-pytest
endif
endif

.PHONY: all check install-check demo bench fuzz install uninstall clean
# What was not built is said once: check's own sub-make (SKIPS_SAID=1) does not repeat it.
all: $(LIBA) $(LIBSO) $(SHMAP) $(B)/shmap.pc $(PYMOD)
ifeq ($(SKIPS_SAID),)
ifneq ($(PY_SKIP),)
	@echo "$(PY_SKIP)"
endif
ifneq ($(FITS_SKIP),)
	@echo "$(FITS_SKIP)"
endif
endif

# Objects depend on the compiler and its flags as on their sources: `make CC=clang` or
# `make CFLAGS=-O0` after another build compiles everything again instead of finding
# nothing to do (B=build/clang keeps both builds).
BUILD_FLAGS := $(CC) $(ALL_CFLAGS) $(FITS_CFLAGS) $(LDFLAGS) $(LDLIBS) FITS=$(origin FITS)$(FITS)
remembered := $(call remember,$(B)/build-flags,$(BUILD_FLAGS))

$(B)/%.o: %.c include/shmap.h $(wildcard src/*.h src/*/*.h) $(wildcard tests/*.h) \
	$(wildcard cli/*.h) $(wildcard bench/*.h) $(B)/build-flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -Isrc -c $< -o $@

$(LIBA): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libshmap.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libshmap.so.$(VERSION) $(B)/libshmap.so.$(SOMAJOR)
	ln -sf libshmap.so.$(SOMAJOR) $(B)/libshmap.so

$(B)/cli/fits.o: ALL_CFLAGS += $(FITS_CFLAGS)

$(SHMAP): $(CLI_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(FITS_LIBS) $(LDLIBS) -lm

# The .pc names the install directories: built again when PREFIX, LIBDIR or INCLUDEDIR
# change (`make install PREFIX=/opt/shmap` after a plain `make`), so what install copies
# never names the directories of an earlier build.
remembered := $(call remember,$(B)/pc-paths,$(PREFIX) $(LIBDIR) $(INCLUDEDIR))

# Directories under PREFIX are written from ${prefix}, so that pkg-config --define-prefix
# (or a tree copied elsewhere) moves them with it.
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
$(B)/shmap.pc: shmap.pc.in include/shmap.h $(B)/pc-paths
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(PYMOD): $(wildcard python/*.c) $(wildcard python/*.h) include/shmap.h $(LIBA) $(B)/build-flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -I$(PY_INC) -I$(NP_INC) -o $@ python/shmapmodule.c \
	    $(LDFLAGS) $(LIBA) $(LDLIBS)

$(TESTS): $(TEST_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(LIBA) $(LDLIBS) -lm

$(BENCH): $(B)/bench/bench.o $(BENCH_NAMES) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LDLIBS) -lm

$(BENCH_NOTIFY): $(B)/bench/notify_bench.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lm

$(BENCH_LOCK): $(B)/bench/lock_bench.o $(BENCH_NAMES) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LDLIBS) -lm

$(BENCH_FAULT): $(B)/bench/fault_bench.o $(BENCH_NAMES) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LDLIBS) -lm

$(DEMO): $(B)/demo/demo.o $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS) -lm

# CFITSIO's side of the test that reads its shmem:// images as raw arrays: built with
# CFITSIO alone (no sanitizer: the code under test is the command's), and only with it.
CFITSIO_HELPER := $(B)/shmap-cfitsio-helper
$(CFITSIO_HELPER): tests/fits/cfitsio_helper.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror $(FITS_CFLAGS) -o $@ $< $(FITS_LIBS)

check: all $(TESTS) $(if $(filter yes,$(FITS)),$(CFITSIO_HELPER))
	@$(MAKE) --no-print-directory install-check SKIPS_SAID=1
	SHMAP_BIN=$(abspath $(SHMAP)) SHMAP_PYTEST='$(PYTEST_CMD)' SHMAP_PYTEST_SKIP='$(PY_SKIP)' \
	    $(TESTS) $(TESTARGS)

# Install into a stage and uninstall, with another PREFIX than the build's: every path the
# recipes name is checked to lie in the stage before anything runs (a dry run), the .pc
# installed must name that PREFIX, and uninstall must leave no file. The build's own .pc is
# made again at the end. Every directory variable is given to the stage's make: one given
# on the command line (LIBDIR=/usr/lib64 for a packager) reaches sub-makes through
# MAKEFLAGS and would otherwise take the place of the one PREFIX implies. A failure
# removes the stage and makes the build's .pc again too.
STAGE := $(abspath $(B))/install-check
STAGE_PREFIX := /opt/shmap-check
STAGE_VARS := DESTDIR=$(STAGE) PREFIX=$(STAGE_PREFIX) LIBDIR=$(STAGE_PREFIX)/lib \
	INCLUDEDIR=$(STAGE_PREFIX)/include BINDIR=$(STAGE_PREFIX)/bin \
	MANDIR=$(STAGE_PREFIX)/share/man
SUBMAKE := $(MAKE) -s --no-print-directory
STAGE_FAILED := { rm -rf $(STAGE); $(SUBMAKE) $(B)/shmap.pc; exit 1; }
# Its sub-makes share the jobserver ('+'), which would run them for real under make -n.
ifneq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
install-check: all
	@echo "install-check: not run in a dry run"
else
install-check: all
	@rm -rf $(STAGE)
	@+out=$$($(SUBMAKE) -n $(STAGE_VARS) install uninstall) || $(STAGE_FAILED); \
	 out=$$(printf '%s\n' "$$out" | sed -e ':a' -e '/\\$$/{N;s/\\\n//;ba' -e '}'); \
	 bad=$$(printf '%s\n' "$$out" | tr ' \t' '\n\n' | grep '^/' | grep -v '^$(STAGE)/' | \
	     grep -v '^$(abspath $(B))/'); \
	 if [ -n "$$bad" ]; then \
	     echo "install-check: install or uninstall would write outside $(STAGE):" $$bad; \
	     $(STAGE_FAILED); \
	 fi
	@+$(SUBMAKE) $(STAGE_VARS) install >/dev/null || $(STAGE_FAILED)
	@pc=$(STAGE)$(STAGE_PREFIX)/lib/pkgconfig/shmap.pc; \
	 grep -qx 'prefix=$(STAGE_PREFIX)' $$pc && grep -qx 'libdir=$${prefix}/lib' $$pc && \
	 grep -qx 'includedir=$${prefix}/include' $$pc || \
	    { echo "install-check: the installed shmap.pc does not name PREFIX"; $(STAGE_FAILED); }
	@+$(SUBMAKE) $(STAGE_VARS) uninstall || $(STAGE_FAILED)
	@left=$$(find $(STAGE) ! -type d); \
	 if [ -n "$$left" ]; then \
	     echo "install-check: left after uninstall:" $$left; $(STAGE_FAILED); \
	 fi
	@rm -rf $(STAGE)
	@+$(SUBMAKE) $(B)/shmap.pc
	@echo "install-check: install and uninstall stay within DESTDIR and PREFIX"
endif

demo: $(SHMAP) $(DEMO)
	SHMAP_BIN=$(abspath $(SHMAP)) $(DEMO)

bench: $(BENCH) $(BENCH_NOTIFY) $(BENCH_LOCK) $(BENCH_FAULT) $(PYMOD)
	$(BENCH) $(BENCHFLAGS)
	@echo
	$(BENCH_NOTIFY) $(BENCHFLAGS)
	@echo
	$(BENCH_LOCK) $(BENCHFLAGS)
	@echo
	$(BENCH_FAULT) $(BENCHFLAGS)
	@echo
ifneq ($(PYMOD),)
	PYTHONPATH=$(abspath $(B)/python) $(PY_PRELOAD) $(PYTHON) bench/py_bench.py $(BENCHFLAGS)
else
	@echo "Python bench not run: $(subst Python binding not built,the binding is not built,$(PY_SKIP))"
endif

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
ifneq ($(PYMOD),)
	install -d $(DESTDIR)$(PYTHONDIR)
	install -m 644 $(PYMOD) $(DESTDIR)$(PYTHONDIR)/
endif
# The loader finds a new library in a directory ld.so.conf lists (/usr/local/lib on most
# systems) only once its cache is rebuilt, as package managers do after an install: without
# it, programs built against the installed copy do not start. Only in place (no DESTDIR);
# a failure (not root, no ldconfig) fails nothing. A plain ldconfig, not `ldconfig LIBDIR`,
# which would put a LIBDIR the system does not search into its cache until the next rebuild:
# the README says what programs need for one of those.
ifeq ($(DESTDIR),)
	PATH="$$PATH:/sbin:/usr/sbin" ldconfig 2>/dev/null || true
endif

# Only the names install made: another version's libshmap.so.0.3 stays, for its programs.
uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/shmap.h $(DESTDIR)$(LIBDIR)/libshmap.a \
	    $(DESTDIR)$(LIBDIR)/libshmap.so $(DESTDIR)$(LIBDIR)/libshmap.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/libshmap.so.$(VERSION) \
	    $(DESTDIR)$(BINDIR)/shmap $(DESTDIR)$(LIBDIR)/pkgconfig/shmap.pc \
	    $(DESTDIR)$(MANDIR)/man1/shmap.1 $(DESTDIR)$(MANDIR)/man3/shmap.3
ifneq ($(PYTHON),)
	rm -f $(DESTDIR)$(PYTHONDIR)/shmap$(PY_EXT)
endif

# make fuzz: coverage-guided fuzzing, with clang's libFuzzer, of what reads bytes it cannot
# trust: a segment's header, record list and keywords at attach (tests/fuzz/attach.c), type
# spellings and field lists (dtype.c), and the command's slices, values and .npy headers
# (cli.c); FUZZ_SECONDS (60) for each, the corpora kept in build/fuzz for the next run. A
# crash stops it, its input left beside them. The library and command are compiled once
# for all three targets; the file the attach target writes lives in a directory of
# /dev/shm removed when the run ends, however it ends. Not part of check: it needs clang
# and its fuzzer runtime.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := attach dtype cli
FUZZ_SRC := $(LIB_SRC) $(filter-out cli/fits.c,$(wildcard cli/*.c))
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -Iinclude -Isrc -Icli -pthread -Dmain=cli_real_main

.SECONDARY: $(FUZZ_OBJ)
build/fuzz/obj/%.o: %.c include/shmap.h $(wildcard src/*.h) $(wildcard cli/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) -o $@ -lrt -lm

fuzz:
	@mkdir -p build/fuzz
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return !d && n; }' \
	    > build/fuzz/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer build/fuzz/probe.c -o build/fuzz/probe 2>/dev/null || \
	    { echo "make fuzz needs clang and its fuzzer runtime: install clang and libclang-rt-dev"; \
	      exit 1; }
	@$(MAKE) --no-print-directory $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@dir=$$(mktemp -d /dev/shm/.shmap-fuzz.XXXXXX) && trap 'rm -rf "$$dir"' EXIT && \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus-$$t; \
	    SHMAP_FUZZ_DIR=$$dir build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -close_fd_mask=3 \
	        -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t || exit 1; \
	done

# B (build by default; make fuzz's corpora live in build/fuzz), never a directory that holds
# the source tree.
clean:
	@b='$(call sq,$(abspath $(B)))'; [ -e "$$b" ] || [ -L "$$b" ] || exit 0; \
	 real=$$(cd "$$b" 2>/dev/null && pwd -P) || real=$$b; src=$$(pwd -P); \
	 case "$$src/" in \
	     "$${real%/}"/*|"$${b%/}"/*) echo "clean: B=$$b holds the source tree: not removed"; \
	         exit 1;; \
	 esac; \
	 echo "rm -rf '$$b'"; rm -rf "$$b"
