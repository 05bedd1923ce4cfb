# libpowersync build and test entry points. The cdylib and the staticlib enable incompatible
# rusqlite features, so each is built in its own cargo invocation (see docs/decisions.md).

CARGO ?= cargo
RELEASE := target/release
SO := $(RELEASE)/libpowersync.so
STATIC := $(RELEASE)/libpowersync.a
CC ?= cc
SQLITE_STATIC ?= $(shell ls /usr/lib/*/libsqlite3.a /usr/lib/libsqlite3.a 2>/dev/null | head -n 1)

.PHONY: faults faults-short
.PHONY: all build static tools test unit integration client-tests vectors smoke-shell smoke-static old-sqlite lint demo shell-demo reference-vectors bench io-shape check fuzz clean

# `make`: build everything, then sync a database end to end (tools/demo/demo.sh): the test
# service with a sample data set, powersync-client with its progress bar, a local write uploaded
# and synced back, and a summary.
all: build tools demo

# The extension and the static library are built with their own copy of std (`-Z build-std`,
# unlocked on the stable toolchain by RUSTC_BOOTSTRAP=1) when the toolchain has the rust-src
# component: std without its panic-time backtrace symboliser and with `optimize_for_size`, for a
# stripped .so of about 730 KB instead of 1 MB at about 1 % more instructions (docs/decisions.md,
# "Build profile"). Without rust-src the prebuilt std is used: the same behaviour in a larger file.
# BUILD_STD=no forces that. Cargo puts a --target build under target/<host>/, so the artifact is
# copied (renamed into place, never overwritten under a process that has it loaded) to target/release/.
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
RUST_SYSROOT := $(shell rustc --print sysroot 2>/dev/null)
RUST_SRC_LOCK := $(RUST_SYSROOT)/lib/rustlib/src/rust/library/Cargo.lock
# The goals that build the extension add the rust-src component when rustup is there and the
# component is missing (once; offline or without rustup nothing happens and the prebuilt std is
# used). Done while the Makefile is read, so that RUST_SRC below sees the result.
RUST_SRC_GOALS := all build static test demo integration vectors smoke-shell smoke-static shell-demo old-sqlite check bench io-shape sdk-check rust-sdk-check
ifneq ($(BUILD_STD),no)
ifeq ($(wildcard $(RUST_SRC_LOCK)),)
ifneq ($(if $(MAKECMDGOALS),$(filter $(RUST_SRC_GOALS),$(MAKECMDGOALS)),all),)
ifneq ($(shell command -v rustup 2>/dev/null),)
$(info rust-src is missing: rustup component add rust-src (a smaller extension, docs/decisions.md "Build profile"))
RUST_SRC_ADDED := $(shell rustup component add rust-src 1>&2 || echo failed)
endif
endif
endif
endif
RUST_SRC := $(wildcard $(RUST_SRC_LOCK))
BUILD_STD ?= $(if $(and $(HOST),$(RUST_SRC)),yes,no)
ifeq ($(BUILD_STD),yes)
STD_BUILD := RUSTC_BOOTSTRAP=1 $(CARGO) build --release --target $(HOST) \
  -Z build-std=std,panic_unwind -Z build-std-features=panic-unwind,optimize_for_size
# $(call std_artifact,FILE): moves the --target build's FILE into target/release.
std_artifact = mkdir -p $(RELEASE) && cp target/$(HOST)/release/$(1) $(RELEASE)/.$(1).tmp && mv -f $(RELEASE)/.$(1).tmp $(RELEASE)/$(1)
else
STD_BUILD := $(CARGO) build --release
std_artifact = @echo "note: built with the prebuilt std (no rust-src component, or BUILD_STD=no): a larger $(1)"
endif

build:
	$(STD_BUILD) -p powersync-loadable
	$(call std_artifact,libpowersync.so)

# The native client and the test service (their own invocation: they link a bundled SQLite).
# The release profile's LTO is for the extension's size; these programs skip it, since it would
# only slow their builds (many more crates) for no benefit to the extension; they are optimised
# for speed, not size.
TOOLS_PROFILE := CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=3
tools:
	$(TOOLS_PROFILE) $(CARGO) build --release -p powersync-client -p powersync-test-service

# The static library: cargo's staticlib (always a --target build, so that cargo's own output in
# target/<host>/release/ is never the file we ship), then tools/static-archive.sh pre-links it into
# one object whose only global symbols are powersync_init_static and sqlite3_powersync_init, so
# that its copy of std cannot clash with a host's Rust code (docs/decisions.md, "The static
# library").
ifeq ($(BUILD_STD),yes)
STATIC_BUILD := $(STD_BUILD)
else
STATIC_BUILD := $(CARGO) build --release --target $(HOST)
endif
static:
	$(STATIC_BUILD) -p powersync-static
	bash tools/static-archive.sh target/$(HOST)/release/libpowersync.a $(STATIC)
	@$(if $(filter yes,$(BUILD_STD)),true,echo "note: built with the prebuilt std (no rust-src component, or BUILD_STD=no): a larger libpowersync.a")

demo: tools
	bash tools/demo/demo.sh

# The cdylib in the system sqlite3 shell.
shell-demo: build
	@echo "--- libpowersync in the system sqlite3 shell ($$(sqlite3 --version | cut -d' ' -f1)) ---"
	sqlite3 :memory: '.load ./$(RELEASE)/libpowersync' \
	  "select 'version:   ' || powersync_rs_version()" \
	  'begin' 'select powersync_init()' 'commit' \
	  "select 'client id: ' || powersync_client_id()" \
	  "select 'tables:    ' || group_concat(name, ', ') from (select name from sqlite_master where type = 'table' order by name)" \
	  "select 'diff:      ' || powersync_diff('{\"a\":1,\"b\":2}', '{\"a\":1,\"b\":3,\"c\":4}')"

# Everything CI runs: unit tests, the integration tests and conformance vectors against the
# built cdylib, the client and test-service tests, the system-shell smoke test, the static C
# smoke test, and the old-SQLite run (refused on 3.37, everything again on 3.38).
test: build unit integration client-tests smoke-shell smoke-static old-sqlite faults-short

unit:
	$(CARGO) test -p powersync-protocol -p powersync-core

integration: build
	$(CARGO) test -p libpowersync-tests

# The native client end to end against the test service (in-process, on 127.0.0.1), the
# service's own protocol tests, and both command-line programs.
client-tests:
	$(CARGO) test -p powersync-client -p powersync-test-service -p powersync-faults

# Convergence under faults (crates/faults, docs/reliability.md): client processes with random
# transactions behind a fault proxy, a nemesis scheduled from SEED, then the checkers. A
# violation exits 1 with the history around it and the command that replays it.
# AROUND=1: the clients apply checkpoints around pending uploads (apply_around_pending_uploads),
# and the apply-around probe runs after the faults.
SEED ?= 1
CLIENTS ?= 4
DURATION ?= 60
AROUND ?=
faults:
	$(TOOLS_PROFILE) $(CARGO) build --release -p powersync-faults -p powersync-test-service
	$(RELEASE)/powersync-faults run --seed $(SEED) --clients $(CLIENTS) --duration $(DURATION) $(if $(AROUND),--apply-around-pending)

# The short run of make test and CI: fixed seeds, about a minute.
# Seeds 30, 34 and 41 together schedule every kind of fault (`powersync-faults schedule`; checked
# by the schedule tests), nine upload-reject faults among them.
FAULTS_SHORT_SEEDS ?= 30,34,41
# And one seed with apply_around_pending_uploads on, the apply-around probe included.
FAULTS_SHORT_AROUND_SEEDS ?= 30
FAULTS_SHORT_RUN := target/debug/powersync-faults run --clients 3 --duration 12 --quiet-timeout 30
# $(call faults_short,FLAGS): one short run, once more on a violation (see below).
faults_short = $(FAULTS_SHORT_RUN) $(1) || \
	  { echo "faults-short: a violation (above); running the same seeds once more to tell a timing flake on a loaded machine from a bug"; \
	    $(FAULTS_SHORT_RUN) $(1); }
# Debug binaries: client-tests has built them already, so CI spends no extra build on this.
faults-short:
	$(CARGO) build -p powersync-faults -p powersync-test-service
	@$(call faults_short,--seed $(FAULTS_SHORT_SEEDS))
	@$(call faults_short,--seed $(FAULTS_SHORT_AROUND_SEEDS) --apply-around-pending --out target/faults-around)

vectors: build
	$(CARGO) test -p libpowersync-tests --test vectors -- --nocapture

smoke-shell: build
	bash tests/shell_smoke.sh

smoke-static: static
	@test -n "$(SQLITE_STATIC)" || { echo "libsqlite3.a not found: install libsqlite3-dev"; exit 1; }
	$(CC) -O1 -Wall -Werror -Iinclude -o $(RELEASE)/static_smoke tests/c/static_smoke.c \
	  $(STATIC) $(SQLITE_STATIC) -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
	$(RELEASE)/static_smoke
	SQLITE_STATIC=$(SQLITE_STATIC) CC=$(CC) bash tests/static-link/run.sh

old-sqlite: build
	bash tests/old-sqlite/run.sh

# The unmodified official Node SDK (@powersync/node 1.1.0 + better-sqlite3) on our cdylib against a
# mock PowerSync service on 127.0.0.1, then the same run on the reference build; both must pass and
# their recorded powersync_control/SQL traffic must be identical (tests/sdk-check/README.md).
# Installs the npm dependencies once (better-sqlite3 compiles from source, ~2 min; node-gyp uses the
# system node headers when /usr/include/node exists, as there is no download here).
SDK_CHECK_NODEDIR := $(if $(wildcard /usr/include/node/node.h),npm_config_nodedir=/usr,)
.PHONY: sdk-check
sdk-check: build
	cd tests/sdk-check && { [ node_modules/.sdk-check-installed -nt package-lock.json ] || \
	  { $(SDK_CHECK_NODEDIR) npm ci --no-audit --no-fund && touch node_modules/.sdk-check-installed; }; }
	cd tests/sdk-check && node run.mjs

# The official Rust SDK (powersync 0.2.0 from crates.io) on libpowersync.a: the powersync_core
# shim (sqlite-ext/rust-shim) patched in, a program opening a database through the SDK and
# syncing from the test service on 127.0.0.1 (tools/rust-sdk-check). Manual, not part of CI: it
# fetches the SDK's crates and needs libclang (libclang-dev) for the SDK's bindgen step.
.PHONY: rust-sdk-check
rust-sdk-check: static tools
	bash tools/rust-sdk-check/run.sh

# Formatting, then clippy, one invocation per feature set.
# Crates outside the workspace (their own lockfiles) are only format-checked.
OWN_WORKSPACES := tests/static-link/host tests/static-link/other sqlite-ext/rust-shim tools/rust-sdk-check
lint:
	$(CARGO) fmt --all --check
	for dir in $(OWN_WORKSPACES); do $(CARGO) fmt --check --manifest-path $$dir/Cargo.toml || exit 1; done
	$(CARGO) clippy -p powersync-protocol -p powersync-core -p libpowersync-tests -p powersync-client -p powersync-test-service -p powersync-faults --all-targets -- -D warnings
	$(CARGO) clippy --release -p powersync-loadable -- -D warnings
	$(CARGO) clippy --release -p powersync-static -- -D warnings

# Memory errors: every integration test binary under valgrind memcheck, then the long crash and
# concurrency variants natively (slow; run by hand; docs/reliability.md).
check: build
	bash tests/valgrind.sh

# Coverage-guided fuzzing (manual, never CI): each target for FUZZ_SECONDS (libFuzzer, ASan). New
# inputs go to fuzz/work-corpus/ (ignored); the committed seeds in fuzz/corpus/ are only read.
# Crashes land in fuzz/artifacts/<target>/: fix them and keep the input in fuzz/regressions/<target>/,
# which `make test` replays (crates/core/tests/fuzz_regressions.rs). libFuzzer needs nightly flags,
# hence RUSTC_BOOTSTRAP=1 on the stable toolchain. Runs one target at a time (the machine has 2 cores).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= line_text line_binary replace_schema start_payload crud_insert session json_diff
# `none` runs several times faster; `address` (the default) also catches memory errors in the
# instrumented Rust code, FFI edge included.
FUZZ_SANITIZER ?= address
# A target with a dictionary (fuzz/dict/<target>.dict: tokens of its input format) gets `-dict=`.
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/work-corpus/$$t; \
	  echo "--- fuzz $$t for $(FUZZ_SECONDS) s ---"; \
	  dict=; [ -f fuzz/dict/$$t.dict ] && dict=-dict=dict/$$t.dict; \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s $(FUZZ_SANITIZER) $$t work-corpus/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $$dict); \
	done

# Our cdylib and the reference builds side by side on the same workloads (installs the 0.5.3
# reference from npm and builds the 0.5.4 one into .cache/ first; every workload compares with
# 0.5.4 when it is there; a manual measurement, never part of CI).
bench: build
	bash tools/reference/setup.sh >/dev/null
	bash tools/reference/setup054.sh >/dev/null || echo "bench: the 0.5.4 reference could not be built; comparing with 0.5.3 where possible"
	$(CARGO) bench -p libpowersync-tests --bench compare -- $(BENCH_ARGS)
	@echo "--- page writes per sync phase: temporary files and data pages, ours and the 0.5.4 reference (make io-shape) ---"
	PS_IO_SHAPE_ROWS=$(IO_SHAPE_ROWS) PS_REFERENCE_EXTENSION=$(CURDIR)/.cache/reference054/libpowersync054.so \
	  $(CARGO) test -p libpowersync-tests --test io_shape -- --nocapture

# Page writes per sync phase (temporary files and data pages) of ours and of the 0.5.4 reference
# (built into .cache/reference054/ by setup054.sh), from tests/io_shape.rs; IO_SHAPE_ROWS=100000
# for the bench's size. A manual measurement: `make integration` runs the test for ours only.
IO_SHAPE_ROWS ?= 20000
io-shape: build
	bash tools/reference/setup054.sh >/dev/null
	PS_IO_SHAPE_ROWS=$(IO_SHAPE_ROWS) PS_REFERENCE_EXTENSION=$(CURDIR)/.cache/reference054/libpowersync054.so \
	  $(CARGO) test -p libpowersync-tests --test io_shape -- --nocapture

# Differential check against the reference build of the drop-in target, 0.5.4 (built from the
# powersync_core crate into .cache/reference054/ by setup054.sh; REFERENCE=0.5.3 uses the 0.5.3
# binary from npm instead); never used by CI. ours- vectors (our decisions) are reported apart.
REFERENCE ?= 0.5.4
reference-vectors:
	bash tools/reference/$(if $(filter 0.5.3,$(REFERENCE)),setup.sh,setup054.sh)
	python3 tools/reference/run_vectors.py --reference $(REFERENCE)

clean:
	$(CARGO) clean
