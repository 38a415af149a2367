# revops-edge. The two commands that matter:
#   make dev    start the whole system locally on http://127.0.0.1:8787
#   make test   run every test (domain unit tests, then integration tests on the real runtime)
.PHONY: dev test build lint fmt bench bench-sla clean

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

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

clean:
	cargo clean
	rm -rf functions/*/build .wrangler .test-state
