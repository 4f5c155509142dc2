# livehub: the two commands are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test ci format format-check layering-check unit integration js-client-test e2e asan tsan fuzz fuzz-ci fuzz-build bench bench-peers bench-write-cost bench-many-streams bench-process microbench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

## clang-format (.clang-format: Google, 100 columns) over every C++ file we own.
## format rewrites them; format-check fails and names the files that differ.
FORMAT_FILES = $(shell git ls-files '*.cpp' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@bad=$$(for f in $(FORMAT_FILES); do clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: not clang-formatted (run 'make format'):"; echo "$$bad"; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_FILES)) files ok"

## Every #include "folder/..." under src/ against the graph in docs/architecture.md
## ("Dependency graph"); fails naming file:line and the rule it breaks.
layering-check:
	@python3 scripts/check_layering.py

## What CI runs: every test, then every test again under ASan+UBSan, then
## the unit tests and a short integration subset under TSan.
ci: test asan tsan

## Build and run the hub on its defaults with live demo data.
run: build
	./$(BUILD)/livehub serve

tests/integration/node_modules/.package-lock.json: tests/integration/package-lock.json
	cd tests/integration && npm ci --no-audit --no-fund --loglevel=error

## Unit tests (+ fuzz corpus replays) and integration tests on the normal build.
## CI (.ci/run) runs `make test`, then `make asan` (the same suites under ASan+UBSan),
## then `make tsan`.
test: build tests/integration/node_modules/.package-lock.json
	$(MAKE) unit BIN_DIR=$(BUILD)
	$(MAKE) integration BIN_DIR=$(BUILD)

unit:
	cd $(BIN_DIR) && ctest --output-on-failure -j $(JOBS)
	./$(BIN_DIR)/body_decoder_fuzz fuzz/corpus/body_decoder
	./$(BIN_DIR)/ws_frame_fuzz fuzz/corpus/ws_frame
	./$(BIN_DIR)/request_fuzz fuzz/corpus/request
	./$(BIN_DIR)/source_fuzz fuzz/corpus/source
	./$(BIN_DIR)/feeds_fuzz fuzz/corpus/feeds
	./$(BIN_DIR)/jwt_fuzz fuzz/corpus/jwt
	./$(BIN_DIR)/client_op_fuzz fuzz/corpus/client_op
	./$(BIN_DIR)/pattern_fuzz fuzz/corpus/pattern
	./$(BIN_DIR)/config_fuzz fuzz/corpus/config

integration:
	cd tests/integration && LIVEHUB_BIN=$(CURDIR)/$(BIN_DIR)/livehub npm test
	$(MAKE) js-client-test BIN_DIR=$(BIN_DIR)
	$(MAKE) e2e BIN_DIR=$(BIN_DIR)

## The browser client (clients/js) against the real hub; its tests reuse tests/integration/harness.mjs.
js-client-test: tests/integration/node_modules/.package-lock.json
	cd clients/js && npm ci --no-audit --no-fund && LIVEHUB_BIN=$(CURDIR)/$(BIN_DIR)/livehub npm test

## The dashboard in headless chromium against the real hub (tests/e2e, < 1 min).
## LIVEHUB_SCREENSHOTS=1 also rewrites docs/screenshots/*.png.
e2e: tests/integration/node_modules/.package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error && LIVEHUB_BIN=$(CURDIR)/$(BIN_DIR)/livehub npm test

asan: deps tests/integration/node_modules/.package-lock.json
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLIVEHUB_SANITIZE=ON
	ninja -C $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) unit BIN_DIR=$(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 LIVEHUB_SANITIZED=1 \
	  $(MAKE) integration BIN_DIR=$(ASAN_BUILD)

## ThreadSanitizer (clang, $(TSAN_BUILD)/): the unit tests, then the
## integration files in TSAN_SUITES against its livehub (~15 s under TSan):
## fan-out across the io threads, and the store's writer thread delivering
## `sync` commits. The same build checks the lock annotations
## (src/core/thread_annotations.h) with -Wthread-safety -Werror. Fails on any
## TSan report; the servers' reports are kept in $(TSAN_BUILD)/tsan-reports/
## and printed.
TSAN_SUITES ?= fanout.test.mjs store.test.mjs
TSAN_OPTS = halt_on_error=1:second_deadlock_stack=1
tsan: deps tests/integration/node_modules/.package-lock.json
	CC=clang CXX=clang++ cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DLIVEHUB_TSAN=ON
	ninja -C $(TSAN_BUILD) -j $(JOBS) livehub livehub_tests
	cd $(TSAN_BUILD) && TSAN_OPTIONS=$(TSAN_OPTS) ctest --output-on-failure -j $(JOBS)
	@rm -rf $(TSAN_BUILD)/tsan-reports && mkdir -p $(TSAN_BUILD)/tsan-reports
	cd tests/integration && LIVEHUB_BIN=$(CURDIR)/$(TSAN_BUILD)/livehub LIVEHUB_SANITIZED=1 \
	  TSAN_OPTIONS=$(TSAN_OPTS):log_path=$(CURDIR)/$(TSAN_BUILD)/tsan-reports/tsan \
	  node --test --test-concurrency=1 $(TSAN_SUITES); rc=$$?; \
	if ls $(CURDIR)/$(TSAN_BUILD)/tsan-reports/tsan.* >/dev/null 2>&1; then \
	  echo "tsan: ThreadSanitizer reports from livehub:"; cat $(CURDIR)/$(TSAN_BUILD)/tsan-reports/tsan.*; \
	  exit 1; \
	fi; exit $$rc

FUZZ_TARGETS = body_decoder ws_frame request source feeds client_op pattern config jwt
FUZZ_SECONDS ?= 60

fuzz-build: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DLIVEHUB_FUZZ=ON
	ninja -C $(FUZZ_BUILD) -j $(JOBS) $(addsuffix _fuzz,$(FUZZ_TARGETS))

## libFuzzer runs of the network- and file-facing parsers (FUZZ_SECONDS each,
## default 60). New inputs go to a scratch dir, so fuzz/corpus/ changes only
## when someone copies a finding there on purpose. Fails on a crash, a leak,
## a timeout or any UBSan report (halt_on_error); each target's output goes to
## $(FUZZ_BUILD)/<target>.log and its tail is printed when it fails.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  log=$(FUZZ_BUILD)/$$t.log; \
	  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ./$(FUZZ_BUILD)/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$${t}- \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t > $$log 2>&1; then \
	    echo "== $${t}_fuzz: ok, $$(grep -o 'Done [0-9]* runs in [0-9]* second' $$log)"; \
	  else \
	    echo "== $${t}_fuzz: FAILED (full output: $$log)"; tail -60 $$log; exit 1; \
	  fi; \
	done

## The CI variant: 20 s per target.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=20

## Fan-out benchmark (see docs/benchmarks.md).
bench: build
	./$(BUILD)/livehub bench ramp --spawn --taskset-hub 0 --taskset-self 1 --subscribers 1000 \
	  --payload 100 --duration 5 --keep-going --rates 10,200,500,1000,2000 --transport ws
	./$(BUILD)/livehub bench ramp --spawn --taskset-hub 0 --taskset-self 1 --subscribers 1000 \
	  --payload 100 --duration 5 --keep-going --rates 10,200,500,1000 --transport sse
	./$(BUILD)/livehub bench fanout --idle --spawn --taskset-hub 0 --taskset-self 1 \
	  --subscribers 10000 --hold 5

## livehub, Nchan and Pushpin side by side, issue 8's scenarios (a)-(g), about 15 min;
## writes the table into docs/benchmarks.md ("Peers"). Overridable: STEP, RATES,
## PUSHPIN_RATES, MANY_RATES, IDLE, EFF_RATE, SERVERS, ... (bench/peers/run-all.sh).
## BENCH_DRY=1: tiny loads (~2 min), prints the table, leaves the docs alone.
bench-peers: build
	bash bench/peers/run-all.sh ./$(BUILD)/livehub

## Per-write cost and defaults against Nchan (issue 17's first two targets, ~5 min):
## livehub with write_delay_ms 0 and with its defaults, Nchan, uWebSockets.js, taking
## turns in 3 rounds (SERVERS= to choose).
bench-write-cost: build
	bash bench/peers/run-write-cost.sh ./$(BUILD)/livehub

## Issue 17's many streams (~6 min): 1,000 streams x 10 WS subscribers, 8,000 msg/s,
## livehub (defaults), Nchan, uWebSockets.js taking turns in 3 rounds. BENCH_DRY=1: tiny loads.
bench-many-streams: build
	bash bench/peers/run-many-streams.sh ./$(BUILD)/livehub

## Stream processing: window aggregation throughput, publish -> derived latency (docs/benchmarks.md).
bench-process: build
	./$(BUILD)/livehub_process_bench --benchmark_counters_tabular=true

## Google Benchmark micro-benchmarks of the hot paths (event build, fan-out, decoding).
microbench: build
	./$(BUILD)/livehub_microbench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
