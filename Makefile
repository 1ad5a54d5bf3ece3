# The two commands a newcomer needs: `make run` and `make test`. Everything else is here for
# the people who work on mailrelay. Package lists live in DEVELOPERS.md.
SHELL := /bin/bash
BUILD_DIR ?= build
TEST_DIR ?= build-test
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
# Tests mostly wait on sockets and timeouts (a relay under test idles between messages):
# twice as many at once as there are cores keeps the cores busy.
TEST_JOBS ?= $(shell echo $$(( $(JOBS) * 2 )))
CMAKE_FLAGS ?=

deps_from = $(shell sed -n '/<!-- deps:$(1) -->/,/<!-- \/deps:$(1) -->/p' DEVELOPERS.md | grep -v '<!--')
BUILD_PACKAGES := $(call deps_from,build)
TEST_PACKAGES := $(call deps_from,test)
BENCH_PACKAGES := $(call deps_from,bench)

.PHONY: all build deps deps-test deps-bench run test test-unit test-reliability bench fuzz \
        fuzz-build install package clean

all: build

# Installs only what is missing; root runs apt-get directly, others go through sudo.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	  grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$sudo debconf-set-selections; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(BUILD_PACKAGES))

deps-test: deps
	$(call apt_install,$(TEST_PACKAGES))

deps-bench: deps-test
	$(call apt_install,$(BENCH_PACKAGES))

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Starts the relay in the foreground on the embedded dev config: 127.0.0.1:2525, spool and
# outbox under ./run/, every message written to ./run/outbox as an .eml.
run: build
	@mkdir -p run
	$(BUILD_DIR)/bin/mailrelayd -c etc/dev.ini -f

# The fuzz targets are built with clang into build-fuzz; ctest runs their corpora and a
# short time slice (label fuzz), the rest of the suite runs on the sanitizer build.
fuzz-build: deps-test
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAILRELAY_FUZZ=ON -DCMAKE_UNITY_BUILD=ON \
	  -DMAILRELAY_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzzers

# The sanitizer build the suite runs on. Unity build (several sources compiled as one) and
# -g1 (line tables, enough for sanitizer stack traces) halve the build time of a clean CI
# clone; `make build` stays a plain build, so a missing #include is still caught there.
TEST_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Debug -DMAILRELAY_SANITIZE=ON -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_FLAGS_DEBUG=-g1

# The clang fuzz build keeps barely one core busy (few, large unity sources): it runs beside
# the sanitizer build instead of before it.
test: deps-test
	@$(MAKE) --no-print-directory fuzz-build & fuzz=$$!; \
	  cmake -S . -B $(TEST_DIR) $(TEST_CMAKE_FLAGS) \
	    -DMAILRELAY_FUZZ_BIN=$(abspath $(FUZZ_DIR))/fuzz $(CMAKE_FLAGS) >/dev/null && \
	  cmake --build $(TEST_DIR) -j $(JOBS); built=$$?; \
	  wait $$fuzz && [ $$built -eq 0 ]
	cd $(TEST_DIR) && ctest --output-on-failure -j $(TEST_JOBS) -LE reliability-full $(CTEST_ARGS)

# The full crash-under-load run (2,000 messages, random SIGKILLs, the master killed once),
# on the sanitizer build; make test runs a 300-message variant.
test-reliability: deps-test
	@cmake -S . -B $(TEST_DIR) $(TEST_CMAKE_FLAGS) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -L reliability-full

FUZZ_SECONDS ?= 600
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR)/fuzz $(FUZZ_SECONDS)

test-unit: deps-test
	@cmake -S . -B $(TEST_DIR) $(TEST_CMAKE_FLAGS) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

bench: build deps-bench
	bench/run.sh $(BUILD_DIR) $(BENCH_ARGS)

# Installs under /usr (DESTDIR=... to stage elsewhere); system users, the spool and the
# secrets directory come from the package's postinst, or packaging/create-users.sh.
install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD_DIR) --prefix /usr

# The Debian package, from the release build: build/mailrelay_VERSION_ARCH.deb.
package: build
	cd $(BUILD_DIR) && cpack -G DEB

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR) $(FUZZ_DIR) run
