# revops-edge. The two commands that matter:
#   make dev    start the whole system locally on http://127.0.0.1:8787
#   make test   run every test (domain unit tests, then integration tests on the real runtime)
.PHONY: dev test demo build lint fmt bench bench-sla bench-workflows bench-e2e clean

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

# With `make dev` running: load a realistic example through the public API (forms, the MQL
# definition, reps and teams in seven time zones, territories, an SLA policy, ~300 leads with
# activities, touches and outcomes), then open http://127.0.0.1:8787/console.
demo:
	@eval "$$(scripts/toolchain.sh)" && node scripts/demo.cjs $(ARGS)

# Build every worker to WASM and print the sizes.
build:
	@eval "$$(scripts/toolchain.sh)" && scripts/build.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

bench:
	@scripts/bench.sh $(ARGS)

# One SLA cron tick over 100,000 open assignments (1,000 due) in the real local runtime.
bench-sla:
	@scripts/bench-sla.sh

# One workflows cron tick over 100,000 active enrolments (1,000 steps due), and the export of a
# 100,000-member list, in the real local runtime.
bench-workflows:
	@scripts/bench-workflows.sh

# Load against the real local runtime: a gateway-only baseline, an MQL lead through the JSON API
# and through a browser form; throughput, p50/p99 and D1 round trips per request.
bench-e2e:
	@scripts/bench-e2e.sh

clean:
	cargo clean
	rm -rf functions/*/build .wrangler .test-state
